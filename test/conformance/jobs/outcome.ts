/** What a rank of test/conformance/jobs/rank.ts reports, one line on stdout. */
export const OUTCOME_PREFIX = 'job-outcome ';

export interface JobOutcome {
  rank: number;
  /** The job identity this rank saw (describeEnvironment().jobId), null when none. */
  jobId: string | null;
  ok: boolean;
  /** The allreduce of (JOBS_TAG + rank) over the group this rank formed. */
  sum?: number;
  kind?: string;
  message?: string;
  context?: Record<string, unknown>;
  suggestion?: string | undefined;
  /** How long the failed init() took. */
  initMs?: number;
}
