/**
 * Timers that must not keep a process alive. Node's timers have unref(); a browser's are numbers and
 * never hold a page open, so there is nothing to do there. Everything in star/ goes through here
 * rather than calling `.unref()` on a timer, so the worker's path also runs in a browser.
 */
export function unrefTimer(timer: ReturnType<typeof setTimeout> | ReturnType<typeof setInterval>): void {
  const handle = timer as unknown as { unref?: () => void };
  if (typeof handle.unref === 'function') handle.unref();
}
