/**
 * Makes a rank process's stdout and stderr blocking when they are pipes (spec/train.md §7.4).
 *
 * Node.js writes to a pipe asynchronously on POSIX: what the kernel pipe cannot take at once is queued
 * in the process and written later. A rank that calls process.exit(), throws, or is killed right after
 * writing loses that queue — its last lines, or all of a line longer than the pipe buffer (64 KiB on
 * Linux), never reach the launcher. A blocking pipe makes every write complete into the kernel before
 * it returns; bytes in the kernel pipe survive any way the writer ends. The cost: a rank whose reader
 * (the launcher) does not keep up waits in write() instead of growing its own memory.
 * Files and terminals are already synchronous; other handles are left as they are.
 */
interface PipeHandle {
  setBlocking?(blocking: boolean): number;
}

export function makeStdioBlocking(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const handle = (stream as unknown as { _handle?: PipeHandle })._handle;
    if (handle?.constructor?.name === 'Pipe') handle.setBlocking?.(true);
  }
}
