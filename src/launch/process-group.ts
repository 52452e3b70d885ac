/**
 * Process groups of process ranks (spec/train.md §4.6, §7.6–7.7). Every process rank runs as the
 * leader of a process group of its own, and whatever it starts (a `sleep`, a data loader, a shell
 * pipeline) is in that group unless it moves itself out. Stopping a rank stops its group; a rank whose
 * launcher vanished takes its group down with it; when a rank ends, what is left of its group is killed.
 */

/** Exit status of a rank (or train() worker) whose launcher went away. */
export const EXIT_LAUNCHER_GONE = 70;

/**
 * Sends `signal` to the process group `pgid`; false when no such group is left. A group id is its
 * leader's pid, and the kernel does not hand out a pid while a group of that id exists, so the signal
 * cannot reach a stranger's group.
 */
export function signalProcessGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * In a rank process: exit when the launcher's IPC channel closes, and, when this process exits with
 * the launcher gone (by that exit or any other way), kill its own process group first — this process
 * included, which then ends by SIGKILL rather than with EXIT_LAUNCHER_GONE; nobody is left to see the
 * difference. Only when this process leads a group: otherwise the group is someone else's.
 */
export function exitWithLauncher(): void {
  process.on('disconnect', () => process.exit(EXIT_LAUNCHER_GONE));
  process.on('exit', () => {
    if (!process.connected) signalProcessGroup(process.pid, 'SIGKILL');
  });
}
