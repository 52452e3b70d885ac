/**
 * Browser ranks of the ws backend (spec/browser.md §5), end to end: a group of 4 — rank 0 (the
 * coordinator, connectWs) and rank 1 in this Node.js process, ranks 2 and 3 in two tabs of headless
 * Chromium running the browser bundle's init({ backend: 'ws' }) — over real WebSockets on 127.0.0.1.
 * Every collective gives all four ranks the same bytes, equal to a fold in rank order in Node.js; a
 * mismatch is CollectiveMismatch on all four; a tab closed mid-collective is CollectiveFailed on the
 * others, naming its rank.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBrowserBundle } from '../../scripts/build-browser.mjs';
import { connectWs } from '../../src/backends/ws/index.js';
import type { Communicator } from '../../src/communicator/communicator.js';
import { DTYPES, REDUCE_OPS, type DType, type NumericArray } from '../../src/communicator/dtypes.js';
import { CommError } from '../../src/communicator/errors.js';
import { reduceRankOrder } from '../../src/communicator/reduce.js';
import { byteList, casePart, fromBytes } from './cases.js';
import { jsModule, openBrowser, type BrowserHarness, type BrowserPage } from './support.js';

const SIZE = 4;
const PAGE_RANKS = [2, 3];
const TOKEN = 'ws-ranks-test-token';
const TIMEOUT_SECS = 60;
const CONNECT_TIMEOUT_SECS = 30;
/** A closed tab is CollectiveFailed within the keepalive bound (≤ 2 s, spec/backend-ws.md); asserted generously. */
const FAILURE_BOUND_MS = 10_000;
/** Elements of the streamed broadcast: over two default chunks (256 KiB) of float64. */
const LARGE_ELEMENTS = 80_000;

let harness: BrowserHarness;

/** A page-side outcome: the value, or the error's class name, code and message. */
type Outcome<T> = { ok: T } | { error: { name: string; code?: string; message: string; rank?: number } };

async function outcome<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: await run() };
  } catch (e) {
    const error = e as CommError;
    const rank = (error.details as { rank?: number } | undefined)?.rank;
    return { error: { name: error.name, code: error.code, message: error.message, rank } };
  }
}

/** One group: the two Node.js communicators (ranks 0, 1) and the two pages holding ranks 2, 3. */
interface Group {
  node: Communicator[];
  pages: BrowserPage[];
}

async function formGroup(pages: BrowserPage[]): Promise<Group> {
  let announce: (url: string) => void = () => {};
  const listening = new Promise<string>((resolve) => (announce = resolve));
  const clocks = { timeoutSecs: TIMEOUT_SECS, connectTimeoutSecs: CONNECT_TIMEOUT_SECS };
  const rank0 = connectWs({
    rank: 0,
    size: SIZE,
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    allowedOrigins: [harness.origin],
    ...clocks,
    onListening: ({ host, port }: { host: string; port: number }) => announce(`ws://${host}:${port}/`),
  });
  const url = await Promise.race([listening, rank0.then(() => '')]);
  const rank1 = connectWs({ rank: 1, size: SIZE, url, token: TOKEN, ...clocks });
  const joined = pages.map((page, k) =>
    page.evaluate(
      async ({ collective }, options) => {
        const comm = await collective.init({ backend: 'ws', ...options });
        (globalThis as unknown as { comm: unknown }).comm = comm;
        return { rank: comm.rank as number, size: comm.size as number, backend: comm.backend as string };
      },
      { url, rank: PAGE_RANKS[k]!, size: SIZE, token: TOKEN, timeoutSecs: TIMEOUT_SECS },
    ),
  );
  const [node0, node1, ...inPages] = await Promise.all([rank0, rank1, ...joined]);
  expect(inPages).toEqual(PAGE_RANKS.map((rank) => ({ rank, size: SIZE, backend: 'ws' })));
  return { node: [node0 as Communicator, node1 as Communicator], pages };
}

/**
 * Runs one step on all four ranks at once: `inNode(comm, rank)` for ranks 0 and 1, `inPage` (with
 * the page's communicator as `globalThis.comm`) for ranks 2 and 3. Results in rank order.
 */
async function onEveryRank<R, A>(
  group: Group,
  inNode: (comm: Communicator, rank: number) => Promise<R>,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  inPage: (modules: any, arg: A & { rank: number }) => Promise<R>,
  arg: A,
): Promise<R[]> {
  return Promise.all([
    ...group.node.map((comm, rank) => inNode(comm, rank)),
    ...group.pages.map((page, k) => page.evaluate(inPage, { ...arg, rank: PAGE_RANKS[k]! })),
  ]);
}

