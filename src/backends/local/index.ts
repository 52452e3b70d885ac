/**
 * The local backend: one rank, identity semantics, always available — the fallback of the selection
 * chain. Its implementation is the contract's one-rank communicator (src/communicator/one-rank.ts).
 */
import type { Communicator } from '../../communicator/communicator.js';
import { createOneRankCommunicator } from '../../communicator/one-rank.js';

export function createLocalCommunicator(): Communicator {
  return createOneRankCommunicator();
}
