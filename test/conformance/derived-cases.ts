/**
 * Base cases re-run on derived communicators (STYLE.md "Run the suite on derived communicators",
 * like mpi4py's tests on World, Self and their dups): a split half (color = rank % 2) and a dup of
 * the world. Each world derives its communicator once, in the first such case it runs, and keeps it
 * for the next ones; a case runs on a half only when the half is large enough for it.
 */
import type { Communicator } from '../../src/communicator/communicator.js';
import { BASE_CASES, type ConformanceCase } from './cases.js';
import { CONTRACT_CASES } from './contract-cases.js';
import { ROOTED_CASES } from './rooted-cases.js';

interface Derivation {
  readonly label: string;
  make(comm: Communicator): Promise<Communicator | null>;
}

const SPLIT_HALF: Derivation = { label: 'split half', make: (comm) => comm.split(comm.rank % 2) };
const DUP: Derivation = { label: 'dup', make: (comm) => comm.dup() };

/** The costlier cases (every op × every dtype; the rooted families): on the split half only. */
const HALF_ONLY = [
  'allreduce: every op × every dtype, odd count',
  'rooted: gather and gatherv (packed, counts only at the root, displs with gaps, in place)',
  'rooted: alltoall (also in place) and alltoallv (recvCounts learnt or given, displs with gaps)',
];
/** A cheap selection: every collective, the object family, queueing and agreement errors. */
const SELECTED = [
  'rank and size are unique, in range and constant',
  'allreduce: in place (recv is send) and caller recv',
  'allgatherv: heterogeneous counts given',
  'allgatherv: counts omitted are exchanged automatically',
  'allgatherv: caller displs with gaps, reversed, into a caller recv',
  'broadcast: every dtype, default root 0, zero length, subarray view',
  'barrier: writes before it are seen by every rank after it, three barriers in a row',
  'collectives issued without awaiting run in call order',
  'bcast: rich values from root 0 and root R-1',
  'shared region: the leader writes, fence, every rank reads; splitLocal agrees with isLeader',
  'bad input on one rank only: every rank gets the same code, then the communicator works',
  'CollectiveMismatch: count, op, root and kind disagreements name the ranks; the communicator survives',
  'rooted: back-to-back different collectives without awaiting, interleaved with allreduce and barrier',
];

const derivedByWorld = new WeakMap<Communicator, Map<string, Promise<Communicator | null>>>();

function derivedOf(comm: Communicator, how: Derivation): Promise<Communicator | null> {
  let byLabel = derivedByWorld.get(comm);
  if (byLabel === undefined) derivedByWorld.set(comm, (byLabel = new Map()));
  let derived = byLabel.get(how.label);
  if (derived === undefined || comm.closed) byLabel.set(how.label, (derived = how.make(comm)));
  return derived;
}

function onDerived(how: Derivation, c: ConformanceCase): ConformanceCase {
  return {
    name: `[${how.label}] ${c.name}`,
    // Derived communicators of worlds up to 5 (halves of 1–3 ranks, dups of up to 5): the world of 8
    // runs every case itself; its derived runs add CI time, not another shape.
    maxSize: 5,
    async run(comm) {
      const derived = await derivedOf(comm, how);
      if (derived === null) return;
      if (derived.size < (c.minSize ?? 1) || derived.size > (c.maxSize ?? Infinity)) return;
      await c.run(derived);
    },
  };
}

const byName = new Map([...BASE_CASES, ...CONTRACT_CASES, ...ROOTED_CASES].map((c) => [c.name, c]));
function pick(name: string): ConformanceCase {
  const c = byName.get(name);
  if (c === undefined || c.fresh) throw new Error(`derived-cases: no shared-world case named '${name}'`);
  return c;
}

export const DERIVED_CASES: readonly ConformanceCase[] = [
  ...[...HALF_ONLY, ...SELECTED].map((name) => onDerived(SPLIT_HALF, pick(name))),
  ...SELECTED.map((name) => onDerived(DUP, pick(name))),
];
