/**
 * The shm benchmark: latency of allreduce, allgatherv, broadcast and barrier from 8 B to 8 MiB at 2
 * and 4 ranks, beside Open MPI's shared-memory transport (vader) and a hand-written postMessage
 * allreduce measured in the same run, printed as a table of ratios.
 *
 *   npm run bench:shm [-- --quick] [-- --ranks 2,4] [-- --no-baselines] [-- --no-simd]
 *
 * The ranks run the compiled library in dist/ (the npm script builds it first).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  SHM_WORKER_DATA_KEY,
  type createShmGroup as createGroup,
  type ShmGroupHandle,
} from '../../src/backends/shm/index.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BASELINES = join(REPO, '..', 'shared', 'baselines');
/** 8 B … 2 MiB in steps of ×8 (the baselines' sizes), then 8 MiB. */
const SIZES = [8, 64, 512, 4096, 32768, 262144, 2097152, 8388608];
const MAX_BYTES = SIZES[SIZES.length - 1] as number;
const BASELINE_TIMEOUT_MS = 30 * 60 * 1000;

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const ranksArg = args[args.indexOf('--ranks') + 1];
const rankCounts = args.includes('--ranks') && ranksArg ? ranksArg.split(',').map(Number) : [2, 4];
const baselines = !args.includes('--no-baselines');
const acceleration = !args.includes('--no-simd');

/** The compiled library (`npm run bench:shm` builds it first) and the plain-JS rank program. */
const DIST_SHM = pathToFileURL(join(REPO, 'dist', 'backends', 'shm', 'index.js')).href;
const RANK = new URL('./rank.mjs', import.meta.url);

/** What rank.mjs expects in workerData. */
interface BenchRequest {
  [SHM_WORKER_DATA_KEY]: { group: ShmGroupHandle; rank: number };
  sizes: number[];
  quick: boolean;
  acceleration: boolean;
}
interface BenchLine {
  op: string;
  bytes: number;
  medianUs: number;
}

async function runShm(size: number): Promise<BenchLine[]> {
  const { createShmGroup } = (await import(DIST_SHM)) as { createShmGroup: typeof createGroup };
  const group = createShmGroup({ size });
  const workers = Array.from(
    { length: size },
    (_, rank) =>
      new Worker(RANK, {
        workerData: {
          [SHM_WORKER_DATA_KEY]: { group: group.handle, rank },
          sizes: quick ? SIZES.slice(0, -1) : SIZES,
          quick,
          acceleration,
        } satisfies BenchRequest,
      }),
  );
  try {
    return await new Promise<BenchLine[]>((resolve, reject) => {
      workers[0]!.once('message', resolve);
      workers.forEach((w, rank) => {
        w.once('error', reject);
        w.once('exit', (code) => {
          if (code !== 0) {
            group.abort(rank, `exited with code ${code}`);
            reject(new Error(`bench rank ${rank} exited with code ${code}`));
          }
        });
      });
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

type Table = Map<string, number>;
const key = (op: string, bytes: number): string => `${op} ${bytes}`;

/** Parses "op bytes median_us" lines (both baselines print them). */
function parse(text: string): Table {
  const out: Table = new Map();
  for (const line of text.split('\n')) {
    const [op, bytes, us] = line.trim().split(/\s+/);
    if (op && !op.startsWith('#') && bytes && us) out.set(key(op, Number(bytes)), Number(us));
  }
  return out;
}

function baseline(command: string, argv: string[]): Table {
  if (!existsSync(argv[0] as string)) return new Map();
  try {
    return parse(execFileSync(command, argv, { encoding: 'utf8', timeout: BASELINE_TIMEOUT_MS }));
  } catch (error) {
    console.error(`# baseline ${argv[0]} failed: ${(error as Error).message.split('\n')[0]}`);
    return new Map();
  }
}

const fmt = (x: number | undefined, digits = 2): string => (x === undefined ? '—' : x.toFixed(digits));
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}×`;
const bytesLabel = (b: number): string =>
  b >= 1048576 ? `${b / 1048576} MiB` : b >= 1024 ? `${b / 1024} KiB` : `${b} B`;

function printTable(size: number, shm: Table, mpi: Table, pm: Table): void {
  console.log(`\n## ${size} ranks (medians in µs; shm/vader < 1 means shm is faster)\n`);
  console.log('| op | bytes | shm | vader | shm/vader | postMessage | postMessage/shm |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [k, us] of shm) {
    const [op, bytes] = k.split(' ') as [string, string];
    const v = mpi.get(k);
    const p = op === 'allreduce' ? pm.get(k) : undefined;
    console.log(
      `| ${op} | ${bytesLabel(Number(bytes))} | ${fmt(us)} | ${fmt(v)} | ${ratio(us, v)} | ${fmt(p)} | ${ratio(p, us)} |`,
    );
  }
}

function printTargets(shm: Table, mpi: Table, pm: Table): void {
  const check = (what: string, ok: boolean | undefined, detail: string): void =>
    console.log(`- ${ok === undefined ? '?' : ok ? 'met' : 'MISSED'}: ${what} (${detail})`);
  const r = (a: string, t: Table, b: Table): number | undefined => {
    const x = t.get(a);
    const y = b.get(a);
    return x === undefined || y === undefined ? undefined : x / y;
  };
  const ar8 = key('allreduce', 8);
  const ar2m = key('allreduce', 2097152);
  const bar = key('barrier', 0);
  const v8 = r(ar8, shm, mpi);
  const p8 = r(ar8, pm, shm);
  const v2m = r(ar2m, shm, mpi);
  const vb = r(bar, shm, mpi);
  console.log('\n## Targets (2 ranks)\n');
  check('allreduce 8 B ≤ 2× vader', v8 === undefined ? undefined : v8 <= 2, `${fmt(v8)}×`);
  check(
    'allreduce 8 B ≥ 100× faster than postMessage',
    p8 === undefined ? undefined : p8 >= 100,
    `${fmt(p8, 0)}×`,
  );
  check('allreduce 2 MiB ≤ 1.0× vader', v2m === undefined ? undefined : v2m <= 1, `${fmt(v2m)}×`);
  check('barrier ≤ 2× vader', vb === undefined ? undefined : vb <= 2, `${fmt(vb)}×`);
}

console.log(
  `# shm benchmark${quick ? ' (quick)' : ''}: node ${process.version}, SIMD kernel ${acceleration ? 'on' : 'off'}`,
);
for (const size of rankCounts) {
  const shm = new Map((await runShm(size)).map((l) => [key(l.op, l.bytes), l.medianUs]));
  const mpi = baselines
    ? baseline('bash', [join(BASELINES, 'mpi-baseline.sh'), String(size), 'vader', String(MAX_BYTES)])
    : new Map<string, number>();
  const pm = baselines
    ? baseline(process.execPath, [
        join(BASELINES, 'postmessage-allreduce.mjs'),
        String(size),
        String(MAX_BYTES),
      ])
    : new Map<string, number>();
  printTable(size, shm, mpi, pm);
  if (size === 2) printTargets(shm, mpi, pm);
}
