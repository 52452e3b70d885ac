/**
 * Tests print results, not noise: a warning a test expects is recorded here instead of printed, and the
 * test asserts it. recordWarnings() takes the place of this thread's 'warning' listeners (Node's default
 * one prints to stderr) until stop(); take() returns what was emitted since the last take().
 */
import { availableParallelism } from 'node:os';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
export interface RecordedWarning {
  readonly name: string;
  readonly code: string | undefined;
  readonly message: string;
}

export interface WarningRecorder {
  /** The warnings emitted since the last take(), oldest first; clears them. */
  take(): RecordedWarning[];
  /** Puts the original listeners back. */
  stop(): void;
}

export function recordWarnings(): WarningRecorder {
  const original = process.listeners('warning');
  const recorded: RecordedWarning[] = [];
  const record = (warning: Error & { code?: string }): void => {
    recorded.push({ name: warning.name, code: warning.code, message: warning.message });
  };
  process.removeAllListeners('warning');
  process.on('warning', record);
  return {
    take: () => recorded.splice(0),
    stop: () => {
      process.off('warning', record);
      for (const listener of original) process.on('warning', listener);
    },
  };
}

/** The codes of the warnings, in order (the name when a warning has no code). */
export function codes(warnings: readonly RecordedWarning[]): string[] {
  return warnings.map((w) => w.code ?? w.name);
}

/**
 * The 'warning' event comes a tick after process.emitWarning(); awaiting this lets every warning emitted
 * so far arrive before a take().
 */
export function warningsDelivered(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Whether a warning is COLLECTIVE_OVERSUBSCRIBED for a launch of more ranks than this machine has cores
 * (`N shm ranks …`): due on a 2-core machine for 3 workers, never on a machine with more cores.
 */
export function isDueOversubscription(warning: RecordedWarning): boolean {
  const ranks = Number(/^(\d+) /.exec(warning.message)?.[1]);
  return warning.code === 'COLLECTIVE_OVERSUBSCRIBED' && ranks > availableParallelism();
}

/**
 * For a file whose tests launch more workers than cores: records every warning, and after each test
 * fails on any warning other than a due oversubscription (those are asserted by test/launch/oversubscription.test.ts).
 */
export function onlyOversubscriptionWarnings(): void {
  let warnings: WarningRecorder | undefined;
  beforeAll(() => {
    warnings = recordWarnings();
  });
  afterEach(async () => {
    await warningsDelivered();
    const unexpected = (warnings?.take() ?? []).filter((w) => !isDueOversubscription(w));
    expect(unexpected, 'unexpected warnings').toEqual([]);
  });
  afterAll(() => warnings?.stop());
}
