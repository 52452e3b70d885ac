/** Rank programs for the shm-specific tests, run by rank-host.ts inside worker threads. */
import type { Communicator } from '../../../src/communicator/communicator.js';

export const SCENARIOS: Record<string, (comm: Communicator) => Promise<void>> = {};
