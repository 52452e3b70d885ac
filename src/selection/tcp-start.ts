/**
 * Starts the tcp backend from its validated config (spec/selection.md §2, §5.4), through the steps
 * tcp and ws share (star-start.ts); tcp adds only that a worker's coordinator name must resolve.
 */
import type { Communicator } from '../communicator/communicator.js';
import { loadBackendModule, type StartHooks } from './backend-start.js';
import type { TcpConfig } from './config.js';
import { ensureResolvable } from './coordinator-lookup.js';
import { startStar } from './star-start.js';

const loadTcp = () => import('../backends/tcp/index.js');

/** Imports the tcp backend's module, as startTcp will (backends.ts: the row's preload). */
export async function preloadTcp(): Promise<void> {
  await loadTcp();
}

export function startTcp(selected: TcpConfig, hooks: StartHooks): Promise<Communicator> {
  return startStar(selected, hooks, {
    warningCode: 'COLLECTIVE_TCP',
    listensItself: () => true,
    load: async () => {
      const { connectTcp } = await loadBackendModule('tcp', loadTcp);
      return (config, common) => connectTcp({ ...common, algorithm: config.algorithm });
    },
    // Rank 0 binds (a bad name fails its listen at once); the others would retry a bad name.
    prepare: async (config) => {
      if (config.rank !== 0) await ensureResolvable(config.host, config.connectTimeoutSecs);
    },
  });
}
