/** Every backend's world factory. A new backend adds one line here. */
import { mpiHere } from '../support/mpirun.js';
import type { WorldFactory } from './world.js';
import { localWorlds } from './worlds/local.js';
import { mpiWorlds } from './worlds/mpi.js';
import { shmWorlds } from './worlds/shm.js';
import { tcpDirectWorlds, tcpWorlds, wsWorlds } from './worlds/tcp.js';

export const FACTORIES: readonly WorldFactory[] = [
  localWorlds,
  shmWorlds,
  tcpWorlds,
  tcpDirectWorlds,
  wsWorlds,
  // Only where mpirun runs and the addon loads (test/backends/mpi/without-mpi.test.ts covers the rest).
  ...(mpiHere() ? [mpiWorlds] : []),
];
