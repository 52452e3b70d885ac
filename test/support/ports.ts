/** Ports for tests that must name one before anything listens on it (launchers that take no port 0). */
import { createServer } from 'node:net';

/** A port nobody listens on now, so a parallel job on this machine cannot collide with the default. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
