/**
 * The backend table's preload (spec/selection.md §2): it loads what the row's start will load, and a
 * launcher's rank calls it without awaiting, so it must never reject — a module that fails to load is
 * start's to report, as BackendNotAvailable.
 */
import { describe, expect, it } from 'vitest';
import { BACKEND_NAMES, rowOf } from '../../src/selection/backends.js';

describe('preload', () => {
  it.each(BACKEND_NAMES)('%s: resolves (it never rejects)', async (name) => {
    await expect(rowOf(name).preload()).resolves.toBeUndefined();
  });

  it('local: a started rank after preload is the same as without it', async () => {
    await rowOf('local').preload();
    const comm = await rowOf('local').start({ backend: 'local' } as never, { onWarning: () => {} });
    expect(comm.size).toBe(1);
    await comm.close();
  });
});
