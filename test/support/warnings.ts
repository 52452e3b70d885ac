/**
 * Tests print results, not noise: a warning a test expects is recorded here instead of printed, and the
 * test asserts it. recordWarnings() takes the place of this thread's 'warning' listeners (Node's default
 * one prints to stderr) until stop(); take() returns what was emitted since the last take().
 */
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
