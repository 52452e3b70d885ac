/**
 * The public surface of `collective` in a browser (`collective/browser`, spec/browser.md): the
 * Communicator contract, its errors and types, and init() over the backends a page can run. Nothing
 * on this module's import path uses a Node.js built-in other than node:buffer and node:crypto, which
 * the bundle replaces (scripts/build-browser.mjs refuses any other).
 */
import { createLocalCommunicator } from './backends/local/index.js';
import { connectBrowserRank, type BrowserWsOptions } from './backends/ws/browser-rank.js';
import type { Communicator } from './communicator/communicator.js';
import { BackendError } from './communicator/errors.js';
import { DEFAULT_CONNECT_TIMEOUT_SECS, DEFAULT_TIMEOUT_SECS } from './selection/config.js';

export type {
  Communicator,
  SharedRegion,
  AllgathervOptions,
  BackendName,
} from './communicator/communicator.js';
export type {
  RootedCollectives,
  GathervOptions,
  ScattervOptions,
  AlltoallvOptions,
} from './communicator/rooted/api.js';
export type { NumericArray, NumericArrayConstructor, ReduceOp, DTypeName } from './communicator/dtypes.js';
export {
  CollectiveError,
  CommError,
  BackendError,
  type CommErrorCode,
  type BackendErrorKind,
  type CommErrorJSON,
  type BackendErrorJSON,
} from './communicator/errors.js';
export { createLocalCommunicator };
export type { BrowserWsOptions } from './backends/ws/browser-rank.js';
export type { WebSocketConstructor, BrowserWebSocket } from './backends/ws/browser-link.js';

/** The backends a page can run (spec/browser.md §1). */
export const BROWSER_BACKENDS = ['local', 'ws'] as const;

/** `{ backend: 'local' }`: a world of one rank (identity semantics). */
export interface BrowserLocalOptions {
  /** The local backend. */
  backend: 'local';
}

/**
 * `{ backend: 'ws', url, rank, size, token? }`: this page joins, as rank `rank` (1 ≤ rank < size), the
 * group whose Node.js rank 0 serves WebSocket at `url` (spec/browser.md §5). Seconds default as on
 * Node.js: timeoutSecs 1800, connectTimeoutSecs 30, stallWarningSecs 60.
 */
export interface BrowserWsInitOptions extends Omit<BrowserWsOptions, 'timeoutSecs' | 'connectTimeoutSecs'> {
  /** The ws backend. */
  backend: 'ws';
  /** Fatal timeout (s) of a collective without progress; default 1800. */
  timeoutSecs?: number;
  /** How long (s) to keep dialling rank 0 and wait for the group to form; default 30. */
  connectTimeoutSecs?: number;
}

/** Options of the browser init(): one of {@link BROWSER_BACKENDS}, always named. */
export type BrowserInitOptions = BrowserLocalOptions | BrowserWsInitOptions;

/**
 * Creates this page's communicator. There is no environment to read in a page, so the backend is
 * always named.
 *
 * @param options - `{ backend: 'local' }`, or `{ backend: 'ws', url, rank, size, token?, timeoutSecs?,
 *   connectTimeoutSecs? }` (spec/browser.md §5).
 * @returns the communicator (rank 0 of 1 for 'local'; rank `rank` of `size` for 'ws', once every rank joined).
 * @throws BackendError `InvalidBackend` when `backend` is not one of {@link BROWSER_BACKENDS};
 *   `IncompatibleSettings` for a bad ws option (rank 0 or out of range, a URL that is not ws:// or
 *   wss://, …); `InitializationFailed` when rank 0 cannot be reached, refuses the page's origin or
 *   the token, or the group does not form within connectTimeoutSecs.
 */
export async function init(options: BrowserInitOptions): Promise<Communicator> {
  const backend = (options as Partial<BrowserInitOptions> | undefined)?.backend;
  if (backend === 'local') return createLocalCommunicator();
  if (backend === 'ws') {
    const ws = options as BrowserWsInitOptions;
    return connectBrowserRank({
      ...ws,
      timeoutSecs: ws.timeoutSecs ?? DEFAULT_TIMEOUT_SECS,
      connectTimeoutSecs: ws.connectTimeoutSecs ?? DEFAULT_CONNECT_TIMEOUT_SECS,
    });
  }
  throw new BackendError(
    'InvalidBackend',
    `init: backend ${JSON.stringify(backend)} cannot run in a browser`,
    { backend: backend ?? null, expected: [...BROWSER_BACKENDS] },
    `pass init({ backend: ${BROWSER_BACKENDS.map((b) => `'${b}'`).join(' | ')} })`,
  );
}
