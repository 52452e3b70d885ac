/**
 * The memory fixture (fixtures/memory.ts) in its own process, forked with an IPC channel and
 * --expose-gc, for tests that measure rank 0's memory: its messages in arrival order, one at a time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/memory.ts', import.meta.url));

export type Usage = { rss: number; arrayBuffers: number; external: number; heapUsed: number };
export type Message = Record<string, unknown> & { type: string };

/** The memory fixture in its own process (IPC, --expose-gc); messages are kept in arrival order. */
export class MemoryChild {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly #messages: Message[] = [];
  #waiters: Array<() => void> = [];
  stderr = '';

  /** `fixture`: the script to fork (default fixtures/memory.ts); it reports over IPC. */
  constructor(args: Record<string, unknown>, fixture = FIXTURE) {
    this.child = fork(fixture, [JSON.stringify(args)], {
      execArgv: ['--import', 'tsx', '--expose-gc'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.child.stderr!.on('data', (chunk: Buffer) => void (this.stderr += chunk.toString('utf8')));
    this.child.on('message', (m) => {
      this.#messages.push(m as Message);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        for (const w of this.#waiters.splice(0)) w();
        resolve(code);
      }),
    );
  }

  /** Takes the first message of `type` (received or to come); rejects if the process exits first. */
  async next(type: string): Promise<Message> {
    for (;;) {
      const at = this.#messages.findIndex((m) => m.type === type || m.type === 'error');
      if (at >= 0) {
        const [found] = this.#messages.splice(at, 1) as [Message];
        if (found.type === 'error') throw new Error(`memory child failed: ${String(found['error'])}`);
        return found;
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`memory child exited without '${type}'; stderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Drops the messages of `type` received so far (stale ones from an earlier step). */
  discard(type: string): void {
    for (let i = this.#messages.length - 1; i >= 0; i--)
      if (this.#messages[i]?.type === type) this.#messages.splice(i, 1);
  }

  /** Whether a message of `type` has arrived (it is left in place). */
  has(type: string): boolean {
    return this.#messages.some((m) => m.type === type);
  }

  async memory(): Promise<{ peak: Usage; now: Usage }> {
    this.child.send({ type: 'memory' });
    return (await this.next('memory')) as unknown as { peak: Usage; now: Usage };
  }
}

/** After a test: SIGKILLs the memory children still running and waits until every one has exited. */
export async function stopMemoryChildren(children: MemoryChild[]): Promise<void> {
  for (const c of children.splice(0)) {
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await c.exited;
  }
}
