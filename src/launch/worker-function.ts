/** Loading a worker module and checking that its default export is a function. */
import { BackendError } from '../communicator/errors.js';
import { findTsx, isTypeScript } from './module-loading.js';
import type { WorkerFunction } from './train-options.js';

async function importModule(url: URL): Promise<Record<string, unknown>> {
  try {
    return (await import(url.href)) as Record<string, unknown>;
  } catch (error) {
    // A plain `node` cannot import .ts: load it through tsx without registering tsx globally.
    const code = (error as { code?: unknown }).code;
    const tsx = findTsx();
    if (code !== 'ERR_UNKNOWN_FILE_EXTENSION' || !isTypeScript(url) || !tsx) throw error;
    const api = (await import(tsx.api.href)) as {
      tsImport(specifier: string, parent: string): Promise<Record<string, unknown>>;
    };
    return api.tsImport(url.href, import.meta.url);
  }
}

/**
 * The module's default export. A CommonJS module compiled from `export default` (a .cts file, a .ts
 * file of a CommonJS package, tsc's CommonJS output) sets `exports.default` and `exports.__esModule`;
 * import() gives its whole `module.exports` as the default, so the function is one level down.
 */
function defaultExport(module: Record<string, unknown>): unknown {
  const candidate = module['default'];
  if (typeof candidate === 'function' || typeof candidate !== 'object' || candidate === null)
    return candidate;
  const exports = candidate as Record<string, unknown>;
  return exports['__esModule'] === true ? exports['default'] : candidate;
}

export async function loadWorkerFunction(url: URL): Promise<WorkerFunction> {
  let module: Record<string, unknown>;
  try {
    module = await importModule(url);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const failure = new BackendError(
      'IncompatibleSettings',
      `train(): worker module ${url.href} could not be loaded: ${reason}`,
      { workerModule: url.href },
      'fix the error in the module (it must be an ES module or CommonJS file Node.js can import)',
    );
    (failure as Error).cause = error;
    throw failure;
  }
  const candidate = defaultExport(module);
  if (typeof candidate !== 'function') {
    throw new BackendError(
      'IncompatibleSettings',
      `train(): worker module ${url.href} has no default export function (default is ${typeof candidate})`,
      { workerModule: url.href, defaultType: typeof candidate },
      'export one: export default async function (comm, ctx) { … return result; }',
    );
  }
  return candidate as WorkerFunction;
}
