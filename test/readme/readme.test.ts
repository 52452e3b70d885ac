/**
 * The README's code cannot drift: every ```ts block in README.md is preceded by a marker naming its file
 * under examples/readme/ and is that file, byte for byte; the files type-check under the project's
 * strict settings (strict, noUncheckedIndexedAccess: tsconfig.examples.json), and the runnable ones run.
 * `collective` resolves to src/ (tsconfig.examples.json `paths`, which tsx honours too): no build needed.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/readme/', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../../tsconfig.examples.json', import.meta.url));
const CLI = fileURLToPath(new URL('../selection/fixtures/cli.ts', import.meta.url));
const TSC = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
/** A marker line, then the block: <!-- examples/readme/NAME.ts --> */
const BLOCK = /(?:<!-- (examples\/readme\/[\w.-]+\.ts) -->\n)?```ts\n([\s\S]*?)```/g;
/** Bounds a hung example; collective run stops every rank and exits 124 after it. */
const RUN_TIMEOUT_SECS = 60;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], cwd = EXAMPLES): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function collectiveRun(backend: string, file: string): Promise<Ran> {
  const timeout = ['--timeout', String(RUN_TIMEOUT_SECS)];
  return run(['--import', 'tsx', CLI, 'run', '-n', '2', '--backend', backend, ...timeout, file]);
}

function readmeBlocks(): Array<{ file: string | undefined; code: string }> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  return [...readme.matchAll(BLOCK)].map((m) => ({ file: m[1], code: m[2] ?? '' }));
}

describe('README examples', () => {
  it('every ts block names its file under examples/readme/ and is identical to it', () => {
    const blocks = readmeBlocks();
    expect(blocks.length).toBeGreaterThan(0);
    for (const { file, code } of blocks) {
      expect(file, `a README ts block without its marker:\n${code}`).toBeDefined();
      expect(code, `README block differs from ${file}`).toBe(readFileSync(`${ROOT}${file}`, 'utf8'));
    }
    const shown = blocks.map((b) => b.file?.replace('examples/readme/', '')).sort();
    expect(shown, 'every file of examples/readme/ is shown in the README').toEqual(
      readdirSync(EXAMPLES).sort(),
    );
  });

  it('type-check under strict and noUncheckedIndexedAccess', async () => {
    const ran = await run([TSC, '-p', TSCONFIG, '--noEmit'], ROOT);
    expect(ran.stdout + ran.stderr).toBe('');
    expect(ran.code).toBe(0);
  });

  it.each(['shm', 'tcp'])(
    'app.ts, api.ts, node-groups.ts and communicators.ts run as 2 ranks (%s)',
    async (backend) => {
      const app = await collectiveRun(backend, 'app.ts');
      expect(app.code, app.stderr).toBe(0);
      expect(app.stdout).toContain(`rank 1/2 on ${backend}: 1`);
      const api = await collectiveRun(backend, 'api.ts');
      expect(api.code, api.stderr).toBe(0);
      expect(api.stdout.match(/InvalidBufferSize/g)).toHaveLength(2);
      const groups = await collectiveRun(backend, 'node-groups.ts');
      expect(groups.code, groups.stderr).toBe(0);
      expect(groups.stdout.match(backend === 'shm' ? /total 10/g : /total 20/g)).toHaveLength(2);
      const split = await collectiveRun(backend, 'communicators.ts');
      expect(split.code, split.stderr).toBe(0);
      expect(split.stdout).toContain('rank 0: half 0 sums to 0, half ranks 0,0');
      expect(split.stdout).toContain('rank 1: half 1 sums to 1, half ranks 0,0');
      // Nothing on stderr but, on a machine with fewer cores than ranks, the one oversubscription note.
      for (const ran of [app, api, groups, split]) {
        expect(
          ran.stderr.split('\n').filter((l) => l !== '' && !/COLLECTIVE_OVERSUBSCRIBED/.test(l)),
        ).toEqual([]);
      }
    },
  );

  it('messages.ts runs as one rank (a ring of one: every message is a self-send)', async () => {
    const ran = await run(['--import', 'tsx', 'messages.ts']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain('from rank 0: got 0,0');
    expect(ran.stderr).toBe('');
  });

  it('main.ts trains on 4 workers and prints the weights', async () => {
    const ran = await run(['--import', 'tsx', 'main.ts']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain('worker 3: step 99');
    expect(ran.stdout).toMatch(/^Float64Array\(8\)/m);
    // 4 workers on fewer cores warn once, as they should; nothing else is printed on stderr.
    const other = ran.stderr
      .split('\n')
      .filter((line) => line !== '' && !/COLLECTIVE_OVERSUBSCRIBED|--trace-warnings/.test(line));
    expect(other).toEqual([]);
  });
});
