/**
 * The star pair channel over WebSocket links (spec/backend-tcp.md §12, spec/backend-ws.md §9.6): the
 * same coordinator and worker as tcp, so the same frames — here checked where ws differs, a link
 * write being one message of at most maxPayload: multi-MiB messages crossing both ways in pieces,
 * small frames interleaved with a collective, and a rank leaving.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectWs } from '../../../src/backends/ws/index.js';
import type { Communicator } from '../../../src/communicator/communicator.js';
import { channelOf, Inbox, inOrder, postAll } from '../tcp/channel-support.js';

const MiB = 1024 * 1024;
const BASE = { host: '127.0.0.1', timeoutSecs: 30, connectTimeoutSecs: 10 };

let open: Communicator[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close().catch(() => {})));
});

async function formWs(size: number): Promise<{ comms: Communicator[]; inboxes: Inbox[] }> {
  let reportPort: (port: number) => void = () => {};
  const port = new Promise<number>((resolve) => (reportPort = resolve));
  const rank0 = connectWs({ ...BASE, rank: 0, size, port: 0, onListening: (a) => reportPort(a.port) });
  const p = await port;
  const others = Array.from({ length: size - 1 }, (_, i) =>
    connectWs({ ...BASE, rank: i + 1, size, url: `ws://127.0.0.1:${p}/` }),
  );
  open = await Promise.all([rank0, ...others]);
  return { comms: open, inboxes: open.map((c, r) => new Inbox(r, channelOf(c))) };
}

const PAIRS: Array<[number, number]> = [
  [0, 1],
  [1, 0],
  [0, 2],
  [2, 0],
  [1, 2],
  [2, 1],
];

describe('ws pair channel', () => {
  it('every pair of 3 ranks, multi-MiB messages crossing both ways, in order per source', async () => {
    const { comms, inboxes } = await formWs(3);
    const sizes = [0, 1, 5 * MiB + 5, 300_001, 0];
    await Promise.all(PAIRS.map(([s, d]) => postAll(channelOf(comms[s]!), s, d, sizes)));
    for (const [s, d] of PAIRS) await inboxes[d]!.count(s, sizes.length);
    for (const [s, d] of PAIRS) expect(inOrder(inboxes[d]!, s, sizes), `${s} → ${d}`).toBe(true);
  });

  it('small frames interleaved with collectives on the same links', async () => {
    const { comms, inboxes } = await formWs(3);
    const sizes = Array.from({ length: 200 }, (_, i) => (i * 53) % 3000);
    const posting = PAIRS.map(([s, d]) => postAll(channelOf(comms[s]!), s, d, sizes));
    const sums = await Promise.all(
      comms.map(async (comm) => {
        const out: number[] = [];
        for (let i = 0; i < 20; i++) out.push((await comm.allreduce(new Float64Array([i, comm.rank])))[1]!);
        out.push((await comm.allreduce(new Float64Array(MiB / 8).fill(1))).at(-1)!);
        return out;
      }),
    );
    await Promise.all(posting);
    for (const [s, d] of PAIRS) await inboxes[d]!.count(s, sizes.length);
    for (const [s, d] of PAIRS) expect(inOrder(inboxes[d]!, s, sizes), `${s} → ${d}`).toBe(true);
    for (const out of sums) expect(out).toEqual([...Array.from({ length: 20 }, () => 3), 3]);
  });

  it('a worker that closes: the others hear it through onFailure', async () => {
    const { comms, inboxes } = await formWs(3);
    await comms[1]!.close();
    const errors = await Promise.all(inboxes.map((i) => i.failed()));
    expect(errors[1]!.code).toBe('InvalidCommunicator');
    for (const e of [errors[0]!, errors[2]!])
      expect(e).toMatchObject({ code: 'CollectiveFailed', details: { rank: 1 } });
  });
});
