/**
 * The "done when": the packed tarball, installed into a CommonJS project (`npm init -y`) and
 * an ES module project, is usable from each: require/import, types (with their doc comments) for
 * tsc and editors, and `collective run` on .ts and .js rank programs (spec/train.md §8).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REPOSITORY,
  createConsumer,
  linkTsx,
  pack,
  type ConsumerProject,
  type ConsumerType,
} from './consumer-project.js';

const TYPES: readonly ConsumerType[] = ['commonjs', 'module'];
const RANKS = 2;
/** Each rank adds rank + 1. */
const SUM = (RANKS * (RANKS + 1)) / 2;
/**
 * Exports (imported by typed.ts) whose doc comment an editor's hover must show through the installed
 * declarations: those documented today; `init` joins once its doc comment lands (issue 17 item 1).
 */
const HOVER_DOCUMENTED = ['CommError', 'init'] as const;
/** Communicator members likewise. */
const HOVER_DOCUMENTED_MEMBERS = ['isLeader', 'allreduce', 'barrier', 'splitLocal'] as const;

let root: string;
let tarball: string;
const projects = new Map<ConsumerType, ConsumerProject>();

function exec(
  command: string,
  args: readonly string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', fail);
    child.once('close', (code) => done({ code, stdout, stderr }));
  });
}

