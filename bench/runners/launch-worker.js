/**
 * The worker module of the launch measurement (spec/performance.md §2.4): connected once the first
 * barrier completes. Plain JavaScript, as the launch target states (`.js` workers load no tsx); its
 * clock is launch.ts's `epochMs`, repeated here because this file is not compiled.
 *
 * @param {import('../../src/communicator/communicator.js').Communicator} comm
 * @returns {Promise<number>} milliseconds since the epoch once every rank has joined.
 */
export default async function connected(comm) {
  await comm.barrier();
  return performance.timeOrigin + performance.now();
}
