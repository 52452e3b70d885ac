// app.ts
import { init } from 'collective';

const comm = await init();
const sum = await comm.allreduce(Float64Array.from([comm.rank]));
console.log(`rank ${comm.rank}/${comm.size} on ${comm.backend}: ${sum[0]}`);
await comm.close();
