/**
 * The mpi backend's configuration (spec/selection.md §5.1 step 2, §5.2): picked by `auto` under an MPI
 * launcher (Open MPI, MPICH) when the addon loads; otherwise `auto` goes on to tcp and warns why.
 */
import { loadAddon } from '../backends/mpi/addon.js';
import type { Availability } from './backend-start.js';
import type { MpiConfig, SelectionWarning } from './config.js';
import type { Context, SelectionInputs } from './configure.js';
import { readLaunch } from './launchers.js';
import { readWorldShape, VARIABLES } from './settings.js';

/** The warning of an MPI launch that runs on tcp because the addon does not load. */
export const MPI_UNAVAILABLE_WARNING = 'COLLECTIVE_MPI_UNAVAILABLE';

/** Whether the addon loads here (it is loaded, not initialised: MPI starts only in connectMpi). */
export function mpiAvailability(): Availability {
  const addon = loadAddon();
  return addon.loaded ? { available: true } : { available: false, reason: addon.reason };
}

/** The probe `auto` asks (SelectionInputs.mpiAddon); absent in an input, the addon counts as unavailable. */
function probe(inputs: SelectionInputs): Availability {
  return inputs.mpiAddon?.() ?? { available: false, reason: 'the MPI addon was not probed' };
}

/** §5.1 step 2: launched by an MPI runtime, and the addon loads. */
export function mpiPicks(context: Context): boolean {
  if (context.launch?.isMpi !== true) return false;
  const availability = probe(context.inputs);
  if (!availability.available) {
    context.reasons.push(
      `launched by ${context.launch.launcher} (${context.launch.rank.source}), but the mpi backend cannot run: ${availability.reason}`,
    );
    return false;
  }
  return true;
}

export function mpi(context: Context): MpiConfig {
  const { options, env } = context.inputs;
  const world = readWorldShape(options, env, context.launch);
  context.reasons.push(
    context.launch?.isMpi
      ? `launched by ${context.launch.launcher} (${context.launch.rank.source}) and the MPI addon loads → mpi`
      : `mpi without an MPI launcher: MPI starts this process as a singleton (one rank) unless mpirun started it`,
  );
  return {
    backend: 'mpi',
    timeoutSecs: context.timeouts.timeoutSecs,
    stallWarningSecs: context.timeouts.stallWarningSecs,
    ...(world.rank ? { rank: world.rank.value } : {}),
    ...(world.size ? { size: world.size.value } : {}),
  };
}

/**
 * §7: an MPI launch that fell back to tcp (or ws) because the addon does not load: correct, but MPI's
 * fabric is not used. Added to the warnings of the tcp selection.
 */
export function mpiFallbackWarnings(inputs: SelectionInputs): SelectionWarning[] {
  let launch;
  try {
    launch = readLaunch(inputs.env);
  } catch {
    return [];
  }
  if (launch?.isMpi !== true || inputs.options.backend !== undefined || inputs.env[VARIABLES.backend])
    return [];
  // Not probed (a pure table test): nothing is known about the addon, so nothing to warn about.
  if (inputs.mpiAddon === undefined) return [];
  const availability = probe(inputs);
  if (availability.available) return [];
  return [
    {
      code: MPI_UNAVAILABLE_WARNING,
      message: `launched by ${launch.launcher}, but the mpi backend cannot run (${availability.reason}); using tcp instead, which does not use MPI's fabric. Run collective doctor for details.`,
    },
  ];
}
