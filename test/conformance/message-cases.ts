/**
 * Conformance family: point-to-point messages (issue 15, spec/communicator.md §10). Every case
 * consumes every message it sends, and checks so at its end (iprobe() is null), so the cases share
 * one world. Long messages are sent above a lowered eager threshold where the communicator's layer
 * allows it (the engine's test knob) and above the default 64 KiB, so both the eager and the
 * rendezvous paths run on every backend. Registered in all-cases.ts.
 */
import assert from 'node:assert/strict';
import type { Communicator } from '../../src/communicator/communicator.js';
import { DTYPES } from '../../src/communicator/dtypes.js';
import { ANY_SOURCE, ANY_TAG, MAX_TAG } from '../../src/communicator/messages/layer.js';
import { assertBits, expectCommError, type ConformanceCase } from './cases.js';
import { input } from './inputs.js';

const cases: ConformanceCase[] = [];
const add = (c: ConformanceCase): void => void cases.push(c);

/** Lengths (elements) of the dtype sweep: empty, one, odd. */
const LENGTHS = [0, 1, 13];
/** The eager threshold the rendezvous cases lower the layer to (bytes). */
const LOWERED_EAGER_BYTES = 1024;
/** Above the default eager threshold (64 KiB) in float64 elements, and odd. */
const ABOVE_DEFAULT_EAGER = 8193;
/** Outstanding operations each way in the many-messages case. */
const OUTSTANDING = 50;

const right = (comm: Communicator): number => (comm.rank + 1) % comm.size;
const left = (comm: Communicator): number => (comm.rank + comm.size - 1) % comm.size;

/** Runs `body` with the layer's eager threshold lowered, when the layer has the knob (engine.ts). */
async function withLoweredEager(comm: Communicator, body: () => Promise<void>): Promise<void> {
  const group = (comm as { messageGroup?: { layer?: { eagerBytes?: unknown } } }).messageGroup;
  const layer = group?.layer;
  const old = layer?.eagerBytes;
  if (typeof old !== 'number') return body();
  layer!.eagerBytes = LOWERED_EAGER_BYTES;
  try {
    await body();
  } finally {
    layer!.eagerBytes = old;
  }
}

/** Every message this case sent to this rank was received. */
function nothingLeft(comm: Communicator, what: string): void {
  assert.equal(comm.iprobe(), null, `${what}: a message is left over`);
}

add({
  name: 'messages: sendrecv with one array as send and recv (a ring shift in place), eager and rendezvous sizes',
  async run(comm) {
    const right = (comm.rank + 1) % comm.size;
    const left = (comm.rank + comm.size - 1) % comm.size;
    // 100,000 float64 = 800 KB: above the default eager threshold, so the send reads its buffer only
    // after the peer's receive matched — when this rank's own receive may already have filled it.
    for (const n of [5, 100_000]) {
      const buf = Float64Array.from({ length: n }, (_, i) => comm.rank * 1e6 + i);
      const { data, status } = await comm.sendrecv(buf, right, buf, left);
      assert.equal(data, buf);
      assert.equal(status.source, left);
      for (let i = 0; i < n; i += 997) assert.equal(buf[i], left * 1e6 + i, `n=${n} element ${i}`);
      assert.equal(buf[n - 1], left * 1e6 + n - 1);
    }
  },
});

add({
  name: 'messages: ring sendrecv of every dtype at lengths 0, 1 and odd, into constructors and buffers',
  async run(comm) {
    const from = left(comm);
    let tag = 0;
    for (const dtype of DTYPES) {
      for (const n of LENGTHS) {
        tag++;
        const what = `${dtype.name} n=${n}`;
        const mine = input(dtype, comm.rank, n, tag);
        const expected = input(dtype, from, n, tag);
        // Into a new array of the message's length.
        const got = await comm.sendrecv(mine, right(comm), dtype.ctor, from, { sendTag: tag, recvTag: tag });
        assert.ok(got.data instanceof dtype.ctor, what);
        assertBits(got.data, expected, what);
        assert.deepEqual(got.status, { source: from, tag, count: n }, what);
        // Into a buffer that fits exactly (data is the buffer) and one with room to spare (a view).
        const exact = new dtype.ctor(n);
        const roomy = new dtype.ctor(n + 3);
        const sends = [comm.send(mine, right(comm), tag), comm.send(mine, right(comm), tag)];
        const a = await comm.recv(exact, from, tag);
        const b = await comm.recv(roomy, from, ANY_TAG);
        await Promise.all(sends);
        assert.equal(a.data, exact, `${what}: the exact buffer itself`);
        assertBits(a.data, expected, what);
        assert.equal(b.data.buffer, roomy.buffer, `${what}: a view of the caller's buffer`);
        assert.equal(b.data.length, n);
        assertBits(b.data, expected, what);
        assert.deepEqual(b.status, { source: from, tag, count: n });
      }
    }
    nothingLeft(comm, 'ring');
  },
});

