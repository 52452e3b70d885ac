/**
 * `collective run -n N script [args…]` (spec/train.md §7): runs a rank program N times, as worker
 * threads (shm) or child processes (tcp), each calling init() itself. Output is relayed line by line,
 * signals are forwarded, the first failing rank decides the exit status and stops the others, and the
 * command returns only when every rank is reaped.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SHM_WORKER_DATA_KEY, createShmGroup, type ShmGroup } from '../backends/shm/index.js';
import {
  moduleFileExists,
  processExecArgv,
  siblingModule,
  threadBootstrap,
  toModuleUrl,
} from './module-loading.js';
import { exitCodeOf, failed, type RankExit, type RankHandle } from './rank-handle.js';
import { RankOutput } from './rank-output.js';
import { ProcessRank } from './rank-process.js';
import { ThreadRank, signalRelayPrelude } from './rank-thread.js';
import {
  LISTENING_MESSAGE_KIND,
  launchOversubscription,
  rowOf,
  type ListeningMessage,
  type TableName,
} from '../selection/index.js';
import { BackendError } from '../communicator/errors.js';
import { RUN_HELP, RunUsageError, parseRunArgs, runBackend, type RunArgs } from './run-args.js';
import { STOP_GRACE_MS, stopRanks } from './stop-ranks.js';
import { endDescendants } from './descendants.js';
import { JOB_ID_VARIABLE } from './train-options.js';
import { MpirunMissingError, checkMpiAddon, runMpirun } from './run-mpirun.js';

/** The signals forwarded to every rank (Slurm sends USR1/USR2 ahead of preemption). */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
];
/** After forwarding one of these, ranks still running after the grace period are killed. */
const ENDING_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']);
/** How long ranks may take to act on a forwarded ending signal (checkpoint, flush) before SIGKILL. */
export const SIGNAL_GRACE_MS = 5_000;
/**
 * How often the launcher checks that its parent still runs (spec/train.md §7.9). A parent that dies
 * without passing on a signal (npx on SIGTERM, a SIGKILLed shell) reparents the launcher; within this
 * interval the launcher sees its parent pid change and stops its ranks as on SIGTERM.
 */
export const PARENT_POLL_MS = 1_000;
/** The exit status after --timeout, as timeout(1) has it. */
export const TIMEOUT_EXIT_CODE = 124;
const USAGE_EXIT_CODE = 2;
const MS_PER_SEC = 1000;
const LOOPBACK = '127.0.0.1';
/** Random bytes of the per-run tcp token. */
const RUN_TOKEN_BYTES = 16;
/** Rank 0 of a tcp run listens on an ephemeral port and reports it (no port race). */
const EPHEMERAL_PORT = 0;

