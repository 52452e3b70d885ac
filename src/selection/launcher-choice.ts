/**
 * How a launcher of ours (train(), `collective run`) runs its ranks when told 'auto'
 * (spec/selection.md §5.3): the first row of the backend table, in auto order, whose launcher rule
 * picks this environment — processes over tcp when a coordinator is named, else threads over shm.
 * One rule, shared by both launchers, next to the chain it mirrors.
 */
import { autoSteps, type TableName } from './backends.js';
import type { EnvRecord } from './values.js';

export function launcherBackend(env: EnvRecord): TableName {
  for (const { row } of autoSteps()) {
    if ('launcherAuto' in row.launch && row.launch.launcherAuto?.picks(env)) return row.name;
  }
  throw new Error('internal error: no launcher rule of the backend table picked (the last must always pick)');
}

/**
 * The launchers' `auto` as a sentence (`collective run --help`): `tcp when COLLECTIVE_TCP_COORDINATOR is
 * set, else shm`.
 */
export function launcherAutoRule(): string {
  const parts: string[] = [];
  for (const { row } of autoSteps()) {
    if (!('launcherAuto' in row.launch) || row.launch.launcherAuto === undefined) continue;
    const { when } = row.launch.launcherAuto;
    parts.push(when === undefined ? row.name : `${row.name} when ${when}`);
  }
  return parts.join(', else ');
}
