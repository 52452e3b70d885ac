import { createLocalCommunicator } from '../../../src/backends/local/index.js';
import { runCaseOnRank, type World, type WorldFactory } from '../world.js';

/** The local backend: one rank, in the test process itself. */
export const localWorlds: WorldFactory = {
  backend: 'local',
  sizes: [1],
  async start(size: number): Promise<World> {
    if (size !== 1) throw new Error('the local backend has exactly one rank');
    const comm = createLocalCommunicator();
    return {
      size: 1,
      run: async (caseName) => [await runCaseOnRank(comm, caseName)],
      close: () => comm.close(),
    };
  },
};
