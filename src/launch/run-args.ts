/** The command line of `collective run` (spec/train.md §7), parsed with node:util parseArgs. */
import { parseArgs } from 'node:util';
import {
  BACKEND_TABLE,
  launcherAutoRule,
  launcherBackend,
  parseBackendChoice,
  rowOf,
  type BackendChoice,
  type TableName,
} from '../selection/index.js';

/** The variable that names a backend when --backend does not (init() reads the same one). */
const BACKEND_VARIABLE = 'COLLECTIVE_BACKEND';

/** The help's second column starts here; its lines wrap before this width. */
const HELP_INDENT = 23;
const HELP_WIDTH = 90;

/** The rows as the help lists them: those with many ranks first, then the one-rank ones, in table order. */
const HELP_ROWS = [
  ...BACKEND_TABLE.filter((row) => row.launch.ranks !== 'one'),
  ...BACKEND_TABLE.filter((row) => row.launch.ranks === 'one'),
];
const NAME_WIDTH = Math.max(...HELP_ROWS.map((row) => row.name.length)) + 2;

/** `text` as lines of at most HELP_WIDTH characters, the first after `first`, the rest indented. */
function wrapHelp(first: string, text: string): string {
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(' ')) {
    const next = line.length === HELP_INDENT ? line + word : `${line} ${word}`;
    if (next.length > HELP_WIDTH && line.length > HELP_INDENT) {
      lines.push(line);
      line = ' '.repeat(HELP_INDENT) + word;
    } else line = next;
  }
  lines.push(line);
  return lines.join('\n');
}

const BACKEND_HELP = [
  wrapHelp(
    '  --backend NAME       ',
    `auto (default): COLLECTIVE_BACKEND when it is set, else ${launcherAutoRule()}`,
  ),
  ...HELP_ROWS.map(
    (row) => `${' '.repeat(HELP_INDENT)}${`${row.name}:`.padEnd(NAME_WIDTH)}${row.launch.help}`,
  ),
].join('\n');

const PROCESS_BACKENDS = BACKEND_TABLE.filter((row) => row.launch.ranks === 'processes').map((r) => r.name);

export const RUN_HELP = `usage: collective run -n N [--backend ${['auto', ...HELP_ROWS.map((row) => row.name)].join('|')}] [--timeout SECONDS]
                      [--no-prefix] [--json] [--no-parent-watch] SCRIPT [ARGS…]

Runs SCRIPT (a .js or .ts file) as N ranks that call init() themselves, like mpirun or torchrun.

options:
  -n, --np N           number of ranks (required; an integer >= 1; more than the cores is allowed, with one warning)
${BACKEND_HELP}
  --timeout SECONDS    stop every rank after SECONDS and exit with status 124
  --no-prefix          print the ranks' lines as they are, without the [rank] prefix
  --json               print one JSON object per line: {"rank","stream","line"} for output,
                       {"event":"exit",…} at the end; no status line
  --no-parent-watch    keep running when this launcher's parent exits (e.g. under nohup);
                       by default the ranks are stopped as on SIGTERM within 1 s of it
  -h, --help           show this help

Each rank sees COLLECTIVE_BACKEND, COLLECTIVE_RANK and COLLECTIVE_SIZE (and, for ${PROCESS_BACKENDS.join(' and ')},
COLLECTIVE_TCP_COORDINATOR), so a bare \`await init()\` joins the group.
With --backend mpi, mpirun (Open MPI, on PATH) starts the ranks: collective run runs
mpirun -n N node SCRIPT ARGS…, and MPI gives each rank its rank and size.

Output: every line a rank prints is prefixed with [rank]. On a terminal, a status line on stderr
shows ranks running/done, the elapsed time and the latest line; otherwise output is plain lines.

Exit status: 0 when every rank exits with 0; otherwise the first failing rank's exit code, or
128 + the signal number when it was killed by a signal; 124 after --timeout; 2 for a bad command line.
When one rank fails, the others are stopped (SIGTERM, then SIGKILL after a grace period).

Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded to every rank (Slurm
sends USR1/USR2 before preemption). A thread rank that does not listen for a terminating signal is
ended as a process would be.
`;

