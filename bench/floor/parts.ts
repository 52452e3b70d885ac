/**
 * The parts of a small collective's path (bench/floor), each timed on its own. Every part loads the
 * library from one build directory (`dist/` of a checkout), so two builds can be measured in one run.
 */
import type { Backend, Communicator } from '../../src/communicator/communicator.js';
import type { Fingerprint } from '../../src/communicator/fingerprint.js';
import { OneRankChannel } from '../../src/communicator/one-rank.js';

type CommunicatorModule = typeof import('../../src/communicator/communicator.js');
type FingerprintModule = typeof import('../../src/communicator/fingerprint.js');
type ValidateModule = typeof import('../../src/communicator/validate.js');
type ShmModule = typeof import('../../src/backends/shm/shm-backend.js');
type GroupModule = typeof import('../../src/backends/shm/group.js');

/** The library modules a measurement uses, loaded from one build directory. */
export interface Library {
  readonly communicator: CommunicatorModule;
  readonly fingerprint: FingerprintModule;
  readonly validate: ValidateModule;
  readonly shm: ShmModule;
  readonly group: GroupModule;
}

export async function loadLibrary(dist: string): Promise<Library> {
  const load = (path: string): Promise<unknown> => import(new URL(path, dist).href);
  return {
    communicator: (await load('communicator/communicator.js')) as CommunicatorModule,
    fingerprint: (await load('communicator/fingerprint.js')) as FingerprintModule,
    validate: (await load('communicator/validate.js')) as ValidateModule,
    shm: (await load('backends/shm/shm-backend.js')) as ShmModule,
    group: (await load('backends/shm/group.js')) as GroupModule,
  };
}

/** How long each measurement runs: `calls` per repetition (after as many to warm up), `reps` repetitions. */
export interface Effort {
  readonly calls: number;
  readonly reps: number;
}

const NS_PER_MS = 1e6;

/** ns per call of each repetition (the caller takes the median). */
export function timeSync(effort: Effort, f: () => void): number[] {
  for (let i = 0; i < effort.calls; i++) f();
  const out: number[] = [];
  for (let r = 0; r < effort.reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < effort.calls; i++) f();
    out.push(((performance.now() - t0) * NS_PER_MS) / effort.calls);
  }
  return out;
}

/** As timeSync, awaiting each call; `before` runs untimed before each repetition (e.g. a barrier). */
export async function timeAsync(
  effort: Effort,
  f: () => Promise<unknown> | unknown,
  before: () => Promise<unknown> = async () => {},
): Promise<number[]> {
  for (let i = 0; i < effort.calls; i++) await f();
  const out: number[] = [];
  for (let r = 0; r < effort.reps; r++) {
    await before();
    const t0 = performance.now();
    for (let i = 0; i < effort.calls; i++) await f();
    out.push(((performance.now() - t0) * NS_PER_MS) / effort.calls);
  }
  return out;
}

/**
 * As timeAsync for a call that usually completes synchronously (a backend's, returning undefined):
 * it is awaited only when it returns a promise, so the loop itself adds no microtask.
 */
export async function timeMaybeSync(
  effort: Effort,
  f: () => Promise<unknown> | void,
  before: () => Promise<unknown> = async () => {},
): Promise<number[]> {
  for (let i = 0; i < effort.calls; i++) {
    const pending = f();
    if (pending) await pending;
  }
  const out: number[] = [];
  for (let r = 0; r < effort.reps; r++) {
    await before();
    const t0 = performance.now();
    for (let i = 0; i < effort.calls; i++) {
      const pending = f();
      if (pending) await pending;
    }
    out.push(((performance.now() - t0) * NS_PER_MS) / effort.calls);
  }
  return out;
}

/** A backend that moves nothing and completes at once: what is left of a call is the front end. */
export function nullBackend(): Backend {
  return {
    name: 'local',
    rank: 0,
    size: 1,
    isLeader: true,
    channel: new OneRankChannel(),
    allreduce: () => {},
    allgatherv: () => {},
    broadcast: () => {},
    barrier: () => {},
    createSharedRegion: () => Promise.reject(new Error('not measured')),
    splitLocal: () => Promise.reject(new Error('not measured')),
    close: async () => {},
  };
}

/** The fingerprint of allreduce(Float64Array(1), 'sum'), as the front end makes it. */
export function allreduceFingerprint(lib: Library): Fingerprint {
  return lib.fingerprint.fingerprint('allreduce', { dtype: 'float64', count: 1, op: 'sum' });
}

/** One row's timings per collective of the table: ns per call of each repetition. */
export type Row = Record<'allreduce' | 'barrier', number[] | null>;

/** The parts measured on one thread with no peer (rows of the table, by name). */
export async function oneThreadRows(lib: Library, effort: Effort): Promise<Record<string, Row>> {
  const send = Float64Array.of(1);
  const recv = new Float64Array(1);
  const v = lib.validate;
  const checks = (): void => {
    // The checks allreduce(send, 'sum', recv) runs in full (communicator.ts).
    const dtype = v.checkBuffer('allreduce', 'send', send);
    v.checkOp('allreduce', 'sum');
    v.checkRecv('allreduce', dtype, recv, send.length);
    v.checkApartOrSame('allreduce', send, recv);
  };
  const fpOf = lib.fingerprint;
  const words = new Int32Array(fpOf.FINGERPRINT_WORDS);
  const resolved = Promise.resolve(recv);
  const nullComm = new lib.communicator.CheckedCommunicator(nullBackend());
  const shm = await oneRankShm(lib);
  const fp = allreduceFingerprint(lib);
  const barrierFp = fpOf.fingerprint('barrier');
  const rows: Record<string, Row> = {
    'validation (full checks)': { allreduce: timeSync(effort, checks), barrier: null },
    'fingerprint (make + encode)': {
      allreduce: timeSync(effort, () => {
        fpOf.encodeFingerprint(
          fpOf.fingerprint('allreduce', { dtype: 'float64', count: 1, op: 'sum' }),
          words,
        );
      }),
      barrier: timeSync(effort, () => {
        fpOf.encodeFingerprint(fpOf.fingerprint('barrier'), words);
      }),
    },
    'promise + await (resolved)': {
      allreduce: await timeAsync(effort, () => Promise.resolve(recv)),
      barrier: await timeAsync(effort, () => resolved),
    },
    'front end whole (null backend)': {
      allreduce: await timeAsync(effort, () => nullComm.allreduce(send, 'sum', recv)),
      barrier: await timeAsync(effort, () => nullComm.barrier()),
    },
    'shm backend alone, 1 rank': {
      allreduce: await timeMaybeSync(effort, () => shm.backend.allreduce(fp, send, recv, 'sum')),
      barrier: await timeMaybeSync(effort, () => shm.backend.barrier(barrierFp)),
    },
    'whole call, 1 rank shm': {
      allreduce: await timeAsync(effort, () => shm.comm.allreduce(send, 'sum', recv)),
      barrier: await timeAsync(effort, () => shm.comm.barrier()),
    },
  };
  await shm.comm.close();
  return rows;
}

async function oneRankShm(lib: Library): Promise<{ backend: Backend; comm: Communicator }> {
  const group = lib.group.createShmGroup({ size: 1 });
  const backend = await lib.shm.joinShm({ group: group.handle, rank: 0, timeoutSecs: 60 });
  return { backend, comm: new lib.communicator.CheckedCommunicator(backend) };
}