add({
  name: 'messages: long messages (rendezvous) both ways at once do not deadlock, above lowered and default eager thresholds',
  async run(comm) {
    const sizes = [ABOVE_DEFAULT_EAGER, LOWERED_EAGER_BYTES / 8 + 5, 3];
    await withLoweredEager(comm, async () => {
      for (const n of sizes) {
        const toRight = input(DTYPES[0]!, comm.rank, n, 1) as Float64Array;
        const toLeft = input(DTYPES[0]!, comm.rank, n, 2) as Float64Array;
        // Every rank sends both ways before receiving anything: only a layer that lets each
        // rendezvous wait for its receiver without blocking the others gets through.
        const sends = [comm.send(toRight, right(comm), 1), comm.send(toLeft, left(comm), 2)];
        const fromLeft = await comm.recv(new Float64Array(n), left(comm), 1);
        const fromRight = await comm.recv(Float64Array, right(comm), 2);
        await Promise.all(sends);
        assertBits(fromLeft.data, input(DTYPES[0]!, left(comm), n, 1), `from left n=${n}`);
        assertBits(fromRight.data, input(DTYPES[0]!, right(comm), n, 2), `from right n=${n}`);
        assert.equal(fromRight.status.count, n);
      }
      // A long bigint message (8-byte elements, exact bits) through sendrecv.
      const big = input(
        DTYPES.find((d) => d.name === 'bigint64')!,
        comm.rank,
        ABOVE_DEFAULT_EAGER,
        3,
      );
      const got = await comm.sendrecv(big, right(comm), BigInt64Array, left(comm));
      assertBits(
        got.data,
        input(
          DTYPES.find((d) => d.name === 'bigint64')!,
          left(comm),
          ABOVE_DEFAULT_EAGER,
          3,
        ),
        'bigint64',
      );
    });
    nothingLeft(comm, 'rendezvous');
  },
});

add({
  name: 'messages: ANY_SOURCE keeps each source’s order; ANY_TAG and explicit tags match past others',
  async run(comm) {
    const perSource = 5;
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < perSource; i++) sends.push(comm.send(Int32Array.of(comm.rank, i), 0, i % 3));
    if (comm.rank === 0) {
      const next = new Array<number>(comm.size).fill(0);
      for (let k = 0; k < comm.size * perSource; k++) {
        const { data, status } = await comm.recv(Int32Array, ANY_SOURCE, ANY_TAG);
        const [source, i] = [data[0]!, data[1]!];
        assert.equal(status.source, source, 'status.source is the sender');
        assert.equal(i, next[source], `messages from rank ${source} arrive in the order sent`);
        assert.equal(status.tag, i % 3);
        assert.equal(status.count, 2);
        next[source]!++;
      }
    }
    await Promise.all(sends);
    // Rank 0's wildcard receives above would take the messages below if they came early.
    await comm.barrier();
    // Tag 7 then tag 3 to the right; the receiver takes tag 3 first, then whatever is left.
    const out = [comm.send(Int16Array.of(7), right(comm), 7), comm.send(Int16Array.of(3), right(comm), 3)];
    const three = await comm.recv(Int16Array, left(comm), 3);
    const rest = await comm.recv(Int16Array, ANY_SOURCE, ANY_TAG);
    await Promise.all(out);
    assert.deepEqual([three.data[0], three.status.tag], [3, 3]);
    assert.deepEqual([rest.data[0], rest.status.tag, rest.status.source], [7, 7, left(comm)]);
    nothingLeft(comm, 'ANY_SOURCE/ANY_TAG');
  },
});

add({
  name: 'messages: 50 outstanding sends and receives each way, by tag and in order; not queued behind a collective',
  async run(comm) {
    await withLoweredEager(comm, async () => {
      // Receives posted in reverse tag order; each takes the message of its own tag.
      const byTag = Array.from({ length: OUTSTANDING }, (_, i) => OUTSTANDING - 1 - i).map((t) =>
        comm.recv(Float64Array, left(comm), t),
      );
      // Same tag: the i-th receive gets the i-th message (non-overtaking), long ones included.
      const inOrder = Array.from({ length: OUTSTANDING }, () => comm.recv(Float64Array, left(comm), MAX_TAG));
      const sends: Array<Promise<void>> = [];
      for (let i = 0; i < OUTSTANDING; i++) {
        sends.push(comm.send(Float64Array.of(comm.rank, i), right(comm), i));
        const n = i % 10 === 9 ? LOWERED_EAGER_BYTES / 8 + i : 2;
        sends.push(comm.send(new Float64Array(n).fill(i), right(comm), MAX_TAG));
      }
      const tagged = await Promise.all(byTag);
      tagged.forEach((r, k) => {
        assert.equal(r.status.tag, OUTSTANDING - 1 - k);
        assert.deepEqual(Array.from(r.data), [left(comm), OUTSTANDING - 1 - k]);
      });
      (await Promise.all(inOrder)).forEach((r, i) => assert.equal(r.data[0], i, `message ${i} in order`));
      await Promise.all(sends);
    });
    // Rank 0 starts a barrier, then sends; rank 1 receives before joining it. Were messages queued
    // behind collectives, rank 0's send would wait for the barrier, which waits for rank 1.
    if (comm.size > 1 && comm.rank <= 1) {
      if (comm.rank === 0) {
        const barrier = comm.barrier();
        await comm.send(Uint8Array.of(42), 1, 0);
        await barrier;
      } else {
        const { data } = await comm.recv(Uint8Array, 0, 0);
        assert.equal(data[0], 42);
        await comm.barrier();
      }
    } else await comm.barrier();
    nothingLeft(comm, 'outstanding');
  },
});

