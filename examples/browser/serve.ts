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
import { connectWs } from '../../src/backends/ws/index.js';

const SIZE = Number(process.argv[2] ?? 3);
const PATH = '/collective';
/** How long rank 0 waits for every tab to be opened (s). */
const JOIN_SECS = 300;
const token = randomBytes(16).toString('hex');
const bundle = new URL('../../dist/browser/collective.js', import.meta.url);
const files: Record<string, [URL, string]> = {
  '/': [new URL('./index.html', import.meta.url), 'text/html; charset=utf-8'],
  '/collective.js': [bundle, 'text/javascript; charset=utf-8'],
  '/collective.js.map': [new URL(`${bundle.href}.map`), 'application/json'],
};

const server = createServer((request, response) => {
  const file = files[new URL(request.url ?? '/', 'http://x').pathname];
  if (file === undefined) return void response.writeHead(404).end();
  response.writeHead(200, { 'content-type': file[1] }).end(readFileSync(file[0]));
});
await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
for (let rank = 2; rank < SIZE; rank++)
  console.log(`open ${origin}/?rank=${rank}&size=${SIZE}&token=${token}`);

const clocks = { timeoutSecs: 60, connectTimeoutSecs: JOIN_SECS };
const ranks = await Promise.all([
  connectWs({ rank: 0, size: SIZE, server, path: PATH, token, allowedOrigins: [origin], ...clocks }),
  connectWs({ rank: 1, size: SIZE, url: `ws://${origin.slice('http://'.length)}${PATH}`, token, ...clocks }),
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
