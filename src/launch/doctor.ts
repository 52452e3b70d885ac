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

function sourced(value: { value: unknown; source: string } | null): string {
  return value === null ? '(unknown)' : `${String(value.value)}  (from ${value.source})`;
}

function timeoutLines(timeouts: EnvironmentReport['timeouts']): string[] {
  if (timeouts === null) return ['timeout:      (unreadable, see the error below)'];
  const stall = timeouts.stallWarningSecs;
  return [
    `timeout:      ${timeouts.timeoutSecs.value} s  (from ${timeouts.timeoutSecs.source})`,
    `stall warning: ${stall.value === 0 ? 'off' : `${stall.value} s, repeated`}  (from ${stall.source})`,
    `connect:      ${timeouts.connectTimeoutSecs.value} s  (from ${timeouts.connectTimeoutSecs.source})`,
  ];
}

function table(entries: Readonly<Record<string, string>>): string[] {
  const names = Object.keys(entries);
  if (names.length === 0) return ['  (none set)'];
  return names.map((name) => `  ${name}=${entries[name]}`);
}

export function formatReport(report: EnvironmentReport): string {
  const lines = [
    `launcher:     ${report.launcher}`,
    `rank:         ${sourced(report.rank)}`,
    `size:         ${sourced(report.size)}`,
    `node layout:  ${sourced(report.nodeLayout)}`,
    `coordinator:  ${report.coordinator ? `${report.coordinator.address}  (${report.coordinator.source})` : '(none)'}`,
    `shm group:    ${report.shmGroupRank ? sourced(report.shmGroupRank) : '(not in one)'}`,
    `job id:       ${report.jobId ? sourced(report.jobId) : '(none)'}`,
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
