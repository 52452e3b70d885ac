/**
 * The browser bundle (spec/browser.md) in headless Chromium: dist/browser/collective.js loads in a page,
 * and its collectives over the local backend, the reduction kernel and the object encoding give the
 * same bytes as the same calls in Node.js, for every dtype and op (NaN payloads and rounding included).
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_BUNDLE, buildBrowserBundle } from '../../scripts/build-browser.mjs';
import { init } from '../../src/browser.js';
import { DTYPES, REDUCE_OPS, type DType, type NumericArray } from '../../src/communicator/dtypes.js';
import { encodeObject } from '../../src/communicator/objects.js';
import { reduceRankOrder } from '../../src/communicator/reduce.js';
import { createHmac } from 'node:crypto';
import { HMAC_CASES, RFC4231 } from './crypto-vectors.js';
import { byteList, dtypeCases, fromBytes, type DTypeCase } from './cases.js';
import { jsModule, openBrowser, type BrowserHarness } from './support.js';

const INTERNALS_ENTRY = new URL('./internals-entry.ts', import.meta.url).pathname;

let harness: BrowserHarness;
const cases: DTypeCase[] = dtypeCases();
const dtypeNamed = (name: string): DType => DTYPES.find((d) => d.name === name) as DType;

beforeAll(async () => {
  if (!existsSync(BROWSER_BUNDLE)) throw new Error(`${BROWSER_BUNDLE} is missing: run npm run build first`);
  const internals = await buildBrowserBundle({
    entry: INTERNALS_ENTRY,
    outfile: '/internals.js',
    write: false,
  });
  const served: Record<string, ReturnType<typeof jsModule>> = {
    '/collective.js': jsModule(readFileSync(BROWSER_BUNDLE)),
    '/collective.js.map': jsModule(readFileSync(`${BROWSER_BUNDLE}.map`)),
  };
  for (const file of internals.outputFiles ?? []) served[file.path] = jsModule(file.contents);
  harness = await openBrowser(served, { collective: '/collective.js', internals: '/internals.js' });
});

afterAll(async () => {
  await harness?.close();
});

describe('the browser bundle', () => {
  it('is one self-contained ES module with no node: specifier', () => {
    const text = readFileSync(BROWSER_BUNDLE, 'utf8');
    expect(text).not.toMatch(/["'`]node:[a-z_]/);
    expect(text).not.toMatch(/^\s*import\s/m); // nothing left to resolve at run time
    expect(text).toMatch(/^export\s*\{/m);
  });

  it('allreduce on every dtype and op gives the bytes Node.js gives (local backend)', async () => {
    const fromPage = await harness.evaluate(
      async ({ collective: m }, { cases, ops }) => {
        const comm = await m.init({ backend: 'local' });
        const out: Record<string, number[]> = {};
        for (const c of cases) {
          type Ctor = new (b: ArrayBuffer) => ArrayLike<unknown>;
          const Ctor = (globalThis as unknown as Record<string, Ctor>)[c.ctor] as Ctor;
          for (const op of ops) {
            const send = new Ctor(new Uint8Array(c.parts[1] as number[]).buffer);
            const recv = await comm.allreduce(send, op);
            out[`${c.dtype}:${op}`] = Array.from(
              new Uint8Array(recv.buffer, recv.byteOffset, recv.byteLength),
            );
          }
        }
        await comm.close();
        return out;
      },
      { cases, ops: [...REDUCE_OPS] },
    );
    const comm = await init({ backend: 'local' });
    for (const c of cases) {
      for (const op of REDUCE_OPS) {
        const recv = await comm.allreduce(fromBytes(dtypeNamed(c.dtype), c.parts[1] as number[]), op);
        expect(fromPage[`${c.dtype}:${op}`], `${c.dtype}:${op}`).toEqual(byteList(recv));
      }
    }
    await comm.close();
  });

  it('the reduction kernel gives the bytes Node.js gives, every dtype and op, three contributions', async () => {
    const fromPage = await harness.evaluate(
      async ({ internals: k }, { cases, ops }) => {
        const out: Record<string, number[]> = {};
        for (const c of cases) {
          const dtype = k.DTYPES.find((d: { name: string }) => d.name === c.dtype);
          for (const op of ops) {
            const parts = c.parts.map((bytes) => new dtype.ctor(new Uint8Array(bytes).buffer));
            const result = new dtype.ctor(parts[0].length);
            k.reduceRankOrder(result, parts, op);
            out[`${c.dtype}:${op}`] = Array.from(new Uint8Array(result.buffer));
          }
        }
        return out;
      },
      { cases, ops: [...REDUCE_OPS] },
    );
    for (const c of cases) {
      const dtype = dtypeNamed(c.dtype);
      for (const op of REDUCE_OPS) {
        const parts = c.parts.map((bytes) => fromBytes(dtype, bytes));
        const result = new dtype.ctor((parts[0] as NumericArray).length);
        reduceRankOrder(result, parts, op);
        expect(fromPage[`${c.dtype}:${op}`], `${c.dtype}:${op}`).toEqual(byteList(result));
      }
    }
  });

  it('allgatherv, broadcast and barrier give the bytes Node.js gives (local backend)', async () => {
    const run = async (
      m: { init(o: { backend: 'local' }): Promise<import('../../src/browser.js').Communicator> },
      c: DTypeCase,
      Ctor: new (b: ArrayBuffer) => NumericArray,
    ) => {
      const comm = await m.init({ backend: 'local' });
      const send = new Ctor(new Uint8Array(c.parts[2] as number[]).buffer);
      const gathered = await comm.allgatherv(send);
      const placed = await comm.allgatherv(send, {
        counts: [send.length],
        displs: [3],
        recv: new Ctor(new ArrayBuffer((send.length + 5) * send.BYTES_PER_ELEMENT)),
      });
      const broadcast = await comm.broadcast(new Ctor(new Uint8Array(c.parts[0] as number[]).buffer), 0);
      await comm.barrier();
      await comm.close();
      const bytes = (a: NumericArray) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      return [bytes(gathered), bytes(placed), bytes(broadcast)];
    };
    const fromPage = await harness.evaluate(
      async ({ collective: m }, { cases, source }) => {
        const body = new Function(`return (${source})`)();
        const out: Record<string, number[][]> = {};
        for (const c of cases)
          out[c.dtype] = await body(m, c, (globalThis as unknown as Record<string, unknown>)[c.ctor]);
        return out;
      },
      { cases, source: run.toString() },
    );
    for (const c of cases) {
      const expected = await run(
        { init },
        c,
        dtypeNamed(c.dtype).ctor as unknown as new (b: ArrayBuffer) => NumericArray,
      );
      expect(fromPage[c.dtype], c.dtype).toEqual(expected);
    }
  });
});

/** A value with every kind the object family carries (spec/communicator.md §4.6); built on both sides. */
function objectValue(): unknown {
  const cycle: Record<string, unknown> = { name: 'cycle' };
  cycle.self = cycle;
  return {
    text: 'ünïcode ✓',
    numbers: [0, -1, 1.5, 2 ** 53, NaN, Infinity, -Infinity, 0.1 + 0.2],
    big: 2n ** 70n + 1n,
    negativeBig: -(2n ** 63n),
    nothing: null,
    missing: undefined,
    flags: [true, false],
    when: new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 123)),
    map: new Map<unknown, unknown>([
      [1, 'one'],
      ['two', [2]],
    ]),
    set: new Set(['a', 'b']),
    floats: new Float32Array([0.1, -0, 3.4e38]),
    bytes: new Uint8Array([0, 255, 7]),
    bigs: new BigInt64Array([-1n, 2n ** 62n]),
    pattern: /a+b/gi,
    error: new RangeError('out of range'),
    cycle,
  };
}

