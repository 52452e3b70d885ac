/**
 * Ranks in a browser (README "Ranks in a browser"): serves index.html and the browser bundle on
 * http://127.0.0.1:8080/, runs rank 0 on the same server (WebSocket on /collective, only this
 * origin allowed) and rank 1 in this process, and prints one URL per browser rank: each tab opened
 * at its URL joins as that rank. Everyone allreduces [rank, 10·rank] and allgathers a name.
 *
 * Run: npm run build && npx tsx examples/browser/serve.ts [size, default 3] (PORT=0: any free port)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { init } from 'collective';

const SIZE = Number(process.argv[2] ?? 3);
const PATH = '/collective';
/** How long rank 0 waits for every tab to be opened (s). */
const JOIN_SECS = 300;
const token = randomBytes(16).toString('hex');
/** Names this job: rank 0 admits only ranks of the same job id (pages get it in their URL, as the token). */
const jobId = 'browser-example';
const bundle = new URL('../../dist/browser/collective.js', import.meta.url);
const files: Record<string, [URL, string]> = {
  '/': [new URL('./index.html', import.meta.url), 'text/html; charset=utf-8'],
  '/collective.js': [bundle, 'text/javascript; charset=utf-8'],
  '/collective.js.map': [new URL(`${bundle.href}.map`), 'application/json'],
};

const server = createServer((request, response) => {
  let path: string;
  try {
    path = new URL(request.url ?? '/', 'http://x').pathname;
  } catch {
    return void response.writeHead(400).end(); // an unparsable target (`//[`) must not crash the server
  }
  const file = files[path];
  if (file === undefined) return void response.writeHead(404).end();
  response.writeHead(200, { 'content-type': file[1] }).end(readFileSync(file[0]));
});
await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
for (let rank = 2; rank < SIZE; rank++)
  console.log(`open ${origin}/?rank=${rank}&size=${SIZE}&job=${jobId}&token=${token}`);

const common = {
  backend: 'ws' as const,
  size: SIZE,
  token,
  jobId,
  timeoutSecs: 60,
  connectTimeoutSecs: JOIN_SECS,
};
const ranks = await Promise.all([
  init({ ...common, rank: 0, server, path: PATH, allowedOrigins: [origin] }),
  init({ ...common, rank: 1, url: `ws://${origin.slice('http://'.length)}${PATH}` }),
]);
await Promise.all(
  ranks.map(async (comm) => {
    const sum = await comm.allreduce(new Float64Array([comm.rank, comm.rank * 10]), 'sum');
    const names = await comm.allgather(`rank ${comm.rank} (Node.js ${process.version})`);
    console.log(`rank ${comm.rank}/${comm.size}: sum ${Array.from(sum).join(', ')}; ${names.join('; ')}`);
    await comm.close();
  }),
);
server.close();
