/**
 * Finding and loading the modules that ranks run: a worker module of train(), a rank script of
 * `collective run`, and our own worker entry. TypeScript files run through tsx, which is resolved
 * from this package so that it works whatever the user's working directory is.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BackendError } from '../communicator/errors.js';

const TYPESCRIPT_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx'];

/** A path (relative to cwd) or a file: URL, as a file: URL. Other URL schemes are returned as given. */
export function toModuleUrl(module: string | URL, cwd = process.cwd()): URL {
  if (module instanceof URL) return module;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(module)) return new URL(module);
  return pathToFileURL(resolve(cwd, module));
}

/** Whether a file: URL names an existing regular file. */
export function moduleFileExists(url: URL): boolean {
  if (url.protocol !== 'file:') return false;
  const path = fileURLToPath(url);
  return existsSync(path) && statSync(path).isFile();
}

export function isTypeScript(url: URL | string): boolean {
  const path = typeof url === 'string' ? url : url.pathname;
  return TYPESCRIPT_EXTENSIONS.some((ext) => path.endsWith(ext));
}

interface TsxLocations {
  /** For `node --import <loader>`: registers tsx in a process's main thread. */
  loader: URL;
  /** `register()` of tsx's ES module hooks, for worker threads, where --import in execArgv does not reach the loader. */
  api: URL;
  /**
   * `register()` of tsx's CommonJS hooks, for worker threads: require() hooks are per thread, and a .ts
   * file of a CommonJS package is loaded by require() (without them, Node.js takes it for an ES module
   * and fails with ERR_REQUIRE_CYCLE_MODULE).
   */
  cjsApi: URL;
}

let tsxLocations: TsxLocations | null | undefined;

/** Where tsx lives, or null when it is not installed. */
export function findTsx(): TsxLocations | null {
  if (tsxLocations !== undefined) return tsxLocations;
  try {
    // Through tsx's exports map (its public entry points), not its file layout.
    tsxLocations = {
      loader: new URL(import.meta.resolve('tsx')),
      api: new URL(import.meta.resolve('tsx/esm/api')),
      cjsApi: new URL(import.meta.resolve('tsx/cjs/api')),
    };
  } catch {
    tsxLocations = null;
  }
  return tsxLocations;
}

/** The sibling module `name` of this file, with this file's own extension (.ts from source, .js built). */
export function siblingModule(name: string): URL {
  const own = new URL(import.meta.url);
  const extension = own.pathname.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${extension}`, own);
}

/** The execArgv a child process needs to run the given modules. */
export function processExecArgv(modules: readonly URL[]): string[] {
  if (!modules.some((m) => isTypeScript(m))) return [];
  const tsx = requireTsx(modules);
  return ['--import', tsx.loader.href];
}

/**
 * The source of a worker thread (run with `eval: true`) that loads tsx when needed and then imports
 * `entry`. Workers do not honour `--import` in execArgv on Node 20, hence the register() calls: both
 * of tsx's hooks, as `--import tsx` registers both in a process.
 */
export function threadBootstrap(entry: URL, modules: readonly URL[]): string {
  const importEntry = `import(${JSON.stringify(entry.href)})`;
  if (!modules.some((m) => isTypeScript(m))) return `${importEntry};`;
  const tsx = requireTsx(modules);
  const hooks = [tsx.cjsApi, tsx.api].map((api) => `import(${JSON.stringify(api.href)})`);
  return `Promise.all([${hooks.join(', ')}]).then((apis) => { for (const api of apis) api.register(); return ${importEntry}; });`;
}

function requireTsx(modules: readonly URL[]): TsxLocations {
  const tsx = findTsx();
  if (tsx) return tsx;
  const names = modules.filter((m) => isTypeScript(m)).map((m) => m.href);
  throw new BackendError(
    'IncompatibleSettings',
    `running TypeScript (${names.join(', ')}) needs tsx, which is not installed`,
    { modules: names },
    'install it (npm install tsx) or run a compiled .js file',
  );
}
