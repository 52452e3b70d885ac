import { ThreadWorld } from '../../backends/shm/thread-world.js';
import { WORLD_TIMEOUT_SECS, type World, type WorldFactory } from '../world.js';

/** The shm backend: one worker thread per rank, all joined to one shm group. */
export const shmWorlds: WorldFactory = {
  backend: 'shm',
  // 3 and 5: odd sizes and a prime catch off-by-one and power-of-two assumptions (STYLE.md).
  sizes: [1, 2, 3, 4, 5, 8],
  async start(size, options = {}): Promise<World> {
    return ThreadWorld.start({ size, timeoutSecs: options.timeoutSecs ?? WORLD_TIMEOUT_SECS });
  },
};