describe('the object family in the browser bundle', () => {
  it('allgather and bcast return values that encode to the bytes Node.js encodes (local backend)', async () => {
    const fromPage = await harness.evaluate(
      async ({ collective: m, internals: k }, { source }) => {
        const make = new Function(`return (${source})`)();
        const comm = await m.init({ backend: 'local' });
        const [gathered] = await comm.allgather(make());
        const broadcast = await comm.bcast(make(), 0);
        await comm.close();
        return [make(), gathered, broadcast].map((v) => Array.from(k.encodeObject(v) as Uint8Array));
      },
      { source: objectValue.toString() },
    );
    const comm = await init({ backend: 'local' });
    const [gathered] = await comm.allgather(objectValue());
    const broadcast = await comm.bcast(objectValue(), 0);
    await comm.close();
    const expected = [objectValue(), gathered, broadcast].map((v) => Array.from(encodeObject(v)));
    expect(fromPage).toEqual(expected);
  });

  it('decodes what Node.js encodes, and re-encodes it to the same bytes', async () => {
    const encoded = Array.from(encodeObject(objectValue()));
    const fromPage = await harness.evaluate(
      async ({ internals: k }, { encoded }) => {
        return Array.from(k.encodeObject(k.decodeObject(new Uint8Array(encoded))) as Uint8Array);
      },
      { encoded },
    );
    expect(fromPage).toEqual(encoded);
  });
});

