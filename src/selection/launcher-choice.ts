/**
 * How a launcher of ours (train(), `collective run`) runs its ranks when told 'auto'
 * (spec/selection.md §5.3): processes over tcp when a coordinator is named, else threads over shm.
 * One rule, shared by both launchers, next to the chain it mirrors.
 */
import { VARIABLES } from './settings.js';
import type { EnvRecord } from './values.js';

export function launcherBackend(env: EnvRecord): 'tcp' | 'shm' {
  return env[VARIABLES.coordinator] ? 'tcp' : 'shm';
}
