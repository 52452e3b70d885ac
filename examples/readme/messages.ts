// messages.ts
import { init, ANY_SOURCE } from 'collective';

const comm = await init();
const { rank, size } = comm;
const right = (rank + 1) % size;
const left = (rank + size - 1) % size;

// A ring: send to the right, receive from the left, at once (sendrecv never deadlocks).
const { data } = await comm.sendrecv(Float64Array.of(rank, rank * 10), right, Float64Array, left);

// Every rank reports to rank 0 (itself included); rank 0 takes them in arrival order.
const report = comm.sendObject({ rank, got: Array.from(data) }, 0, 7);
if (rank === 0) {
  for (let i = 0; i < size; i++) {
    const { value, status } = await comm.recvObject<{ rank: number; got: number[] }>(ANY_SOURCE, 7);
    console.log(`from rank ${status.source}: got ${value.got.join(',')}`);
  }
}
await report;
// A send resolves once posted, not once received: meet every rank before closing (spec §3).
await comm.barrier();
await comm.close();
