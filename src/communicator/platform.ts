/**
 * What differs between Node.js and a browser, for code on the path of a browser rank (spec/browser.md
 * §3): a warning, a turn of the event loop, a timer that must not keep a process alive. Each helper
 * does exactly what Node.js code does today when Node.js is the host, so using it changes nothing
 * there; elsewhere it falls back to the closest web API.
 */

/** The Node.js `process` where there is one (undefined in a browser page or worker). */
const nodeProcess = (globalThis as { process?: { emitWarning?: unknown } }).process;

/**
 * Emits a warning: process.emitWarning(message, { type, code }) under Node.js (so `--no-warnings`
 * and 'warning' listeners apply), else console.warn(`${type} [${code}]: ${message}`), the shape of
 * Node.js's own warning line.
 */
export function emitWarning(message: string, options: { type?: string; code: string }): void {
  if (typeof nodeProcess?.emitWarning === 'function') {
    (nodeProcess.emitWarning as (m: string, o: { type?: string; code: string }) => void)(message, options);
    return;
  }
  console.warn(`${options.type ?? 'Warning'} [${options.code}]: ${message}`);
}

type Scheduler = (callback: () => void) => void;

/**
 * The way to run a callback after pending I/O: setImmediate under Node.js; a MessageChannel message
 * in a browser (setTimeout(0) is clamped to ≥ 4 ms once nested, which would throttle a yielding loop);
 * setTimeout(0) where neither exists.
 */
function macrotaskScheduler(): Scheduler {
  const scope = globalThis as unknown as {
    setImmediate?: (callback: () => void) => unknown;
    MessageChannel?: new () => {
      port1: { onmessage: (() => void) | null; close(): void };
      port2: { postMessage(message: unknown): void };
    };
  };
  if (typeof scope.setImmediate === 'function') {
    const setImmediate = scope.setImmediate;
    return (callback) => void setImmediate(callback);
  }
  if (typeof scope.MessageChannel === 'function') {
    const channel = new scope.MessageChannel();
    const queue: Array<() => void> = [];
    channel.port1.onmessage = () => queue.shift()?.();
    return (callback) => {
      queue.push(callback);
      channel.port2.postMessage(null);
    };
  }
  return (callback) => void setTimeout(callback, 0);
}

const schedule = macrotaskScheduler();

/** Resolves on a later turn of the event loop, after pending I/O callbacks (setImmediate's promise). */
export function nextMacrotask(): Promise<void> {
  return new Promise<void>((resolve) => schedule(resolve));
}

/**
 * Lets `timer` not keep a Node.js process alive (timer.unref()); a no-op where timers are numbers
 * (browsers have no process to keep alive).
 */
export function unrefTimer(timer: unknown): void {
  (timer as { unref?: () => void } | null)?.unref?.();
}
