/**
 * At most `n` of the given jobs at once, in the order they were asked for: tests that start many
 * processes overlap their start-up on both cores without piling every process onto them at once.
 */
export function limitConcurrency(n: number): <T>(job: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await job();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/** Waits for every job, then fails with the first failure: no job outlives the test that started it. */
export async function allThenFirstFailure(jobs: ReadonlyArray<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(jobs)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}
