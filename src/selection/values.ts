/**
 * Parsing of single configuration values (spec/selection.md §3). Every parser names the variable or
 * option it read, so a malformed value becomes an IncompatibleSettings error that says exactly which
 * setting to fix and what it held.
 */
import { BackendError } from '../communicator/errors.js';

/** The environment as a plain record: process.env, or a record a test or embedder passes in. */
export type EnvRecord = Readonly<Record<string, string | undefined>>;

/**
 * A value together with where it came from: a variable name, `options.<name>`, `workerData`, or a rule.
 *
 * @typeParam T - the value's type.
 */
export interface Sourced<T> {
  /** The value as parsed. */
  readonly value: T;
  /** Where it came from, e.g. `options.rank`, `OMPI_COMM_WORLD_RANK`, `default COLLECTIVE_TCP_PORT`. */
  readonly source: string;
}

/** The highest TCP port number. */
export const MAX_PORT = 65535;

const DECIMAL_INTEGER = /^\d+$/;

export function incompatible(source: string, value: unknown, expected: string): BackendError {
  const shown = typeof value === 'string' ? `'${value}'` : String(value);
  return new BackendError(
    'IncompatibleSettings',
    `${source}=${shown} is not valid: expected ${expected}`,
    { variable: source, value, expected },
    `set ${source} to ${expected}`,
  );
}

function integerFrom(source: string, raw: string | number, expected: string): number {
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw) || raw < 0) throw incompatible(source, raw, expected);
    return raw;
  }
  const text = raw.trim();
  if (!DECIMAL_INTEGER.test(text)) throw incompatible(source, raw, expected);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw incompatible(source, raw, expected);
  return value;
}

/** A rank: an integer ≥ 0. */
export function parseRank(source: string, raw: string | number): number {
  return integerFrom(source, raw, 'an integer ≥ 0');
}

/** A world size: an integer ≥ 1. */
export function parseSize(source: string, raw: string | number): number {
  const expected = 'an integer ≥ 1';
  const value = integerFrom(source, raw, expected);
  if (value < 1) throw incompatible(source, raw, expected);
  return value;
}

/** A TCP port the coordinator can listen on and the others can name: 1…65535. */
export function parsePort(source: string, raw: string | number): number {
  // 0 is accepted here and allowed only on rank 0 by the chain: "listen on an ephemeral port".
  const expected = `a port number from 1 to ${MAX_PORT} (0: rank 0 picks an ephemeral port)`;
  const value = integerFrom(source, raw, expected);
  if (value < 0 || value > MAX_PORT) throw incompatible(source, raw, expected);
  return value;
}

/** The longest a Node.js timer can wait (2^31 - 1 ms); a longer one fires after 1 ms instead. */
export const MAX_TIMER_SECS = 2_147_483;

/** A duration in seconds: a finite number > 0 (fractions allowed), at most MAX_TIMER_SECS. */
export function parseSeconds(source: string, raw: string | number): number {
  const expected = `a number of seconds > 0 and at most ${MAX_TIMER_SECS} (24.8 days, the longest timer Node.js keeps)`;
  const value = typeof raw === 'number' ? raw : raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > MAX_TIMER_SECS)
    throw incompatible(source, raw, expected);
  return value;
}

/** A duration in seconds where 0 means "never" (a warning that is switched off). */
export function parseSecondsOrOff(source: string, raw: string | number): number {
  const expected = `a number of seconds ≥ 0 (0 disables) and at most ${MAX_TIMER_SECS}`;
  const value = typeof raw === 'number' ? raw : raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > MAX_TIMER_SECS)
    throw incompatible(source, raw, expected);
  return value;
}

/** A non-empty string (host names, bind addresses, tokens). */
export function parseText(source: string, raw: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw incompatible(source, raw, 'a non-empty string');
  return raw.trim();
}
