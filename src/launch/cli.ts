/**
 * The `collective` command line (spec/train.md §9): a table of subcommands. A subcommand is a name,
 * a one-line summary and an async function from its own arguments to an exit status; it is imported
 * only when run.
 */
import { readFileSync } from 'node:fs';

interface Subcommand {
  readonly summary: string;
  run(args: readonly string[]): Promise<number>;
}

const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = {
  doctor: {
    summary: 'show the launcher, rank, size, coordinator and the backend init() would pick (--json)',
    run: async (args) => (await import('./doctor.js')).doctor(args),
  },
  run: {
    summary: 'run a script as N ranks (threads for shm, processes for tcp), like mpirun (--help)',
    run: async (args) => (await import('./run-command.js')).runCommand(args),
  },
};

/** Exit status for a command line that could not be understood. */
const USAGE_ERROR = 2;

const HELP_FLAGS: ReadonlySet<string> = new Set(['--help', '-h', 'help']);
const VERSION_FLAGS: ReadonlySet<string> = new Set(['--version', '-v']);

function usage(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((name) => name.length));
  const rows = Object.entries(SUBCOMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: collective <command> [options]

commands:
${rows.join('\n')}

options:
  -h, --help     show this help (also: collective help)
  -v, --version  print the version of collective and exit
`;
}

/** The package's version: package.json sits two levels above this file in src/ and in dist/. */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    // A bare `collective` is a command line we cannot run: help, on stderr, as a usage error.
    process.stderr.write(usage());
    return USAGE_ERROR;
  }
  if (HELP_FLAGS.has(command)) {
    process.stdout.write(usage());
    return 0;
  }
  if (VERSION_FLAGS.has(command)) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const subcommand = Object.hasOwn(SUBCOMMANDS, command) ? SUBCOMMANDS[command] : undefined;
  if (subcommand === undefined) {
    process.stderr.write(`collective: unknown command '${command}'\n\n${usage()}`);
    return USAGE_ERROR;
  }
  try {
    return await subcommand.run(rest);
  } catch (error) {
    // parseArgs reports unknown or malformed flags with this code.
    if (
      (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
      (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE'
    ) {
      process.stderr.write(`collective ${command}: ${(error as Error).message}\n`);
      return USAGE_ERROR;
    }
    throw error;
  }
}
