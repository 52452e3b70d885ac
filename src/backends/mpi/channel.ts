/**
 * The mpi backend's pair channel (spec/backend-mpi.md §6): frames over MPI_Isend / MPI_Improbe +
 * MPI_Imrecv on the group's frame communicator (a dup of the world: no user traffic can match them).
 *
 * A frame is one MPI message with tag FRAME: [flags u8][header length u8][header][payload when inline].
 * A payload above {@link INLINE_PAYLOAD_BYTES} goes as a second message with tag PAYLOAD, sent from
 * the caller's memory (no copy). MPI's non-overtaking rule keeps each tag's messages from one source
 * in order, and the receiver takes a source's frames one at a time, each with its payload, so frames
 * reach the sink in per-source order (channel.ts's contract).
 */
import { CommError } from '../../communicator/errors.js';
import type { FrameSink, PairChannel } from '../../communicator/messages/channel.js';
import type { MpiGroup } from './group.js';
import { TAG } from './group.js';
import { progress, Wait, type Poller } from './progress.js';

/** Payloads up to this many bytes are copied into the frame's message; larger ones go on their own. */
export const INLINE_PAYLOAD_BYTES = 8 * 1024;
const PREFIX_BYTES = 2;
const FLAG_SEPARATE_PAYLOAD = 1;

interface Incoming {
  readonly frame: Uint8Array;
  frameRequest: number | null;
  payload: Uint8Array | null;
  payloadRequest: number | null;
}

export class MpiPairChannel implements PairChannel, Poller {
  #sink: FrameSink | null = null;
  #onFailure: ((error: CommError) => void) | null = null;
  #failure: CommError | null = null;
  #active = false;
  readonly #incoming: Incoming[][];
  readonly #sends = new Set<Wait>();

  constructor(readonly group: MpiGroup) {
    this.#incoming = Array.from({ length: group.size }, () => []);
    group.onFailure((error) => {
      if (this.#failure !== null) return;
      this.#failure = error;
      progress.removePoller(this);
      for (const send of this.#sends) send.reject(error);
      this.#sends.clear();
      this.#onFailure?.(error);
    });
  }

  get stallWarningSecs(): number {
    return this.group.settings.stallWarningSecs;
  }

  get timeoutSecs(): number {
    return this.group.settings.timeoutSecs;
  }

  get active(): boolean {
    return this.#active;
  }

  attach(sink: FrameSink, onFailure: (error: CommError) => void): void {
    this.#sink = sink;
    this.#onFailure = onFailure;
    // Attached after the group failed (the message layer is made on first use): tell it at once, or
    // its first receive would wait for its timeout.
    const failure = this.#failure;
    if (failure === null) progress.addPoller(this);
    else queueMicrotask(() => onFailure(failure));
  }

  setActive(active: boolean): void {
    this.#active = active;
    progress.schedule();
  }

  fail(error: CommError): void {
    this.group.fail(error, true);
  }

  post(dest: number, header: Uint8Array, payload: Uint8Array): Promise<void> | void {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const { native, comms } = this.group;
    const inline = payload.byteLength <= INLINE_PAYLOAD_BYTES;
    const frame = new Uint8Array(PREFIX_BYTES + header.byteLength + (inline ? payload.byteLength : 0));
    frame[0] = inline ? 0 : FLAG_SEPARATE_PAYLOAD;
    frame[1] = header.byteLength;
    frame.set(header, PREFIX_BYTES);
    if (inline) frame.set(payload, PREFIX_BYTES + header.byteLength);
    const requests: number[] = [];
    try {
      requests.push(native.isend(comms.chan, dest, TAG.FRAME, frame));
      if (!inline) requests.push(native.isend(comms.chan, dest, TAG.PAYLOAD, payload));
    } catch (error) {
      const failure = new CommError(
        'CollectiveFailed',
        'send',
        `MPI_Isend to rank ${dest} failed: ${(error as Error).message}`,
        { dest },
      );
      this.group.fail(failure, true);
      return Promise.reject(failure);
    }
    const wait = new Wait(native, requests, [frame, payload], null);
    // Copied (inline): the caller's buffers are free now; the frame lives in `wait` until sent.
    progress.add(wait);
    if (inline) return;
    this.#sends.add(wait);
    return wait.done.finally(() => this.#sends.delete(wait));
  }

  /** Receives what arrived and delivers each source's frames in order; true when anything moved. */
  poll(): boolean {
    const { native, comms } = this.group;
    let moved = false;
    try {
      for (;;) {
        const found = native.improbe(comms.chan, -1, TAG.FRAME);
        if (found === null) break;
        const [source, , bytes, message] = found;
        const frame = new Uint8Array(bytes);
        (this.#incoming[source] as Incoming[]).push({
          frame,
          frameRequest: native.imrecv(message, frame),
          payload: null,
          payloadRequest: null,
        });
        moved = true;
      }
      for (let source = 0; source < this.#incoming.length; source++) {
        if (this.#deliver(source)) moved = true;
      }
    } catch (error) {
      this.group.fail(
        new CommError(
          'CollectiveFailed',
          'recv',
          `receiving a frame failed: ${(error as Error).message}`,
          {},
        ),
        true,
      );
    }
    return moved;
  }

  /** Delivers the source's complete frames, in order, up to the first still in flight. */
  #deliver(source: number): boolean {
    const { native, comms } = this.group;
    const queue = this.#incoming[source] as Incoming[];
    let moved = false;
    while (queue.length > 0 && this.#failure === null) {
      const head = queue[0] as Incoming;
      if (head.frameRequest !== null) {
        if (!native.test(head.frameRequest)) return moved;
        head.frameRequest = null;
      }
      const headerEnd = PREFIX_BYTES + (head.frame[1] as number);
      if (head.frame[0] === FLAG_SEPARATE_PAYLOAD && head.payload === null) {
        const found = native.improbe(comms.chan, source, TAG.PAYLOAD);
        if (found === null) return moved;
        head.payload = new Uint8Array(found[2]);
        head.payloadRequest = native.imrecv(found[3], head.payload);
      }
      if (head.payloadRequest !== null) {
        if (!native.test(head.payloadRequest)) return moved;
        head.payloadRequest = null;
      }
      queue.shift();
      moved = true;
      const header = head.frame.subarray(PREFIX_BYTES, headerEnd);
      this.#sink?.(source, header, head.payload ?? head.frame.subarray(headerEnd));
    }
    return moved;
  }

  /** The communicator closed: stop polling (frames still in flight are dropped with the group). */
  close(): void {
    progress.removePoller(this);
  }
}