/** A command line that cannot run, as the user should read it: the message, and a BackendError's kind. */
function usageMessage(error: unknown): string | null {
  if (error instanceof BackendError) return `BackendError ${error.kind}: ${error.message}`;
  if (error instanceof RunUsageError) return error.message;
  if (String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS'))
    return (error as Error).message;
  return null;
}

export async function runCommand(argv: readonly string[]): Promise<number> {
  let args: RunArgs | null;
  let backend: TableName;
  try {
    args = parseRunArgs(argv);
    if (args === null) {
      process.stdout.write(RUN_HELP);
      return 0;
    }
    backend = runBackend(args, process.env);
  } catch (error) {
    const message = usageMessage(error);
    if (message === null) throw error;
    process.stderr.write(`collective run: ${message}\nrun 'collective run --help' for usage\n`);
    return USAGE_EXIT_CODE;
  }
  const script = toModuleUrl(args.script);
  if (!moduleFileExists(script)) {
    process.stderr.write(`collective run: script ${args.script} does not exist\n`);
    return USAGE_EXIT_CODE;
  }
  if (rowOf(backend).launch.ranks === 'mpirun') {
    try {
      checkMpiAddon();
    } catch (error) {
      if (!(error instanceof MpirunMissingError)) throw error;
      process.stderr.write(`collective run: ${error.message}\n`);
      return USAGE_EXIT_CODE;
    }
    const mode = args.json ? 'json' : args.prefix ? 'prefix' : 'plain';
    return runMpirun({
      args,
      script,
      output: new RankOutput(mode, process.stdout, process.stderr),
      forwarded: FORWARDED_SIGNALS,
      ending: ENDING_SIGNALS,
      graceMs: SIGNAL_GRACE_MS,
      timeoutExitCode: TIMEOUT_EXIT_CODE,
      parentPollMs: PARENT_POLL_MS,
    });
  }
  return new RankSupervisor(args, backend, script).run();
}

class RankSupervisor {
  readonly #args: RunArgs;
  readonly #backend: TableName;
  readonly #script: URL;
  readonly #output: RankOutput;
  readonly #ranks: RankHandle[] = [];
  readonly #exits = new Map<number, RankExit>();
  #firstFailure: { rank: number; exit: RankExit } | null = null;
  #timedOut = false;
  #stopping: Promise<unknown> | null = null;
  #group: ShmGroup | null = null;

  constructor(args: RunArgs, backend: TableName, script: URL) {
    this.#args = args;
    this.#backend = backend;
    this.#script = script;
    const mode = args.json ? 'json' : args.prefix ? 'prefix' : 'plain';
    this.#output = new RankOutput(mode, process.stdout, process.stderr);
  }

  async run(): Promise<number> {
    const { numRanks, timeoutSecs } = this.#args;
    const backend = this.#backend;
    // The launcher says it once; its shm rank 0 is told not to repeat it (launcherWarned).
    const oversubscribed = launchOversubscription(numRanks, backend);
    if (oversubscribed) this.#output.note(`warning ${oversubscribed.code}: ${oversubscribed.message}`);
    const relays: Promise<void>[] = [];
    const forward = new Map<NodeJS.Signals, () => void>();
    for (const signal of FORWARDED_SIGNALS) {
      const listener = (): void => this.#forward(signal);
      forward.set(signal, listener);
      process.on(signal, listener);
    }
    const timer =
      timeoutSecs === null ? null : setTimeout(() => this.#timeout(timeoutSecs), timeoutSecs * MS_PER_SEC);
    const parentWatch = this.#args.parentWatch ? this.#watchParent() : null;
    this.#output.startStatus(() => this.#counts());
    // Process ranks around a coordinating rank 0: it listens first and reports its port (§7.3).
    const coordinated = rowOf(backend).launch.ranks === 'processes';
    try {
      const start = await this.#starter(backend);
      let port = EPHEMERAL_PORT;
      for (let rank = 0; rank < numRanks && !this.#stopping; rank++) {
        const handle = start(rank, port);
        this.#ranks.push(handle);
        if (handle.stdout) relays.push(this.#output.relay(rank, handle.stdout, 'stdout'));
        if (handle.stderr) relays.push(this.#output.relay(rank, handle.stderr, 'stderr'));
        void handle.exited.then((exit) => this.#onExit(handle, exit));
        if (rank === 0 && coordinated && numRanks > 1 && handle instanceof ProcessRank) {
          // Rank 0 binds port 0 and tells us the port it got; only then do the others start.
          const listening = await listeningPort(handle);
          if (listening === null) break;
          port = listening;
        }
      }
      await Promise.all(this.#ranks.map((r) => r.reaped));
      await Promise.all(relays);
      // A stop in progress clears its kill timer once everything is reaped.
      await this.#stopping;
      // The job is over: what the ranks started and left (thread ranks' helpers are our children) goes too.
      const leftovers = await endDescendants(STOP_GRACE_MS);
      if (leftovers.length > 0) {
        this.#output.note(
          `ended ${leftovers.length} process(es) the ranks left running: ${leftovers.join(', ')}`,
        );
      }
    } finally {
      if (timer) clearTimeout(timer);
      if (parentWatch) clearInterval(parentWatch);
      for (const [signal, listener] of forward) process.off(signal, listener);
      this.#output.stopStatus();
    }
    return this.#finish();
  }

  async #starter(backend: TableName): Promise<(rank: number, port: number) => ProcessRank | ThreadRank> {
    const { numRanks, scriptArgs } = this.#args;
    // One job identity per launch, shared by its ranks, so a rank of another job on this node is refused.
    const jobId = process.env[JOB_ID_VARIABLE] ?? randomUUID();
    const rankEnv = (rank: number, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
      ...process.env,
      [JOB_ID_VARIABLE]: jobId,
      COLLECTIVE_BACKEND: backend,
      COLLECTIVE_RANK: String(rank),
      COLLECTIVE_SIZE: String(numRanks),
      ...extra,
    });
    const { ranks } = rowOf(backend).launch;
    if (ranks === 'threads') {
      const group = createShmGroup({ size: numRanks });
      this.#group = group;
      const source = signalRelayPrelude + threadBootstrap(this.#script, [this.#script]);
      return (rank) =>
        new ThreadRank({
          rank,
          source,
          workerData: { [SHM_WORKER_DATA_KEY]: { group: group.handle, rank, launcherWarned: true } },
          env: rankEnv(rank),
          argv: scriptArgs,
          output: 'pipe',
          signalRelay: true,
        });
    }
    const preload = siblingModule('rank-preload');
    const execArgv = [...processExecArgv([preload, this.#script]), '--import', preload.href];
    // A secret of this run, so that no other local process can join it as a rank.
    const token = process.env['COLLECTIVE_TCP_TOKEN'] ?? randomBytes(RUN_TOKEN_BYTES).toString('hex');
    const extra = (port: number): Record<string, string> =>
      ranks === 'processes'
        ? { COLLECTIVE_TCP_COORDINATOR: `${LOOPBACK}:${port}`, COLLECTIVE_TCP_TOKEN: token }
        : {};
    return (rank, port) =>
      new ProcessRank({
        rank,
        entry: this.#script,
        args: scriptArgs,
        execArgv,
        env: rankEnv(rank, extra(port)),
        output: 'pipe',
        ownProcessGroup: true,
      });
  }

  #onExit(handle: RankHandle, exit: RankExit): void {
    this.#exits.set(handle.rank, exit);
    if (exit.uncaught !== undefined) {
      // A thread's uncaught error reaches us as an event; print it where a process would have.
      const error = exit.uncaught;
      const text =
        error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
      for (const line of text.split('\n')) this.#output.line(handle.rank, 'stderr', line);
    }
    if (!failed(exit) || this.#firstFailure || this.#stopping) return;
    this.#firstFailure = { rank: handle.rank, exit };
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
    this.#output.note(`rank ${handle.rank} ${how}; stopping the other ranks`);
    this.#group?.abort(handle.rank, `rank ${handle.rank} ${how}`);
    this.#stopping = stopRanks(this.#ranks, STOP_GRACE_MS);
  }

  #forward(signal: NodeJS.Signals): void {
    for (const rank of this.#ranks) rank.signal(signal);
    // Ranks get the signal first; whoever ignores it is ended after the grace period.
    if (ENDING_SIGNALS.has(signal)) this.#stopping ??= this.#killAfter(SIGNAL_GRACE_MS);
  }

  /**
   * Polls the parent pid: no signal or channel tells a process that its parent died, and stdin may be
   * /dev/null. A change (to init or a subreaper) means the parent is gone; a launcher started by init
   * never sees one.
   */
  #watchParent(): NodeJS.Timeout {
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(watch);
      this.#output.note(`the launcher's parent (pid ${parent}) is gone; stopping every rank as on SIGTERM`);
      this.#forward('SIGTERM');
    }, PARENT_POLL_MS);
    return watch;
  }

  #killAfter(ms: number): Promise<void> {
    const timer = setTimeout(() => this.#ranks.forEach((r) => r.kill()), ms);
    return Promise.all(this.#ranks.map((r) => r.reaped)).then(() => clearTimeout(timer));
  }

  #timeout(timeoutSecs: number): void {
    this.#timedOut = true;
    this.#output.note(`--timeout ${timeoutSecs} s reached; stopping every rank`);
    this.#stopping ??= stopRanks(this.#ranks, STOP_GRACE_MS);
  }

  #counts(): { running: number; done: number; failed: number } {
    let done = 0;
    let failures = 0;
    for (const exit of this.#exits.values()) failed(exit) ? failures++ : done++;
    return { running: this.#ranks.length - this.#exits.size, done, failed: failures };
  }

  #finish(): number {
    let code = 0;
    if (this.#timedOut) code = TIMEOUT_EXIT_CODE;
    else if (this.#firstFailure) code = exitCodeOf(this.#firstFailure.exit);
    else {
      // Stopped by a forwarded signal: the first rank (by rank) that did not exit cleanly decides.
      const failure = [...this.#exits.entries()].sort(([a], [b]) => a - b).find(([, e]) => failed(e));
      if (failure) code = exitCodeOf(failure[1]);
    }
    const ranks = [...this.#exits.entries()]
      .sort(([a], [b]) => a - b)
      .map(([rank, e]) => ({ rank, exitCode: e.exitCode, signal: e.signal }));
    this.#output.event({
      event: 'exit',
      code,
      ranks,
      timedOut: this.#timedOut,
      firstFailure: this.#firstFailure?.rank ?? null,
    });
    return code;
  }
}

/**
 * The port rank 0 reports once it listens (its init() sends a ListeningMessage over IPC), or null
 * when rank 0 exits first — its exit is then the run's failure.
 */
function listeningPort(rank0: ProcessRank): Promise<number | null> {
  return new Promise((resolve) => {
    rank0.onMessage((message) => {
      const m = message as Partial<ListeningMessage> | null;
      if (m?.kind === LISTENING_MESSAGE_KIND && typeof m.port === 'number') resolve(m.port);
    });
    void rank0.exited.then(() => resolve(null));
  });
}
