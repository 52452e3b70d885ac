/**
 * The browser build's guard (scripts/build-browser.mjs, spec/browser.md §3): an entry that reaches a
 * Node built-in other than node:buffer / node:crypto fails the build, and the message names the chain
 * of importers from the entry to the refused import; the two stand-ins are swapped in.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBrowserBundle } from '../../scripts/build-browser.mjs';

const dir = mkdtempSync(join(tmpdir(), 'collective-browser-guard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes entry.ts → middle.ts → `import … from specifier`, and bundles entry.ts in memory. */
function bundleChainTo(specifier: string, name: string) {
  writeFileSync(join(dir, `${name}-entry.ts`), `export { value } from './${name}-middle.js';\n`);
  writeFileSync(
    join(dir, `${name}-middle.ts`),
    `import * as m from '${specifier}';\nexport const value = Object.keys(m).length;\n`,
  );
  return buildBrowserBundle({
    entry: join(dir, `${name}-entry.ts`),
    outfile: join(dir, 'out.js'),
    write: false,
  });
}

describe('the browser build guard', () => {
  for (const [specifier, name] of [
    ['node:net', 'prefixed'],
    ['worker_threads', 'bare'],
    ['fs/promises', 'subpath'],
  ] as const) {
    it(`refuses ${specifier}, naming the importer chain`, async () => {
      const failure = await bundleChainTo(specifier, name).then(
        () => null,
        (error: { errors?: Array<{ text: string }> }) => error.errors?.map((e) => e.text).join('\n'),
      );
      expect(failure).toContain(`the browser bundle reached the Node built-in '${specifier}' through `);
      expect(failure).toContain(`${name}-entry.ts → ${dir}/${name}-middle.ts → '${specifier}'`);
      expect(failure).toContain('Only node:buffer and node:crypto have browser stand-ins');
    });
  }

  it('swaps in the stand-ins for node:buffer, buffer, node:crypto and crypto', async () => {
    const result = await Promise.all(
      ['node:buffer', 'buffer', 'node:crypto', 'crypto'].map((s, i) => bundleChainTo(s, `standin${i}`)),
    );
    for (const build of result) {
      const text = build.outputFiles?.find((f) => f.path.endsWith('.js'))?.text ?? '';
      expect(text).not.toMatch(/(from|import\(|require\()\s*["'`](node:)?(buffer|crypto)["'`]/);
      expect(text).toMatch(/src\/browser\/crypto\.ts|node_modules\/buffer\/index\.js/);
    }
  });
});
