/**
 * Turns a failure of the tcp backend to start into an InitializationFailed that names the address, the
 * errno and what to do (spec/selection.md §6). Errors the backend already typed pass through.
 */
import { BackendError, CollectiveError } from '../communicator/errors.js';
import { formatHostPort } from './addresses.js';
import { DNS_RETRY_SECS, LOOKUP_ERRNOS } from './coordinator-lookup.js';

const ADVICE: Readonly<Record<string, string>> = {
  ECONNREFUSED:
    'nothing listens there: check that rank 0 runs on that host and that every rank names the same COLLECTIVE_TCP_COORDINATOR and COLLECTIVE_TCP_PORT; raise COLLECTIVE_CONNECT_TIMEOUT_SECS if rank 0 starts late',
  EADDRINUSE:
    'another program (often a second job on this node) already uses this port: set COLLECTIVE_TCP_PORT to a free port, the same on every rank',
  EADDRNOTAVAIL:
    'this machine has no such address: run rank 0 on the coordinator host, or set COLLECTIVE_TCP_BIND_ADDR=0.0.0.0',
  ENOTFOUND:
    'the host name does not resolve: check the spelling in COLLECTIVE_TCP_COORDINATOR, or use an IP address or a name every node can resolve',
  EAI_AGAIN: `the host name does not resolve (the resolver did not answer for ${DNS_RETRY_SECS} s): check DNS on this node, or use an IP address in COLLECTIVE_TCP_COORDINATOR`,
  EAI_FAIL:
    'the host name does not resolve (the resolver failed): check DNS on this node, or use an IP address in COLLECTIVE_TCP_COORDINATOR',
  ENODATA:
    'the host name does not resolve to an address: use an IP address or a name with an A/AAAA record in COLLECTIVE_TCP_COORDINATOR',
  EACCES: 'the port needs privileges: pick a COLLECTIVE_TCP_PORT above 1023',
  ETIMEDOUT:
    'no answer before the connect timeout: check the firewall and the address, or raise COLLECTIVE_CONNECT_TIMEOUT_SECS',
};

const DEFAULT_ADVICE =
  'check COLLECTIVE_TCP_COORDINATOR / COLLECTIVE_TCP_PORT on every rank and that rank 0 is running (collective doctor shows what each rank sees)';

function errnoOf(error: unknown): string | undefined {
  for (let e: unknown = error; e !== null && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('E')) return code;
  }
  return undefined;
}

function errnoFromContext(error: BackendError): string | undefined {
  const errno = error.context['errno'];
  return typeof errno === 'string' ? errno : undefined;
}

/**
 * The tcp backend words its advice in its own terms (options, MASTER_*); at the selection level the
 * user sets COLLECTIVE_* variables, so a start failure with a known errno gets advice in those terms.
 */
export function tcpStartFailure(
  error: unknown,
  config: { rank: number; host: string; port: number; connectTimeoutSecs: number },
): Error {
  const typed = error instanceof BackendError && error.kind === 'InitializationFailed';
  if (error instanceof CollectiveError && !typed) return error;
  const errno = typed ? (errnoFromContext(error) ?? errnoOf(error)) : errnoOf(error);
  const advice = errno !== undefined ? ADVICE[errno] : undefined;
  if (typed && advice === undefined) return error;
  const address = formatHostPort(config.host, config.port);
  const lookupFailed = errno !== undefined && LOOKUP_ERRNOS.has(errno);
  const what = lookupFailed
    ? `the coordinator host '${config.host}' does not resolve (${errno}${errno === 'EAI_AGAIN' ? `, retried ${DNS_RETRY_SECS} s` : ''})`
    : `${config.rank === 0 ? `rank 0 could not listen on ${address}` : `could not reach the coordinator at ${address}`} (${errno ?? 'no errno'}${config.rank === 0 ? '' : `, connect timeout ${config.connectTimeoutSecs} s`})`;
  const detail = typed ? '' : `: ${error instanceof Error ? error.message : String(error)}`;
  const failure = new BackendError(
    'InitializationFailed',
    `${what}${detail}`,
    {
      ...(typed ? error.context : {}),
      address,
      errno: errno ?? null,
      rank: config.rank,
      connectTimeoutSecs: config.connectTimeoutSecs,
    },
    advice ?? DEFAULT_ADVICE,
  );
  (failure as Error & { cause?: unknown }).cause = error;
  return failure;
}
