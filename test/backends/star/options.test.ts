/**
 * The star transports' shared options (src/backends/star/options.ts, listen-address.ts;
 * spec/backend-tcp.md §1, spec/backend-ws.md §9.1): tcp, ws on Node.js and a browser rank apply
 * the same rules with the same messages, each error named for its own backend from the start
 * (`tcp: …`, `ws: …`), and each backend's default warnings carry its own code.
 */
import { describe, expect, it } from 'vitest';
import { resolveTcpOptions } from '../../../src/backends/tcp/options.js';
import { resolveBrowserWsOptions } from '../../../src/backends/ws/browser-rank.js';
import { resolveWsOptions } from '../../../src/backends/ws/options.js';
import { BackendError } from '../../../src/communicator/errors.js';
import { recordWarnings, warningsDelivered } from '../../support/warnings.js';

const BASE = { host: '127.0.0.1', timeoutSecs: 30, connectTimeoutSecs: 10 };
const RANK0 = { ...BASE, rank: 0, size: 2, port: 0 };
const RANK1 = { ...BASE, rank: 1, size: 2, port: 29500 };

function errorOf(resolve: () => unknown): BackendError {
  try {
    resolve();
  } catch (error) {
    if (error instanceof BackendError) return error;
    throw error;
  }
  throw new Error('expected a BackendError, got settings');
}

/** One bad field each; every row is refused by tcp and by ws. */
const BAD: Array<[string, object]> = [
  ['size 0', { ...RANK0, size: 0 }],
  ['rank = size', { ...RANK0, rank: 2 }],
  ['rank -1', { ...RANK0, rank: -1 }],
  ['port 70000', { ...RANK0, port: 70000 }],
  ['port 0 on rank 1', { ...RANK1, port: 0 }],
  ['timeoutSecs 0', { ...RANK0, timeoutSecs: 0 }],
  ['connectTimeoutSecs NaN', { ...RANK0, connectTimeoutSecs: NaN }],
  ['stallWarningSecs -1', { ...RANK0, stallWarningSecs: -1 }],
  ['chunkBytes 12', { ...RANK0, chunkBytes: 12 }],
  ['jobId of 130 UTF-8 bytes', { ...RANK0, jobId: 'é'.repeat(65) }],
  ['a token that is not a string', { ...RANK0, token: 5 }],
  ["host ''", { ...RANK0, host: '' }],
  ["bindAddr ''", { ...RANK0, bindAddr: '' }],
  ['an unspecified host on rank 0', { ...RANK0, host: '0.0.0.0' }],
  ['an unspecified host on rank 1', { ...RANK1, host: '::' }],
  ['a LAN bindAddr without a token', { ...RANK0, bindAddr: '10.1.2.3' }],
  ['a wildcard bindAddr without a token', { ...RANK0, bindAddr: '0.0.0.0' }],
];

describe('the star transports share their option rules', () => {
  for (const [name, options] of BAD) {
    it(`${name}: tcp and ws refuse it with the same message, each under its own name`, () => {
      const tcp = errorOf(() => resolveTcpOptions(options as never));
      const ws = errorOf(() => resolveWsOptions(options as never));
      expect(tcp.kind).toBe('IncompatibleSettings');
      expect(tcp.message).toMatch(/^tcp: /);
      expect(ws.kind).toBe(tcp.kind);
      expect(ws.message).toBe(tcp.message.replace(/^tcp: /, 'ws: '));
      expect(ws.message).not.toMatch(/\btcp: /);
      expect(ws.context).toEqual(tcp.context);
      expect(ws.suggestion).toBe(tcp.suggestion);
    });
  }

  it('a browser rank refuses the shared fields with the Node.js ws messages', () => {
    const browser = {
      url: 'ws://127.0.0.1:29500/',
      rank: 1,
      size: 2,
      timeoutSecs: 30,
      connectTimeoutSecs: 10,
    };
    for (const bad of [
      { timeoutSecs: 0 },
      { connectTimeoutSecs: Infinity },
      { stallWarningSecs: -1 },
      { chunkBytes: 12 },
      { jobId: 'é'.repeat(65) },
      { token: 5 },
    ]) {
      const node = errorOf(() => resolveWsOptions({ ...RANK1, ...bad } as never));
      const page = errorOf(() => resolveBrowserWsOptions({ ...browser, ...bad } as never));
      expect(page.kind).toBe('IncompatibleSettings');
      expect(page.message.replace(` — ${page.suggestion}`, '')).toBe(
        node.message.replace(` — ${node.suggestion}`, ''),
      );
      expect(page.context).toEqual(node.context);
    }
  });

  it("each backend's default warnings carry its own code (COLLECTIVE_TCP, COLLECTIVE_WS)", async () => {
    const warnings = recordWarnings();
    try {
      resolveTcpOptions(RANK0).warn('from tcp');
      resolveWsOptions(RANK0).warn('from ws');
      resolveBrowserWsOptions({
        url: 'ws://127.0.0.1:29500/',
        rank: 1,
        size: 2,
        timeoutSecs: 30,
        connectTimeoutSecs: 10,
      }).warn('from a page');
      resolveWsOptions(RANK0).warnStall('stalled');
      await warningsDelivered();
      expect(warnings.take()).toEqual([
        { name: 'Warning', code: 'COLLECTIVE_TCP', message: 'from tcp' },
        { name: 'Warning', code: 'COLLECTIVE_WS', message: 'from ws' },
        { name: 'Warning', code: 'COLLECTIVE_WS', message: 'from a page' },
        { name: 'CollectiveWarning', code: 'COLLECTIVE_STALL', message: 'stalled' },
      ]);
    } finally {
      warnings.stop();
    }
  });
});
