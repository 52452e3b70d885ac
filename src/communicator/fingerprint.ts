/**
 * A fingerprint says what a rank believes the current collective is. Every backend compares the
 * fingerprints of all ranks at the first synchronisation of every collective (spec/communicator.md §6)
 * and raises the same error on every rank when they differ; no data moves in that case.
 */
import { DTYPES, REDUCE_OPS, type DTypeName, type ReduceOp } from './dtypes.js';
import { CommError, COMM_ERROR_CODES, type CommErrorCode } from './errors.js';

export type CollectiveKind =
  | 'allreduce'
  | 'allgatherv'
  | 'broadcast'
  | 'barrier'
  | 'allgather'
  | 'bcast'
  | 'createSharedRegion'
  | 'fence'
  | RootedKind
  | 'split'
  | 'dup'
  | 'links';

/** The collectives on messages (rooted.ts, spec/communicator.md §4.10–4.15). */
export type RootedKind =
  | 'reduce'
  | 'gather'
  | 'gatherv'
  | 'scatter'
  | 'scatterv'
  | 'reduceScatter'
  | 'reduceScatterBlock'
  | 'alltoall'
  | 'alltoallv'
  | 'scan'
  | 'exscan';

export const COLLECTIVE_KINDS: readonly CollectiveKind[] = [
  'allreduce',
  'allgatherv',
  'broadcast',
  'barrier',
  'allgather',
  'bcast',
  'createSharedRegion',
  // Appended: the codes above are stable. A shared region's fence (shm), told apart from barrier().
  'fence',
  // Appended: the collectives on messages (rooted.ts); agreement is a barrier with these kinds.
  'reduce',
  'gather',
  'gatherv',
  'scatter',
  'scatterv',
  'reduceScatter',
  'reduceScatterBlock',
  'alltoall',
  'alltoallv',
  'scan',
  'exscan',
  // Appended: split() and dup() (spec/communicator.md §11), collectives of the parent.
  'split',
  'dup',
  // Appended: a tcp group's formation exchanges its direct-link addresses and policy (backend-tcp §14.1).
  'links',
];

export interface Fingerprint {
  readonly kind: CollectiveKind;
  readonly dtype: DTypeName | null;
  /** Elements the collective moves (allgatherv: the total), 0 when not meaningful. */
  readonly count: number;
  readonly op: ReduceOp | null;
  /** Root rank, -1 when the collective has none. */
  readonly root: number;
  /** A 32-bit digest of further layout (allgatherv counts), 0 when none. */
  readonly digest: number;
  /** Set when this rank's own arguments failed a precondition: it takes part only to tell the others. */
  readonly invalid: CommErrorCode | null;
}

export function fingerprint(
  kind: CollectiveKind,
  fields: Partial<Omit<Fingerprint, 'kind'>> = {},
): Fingerprint {
  return {
    kind,
    dtype: fields.dtype ?? null,
    count: fields.count ?? 0,
    op: fields.op ?? null,
    root: fields.root ?? -1,
    digest: fields.digest ?? 0,
    invalid: fields.invalid ?? null,
  };
}

export function fingerprintsEqual(a: Fingerprint, b: Fingerprint): boolean {
  return (
    a.kind === b.kind &&
    a.dtype === b.dtype &&
    a.count === b.count &&
    a.op === b.op &&
    a.root === b.root &&
    a.digest === b.digest &&
    a.invalid === b.invalid
  );
}

const FNV_OFFSET_BASIS = 0x811c9dc5;

/**
 * FNV-1a over 32-bit integers: cheap, stable, enough to tell two layouts apart. `seed` continues
 * another digest, so several arrays chain in order (XOR-ing separate digests would be symmetric).
 */
export function digestInts(values: ArrayLike<number>, seed = FNV_OFFSET_BASIS): number {
  let h = seed;
  for (let i = 0; i < values.length; i++) {
    h = Math.imul(h ^ ((values[i] as number) >>> 0), 0x01000193);
  }
  return h >>> 0;
}

export function describeFingerprint(f: Fingerprint): string {
  const parts: string[] = [];
  if (f.dtype) parts.push(`dtype=${f.dtype}`);
  if (f.kind !== 'barrier' && f.kind !== 'fence') parts.push(`count=${f.count}`);
  if (f.op) parts.push(`op=${f.op}`);
  if (f.root >= 0) parts.push(`root=${f.root}`);
  if (f.digest) parts.push(`layout=${f.digest.toString(16)}`);
  if (f.invalid) parts.push(`invalid arguments: ${f.invalid}`);
  return `${f.kind}(${parts.join(', ')})`;
}

