/**
 * Loaded with --import into every process rank of `collective run`, before the rank's script:
 *  - stdout and stderr become blocking pipes, so no byte written is lost however the rank ends;
 *  - the rank exits as soon as the launcher's IPC channel closes and takes its process group (the
 *    helpers it started) with it, so a killed launcher leaves no orphans. The channel is unref'd so
 *    that it never keeps a finished rank alive.
 */
import { makeStdioBlocking } from './blocking-stdio.js';
import { exitWithLauncher } from './process-group.js';

makeStdioBlocking();
if (typeof process.send === 'function') {
  exitWithLauncher();
  process.channel?.unref();
}
