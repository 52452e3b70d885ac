/**
 * Loaded with --import into every process rank of `collective run`, before the rank's script:
 *  - stdout and stderr become blocking pipes, so no byte written is lost however the rank ends;
 *  - the rank exits as soon as the launcher's IPC channel closes, so a killed launcher leaves no
 *    orphans. The channel is unref'd so that it never keeps a finished rank alive.
 */
import { makeStdioBlocking } from './blocking-stdio.js';

/** The exit status of a rank whose launcher went away. */
const EXIT_LAUNCHER_GONE = 70;

makeStdioBlocking();
if (typeof process.send === 'function') {
  process.on('disconnect', () => process.exit(EXIT_LAUNCHER_GONE));
  process.channel?.unref();
}
