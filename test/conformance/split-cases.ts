/**
 * split() and dup() (spec/communicator.md §11): memberships and order, undefined colors, nesting,
 * independence of a dup from its parent (collectives and messages), bad arguments and close.
 */
import assert from 'node:assert/strict';
import type { Communicator } from '../../src/communicator/communicator.js';
import { expectCommError, type ConformanceCase } from './cases.js';

const cases: ConformanceCase[] = [];
const add = (c: ConformanceCase): void => void cases.push(c);

/** The parent ranks of `sub`'s members in sub-rank order, checked against `expected` on every member. */
async function expectMembers(
  sub: Communicator,
  parentRank: number,
  expected: number[],
  what: string,
): Promise<void> {
  assert.equal(sub.size, expected.length, `${what}: size`);
  assert.equal(sub.rank, expected.indexOf(parentRank), `${what}: rank`);
  assert.deepEqual(await sub.allgather(parentRank), expected, `${what}: members in rank order`);
  const sum = await sub.allreduce(Float64Array.of(parentRank));
  assert.equal(
    sum[0],
    expected.reduce((a, b) => a + b, 0),
    `${what}: allreduce over the members`,
  );
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, r) => r);
}

add({
  name: 'split: members of one color are ordered by key, ties by parent rank; backend is the parent’s',
  async run(comm) {
    const { rank, size } = comm;
    // Three colors, keys reversed: each communicator lists its ranks from the highest.
    const reversed = await comm.split(rank % 3, -rank);
    assert.ok(reversed !== null);
    assert.equal(reversed.backend, comm.backend);
    await expectMembers(
      reversed,
      rank,
      range(size)
        .filter((r) => r % 3 === rank % 3)
        .reverse(),
      'reversed keys',
    );
    // One color, keys that tie in pairs: even ranks first, each tie broken by the parent rank.
    const ties = await comm.split(0, rank % 2);
    assert.ok(ties !== null);
    const expected = [...range(size).filter((r) => r % 2 === 0), ...range(size).filter((r) => r % 2 === 1)];
    await expectMembers(ties, rank, expected, 'tied keys');
    // The default key is the parent rank: a single color is a copy of the parent.
    const all = await comm.split(7);
    assert.ok(all !== null);
    await expectMembers(all, rank, range(size), 'default key');
    await Promise.all([reversed.close(), ties.close(), all.close()]);
  },
});

add({
  name: 'split: null and undefined colors resolve null; the others form a communicator',
  async run(comm) {
    const { rank, size } = comm;
    const color = rank === 0 ? null : rank === 1 ? undefined : 4;
    const sub = await comm.split(color);
    if (rank <= 1) {
      assert.equal(sub, null);
    } else {
      assert.ok(sub !== null);
      await expectMembers(
        sub,
        rank,
        range(size).filter((r) => r > 1),
        'colored ranks',
      );
      await sub.close();
    }
    // Nobody in any communicator: every rank gets null, and the parent goes on.
    assert.equal(await comm.split(null), null);
    assert.equal((await comm.allreduce(Int32Array.of(1)))[0], size);
  },
});

add({
  name: 'split: nested splits and a dup of a split',
  async run(comm) {
    const { rank, size } = comm;
    const half = await comm.split(rank % 2);
    assert.ok(half !== null);
    const halfMembers = range(size).filter((r) => r % 2 === rank % 2);
    await expectMembers(half, rank, halfMembers, 'half');
    const quarter = await half.split(half.rank % 2, -half.rank);
    assert.ok(quarter !== null);
    await expectMembers(
      quarter,
      rank,
      halfMembers.filter((_, i) => i % 2 === half.rank % 2).reverse(),
      'quarter',
    );
    const copy = await quarter.dup();
    await expectMembers(
      copy,
      rank,
      halfMembers.filter((_, i) => i % 2 === half.rank % 2).reverse(),
      'dup of quarter',
    );
    // The world, the half, the quarter and its dup all still work, interleaved.
    const [w, h, q, c] = await Promise.all([
      comm.allreduce(Int32Array.of(1)),
      half.allreduce(Int32Array.of(1)),
      quarter.allreduce(Int32Array.of(1)),
      copy.allreduce(Int32Array.of(1)),
    ]);
    assert.deepEqual([w[0], h[0], q[0], c[0]], [size, half.size, quarter.size, copy.size]);
    await Promise.all([copy.close(), quarter.close(), half.close()]);
  },
});

