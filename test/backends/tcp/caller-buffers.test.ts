/**
 * The caller's buffers and the round's end (spec/backend-tcp.md §5, §7): rank 0 resolves only once
 * its result has left, and a rank that stops reading fails it (Timeout, close) instead of hanging;
 * a mismatched or rejected call leaves the caller's recv untouched; a large abandoned round leaves
 * the group usable; close() of rank 0 does not wait out its grace period for a paused socket.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { CLOSE_GRACE_MS } from '../../../src/backends/star/lifecycle.js';
import {
  CHILD_BROADCAST_BYTES,
  closeAll,
  errorOf,
  formGroup,
  RankChild,
  startRankZero,
  stopChildren,
} from './support.js';

let open: Communicator[] = [];
const children: RankChild[] = [];
afterEach(async () => {
  await closeAll(open);
  open = [];
  await stopChildren(children);
});

async function group(size: number, options: Parameters<typeof formGroup>[1] = {}): Promise<Communicator[]> {
  open = await formGroup(size, options);
  return open;
}

/** Large enough that rank 0 holds back the sender's data (over HOLD_LIMIT_BYTES, 32 MiB). */
const HELD_ELEMENTS = (48 * 1024 * 1024) / 8;
/** Under the hold limit, and far more than loopback socket buffers take at once. */
const STREAMED_ELEMENTS = (24 * 1024 * 1024) / 8;

/**
 * Rank 1 streams an allreduce of `elements` float64s (value 2) while rank 0 has not called; resolves
 * once rank 0 has warned that it is the late one (nothing more arrives: all read, or held back).
 */
async function rankZeroLate(
  elements: number,
): Promise<{ comms: Communicator[]; warnings: string[]; call1: Promise<unknown> }> {
  const warnings: string[] = [];
  let warned: () => void = () => {};
  const warning = new Promise<void>((resolve) => (warned = resolve));
  const comms = await group(2, {
    timeoutSecs: 1,
    stallWarningSecs: 0.1,
    onWarning: (message) => {
      warnings.push(message);
      if (message.startsWith('tcp rank 0:')) warned();
    },
  });
  const call1 = comms[1]!.allreduce(new Float64Array(elements).fill(2)).catch((e: unknown) => e);
  await warning;
  return { comms, warnings, call1 };
}

/** Rank 0 in this process, rank 1 a child that calls the broadcast and is then stopped (it reads nothing more). */
async function rankOneStopsReading(
  timeoutSecs: number,
  onWarning: (message: string) => void = () => {},
): Promise<Communicator> {
  const { port, comm } = await startRankZero(2, {
    timeoutSecs,
    stallWarningSecs: timeoutSecs / 10,
    onWarning,
  });
  const child = new RankChild({ rank: 1, size: 2, port, scenario: 'receive-broadcast' });
  children.push(child);
  const rank0 = await comm;
  open = [rank0];
  await child.next('called');
  child.child.kill('SIGSTOP');
  return rank0;
}

describe('tcp: rank 0 resolves only when its result has left', () => {
  it('allreduce: rank 0 reusing its result right after the await does not change what rank 1 receives', async () => {
    // Rank 1's data is all in before rank 0 calls: rank 0 reduces and sends the whole result at
    // once, far more than the kernel takes in one go.
    const { comms, call1 } = await rankZeroLate(STREAMED_ELEMENTS);
    const zero = await comms[0]!.allreduce(new Float64Array(STREAMED_ELEMENTS).fill(1));
    zero.fill(-7);
    const one = (await call1) as Float64Array;
    expect(one.every((x) => x === 3)).toBe(true);
  });

  it('a broadcast to a rank that stopped reading times out on rank 0, naming it', async () => {
    const rank0 = await rankOneStopsReading(1);
    const e = await errorOf(rank0.broadcast(new Uint8Array(CHILD_BROADCAST_BYTES).fill(1), 0));
    expect(e.code).toBe('Timeout');
    expect(e.details).toMatchObject({ sequence: 0, missing: [1] });
  });

  it('close() rejects a broadcast still being sent to a rank that stopped reading', async () => {
    let warned: () => void = () => {};
    const warning = new Promise<void>((resolve) => (warned = resolve));
    const rank0 = await rankOneStopsReading(
      2,
      (message) => /rank 1 is not reading rank 0's result/.test(message) && warned(),
    );
    const call = errorOf(rank0.broadcast(new Uint8Array(CHILD_BROADCAST_BYTES).fill(1), 0));
    await warning;
    await rank0.close();
    expect((await call).code).toBe('InvalidCommunicator');
  });
});

