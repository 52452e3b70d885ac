/**
 * The CI soak (issue 12): memory and handles stay flat across thousands of small tcp collectives,
 * repeated tcp and shm init/close cycles, and hundreds of failed admissions (wrong token, wrong job,
 * garbage) against a forming and a formed rank 0. Runs soak-child.ts in its own process with
 * --expose-gc; each phase compares a post-warm-up baseline with the end, after gc. The margins are
 * generous for noise and still fail on a per-iteration leak (a buffer or a socket per iteration).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PhaseReport, Sample } from './soak-child.js';

const CHILD = fileURLToPath(new URL('./soak-child.ts', import.meta.url));
/** The child's own bound; usually well under 30 s on the shared 2-core machine. */
const CHILD_TIMEOUT_MS = 120_000;
const MiB = 1024 * 1024;
/**
 * Growth allowed from baseline to end, after gc (measured noise: under 5 MiB in every phase). A shm
 * group kept alive per cycle adds ~126 MiB of rss over the cycles, a socket per iteration shows in
 * the descriptor count, an 8 KiB buffer per received chunk ~125 MiB of arrayBuffers.
 */
const HEAP_MARGIN_BYTES = 16 * MiB;
const ARRAY_BUFFER_MARGIN_BYTES = 16 * MiB;
const EXTERNAL_MARGIN_BYTES = 16 * MiB;
const RSS_MARGIN_BYTES = 64 * MiB;
/** Descriptors that may come and go without a leak (the allocator, a lazily opened file). */
const FD_MARGIN = 2;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  phases: Map<string, PhaseReport>;
  end: { handles: Record<string, number>; ms: number } | undefined;
  stderr: string;
}

function runSoak(): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: CHILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const phases = new Map<string, PhaseReport>();
      let end: Run['end'];
      for (const line of stdout.split('\n').filter((l) => l.startsWith('{'))) {
        const record = JSON.parse(line) as PhaseReport | ({ phase: 'end' } & NonNullable<Run['end']>);
        if (record.phase === 'end') end = record as NonNullable<Run['end']>;
        else phases.set(record.phase, record as PhaseReport);
      }
      resolve({ code, signal, phases, end, stderr });
    });
  });
}

const growth = (before: Sample, after: Sample, field: 'rss' | 'heapUsed' | 'external' | 'arrayBuffers') =>
  `${field} ${(before[field] / MiB).toFixed(1)} → ${(after[field] / MiB).toFixed(1)} MiB`;

let run: Run;

describe('soak', () => {
  beforeAll(async () => {
    run = await runSoak();
  }, CHILD_TIMEOUT_MS + 10_000);

  it('ends by itself, cleanly, with nothing left listening, connected or scheduled', () => {
    expect(run.stderr).toBe('');
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
    const left = Object.keys(run.end!.handles).filter((type) => type !== 'PipeWrap' && type !== 'TTYWrap');
    expect(left).toEqual([]);
  });

  it.each([
    'tcp small collectives',
    'tcp init/close cycles',
    'shm init/close cycles',
    'failed admissions, forming rank 0',
    'failed admissions, formed rank 0',
  ])('%s: memory and handles stay flat', (name) => {
    const report = run.phases.get(name);
    expect(report, `phase '${name}' did not report (stderr: ${run.stderr})`).toBeDefined();
    const { before, after } = report!;
    expect(after.handles, 'live handles by type').toEqual(before.handles);
    expect(after.fds['socket'] ?? 0, 'open sockets').toBeLessThanOrEqual(before.fds['socket'] ?? 0);
    const total = (fds: Record<string, number>) => Object.values(fds).reduce((a, b) => a + b, 0);
    expect(total(after.fds), 'open file descriptors').toBeLessThanOrEqual(total(before.fds) + FD_MARGIN);
    expect(after.heapUsed - before.heapUsed, growth(before, after, 'heapUsed')).toBeLessThan(
      HEAP_MARGIN_BYTES,
    );
    expect(after.arrayBuffers - before.arrayBuffers, growth(before, after, 'arrayBuffers')).toBeLessThan(
      ARRAY_BUFFER_MARGIN_BYTES,
    );
    expect(after.external - before.external, growth(before, after, 'external')).toBeLessThan(
      EXTERNAL_MARGIN_BYTES,
    );
    expect(after.rss - before.rss, growth(before, after, 'rss')).toBeLessThan(RSS_MARGIN_BYTES);
  });
});
