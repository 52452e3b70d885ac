// Builds the MPI backend's addon (native/mpi, spec/backend-mpi.md §2) where an MPI implementation is
// found; run by the package's `install` script. It never fails the install: without MPI, or when the
// build fails, the package works as before (availableBackends() omits mpi) and the reason is written
// to native/mpi/build-status.json, which `collective doctor` prints.
//
//   node scripts/build-mpi.mjs            find MPI, build, record the outcome
//   COLLECTIVE_MPI_BUILD=0                skip (recorded as "disabled")
//
// MPI's flags come from, in order: `mpicc --showme:compile/--showme:link` (Open MPI), `mpicc -show`
// (MPICH, Intel MPI), pkg-config `ompi-c` or `mpich`. Node's headers: npm_config_nodedir when set,
// else the headers next to this Node.js (a distribution's nodejs package installs them under
// <prefix>/include/node), else node-gyp's own download (which needs the network).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ADDON_DIR = join(ROOT, 'native', 'mpi');
const STATUS_FILE = join(ADDON_DIR, 'build-status.json');
/** The tail of node-gyp's output kept in the status file when the build fails, in characters. */
const REASON_TAIL_CHARS = 1500;
/** A compile on a loaded 2-core machine takes tens of seconds; a hang must not block the install. */
const BUILD_TIMEOUT_MS = 5 * 60 * 1000;

function record(status) {
  try {
    mkdirSync(ADDON_DIR, { recursive: true });
    writeFileSync(STATUS_FILE, `${JSON.stringify({ ...status, at: new Date().toISOString() }, null, 2)}\n`);
  } catch {
    // A read-only install directory: doctor then says the status is unknown.
  }
  const line = status.state === 'built' ? `built (${status.source})` : `${status.state}: ${status.reason}`;
  process.stdout.write(`collective: MPI backend addon ${line}\n`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error || result.status !== 0) return null;
  return result.stdout.trim();
}

/** The compile and link flags of the MPI found here, or null. */
function findMpi() {
  const compile = run('mpicc', ['--showme:compile']);
  const link = run('mpicc', ['--showme:link']);
  if (compile !== null && link !== null) return { source: 'mpicc --showme (Open MPI)', compile, link };
  const show = run('mpicc', ['-show']);
  if (show !== null) {
    const words = show.split(/\s+/).slice(1); // drop the compiler itself
    return {
      source: 'mpicc -show (MPICH)',
      compile: words.filter((w) => w.startsWith('-I') || w.startsWith('-D')).join(' '),
      link: words.filter((w) => w.startsWith('-L') || w.startsWith('-l') || w.startsWith('-Wl')).join(' '),
    };
  }
  for (const name of ['ompi-c', 'mpich']) {
    const compile = run('pkg-config', ['--cflags', name]);
    const link = run('pkg-config', ['--libs', name]);
    if (compile !== null && link !== null) return { source: `pkg-config ${name}`, compile, link };
  }
  return null;
}

function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

function main() {
  if (process.env.COLLECTIVE_MPI_BUILD === '0') {
    record({ state: 'disabled', reason: 'COLLECTIVE_MPI_BUILD=0 at install' });
    return;
  }
  const mpi = findMpi();
  if (mpi === null) {
    record({
      state: 'no-mpi',
      reason:
        'no MPI found at install (no mpicc, no pkg-config ompi-c or mpich): install Open MPI (e.g. apt-get install libopenmpi-dev) or MPICH, then npm rebuild collective',
    });
    return;
  }
  let gyp;
  try {
    gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    record({
      state: 'failed',
      reason: `MPI found (${mpi.source}) but node-gyp is not installed (an optional dependency): npm install node-gyp node-addon-api, then npm rebuild collective`,
    });
    return;
  }
  const libDirs = mpi.link
    .split(/\s+/)
    .filter((w) => w.startsWith('-L'))
    .map((w) => w.slice(2));
  const dir = nodeDir();
  const args = [gyp, 'rebuild', '--directory', ADDON_DIR, ...(dir ? [`--nodedir=${dir}`] : [])];
  const result = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    timeout: BUILD_TIMEOUT_MS,
    env: {
      ...process.env,
      COLLECTIVE_MPI_CFLAGS: mpi.compile,
      COLLECTIVE_MPI_LIBS: mpi.link,
      // The addon finds libmpi where mpicc said it is, not only on the loader's default path.
      COLLECTIVE_MPI_LDFLAGS: libDirs.map((d) => `-Wl,-rpath,${d}`).join(' '),
    },
  });
  if (result.status === 0) {
    record({ state: 'built', source: mpi.source, nodedir: dir ?? 'downloaded by node-gyp' });
    return;
  }
  const output = `${result.stdout ?? ''}\n${result.stderr ?? ''}${result.error ? `\n${result.error.message}` : ''}`;
  record({
    state: 'failed',
    source: mpi.source,
    reason: `node-gyp failed (exit ${result.status ?? result.signal}): ${output.trim().slice(-REASON_TAIL_CHARS)}`,
  });
}

try {
  main();
} catch (error) {
  record({
    state: 'failed',
    reason: `build-mpi.mjs: ${error instanceof Error ? error.message : String(error)}`,
  });
}
