/**
 * Conformance family: repeated call shapes (issue 18, spec/communicator.md §6.4). The front end
 * skips the checks of a call that repeats the last one's arrays, lengths and op (and shm reuses
 * its plan), so every case here first repeats a call — the shape is remembered — and then changes
 * something between calls: a detached or resized array, another op, count or root, a mismatch on
 * one rank. Each must give the same error or result as a first call would. Registered in all-cases.ts.
 */
import assert from 'node:assert/strict';
import type { Communicator } from '../../src/communicator/communicator.js';
import { expectCommError, type ConformanceCase } from './cases.js';

const cases: ConformanceCase[] = [];

/** ES2024's resizable ArrayBuffer (Node 20 has it; the project's lib typings predate it). */
type ResizableArrayBuffer = ArrayBuffer & { resize(byteLength: number): void };
type ResizableArrayBufferConstructor = new (
  byteLength: number,
  options: { maxByteLength: number },
) => ResizableArrayBuffer;
const add = (c: ConformanceCase): void => void cases.push(c);

/** Calls that make a shape remembered: more than one, so a cache that needs a second sighting is warm too. */
const REPEATS = 4;
const ELEMENTS = 4;
const sum = (size: number): number => (size * (size + 1)) / 2;

function detach<T extends ArrayBufferView>(array: T): T {
  structuredClone(array, { transfer: [array.buffer as ArrayBuffer] });
  return array;
}

/**
 * allreduce(send, 'sum', recv) REPEATS times with send filled with rank + 1, checking every result:
 * the shape is now remembered.
 */
async function warm(comm: Communicator, send: Float64Array, recv: Float64Array): Promise<void> {
  for (let i = 0; i < REPEATS; i++) {
    send.fill(comm.rank + 1);
    const got = await comm.allreduce(send, 'sum', recv);
    assert.equal(got, recv, 'the result is recv itself');
    assert.equal(got[send.length - 1], sum(comm.size));
  }
}

async function stillWorks(comm: Communicator, what: string): Promise<void> {
  const got = await comm.allreduce(new Float64Array([comm.rank + 1]));
  assert.equal(got[0], sum(comm.size), `${what}: the communicator still works`);
}

add({
  name: 'repeated calls: the same arrays, then detached on one rank: InvalidArgument naming it on every rank',
  minSize: 2,
  async run(comm) {
    const last = comm.size - 1;
    const isBad = comm.rank === last;
    const which: Array<'send' | 'recv' | 'broadcast'> = ['send', 'recv', 'broadcast'];
    for (const what of which) {
      const send = new Float64Array(ELEMENTS).fill(1);
      const recv = new Float64Array(ELEMENTS);
      let call: () => Promise<unknown>;
      if (what === 'broadcast') {
        for (let i = 0; i < REPEATS; i++) await comm.broadcast(send, last);
        if (isBad) detach(send);
        call = () => comm.broadcast(send, last);
      } else {
        await warm(comm, send, recv);
        if (isBad) detach(what === 'send' ? send : recv);
        call = () => comm.allreduce(send, 'sum', recv);
      }
      const e = await expectCommError(call(), 'InvalidArgument', `${what} detached after repeats`);
      if (isBad) assert.match(e.message, /detached/, what);
      else assert.match(e.message, new RegExp(`rank ${last}`), what);
      await stillWorks(comm, what);
    }
  },
});

add({
  name: 'repeated calls: the same arrays with another op, then another root: the new call’s result',
  async run(comm) {
    const send = new Float64Array(ELEMENTS).fill(comm.rank + 1);
    const recv = new Float64Array(ELEMENTS);
    await warm(comm, send, recv);
    for (const [op, expected] of [
      ['max', comm.size],
      ['min', 1],
      ['prod', Array.from({ length: comm.size }, (_, r) => r + 1).reduce((a, b) => a * b, 1)],
      ['sum', sum(comm.size)],
    ] as const) {
      assert.equal((await comm.allreduce(send, op, recv))[0], expected, op);
    }
    // Without recv: a new array every call, even for a remembered shape.
    const a = await comm.allreduce(send);
    const b = await comm.allreduce(send);
    assert.notEqual(a, b, 'an omitted recv is a new array per call');
    assert.equal(b[ELEMENTS - 1], sum(comm.size));
    const buf = new Float64Array(ELEMENTS);
    for (let root = 0; root < comm.size; root++) {
      for (let i = 0; i < REPEATS; i++) {
        buf.fill(comm.rank === root ? root + 10 : -1);
        assert.equal(await comm.broadcast(buf, root), buf);
        assert.equal(buf[ELEMENTS - 1], root + 10, `broadcast from root ${root}`);
      }
    }
  },
});

