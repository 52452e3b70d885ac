// The main job behind `npm start`. For now: a small demo on the local backend.
import { init } from '../src/index.js';

const comm = await init();
const sum = await comm.allreduce(Float64Array.from([1, 2, 3]));
const gathered = await comm.allgather({ rank: comm.rank, hello: 'world' });
console.log(`backend=${comm.backend} rank=${comm.rank}/${comm.size}`);
console.log('allreduce([1,2,3]) =', Array.from(sum));
console.log('allgather =', gathered);
await comm.close();
