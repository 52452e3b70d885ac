/**
 * The backend table (spec/selection.md §2): one row per backend, and the only place that lists them.
 * Everything that names backends reads this table: the BackendName/BackendChoice/BackendConfig types,
 * `parseBackendChoice` (its `available: auto, local, shm, tcp, ws`), the priority chain (§5), the
 * launchers' `auto` (§5.3), `collective run --help`, `train()`'s checks, the worker messages,
 * availableBackends() and `collective doctor`. A new transport is one row here plus its modules (its
 * config builder and its start function in selection/, its implementation in backends/).
 *
 * A row's module is imported only inside its `start` (or `preload`), i.e. only when that backend is
 * selected; so are the tcp and ws start modules (tcp-start.ts, ws-start.ts, and the DNS lookup they use),
 * which a shm rank never needs (spec/train.md §4.9: a rank loads what its backend needs, nothing more).
 */
import type { Communicator, KnownBackendName } from '../communicator/communicator.js';
import type { ShmGroupHandle } from '../backends/shm/index.js';
import { loadBackendModule, type Availability, type StartHooks } from './backend-start.js';
import type { LocalConfig, MpiConfig, SelectionWarning, ShmConfig, TcpConfig } from './config.js';
import {
  local,
  localByAuto,
  shm,
  tcp,
  tcpWarnings,
  type AutoFacts,
  type Context,
  type SelectionInputs,
} from './configure.js';
import { mpi, mpiAvailability, mpiFallbackWarnings, mpiPicks } from './mpi-config.js';
import type { InitOptions } from './options.js';
import { VARIABLES } from './settings.js';
import { ws, wsWarnings, type WsConfig } from './ws-config.js';
import type { EnvRecord } from './values.js';

/** One step of `auto` (§5.1): tried in increasing `step` order, the first that picks decides. */
export interface AutoStep<C> {
  /** The step's number in spec/selection.md §5.1 (the order in which auto tries the rows). */
  readonly step: number;
  /** Whether this launch is this backend's, as auto reads it. */
  picks(context: Context, facts: AutoFacts): boolean;
  /** The config once picked, or the BackendError that says what is missing. */
  select(context: Context, facts: AutoFacts): C;
}

/**
 * How our launchers (train(), `collective run`) start a backend's ranks (spec/train.md §4, §7):
 *
 * - `one`: a single rank; train() runs it in the caller's thread, `collective run` as one process.
 * - `threads`: worker threads of the launcher's process that share one shm group: each gets
 *   `workerData[SHM_WORKER_DATA_KEY] = { group, rank, launcherWarned: true }`.
 * - `processes`: child processes around a coordinating rank 0: rank 0 gets
 *   `COLLECTIVE_TCP_COORDINATOR=127.0.0.1:0`, listens on the port the OS picks and reports it
 *   (`LISTENING_MESSAGE_KIND`); the others then get that address; every rank gets the run's token
 *   (`COLLECTIVE_TCP_TOKEN`: in the environment from `collective run`, over IPC from train()).
 *
 * - `mpirun`: `collective run` delegates to Open MPI's `mpirun -n N` (spec/train.md §7.10): MPI's
 *   launcher starts the ranks and gives them their ranks; train() cannot start them.
 *
 * Every rank also gets `COLLECTIVE_BACKEND` (the row's name), `COLLECTIVE_RANK`, `COLLECTIVE_SIZE` and
 * `COLLECTIVE_JOB_ID`.
 */
export type LaunchRule =
  | { readonly ranks: 'one'; readonly help: string }
  | { readonly ranks: 'mpirun'; readonly help: string }
  | {
      readonly ranks: 'threads' | 'processes';
      /** Its line under `--backend NAME` in `collective run --help`. */
      readonly help: string;
      /** What too many ranks on too few cores does to it: the end of COLLECTIVE_OVERSUBSCRIBED's sentence. */
      oversubscribed(cores: number): string;
      /**
       * §5.3: whether the launchers' `auto` picks it in this (the launcher's) environment, and the
       * condition as the help says it (absent: the fallback). Tried in the order of `auto.step`.
       */
      readonly launcherAuto?: { readonly when?: string; picks(env: EnvRecord): boolean };
    };