const dtypeNamed = (name: string): DType => DTYPES.find((d) => d.name === name) as DType;

/** Every dtype with one contribution per rank (bytes), NaN payloads and rounding cases included. */
const CASES = DTYPES.map((dtype) => ({
  dtype: dtype.name,
  ctor: dtype.ctor.name,
  parts: Array.from({ length: SIZE }, (_, rank) => byteList(casePart(dtype, rank))),
}));

let group: Group;

beforeAll(async () => {
  const bundle = await buildBrowserBundle({ outfile: '/collective.js', write: false });
  const served: Record<string, ReturnType<typeof jsModule>> = {};
  for (const file of bundle.outputFiles ?? []) served[file.path] = jsModule(file.contents);
  harness = await openBrowser(served, { collective: '/collective.js' });
  group = await formGroup([harness, await harness.openPage()]);
});

afterAll(async () => {
  await Promise.all(group?.node.map((comm) => comm.close()) ?? []);
  await harness?.close();
});

describe('ws: 2 Node.js ranks and 2 browser ranks', () => {
  it('allreduce on every dtype and op: the same bytes on every rank, equal to a fold in rank order', async () => {
    const results = await onEveryRank(
      group,
      async (comm, rank) => {
        const out: Record<string, number[]> = {};
        for (const c of CASES) {
          for (const op of REDUCE_OPS) {
            const recv = await comm.allreduce(fromBytes(dtypeNamed(c.dtype), c.parts[rank]!), op);
            out[`${c.dtype}:${op}`] = byteList(recv);
          }
        }
        return out;
      },
      async (_modules, { cases, ops, rank }) => {
        const comm = (globalThis as unknown as { comm: Communicator }).comm;
        const out: Record<string, number[]> = {};
        for (const c of cases) {
          type Ctor = new (b: ArrayBuffer) => NumericArray;
          const Ctor = (globalThis as unknown as Record<string, Ctor>)[c.ctor] as Ctor;
          for (const op of ops) {
            const recv = await comm.allreduce(new Ctor(new Uint8Array(c.parts[rank]!).buffer), op);
            out[`${c.dtype}:${op}`] = Array.from(
              new Uint8Array(recv.buffer, recv.byteOffset, recv.byteLength),
            );
          }
        }
        return out;
      },
      { cases: CASES, ops: [...REDUCE_OPS] },
    );
    for (const c of CASES) {
      const dtype = dtypeNamed(c.dtype);
      const parts = c.parts.map((bytes) => fromBytes(dtype, bytes));
      for (const op of REDUCE_OPS) {
        const reference = new dtype.ctor(parts[0]!.length) as NumericArray;
        reduceRankOrder(reference, parts, op);
        const key = `${c.dtype}:${op}`;
        results.forEach((result, rank) =>
          expect(result[key], `rank ${rank} ${key}`).toEqual(byteList(reference)),
        );
      }
    }
  });

  it('allgatherv (packed, with a rank of 0 elements) gives every rank the blocks in rank order', async () => {
    const counts = [3, 0, 5, 2];
    const blocks = counts.map((count, rank) =>
      byteList(casePart(dtypeNamed('float64'), rank).subarray(0, count)),
    );
    const results = await onEveryRank(
      group,
      async (comm, rank) => byteList(await comm.allgatherv(fromBytes(dtypeNamed('float64'), blocks[rank]!))),
      async (_modules, { blocks, rank }) => {
        const comm = (globalThis as unknown as { comm: Communicator }).comm;
        const all = await comm.allgatherv(new Float64Array(new Uint8Array(blocks[rank]!).buffer));
        return Array.from(new Uint8Array(all.buffer, all.byteOffset, all.byteLength));
      },
      { blocks },
    );
    for (const result of results) expect(result).toEqual(blocks.flat());
  });

  it('broadcast from a browser root (each tab in turn), streamed over several frames', async () => {
    for (const root of PAGE_RANKS) {
      const results = await onEveryRank(
        group,
        async (comm) => {
          const buf = new Float64Array(LARGE_ELEMENTS);
          await comm.broadcast(buf, root);
          return buf.every((v, i) => v === i * 0.5 + root)
            ? 'root values'
            : `wrong: ${buf.slice(0, 4).join()}`;
        },
        async (_modules, { root, elements, rank }) => {
          const comm = (globalThis as unknown as { comm: Communicator }).comm;
          const buf = new Float64Array(elements);
          if (rank === root) for (let i = 0; i < elements; i++) buf[i] = i * 0.5 + root;
          await comm.broadcast(buf, root);
          return buf.every((v, i) => v === i * 0.5 + root)
            ? 'root values'
            : `wrong: ${buf.slice(0, 4).join()}`;
        },
        { root, elements: LARGE_ELEMENTS },
      );
      expect(results, `root ${root}`).toEqual(['root values', 'root values', 'root values', 'root values']);
    }
  });

  it('barrier completes on every rank', async () => {
    const results = await onEveryRank(
      group,
      async (comm) => comm.barrier().then(() => 'passed'),
      async () => (globalThis as unknown as { comm: Communicator }).comm.barrier().then(() => 'passed'),
      {},
    );
    expect(results).toEqual(['passed', 'passed', 'passed', 'passed']);
  });

  it('objects: allgather and bcast from a browser root carry the same values everywhere', async () => {
    const results = await onEveryRank(
      group,
      async (comm, rank) => ({
        all: await comm.allgather({ rank, where: 'node', list: [rank, 'x', null] }),
        root3: await comm.bcast(null, 3),
      }),
      async (_modules, { rank }) => {
        const comm = (globalThis as unknown as { comm: Communicator }).comm;
        return {
          all: await comm.allgather({ rank, where: 'page', list: [rank, 'x', null] }),
          root3: await comm.bcast(rank === 3 ? { from: 'tab', n: 1.5, nested: { ok: true } } : null, 3),
        };
      },
      {},
    );
    const all = [0, 1, 2, 3].map((rank) => ({
      rank,
      where: rank < 2 ? 'node' : 'page',
      list: [rank, 'x', null],
    }));
    for (const result of results) {
      expect(result.all).toEqual(all);
      expect(result.root3).toEqual({ from: 'tab', n: 1.5, nested: { ok: true } });
    }
  });

  it('createSharedRegion is a heap region of its own on every rank; splitLocal gives a tab a world of one', async () => {
    const results = await onEveryRank(
      group,
      async (comm, rank) => {
        const region = await comm.createSharedRegion(Float32Array, 8);
        region.data.fill(rank);
        await comm.barrier();
        const local = await comm.splitLocal();
        const out = {
          leader: region.isLeader,
          first: region.data[0],
          localSize: local.size,
          localRank: local.rank,
        };
        await local.close();
        return out;
      },
      async (_modules, { rank }) => {
        const comm = (globalThis as unknown as { comm: Communicator }).comm;
        const region = await comm.createSharedRegion(Float32Array, 8);
        region.data.fill(rank);
        await comm.barrier();
        const local = await comm.splitLocal();
        const out = {
          leader: region.isLeader,
          first: region.data[0],
          localSize: local.size,
          localRank: local.rank,
        };
        await local.close();
        return out;
      },
      {},
    );
    expect(results).toEqual(
      [0, 1, 2, 3].map((rank) => ({ leader: true, first: rank, localSize: 1, localRank: 0 })),
    );
  });

  it('a mismatch (a tab passes another count) is CollectiveMismatch on all four, and the group stays usable', async () => {
    const results = await onEveryRank(
      group,
      async (comm) => outcome(() => comm.allreduce(new Float64Array(4), 'sum').then(() => 'no error')),
      async (_modules, { rank }) => {
        const comm = (globalThis as unknown as { comm: Communicator }).comm;
        try {
          await comm.allreduce(new Float64Array(rank === 2 ? 3 : 4), 'sum');
          return { ok: 'no error' };
        } catch (e) {
          const error = e as CommError;
          return { error: { name: error.name, code: error.code, message: error.message } };
        }
      },
      {},
    );
    results.forEach((result, rank) => {
      expect('error' in result && result.error.code, `rank ${rank}: ${JSON.stringify(result)}`).toBe(
        'CollectiveMismatch',
      );
    });
    const after = await onEveryRank(
      group,
      async (comm) => comm.barrier().then(() => 'passed'),
      async () => (globalThis as unknown as { comm: Communicator }).comm.barrier().then(() => 'passed'),
      {},
    );
    expect(after).toEqual(['passed', 'passed', 'passed', 'passed']);
  });

  it('a tab closed mid-collective is CollectiveFailed on the others, naming its rank, within the bound', async () => {
    // A group of its own, so closing a tab does not end the group the other tests use.
    const doomed = await formGroup([await harness.openPage(), await harness.openPage()]);
    const [survivor, closing] = doomed.pages as [BrowserPage, BrowserPage];
    const pending: Array<Promise<Outcome<unknown>>> = [
      ...doomed.node.map((comm) => outcome(() => comm.allreduce(new Float64Array(1024), 'sum'))),
      survivor.evaluate(async () => {
        const comm = (globalThis as unknown as { comm: Communicator }).comm;
        try {
          await comm.allreduce(new Float64Array(1024), 'sum');
          return { ok: 'no error' };
        } catch (e) {
          const error = e as CommError;
          const rank = (error.details as { rank?: number } | undefined)?.rank;
          return { error: { name: error.name, code: error.code, message: error.message, rank } };
        }
      }, {}) as Promise<Outcome<unknown>>,
    ];
    const closedAt = Date.now();
    await closing.page.close();
    const nodeResults = await Promise.all(
      pending.slice(0, 2).map((p) => p.then((result) => ({ result, afterMs: Date.now() - closedAt }))),
    );
    for (const { result, afterMs } of nodeResults) {
      expect('error' in result && result.error.code, JSON.stringify(result)).toBe('CollectiveFailed');
      if ('error' in result) expect(result.error.message).toMatch(/rank 3/);
      expect(afterMs).toBeLessThan(FAILURE_BOUND_MS);
    }
    const inPage = (await pending[2]) as Outcome<string>;
    expect('error' in inPage && inPage.error.code, JSON.stringify(inPage)).toBe('CollectiveFailed');
    await Promise.all(doomed.node.map((comm) => comm.close()));
  });
});

