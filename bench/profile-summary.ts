/**
 * `npx tsx bench/profile-summary.ts <dir or .cpuprofile files> [--top 15]`
 *
 * Summarises V8 CPU profiles (node --cpu-prof; one file per thread and process) by self time per
 * function, so a missed target can say where its time goes. Usage, e.g. for shm allreduce 8 B:
 *   node --cpu-prof --cpu-prof-dir=bench/results/prof --import tsx bench/main.ts --out bench/results/prof \
 *     --runners shm --ops allreduce --ranks 2 --bytes 8
 *   npx tsx bench/profile-summary.ts bench/results/prof
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  /** Microseconds between consecutive samples. */
  readonly timeDeltas: readonly number[];
}

const DEFAULT_TOP = 15;
/** Idle/program/GC pseudo-frames that say the thread was not running our code. */
const PSEUDO_FRAMES = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

function profileFiles(paths: readonly string[]): string[] {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => join(p, f))
      : [p],
  );
}

function shortUrl(url: string): string {
  const at = url.search(/\/(src|bench|node_modules)\//);
  return at >= 0 ? url.slice(at + 1) : url.replace(/^node:/, 'node:');
}

/** Self time in µs per function (name + location), over every given profile. */
export function selfTimes(profiles: readonly CpuProfile[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    profile.samples.forEach((id, i) => {
      const frame = byId.get(id)?.callFrame;
      if (!frame) return;
      const name = frame.functionName || '(anonymous)';
      const key = frame.url ? `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : name;
      totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
    });
  }
  return totals;
}

function main(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { top: { type: 'string' } },
  });
  const files = profileFiles(positionals);
  if (files.length === 0) throw new Error('no .cpuprofile files: pass a directory or files');
  const totals = selfTimes(files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile));
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  const busy = [...totals].filter(([k]) => !PSEUDO_FRAMES.has(k)).reduce((a, [, v]) => a + v, 0);
  const top = Number(values.top ?? DEFAULT_TOP);
  process.stdout.write(
    `${files.length} profiles, ${(all / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s running JS/native\n\n`,
  );
  process.stdout.write('| self ms | % of sampled | function |\n| ---: | ---: | --- |\n');
  for (const [key, us] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`| ${(us / 1000).toFixed(1)} | ${((us / all) * 100).toFixed(1)}% | ${key} |\n`);
  }
}

main(process.argv.slice(2));
