/**
 * The link layer (spec/backend-tcp.md §11, "Links"): what the star protocol — coordinator, worker,
 * rounds, admission, handshake — needs from a transport, and nothing more. A link is Gloo's pair
 * (`gloo/transport/pair.h`): one ordered, reliable, bidirectional byte path between two ranks. Each
 * transport (`net.Socket`, WebSocket, later direct peer links) is one module behind these three
 * interfaces; the protocol above them is written once and is byte-identical over every link.
 *
 * Bytes, not frames: the frame codec (FrameReader/FrameWriter) stays above the link. A link only
 * promises that a batch given to one `write()` arrives whole and in order; a message transport sends
 * each batch as one message, so a message always holds whole frames (the writer only ever batches
 * whole frames).
 *
 * This module is transport-neutral and imports nothing from `node:`: it is also the contract of the
 * links that run in a browser.
 */

/** One end of an established link. Owned by exactly one Connection, which sets the callbacks. */
export interface Link {
  /**
   * Queues one batch of bytes that together hold whole frames; the pieces are referenced, not
   * copied, until `done` is called (the transport has taken them: the caller may reuse them).
   * Batches leave in order, and `done` callbacks run in order. Writing after `end()` or `destroy()`
   * is ignored (`done` is not called; `onClose` reports the end).
   */
  write(pieces: readonly Uint8Array[], done?: () => void): void;
  /**
   * The most bytes one write() batch may hold (a message transport's message limit); the frame
   * writer cuts batches at whole frames to stay within it. Absent: no limit (a byte stream).
   */
  readonly maxBatchBytes?: number;
  /** Bytes queued by write() that the transport has not taken yet (send-side backpressure). */
  readonly bufferedBytes: number;
  /** False once the link has ended or been destroyed: write() would be ignored. */
  readonly writable: boolean;
  /** Stops delivering received bytes (the peer is held back by the transport's flow control). */
  pause(): void;
  /** Delivers received bytes again after pause(). */
  resume(): void;
  /** An idle link keeps its process alive after ref(), not after unref() (no-op where there is no event loop to hold). */
  ref(): void;
  unref(): void;
  /** Sends nothing more; the link closes cleanly once queued batches have left. */
  end(): void;
  /** Closes at once; queued batches are dropped. `onClose` reports `error` (or null). */
  destroy(error?: Error): void;
  /** The peer as named in messages: `host:port` (IPv6 bracketed) or a URL's origin. */
  readonly remoteAddress: string;
  /** The peer's host alone (no port), to count connections per source; '?' when unknown. */
  readonly remoteHost: string;
  /** This end's own address on the link (a direct-link listener binds it, §14.1); absent when the transport cannot tell. */
  readonly localHost?: string;
  /**
   * Received bytes, in order, cut anywhere (not at frame boundaries). `borrowed`: the bytes are
   * valid only during the call (the link reuses its read buffer); copy what must outlive it.
   */
  onData: (chunk: Uint8Array, borrowed: boolean) => void;
  /** Called exactly once when the link is closed: null for a clean close by the peer or end(). */
  onClose: (error: Error | null) => void;
}

/** Rank 0's side: accepts links from the other ranks. */
export interface LinkListener {
  /** Set by admission: each new, not yet authenticated link. */
  onLink: (link: Link) => void;
  /** A human-readable address the listener serves, for messages (e.g. `127.0.0.1:29500`, `ws://host:port/path`). */
  readonly address: string;
  /** The port it listens on (the ephemeral one when asked for 0); null when it serves on a caller's server. */
  readonly port: number | null;
  /** Formed: the listener must not keep the process alive (late links are only turned away). */
  unref(): void;
  /** Stops accepting; links already handed over are not affected. */
  close(): void;
}

/** Why a dial did not produce a link; the worker's retry and its final message depend on it. */
export type DialFailure =
  /** Nothing listens there (ECONNREFUSED, HTTP 404 from a server without our path…): retry, rank 0 may not be up yet. */
  | 'refused'
  /** The name does not resolve (final) or resolution failed transiently. */
  | 'unresolved'
  | 'unresolved-transient'
  /** Anything else (timeout, reset, an HTTP status, a TLS error): retried until the connect timeout. */
  | 'other';

/** A failed dial: the failure class, the transport's own code (`ECONNREFUSED`, `HTTP 403`…) and message. */
export interface DialError {
  readonly failure: DialFailure;
  readonly code: string | undefined;
  readonly message: string;
}

/**
 * A worker's side: one attempt to reach rank 0; resolves to a link or to why not (never rejects).
 * `signal` aborted: the worker gave the attempt up (its connect timeout passed), so the transport
 * closes what it opened; the promise's outcome no longer matters.
 */
export type Dialer = (signal?: AbortSignal) => Promise<Link | DialError>;

export function isDialError(value: Link | DialError): value is DialError {
  return 'failure' in value;
}
