// communicators.ts
import { init } from 'collective';

const comm = await init();
// Even and odd ranks, each a communicator of its own (MPI_Comm_split), ordered by rank.
const half = await comm.split(comm.rank % 2);
const evenOdd = await half!.allreduce(Float64Array.of(comm.rank)); // the sum over my half only
// A private copy of the world for a library: its traffic never matches the caller's.
const library = await comm.dup();
const everyone = await library.allgather(half!.rank);
console.log(`rank ${comm.rank}: half ${comm.rank % 2} sums to ${evenOdd[0]}, half ranks ${everyone}`);
await library.close();
await half!.close();
await comm.close();
