// node-groups.ts
import { init } from 'collective';

const comm = await init();
// The ranks that share memory with this one: all of them on shm; this rank alone on tcp and local.
const node = await comm.splitLocal();
// One table per node: its leader fills it, and after the fence every rank of the node reads it.
const table = await node.createSharedRegion(Float64Array, 4);
if (table.isLeader) table.data.set([1, 2, 3, 4]);
await table.fence();
const nodeSum = table.data.reduce((a, b) => a + b, 0);
// Across nodes, each node counts once: its leader contributes, the others contribute 0.
const total = await comm.allreduce(Float64Array.of(node.isLeader ? nodeSum : 0));
console.log(
  `rank ${comm.rank}: ${node.size} rank(s) on this node, leader: ${node.isLeader}, total ${total[0]}`,
);
await table.close();
await node.close();
await comm.close();
