/**
 * Starts the ws backend from its validated config (spec/selection.md §2, §5.4), through the steps
 * tcp and ws share (star-start.ts); ws adds where the WebSocket is served or dialled. Rank 0 attached
 * to a caller's server listens where that server does, so it reports no port.
 */
import type { Communicator } from '../communicator/communicator.js';
import { loadBackendModule, type StartHooks } from './backend-start.js';
import { startStar } from './star-start.js';
import type { WsConfig } from './ws-config.js';

const loadWs = () => import('../backends/ws/index.js');

/** Imports the ws backend's module, as startWs will (backends.ts: the row's preload). */
export async function preloadWs(): Promise<void> {
  await loadWs();
}

export function startWs(selected: WsConfig, hooks: StartHooks): Promise<Communicator> {
  return startStar(selected, hooks, {
    warningCode: 'COLLECTIVE_WS',
    listensItself: (config) => config.server === undefined,
    load: async () => {
      const { connectWs } = await loadBackendModule('ws', loadWs);
      return (config, common) =>
        connectWs({
          ...common,
          ...(config.url !== undefined ? { url: config.url } : {}),
          ...(config.server !== undefined ? { server: config.server } : {}),
          ...(config.path !== undefined ? { path: config.path } : {}),
          ...(config.allowedOrigins !== undefined ? { allowedOrigins: config.allowedOrigins } : {}),
        });
    },
  });
}
