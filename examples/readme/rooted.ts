// rooted.ts
import { init } from 'collective';

const comm = await init();
const { rank, size } = comm;
const root = 0;

// Rooted: one rank gets the result (null elsewhere), or hands out the blocks.
const total = await comm.reduce(Float64Array.of(rank + 1), 'sum', root); // root: [1+2+…+size], bit-for-bit allreduce's
const ranks = await comm.gather(Int32Array.of(rank), root); // root: [0, 1, …, size-1]
const ragged = await comm.gatherv(new Float32Array(rank + 1).fill(rank), root); // blocks of any length, packed
const work = rank === root ? Float64Array.from({ length: 2 * size }, (_, i) => i) : null;
const mine = await comm.scatter(work, Float64Array, root); // [2·rank, 2·rank+1]; scatterv takes counts at the root

// Personalised: every rank gets its own part.
const shard = await comm.reduceScatterBlock(new Float64Array(2 * size).fill(1)); // [size, size]; reduceScatter: any counts
const swapped = await comm.alltoall(Int32Array.from({ length: size }, (_, j) => 10 * rank + j)); // [i·10 + rank]
const v = await comm.alltoallv(new Int32Array(size).fill(rank), new Array<number>(size).fill(1)); // [0, 1, …]

// Prefix: left folds in rank order.
const upTo = await comm.scan(Int32Array.of(1)); // [rank + 1]
const before = await comm.exscan(Int32Array.of(1)); // [rank]; rank 0: a new zero-filled array
console.log(`rank ${rank}`, { total, ranks, ragged, mine, shard, swapped, v, upTo, before });
// These resolve on a rank once its part is done, not once every rank's is: meet before closing (spec §3).
await comm.barrier();
await comm.close();
