/**
 * The coordinator's data paths with a chunk size lowered to a few bytes, so small inputs walk the
 * same streaming code as large ones (spec/backend-tcp.md §5): results are bit-identical to the
 * shared kernel; abandoned collectives consume their data and leave the group usable; stalls warn
 * every stallWarningSecs and then time out naming the silent ranks on every waiting rank.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DTYPES, REDUCE_OPS, type NumericArray } from '../../../src/communicator/dtypes.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { reduceRankOrder } from '../../../src/communicator/reduce.js';
import { sameBits } from '../../support/reference.js';
import { input } from '../../conformance/inputs.js';
import { closeAll, errorOf, formGroup } from './support.js';

let open: Communicator[] = [];
afterEach(async () => {
  await closeAll(open);
  open = [];
});

async function group(size: number, options: Parameters<typeof formGroup>[1] = {}): Promise<Communicator[]> {
  open = await formGroup(size, options);
  return open;
}

describe('tcp streaming with tiny chunks', () => {
  for (const chunkBytes of [8, 24, 1024]) {
    it(`allreduce is bit-identical to reduceRankOrder (chunk ${chunkBytes} B, 3 ranks, every dtype and op)`, async () => {
      const comms = await group(3, { chunkBytes });
      for (const n of [0, 1, 7, 129]) {
        for (const dtype of DTYPES) {
          for (const op of REDUCE_OPS) {
            const parts = comms.map((c) => input(dtype, c.rank, n, 5));
            const expected = new dtype.ctor(n);
            reduceRankOrder(expected, parts, op);
            const got = await Promise.all(comms.map((c) => c.allreduce(parts[c.rank] as NumericArray, op)));
            for (const g of got) expect(sameBits(g, expected), `${dtype.name} ${op} n=${n}`).toBe(true);
          }
        }
      }
    });
  }

  it('allgatherv and broadcast from every root relay in rank order across chunk boundaries', async () => {
    const comms = await group(4, { chunkBytes: 16 });
    const counts = [5, 0, 9, 3];
    const blocks = counts.map((n, r) => Float64Array.from({ length: n }, (_, i) => r * 100 + i + 0.5));
    const gathered = await Promise.all(comms.map((c) => c.allgatherv(blocks[c.rank]!, { counts })));
    const expected = Float64Array.from(blocks.flatMap((b) => Array.from(b)));
    for (const g of gathered) expect(Array.from(g)).toEqual(Array.from(expected));
    for (let root = 0; root < 4; root++) {
      const bufs = comms.map((c) =>
        c.rank === root ? Int16Array.from({ length: 21 }, (_, i) => i * root) : new Int16Array(21),
      );
      await Promise.all(comms.map((c) => c.broadcast(bufs[c.rank]!, root)));
      for (const b of bufs) expect(Array.from(b)).toEqual(Array.from({ length: 21 }, (_, i) => i * root));
    }
  });
});

describe('tcp: abandoned collectives', () => {
  it('a count mismatch on streamed data fails every rank, then the same ranks reduce correctly', async () => {
    const comms = await group(3, { chunkBytes: 16 });
    const errors = await Promise.all(
      comms.map((c) => errorOf(c.allreduce(new Float64Array(c.rank === 2 ? 300 : 301)))),
    );
    for (const e of errors) {
      expect(e.code).toBe('CollectiveMismatch');
      expect(e.message).toMatch(/count=300/);
    }
    // A broadcast whose roots disagree: the two would-be roots' data is discarded.
    const roots = await Promise.all(
      comms.map((c) => errorOf(c.broadcast(new Float64Array(50).fill(c.rank), c.rank === 0 ? 0 : 1))),
    );
    for (const e of roots) expect(e.code).toBe('CollectiveMismatch');
    const sums = await Promise.all(comms.map((c) => c.allreduce(new Float64Array(100).fill(c.rank + 1))));
    for (const s of sums) expect(s.every((x) => x === 6)).toBe(true);
  });

  it('a rank with invalid arguments among ranks streaming data: every rank gets its code', async () => {
    const comms = await group(3, { chunkBytes: 16 });
    const errors = await Promise.all(
      comms.map((c) =>
        errorOf(c.allreduce(new Float64Array(200), 'sum', new Float64Array(c.rank === 1 ? 199 : 200))),
      ),
    );
    for (const e of errors) expect(e.code).toBe('InvalidBufferSize');
    expect(errors[0]!.details?.['invalidRanks']).toEqual([1]);
    const ok = await Promise.all(comms.map((c) => c.allreduce(new Int32Array([c.rank]))));
    for (const s of ok) expect(s[0]).toBe(3);
  });
});

describe('tcp: stalls', () => {
  it('every waiting rank warns every stallWarningSecs, then every waiting rank times out naming the silent rank', async () => {
    const warnings: Array<{ at: number; message: string }> = [];
    const started = performance.now();
    const comms = await group(3, {
      timeoutSecs: 1.5,
      stallWarningSecs: 0.3,
      onWarning: (message) => warnings.push({ at: performance.now() - started, message }),
    });
    const t0 = performance.now();
    // Ranks 0 and 1 wait in a barrier; rank 2 never calls.
    const errors = await Promise.all([errorOf(comms[0]!.barrier()), errorOf(comms[1]!.barrier())]);
    const elapsed = performance.now() - t0;
    for (const e of errors) {
      expect(e.code).toBe('Timeout');
      expect(e.details).toMatchObject({ sequence: 0, missing: [2] });
      expect(e.message).toMatch(/rank 2 never arrived/);
    }
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    // Both waiting ranks warned, naming rank 2, and repeated the warning while still stalled.
    const slow = warnings.filter((w) => /waiting \d+\.\d s for rank 2; /.test(w.message));
    for (const who of ['tcp rank 0:', 'tcp rank 1:']) {
      const mine = slow.filter((w) => w.message.startsWith(who));
      expect(mine.length, who).toBeGreaterThanOrEqual(2);
      expect(mine[0]!.message).toMatch(/collective #0 \(barrier\).*the fatal timeout is 1\.5 s/);
    }
    // The group is over for everyone, the silent rank included (it learns of the Timeout either
    // before its call, as CollectiveFailed, or during it, as the Timeout itself).
    expect(['CollectiveFailed', 'Timeout']).toContain((await errorOf(comms[2]!.barrier())).code);
  });

  it('stallWarningSecs 0 disables the warning; the timeout still fires', async () => {
    const warnings: string[] = [];
    const comms = await group(2, {
      timeoutSecs: 0.5,
      stallWarningSecs: 0,
      onWarning: (message) => warnings.push(message),
    });
    expect((await errorOf(comms[0]!.barrier())).code).toBe('Timeout');
    expect(warnings).toEqual([]);
  });

  it('onStallWarning takes the stall warnings; onWarning then gets none of them', async () => {
    const stalls: string[] = [];
    const others: string[] = [];
    const comms = await group(2, {
      timeoutSecs: 1,
      stallWarningSecs: 0.2,
      onWarning: (message) => others.push(message),
      onStallWarning: (message) => stalls.push(message),
    });
    expect((await errorOf(comms[0]!.barrier())).code).toBe('Timeout');
    expect(stalls.join('\n')).toMatch(/waiting \d+\.\d s for rank 1; /);
    expect(others).toEqual([]);
  });

  it('a rank that never arrives is reported with the last collective it took part in, as shm words it', async () => {
    const stalls: string[] = [];
    const comms = await group(3, {
      timeoutSecs: 1,
      stallWarningSecs: 0.2,
      onStallWarning: (message) => stalls.push(message),
    });
    await Promise.all(comms.map((c) => c.allreduce(new Float64Array(4))));
    await Promise.all(comms.map((c) => c.barrier()));
    // Ranks 0 and 1 call allreduce #2; rank 2 never does.
    const errors = await Promise.all(comms.slice(0, 2).map((c) => errorOf(c.allreduce(new Float64Array(4)))));
    const seen =
      /rank 2 never arrived \(last seen after collective #1 \(barrier\); nothing from it for \d+\.\d s\)/;
    for (const e of errors) expect(e.message).toMatch(seen);
    for (const who of ['tcp rank 0:', 'tcp rank 1:'])
      expect(stalls.find((w) => w.startsWith(who))).toMatch(seen);
  });

  it('before its first collective a silent rank is reported as not having called one', async () => {
    const comms = await group(2, { timeoutSecs: 0.5, onWarning: () => {} });
    const e = await errorOf(comms[0]!.barrier());
    expect(e.message).toMatch(/rank 1 never arrived \(it has not called a collective yet; nothing from it/);
  });

  it('the default warning does not come at a tenth of the timeout', async () => {
    const warnings: string[] = [];
    const comms = await group(2, { timeoutSecs: 0.5, onWarning: (message) => warnings.push(message) });
    expect((await errorOf(comms[0]!.barrier())).code).toBe('Timeout');
    expect(warnings).toEqual([]);
  });

  it('a worker waiting while rank 0 never calls times out naming rank 0', async () => {
    const comms = await group(2, { timeoutSecs: 0.5, onWarning: () => {} });
    const e = await errorOf(comms[1]!.allreduce(new Float64Array(4)));
    expect(e.code).toBe('Timeout');
    expect(e.details?.['missing']).toEqual([0]);
  });
});