/** One backend: everything the rest of the code needs to know about it. */
export interface BackendRow<C extends { readonly backend: string }> {
  /** The name, as `COLLECTIVE_BACKEND`, `init({ backend })`, `train({ backend })` and `--backend` take it. */
  readonly name: C['backend'];
  /** One line on what it is: availableBackends() returns it and `collective doctor` prints it. */
  readonly description: string;
  /** Whether it can run in this runtime, and why not (doctor prints the reason). */
  availability(): Availability;
  /** §5.2: the config of an explicit choice of it, or the BackendError that names what to fix. */
  configure(context: Context): C;
  /** §5.1: its step in the `auto` chain, or why `auto` never picks it. */
  readonly auto: AutoStep<C> | { readonly never: string };
  /** How the launchers start its ranks. */
  readonly launch: LaunchRule;
  /**
   * What configures it beyond the settings of every backend (rank, size, timeouts, job id): its
   * variables and init() options; `secret` variables are hidden by doctor.
   */
  readonly settings: {
    readonly variables: readonly string[];
    readonly options: readonly (keyof InitOptions)[];
    readonly secret: readonly string[];
  };
  /** §7: warnings about a working but poor selection of it. */
  warnings?(config: C, inputs: SelectionInputs): SelectionWarning[];
  /** Imports its module (here and nowhere else) and starts this rank. */
  start(config: C, hooks: StartHooks): Promise<Communicator>;
  /**
   * Imports what `start` will import, without starting anything: a launcher's rank calls it while it
   * waits for something else (a tcp rank for rank 0's address). Never rejects: a module that does not
   * load is reported by `start`, as it would be without this call.
   */
  preload(): Promise<void>;
}

/** Runs `load` for its side effect of filling the module cache; its failure is `start`'s to report. */
function preloading(load: () => Promise<unknown>): () => Promise<void> {
  return () =>
    load().then(
      () => {},
      () => {},
    );
}

const loadShm = () => import('../backends/shm/index.js');
const loadTcpStart = () => import('./tcp-start.js');
const loadWsStart = () => import('./ws-start.js');
const loadMpi = () => import('../backends/mpi/index.js');

const LOCAL: BackendRow<LocalConfig> = {
  name: 'local',
  description: 'one rank in this process; identity semantics',
  availability: () => ({ available: true }),
  configure: local,
  auto: { step: 6, picks: () => true, select: localByAuto },
  launch: { ranks: 'one', help: 'one rank (-n 1), no communication' },
  settings: { variables: [], options: [], secret: [] },
  async start() {
    const { createLocalCommunicator } = await import('../backends/local/index.js');
    return createLocalCommunicator();
  },
  preload: preloading(() => import('../backends/local/index.js')),
};

const SHM: BackendRow<ShmConfig> = {
  name: 'shm',
  description: 'worker threads of one process over SharedArrayBuffer + Atomics',
  availability: () =>
    typeof SharedArrayBuffer === 'function' && typeof Atomics === 'object'
      ? { available: true }
      : { available: false, reason: 'SharedArrayBuffer or Atomics is missing in this runtime' },
  configure: shm,
  auto: { step: 4, picks: (context) => context.membership !== undefined, select: shm },
  launch: {
    ranks: 'threads',
    help: 'the ranks are worker threads of this process, sharing memory',
    oversubscribed: (cores) => `spin-wait on ${cores} cores: expect slow collectives`,
    launcherAuto: { picks: () => true },
  },
  settings: { variables: [], options: ['group', 'rank'], secret: [] },
  async start(config) {
    const { connectShm } = await loadBackendModule('shm', loadShm);
    // The handle came from workerData or the caller unchecked; connectShm validates it. A rank that
    // closed joins the group's next generation (init() after close(), §5.4).
    return connectShm({
      group: config.group as ShmGroupHandle,
      rank: config.rank,
      timeoutSecs: config.timeoutSecs,
      stallWarningSecs: config.stallWarningSecs,
    });
  },
  preload: preloading(loadShm),
};

const TCP: BackendRow<TcpConfig> = {
  name: 'tcp',
  description: 'processes on one or many machines; rank 0 coordinates a star of TCP connections',
  availability: () => ({ available: true }),
  configure: tcp,
  auto: {
    step: 3,
    picks: (context, { address, multiRank }) =>
      address.host !== undefined || (multiRank && context.launch?.layout.value === 'single-node'),
    select: (context, { world, address }) => tcp(context, world, address),
  },
  launch: {
    ranks: 'processes',
    help: 'the ranks are child processes; rank 0 coordinates on 127.0.0.1',
    oversubscribed: (cores) => `share ${cores} cores: correct, but slower`,
    launcherAuto: {
      when: `${VARIABLES.coordinator} is set`,
      picks: (env) => Boolean(env[VARIABLES.coordinator]),
    },
  },
  settings: {
    variables: [
      VARIABLES.coordinator,
      VARIABLES.port,
      VARIABLES.bindAddr,
      VARIABLES.token,
      VARIABLES.algorithm,
    ],
    options: ['coordinator', 'port', 'bindAddr', 'token', 'allowInsecure', 'connectTimeoutSecs', 'algorithm'],
    secret: [VARIABLES.token],
  },
  warnings: (config, inputs) => [...mpiFallbackWarnings(inputs), ...tcpWarnings(config, inputs)],
  start: async (config, hooks) => (await loadTcpStart()).startTcp(config, hooks),
  preload: preloading(async () => (await loadTcpStart()).preloadTcp()),
};

