/**
 * The data movements of the direct algorithms (spec/backend-tcp.md §13.3–13.5), after the agreement
 * round: pairwise messages of one call's {@link BlockMover}, every receive naming its source. The
 * patterns are MPICH's (Thakur, Rabenseifner, Gropp, "Optimization of Collective Communication
 * Operations in MPICH", IJHPCA 2005): allreduce as a reduce-scatter then an allgather, broadcast as
 * a scatter then an allgather (van de Geijn), with every pair exchanging directly.
 *
 * Every promise that runs beside others is made quiet at once (a rejection handler attached), so a
 * group that fails mid-call rejects the call once, with the first failure, and leaves no unhandled
 * rejection behind.
 */
import { dtypeOf, type DType, type NumericArray, type ReduceOp } from '../dtypes.js';
import { reduceStepFor } from '../reduce.js';
import { sameBytes, type BlockMover } from '../rooted/blocks.js';

/**
 * Elements [lo, hi) of part `index` when `n` elements are split into `parts` near-equal parts: the
 * first `n % parts` parts have one element more. Every rank computes the same split from n alone.
 */
export function partOf(n: number, parts: number, index: number): [number, number] {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const lo = index * base + Math.min(index, extra);
  return [lo, lo + base + (index < extra ? 1 : 0)];
}

/** `promise`, with a handler attached so that its rejection is never unhandled (it still rejects). */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/**
 * The elements of staging rank `rank` needs for {@link reduceScatterAllgather}: room for the other
 * ranks' parts of its own range, (size − 1) × ⌈n / size⌉ at most. Not in place, rank > 0 receives
 * rank 0's part straight into recv and needs one part less.
 */
export function stagingLength(n: number, size: number, rank: number, inPlace: boolean): number {
  const [lo, hi] = partOf(n, size, rank);
  const others = rank > 0 && !inPlace ? size - 2 : size - 1;
  return others * (hi - lo);
}

/**
 * Allreduce as a direct reduce-scatter then a direct allgather (§13.3). Rank r owns part r of the
 * elements; it sends part q of `send` to every rank q, receives every other rank's part r, folds the
 * `size` parts strictly in rank order with the shared kernel's step (x0 ∘ x1 ∘ … ∘ x[size-1], the
 * star's order, so the same bits), then sends its reduced part to every rank and receives theirs
 * into `recv`. `recv` may be `send` (in place): a part of recv is written only after this rank's
 * send of that part of `send` has completed, and this rank's own input is read before its reduced
 * part lands on it. `staging` has {@link stagingLength} elements.
 */
export async function reduceScatterAllgather(
  mover: BlockMover,
  rank: number,
  size: number,
  send: NumericArray,
  recv: NumericArray,
  op: ReduceOp,
  staging: NumericArray,
): Promise<void> {
  const n = send.length;
  if (n === 0) return;
  const inPlace = sameBytes(send, recv);
  const [lo, hi] = partOf(n, size, rank);
  const m = hi - lo;
  const own = send.subarray(lo, hi);
  const out = recv.subarray(lo, hi);
  const sent: Array<Promise<void>> = [];
  const received: Array<Promise<void>> = [];
  const parts: NumericArray[] = [];
  let slot = 0;
  // Reduce-scatter: post every send and every receive at once.
  for (let q = 0; q < size; q++) {
    if (q === rank) continue;
    const [qlo, qhi] = partOf(n, size, q);
    sent[q] = quiet(mover.send(q, send.subarray(qlo, qhi)));
    // Rank 0's part starts the fold, so it may land in out, unless out is still this rank's input.
    const into = q === 0 && !inPlace ? out : staging.subarray(slot * m, ++slot * m);
    parts[q] = into;
    received[q] = quiet(mover.recv(q, into));
  }
  // Fold in rank order, each part as soon as it (and every lower rank's) is in.
  const step = reduceStepFor(dtypeOf(send) as DType, op);
  let acc: NumericArray;
  if (rank === 0) {
    acc = out;
    if (!inPlace) (out as Float64Array).set(own as Float64Array);
  } else {
    await received[0];
    acc = parts[0] as NumericArray;
  }
  for (let q = 1; q < size; q++) {
    if (q === rank) {
      step(acc, own, 0, m);
    } else {
      await received[q];
      step(acc, parts[q] as NumericArray, 0, m);
    }
  }
  if (acc !== out) (out as Float64Array).set(acc as Float64Array);
  // Allgather: out to every rank; rank q's reduced part into recv once our input part q has left.
  const gathered: Array<Promise<void>> = [];
  for (let q = 0; q < size; q++) {
    if (q === rank) continue;
    const [qlo, qhi] = partOf(n, size, q);
    gathered.push(mover.send(q, out));
    gathered.push((sent[q] as Promise<void>).then(() => mover.recv(q, recv.subarray(qlo, qhi))));
  }
  await Promise.all(gathered);
}

/**
 * Allgatherv as a direct exchange (§13.4): this rank's block to every other rank, every other
 * rank's block straight into recv at its displacement; this rank's own block is copied (unless send
 * is already that block of recv).
 */
export async function exchangeBlocks(
  mover: BlockMover,
  rank: number,
  size: number,
  send: NumericArray,
  recv: NumericArray,
  counts: readonly number[],
  displs: readonly number[],
): Promise<void> {
  const blockOf = (q: number): NumericArray =>
    recv.subarray(displs[q] as number, (displs[q] as number) + (counts[q] as number));
  const moves: Array<Promise<void>> = [];
  for (let q = 0; q < size; q++) {
    if (q === rank) continue;
    moves.push(mover.send(q, send), mover.recv(q, blockOf(q)));
  }
  const own = blockOf(rank);
  if (!sameBytes(send, own)) (own as Float64Array).set(send as Float64Array);
  await Promise.all(moves);
}

/**
 * Broadcast as a scatter then an allgather among the non-root ranks (§13.5, van de Geijn): the
 * buffer is split into size − 1 parts, part j goes from the root to the j-th non-root rank, and
 * each non-root rank sends its part to every other non-root rank once it has it. The root sends n
 * elements once; every other rank receives n and sends (size − 2)/(size − 1) of n. With two ranks
 * the root sends the whole buffer.
 */
export async function scatterAllgather(
  mover: BlockMover,
  rank: number,
  size: number,
  buf: NumericArray,
  root: number,
): Promise<void> {
  const n = buf.length;
  const others = size - 1;
  const rankAt = (j: number): number => (j < root ? j : j + 1);
  const part = (j: number): NumericArray => {
    const [lo, hi] = partOf(n, others, j);
    return buf.subarray(lo, hi);
  };
  if (rank === root) {
    await Promise.all(Array.from({ length: others }, (_, j) => mover.send(rankAt(j), part(j))));
    return;
  }
  const me = rank < root ? rank : rank - 1;
  const mine = part(me);
  const scattered = quiet(mover.recv(root, mine));
  const moves: Array<Promise<void>> = [scattered];
  for (let j = 0; j < others; j++) {
    if (j === me) continue;
    const q = rankAt(j);
    moves.push(
      mover.recv(q, part(j)),
      scattered.then(() => mover.send(q, mine)),
    );
  }
  await Promise.all(moves);
}
