/**
 * src/communicator/platform.ts under Node.js: each helper does what Node.js code did before it existed
 * (process.emitWarning, setImmediate, timer.unref()), so adopting it changes nothing in Node.js.
 * Its browser fallbacks are tested in Chromium by test/browser/bundle.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { emitWarning, nextMacrotask, unrefTimer } from '../../src/communicator/platform.js';
import { recordWarnings, warningsDelivered } from '../support/warnings.js';

describe('platform helpers under Node.js', () => {
  it('emitWarning is process.emitWarning: name from type, code kept', async () => {
    const warnings = recordWarnings();
    try {
      emitWarning('collective #1 (allreduce): waiting 60.0 s for rank 1', {
        type: 'CollectiveWarning',
        code: 'COLLECTIVE_STALL',
      });
      emitWarning('no type given', { code: 'COLLECTIVE_TCP' });
      await warningsDelivered();
      expect(warnings.take()).toEqual([
        {
          name: 'CollectiveWarning',
          code: 'COLLECTIVE_STALL',
          message: 'collective #1 (allreduce): waiting 60.0 s for rank 1',
        },
        { name: 'Warning', code: 'COLLECTIVE_TCP', message: 'no type given' },
      ]);
    } finally {
      warnings.stop();
    }
  });

  it('nextMacrotask is setImmediate: after microtasks, in order with setImmediate callbacks', async () => {
    const order: string[] = [];
    const first = nextMacrotask().then(() => order.push('nextMacrotask'));
    setImmediate(() => order.push('setImmediate'));
    void Promise.resolve().then(() => order.push('microtask'));
    await first;
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(order).toEqual(['microtask', 'nextMacrotask', 'setImmediate']);
  });

  it('unrefTimer unrefs a Node.js timer and ignores values without unref()', () => {
    const timer = setInterval(() => {}, 60_000);
    try {
      expect(timer.hasRef()).toBe(true);
      unrefTimer(timer);
      expect(timer.hasRef()).toBe(false);
      expect(() => [unrefTimer(7), unrefTimer(null), unrefTimer(undefined)]).not.toThrow();
    } finally {
      clearInterval(timer);
    }
  });
});
