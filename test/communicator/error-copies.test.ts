/**
 * `instanceof` across two copies of the package (spec/train.md §8.3): the second copy is the same
 * module loaded again under another id, as tsx loads a copy of its own for a CommonJS program.
 */
import { describe, expect, it } from 'vitest';
import * as errors from '../../src/communicator/errors.js';

/** A variable specifier: TypeScript does not resolve it, and vite loads it as a module of its own. */
const SECOND_COPY = '../../src/communicator/errors.ts?second-copy';

async function secondCopy(): Promise<typeof errors> {
  const other = (await import(/* @vite-ignore */ SECOND_COPY)) as typeof errors;
  expect(other.CommError, 'a second copy of the module').not.toBe(errors.CommError);
  return other;
}

describe('error classes of two copies of the package', () => {
  it('an error of one copy is an instance of the same class, and its bases, of the other', async () => {
    const other = await secondCopy();
    const comm = new other.CommError('InvalidRoot', 'broadcast', 'root 9 is not a rank');
    const backend = new other.BackendError('InvalidBackend', 'no such backend');
    const worker = new other.WorkerError(1, 1, null, null);
    expect(comm).toBeInstanceOf(errors.CommError);
    expect(comm).toBeInstanceOf(errors.CollectiveError);
    expect(comm).toBeInstanceOf(Error);
    expect(backend).toBeInstanceOf(errors.BackendError);
    expect(worker).toBeInstanceOf(errors.WorkerError);
    expect(new errors.CommError('Timeout', 'barrier', 'late')).toBeInstanceOf(other.CommError);
  });

  it('an error of one class is not an instance of another class of either copy', async () => {
    const other = await secondCopy();
    const backend = new other.BackendError('InvalidBackend', 'no such backend');
    expect(backend).not.toBeInstanceOf(errors.CommError);
    expect(backend).not.toBeInstanceOf(errors.WorkerError);
    expect(new Error('plain')).not.toBeInstanceOf(errors.CollectiveError);
    for (const value of [null, undefined, 'CommError', { name: 'CommError', code: 'Timeout' }]) {
      expect(value instanceof errors.CommError).toBe(false);
    }
  });

  it("a user's subclass keeps ordinary instanceof", () => {
    class RetryableError extends errors.CommError {}
    const retryable = new RetryableError('Timeout', 'barrier', 'late');
    expect(retryable).toBeInstanceOf(errors.CommError);
    expect(retryable).toBeInstanceOf(RetryableError);
    expect(new errors.CommError('Timeout', 'barrier', 'late')).not.toBeInstanceOf(RetryableError);
  });
});
