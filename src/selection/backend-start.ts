/**
 * What a row of the backend table (backends.ts) answers when asked whether it can run and how it
 * starts: its availability, the hooks its start may call, and the one way a backend's module is
 * loaded (spec/selection.md §2).
 */
import { BackendError } from '../communicator/errors.js';

/** Whether a backend can run in this runtime, and why not when it cannot. */
export type Availability =
  { readonly available: true } | { readonly available: false; readonly reason: string };

/** Hooks a factory may call while the backend starts. */
export interface StartHooks {
  onWarning(code: string, message: string): void;
  /** A coordinating rank 0 listening on an ephemeral port (port 0): where it listens. */
  onListening?(address: { host: string; port: number }): void;
}

/** Imports a backend's module; a module that will not load makes the backend unavailable, not a crash. */
export async function loadBackendModule<M>(name: string, importModule: () => Promise<M>): Promise<M> {
  try {
    return await importModule();
  } catch (error) {
    throw new BackendError(
      'BackendNotAvailable',
      `the ${name} backend's module could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
      { backend: name },
      'reinstall collective (npm ci) or pick another backend with COLLECTIVE_BACKEND',
    );
  }
}
