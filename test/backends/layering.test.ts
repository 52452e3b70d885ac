/**
 * The layering rule (STYLE.md): a backend never imports another backend. The star protocol
 * (src/backends/star/) and the link interface (src/backends/link/) are shared layers below the
 * transports, not backends; everything else under src/backends/ is one backend's own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BACKENDS = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/backends');
const SHARED_LAYERS = new Set(['star', 'link']);
const IMPORT = /(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? filesUnder(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** The folder under src/backends/ a path lies in, or null outside it. */
function folderOf(path: string): string | null {
  const within = relative(BACKENDS, path);
  return within.startsWith('..') ? null : within.split('/')[0]!;
}

describe('layering', () => {
  it('no backend imports another backend; the shared layers import no backend', () => {
    const crossings: string[] = [];
    for (const file of filesUnder(BACKENDS)) {
      const own = folderOf(file)!;
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const target = folderOf(resolve(dirname(file), specifier!));
        if (target === null || target === own || SHARED_LAYERS.has(target)) continue;
        crossings.push(`${relative(BACKENDS, file)} → ${specifier}`);
      }
    }
    expect(crossings).toEqual([]);
  });
});