describe('ws: what a browser rank refuses', () => {
  it('rank 0, a rank out of range and a URL that is not ws:// are IncompatibleSettings naming the field', async () => {
    const fromPage = await harness.evaluate(async ({ collective }) => {
      const tries: Array<[string, Record<string, unknown>]> = [
        ['rank 0', { url: 'ws://127.0.0.1:1/', rank: 0, size: 2 }],
        ['rank = size', { url: 'ws://127.0.0.1:1/', rank: 2, size: 2 }],
        ['http url', { url: 'http://127.0.0.1:1/', rank: 1, size: 2 }],
        ['no url', { rank: 1, size: 2 }],
        ['zero timeout', { url: 'ws://127.0.0.1:1/', rank: 1, size: 2, timeoutSecs: 0 }],
      ];
      const out: Record<string, unknown> = {};
      for (const [name, options] of tries) {
        try {
          await collective.init({ backend: 'ws', ...options });
          out[name] = 'resolved';
        } catch (e) {
          const error = e as { kind: string; context: { field: string }; message: string };
          out[name] = [error.kind, error.context.field];
        }
      }
      return out;
    }, null);
    expect(fromPage).toEqual({
      'rank 0': ['IncompatibleSettings', 'rank'],
      'rank = size': ['IncompatibleSettings', 'rank'],
      'http url': ['IncompatibleSettings', 'url'],
      'no url': ['IncompatibleSettings', 'url'],
      'zero timeout': ['IncompatibleSettings', 'timeoutSecs'],
    });
  });

  it('a page whose origin rank 0 does not allow gets InitializationFailed naming the origin check', async () => {
    let announce: (url: string) => void = () => {};
    const listening = new Promise<string>((resolve) => (announce = resolve));
    const rank0 = outcome(() =>
      connectWs({
        rank: 0,
        size: 2,
        host: '127.0.0.1',
        port: 0,
        token: TOKEN,
        allowedOrigins: ['https://elsewhere.example'],
        timeoutSecs: TIMEOUT_SECS,
        connectTimeoutSecs: 3,
        onListening: ({ host, port }: { host: string; port: number }) => announce(`ws://${host}:${port}/`),
      }),
    );
    const url = await listening;
    const fromPage = await harness.evaluate(
      async ({ collective }, options) => {
        try {
          await collective.init({ backend: 'ws', ...options });
          return 'resolved';
        } catch (e) {
          const error = e as { kind: string; message: string };
          return [error.kind, error.message];
        }
      },
      { url, rank: 1, size: 2, token: TOKEN, connectTimeoutSecs: 1 },
    );
    expect(fromPage[0]).toBe('InitializationFailed');
    expect(fromPage[1]).toMatch(
      /WS_CONNECT_FAILED: .*allows this page's origin.*allowedOrigins includes this page's origin/,
    );
    // Rank 0 gives up on the rank that never joined at its own connect timeout.
    const refused = await rank0;
    expect('error' in refused && refused.error.name).toBe('BackendError');
  });
});
