/**
 * Helpers for the star pair-channel tests (spec/backend-tcp.md §12): the channel behind a tcp or ws
 * communicator, an inbox that records what a channel delivers, and the frames the tests send (a
 * header naming source, destination and sequence; a payload whose bytes follow from them).
 */
import type { Communicator } from '../../../src/communicator/communicator.js';
import type { CommError } from '../../../src/communicator/errors.js';
import type { PairChannel } from '../../../src/communicator/messages/channel.js';
import { starChannelOf } from '../../../src/backends/star/formation.js';

export function channelOf(comm: Communicator): PairChannel {
  const channel = starChannelOf(comm);
  if (!channel) throw new Error('not a star communicator');
  return channel;
}

/** A test frame's header: u32 source, u32 dest, u32 sequence. */
export function testHeader(source: number, dest: number, sequence: number): Uint8Array {
  const header = Buffer.alloc(12);
  header.writeUInt32LE(source, 0);
  header.writeUInt32LE(dest, 4);
  header.writeUInt32LE(sequence, 8);
  return header;
}

/** (i * 13 + (i >>> 8)) mod 256 repeats every 65536 bytes. */
const PATTERN_PERIOD = 65536;

/** The payload of frame `sequence` from source to dest: `bytes` bytes that differ per frame. */
export function testPayload(source: number, dest: number, sequence: number, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const seed = source * 131 + dest * 17 + sequence * 7;
  // The pattern repeats every PATTERN_PERIOD bytes: made once, then doubled by copies.
  const made = Math.min(bytes, PATTERN_PERIOD);
  for (let i = 0; i < made; i++) out[i] = (seed + i * 13 + (i >>> 8)) & 0xff;
  for (let at = made; at < bytes; at *= 2) out.copyWithin(at, 0, Math.min(at, bytes - at));
  return out;
}

/** The last expected payload made, reused while frames repeat it (a stream of one frame). */
let lastExpected = { key: '', bytes: Buffer.alloc(0) };

/** Whether `payload` is testPayload(source, dest, sequence, its length). */
export function isTestPayload(source: number, dest: number, sequence: number, payload: Uint8Array): boolean {
  const key = `${source},${dest},${sequence},${payload.byteLength}`;
  if (lastExpected.key !== key)
    lastExpected = { key, bytes: Buffer.from(testPayload(source, dest, sequence, payload.byteLength)) };
  return lastExpected.bytes.equals(payload);
}

export interface Received {
  source: number;
  dest: number;
  sequence: number;
  bytes: number;
  /** The payload matched testPayload for its header. */
  intact: boolean;
}

/** Records every frame a channel delivers (checked against testPayload at once) and its failure. */
export class Inbox {
  readonly frames: Received[] = [];
  failure: CommError | null = null;
  failedAt = 0;
  #waiters: Array<() => void> = [];

  constructor(
    readonly rank: number,
    channel: PairChannel,
  ) {
    channel.attach(
      (source, header, payload) => {
        const h = Buffer.from(header);
        const sequence = h.readUInt32LE(8);
        const dest = h.readUInt32LE(4);
        this.frames.push({
          source,
          dest,
          sequence,
          bytes: payload.byteLength,
          intact: h.readUInt32LE(0) === source && isTestPayload(source, dest, sequence, payload),
        });
        this.#wake();
      },
      (error) => {
        this.failure = error;
        this.failedAt = performance.now();
        this.#wake();
      },
    );
  }

  from(source: number): Received[] {
    return this.frames.filter((f) => f.source === source);
  }

  /** Resolves once `count` frames have arrived from `source`. */
  async count(source: number, count: number): Promise<void> {
    while (this.from(source).length < count) {
      if (this.failure) throw new Error(`rank ${this.rank} failed: ${this.failure.message}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Resolves with the failure, once onFailure has run. */
  async failed(): Promise<CommError> {
    while (!this.failure) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.failure;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** Posts frames 0…sizes.length−1 from `source` to `dest` back to back; resolves when every post has. */
export function postAll(
  channel: PairChannel,
  source: number,
  dest: number,
  sizes: readonly number[],
): Promise<void> {
  return Promise.all(
    sizes.map((bytes, s) =>
      channel.post(dest, testHeader(source, dest, s), testPayload(source, dest, s, bytes)),
    ),
  ).then(() => {});
}

/** Every frame from `source` arrived intact, in order 0…count−1, with the sizes it was sent with. */
export function inOrder(inbox: Inbox, source: number, sizes: readonly number[]): boolean {
  const got = inbox.from(source);
  return (
    got.length === sizes.length &&
    got.every((f, i) => f.sequence === i && f.intact && f.bytes === sizes[i] && f.dest === inbox.rank)
  );
}
