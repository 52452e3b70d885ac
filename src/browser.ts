/**
 * The public surface of `collective` in a browser (`collective/browser`, spec/browser.md): the
 * Communicator contract, its errors and types, and init() over the backends a page can run. Nothing
 * on this module's import path uses a Node.js built-in other than node:buffer and node:crypto, which
 * the bundle replaces (scripts/build-browser.mjs refuses any other).
 */
import { createLocalCommunicator } from './backends/local/index.js';
import type { Communicator } from './communicator/communicator.js';
import { BackendError } from './communicator/errors.js';

export type {
  Communicator,
  SharedRegion,
  AllgathervOptions,
  BackendName,
} from './communicator/communicator.js';
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

/** The backends a page can run (spec/browser.md §1). */
export const BROWSER_BACKENDS = ['local'] as const;

/** Options of the browser init(): `{ backend: 'local' }`, a world of one rank (identity semantics). */
export interface BrowserInitOptions {
  /** Which backend: one of {@link BROWSER_BACKENDS}. */
  backend: (typeof BROWSER_BACKENDS)[number];
}

/**
 * Creates this page's communicator. There is no environment to read in a page, so the backend is
 * always named.
 *
 * @param options - `{ backend: 'local' }`.
 * @returns the communicator (rank 0 of 1 for 'local').
 * @throws BackendError `InvalidBackend` when `backend` is not one of {@link BROWSER_BACKENDS}.
 */
export async function init(options: BrowserInitOptions): Promise<Communicator> {
  const backend = (options as Partial<BrowserInitOptions> | undefined)?.backend;
  if (backend === 'local') return createLocalCommunicator();
  throw new BackendError(
    'InvalidBackend',
    `init: backend ${JSON.stringify(backend)} cannot run in a browser`,
    { backend: backend ?? null, expected: [...BROWSER_BACKENDS] },
    `pass init({ backend: ${BROWSER_BACKENDS.map((b) => `'${b}'`).join(' | ')} })`,
  );
}
