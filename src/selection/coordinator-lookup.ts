/**
 * Resolving the coordinator's host name before a worker starts dialling (spec/selection.md §6.1). The
 * tcp backend retries a failed connect until the connect timeout, which is right for a rank 0 that is
 * not listening yet but wrong for a name that does not exist: that would wait the whole timeout and
 * then report ENOTFOUND. An answer from the resolver (ENOTFOUND) is final at once; no answer
 * (EAI_AGAIN, a resolver that is briefly unreachable) is retried for DNS_RETRY_SECS.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** How long a resolver that does not answer (EAI_AGAIN) is retried, at most the connect timeout. */
export const DNS_RETRY_SECS = 5;
/** Pause between lookups while the resolver does not answer. */
const DNS_RETRY_INTERVAL_MS = 250;
const MS_PER_SEC = 1000;

/** Errnos of a failed name lookup: the start failure names the host, not a connect timeout. */
export const LOOKUP_ERRNOS: ReadonlySet<string> = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ENODATA']);

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves `host` once (nothing to do for an IP address); throws the lookup's own error (with its
 * `code`) when the name does not resolve, for the caller to classify.
 */
export async function ensureResolvable(host: string, connectTimeoutSecs: number): Promise<void> {
  if (isIP(host) !== 0) return;
  const deadline = Date.now() + Math.min(DNS_RETRY_SECS, connectTimeoutSecs) * MS_PER_SEC;
  for (;;) {
    try {
      await lookup(host);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EAI_AGAIN' || Date.now() >= deadline) throw error;
      await pause(DNS_RETRY_INTERVAL_MS);
    }
  }
}