add({
  name: 'dup: collectives on the dup and on the parent in flight at once do not interfere',
  async run(comm) {
    const { rank, size } = comm;
    const dup = await comm.dup();
    assert.equal(dup.rank, rank);
    assert.equal(dup.size, size);
    for (let round = 0; round < 3; round++) {
      const [a, b, c, d, e] = await Promise.all([
        dup.allreduce(Float64Array.of(rank, round)),
        comm.allreduce(Float64Array.of(1, round)),
        dup.allgather({ rank, round }),
        comm.bcast(rank === size - 1 ? `from ${rank}` : null, size - 1),
        dup.barrier(),
      ]);
      assert.deepEqual(Array.from(a), [(size * (size - 1)) / 2, size * round]);
      assert.deepEqual(Array.from(b), [size, size * round]);
      assert.deepEqual(
        c,
        range(size).map((r) => ({ rank: r, round })),
      );
      assert.equal(d, `from ${size - 1}`);
      assert.equal(e, undefined);
    }
    await dup.close();
  },
});

add({
  name: 'dup: messages with the same tag on the parent and on the dup never match each other',
  minSize: 2,
  async run(comm) {
    const dup = await comm.dup();
    const tag = 5;
    if (comm.rank === 0) {
      await comm.send(Float64Array.of(1), 1, tag);
      await dup.send(Float64Array.of(2), 1, tag);
    } else if (comm.rank === 1) {
      // The parent's message arrives first; a receive on the dup must skip it.
      const onDup = await dup.recv(Float64Array, 0, tag);
      const onParent = await comm.recv(Float64Array, 0, tag);
      assert.equal(onDup.data[0], 2);
      assert.equal(onParent.data[0], 1);
    }
    await dup.barrier();
    await dup.close();
  },
});

add({
  name: 'splitLocal: messages with the same tag on the node communicator and on its parent never match each other',
  minSize: 2,
  async run(comm) {
    const node = await comm.splitLocal();
    // Where the node group is this world (shm), world ranks 0 and 1 are its ranks 0 and 1; elsewhere
    // the node communicator has one rank and messages to self stand in for the pair.
    const shared = node.size === comm.size;
    const tag = 6;
    if (comm.rank === 0) {
      await comm.send(Float64Array.of(1), 1, tag);
      if (shared) await node.send(Float64Array.of(2), 1, tag);
    } else if (comm.rank === 1) {
      if (shared) assert.equal((await node.recv(Float64Array, 0, tag)).data[0], 2);
      assert.equal((await comm.recv(Float64Array, 0, tag)).data[0], 1);
    }
    if (!shared) {
      await node.send(Float64Array.of(3), 0, tag);
      assert.equal((await node.recv(Float64Array, 0, tag)).data[0], 3);
    }
    await comm.barrier();
    await node.close();
  },
});

add({
  name: 'split: a bad color or key on one rank is InvalidArgument on every rank, then split works',
  minSize: 2,
  async run(comm) {
    const last = comm.rank === comm.size - 1;
    const e = await expectCommError(comm.split(last ? -1 : 0), 'InvalidArgument', 'negative color');
    if (!last)
      assert.deepEqual((e as { details?: { invalidRanks?: number[] } }).details?.invalidRanks, [
        comm.size - 1,
      ]);
    await expectCommError(comm.split(0, last ? 1.5 : 0), 'InvalidArgument', 'fractional key');
    await expectCommError(
      comm.split(last ? ('1' as unknown as number) : 0),
      'InvalidArgument',
      'string color',
    );
    const sub = await comm.split(0);
    assert.ok(sub !== null);
    assert.equal(sub.size, comm.size);
    await sub.close();
  },
});

add({
  name: 'split: bad color on every rank, and a split facing another collective, reject on every rank',
  async run(comm) {
    await expectCommError(comm.split(0.5), 'InvalidArgument', 'fractional color');
    if (comm.size > 1) {
      const e = await expectCommError(
        comm.rank === 0 ? comm.dup() : comm.split(0),
        'CollectiveMismatch',
        'dup vs split',
      );
      assert.match(e.message, /dup/);
      assert.match(e.message, /split/);
    }
    assert.equal((await comm.allreduce(Int32Array.of(1)))[0], comm.size);
  },
});

add({
  name: 'split: closing a derived communicator on one rank fails its peers’ collectives, naming it',
  minSize: 2,
  async run(comm) {
    // Once the closer is a member (the last rank), once the judge (rank 0 of the new communicator).
    for (const closer of [comm.size - 1, 0]) {
      const dup = await comm.dup();
      if (comm.rank === closer) {
        await dup.close();
        await expectCommError(dup.barrier(), 'InvalidCommunicator', 'after close');
      } else {
        const e = await expectCommError(dup.barrier(), 'CollectiveFailed', `closer ${closer}`);
        assert.match(e.message, new RegExp(`rank ${closer}\\b`));
        await expectCommError(dup.allreduce(Float64Array.of(1)), 'CollectiveFailed', 'later calls');
        await dup.close();
      }
      // The parent is untouched.
      assert.equal((await comm.allreduce(Int32Array.of(1)))[0], comm.size);
    }
  },
});