const WS: BackendRow<WsConfig> = {
  name: 'ws',
  description: 'processes or browser tabs; rank 0 coordinates a star of WebSocket connections',
  availability: () => ({ available: true }),
  configure: ws,
  // The environment of a tcp launch is also a valid ws launch, so auto cannot tell which one is
  // meant, and tcp is faster where both work (spec/selection.md §5.1).
  auto: {
    never: 'a ws launch looks like a tcp launch, and tcp is faster where both work; name ws explicitly',
  },
  launch: {
    ranks: 'processes',
    help: 'the ranks are child processes; rank 0 serves WebSocket on 127.0.0.1',
    oversubscribed: (cores) => `share ${cores} cores: correct, but slower`,
  },
  settings: {
    variables: [VARIABLES.coordinator, VARIABLES.port, VARIABLES.bindAddr, VARIABLES.token, VARIABLES.wsUrl],
    options: [
      'coordinator',
      'port',
      'bindAddr',
      'token',
      'allowInsecure',
      'connectTimeoutSecs',
      'url',
      'server',
      'path',
      'allowedOrigins',
    ],
    secret: [VARIABLES.token],
  },
  warnings: wsWarnings,
  start: async (config, hooks) => (await loadWsStart()).startWs(config, hooks),
  preload: preloading(async () => (await loadWsStart()).preloadWs()),
};

const MPI: BackendRow<MpiConfig> = {
  name: 'mpi',
  description: "the ranks of an MPI job (mpirun, srun), over the system's MPI through a native addon",
  availability: mpiAvailability,
  configure: mpi,
  auto: { step: 2, picks: mpiPicks, select: mpi },
  // MPI's own launcher starts the ranks: `mpirun -n 4 node app.js` (spec/backend-mpi.md §1), or
  // `collective run -n 4 --backend mpi app.js`, which runs that mpirun (spec/train.md §7.10).
  launch: {
    ranks: 'mpirun',
    help: 'processes that mpirun starts (Open MPI on PATH: mpirun -n N node SCRIPT); the same under srun or mpirun yourself',
  },
  settings: { variables: [], options: [], secret: [] },
  async start(config) {
    const { connectMpi } = await loadBackendModule('mpi', loadMpi);
    return connectMpi({
      timeoutSecs: config.timeoutSecs,
      stallWarningSecs: config.stallWarningSecs,
      ...(config.rank !== undefined ? { expectRank: config.rank } : {}),
      ...(config.size !== undefined ? { expectSize: config.size } : {}),
    });
  },
  preload: preloading(loadMpi),
};

/** The table, in the order names are listed (`available: auto, local, shm, tcp, ws, mpi`). */
export const BACKEND_TABLE = [LOCAL, SHM, TCP, WS, MPI] as const;

type ConfigOf<R> = R extends BackendRow<infer C> ? C : never;

/** The validated config of any backend: one member per row. */
export type BackendConfig = ConfigOf<(typeof BACKEND_TABLE)[number]>;

/** The name of a backend in the table. */
export type TableName = BackendConfig['backend'];

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * The contract's public `KnownBackendName` (communicator.ts, which may not import selection/) lists the
 * table's names: a row whose name is not there, or a name there without a row, fails to compile here.
 */
export const CONTRACT_NAMES_MATCH_TABLE: Same<KnownBackendName, TableName> = true;

/** The backends' names, in table order. */
export const BACKEND_NAMES: readonly TableName[] = BACKEND_TABLE.map((row) => row.name);

/** The row of a backend by name (names come from the table, so one always exists). */
export function rowOf<N extends TableName>(name: N): BackendRow<Extract<BackendConfig, { backend: N }>> {
  const row = BACKEND_TABLE.find((r) => r.name === name);
  if (row === undefined) throw new Error(`internal error: no backend row named ${String(name)}`);
  return row as unknown as BackendRow<Extract<BackendConfig, { backend: N }>>;
}

/** The names of the rows our launchers start as threads or processes: those that can have many ranks. */
export function multiRankNames(): TableName[] {
  return BACKEND_TABLE.filter((row) => row.launch.ranks !== 'one').map((row) => row.name);
}

/** The rows `auto` may pick, in the order it tries them. */
export function autoSteps(): Array<{ row: (typeof BACKEND_TABLE)[number]; step: AutoStep<BackendConfig> }> {
  const steps: Array<{ row: (typeof BACKEND_TABLE)[number]; step: AutoStep<BackendConfig> }> = [];
  for (const row of BACKEND_TABLE) {
    if ('step' in row.auto) steps.push({ row, step: row.auto as AutoStep<BackendConfig> });
  }
  return steps.sort((a, b) => a.step.step - b.step.step);
}

/** The variables whose values doctor hides (tokens). */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(
  BACKEND_TABLE.flatMap((row) => row.settings.secret),
);
