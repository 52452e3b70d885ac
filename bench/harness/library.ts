/**
 * Which build of collective the ranks run. 'dist' (default) is what users of the package run: the
 * compiled JavaScript from `npm run build` (npm run bench builds first). 'src' runs the TypeScript
 * sources through tsx, for a quick look without building; tsx keeps function names by wrapping every
 * closure it creates, which costs a fraction of a µs per small collective, so quote 'dist' numbers.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type LibrarySource = 'dist' | 'src';
export const LIBRARY_SOURCES: readonly LibrarySource[] = ['dist', 'src'];

const ROOT = new URL('../../', import.meta.url);

/** A module of the library by its path below src/ without extension, e.g. 'backends/shm/index'. */
export function libraryModule(source: LibrarySource, path: string): string {
  return new URL(source === 'dist' ? `dist/${path}.js` : `src/${path}.ts`, ROOT).href;
}

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Why the chosen build cannot be measured (dist missing or older than src), or null. */
export function libraryProblem(source: LibrarySource): string | null {
  if (source === 'src') return null;
  const built = fileURLToPath(new URL('dist/index.js', ROOT));
  if (!existsSync(built))
    return 'dist/ is missing: run `npm run build` (npm run bench builds first) or pass --library src';
  if (newestMtimeMs(fileURLToPath(new URL('src/', ROOT))) > statSync(built).mtimeMs) {
    return 'dist/ is older than src/: run `npm run build` (npm run bench builds first) or pass --library src';
  }
  return null;
}