add({
  name: 'split and dup: collectives above the eager threshold (rendezvous messages), bit-exact',
  async run(comm) {
    const { rank, size } = comm;
    // 9,001 float64 = 72 KB: above the 64 KiB eager threshold (allreduce and broadcast each way, the
    // gathered blocks on the way back), not a multiple of anything.
    const n = 9_001;
    const block = (sub: Communicator): number => Math.ceil(n / sub.size);
    const half = await comm.split(rank % 2);
    const dup = await comm.dup();
    assert.ok(half !== null);
    for (const sub of [half, dup]) {
      const parts = Array.from({ length: sub.size }, (_, r) =>
        Float64Array.from({ length: n }, (_, i) => 1 / (r + i + 1)),
      );
      const expected = new Float64Array(n);
      for (const part of parts)
        for (let i = 0; i < n; i++) expected[i] = (expected[i] as number) + (part[i] as number);
      const sum = await sub.allreduce(parts[sub.rank] as Float64Array);
      assert.deepEqual(sum, expected, `allreduce on a communicator of ${sub.size}`);
      const k = block(sub);
      const all = await sub.allgatherv(Float64Array.from({ length: k }, (_, i) => sub.rank * k + i));
      assert.deepEqual(
        all,
        Float64Array.from({ length: k * sub.size }, (_, i) => i),
        'allgatherv',
      );
      const buf =
        sub.rank === sub.size - 1 ? Float64Array.from({ length: n }, (_, i) => -i) : new Float64Array(n);
      await sub.broadcast(buf, sub.size - 1);
      assert.deepEqual(
        buf,
        Float64Array.from({ length: n }, (_, i) => -i),
        'broadcast',
      );
    }
    assert.equal(size, comm.size);
    await Promise.all([half.close(), dup.close()]);
  },
});

add({
  // The dup case above depends on it: an unexpected eager message is kept as a copy. A Node Buffer
  // payload (tcp's frame reader) made Buffer#slice() a view of reused memory, and the first message
  // arrived with the second's bytes.
  name: 'messages: an unexpected message keeps its own bytes while later messages arrive',
  minSize: 2,
  async run(comm) {
    for (let i = 0; i < 20; i++) {
      if (comm.rank === 0) {
        await comm.send(Float64Array.of(1, i), 1, 5);
        await comm.send(Float64Array.of(2, i), 1, 6);
      } else if (comm.rank === 1) {
        const second = await comm.recv(Float64Array, 0, 6);
        const first = await comm.recv(Float64Array, 0, 5);
        assert.deepEqual([...first.data, ...second.data], [1, i, 2, i], `round ${i}`);
      }
      await comm.barrier();
    }
  },
});

add({
  name: 'split and dup in flight at once on overlapping communicators get distinct contexts',
  minSize: 3,
  async run(comm) {
    const { rank } = comm;
    const half = await comm.split(rank % 2);
    assert.ok(half !== null);
    // Not awaited in between: both agreements are in flight on ranks that are in both parents.
    const [halfDup, worldDup] = await Promise.all([half.dup(), comm.dup()]);
    // World ranks 0 and 2 are ranks 0 and 1 of the even half. Same pair, same tag, two communicators.
    if (rank === 0) {
      await worldDup.sendObject('world dup', 2, 3);
      await halfDup.sendObject('half dup', 1, 3);
    } else if (rank === 2) {
      assert.equal((await halfDup.recvObject<string>(0, 3)).value, 'half dup');
      assert.equal((await worldDup.recvObject<string>(0, 3)).value, 'world dup');
    }
    await worldDup.barrier();
    await Promise.all([halfDup.close(), worldDup.close(), half.close()]);
  },
});

add({
  name: 'split: close() with a collective in flight rejects it there; the peers’ call completes, their next fails',
  minSize: 2,
  async run(comm) {
    for (const closer of [comm.size - 1, 0]) {
      const dup = await comm.dup();
      const mine = dup.allreduce(Float64Array.of(1));
      if (comm.rank === closer) {
        const closed = dup.close();
        await expectCommError(mine, 'InvalidCommunicator', 'in flight at close');
        await closed;
      } else {
        // The closer's part of the allreduce still ran: the peers get the full sum.
        assert.equal((await mine)[0], comm.size);
        const e = await expectCommError(dup.barrier(), 'CollectiveFailed', `closer ${closer}`);
        assert.match(e.message, new RegExp(`rank ${closer}\\b`));
        await dup.close();
      }
      assert.equal((await comm.allreduce(Int32Array.of(1)))[0], comm.size);
    }
  },
});

export const SPLIT_CASES: readonly ConformanceCase[] = cases;
