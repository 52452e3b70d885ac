import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { waitUntilGone } from './leftovers.js';
import { RANK_SCRIPT, runCli } from './run-cli.js';

const TRAIN_PARENT = fileURLToPath(new URL('./fixtures/train-parent.ts', import.meta.url));

it('workers of a SIGKILLed train() parent exit on their own (tcp)', async () => {
  const parent = spawn(process.execPath, ['--import', 'tsx', TRAIN_PARENT], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pids: number[] = [];
  let partial = '';
  const bothStarted = new Promise<void>((resolve) => {
    parent.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const pid = /worker pid=(\d+)/.exec(line)?.[1];
        if (pid) pids.push(Number(pid));
      }
      if (pids.length === 2) resolve();
    });
  });
  // The workers write to the parent's stdout (stdio is inherited): the pipe closes only once the
  // parent and every worker are gone, which is the event this test waits for.
  const everyWriterGone = new Promise<void>((resolve) => parent.stdout.once('close', resolve));
  await bothStarted;
  parent.kill('SIGKILL');
  await everyWriterGone;
  expect(pids).toHaveLength(2);
  // A process closes its files before the kernel marks it exited: the pipe's close can come first.
  await waitUntilGone(pids);
});

it('ranks of a SIGKILLed collective run exit on their own (tcp)', async () => {
  // Each rank holds a connection to this server: its close is the event of the rank's death.
  const connections: Array<{ pid: Promise<number>; closed: Promise<void> }> = [];
  let bothConnected: () => void = () => {};
  const connected = new Promise<void>((resolve) => (bothConnected = resolve));
  const server = createServer((socket) => {
    const pid = new Promise<number>((resolve) =>
      socket.setEncoding('utf8').once('data', (d: string) => resolve(Number(d.trim()))),
    );
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    connections.push({ pid, closed });
    if (connections.length === 2) bothConnected();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const run = runCli(['-n', '2', '--backend', 'tcp', RANK_SCRIPT, 'hold', String(port)]);
  await connected;
  const pids = await Promise.all(connections.map((c) => c.pid));
  run.child.kill('SIGKILL');
  await Promise.all(connections.map((c) => c.closed));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // A dying process closes its sockets before the kernel marks it exited (the rank now ends by
  // SIGKILLing its own process group): wait for the exit that follows, bounded by the test's timeout.
  await waitUntilGone(pids);
});