describe('the stand-ins and platform helpers in the page', () => {
  it("node:crypto's stand-in gives node:crypto's HMAC-SHA256, timingSafeEqual and randomBytes", async () => {
    const cases = [...RFC4231.map(({ key, data }) => ({ key, parts: [data] })), ...HMAC_CASES];
    const fromPage = await harness.evaluate(
      ({ internals: k }, { cases }) => {
        const macs = cases.map(({ key, parts }) => {
          const mac = k.createHmac('sha256', k.Buffer.from(key, 'hex'));
          for (const part of parts)
            mac.update(part.startsWith('text:') ? part.slice(5) : k.Buffer.from(part, 'hex'));
          return mac.digest().toString('hex');
        });
        const a = k.Buffer.from('00010203', 'hex');
        const equal = [
          k.timingSafeEqual(a, k.Buffer.from('00010203', 'hex')),
          k.timingSafeEqual(a, k.Buffer.from('00010204', 'hex')),
        ];
        let lengthError = '';
        try {
          k.timingSafeEqual(a, k.Buffer.from('00', 'hex'));
        } catch (error) {
          lengthError = `${(error as Error).name} ${(error as { code?: string }).code}`;
        }
        const random = k.randomBytes(70_000);
        return { macs, equal, lengthError, randomLength: random.length, isBuffer: k.Buffer.isBuffer(random) };
      },
      { cases },
    );
    const expected = cases.map(({ key, parts }) => {
      const mac = createHmac('sha256', Buffer.from(key, 'hex'));
      for (const part of parts)
        mac.update(part.startsWith('text:') ? part.slice(5) : Buffer.from(part, 'hex'));
      return mac.digest('hex');
    });
    expect(fromPage).toEqual({
      macs: expected,
      equal: [true, false],
      lengthError: 'RangeError ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH',
      randomLength: 70_000,
      isBuffer: true,
    });
  });

  it("node:buffer's stand-in encodes as Node.js does, and sets globalThis.Buffer", async () => {
    const text = 'ünïcode ✓ 😀';
    const fromPage = await harness.evaluate(
      ({ internals: k }, { text }) => [
        k.Buffer.from(text).toString('hex'),
        k.Buffer.from(text).toString('base64'),
        // Set by whichever bundle loaded first (each bundle carries its own copy of the package).
        (globalThis as { Buffer?: { isBuffer(b: unknown): boolean } }).Buffer?.isBuffer(k.Buffer.from(text)),
      ],
      { text },
    );
    expect(fromPage).toEqual([Buffer.from(text).toString('hex'), Buffer.from(text).toString('base64'), true]);
  });

  it('emitWarning falls back to console.warn, nextMacrotask resolves, unrefTimer is a no-op on a number', async () => {
    const before = harness.console.length;
    const result = await harness.evaluate(async ({ internals: k }) => {
      const order: string[] = [];
      const macrotask = k.nextMacrotask().then(() => order.push('macrotask'));
      await Promise.resolve().then(() => order.push('microtask'));
      await macrotask;
      k.unrefTimer(setTimeout(() => {}, 0));
      k.emitWarning('collective #3 (barrier): waiting', {
        type: 'CollectiveWarning',
        code: 'COLLECTIVE_STALL',
      });
      return order;
    }, null);
    expect(result).toEqual(['microtask', 'macrotask']);
    expect(harness.console.slice(before)).toEqual([
      { type: 'warning', text: 'CollectiveWarning [COLLECTIVE_STALL]: collective #3 (barrier): waiting' },
    ]);
  });

  it("init() of a backend a page cannot run is a BackendError 'InvalidBackend' naming the choices", async () => {
    const fromPage = await harness.evaluate(async ({ collective: m }) => {
      try {
        await m.init({ backend: 'tcp' });
        return 'resolved';
      } catch (error) {
        return [error instanceof m.BackendError, (error as { kind: string }).kind, (error as Error).message];
      }
    }, null);
    expect(fromPage).toEqual([
      true,
      'InvalidBackend',
      `init: backend "tcp" cannot run in a browser — pass init({ backend: 'local' | 'ws' })`,
    ]);
  });

  it('the page logged nothing else', () => {
    const unexpected = harness.console.filter(
      (entry) => !entry.text.startsWith('CollectiveWarning [COLLECTIVE_STALL]'),
    );
    expect(unexpected).toEqual([]);
  });
});