function installed(project: ConsumerProject): string {
  return join(project.dir, 'node_modules', 'collective');
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

beforeAll(async () => {
  expect(existsSync(join(REPOSITORY, 'dist', 'cjs', 'index.js')), 'run `npm run build` first').toBe(true);
  root = mkdtempSync(join(tmpdir(), 'collective-consumer-'));
  tarball = await pack(root);
  const made = await Promise.all(TYPES.map((type) => createConsumer(root, type, tarball)));
  for (const project of made) projects.set(project.type, project);
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the sources its source maps name (or embeds them), so stack traces and debuggers resolve', () => {
    const pkg = installed(projects.get('module')!);
    const maps = filesUnder(join(pkg, 'dist')).filter((file) => file.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourcesContent } = JSON.parse(readFileSync(map, 'utf8')) as {
        sources: string[];
        sourcesContent?: Array<string | null>;
      };
      // The browser bundle's map embeds what it bundled (its dependencies are not shipped as files).
      sources.forEach((source, i) => {
        const embedded = typeof sourcesContent?.[i] === 'string';
        if (!embedded && !existsSync(resolve(dirname(map), source))) missing.push(`${map}: ${source}`);
      });
    }
    expect(missing).toEqual([]);
  });

  it("ships every file the README's relative links and images name", () => {
    const pkg = installed(projects.get('module')!);
    const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    const relative = targets.filter((t) => !/^([a-z]+:|#)/i.test(t)).map((t) => t.split('#')[0]!);
    expect(relative.length).toBeGreaterThan(0);
    expect(relative.filter((t) => !existsSync(join(pkg, t)))).toEqual([]);
  });

  it('builds only the optional MPI addon on the consumer machine, never failing, and states tsx as an optional peer', () => {
    const pkg = installed(projects.get('module')!);
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as {
      scripts?: Record<string, string>;
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    for (const script of ['preinstall', 'postinstall', 'prepare']) {
      expect(manifest.scripts?.[script], script).toBeUndefined();
    }
    // The one install step (spec/backend-mpi.md §2): the MPI addon where MPI is found; it exits 0 and
    // records its outcome, whatever it is, in the installed package.
    expect(manifest.scripts?.['install']).toBe('node scripts/build-mpi.mjs');
    const record = JSON.parse(readFileSync(join(pkg, 'native', 'mpi', 'build-status.json'), 'utf8'));
    expect(['built', 'no-mpi', 'failed', 'disabled']).toContain(record.state);
    expect(manifest.peerDependencies?.['tsx']).toBeDefined();
    expect(manifest.peerDependenciesMeta?.['tsx']?.optional).toBe(true);
  });
});

describe.each(TYPES)('a "type": "%s" consumer project', (type) => {
  const project = (): ConsumerProject => projects.get(type)!;

  it(`loads the package with ${type === 'commonjs' ? 'require()' : 'import'}`, async () => {
    const { code, stdout, stderr } = await exec(process.execPath, ['entry.js'], project().dir);
    expect(code, stderr).toBe(0);
    expect(stderr).toBe('');
    expect(JSON.parse(stdout)).toEqual({ init: 'function', train: 'function', CommError: 'function' });
  });

  it('type-checks a TypeScript file that uses init and allreduce, and shows its doc comments', () => {
    const dir = project().dir;
    const config = ts.getParsedCommandLineOfConfigFile(
      join(dir, 'tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        },
      },
    )!;
    const program = ts.createProgram(config.fileNames, config.options);
    const diagnostics = ts.getPreEmitDiagnostics(program);
    expect(
      ts.formatDiagnostics(diagnostics, {
        ...ts.sys,
        getCanonicalFileName: (f) => f,
        getNewLine: () => '\n',
      }),
    ).toBe('');

    // What an editor's hover shows: the doc comments, through the declarations of this module format.
    const checker = program.getTypeChecker();
    const source = program.getSourceFile(join(dir, 'typed.ts'))!;
    const imported = new Map<string, ts.Symbol>();
    source.forEachChild((node) => {
      if (!ts.isImportDeclaration(node) || !node.importClause?.namedBindings) return;
      if (!ts.isNamedImports(node.importClause.namedBindings)) return;
      for (const element of node.importClause.namedBindings.elements) {
        imported.set(element.name.text, checker.getAliasedSymbol(checker.getSymbolAtLocation(element.name)!));
      }
    });
    const declaration = imported.get('CommError')!.declarations![0]!.getSourceFile().fileName;
    expect(declaration).toContain(
      type === 'commonjs' ? '/collective/dist/cjs/' : '/collective/dist/communicator/',
    );
    const docs = (symbol: ts.Symbol): string =>
      ts.displayPartsToString(symbol.getDocumentationComment(checker));
    for (const name of HOVER_DOCUMENTED) {
      expect(docs(imported.get(name)!), name).not.toBe('');
    }
    const communicator = checker.getDeclaredTypeOfSymbol(imported.get('Communicator')!);
    for (const member of HOVER_DOCUMENTED_MEMBERS) {
      expect(docs(communicator.getProperty(member)!), `Communicator.${member}`).not.toBe('');
    }
  });

  it('says a .ts rank program needs tsx while tsx is not installed', async () => {
    rmSync(project().tsxLink, { force: true });
    const { code, stderr } = await exec(
      project().bin,
      ['run', '-n', String(RANKS), 'rank.ts'],
      project().dir,
    );
    expect(code).not.toBe(0);
    expect(stderr).toContain('needs tsx, which is not installed');
    expect(stderr).toContain('npm install tsx');
  });

  it.each([
    ['rank.ts', 'shm'],
    ['rank.ts', 'tcp'],
    ['rank.js', 'shm'],
  ])('collective run -n 2 %s (%s)', async (script, backend) => {
    if (script.endsWith('.ts') && !existsSync(project().tsxLink)) linkTsx(project());
    const args = ['run', '-n', String(RANKS), '--backend', backend, script];
    const { code, stdout, stderr } = await exec(project().bin, args, project().dir);
    expect(code, stderr).toBe(0);
    for (let rank = 0; rank < RANKS; rank++) expect(stdout).toContain(`[${rank}] rank ${rank}: sum ${SUM}`);
  });
});

describe('require() on a Node.js without require(esm)', () => {
  it('names the Node.js versions that can, and import()', async () => {
    const args = ['--no-experimental-require-module', 'entry.js'];
    const { code, stderr } = await exec(process.execPath, args, projects.get('commonjs')!.dir);
    expect(code).not.toBe(0);
    expect(stderr).toContain('needs Node.js ^20.19.0 or >=22.12.0');
    expect(stderr).toContain("import('collective')");
  });
});
