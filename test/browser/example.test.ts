/**
 * The README's "Ranks in a browser" example runs: examples/browser/serve.ts (rank 0 attached to its
 * own http server, rank 1 in the same process) and two headless Chromium tabs opened at the URLs it
 * prints (ranks 2 and 3) form one group; every rank prints the same allreduce and allgather. The
 * README shows examples/browser/index.html byte for byte.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBrowserBundle } from '../../scripts/build-browser.mjs';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVE = fileURLToPath(new URL('../../examples/browser/serve.ts', import.meta.url));
/** `collective` resolves to src/ (as in test/readme/): no tsc build needed. */
const TSCONFIG = fileURLToPath(new URL('../../tsconfig.examples.json', import.meta.url));
const PAGE = fileURLToPath(new URL('../../examples/browser/index.html', import.meta.url));
const SIZE = 4;

let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
});

describe('examples/browser (README "Ranks in a browser")', () => {
  it('the README shows index.html as it is', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /<!-- examples\/browser\/index\.html -->\n```html\n([\s\S]*?)```/.exec(readme);
    expect(block?.[1], 'README "Ranks in a browser" html block').toBe(readFileSync(PAGE, 'utf8'));
  });

  it('serve.ts and two tabs form a group of 4 and agree', async () => {
    await buildBrowserBundle(); // serve.ts serves dist/browser/collective.js
    const child = spawn(process.execPath, ['--import', 'tsx', SERVE, String(SIZE)], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', TSX_TSCONFIG_PATH: TSCONFIG },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const urls = await new Promise<string[]>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const found = [...stdout.matchAll(/^open (http\S+)$/gm)].map((m) => m[1]!);
        if (found.length === SIZE - 2) resolve(found);
      });
      child.on('close', () => reject(new Error(`serve.ts exited before printing its URLs: ${stderr}`)));
    });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    const shown = await Promise.all(
      urls.map(async (url) => {
        const page = await browser!.newPage();
        await page.goto(url);
        // A string: the test's tsconfig has no DOM types.
        await page.waitForFunction("!document.getElementById('out').textContent.startsWith('joining')");
        return page.locator('#out').textContent();
      }),
    );
    expect(await exited, stderr).toBe(0);
    expect(stderr).toBe('');
    for (const rank of [0, 1]) expect(stdout).toContain(`rank ${rank}/${SIZE}: sum 6, 60; rank 0 (Node.js`);
    shown.forEach((text, k) => {
      expect(text).toMatch(new RegExp(`^rank ${k + 2}/${SIZE}: sum 6, 60\\nrank 0 \\(Node\\.js`));
      expect(text).toContain('rank 3 (Mozilla/5.0)');
    });
  });
});
