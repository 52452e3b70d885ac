/**
 * The priority chain (spec/selection.md §5): a pure function from options, environment record and
 * workerData to a validated BackendConfig plus the reasons for it — or a BackendError. Nothing here
 * touches process.env, sockets or threads, so every environment is a row of a table test.
 *
 *   explicit backend → mpi under an MPI launcher when its addon loads → tcp if a coordinator is known → shm if in a group → local
 */
import { BackendError } from '../communicator/errors.js';
import { readBackendChoice } from './backend-choice.js';
import { autoSteps, rowOf, type BackendConfig } from './backends.js';
import { shown, type AutoFacts, type Context, type SelectionInputs } from './configure.js';
import { readLaunch } from './launchers.js';
import type { SelectionWarning } from './config.js';
import type { BackendChoice } from './options.js';
import { availabilityOf } from './registry.js';
import { readNamedAddress, readTimeouts, readWorldShape, VARIABLES } from './settings.js';
import { readShmMembership } from './shm-group.js';
import type { Sourced } from './values.js';

export type { SelectionInputs } from './configure.js';

export interface Resolution {
  readonly choice: Sourced<BackendChoice>;
  readonly config: BackendConfig;
  /** Each step of the chain that decided, in order: what `collective doctor` prints as "why". */
  readonly reasons: readonly string[];
  readonly warnings: readonly SelectionWarning[];
}

export function resolveSelection(inputs: SelectionInputs): Resolution {
  const choice = readBackendChoice(inputs.options, inputs.env);
  const context: Context = {
    inputs,
    timeouts: readTimeouts(inputs.options, inputs.env),
    launch: readLaunch(inputs.env),
    membership: readShmMembership(inputs.options, inputs.workerData),
    reasons: [],
  };
  let config: BackendConfig;
  if (choice.value === 'auto') {
    config = autoSelect(context);
  } else {
    context.reasons.push(`${shown(choice)} names the backend explicitly`);
    config = rowOf(choice.value).configure(context);
  }
  const availability = availabilityOf(config.backend);
  if (!availability.available) {
    throw new BackendError(
      'BackendNotAvailable',
      `the ${config.backend} backend cannot run here: ${availability.reason}`,
      { backend: config.backend, reason: availability.reason },
      `pick another backend with ${VARIABLES.backend}`,
    );
  }
  return { choice, config, reasons: context.reasons, warnings: warningsFor(config, inputs) };
}

function autoSelect(context: Context): BackendConfig {
  const { launch, membership } = context;
  const { options, env } = context.inputs;
  const world = readWorldShape(options, env, launch);
  const address = readNamedAddress(options, env, launch);
  const multiRank = world.size !== undefined && world.size.value > 1;
  if (membership !== undefined && (address.host !== undefined || multiRank)) {
    const other = address.host ?? world.size!;
    throw new BackendError(
      'IncompatibleSettings',
      `this thread is in a shm group (${shown(membership.rank)}) but ${shown(other)} describes a tcp launch`,
      { variable: other.source, value: other.value, shmRank: membership.rank.value },
      `say which one you mean: ${VARIABLES.backend}=shm or ${VARIABLES.backend}=tcp (or init({ backend }))`,
    );
  }
  const facts: AutoFacts = { world, address, multiRank };
  // The table's auto steps in order (§5.1); the last (local) always picks, or says what is missing.
  for (const { step } of autoSteps()) {
    if (step.picks(context, facts)) return step.select(context, facts);
  }
  throw new Error('internal error: no auto step of the backend table picked (the last must always pick)');
}

function warningsFor(config: BackendConfig, inputs: SelectionInputs): SelectionWarning[] {
  const row = rowOf(config.backend) as {
    warnings?(c: BackendConfig, i: SelectionInputs): SelectionWarning[];
  };
  return row.warnings?.(config, inputs) ?? [];
}
