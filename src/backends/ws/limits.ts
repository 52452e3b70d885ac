/**
 * The WebSocket message limit (spec/backend-ws.md §5) and the warning code, shared by the Node and browser sides: no
 * `node:` import, so it is safe on the browser path.
 */
import { FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD } from '../star/protocol.js';

/**
 * The largest WebSocket message either side sends or accepts (bytes): two of the largest frames
 * (2 × (MAX_FRAME_PAYLOAD + FRAME_HEADER_BYTES) = 8 MiB + 138 B). Every link write is one message;
 * the frame writer cuts batches at whole frames to stay within it (Link.maxBatchBytes), and a
 * single frame is never larger than half of it.
 */
export const WS_MAX_MESSAGE_BYTES = 2 * (MAX_FRAME_PAYLOAD + FRAME_HEADER_BYTES);

/**
 * Connections rank 0 holds in the handshake at once over ws (spec/backend-ws.md §5.2), instead of
 * tcp's 64: each may make rank 0 buffer one message of up to WS_MAX_MESSAGE_BYTES before it proves
 * anything, so the table bounds that memory at 8 × 8 MiB = 64 MiB.
 */
export const WS_MAX_PENDING_HANDSHAKES = 8;

/** The code of the ws backend's default warnings, Node.js and browser ranks alike (as COLLECTIVE_TCP for tcp). */
export const WS_WARNING_CODE = 'COLLECTIVE_WS';
