/**
 * Every conformance case: the base cases (cases.ts) and the families kept in files of their own.
 * A new family adds its file here — the suite and the world hosts read only this list.
 */
import { BASE_CASES, type ConformanceCase } from './cases.js';
import { CONTRACT_CASES } from './contract-cases.js';
import { REPEATED_CASES } from './repeated-cases.js';
import { ROOTED_CASES } from './rooted-cases.js';
import { ROOTED_ERROR_CASES } from './rooted-error-cases.js';

export { appliesTo } from './cases.js';

export const CASES: readonly ConformanceCase[] = [
  ...BASE_CASES,
  ...CONTRACT_CASES,
  ...REPEATED_CASES,
  ...ROOTED_CASES,
  ...ROOTED_ERROR_CASES,
];
export const CASE_BY_NAME: ReadonlyMap<string, ConformanceCase> = new Map(CASES.map((c) => [c.name, c]));
