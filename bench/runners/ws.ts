/**
 * collective's ws backend, measured exactly like tcp (runStarWorlds): R child processes over
 * 127.0.0.1, rank 0 the star's coordinator serving WebSocket on an ephemeral port; launch cost
 * through train({ backend: 'ws' }). Compared with tcp in the same run: the same star protocol, so
 * the ratio is the cost of the WebSocket link (issue 13's targets, report/targets.ts).
 */
import type { RunContext, Runner } from '../harness/runner.js';
import type { Result, Workload } from '../harness/workload.js';
import { runStarWorlds, TCP_MODEL } from './tcp.js';

export class WsRunner implements Runner {
  readonly name = 'ws';
  readonly label = 'collective ws';
  readonly kind = 'backend';
  readonly compareWith: readonly string[] = ['tcp'];
  readonly inQuick = true;
  /** The same star (spec/performance.md §3.2): only the link under the frames differs. */
  readonly model = TCP_MODEL;

  covers(): boolean {
    return true;
  }

  async unavailable(): Promise<string | null> {
    return null;
  }

  run(workloads: readonly Workload[], context: RunContext): Promise<Result[]> {
    return runStarWorlds('ws', workloads, context);
  }
}
