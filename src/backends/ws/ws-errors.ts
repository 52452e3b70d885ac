/**
 * What a WebSocket link reports when it ends or cannot be dialled (spec/backend-ws.md §5, §7): close
 * codes turned into errors that say what happened and what to do, and dial failures sorted into the
 * link layer's classes. Pure and transport-neutral (no `node:` import, no `ws` import): shared by
 * the Node link (`ws-link.ts`) and the browser link (`browser-link.ts`).
 */
import type { DialError, DialFailure } from '../link/link.js';

/** Close codes (RFC 6455 §7.4.1) that end a link cleanly: normal, going away (a tab closed), no status. */
export const CLEAN_CLOSE_CODES: readonly number[] = [1000, 1001, 1005];

/** RFC 6455 close code for a message larger than the receiver accepts (its `maxPayload`). */
export const CLOSE_MESSAGE_TOO_BIG = 1009;

/** RFC 6455 close code for a connection dropped without a close frame (never sent on the wire). */
export const CLOSE_ABNORMAL = 1006;

/** Bytes of an HTTP refusal's body quoted in a DialError message. */
export const MAX_QUOTED_BODY_CHARS = 400;

/**
 * Why a WebSocket link ended abnormally. `code`: a stable string (`WS_CLOSE_1009`, `WS_PING_TIMEOUT`,
 * `WS_TEXT_MESSAGE`, or the transport's own code such as `ECONNRESET`); `closeCode`: the RFC 6455
 * close code when one was received or implied (1006 when the connection simply dropped).
 */
export class WsLinkError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly closeCode?: number,
  ) {
    super(message);
    this.name = 'WsLinkError';
  }
}

const CLOSE_MEANINGS: Record<number, string> = {
  1002: 'protocol error',
  1003: 'unsupported data',
  1006: 'the connection dropped without a close frame',
  1007: 'invalid message data',
  1008: 'policy violation',
  1009: "message too big: a batch exceeded the receiver's maxPayload",
  1010: 'missing extension',
  1011: 'internal error in the peer',
  1012: 'service restart',
  1013: 'try again later',
  1015: 'TLS handshake failure',
};

/**
 * The link's close report for a WebSocket close `code` and `reason` as seen by this side: null for
 * a clean close (CLEAN_CLOSE_CODES), else a WsLinkError naming the code and what it means.
 */
export function closeError(peer: string, code: number, reason: string): WsLinkError | null {
  if (CLEAN_CLOSE_CODES.includes(code)) return null;
  const meaning = CLOSE_MEANINGS[code] ?? (code >= 4000 ? 'application close code' : 'unknown close code');
  const why = reason ? `: ${reason}` : '';
  const advice =
    code === CLOSE_MESSAGE_TOO_BIG
      ? ' (both sides must use the same frame limit: pass it as maxPayload)'
      : code === CLOSE_ABNORMAL
        ? ' (the peer exited, lost its network, or a proxy cut the connection)'
        : '';
  return new WsLinkError(
    `WebSocket link to ${peer} closed with code ${code} (${meaning})${why}${advice}`,
    `WS_CLOSE_${code}`,
    code,
  );
}

/** The HTTP status in a `ws` handshake failure message ("Unexpected server response: 404"). */
const UNEXPECTED_RESPONSE = /Unexpected server response: (\d{3})/;

/**
 * Sorts one failed dial into the link layer's classes (spec/backend-ws.md §7). `errno`: the
 * transport's code when known (`ECONNREFUSED`…); `status`: the HTTP status of a refused upgrade;
 * `body`: that response's body (the listener names the allowed origins there).
 */
export function classifyDial(
  url: string,
  failure: { errno?: string | undefined; status?: number | undefined; message: string; body?: string },
): DialError {
  const status = failure.status ?? Number(UNEXPECTED_RESPONSE.exec(failure.message)?.[1] ?? NaN);
  const make = (kind: DialFailure, code: string | undefined, message: string): DialError => ({
    failure: kind,
    code,
    message,
  });
  if (Number.isInteger(status)) {
    const body = failure.body ? `: ${failure.body.slice(0, MAX_QUOTED_BODY_CHARS)}` : '';
    if (status === 404) {
      return make(
        'refused',
        'HTTP 404',
        `${url} is not served (HTTP 404): rank 0 may not be listening on this path yet`,
      );
    }
    if (status === 403) {
      return make(
        'other',
        'HTTP 403',
        `${url} refused this page's origin (HTTP 403)${body}; add the page's origin to rank 0's allowedOrigins`,
      );
    }
    return make(
      'other',
      `HTTP ${status}`,
      `${url} answered HTTP ${status} instead of a WebSocket upgrade${body}`,
    );
  }
  const errno = failure.errno;
  if (errno === 'ECONNREFUSED')
    return make('refused', errno, `${url}: connection refused (${failure.message})`);
  if (errno === 'ENOTFOUND')
    return make('unresolved', errno, `${url}: host name does not resolve (${failure.message})`);
  if (errno === 'EAI_AGAIN') {
    return make('unresolved-transient', errno, `${url}: name resolution failed for now (${failure.message})`);
  }
  return make('other', errno, `${url}: ${failure.message}`);
}
