/**
 * The lifecycle family of the conformance suite (STYLE.md: "lifecycle is part of the contract"). Unlike the
 * other cases, a lifecycle scenario owns its communicator from init() to the end of the rank's program, so
 * each runs as a whole job under `collective run`, one launch per scenario × backend × world size.
 *
 * Every rank prints exactly one `outcome {json}` line: what it saw. The test asserts the outcomes of all
 * ranks and the launcher's exit status; a scenario that hangs fails by the test's timeout.
 */
export interface LifecycleScenario {
  readonly name: string;
  /** Smallest world the scenario means something in (default 1). */
  readonly minSize?: number;
  /** The rank that leaves the group, for scenarios where one does. */
  departing?(size: number): number;
}

/** The rank every leave-early scenario singles out: the last one, or the coordinator (rank 0). */
const last = (size: number): number => size - 1;
const first = (): number => 0;

export const LIFECYCLE_SCENARIOS: readonly LifecycleScenario[] = [
  // Every rank: init(), then close() at once — no collective at all (issue 11 item 2).
  { name: 'init then close, no collective' },
  // init/allreduce/close twice in one program (issue 11 item 9: the advice of InvalidCommunicator).
  { name: 're-init after close' },
  // One rank closes right after init(); the others' collective fails naming it (items 2, 3).
  { name: 'last rank closes early', minSize: 2, departing: last },
  { name: 'rank 0 closes early', minSize: 2, departing: first },
  // One rank's program ends without close(): its thread/process exits, the others see it depart (items 3, 15).
  { name: 'last rank ends without close', minSize: 2, departing: last },
  { name: 'rank 0 ends without close', minSize: 2, departing: first },
];

export interface LifecycleOutcome {
  rank: number;
  ok: boolean;
  /** What the rank observed: for the survivors of a departure, the error's code and details.rank. */
  code?: string;
  culprit?: number;
  message?: string;
}

export const OUTCOME_PREFIX = 'outcome ';