describe('tcp: no data delivered on failure', () => {
  it("allgatherv mismatch: the worker's recv keeps its contents (its own block is not placed)", async () => {
    const comms = await group(2);
    const counts = [
      [2, 3],
      [2, 4],
    ];
    const recvs = comms.map((c) => new Float64Array(c.rank === 0 ? 5 : 6).fill(-1));
    const errors = await Promise.all(
      comms.map((c) =>
        errorOf(
          c.allgatherv(new Float64Array(counts[c.rank]![c.rank]!).fill(c.rank + 1), {
            counts: counts[c.rank]!,
            recv: recvs[c.rank]!,
          }),
        ),
      ),
    );
    for (const e of errors) expect(e.code).toBe('CollectiveMismatch');
    for (const r of recvs) expect(Array.from(r).every((x) => x === -1)).toBe(true);
  });

  it('a worker closed mid-frame: the rest of the frame does not land in its recv', async () => {
    const chunkBytes = 4 * 1024 * 1024;
    const comms = await group(2, { chunkBytes });
    const buf = new Uint8Array(chunkBytes);
    const rank0 = comms[0]!.broadcast(new Uint8Array(chunkBytes).fill(1), 0).catch(() => {});
    const rank1 = comms[1]!.broadcast(buf, 0).catch(() => {});
    // Wait for the frame to start landing in buf (an event of the socket, seen between its reads).
    while (buf[0] === 0) await new Promise((resolve) => setImmediate(resolve));
    const closing = comms[1]!.close();
    const atClose = buf.slice();
    await Promise.all([closing, rank0, rank1]);
    expect(atClose[atClose.length - 1], 'closed mid-frame').toBe(0);
    expect(Buffer.compare(buf, atClose)).toBe(0);
  });
});

describe('tcp: a rank held back by rank 0', () => {
  it('the warning names rank 0 only, not the rank it stopped reading', async () => {
    const { comms, warnings, call1 } = await rankZeroLate(HELD_ELEMENTS);
    expect(warnings.find((w) => w.startsWith('tcp rank 0:'))).toMatch(
      /for rank 0; .*; rank 0 has not called it$/,
    );
    await comms[0]!.allreduce(new Float64Array(HELD_ELEMENTS));
    await call1;
  });

  it('a mismatch on a held round leaves the group usable', async () => {
    const { comms, call1 } = await rankZeroLate(HELD_ELEMENTS);
    const e0 = await errorOf(comms[0]!.allreduce(new Float64Array(HELD_ELEMENTS + 1)));
    expect(e0.code).toBe('CollectiveMismatch');
    expect((await call1) as { code?: string }).toMatchObject({ code: 'CollectiveMismatch' });
    await Promise.all(comms.map((c) => c.barrier()));
    const sums = await Promise.all(comms.map((c) => c.allreduce(new Int32Array([c.rank + 1]))));
    for (const s of sums) expect(s[0]).toBe(3);
  });

  it("rank 0's close() reads the held socket to its end instead of waiting out the grace period", async () => {
    const { comms, call1 } = await rankZeroLate(HELD_ELEMENTS);
    const started = performance.now();
    await Promise.all([comms[0]!.close(), comms[1]!.close(), call1]);
    expect(performance.now() - started).toBeLessThan(CLOSE_GRACE_MS);
  });
});
