/**
 * A test-only browser bundle (built by the tests with scripts/build-browser.mjs): internals a page
 * must compute exactly as Node.js does — the reduction kernel, the object encoding — and the
 * stand-ins of node:crypto and node:buffer, imported by their Node names so the aliases are exercised.
 */
export { DTYPES } from '../../src/communicator/dtypes.js';
export { reduceRankOrder } from '../../src/communicator/reduce.js';
export { encodeObject, decodeObject } from '../../src/communicator/objects.js';
export { emitWarning, nextMacrotask, unrefTimer } from '../../src/communicator/platform.js';
export { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
export { Buffer } from 'node:buffer';
