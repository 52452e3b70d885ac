// `npm run check:package` after publint: packs the package once (prepack builds it) and runs
// arethetypeswrong on the tarball twice —
//  - every entry point but ./browser with the strict profile (node10, node16 CJS and ESM, bundler);
//  - ./browser with the esm-only profile: it is one ES module for pages and bundlers (spec/browser.md §1),
//    so require() (node16 from CJS) and node10, which predates `exports` subpaths, do not apply to it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ATTW = join(ROOT, 'node_modules', '.bin', 'attw');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const dir = mkdtempSync(join(tmpdir(), 'collective-pack-'));
try {
  const packed = JSON.parse(
    execFileSync(npm, ['pack', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const tarball = join(dir, packed[0].filename);
  execFileSync(ATTW, [tarball, '--exclude-entrypoints', './browser'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(ATTW, [tarball, '--entrypoints', './browser', '--profile', 'esm-only'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
} catch (error) {
  process.exitCode = error.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
