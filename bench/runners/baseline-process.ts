/**
 * What the baseline runners share: where the shared baseline scripts live, running one with a time
 * limit, and parsing their "op bytes median_us" lines. A baseline that is missing, fails or overruns
 * yields no results (the table shows n/a); it never fails the run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** ../shared/baselines beside the repository (the shared material every developer and CI has). */
export const DEFAULT_BASELINES_DIR = fileURLToPath(new URL('../../../shared/baselines/', import.meta.url));

/** A baseline that has not finished after this long is stopped and reported as n/a. */
export const BASELINE_TIMEOUT_MS = 180_000;

let baselinesDir = DEFAULT_BASELINES_DIR;

/** bench/main.ts --baselines <dir> */
export function setBaselinesDir(dir: string): void {
  baselinesDir = dir.endsWith('/') ? dir : `${dir}/`;
}

export function baselinePath(file: string): string {
  return `${baselinesDir}${file}`;
}

export function missingFile(file: string): string | null {
  return existsSync(baselinePath(file)) ? null : `${baselinePath(file)} not found (pass --baselines <dir>)`;
}

export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export interface Finished {
  readonly stdout: string;
  readonly elapsedMs: number;
}

/** Runs a command to completion; rejects on a non-zero exit or after BASELINE_TIMEOUT_MS. */
export function runToCompletion(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), BASELINE_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const elapsedMs = performance.now() - started;
      if (code === 0) resolve({ stdout, elapsedMs });
      else {
        const why = signal ? `killed by ${signal}` : `exit code ${code}`;
        reject(new Error(`${command} ${args.join(' ')}: ${why}\n${stderr.trim().slice(-500)}`));
      }
    });
  });
}

export interface BaselineLine {
  readonly op: string;
  readonly bytes: number;
  readonly medianUs: number;
}

/** Lines "op bytes median_us"; comments (#) and anything else are skipped. */
export function parseBaselineLines(stdout: string): BaselineLine[] {
  const lines: BaselineLine[] = [];
  for (const line of stdout.split('\n')) {
    const match = /^([a-z]+) (\d+) ([0-9.]+)$/.exec(line.trim());
    if (match) lines.push({ op: match[1] as string, bytes: Number(match[2]), medianUs: Number(match[3]) });
  }
  return lines;
}
