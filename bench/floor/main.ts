/**
 * `npm run bench:floor [-- --quick] [--against DIR] [--rounds 3]`
 *
 * The per-call floor of a small collective (issue 18, spec/performance.md §4), part by part: the
 * front end's checks, fingerprint, promise and scheduling on one thread, the shm backend alone, and
 * the whole call, on one rank and in a 2-rank shm group (worker threads). ns per call, medians over
 * every repetition of every round. `--against DIR` measures a second build (the `dist/` of another
 * checkout, e.g. the base commit) in the same run, alternating with this one round by round.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { maxOverRanks, quantile } from '../harness/stats.js';
import { runThreadWorld } from '../harness/thread-world.js';
import { loadLibrary, oneThreadRows, type Effort, type Row } from './parts.js';
import { ROW_ORDER, type FloorRankData } from './rank.js';

const FULL: Effort = { calls: 20_000, reps: 7 };
const QUICK: Effort = { calls: 2_000, reps: 3 };
const DEFAULT_ROUNDS = 3;
const OPS = ['allreduce', 'barrier'] as const;

type Table = Map<string, Row>;

function append(table: Table, name: string, row: Row): void {
  const had = table.get(name);
  if (!had)
    table.set(name, { allreduce: row.allreduce?.slice() ?? null, barrier: row.barrier?.slice() ?? null });
  else for (const op of OPS) had[op]?.push(...(row[op] ?? []));
}

async function twoRankRows(
  dist: string,
  effort: Effort,
  lib: Awaited<ReturnType<typeof loadLibrary>>,
): Promise<Table> {
  const group = lib.group.createShmGroup({ size: 2 });
  const byRank = await runThreadWorld({
    ranks: 2,
    entry: new URL('./rank.ts', import.meta.url),
    workerData: (rank): FloorRankData => ({ dist, group: group.handle, rank, effort }),
    onFailure: (rank, reason) => group.abort(rank, reason),
  });
  const row = (name: (typeof ROW_ORDER)[number]): number[] =>
    maxOverRanks(byRank.map((t) => t[ROW_ORDER.indexOf(name)] as number[]));
  return new Map([
    ['shm backend alone, 2 ranks', { allreduce: row('backend allreduce'), barrier: row('backend barrier') }],
    ['whole call, 2 ranks shm', { allreduce: row('whole allreduce'), barrier: row('whole barrier') }],
  ]);
}

async function measure(dist: string, effort: Effort, into: Table): Promise<void> {
  const lib = await loadLibrary(dist);
  for (const [name, row] of Object.entries(await oneThreadRows(lib, effort))) append(into, name, row);
  for (const [name, row] of await twoRankRows(dist, effort, lib)) append(into, name, row);
}

const median = (values: number[] | null | undefined): number | null =>
  values && values.length > 0 ? quantile(values, 0.5) : null;

/** Rows derived from measured ones: what the front end adds on top of the parts measured alone. */
function derive(table: Table): void {
  const minus = (a: string, b: string) => {
    const row: Row = { allreduce: null, barrier: null };
    for (const op of OPS) {
      const x = median(table.get(a)?.[op]);
      const y = median(table.get(b)?.[op]);
      row[op] = x === null || y === null ? null : [x - y];
    }
    return row;
  };
  table.set(
    '= front end beyond promise + await (null backend)',
    minus('front end whole (null backend)', 'promise + await (resolved)'),
  );
  table.set(
    '= front end share at 2 ranks (whole − backend)',
    minus('whole call, 2 ranks shm', 'shm backend alone, 2 ranks'),
  );
}

function format(tables: Array<[string, Table]>): string {
  const header = [
    'part (ns per call, median)',
    ...tables.flatMap(([label]) => OPS.map((op) => `${op === 'barrier' ? op : `${op} 8 B`} ${label}`.trim())),
  ];
  const names = [...(tables[0]?.[1].keys() ?? [])];
  const cell = (v: number | null): string => (v === null ? '–' : v.toFixed(0));
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`];
  for (const name of names) {
    lines.push(
      `| ${name} | ${tables.flatMap(([, t]) => OPS.map((op) => cell(median(t.get(name)?.[op])))).join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      against: { type: 'string' },
      rounds: { type: 'string', default: String(DEFAULT_ROUNDS) },
    },
  });
  const effort = values.quick ? QUICK : FULL;
  const rounds = values.quick ? 1 : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`--rounds takes a positive integer, got '${values.rounds}'`);
  const here = fileURLToPath(new URL('../../dist/', import.meta.url));
  const builds: Array<[string, string]> = [['', pathToFileURL(here).href + '']];
  if (values.against) {
    builds[0]![0] = '(this)';
    builds.push(['(against)', pathToFileURL(values.against.replace(/\/?$/, '/')).href]);
  }
  const tables = builds.map(([label]): [string, Table] => [label, new Map()]);
  for (let round = 0; round < rounds; round++) {
    for (let b = 0; b < builds.length; b++) await measure(builds[b]![1], effort, tables[b]![1]);
  }
  for (const [, table] of tables) derive(table);
  console.log(
    `calls per repetition ${effort.calls}, repetitions ${effort.reps} × rounds ${rounds}; builds: ${builds.map(([l, d]) => `${l || 'this'} ${d}`).join(', ')}`,
  );
  console.log(format(tables));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
