/**
 * Injected into the browser bundle (scripts/build-browser.mjs, spec/browser.md §2): every bare `Buffer`
 * in a bundled module becomes this export, the page's own Buffer if it has one, else the `buffer`
 * package's — which is also set as globalThis.Buffer, so code that tests `typeof Buffer` sees it.
 * Under Node, `buffer` is the built-in module and globalThis.Buffer is already set: nothing changes.
 */
import { Buffer as BufferPackage } from 'buffer';

const scope = globalThis as { Buffer?: typeof BufferPackage };
scope.Buffer ??= BufferPackage;

/** The Buffer class bundled modules use. */
export const Buffer: typeof BufferPackage = scope.Buffer;
