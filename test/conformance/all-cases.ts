/**
 * Every conformance case: the base cases (cases.ts) and the families kept in files of their own.
 * A new family adds its file here — the suite and the world hosts read only this list. A factory
 * may run only some families (WorldFactory.families); by default it runs them all.
 */
import { BASE_CASES, type ConformanceCase } from './cases.js';
import { CONTRACT_CASES } from './contract-cases.js';
import { MESSAGE_CASES } from './message-cases.js';
import { DERIVED_CASES } from './derived-cases.js';
import { REPEATED_CASES } from './repeated-cases.js';
import { ROOTED_CASES } from './rooted-cases.js';
import { ROOTED_ERROR_CASES } from './rooted-error-cases.js';
import { SPLIT_CASES } from './split-cases.js';

export { appliesTo } from './cases.js';

/** The families by name, in the order the suite runs them. */
export const CASE_FAMILIES = {
  base: BASE_CASES,
  contract: CONTRACT_CASES,
  repeated: REPEATED_CASES,
  rooted: ROOTED_CASES,
  'rooted-error': ROOTED_ERROR_CASES,
  message: MESSAGE_CASES,
  split: SPLIT_CASES,
  derived: DERIVED_CASES,
} as const satisfies Record<string, readonly ConformanceCase[]>;

/** The name of a family of cases (one file of cases). */
export type CaseFamily = keyof typeof CASE_FAMILIES;

export const CASES: readonly ConformanceCase[] = Object.values(CASE_FAMILIES).flat();
export const CASE_BY_NAME: ReadonlyMap<string, ConformanceCase> = new Map(CASES.map((c) => [c.name, c]));

/** The cases of the given families (all when `families` is undefined), in suite order. */
export function casesOf(families: readonly CaseFamily[] | undefined): readonly ConformanceCase[] {
  if (families === undefined) return CASES;
  return (Object.keys(CASE_FAMILIES) as CaseFamily[])
    .filter((family) => families.includes(family))
    .flatMap((family) => CASE_FAMILIES[family]);
}
