/**
 * The CommErrors the tcp backend raises on its own (spec/backend-tcp.md §7); mismatches use the
 * shared mismatchError so every backend words them alike.
 */
import { CommError } from '../../communicator/errors.js';
import { ProtocolError } from './protocol.js';
import type { StarBackendName } from './options.js';

/** How a peer's connection ended, for the message naming it: a clean close, a socket error, or a protocol violation. */
export function whyEnded(error: Error | null): string {
  if (error === null) return 'disconnected (its process died or closed the socket)';
  if (error instanceof ProtocolError) return `broke the protocol (${error.message})`;
  const code = (error as NodeJS.ErrnoException).code;
  return `lost its connection (${code ?? error.message})`;
}

export function peerFailed(operation: string, rank: number, why: string): CommError {
  return new CommError(
    'CollectiveFailed',
    operation,
    `rank ${rank} ${why}; the group cannot continue. Find why rank ${rank} stopped (its own error or exit), then create a new communicator.`,
    { rank },
  );
}

/** `detail`: what each silent rank was last seen doing (spec §7.2); "never arrived" when absent. */
export function timedOut(
  operation: string,
  sequence: number,
  missing: readonly number[],
  seconds: number,
  detail = '',
): CommError {
  const who = missing.length === 1 ? `rank ${missing[0]}` : `ranks ${missing.join(',')}`;
  const what = detail === '' ? `${who} never arrived` : detail;
  return new CommError(
    'Timeout',
    operation,
    `collective #${sequence} made no progress for ${seconds} s: ${what}. Look at what ${who} ${missing.length === 1 ? 'is' : 'are'} doing, or raise COLLECTIVE_TIMEOUT_SECS if the work between collectives is long.`,
    { sequence, missing: [...missing], timeoutSecs: seconds, ...(detail === '' ? {} : { lastSeen: detail }) },
  );
}

/**
 * The Timeout a rank gets when rank 0 gave up waiting for it (it was stopped or starved past the
 * timeout): it names this rank as the cause, with what rank 0 last saw of it (spec §7.2).
 */
export function gaveUpOnThisRank(
  operation: string,
  sequence: number,
  rank: number,
  missing: readonly number[],
  seconds: number,
  detail: string,
  backend: StarBackendName,
): CommError {
  const others = missing.filter((r) => r !== rank);
  const also =
    others.length === 0 ? '' : ` (and for rank${others.length === 1 ? '' : 's'} ${others.join(',')})`;
  const seen = detail === '' ? '' : `: ${detail}`;
  return new CommError(
    'Timeout',
    operation,
    `collective #${sequence}: the ${backend} group gave up waiting for this rank (rank ${rank})${also} after ${seconds} s without progress${seen}. This process was not running or not reading (stopped, paused in a debugger, or starved of CPU); find why, or raise COLLECTIVE_TIMEOUT_SECS if the work between collectives is long.`,
    {
      sequence,
      missing: [...missing],
      timeoutSecs: seconds,
      rank,
      ...(detail === '' ? {} : { lastSeen: detail }),
    },
  );
}

const KIB = 1024;
const MIB = 1024 * 1024;
const GIB = 1024 * 1024 * 1024;

/** Bytes for people: "512 B", "1.5 KiB", "64.0 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes < KIB) return `${bytes} B`;
  if (bytes < MIB) return `${(bytes / KIB).toFixed(1)} KiB`;
  if (bytes < GIB) return `${(bytes / MIB).toFixed(1)} MiB`;
  return `${(bytes / GIB).toFixed(1)} GiB`;
}

export function formatSecs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Later calls on a communicator whose group failed reject with the first failure, restated. */
export function alreadyFailed(operation: string, failure: CommError): CommError {
  return new CommError('CollectiveFailed', operation, `the group failed earlier: ${failure.message}`, {
    ...failure.details,
    rank:
      (failure.details['rank'] as number | undefined) ??
      (failure.details['missing'] as number[] | undefined)?.[0],
    cause: failure.code,
  });
}

export function closedInFlight(operation: string): CommError {
  return new CommError(
    'InvalidCommunicator',
    operation,
    'the communicator was closed while this collective was in flight.',
    {},
  );
}

/** What the message layer's pending operations reject with when this rank closes (spec §12.5). */
export function closedForMessages(): CommError {
  return new CommError(
    'InvalidCommunicator',
    'message',
    'the communicator was closed while a message operation was pending (or before it was posted).',
    {},
  );
}