add({
  name: 'messages: probe then recv with a constructor; iprobe; objects; self-sends',
  async run(comm) {
    const n = comm.rank + 3;
    const sent = comm.send(new Float32Array(n).fill(comm.rank), right(comm), 11);
    const status = await comm.probe(left(comm), ANY_TAG);
    assert.deepEqual(status, { source: left(comm), tag: 11, count: left(comm) + 3 });
    assert.deepEqual(comm.iprobe(ANY_SOURCE, 11), status, 'iprobe sees the probed message');
    assert.equal(comm.iprobe(left(comm), 12), null, 'no message of tag 12');
    const { data } = await comm.recv(Float32Array, status.source, status.tag);
    assert.equal(data.length, status.count);
    assert.equal(data[0], left(comm));
    await sent;
    // Objects: any encodable value; count is the encoded length.
    const value = { from: comm.rank, list: [1, 'two', 3n], when: new Date(0), map: new Map([[1, 2]]) };
    const objectSent = comm.sendObject(value, right(comm), 5);
    const probed = await comm.probe(left(comm), 5);
    const got = await comm.recvObject<typeof value>(left(comm), 5);
    await objectSent;
    assert.deepEqual(got.value, { ...value, from: left(comm) });
    assert.equal(got.status.count, probed.count);
    assert.ok(got.status.count > 0);
    // Self-sends: a receive posted first, and a long one (rendezvous to self) posted after the send.
    const early = comm.recv(Int8Array, comm.rank, 1);
    await comm.send(Int8Array.of(-5), comm.rank, 1);
    assert.equal((await early).data[0], -5);
    const long = new Float64Array(ABOVE_DEFAULT_EAGER).fill(0.5);
    const longSent = comm.send(long, comm.rank, 2);
    const back = await comm.recv(Float64Array, comm.rank, 2);
    await longSent;
    assert.equal(back.data.length, ABOVE_DEFAULT_EAGER);
    assert.equal(back.data[ABOVE_DEFAULT_EAGER - 1], 0.5);
    await comm.sendObject('me', comm.rank);
    assert.deepEqual((await comm.recvObject(comm.rank)).value, 'me');
    nothingLeft(comm, 'probe/objects/self');
  },
});

