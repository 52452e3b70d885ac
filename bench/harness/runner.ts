/**
 * A runner measures workloads one way: a backend of ours (shm, tcp) or a baseline (Open MPI, the
 * postMessage star, the raw socket). Runners are registered by name; adding a transport adds a runner.
 */
import type { LibrarySource } from './library.js';
import type { Operation, Result, Workload } from './workload.js';

export type RunnerKind = 'backend' | 'baseline';

/** How a backend's time grows with ranks R and bytes n (spec/performance.md §3): T ≈ Σ cᵢ·featureᵢ. */
export interface ScalingModel {
  /** The model in one line, e.g. "T = a·(R−1) + b·(R−1)·n  (the star: the coordinator moves (R−1)·n)". */
  readonly formula: string;
  /** Names of the fitted coefficients, in the order of features(). */
  readonly coefficients: readonly string[];
  /** The model's terms for one measured point; fitted by least squares over all points of an operation. */
  features(operation: Operation, ranks: number, bytes: number): number[];
}

export interface RunContext {
  readonly quick: boolean;
  /** The build the ranks run (harness/library.ts). */
  readonly library: LibrarySource;
  /** Progress lines go here (stderr), never to the table on stdout. */
  log(line: string): void;
  /** A workload that could not be measured although the runner ran (shown under "Not measured"). */
  problem(runner: string, message: string): void;
}

export interface Runner {
  /** Registry name and JSON key: 'shm', 'tcp', 'mpi-vader', … */
  readonly name: string;
  /** Legend and column label. */
  readonly label: string;
  readonly kind: RunnerKind;
  /** Baselines a backend is compared with in the ratio columns (registry names). */
  readonly compareWith: readonly string[];
  /** Runs in --quick mode (slow baselines say false). */
  readonly inQuick: boolean;
  readonly model?: ScalingModel;
  /** Whether this runner can measure the workload at all. */
  covers(workload: Workload, quick: boolean): boolean;
  /** Why it cannot run on this machine (tool missing, backend not built), or null when it can. */
  unavailable(): Promise<string | null>;
  /** Measures the workloads (all covered); a workload it could not measure is left out of the results. */
  run(workloads: readonly Workload[], context: RunContext): Promise<Result[]>;
}

const registry = new Map<string, Runner>();

export function registerRunner(runner: Runner): void {
  if (registry.has(runner.name)) throw new Error(`a runner named '${runner.name}' is already registered`);
  registry.set(runner.name, runner);
}

export function runnerNamed(name: string): Runner | undefined {
  return registry.get(name);
}

/** Backends first, then baselines, each in registration order. */
export function registeredRunners(): Runner[] {
  const all = [...registry.values()];
  return [...all.filter((r) => r.kind === 'backend'), ...all.filter((r) => r.kind === 'baseline')];
}

/** Workloads grouped by rank count (a world is started once per group), in ascending order. */
export function byRanks(workloads: readonly Workload[]): Map<number, Workload[]> {
  const groups = new Map<number, Workload[]>();
  for (const w of [...workloads].sort((a, b) => a.ranks - b.ranks)) {
    const group = groups.get(w.ranks) ?? [];
    group.push(w);
    groups.set(w.ranks, group);
  }
  return groups;
}
