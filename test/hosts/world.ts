/**
 * A tcp world with one rank per namespace host (test/support/netns.ts): rank r runs
 * fixtures/host-rank.ts on host r with only a torchrun-style environment, rank 0 listening on host 0's
 * address (not loopback) with a token. Messages from each rank arrive over IPC.
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childEnv } from '../selection/fixtures/child-env.js';
import type { Hosts } from '../support/netns.js';

const RANK_PROGRAM = fileURLToPath(new URL('./fixtures/host-rank.ts', import.meta.url));
/** Rank 0's port: fixed, since host 0's namespace has a port space nobody else uses. */
export const COORDINATOR_PORT = 29500;

/** A message from a rank: `kind` plus the scenario's fields. */
export type RankMessage = { kind: string } & Record<string, unknown>;

/** One rank's process and what it said. */
export class HostRank {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';
  private readonly queue: RankMessage[] = [];
  private readonly waiters: Array<{ kind: string; resolve: (m: RankMessage) => void }> = [];

  constructor(
    readonly rank: number,
    readonly child: ChildProcess,
  ) {
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    child.stdout!.resume();
    child.on('message', (message: RankMessage) => {
      const at = this.waiters.findIndex((w) => w.kind === message.kind);
      if (at >= 0) this.waiters.splice(at, 1)[0]!.resolve(message);
      else this.queue.push(message);
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The next message of this kind (queued or future); rejects if the rank exits first. */
  next(kind: string): Promise<RankMessage> {
    const at = this.queue.findIndex((m) => m.kind === kind);
    if (at >= 0) return Promise.resolve(this.queue.splice(at, 1)[0]!);
    return new Promise((resolve, reject) => {
      this.waiters.push({ kind, resolve });
      void this.exited.then(({ code, signal }) =>
        reject(
          new Error(`rank ${this.rank} exited (${code ?? signal}) before '${kind}'; stderr:\n${this.stderr}`),
        ),
      );
    });
  }

  /** Every queued message of this kind, in order. */
  drain(kind: string): RankMessage[] {
    const out = this.queue.filter((m) => m.kind === kind);
    this.queue.splice(0, this.queue.length, ...this.queue.filter((m) => m.kind !== kind));
    return out;
  }

  send(message: Record<string, unknown>): void {
    this.child.send(message);
  }
}

/** Settings of {@link startWorld}. */
export interface WorldOptions {
  readonly scenario: 'conformance' | 'failure' | 'measure';
  /** COLLECTIVE_TIMEOUT_SECS for every rank. */
  readonly timeoutSecs: number;
  /**
   * TcpOptions.algorithm of every rank: the ranks then call connectTcp with it (fixtures/host-rank.ts);
   * absent, init() picks everything from the environment.
   */
  readonly algorithm?: 'star' | 'direct' | 'auto';
  /** Rank 0's port (default COORDINATOR_PORT): two worlds on the same hosts need two. */
  readonly port?: number;
}

/** Starts one rank per host; ranks pick tcp and rank 0's address from WORLD_SIZE/RANK/MASTER_ADDR. */
export function startWorld(hosts: Hosts, options: WorldOptions): HostRank[] {
  const token = randomBytes(16).toString('hex');
  const size = hosts.hosts.length;
  return hosts.hosts.map((host) => {
    const env = childEnv({
      WORLD_SIZE: String(size),
      RANK: String(host.index),
      MASTER_ADDR: hosts.hosts[0]!.address,
      MASTER_PORT: String(options.port ?? COORDINATOR_PORT),
      COLLECTIVE_TCP_TOKEN: token,
      COLLECTIVE_JOB_ID: `${hosts.hub}-${token.slice(0, 8)}`,
      COLLECTIVE_TIMEOUT_SECS: String(options.timeoutSecs),
      COLLECTIVE_STALL_WARNING_SECS: '0',
    });
    const args = ['--import', 'tsx', RANK_PROGRAM, options.scenario];
    if (options.algorithm) args.push(options.algorithm);
    const child = hosts.node(host.index, args, env);
    return new HostRank(host.index, child);
  });
}
