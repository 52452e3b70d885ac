/**
 * Consumer projects of the packed package (spec/train.md §8): `npm pack` of this repository's build,
 * installed with npm into a project made by `npm init -y` (CommonJS) or one of "type": "module".
 * Only npm's registry is contacted, and only for what npm's cache lacks (--prefer-offline).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));
/** What the consumer would install beside collective: tsx (the optional peer) and the Node.js types. */
const REPOSITORY_MODULES = join(REPOSITORY, 'node_modules');
const NPM = 'npm';
/** npm output can be long (install warnings); keep all of it for a failure message. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export type ConsumerType = 'commonjs' | 'module';

const run = promisify(execFile);

export async function npm(args: readonly string[], cwd: string): Promise<string> {
  const { stdout } = await run(NPM, [...args], { cwd, maxBuffer: MAX_OUTPUT_BYTES });
  return stdout;
}

/** Packs the repository as it is built (dist/ is CI's `npm run build`) into dir; the tarball's path. */
export async function pack(dir: string): Promise<string> {
  const out = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], REPOSITORY);
  const [packed] = JSON.parse(out) as Array<{ filename: string }>;
  if (!packed) throw new Error(`npm pack printed no tarball: ${out}`);
  return join(dir, packed.filename);
}

/** The rank program of `collective run`: each rank adds rank + 1 and prints the sum. */
const RANK_PROGRAM_TS = `import { init, type Communicator } from 'collective';

async function main(): Promise<void> {
  const comm: Communicator = await init();
  const [sum] = await comm.allreduce(new Float64Array([comm.rank + 1]));
  console.log(\`rank \${comm.rank}: sum \${sum}\`);
  await comm.close();
}
void main();
`;

function rankProgramJs(type: ConsumerType): string {
  const load =
    type === 'commonjs' ? `const { init } = require('collective');` : `import { init } from 'collective';`;
  return `${load}

async function main() {
  const comm = await init();
  const [sum] = await comm.allreduce(new Float64Array([comm.rank + 1]));
  console.log(\`rank \${comm.rank}: sum \${sum}\`);
  await comm.close();
}
void main();
`;
}

/** Prints which exports it got, the way the project's own module system loads them. */
function entryProgram(type: ConsumerType): string {
  const load =
    type === 'commonjs'
      ? `const collective = require('collective');`
      : `import * as collective from 'collective';`;
  return `${load}
console.log(JSON.stringify({ init: typeof collective.init, train: typeof collective.train, CommError: typeof collective.CommError }));
`;
}

/**
 * A TypeScript file that uses the public types: it type-checks only if the declarations resolve
 * (an unresolved or untyped import would make the @ts-expect-error lines unused, which is an error).
 */
export const TYPED_CONSUMER = `import { CommError, init, type Communicator, type ReduceOp } from 'collective';

export async function total(values: readonly number[], op: ReduceOp = 'sum'): Promise<number> {
  const comm: Communicator = await init({ backend: 'local' });
  try {
    const reduced: Float64Array = await comm.allreduce(Float64Array.from(values), op);
    return reduced.reduce((a, b) => a + b, 0);
  } catch (error) {
    if (error instanceof CommError) console.error(error.code, error.operation);
    throw error;
  } finally {
    await comm.close();
  }
}

// @ts-expect-error: allreduce takes a typed array, not a string
export const wrong = (comm: Communicator) => comm.allreduce('not an array');
// @ts-expect-error: not a reduction
export const op: ReduceOp = 'median';
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noUncheckedIndexedAccess: true,
    noEmit: true,
    // As `tsc --init` writes it: the consumer's code is checked against the declarations, which
    // attw and this repository's own build check.
    skipLibCheck: true,
    types: ['node'],
  },
  include: ['typed.ts'],
};

export interface ConsumerProject {
  readonly dir: string;
  readonly type: ConsumerType;
  /** node_modules/.bin/collective */
  readonly bin: string;
  /** Where tsx goes when the test installs it (a link to this repository's). */
  readonly tsxLink: string;
}

/** Makes the project (npm init -y, then "type"), writes its files and installs the tarball. */
export async function createConsumer(
  root: string,
  type: ConsumerType,
  tarball: string,
): Promise<ConsumerProject> {
  const dir = join(root, type === 'commonjs' ? 'cjs-consumer' : 'esm-consumer');
  mkdirSync(dir);
  await npm(['init', '-y'], dir);
  await npm(['pkg', 'set', `type=${type}`], dir);
  await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], dir);
  writeFileSync(join(dir, 'entry.js'), entryProgram(type));
  writeFileSync(join(dir, 'rank.ts'), RANK_PROGRAM_TS);
  writeFileSync(join(dir, 'rank.js'), rankProgramJs(type));
  writeFileSync(join(dir, 'typed.ts'), TYPED_CONSUMER);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  // The Node.js types every TypeScript project on Node.js has (a dev dependency of the consumer).
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(join(REPOSITORY_MODULES, '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
  return {
    dir,
    type,
    bin: join(dir, 'node_modules', '.bin', 'collective'),
    tsxLink: join(dir, 'node_modules', 'tsx'),
  };
}

/** Installs tsx into the project as a link to this repository's copy (npm would fetch the same files). */
export function linkTsx(project: ConsumerProject): void {
  symlinkSync(join(REPOSITORY_MODULES, 'tsx'), project.tsxLink, 'dir');
}
