/**
 * A browser rank of the ws backend (spec/browser.md §5, spec/backend-ws.md): the star protocol's
 * worker side (`../star/join.ts`, `../star/worker.ts`) over the page's own WebSocket (BrowserLink).
 * Only the worker side runs in a page — rank 0 is always a Node.js process — so this module
 * validates what a worker needs: its own rank ≥ 1 / size ≥ 2 rule and the URL here, the token, job
 * id, clocks and chunk size with the star transports' shared checks (`../star/options.ts`, the
 * same rules and messages as Node.js ws ranks), without the address checks of the Node.js options
 * (`../star/listen-address.ts` needs node:net). It imports no Node.js built-in.
 */
import type { Communicator } from '../../communicator/communicator.js';
import type { BackendError } from '../../communicator/errors.js';
import { joinAsWorker } from '../star/formation.js';
import { checkOptionsObject, incompatible as starIncompatible, resolveStarOptions } from '../star/options.js';
import { MAX_GROUP_SIZE } from '../star/protocol.js';
import type { StarSettings } from '../star/settings.js';
import { browserDialer, type WebSocketConstructor } from './browser-link.js';
import { WS_WARNING_CODE } from './limits.js';

/** A page cannot tell a refused connection from a refused origin (spec/browser.md §5.3): name both. */
const UNREACHABLE_ADVICE =
  "start rank 0 (connectWs on Node.js), check the URL, check that rank 0's allowedOrigins includes this page's origin (location.origin), or raise connectTimeoutSecs";
const URL_SCHEMES = ['ws:', 'wss:'];

/** What a browser rank is given: everything is explicit (a page has no environment). */
export interface BrowserWsOptions {
  /** rank 0's WebSocket URL, `ws://host:port/path` or `wss://…`. */
  url: string;
  /** This rank, in [1, size): rank 0 is the Node.js coordinator. */
  rank: number;
  /** Number of ranks in the group, Node.js and browser ranks together. */
  size: number;
  /** The group's token (HMAC-SHA256 challenge–response, spec/backend-tcp.md §3.1); absent or '': none. */
  token?: string;
  /** The job id rank 0 was given, if any (at most 128 UTF-8 bytes). */
  jobId?: string;
  /** Fatal timeout (s): no progress in a collective for this long → Timeout. */
  timeoutSecs: number;
  /** Keep dialling rank 0 for this long (s), and wait this long for the group to form. */
  connectTimeoutSecs: number;
  /** Stall warning period (s); 0 disables. Default 60. */
  stallWarningSecs?: number;
  /** Bytes per data frame (multiple of 8, at most 4 MiB). */
  chunkBytes?: number;
  /** Backend warnings; default console.warn through platform.emitWarning (code COLLECTIVE_WS). */
  onWarning?: (message: string) => void;
  /** Stall warnings; default onWarning, else console.warn (code COLLECTIVE_STALL). */
  onStallWarning?: (message: string) => void;
  /** The WebSocket class; default the page's `globalThis.WebSocket` (tests on Node.js 20 pass ws's). */
  WebSocket?: WebSocketConstructor;
}

function incompatible(field: string, message: string, value: unknown, suggestion: string): BackendError {
  return starIncompatible('ws', field, message, value, suggestion);
}

function checkGroup(rank: unknown, size: unknown): void {
  if (!Number.isInteger(size) || (size as number) < 2 || (size as number) > MAX_GROUP_SIZE) {
    throw incompatible(
      'size',
      `size must be an integer in [2, ${MAX_GROUP_SIZE}] for a browser rank (rank 0 is a Node.js process), got ${size}`,
      size,
      'pass the number of ranks, Node.js and browser together',
    );
  }
  if (!Number.isInteger(rank) || (rank as number) < 1 || (rank as number) >= (size as number)) {
    throw incompatible(
      'rank',
      `a browser rank must be an integer in [1, ${size}), got ${rank}: rank 0 (the coordinator) runs in Node.js`,
      rank,
      'give each page a distinct rank from 1 to size - 1, and run rank 0 with connectWs on Node.js',
    );
  }
}

function checkUrl(url: unknown): string {
  let parsed: URL | null = null;
  try {
    parsed = typeof url === 'string' ? new URL(url) : null;
  } catch {
    parsed = null;
  }
  if (parsed === null || !URL_SCHEMES.includes(parsed.protocol)) {
    throw incompatible(
      'url',
      `url must be rank 0's WebSocket URL (ws:// or wss://), got ${JSON.stringify(url)}`,
      url,
      "pass e.g. 'ws://127.0.0.1:29500/' or `wss://${location.host}/collective`",
    );
  }
  return url as string;
}

/** Validates a browser rank's options into the star protocol's settings (BackendError 'IncompatibleSettings'). */
export function resolveBrowserWsOptions(options: BrowserWsOptions): StarSettings & { url: string } {
  checkOptionsObject('ws', options, '{ url, rank, size, … }');
  checkGroup(options.rank, options.size);
  const url = checkUrl(options.url);
  const star = resolveStarOptions(
    { backend: 'ws', warningCode: WS_WARNING_CODE, jobIdAdvice: "pass rank 0's job id, or omit it" },
    options,
  );
  return { ...star, url };
}

/**
 * Joins the group of the Node.js rank 0 serving `options.url` as rank `options.rank`, and resolves
 * with this rank's communicator once every rank has joined. Rejects with BackendError
 * 'IncompatibleSettings' (bad options) or 'InitializationFailed' (rank 0 unreachable or refusing this
 * page's origin, the handshake rejected, the group not formed within connectTimeoutSecs).
 */
export async function connectBrowserRank(options: BrowserWsOptions): Promise<Communicator> {
  const settings = resolveBrowserWsOptions(options);
  return joinAsWorker(settings, {
    address: settings.url,
    dial: browserDialer(settings.url, options.WebSocket),
    unreachableAdvice: UNREACHABLE_ADVICE,
  });
}