/** Six little-endian 32-bit words: the form fingerprints take in shared memory and on the wire. */
export const FINGERPRINT_WORDS = 6;
export const FINGERPRINT_BYTES = FINGERPRINT_WORDS * 4;
const NONE = 0xff;
/** Codes by name: encodeFingerprint runs on every collective, and a Map look-up beats a search. */
const KIND_CODES = new Map<string, number>(COLLECTIVE_KINDS.map((k, i) => [k, i]));
const DTYPE_CODES = new Map<string, number>(DTYPES.map((d, i) => [d.name, i]));
const OP_CODES = new Map<string, number>(REDUCE_OPS.map((o, i) => [o, i]));
const INVALID_CODES = new Map<string, number>(COMM_ERROR_CODES.map((c, i) => [c, i]));

export function encodeFingerprint(
  f: Fingerprint,
  out: Int32Array = new Int32Array(FINGERPRINT_WORDS),
): Int32Array {
  const kind = KIND_CODES.get(f.kind) ?? -1;
  const dtype = f.dtype === null ? NONE : (DTYPE_CODES.get(f.dtype) ?? -1);
  const op = f.op === null ? NONE : (OP_CODES.get(f.op) ?? -1);
  const invalid = f.invalid === null ? NONE : (INVALID_CODES.get(f.invalid) ?? -1);
  out[0] = kind | (dtype << 8) | (op << 16) | (invalid << 24);
  out[1] = f.root;
  out[2] = (f.count % 0x1_0000_0000) | 0;
  out[3] = Math.floor(f.count / 0x1_0000_0000) | 0;
  out[4] = f.digest | 0;
  out[5] = 0;
  return out;
}

export function decodeFingerprint(words: ArrayLike<number>): Fingerprint {
  const w0 = (words[0] as number) >>> 0;
  const byte = (shift: number): number => (w0 >>> shift) & 0xff;
  const kind = COLLECTIVE_KINDS[byte(0)];
  if (kind === undefined) throw new RangeError(`fingerprint: unknown collective kind ${byte(0)}`);
  const dtype = byte(8) === NONE ? null : (DTYPES[byte(8)]?.name ?? null);
  const op = byte(16) === NONE ? null : (REDUCE_OPS[byte(16)] ?? null);
  const invalid = byte(24) === NONE ? null : (COMM_ERROR_CODES[byte(24)] ?? null);
  const count = ((words[3] as number) >>> 0) * 0x1_0000_0000 + ((words[2] as number) >>> 0);
  return {
    kind,
    dtype,
    count,
    op,
    root: words[1] as number,
    digest: (words[4] as number) >>> 0,
    invalid,
  };
}

/**
 * The error every rank raises when the fingerprints of one collective differ. Ranks are grouped by
 * what they called, so the message names who disagreed and how. When a rank took part only because
 * its own arguments were invalid, the error carries that rank's precondition code instead.
 */
export function mismatchError(
  operation: string,
  sequence: number,
  byRank: readonly Fingerprint[],
): CommError {
  const groups = new Map<string, number[]>();
  byRank.forEach((f, rank) => {
    const key = describeFingerprint(f);
    const ranks = groups.get(key);
    if (ranks) ranks.push(rank);
    else groups.set(key, [rank]);
  });
  const summary = [...groups].map(
    ([what, ranks]) => `rank${ranks.length > 1 ? 's' : ''} ${ranks.join(',')} called ${what}`,
  );
  const invalidRanks = byRank.flatMap((f, rank) => (f.invalid ? [rank] : []));
  const details = {
    sequence,
    ranks: [...groups].map(([what, ranks]) => ({ ranks, called: what })),
    fingerprints: byRank.map(describeFingerprint),
  };
  const firstInvalid = invalidRanks.length > 0 ? byRank[invalidRanks[0] as number] : undefined;
  if (firstInvalid?.invalid) {
    return new CommError(
      firstInvalid.invalid,
      operation,
      `collective #${sequence} was abandoned because rank${invalidRanks.length > 1 ? 's' : ''} ${invalidRanks.join(',')} passed invalid arguments (${firstInvalid.invalid}); the error raised on ${invalidRanks.length > 1 ? 'those ranks' : 'that rank'} says what to fix. (${summary.join('; ')})`,
      { ...details, invalidRanks },
    );
  }
  return new CommError(
    'CollectiveMismatch',
    operation,
    `ranks disagree on collective #${sequence}: ${summary.join('; ')}. Every rank must call the same collectives in the same order with the same dtype, count, op and root.`,
    details,
  );
}
