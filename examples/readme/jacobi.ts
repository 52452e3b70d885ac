// jacobi.ts: the steady 2-D heat equation by Jacobi iteration, the grid's rows split over the ranks.
import { createHash } from 'node:crypto';
import { init } from 'collective';

const ROWS = 24; // grid points, boundary included; any world size up to ROWS gives the same bits
const COLS = 24;
const TOLERANCE = 1e-4; // converged when no point moved more than this in one iteration
const CHECK_EVERY = 10; // iterations between convergence checks (one allreduce each)
const MAX_ITERATIONS = 100_000;

const comm = await init();
const { rank, size } = comm;
// This rank owns global rows [first, first + own): blocks in rank order, the first ROWS % size one row longer.
const own = Math.floor(ROWS / size) + (rank < ROWS % size ? 1 : 0);
const first = rank * Math.floor(ROWS / size) + Math.min(rank, ROWS % size);
// Local rows 1…own are owned; rows 0 and own+1 are halos: copies of the neighbours' edge rows.
let u = new Float64Array((own + 2) * COLS);
let next = new Float64Array((own + 2) * COLS);
const row = (grid: Float64Array, i: number) => grid.subarray(i * COLS, (i + 1) * COLS);
if (first === 0) [u, next].forEach((grid) => row(grid, 1).fill(1)); // the top edge is hot, the rest 0
const up = rank > 0 ? rank - 1 : null;
const down = rank < size - 1 ? rank + 1 : null;

// Sends one row and receives another; the ranks at the ends have only one neighbour.
async function shift(send: Float64Array, dest: number | null, recv: Float64Array, source: number | null) {
  if (dest !== null && source !== null) await comm.sendrecv(send, dest, recv, source);
  else if (dest !== null) await comm.send(send, dest);
  else if (source !== null) await comm.recv(recv, source);
}

let iterations = 0;
let residual = Infinity;
while (residual > TOLERANCE && iterations < MAX_ITERATIONS) {
  await shift(row(u, 1), up, row(u, own + 1), down); // first owned row up, the row below arrives
  await shift(row(u, own), down, row(u, 0), up); // last owned row down, the row above arrives
  let change = 0;
  for (let i = 1; i <= own; i++) {
    const g = first + i - 1;
    if (g === 0 || g === ROWS - 1) continue; // boundary rows stay fixed
    for (let j = 1; j < COLS - 1; j++) {
      const k = i * COLS + j;
      const value = 0.25 * (u[k - COLS]! + u[k + COLS]! + u[k - 1]! + u[k + 1]!);
      change = Math.max(change, Math.abs(value - u[k]!));
      next[k] = value;
    }
  }
  [u, next] = [next, u];
  iterations++;
  if (iterations % CHECK_EVERY === 0) {
    residual = (await comm.allreduce(Float64Array.of(change), 'max'))[0] ?? 0;
  }
}

// Rank 0 gathers the owned rows, in rank order: the whole grid.
const grid = await comm.gatherv(u.subarray(COLS, (own + 1) * COLS), 0);
if (grid !== null) {
  const bytes = new Uint8Array(grid.buffer, grid.byteOffset, grid.byteLength);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const where = `${size} rank(s) on ${comm.backend}`;
  console.log(`jacobi: ${iterations} iterations on ${where}, residual ${residual}, sha256 ${sha256}`);
}
// gatherv returns on a sender once its rows are sent; a rank that closed then would fail rank 0's gatherv.
await comm.barrier();
await comm.close();
