import { init, CommError } from 'collective';

const comm = await init(); // picks local, shm or tcp from the environment (spec/selection.md)
const { rank, size } = comm;

// Buffer family: numeric typed arrays, no encoding.
const sum = await comm.allreduce(Float64Array.from([rank, 1])); // [0+1+…+(size-1), size], same bits on every rank
const max = await comm.allreduce(Int32Array.of(rank), 'max'); // 'sum' | 'prod' | 'min' | 'max'
const mine = new Float32Array(rank + 1).fill(rank);
const all = await comm.allgatherv(mine); // blocks in rank order; counts exchanged for you
const buf = rank === 0 ? Float64Array.of(3.14) : new Float64Array(1);
await comm.broadcast(buf, 0); // root 0's values, in place, on every rank
await comm.barrier();

// Object family: any MessagePack-encodable value (objects, Maps, Sets, Dates, bigints, typed arrays).
const hosts = await comm.allgather({ rank, pid: process.pid }); // one value per rank, in rank order
const config = await comm.bcast(rank === 0 ? { lr: 0.1 } : null); // root 0's value everywhere
console.log(`rank ${rank}/${size}`, { sum, max, all, buf, hosts, config });

// Shared memory: one copy per node on shm, a private copy elsewhere — the same code works on both.
const region = await comm.createSharedRegion(Float64Array, 1024);
if (region.isLeader) region.data.fill(1);
await region.fence(); // the leader's writes are now visible to every rank of the node

try {
  await comm.allreduce(new Float64Array(4), 'sum', new Float64Array(3));
} catch (error) {
  if (error instanceof CommError) console.log(error.code); // 'InvalidBufferSize' — raised on every rank
}
await comm.close(); // idempotent; later calls reject with 'InvalidCommunicator'; init() again on every rank rejoins
