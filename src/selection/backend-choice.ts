/**
 * A backend name as written anywhere (spec/selection.md §6.1): init's options.backend,
 * COLLECTIVE_BACKEND, train's options.backend, `collective run --backend`. The names accepted are the
 * table's (backends.ts) and `auto`.
 */
import { BackendError } from '../communicator/errors.js';
import { BACKEND_NAMES } from './backends.js';
import type { BackendChoice, InitOptions } from './options.js';
import { VARIABLES } from './settings.js';
import type { EnvRecord, Sourced } from './values.js';

/** Every name a user may write: `auto`, then the table's names in table order. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', ...BACKEND_NAMES];

export function readBackendChoice(options: InitOptions, env: EnvRecord): Sourced<BackendChoice> {
  const [raw, source] =
    options.backend !== undefined
      ? [options.backend as unknown, 'options.backend']
      : [env[VARIABLES.backend], VARIABLES.backend];
  if (raw === undefined) return { value: 'auto', source: 'default' };
  return { value: parseBackendChoice(source, raw), source };
}

/**
 * A backend name as written at `source` (init's options.backend, COLLECTIVE_BACKEND, train's
 * options.backend, `collective run --backend`): trimmed, any case. Every entry point reads names here,
 * so a bad one is the same BackendError 'InvalidBackend' wherever it was written (spec/selection.md §6).
 */
export function parseBackendChoice(source: string, raw: unknown): BackendChoice {
  const text = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
  if (BACKEND_CHOICES.includes(text as BackendChoice)) return text as BackendChoice;
  const available = [...BACKEND_CHOICES];
  throw new BackendError(
    'InvalidBackend',
    `unknown backend ${source}=${JSON.stringify(raw) ?? String(raw)}; available: ${available.join(', ')}`,
    { variable: source, value: raw, available },
    `set ${source} to one of ${available.join(', ')} (or leave it unset for auto)`,
  );
}
