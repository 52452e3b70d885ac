import { describe, expect, it } from 'vitest';
import { stallWarningMessage } from '../../src/communicator/errors.js';

describe('stallWarningMessage', () => {
  it('names the collective, the one missing rank, the time waited and the fatal timeout', () => {
    expect(stallWarningMessage(12, 'allreduce', [3], 60_000, 1800)).toBe(
      'collective #12 (allreduce): waiting 60.0 s for rank 3; still waiting — the fatal timeout is 1800 s (COLLECTIVE_TIMEOUT_SECS)',
    );
  });

  it('lists several missing ranks and rounds the wait to a tenth of a second', () => {
    expect(stallWarningMessage(7, 'barrier', [2, 3], 120_049, 30)).toBe(
      'collective #7 (barrier): waiting 120.0 s for ranks 2, 3; still waiting — the fatal timeout is 30 s (COLLECTIVE_TIMEOUT_SECS)',
    );
  });
});
