/** Every backend's world factory. A new backend adds one line here. */
import type { WorldFactory } from './world.js';
import { localWorlds } from './worlds/local.js';
import { shmWorlds } from './worlds/shm.js';
import { tcpWorlds, wsWorlds } from './worlds/tcp.js';

export const FACTORIES: readonly WorldFactory[] = [localWorlds, shmWorlds, tcpWorlds, wsWorlds];
