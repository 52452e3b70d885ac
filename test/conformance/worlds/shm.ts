import { ThreadWorld } from '../../backends/shm/thread-world.js';
import { WORLD_TIMEOUT_SECS, type World, type WorldFactory } from '../world.js';

/** The shm backend: one worker thread per rank, all joined to one shm group. */
export const shmWorlds: WorldFactory = {
  backend: 'shm',
  sizes: [1, 2, 4, 8],
  async start(size, options = {}): Promise<World> {
    return ThreadWorld.start({ size, timeoutSecs: options.timeoutSecs ?? WORLD_TIMEOUT_SECS });
  },
};
