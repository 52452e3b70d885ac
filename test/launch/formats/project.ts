/**
 * A throwaway package that uses collective as a user's project would: a package.json of one module
 * type, node_modules/collective linked to this repository (its built dist/), and one rank program and
 * one train() worker module per file extension, each written in the syntax its module format takes.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type PackageType = 'commonjs' | 'module';
export const PACKAGE_TYPES: readonly PackageType[] = ['commonjs', 'module'];
export const EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'] as const;
export type Extension = (typeof EXTENSIONS)[number];

/** How long the driver's train() calls may take: generous, so that a hang fails instead of waiting forever. */
const TRAIN_TIMEOUT_MS = 30_000;
/** Where train() loads a worker module: a worker thread, a child process, the caller's own thread. */
export const TRAIN_BACKENDS = ['shm', 'tcp', 'local'] as const;
export type TrainBackend = (typeof TRAIN_BACKENDS)[number];
/** Workers of the shm and tcp runs (local runs one). */
export const TRAIN_WORKERS = 2;
/** The train() driver, a .js file: it runs in the project's own module format. */
export const TRAIN_DRIVER = 'train-driver.js';

const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url));

/** Whether Node.js runs a file of this extension in this package as CommonJS. */
export function runsAsCommonJs(type: PackageType, extension: Extension): boolean {
  if (extension === '.cts' || extension === '.cjs') return true;
  if (extension === '.mts' || extension === '.mjs') return false;
  return type === 'commonjs';
}

function isTypeScript(extension: Extension): boolean {
  return extension.endsWith('ts');
}

/**
 * A rank program: every rank adds rank + 1, so each prints `sum <n(n+1)/2>`. TypeScript files use
 * import syntax whatever their format (tsx compiles it to require() in a CommonJS file); JavaScript
 * files use the syntax of their format.
 */
function rankProgram(type: PackageType, extension: Extension): string {
  const ts = isTypeScript(extension);
  const header =
    ts || !runsAsCommonJs(type, extension)
      ? `import { init } from 'collective';\n`
      : `const { init } = require('collective');\n`;
  const annotation = ts ? ': Promise<void>' : '';
  return `${header}
async function main()${annotation} {
  const comm = await init();
  const [sum] = await comm.allreduce(new Float64Array([comm.rank + 1]));
  console.log(\`rank \${comm.rank} of \${comm.size} on \${comm.backend}: sum \${sum}\`);
  await comm.close();
}
main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`;
}

/**
 * A train() worker module: its default export returns the sum over ranks of rank + 1, and whether an
 * error the communicator throws is an instance of the CommError this module imported (one copy of the
 * package's module state whatever the module format: no dual-package hazard).
 */
function workerModule(type: PackageType, extension: Extension): string {
  const ts = isTypeScript(extension);
  const body = `{
  const [sum] = await comm.allreduce(new Float64Array([comm.rank + 1]));
  let sameCommError = false;
  try {
    await comm.allreduce(new Float64Array(1), 'no-such-op'${ts ? ' as never' : ''});
  } catch (error) {
    sameCommError = error instanceof CommError;
  }
  return { sum, backend: comm.backend, sameCommError };
}`;
  if (ts) {
    return `import { CommError, type Communicator } from 'collective';
export default async function (comm: Communicator): Promise<object> ${body}
`;
  }
  if (runsAsCommonJs(type, extension)) {
    return `const { CommError } = require('collective');\nmodule.exports = async function (comm) ${body};\n`;
  }
  return `import { CommError } from 'collective';\nexport default async function (comm) ${body}\n`;
}

export interface Project {
  readonly dir: string;
  /** The rank program with this extension, as a path relative to dir. */
  rankProgram(extension: Extension): string;
  remove(): void;
}

export function createProject(type: PackageType): Project {
  const dir = mkdtempSync(join(tmpdir(), `collective-${type}-`));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `formats-${type}`, private: true, type }));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(REPOSITORY, join(dir, 'node_modules', 'collective'), 'dir');
  for (const extension of EXTENSIONS) {
    writeFileSync(join(dir, `rank${extension}`), rankProgram(type, extension));
    writeFileSync(join(dir, `worker${extension}`), workerModule(type, extension));
  }
  writeFileSync(join(dir, TRAIN_DRIVER), trainDriver(type));
  return {
    dir,
    rankProgram: (extension) => `rank${extension}`,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** One train() outcome of the driver: the result of rank 0, or the error message. */
export interface TrainOutcome {
  extension: Extension;
  backend: TrainBackend;
  value?: unknown;
  error?: string;
}

/**
 * A program, in the project's own module format, that runs train() on every worker module with both
 * backends and prints one TrainOutcome per line: train() as the project would call it, from dist/.
 */
function trainDriver(type: PackageType): string {
  const load =
    type === 'commonjs' ? `const { train } = require('collective');` : `import { train } from 'collective';`;
  const source = `${load}
async function main() {
  for (const extension of ${JSON.stringify(EXTENSIONS)}) {
    for (const backend of ${JSON.stringify(TRAIN_BACKENDS)}) {
      const outcome = { extension, backend };
      // One worker runs in the caller's own thread, on the local backend.
      const numWorkers = backend === 'local' ? 1 : ${TRAIN_WORKERS};
      try {
        outcome.value = await train('./worker' + extension, { numWorkers, backend, timeoutMs: ${TRAIN_TIMEOUT_MS} });
      } catch (error) {
        outcome.error = String(error && error.message);
      }
      console.log(JSON.stringify(outcome));
    }
  }
}
main();
`;
  return source;
}
