// Builds dist/cjs/, the CommonJS entry of the package (spec/train.md §8), after tsc has built dist/:
//  - index.js: `module.exports = require('../index.js')`, Node's require(esm). The ES module graph is the
//    only implementation, so require('collective') and import('collective') share one copy of module
//    state (CommError classes, init() state): no dual-package hazard.
//  - *.d.ts: a copy of dist/'s declarations, which a package.json {"type":"commonjs"} marks as CommonJS,
//    so that TypeScript's node16/nodenext resolution types a require() with CommonJS declarations.
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const CJS = join(DIST, 'cjs');

const ENTRY = `'use strict';
// The CommonJS entry of collective: the ES module build, loaded with require(esm) (Node.js 20.19+, 22.12+).
// A require() made by createRequire, not this module's own: under ESM loader hooks (tsx running a .cts file)
// Node.js 20 hands a hook-loaded CommonJS module a require() that cannot load ES modules.
const { createRequire } = require('node:module');
try {
  module.exports = createRequire(__filename)('../index.js');
} catch (error) {
  if (error && error.code === 'ERR_REQUIRE_ESM') {
    const message =
      'collective: require() of this package needs Node.js ^20.19.0 or >=22.12.0, which can require() ' +
      'ES modules, and this Node.js (' + process.versions.node + ') cannot. Upgrade Node.js, or load it with ' +
      "import('collective').";
    throw Object.assign(new Error(message, { cause: error }), { code: 'ERR_REQUIRE_ESM' });
  }
  throw error;
}
`;

function declarations(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== CJS) found.push(...declarations(path));
    } else if (entry.name.endsWith('.d.ts')) {
      found.push(path);
    }
  }
  return found;
}

rmSync(CJS, { recursive: true, force: true });
mkdirSync(CJS, { recursive: true });
writeFileSync(join(CJS, 'package.json'), '{ "type": "commonjs" }\n');
writeFileSync(join(CJS, 'index.js'), ENTRY);
for (const file of declarations(DIST)) {
  const target = join(CJS, relative(DIST, file));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
}
