/** The machine a run was measured on, as the README and the JSON describe it. */
import os from 'node:os';

export interface MachineDescription {
  readonly cores: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly os: string;
  /** 1-minute load average when the run started: others' work on a shared box skews numbers. */
  readonly loadAtStart: number;
  readonly date: string;
  readonly summary: string;
}

const BYTES_PER_GIB = 1024 ** 3;

export function describeMachine(): MachineDescription {
  const cores = os.availableParallelism();
  const cpuModel = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const memoryGiB = Math.round(os.totalmem() / BYTES_PER_GIB);
  const loadAtStart = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
  const osName = `${os.type()} ${os.release()}`;
  const date = new Date().toISOString();
  const summary = `${cores} cores (${cpuModel}), ${memoryGiB} GiB, Node ${process.version}, ${osName}, load ${loadAtStart} at start, ${date}`;
  return { cores, cpuModel, memoryGiB, node: process.version, os: osName, loadAtStart, date, summary };
}
