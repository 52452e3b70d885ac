/**
 * One rank of a pair-channel test (channel.test.ts), in its own worker thread: joins the shm group
 * with the raw backend (joinShm) and drives its PairChannel directly, without the message engine.
 * Frames carry a sequence number and a checkable pattern; the sink verifies order and content.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { joinShm } from '../../../src/backends/shm/shm-backend.js';
import { SHM_WORKER_DATA_KEY, type ShmGroupHandle } from '../../../src/backends/shm/index.js';
import type { CommError } from '../../../src/communicator/errors.js';

export interface ChannelRankData {
  [SHM_WORKER_DATA_KEY]: { group: ShmGroupHandle; rank: number };
  timeoutSecs: number;
}

/** What one rank does: post `sizes` to each of `to`, and expect as many frames from each of `from`. */
export interface Exchange {
  type: 'exchange';
  id: number;
  sizes: number[];
  to: number[];
  from: number[];
  /** Await each post before the next (else post them all at once and await them together). */
  awaitEach: boolean;
}
/** Post `sizes` to `to` for ever (until the channel fails) and report the failure. */
export interface Stream {
  type: 'stream';
  id: number;
  to: number;
  bytes: number;
}
export interface Close {
  type: 'close';
  id: number;
}
/** The thread ends with process.exit(3), without close(): its exit hook marks it gone (§5.7). */
export interface Exit {
  type: 'exit';
  id: number;
}
export type ChannelCommand = Exchange | Stream | Close | Exit;

export type ChannelReply =
  | { type: 'ready' }
  | { type: 'done'; id: number; received: Record<number, number>; errors: string[] }
  | { type: 'failed'; id: number; code: string; message: string; at: number }
  | { type: 'progress'; id: number };

const port = parentPort!;
const data = workerData as ChannelRankData;
const { group, rank } = data[SHM_WORKER_DATA_KEY];
const backend = await joinShm({ group, rank, timeoutSecs: data.timeoutSecs });
const channel = backend.channel;

/** Header: [seq u32, source u32, payload length u32], then filler to a length that varies with seq. */
function headerFor(seq: number, payloadBytes: number): Uint8Array {
  const header = new Uint8Array(12 + (seq % 53));
  const view = new DataView(header.buffer);
  view.setUint32(0, seq, true);
  view.setUint32(4, rank, true);
  view.setUint32(8, payloadBytes, true);
  for (let i = 12; i < header.length; i++) header[i] = (i + seq) & 0xff;
  return header;
}

const patternByte = (source: number, seq: number, i: number): number => (i * 7 + seq * 13 + source) & 0xff;

function payloadFor(seq: number, bytes: number): Uint8Array {
  const payload = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) payload[i] = patternByte(rank, seq, i);
  return payload;
}

const nextSeq = new Map<number, number>();
/** Frames from each source that the commands so far asked for. */
const expected = new Map<number, number>();
const errors: string[] = [];
let onFrame: (() => void) | null = null;
let failure: { error: CommError; at: number } | null = null;
let onFail: (() => void) | null = null;

channel.attach(
  (source, header, payload) => {
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    const seq = view.getUint32(0, true);
    const expected = nextSeq.get(source) ?? 0;
    nextSeq.set(source, seq + 1);
    if (errors.length < 10) {
      if (seq !== expected) errors.push(`from ${source}: frame ${seq} arrived, expected ${expected}`);
      if (view.getUint32(4, true) !== source)
        errors.push(`from ${source}: header names ${view.getUint32(4, true)}`);
      if (header.length !== 12 + (seq % 53))
        errors.push(`from ${source}: frame ${seq} header ${header.length} B`);
      if (view.getUint32(8, true) !== payload.length) {
        errors.push(
          `from ${source}: frame ${seq} payload ${payload.length} B, header says ${view.getUint32(8, true)}`,
        );
      }
      for (let i = 0; i < payload.length; i++) {
        if (payload[i] !== patternByte(source, seq, i)) {
          errors.push(`from ${source}: frame ${seq} (${payload.length} B) differs at byte ${i}`);
          break;
        }
      }
    }
    onFrame?.();
  },
  (error) => {
    failure = { error, at: Date.now() };
    onFail?.();
  },
);
port.postMessage({ type: 'ready' } satisfies ChannelReply);

const seqTo = new Map<number, number>();
function postNext(dest: number, bytes: number): Promise<void> | void {
  const seq = seqTo.get(dest) ?? 0;
  seqTo.set(dest, seq + 1);
  return channel.post(dest, headerFor(seq, bytes), payloadFor(seq, bytes));
}

async function exchange(command: Exchange): Promise<ChannelReply> {
  const want = command.sizes.length;
  // Frames may arrive before this command does: count from what earlier commands expected.
  const start = new Map(command.from.map((s) => [s, expected.get(s) ?? 0]));
  for (const s of command.from) expected.set(s, start.get(s)! + want);
  const arrivedAll = (): boolean => command.from.every((s) => (nextSeq.get(s) ?? 0) >= expected.get(s)!);
  channel.setActive(true);
  const received = new Promise<void>((resolve, reject) => {
    onFrame = () => arrivedAll() && resolve();
    onFail = () => reject(failure!.error);
    if (arrivedAll()) resolve();
  });
  const posts: Array<Promise<void> | void> = [];
  for (const bytes of command.sizes) {
    for (const dest of command.to) {
      const posted = postNext(dest, bytes);
      if (command.awaitEach) await posted;
      else posts.push(posted);
    }
  }
  await Promise.all(posts);
  await received;
  channel.setActive(false);
  onFrame = null;
  const counts: Record<number, number> = {};
  for (const s of command.from) counts[s] = (nextSeq.get(s) ?? 0) - start.get(s)!;
  return { type: 'done', id: command.id, received: counts, errors: errors.splice(0) };
}

/** Posts to `to` until the channel fails (a peer died): reports when and how this rank learned it. */
async function stream(command: Stream): Promise<ChannelReply> {
  channel.setActive(true);
  let progressed = false;
  try {
    for (;;) {
      await postNext(command.to, command.bytes);
      if (!progressed) {
        progressed = true;
        port.postMessage({ type: 'progress', id: command.id } satisfies ChannelReply);
      }
      if (failure) throw failure.error;
    }
  } catch (error) {
    await new Promise<void>((resolve) => (failure ? resolve() : (onFail = resolve)));
    const e = error as CommError;
    return { type: 'failed', id: command.id, code: e.code, message: e.message, at: failure!.at };
  }
}

port.on('message', (command: ChannelCommand) => {
  void (async () => {
    let reply: ChannelReply;
    try {
      if (command.type === 'exchange') reply = await exchange(command);
      else if (command.type === 'stream') reply = await stream(command);
      else if (command.type === 'exit') process.exit(3);
      else {
        await backend.close();
        reply = { type: 'done', id: command.id, received: {}, errors: [] };
      }
    } catch (error) {
      const e = error as CommError;
      reply = {
        type: 'failed',
        id: command.id,
        code: e.code,
        message: e.message,
        at: failure?.at ?? Date.now(),
      };
    }
    port.postMessage(reply);
  })();
});
