/**
 * `collective doctor [--json]`: prints describeEnvironment() — the first thing to run when a launch
 * misbehaves. Exit status 0 when init() would succeed here, 1 when it would raise (the error is shown).
 */
import { parseArgs } from 'node:util';
import { describeEnvironment, type EnvironmentReport } from '../selection/index.js';

export const DOCTOR_USAGE = `usage: collective doctor [--json]

Shows what this process would see at init(): launcher, rank, size, node layout,
coordinator, the backend auto would pick and why — or the error it would raise.
Run it under the same launcher as your program (e.g. mpirun -n 2 npx collective doctor).

  --json   print the report as JSON
`;

/** Labels of the facts block are padded to this many characters, so the values line up. */
const LABEL_WIDTH = 15;

function row(label: string, text: string): string {
  return `${`${label}:`.padEnd(LABEL_WIDTH)}${text}`;
}

/** A variable, an option or `NAME=value` pairs: what a value was read from. */
const READ_FROM = /^[\w.]+(=[^,\s]*)?(, [\w.]+(=[^,\s]*)?)*$/;
const DEFAULTED = /^default (\S+)$/;

/**
 * Where a value came from, as a phrase: `from COLLECTIVE_RANK`, `default; COLLECTIVE_TIMEOUT_SECS is not set`,
 * or the source's own sentence (`no launcher detected`, `SLURM_NNODES is not set`).
 */
export function describeSource(source: string): string {
  const defaulted = DEFAULTED.exec(source);
  if (defaulted) return `default; ${defaulted[1]} is not set`;
  return READ_FROM.test(source) ? `from ${source}` : source;
}

function sourced(value: { value: unknown; source: string } | null, absent = '(unknown)'): string {
  return value === null ? absent : `${String(value.value)}  (${describeSource(value.source)})`;
}

function timeoutLines(timeouts: EnvironmentReport['timeouts']): string[] {
  if (timeouts === null) return [row('timeout', '(unreadable: see the error below)')];
  const { timeoutSecs, stallWarningSecs: stall, connectTimeoutSecs } = timeouts;
  return [
    row('timeout', `${timeoutSecs.value} s  (${describeSource(timeoutSecs.source)})`),
    row(
      'stall warning',
      `${stall.value === 0 ? 'off' : `${stall.value} s, repeated`}  (${describeSource(stall.source)})`,
    ),
    row('connect', `${connectTimeoutSecs.value} s  (${describeSource(connectTimeoutSecs.source)})`),
  ];
}

function table(entries: Readonly<Record<string, string>>): string[] {
  const names = Object.keys(entries);
  if (names.length === 0) return ['  (none set)'];
  return names.map((name) => `  ${name}=${entries[name]}`);
}

export function formatReport(report: EnvironmentReport): string {
  const { coordinator } = report;
  const lines = [
    row('launcher', report.launcher),
    row('rank', sourced(report.rank)),
    row('size', sourced(report.size)),
    row('node layout', sourced(report.nodeLayout)),
    row(
      'coordinator',
      coordinator ? `${coordinator.address}  (${describeSource(coordinator.source)})` : '(none)',
    ),
    row('shm group', report.shmGroupRank ? `rank ${sourced(report.shmGroupRank)}` : '(not in one)'),
    row('job id', sourced(report.jobId, '(none)')),
    row('tcp algorithm', sourced(report.algorithm, '(unreadable: see the error below)')),
    ...timeoutLines(report.timeouts),
    '',
    'launcher variables:',
    ...table(report.launcherVariables),
    'COLLECTIVE_* variables:',
    ...table(report.collectiveVariables),
    '',
  ];
  if (report.selection) {
    lines.push(`init() would pick: ${report.selection.backend}`, 'because:');
    lines.push(...report.selection.reasons.map((reason) => `  - ${reason}`));
  } else if (report.error) {
    lines.push(`init() would fail: BackendError ${report.error.kind}`, `  ${report.error.message}`);
  }
  for (const warning of report.warnings) lines.push(`warning ${warning.code}: ${warning.message}`);
  lines.push('', 'backends:');
  for (const backend of report.backends) {
    const state = backend.available ? 'available' : `unavailable: ${backend.reason ?? ''}`;
    lines.push(`  ${backend.name.padEnd(6)} ${state} — ${backend.description}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function doctor(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(DOCTOR_USAGE);
    return 0;
  }
  const report = describeEnvironment();
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.error === null ? 0 : 1;
}
