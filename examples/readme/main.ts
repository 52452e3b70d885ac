// main.ts
import { train, WorkerError } from 'collective';

try {
  const weights = await train<Float64Array>('./worker.ts', {
    numWorkers: 4, // 1 (the default) runs in this thread
    backend: 'auto', // 'shm' (threads), 'tcp' (processes), 'auto': tcp if COLLECTIVE_TCP_COORDINATOR is set, else shm
    args: { steps: 100 },
    onProgress: (event) => console.log(`worker ${event.workerId}: step ${event.step}`),
    timeoutMs: 60_000, // the whole run; a collective's own timeout is COLLECTIVE_TIMEOUT_SECS (below)
  });
  console.log(weights);
} catch (error) {
  if (error instanceof WorkerError)
    console.error(error.rank, error.exitCode, error.signal, error.inner?.stack);
  throw error;
}
