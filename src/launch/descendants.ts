/**
 * Ending what a `collective run` job leaves behind (spec/train.md §7.7). Thread ranks share the
 * launcher's process, so the child processes they start (helpers, data loaders, shells) are the
 * launcher's children, and nothing ends them when a thread ends. When the job is over, the launcher
 * ends every process it still has as a descendant: found through /proc (a process whose parent chain
 * leads to the launcher), SIGTERM to each and to the process groups they lead, then SIGKILL to those
 * still there after the grace period. On a system without /proc nothing is found (documented).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { signalProcessGroup } from './process-group.js';

/** How often the sweep looks whether the processes it asked to end are gone. */
const SWEEP_POLL_MS = 20;

interface ProcessInfo {
  pid: number;
  ppid: number;
  pgrp: number;
  /** Clock ticks after boot: with the pid, names one process even if its pid is reused. */
  startTime: string;
  zombie: boolean;
}

function readProcess(pid: number): ProcessInfo | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  // cutime cstime priority nice threads itrealvalue starttime …"; comm may hold spaces and ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    startTime: fields[19] ?? '',
    zombie: fields[0] === 'Z',
  };
}

function allProcesses(): ProcessInfo[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: ProcessInfo[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProcess(Number(name));
    if (info) found.push(info);
  }
  return found;
}

/** Every live process whose parent chain leads to `root`, parents before their children. */
export function descendantsOf(root: number): ProcessInfo[] {
  const children = new Map<number, ProcessInfo[]>();
  for (const info of allProcesses()) {
    const list = children.get(info.ppid) ?? [];
    list.push(info);
    children.set(info.ppid, list);
  }
  const found: ProcessInfo[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      if (!child.zombie) found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

/**
 * The launcher's own tooling, not the ranks': the esbuild service that tsx starts in this process to
 * compile TypeScript rank programs (`esbuild --service=<version> --ping`). It ends with this process;
 * ending it early would break any later compile, and reporting it would blame the ranks.
 */
function isCompilerService(info: ProcessInfo): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${info.pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  const program = argv[0] ?? '';
  return /(^|\/)esbuild(\.exe)?$/.test(program) && argv.some((arg) => arg.startsWith('--service='));
}

/** What the ranks left running: this process's descendants, less its own compiler service. */
function ranksLeftovers(): ProcessInfo[] {
  return descendantsOf(process.pid).filter((info) => !isCompilerService(info));
}

function stillThere(info: ProcessInfo): boolean {
  const now = readProcess(info.pid);
  return now !== null && !now.zombie && now.startTime === info.startTime;
}

function signal(targets: readonly ProcessInfo[], name: NodeJS.Signals, ownGroup: number): void {
  for (const info of targets) {
    try {
      process.kill(info.pid, name);
    } catch {
      // Gone already.
    }
    // A helper that leads a group of its own (a shell's pipeline, a detached loader) takes its group along.
    if (info.pgrp === info.pid && info.pgrp !== ownGroup) signalProcessGroup(info.pgrp, name);
  }
}

/**
 * Ends every descendant of this process: SIGTERM, then SIGKILL after graceMs to those still there
 * (and to any started meanwhile). Resolves with the pids it found. The whole set is taken before any
 * signal, so a grandchild is found before its parent's end reparents it away from us.
 */
export async function endDescendants(graceMs: number): Promise<number[]> {
  const ownGroup = readProcess(process.pid)?.pgrp ?? -1;
  const found = ranksLeftovers();
  if (found.length === 0) return [];
  signal(found, 'SIGTERM', ownGroup);
  const deadline = Date.now() + graceMs;
  while (found.some(stillThere) && Date.now() < deadline) await delay(SWEEP_POLL_MS);
  signal([...found.filter(stillThere), ...ranksLeftovers()], 'SIGKILL', ownGroup);
  return found.map((info) => info.pid);
}
