/** The worker module of the launch measurement: connected once the first barrier completes. */
import type { Communicator } from '../../src/communicator/communicator.js';

/** Milliseconds since the epoch with sub-millisecond resolution, comparable across processes. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export default async function connected(comm: Communicator): Promise<number> {
  await comm.barrier();
  return epochMs();
}
