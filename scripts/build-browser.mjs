// Builds dist/browser/collective.js, the browser bundle of collective (spec/browser.md): one ES module,
// from src/browser.ts, for a page that imports `collective/browser`.
//
// Two Node modules have browser stand-ins, swapped in at bundle time (§2 of the spec):
//  - node:buffer / buffer (and the Buffer global) → the `buffer` package; src/browser/buffer-global.ts is
//    injected, so a bare `Buffer` in any bundled module is that package's Buffer (and globalThis.Buffer is
//    set when the page has none);
//  - node:crypto / crypto → src/browser/crypto.ts: createHmac('sha256'), randomBytes, timingSafeEqual,
//    enough for the token handshake.
// Any other Node built-in reached from the entry fails the build, naming the chain of importers that
// reached it: the browser path must not depend on sockets, threads or files (spec/browser.md §3).
//
// Usage: `node scripts/build-browser.mjs` (part of `npm run build`). Tests import buildBrowserBundle to
// bundle their own entries with the same aliases and the same guard.
import * as esbuild from 'esbuild';
import { builtinModules, createRequire } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

export const BROWSER_ENTRY = fileURLToPath(new URL('../src/browser.ts', import.meta.url));
export const BROWSER_BUNDLE = fileURLToPath(new URL('../dist/browser/collective.js', import.meta.url));
const BUFFER_GLOBAL = fileURLToPath(new URL('../src/browser/buffer-global.ts', import.meta.url));
const CRYPTO_SHIM = fileURLToPath(new URL('../src/browser/crypto.ts', import.meta.url));
// The `buffer` package's own entry (a trailing slash skips Node's built-in of the same name).
const BUFFER_PACKAGE = require.resolve('buffer/');

/** Node built-ins with a browser stand-in; every other built-in is refused. */
const STAND_INS = { buffer: BUFFER_PACKAGE, crypto: CRYPTO_SHIM };

const BUILTINS = new Set(builtinModules.filter((name) => !name.startsWith('_')));

/** The built-in's name without `node:` and without a subpath (`fs/promises` → `fs`), or null. */
function builtinName(specifier) {
  const bare = specifier.startsWith('node:') ? specifier.slice('node:'.length) : specifier;
  const root = bare.split('/')[0];
  if (specifier.startsWith('node:') || BUILTINS.has(bare) || BUILTINS.has(root)) return bare;
  return null;
}

/** Swaps the stand-ins in and refuses every other Node built-in, naming who imported it. */
function nodeBuiltinGuard() {
  const SELF = Symbol('resolved-by-guard');
  return {
    name: 'collective-node-builtin-guard',
    setup(build) {
      // Who first imported each resolved file, to name the chain from the entry to a refused import.
      const importerOf = new Map();
      const shown = (path) => (path.startsWith(ROOT) ? relative(ROOT, path) : path);
      const chain = (importer) => {
        const names = [];
        for (let at = importer; at && names.length < 64; at = importerOf.get(at)) names.unshift(shown(at));
        return names.join(' → ');
      };
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData?.[SELF] || args.kind === 'entry-point') return undefined;
        const builtin = builtinName(args.path);
        if (builtin !== null && builtin in STAND_INS && args.importer !== STAND_INS[builtin]) {
          importerOf.set(STAND_INS[builtin], importerOf.get(STAND_INS[builtin]) ?? args.importer);
          return { path: STAND_INS[builtin] };
        }
        if (builtin !== null && !(builtin in STAND_INS)) {
          return {
            errors: [
              {
                text:
                  `the browser bundle reached the Node built-in '${args.path}' through ` +
                  `${chain(args.importer)} → '${args.path}'. Only node:buffer and node:crypto have browser ` +
                  `stand-ins; keep Node-only code behind its backend's own module, off the path of src/browser.ts ` +
                  `(spec/browser.md §3).`,
              },
            ],
          };
        }
        const result = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: { [SELF]: true },
        });
        if (result.errors.length > 0) return { errors: result.errors };
        if (!importerOf.has(result.path)) importerOf.set(result.path, args.importer);
        return result;
      });
    },
  };
}

/**
 * Bundles `entry` for the browser: ES module, ES2022, the stand-ins above, the built-in guard.
 * `write: false` returns the output in memory (result.outputFiles) instead of writing `outfile`.
 */
export async function buildBrowserBundle({
  entry = BROWSER_ENTRY,
  outfile = BROWSER_BUNDLE,
  write = true,
} = {}) {
  return esbuild.build({
    entryPoints: [entry],
    outfile,
    write,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    inject: [BUFFER_GLOBAL],
    plugins: [nodeBuiltinGuard()],
    logLevel: 'silent',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await buildBrowserBundle();
  } catch (error) {
    // esbuild's BuildFailure lists each error with its location; print them and fail the build.
    for (const e of error.errors ?? []) {
      const where = e.location ? `${e.location.file}:${e.location.line}: ` : '';
      console.error(`build-browser: ${where}${e.text}`);
    }
    if (!error.errors) console.error(error);
    process.exit(1);
  }
}
