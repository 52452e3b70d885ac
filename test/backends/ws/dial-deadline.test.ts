/**
 * A worker's connect timeout bounds every dial (spec/backend-tcp.md §3.5, §11): a peer that accepts
 * the TCP connection but never answers — a WebSocket upgrade that never completes, a silent proxy, a
 * process stopped in a debugger — makes the worker fail with InitializationFailed at its connect
 * timeout, on every link: tcp, ws on Node.js, and a browser rank's dialer (exercised here with ws's
 * WebSocket class, as a page's WebSocket behaves the same: it stays CONNECTING).
 */
import { createServer, type Server, type Socket } from 'node:net';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTcp } from '../../../src/backends/tcp/index.js';
import { connectWs } from '../../../src/backends/ws/index.js';
import { connectBrowserRank } from '../../../src/backends/ws/browser-rank.js';
import type { WebSocketConstructor } from '../../../src/backends/ws/browser-link.js';
import { BackendError } from '../../../src/communicator/errors.js';
import type { Communicator } from '../../../src/communicator/communicator.js';

const CONNECT_TIMEOUT_SECS = 1;
/**
 * Generous: the failure must come at the connect timeout plus the last attempt's grace, not at ws's
 * 10 s upgrade timeout (Node.js) or never (a page's WebSocket has no timeout of its own).
 */
const DETECTION_BOUND_MS = 6000;

/** Generous: the given-up attempt's socket closes at once, not at ws's 10 s upgrade timeout or never. */
const ABANDON_BOUND_MS = 3000;

const servers: Server[] = [];
const held: Socket[] = [];
const heldClosed: Array<Promise<void>> = [];
afterEach(() => {
  for (const socket of held.splice(0)) socket.destroy();
  heldClosed.length = 0;
  for (const server of servers.splice(0)) server.close();
});

/** Accepts TCP connections and never writes a byte. */
async function silentServer(): Promise<number> {
  const server = createServer((socket) => {
    held.push(socket);
    socket.resume(); // reads (and drops) what arrives, so the peer's close is seen
    heldClosed.push(new Promise((resolve) => socket.once('close', () => resolve())));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/**
 * Whether every connection the silent server accepted was closed by the worker within
 * ABANDON_BOUND_MS of its failure: a given-up dial must not leave a socket that keeps the
 * process alive (spec/backend-tcp.md §11).
 */
async function abandonedSocketsClose(): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ABANDON_BOUND_MS)));
  const closed = Promise.all(heldClosed).then(() => true as const);
  const outcome = await Promise.race([closed, late]);
  clearTimeout(timer);
  return outcome;
}

async function failure(join: Promise<Communicator>): Promise<{ error: BackendError; ms: number }> {
  const started = Date.now();
  const error = await join.then(
    async (comm) => {
      await comm.close();
      throw new Error('joined a silent server');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BackendError);
  return { error: error as BackendError, ms: Date.now() - started };
}

describe('a dial to a peer that never answers ends at the connect timeout', () => {
  const base = { rank: 1, size: 2, timeoutSecs: 30, connectTimeoutSecs: CONNECT_TIMEOUT_SECS };

  it('tcp', async () => {
    const port = await silentServer();
    const { error, ms } = await failure(connectTcp({ ...base, host: '127.0.0.1', port }));
    expect(error.kind).toBe('InitializationFailed');
    expect(ms).toBeLessThan(DETECTION_BOUND_MS);
    expect(await abandonedSocketsClose()).toBe(true);
  });

  it('ws on Node.js (the upgrade never completes)', async () => {
    const port = await silentServer();
    const { error, ms } = await failure(connectWs({ ...base, host: '127.0.0.1', port }));
    expect(error.kind).toBe('InitializationFailed');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(ms).toBeLessThan(DETECTION_BOUND_MS);
    expect(await abandonedSocketsClose()).toBe(true);
  });

  it("a browser rank's dialer (the page's WebSocket stays CONNECTING)", async () => {
    const port = await silentServer();
    const { error, ms } = await failure(
      connectBrowserRank({
        ...base,
        url: `ws://127.0.0.1:${port}/`,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
      }),
    );
    expect(error.kind).toBe('InitializationFailed');
    expect(error.message).toContain(`ws://127.0.0.1:${port}/`);
    expect(error.message).toMatch(/no answer|timed out|within/);
    expect(ms).toBeLessThan(DETECTION_BOUND_MS);
    expect(await abandonedSocketsClose()).toBe(true);
  });
});