add({
  name: 'repeated calls: a resizable buffer that grows, shrinks or overlaps between calls',
  async run(comm) {
    const bytes = Float64Array.BYTES_PER_ELEMENT;
    const rab = new (ArrayBuffer as unknown as ResizableArrayBufferConstructor)(2 * ELEMENTS * bytes, {
      maxByteLength: 8 * ELEMENTS * bytes,
    });
    const send = new Float64Array(rab, 0, ELEMENTS).fill(comm.rank + 1);
    // Length-tracking: ELEMENTS now, more when rab grows.
    const recv = new Float64Array(rab, ELEMENTS * bytes);
    await warm(comm, send, recv);
    // A length-tracking send: its count follows the buffer, and so does the fingerprint's.
    const tracking = new Float64Array(rab);
    for (const elements of [2 * ELEMENTS, 3 * ELEMENTS, ELEMENTS]) {
      rab.resize(elements * bytes);
      tracking.fill(comm.rank + 1);
      for (let i = 0; i < REPEATS; i++) {
        const got = await comm.allreduce(tracking);
        assert.equal(got.length, elements, 'the result has the array’s current length');
        assert.equal(got[elements - 1], sum(comm.size));
      }
    }
    // recv grows past send's length: InvalidBufferSize, not the remembered verdict (every rank alike).
    rab.resize(4 * ELEMENTS * bytes);
    send.fill(comm.rank + 1);
    await expectCommError(comm.allreduce(send, 'sum', recv), 'InvalidBufferSize', 'recv grew');
    // Shrunk below both: each reads as empty but lies outside the buffer. An error naming send, not
    // a backend's raw TypeError (seen on local) nor a silent empty result.
    rab.resize(0);
    const e = await expectCommError(comm.allreduce(send, 'sum', recv), 'InvalidArgument', 'both shrank');
    assert.match(e.message, /send .*outside its resizable ArrayBuffer/);
    await expectCommError(comm.broadcast(send), 'InvalidArgument', 'broadcast out of bounds');
    await stillWorks(comm, 'after resizes');
  },
});

add({
  name: 'repeated calls: one rank changes op, count or dtype after repeats: CollectiveMismatch on every rank',
  minSize: 2,
  async run(comm) {
    const isOdd = comm.rank === comm.size - 1;
    const send = new Float64Array(ELEMENTS).fill(1);
    const recv = new Float64Array(ELEMENTS);
    await warm(comm, send, recv);
    await expectCommError(comm.allreduce(send, isOdd ? 'max' : 'sum', recv), 'CollectiveMismatch', 'op');
    await warm(comm, send, recv);
    const shorter = send.subarray(0, ELEMENTS - 1);
    const shortRecv = recv.subarray(0, ELEMENTS - 1);
    await expectCommError(
      isOdd ? comm.allreduce(shorter, 'sum', shortRecv) : comm.allreduce(send, 'sum', recv),
      'CollectiveMismatch',
      'count',
    );
    await warm(comm, send, recv);
    await expectCommError(
      isOdd ? comm.allreduce(new Float32Array(ELEMENTS)) : comm.allreduce(send, 'sum', recv),
      'CollectiveMismatch',
      'dtype',
    );
    const buf = new Float64Array(ELEMENTS);
    for (let i = 0; i < REPEATS; i++) await comm.broadcast(buf, 0);
    await expectCommError(comm.broadcast(buf, isOdd ? 1 : 0), 'CollectiveMismatch', 'root');
    await warm(comm, send, recv);
  },
});

add({
  name: 'repeated calls, not awaited: each promise resolves to its own recv, in call order',
  async run(comm) {
    const sends = [1, 2, 3].map((k) => new Float64Array(ELEMENTS).fill(k * (comm.rank + 1)));
    const recvs = sends.map(() => new Float64Array(ELEMENTS));
    for (let i = 0; i < REPEATS; i++) {
      // An object call first, so on every backend the allreduces below wait in the queue and then
      // complete one after another inside one turn.
      const first = comm.bcast('first');
      const pending = sends.map((s, k) => comm.allreduce(s, 'sum', recvs[k]));
      const barrier = comm.barrier();
      assert.equal(await first, 'first');
      const got = await Promise.all(pending);
      await barrier;
      got.forEach((g, k) => {
        assert.equal(g, recvs[k], `call ${k} resolves to its own recv`);
        assert.equal(g[0], (k + 1) * sum(comm.size), `call ${k}`);
      });
    }
  },
});

add({
  name: 'repeated calls, then close: a remembered shape is refused with InvalidCommunicator',
  fresh: {},
  async run(comm) {
    const send = new Float64Array(ELEMENTS).fill(1);
    const recv = new Float64Array(ELEMENTS);
    await warm(comm, send, recv);
    for (let i = 0; i < REPEATS; i++) await comm.broadcast(send, 0);
    await comm.barrier();
    await comm.close();
    await expectCommError(comm.allreduce(send, 'sum', recv), 'InvalidCommunicator', 'allreduce');
    await expectCommError(comm.broadcast(send, 0), 'InvalidCommunicator', 'broadcast');
    await expectCommError(comm.barrier(), 'InvalidCommunicator', 'barrier');
  },
});

export const REPEATED_CASES: readonly ConformanceCase[] = cases;