export interface RunArgs {
  numRanks: number;
  /** As written (--backend, default 'auto'); runBackend() resolves it. */
  backend: BackendChoice;
  timeoutSecs: number | null;
  prefix: boolean;
  json: boolean;
  /** Stop the ranks when this launcher's parent goes away (default). */
  parentWatch: boolean;
  script: string;
  scriptArgs: string[];
}

/** A command line that cannot be run; the CLI prints the message and exits with status 2. */
export class RunUsageError extends Error {
  override name = 'RunUsageError';
}

/** Flags of the launcher that take a value: the script starts at the first argument that is neither. */
const VALUE_FLAGS = new Set(['-n', '--np', '--backend', '--timeout']);

/** Splits the launcher's own flags from SCRIPT and its arguments (which may look like flags too). */
function splitAtScript(argv: readonly string[]): { own: string[]; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') return { own: argv.slice(0, i), rest: argv.slice(i + 1) };
    if (!arg.startsWith('-') || arg === '-') return { own: argv.slice(0, i), rest: argv.slice(i) };
    if (VALUE_FLAGS.has(arg)) i++;
  }
  return { own: [...argv], rest: [] };
}

/** null means --help was asked for. */
export function parseRunArgs(argv: readonly string[]): RunArgs | null {
  const { own, rest } = splitAtScript(argv);
  const { values } = parseArgs({
    args: own,
    strict: true,
    allowPositionals: false,
    options: {
      np: { type: 'string', short: 'n' },
      backend: { type: 'string', default: 'auto' },
      timeout: { type: 'string' },
      'no-prefix': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'no-parent-watch': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  const [script, ...scriptArgs] = rest;
  if (values.np === undefined) throw new RunUsageError('-n N is required: how many ranks to run');
  const numRanks = Number(values.np);
  if (!Number.isInteger(numRanks) || numRanks < 1) {
    throw new RunUsageError(`-n must be an integer >= 1, got '${values.np}'`);
  }
  // The same BackendError 'InvalidBackend' as init() and train() raise for a bad name.
  const backend = parseBackendChoice('--backend', values.backend);
  let timeoutSecs: number | null = null;
  if (values.timeout !== undefined) {
    timeoutSecs = Number(values.timeout);
    if (!Number.isFinite(timeoutSecs) || timeoutSecs <= 0) {
      throw new RunUsageError(`--timeout must be a number of seconds > 0, got '${values.timeout}'`);
    }
  }
  if (script === undefined) throw new RunUsageError('no SCRIPT given: collective run -n N script.js [args…]');
  return {
    numRanks,
    backend,
    timeoutSecs,
    prefix: !values['no-prefix'],
    json: values.json,
    parentWatch: !values['no-parent-watch'],
    script,
    scriptArgs,
  };
}

/**
 * The backend the ranks of a run use: --backend when given, else COLLECTIVE_BACKEND from the launcher's
 * environment (checked as init() checks it), else tcp when a coordinator is named, else shm.
 */
export function runBackend(args: RunArgs, env: NodeJS.ProcessEnv): TableName {
  const named = env[BACKEND_VARIABLE];
  const [choice, source] =
    args.backend !== 'auto' || named === undefined
      ? [args.backend, `--backend ${args.backend}`]
      : [parseBackendChoice(BACKEND_VARIABLE, named), `${BACKEND_VARIABLE}=${named}`];
  if (choice !== 'auto' && rowOf(choice).launch.ranks === 'one' && args.numRanks !== 1) {
    const many = BACKEND_TABLE.filter((row) => row.launch.ranks !== 'one').map((row) => row.name);
    throw new RunUsageError(
      `the ${choice} backend has one rank, but -n is ${args.numRanks} (${source}): use --backend ${many.join(' or ')}`,
    );
  }
  return choice === 'auto' ? launcherBackend(env) : choice;
}
