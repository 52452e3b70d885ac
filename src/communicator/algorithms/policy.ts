/**
 * Which algorithm moves a collective's data (spec/backend-tcp.md §13): the backend's own rounds
 * (the star, through rank 0) or direct pairwise messages between every two ranks — allreduce as a
 * direct reduce-scatter then allgather, allgatherv as direct exchange, broadcast as a scatter then
 * allgather (van de Geijn). Both are bit-identical at every size: the direct allreduce folds each
 * element's R contributions in rank order with the same kernel as the star (spec/communicator.md §5).
 *
 * Every rank of a group must hold the same policy (formation checks it): the choice is made from the
 * call's size alone, so equal policies make every rank choose the same path.
 */

/** `star`: always the backend's rounds; `direct`: always pairwise messages; `auto`: direct from the thresholds up. */
export type CollectiveAlgorithm = 'star' | 'direct' | 'auto';

/** The algorithm names, in the order messages list them. */
export const COLLECTIVE_ALGORITHMS: readonly CollectiveAlgorithm[] = ['star', 'direct', 'auto'];

/**
 * Under `auto`, a call of at least this many bytes goes direct: allreduce counts its send buffer,
 * allgatherv the whole receive layout (Σ counts × element size), broadcast the buffer.
 */
export interface DirectThresholds {
  allreduce: number;
  allgatherv: number;
  broadcast: number;
}

/**
 * Defaults for `auto` (bytes). Below them a direct call's extra round trips (the agreement round and
 * each phase's rendezvous, about three) outweigh spreading the bytes; where links are the limit,
 * direct was R/2 times faster than the star from 2 MiB (4 ranks on rate-limited namespace links,
 * spec/performance.md §4.6). The crossover depends on a cluster's links and cores:
 * `directThresholds` moves it.
 */
export const DEFAULT_DIRECT_THRESHOLDS: Readonly<DirectThresholds> = {
  allreduce: 256 * 1024,
  allgatherv: 256 * 1024,
  broadcast: 256 * 1024,
};

/** One group's policy: the algorithm and, for `auto`, the thresholds. */
export interface AlgorithmPolicy {
  readonly algorithm: CollectiveAlgorithm;
  readonly thresholds: DirectThresholds;
}

export type DirectCollective = keyof DirectThresholds;

/** True when a call of `bytes` bytes of `collective` takes the direct path under `policy`. */
export function goesDirect(policy: AlgorithmPolicy, collective: DirectCollective, bytes: number): boolean {
  if (policy.algorithm === 'direct') return true;
  if (policy.algorithm === 'star') return false;
  return bytes >= policy.thresholds[collective];
}
