/**
 * Conformance family: agreement of the collectives on messages (spec/communicator.md §4.10, §6.2) —
 * ranks that disagree get CollectiveMismatch on every rank; bad arguments on one rank, found at the
 * call or only once the layout is known (a non-root's recv in scatter, the root's recv in gatherv,
 * recvCounts in alltoallv), reject on every rank with that rank's code and details.invalidRanks; the
 * communicator works afterwards. Registered in all-cases.ts.
 */
import assert from 'node:assert/strict';
import type { Communicator } from '../../src/communicator/communicator.js';
import type { CommErrorCode } from '../../src/communicator/errors.js';
import { expectCommError, type ConformanceCase } from './cases.js';

const cases: ConformanceCase[] = [];
const add = (c: ConformanceCase): void => void cases.push(c);

/** Every rank rejects with `code`; the others name `culprit` in details.invalidRanks. */
async function everywhere(
  comm: Communicator,
  call: Promise<unknown>,
  code: CommErrorCode,
  culprit: number,
  what: string,
): Promise<void> {
  const e = await expectCommError(call, code, what);
  if (comm.rank !== culprit) {
    const details = (e as unknown as { details: { invalidRanks?: number[] } }).details;
    assert.deepEqual(details.invalidRanks, [culprit], `${what}: details.invalidRanks names rank ${culprit}`);
  }
}

/** The communicator still works: a reduce and a scan give the right sums. */
async function stillWorks(comm: Communicator, what: string): Promise<void> {
  const got = await comm.reduce(Float64Array.of(1), 'sum', 0);
  if (comm.rank === 0) assert.equal((got as Float64Array)[0], comm.size, `${what}: reduce afterwards`);
  const scanned = await comm.scan(Int32Array.of(1));
  assert.equal(scanned[0], comm.rank + 1, `${what}: scan afterwards`);
}

add({
  name: 'rooted: disagreements (root, counts, op, dtype, kind) are CollectiveMismatch on every rank',
  minSize: 2,
  async run(comm) {
    const last = comm.rank === comm.size - 1;
    const x = new Float64Array(3);
    let e = await expectCommError(comm.reduce(x, 'sum', last ? 1 : 0), 'CollectiveMismatch', 'reduce root');
    assert.match(e.message, /root=0/);
    assert.match(e.message, /root=1/);
    await expectCommError(comm.reduce(x, last ? 'max' : 'sum'), 'CollectiveMismatch', 'reduce op');
    e = await expectCommError(
      comm.gather(new Float64Array(last ? 2 : 3)),
      'CollectiveMismatch',
      'gather count',
    );
    assert.match(e.message, /count=2/);
    await expectCommError(
      comm.scan(last ? new Float32Array(3) : new Float64Array(3)),
      'CollectiveMismatch',
      'scan dtype',
    );
    await expectCommError(last ? comm.reduce(x) : comm.gather(x), 'CollectiveMismatch', 'reduce vs gather');
    await expectCommError(last ? comm.scan(x) : comm.allreduce(x), 'CollectiveMismatch', 'scan vs allreduce');
    await expectCommError(last ? comm.exscan(x) : comm.barrier(), 'CollectiveMismatch', 'exscan vs barrier');
    // Scatter: each rank thinks it or another is the root; every one passes a valid send.
    const roots = last ? 1 : 0;
    await expectCommError(
      comm.scatter(new Float64Array(2 * comm.size), Float64Array, roots),
      'CollectiveMismatch',
      'scatter root',
    );
    // Same totals, different layouts.
    const counts = Array.from({ length: comm.size }, () => 2);
    const other = counts.map((c, r) => (r === 0 ? c + 1 : r === 1 ? c - 1 : c));
    await expectCommError(
      comm.reduceScatter(new Float64Array(2 * comm.size), last ? other : counts),
      'CollectiveMismatch',
      'reduceScatter counts',
    );
    // gatherv: a rank that passes counts other than what the ranks send.
    const send = new Float64Array(comm.rank % 2);
    const truth = Array.from({ length: comm.size }, (_, r) => r % 2);
    const wrong = truth.map((c, r) => (r === comm.rank ? c : c + 1));
    await expectCommError(
      comm.gatherv(send, 0, last ? { counts: wrong } : {}),
      'CollectiveMismatch',
      'gatherv counts',
    );
    // scatterv: a non-root's counts differ from the root's.
    const sc = Array.from({ length: comm.size }, () => 1);
    const scOther = sc.map((c, r) => (r === 0 ? c + 1 : c));
    await expectCommError(
      comm.scatterv(comm.rank === 0 ? new Int32Array(comm.size + 1) : null, Int32Array, 0, {
        counts: last ? scOther : sc,
      }),
      'CollectiveMismatch',
      'scatterv counts',
    );
    await stillWorks(comm, 'after mismatches');
  },
});

