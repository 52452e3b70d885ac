// Types of scripts/build-browser.mjs, for the tests that bundle their own entries with it.
import type { BuildResult } from 'esbuild';

/** src/browser.ts, the bundle's entry. */
export const BROWSER_ENTRY: string;
/** dist/browser/collective.js, the bundle `npm run build` writes. */
export const BROWSER_BUNDLE: string;
/** Bundles `entry` for the browser with the stand-ins and the Node built-in guard. */
export function buildBrowserBundle(options?: {
  entry?: string;
  outfile?: string;
  write?: boolean;
}): Promise<BuildResult>;
