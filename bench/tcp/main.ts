/**
 * The tcp benchmark: latency of allreduce, allgatherv, broadcast and barrier from 8 B to 2 MiB at 2
 * and 4 ranks (separate processes over 127.0.0.1), beside Open MPI's tcp transport and the raw Node
 * socket round trip measured in the same run, printed as a table of ratios.
 *
 *   npm run bench:tcp [-- --quick] [-- --ranks 2,4] [-- --no-baselines]
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchLine, BenchRequest } from './rank.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BASELINES = join(REPO, '..', 'shared', 'baselines');
/** 8 B … 2 MiB in steps of ×8: the baselines' sizes. */
const SIZES = [8, 64, 512, 4096, 32768, 262144, 2097152];
const MAX_BYTES = SIZES[SIZES.length - 1] as number;
const BASELINE_TIMEOUT_MS = 30 * 60 * 1000;
const RANK = fileURLToPath(new URL('./rank.ts', import.meta.url));

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const ranksArg = args[args.indexOf('--ranks') + 1];
const rankCounts = args.includes('--ranks') && ranksArg ? ranksArg.split(',').map(Number) : [2, 4];
const baselines = !args.includes('--no-baselines');

function forkRank(): ChildProcess {
  return fork(RANK, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** Rank 0 first; the others only once it reports its ephemeral port (no free-port race). */
async function runTcp(size: number): Promise<BenchLine[]> {
  const request = (rank: number, port: number): BenchRequest => ({ rank, size, port, sizes: SIZES, quick });
  const rank0 = forkRank();
  const children = [rank0];
  try {
    return await new Promise<BenchLine[]>((resolve, reject) => {
      rank0.on('message', (m: { port?: number; lines?: BenchLine[] }) => {
        if (m.port !== undefined) {
          for (let rank = 1; rank < size; rank++) {
            const child = forkRank();
            children.push(child);
            child.once(
              'exit',
              (code) => code !== 0 && reject(new Error(`bench rank ${rank} exited with ${code}`)),
            );
            child.send(request(rank, m.port));
          }
        }
        if (m.lines) resolve(m.lines);
      });
      rank0.once('exit', (code) => code !== 0 && reject(new Error(`bench rank 0 exited with ${code}`)));
      rank0.send(request(0, 0));
    });
  } finally {
    await Promise.all(
      children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))),
    );
  }
}

type Table = Map<string, number>;
const key = (op: string, bytes: number): string => `${op} ${bytes}`;

/** Parses "op bytes median_us" lines (every baseline prints them). */
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

function printTable(size: number, tcp: Table, mpi: Table): void {
  console.log(`\n## ${size} ranks (medians in µs; tcp/mpi < 1 means ours is faster)\n`);
  console.log('| op | bytes | tcp | Open MPI tcp | tcp/mpi |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [k, us] of tcp) {
    const [op, bytes] = k.split(' ') as [string, string];
    const m = mpi.get(k);
    console.log(`| ${op} | ${bytesLabel(Number(bytes))} | ${fmt(us)} | ${fmt(m)} | ${ratio(us, m)} |`);
  }
}

function printTargets(bySize: Map<number, Table>, mpiBySize: Map<number, Table>, roundtrip: Table): void {
  const check = (what: string, value: number | undefined, limit: number): void =>
    console.log(
      `- ${value === undefined ? '?' : value <= limit ? 'met' : 'MISSED'}: ${what} (${fmt(value)}×)`,
    );
  const r = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined ? undefined : a / b;
  const ar8 = key('allreduce', 8);
  const ar2m = key('allreduce', MAX_BYTES);
  const rt = roundtrip.get(key('roundtrip', 13));
  console.log(`\n## Targets (raw socket round trip: ${fmt(rt)} µs)\n`);
  check('allreduce 8 B at 2 ranks ≤ 1.3× raw socket round trip', r(bySize.get(2)?.get(ar8), rt), 1.3);
  check(
    'allreduce 2 MiB at 2 ranks ≤ 1.0× Open MPI tcp',
    r(bySize.get(2)?.get(ar2m), mpiBySize.get(2)?.get(ar2m)),
    1.0,
  );
  check(
    'allreduce 2 MiB at 4 ranks ≤ 1.5× Open MPI tcp',
    r(bySize.get(4)?.get(ar2m), mpiBySize.get(4)?.get(ar2m)),
    1.5,
  );
}

console.log(`# tcp benchmark${quick ? ' (quick)' : ''}: node ${process.version}, loopback 127.0.0.1`);
const roundtrip = baselines
  ? baseline(process.execPath, [join(BASELINES, 'tcp-roundtrip.mjs')])
  : new Map<string, number>();
const bySize = new Map<number, Table>();
const mpiBySize = new Map<number, Table>();
for (const size of rankCounts) {
  const tcp = new Map((await runTcp(size)).map((l) => [key(l.op, l.bytes), l.medianUs]));
  const mpi = baselines
    ? baseline('bash', [join(BASELINES, 'mpi-baseline.sh'), String(size), 'tcp', String(MAX_BYTES)])
    : new Map<string, number>();
  bySize.set(size, tcp);
  mpiBySize.set(size, mpi);
  printTable(size, tcp, mpi);
}
printTargets(bySize, mpiBySize, roundtrip);