add({
  name: 'rooted: bad arguments on one rank reject on every rank with its code (at the call or once the layout is known)',
  minSize: 2,
  async run(comm) {
    const lastRank = comm.size - 1;
    const last = comm.rank === lastRank;
    const x = new Float64Array(4);
    const shared = new Float64Array(comm.size + 1);
    await everywhere(
      comm,
      comm.reduce(x, 'sum', last ? comm.size : 0),
      'InvalidRoot',
      lastRank,
      'reduce root',
    );
    await everywhere(
      comm,
      comm.scan(x, last ? ('avg' as 'sum') : 'sum'),
      'InvalidArgument',
      lastRank,
      'scan op',
    );
    await everywhere(
      comm,
      comm.reduce(x, 'sum', lastRank, last ? new Float64Array(3) : undefined),
      'InvalidBufferSize',
      lastRank,
      'reduce root recv',
    );
    // The root's send is not size × k: found at the root only.
    await everywhere(
      comm,
      comm.scatter(comm.rank === 0 ? new Float64Array(2 * comm.size + 1) : null, Float64Array, 0),
      'InvalidBufferSize',
      0,
      'scatter root send',
    );
    await everywhere(
      comm,
      comm.scatter(null, Float64Array, 0),
      'InvalidArgument',
      0,
      'scatter without send at the root',
    );
    // A non-root's recv does not fit the root's blocks: found once the block length is known.
    await everywhere(
      comm,
      comm.scatter(
        comm.rank === 0 ? new Float64Array(2 * comm.size) : null,
        new Float64Array(last ? 3 : 2),
        0,
      ),
      'InvalidBufferSize',
      lastRank,
      'scatter recv length',
    );
    await everywhere(
      comm,
      comm.scatterv(comm.rank === 0 ? new Int32Array(comm.size) : null, Int32Array, 0),
      'InvalidArgument',
      0,
      'scatterv without counts at the root',
    );
    // The root's recv is too short for the counts it learns.
    await everywhere(
      comm,
      comm.gatherv(new Float64Array(2), lastRank, last ? { recv: new Float64Array(2 * comm.size - 1) } : {}),
      'InvalidBufferSize',
      lastRank,
      'gatherv root recv',
    );
    // recvCounts that are not what the senders send.
    const ones = Array.from({ length: comm.size }, () => 1);
    await everywhere(
      comm,
      comm.alltoallv(new Float64Array(comm.size), ones, { recvCounts: last ? ones.map((c) => c + 1) : ones }),
      'InvalidBufferSize',
      lastRank,
      'alltoallv recvCounts',
    );
    await everywhere(
      comm,
      comm.reduceScatterBlock(new Float64Array(last ? comm.size + 1 : comm.size)),
      'InvalidBufferSize',
      lastRank,
      'reduceScatterBlock send length',
    );
    await everywhere(
      comm,
      comm.alltoall(shared.subarray(0, comm.size), last ? shared.subarray(1, comm.size + 1) : undefined),
      'InvalidArgument',
      lastRank,
      'alltoall recv partly overlapping send',
    );
    await stillWorks(comm, 'after bad arguments');
  },
});

export const ROOTED_ERROR_CASES: readonly ConformanceCase[] = cases;