add({
  name: 'messages: bad tag, dest, source or buffer, truncation and type mismatches are refused clearly on every rank',
  async run(comm) {
    const buf = new Float64Array(1);
    const bad: Array<[string, () => Promise<unknown>, RegExp]> = [
      ['tag -1', () => comm.send(buf, 0, -1), /tag must be an integer in \[0, 2147483647\], got -1/],
      ['tag MAX_TAG+1', () => comm.send(buf, 0, MAX_TAG + 1), /tag must be/],
      ['tag 1.5', () => comm.recv(buf, 0, 1.5), /or ANY_TAG \(-1\), got 1.5/],
      [
        'dest = size',
        () => comm.send(buf, comm.size),
        new RegExp(`dest must be an integer rank in \\[0, ${comm.size - 1}\\], got ${comm.size}`),
      ],
      ['dest ANY_SOURCE', () => comm.sendObject(1, ANY_SOURCE), /dest must be/],
      ['source = size', () => comm.recv(buf, comm.size), /or ANY_SOURCE \(-1\)/],
      ['probe source', () => comm.probe(-2), /source must be/],
      ['sendrecv recvTag', () => comm.sendrecv(buf, 0, buf, 0, { recvTag: -3 }), /tag must be/],
      ['a plain array', () => comm.send([1, 2] as unknown as Float64Array, 0), /numeric typed array/],
      [
        'a DataView',
        () => comm.recv(new DataView(new ArrayBuffer(8)) as unknown as Float64Array),
        /numeric typed array/,
      ],
      ['Array as constructor', () => comm.recv(Array as unknown as Float64ArrayConstructor), /constructor/],
      ['an object that cannot travel', () => comm.sendObject({ f: () => 1 }, 0), /value\.f/],
    ];
    for (const [what, call, message] of bad) {
      const e = await expectCommError(call(), 'InvalidArgument', what);
      assert.match(e.message, message, what);
    }
    assert.throws(() => comm.iprobe(0, -7), /tag must be/);
    // Truncation: the message is consumed, the next one is received.
    const to = right(comm);
    const from = left(comm);
    let sends = [comm.send(new Float64Array(5), to, 1), comm.send(Float64Array.of(9), to, 1)];
    const e = await expectCommError(
      comm.recv(new Float64Array(2), from, 1),
      'InvalidBufferSize',
      'truncation',
    );
    assert.match(e.message, /has 5 elements but buf holds 2; it was consumed/);
    assert.equal(
      (await comm.recv(new Float64Array(2), from, 1)).data[0],
      9,
      'the truncated message was consumed',
    );
    await Promise.all(sends);
    // Another dtype, an object into a buffer, a buffer into recvObject: refused and consumed.
    sends = [
      comm.send(Int32Array.of(1), to, 2),
      comm.sendObject({ a: 1 }, to, 2),
      comm.send(Uint8Array.of(1), to, 2),
    ];
    await expectCommError(comm.recv(Float32Array, from, 2), 'InvalidArgument', 'dtype mismatch');
    const o = await expectCommError(
      comm.recv(Float32Array, from, 2),
      'InvalidArgument',
      'object into a buffer',
    );
    assert.match(o.message, /recvObject/);
    const b = await expectCommError(comm.recvObject(from, 2), 'InvalidArgument', 'buffer into recvObject');
    assert.match(b.message, /uint8/);
    await Promise.all(sends);
    const still = await comm.sendrecv(Uint8Array.of(comm.rank), to, Uint8Array, from);
    assert.equal(still.data[0], from, 'the communicator still works');
    nothingLeft(comm, 'errors');
  },
});

add({
  name: 'messages: after close() every call is InvalidCommunicator, and a waiting receive rejects',
  // A world of its own per run: sizes past 3 add start-up time, not coverage (close is local).
  maxSize: 3,
  fresh: {},
  async run(comm) {
    await comm.barrier();
    const waiting = comm.recv(Float64Array, ANY_SOURCE, 77).then(
      () => assert.fail('a receive nobody matches resolved'),
      (error: Error & { code?: string }) => error,
    );
    await comm.close();
    const e = await waiting;
    assert.equal(e.name, 'CommError');
    assert.ok(['InvalidCommunicator', 'CollectiveFailed'].includes(e.code ?? ''), `code ${e.code}`);
    const buf = new Float64Array(1);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['send', () => comm.send(buf, 0)],
      ['recv', () => comm.recv(buf)],
      ['sendrecv', () => comm.sendrecv(buf, 0, buf)],
      ['probe', () => comm.probe()],
      ['sendObject', () => comm.sendObject(1, 0)],
      ['recvObject', () => comm.recvObject()],
    ];
    for (const [name, call] of calls) {
      const error = await expectCommError(call(), 'InvalidCommunicator', name);
      assert.match(error.message, /closed/);
    }
    assert.throws(() => comm.iprobe(), /closed/);
  },
});

add({
  name: 'messages: once a peer closed the group, iprobe throws its failure instead of returning null',
  minSize: 2,
  maxSize: 2,
  fresh: {},
  async run(comm) {
    await comm.barrier();
    if (comm.rank === 1) return comm.close();
    // The receive rejects once rank 1's close reached this rank; then a polling loop must see it too.
    const failure = await expectCommError(comm.recv(Float64Array, 1, 5), 'CollectiveFailed', 'recv');
    assert.throws(
      () => comm.iprobe(1, 0),
      (e: Error & { code?: string }) => e.code === (failure as Error & { code?: string }).code,
    );
  },
});

add({
  name: 'messages: a receive nobody matches ends in Timeout naming what it waited for',
  minSize: 2,
  maxSize: 3,
  fresh: { timeoutSecs: 1 },
  async run(comm) {
    await comm.barrier();
    if (comm.rank !== 0) return; // the others stay alive with an open communicator, and never send
    const e = await expectCommError(comm.recv(Float64Array, 1, 99), 'Timeout', 'recv nobody matches');
    assert.match(e.message, /recv from rank 1, tag 99 on the \w+ world communicator/);
    const details = (e as unknown as { details: { timeoutSecs?: number } }).details;
    assert.equal(details.timeoutSecs, 1);
    // The group is ended: later calls reject at once.
    await assert.rejects(comm.recv(Float64Array, 1, 98), (later: Error) => later.name === 'CommError');
  },
});

/** The cases of this file. */
export const MESSAGE_CASES: readonly ConformanceCase[] = cases;
