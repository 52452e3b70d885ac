/**
 * The browser test harness: a static HTTP server on 127.0.0.1 (ephemeral port) serving ES modules and
 * a blank page, and Debian's Chromium, headless, driven by playwright-core. Every console message of
 * the page is kept; an uncaught page error fails the test at the next evaluate() or at close().
 *
 * Code runs in the page as the source text of a function (Function#toString): it must not use
 * `import()` or anything imported (vitest rewrites those in the test's own code). The page's modules
 * are imported once, when the page opens, and handed to every evaluated function instead.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium (installed by .ci/run); playwright-core downloads no browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags for a closed network: no sandbox (CI runs as root), no GPU, no background traffic. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The page every test starts from (served at `/`). */
const BLANK_PAGE =
  '<!doctype html><html><head><meta charset="utf-8"><title>collective</title></head><body></body></html>';

/** One file the server serves: its bytes and its Content-Type. */
export interface ServedFile {
  body: string | Uint8Array;
  type: string;
}

/** A JavaScript module to serve. */
export function jsModule(body: string | Uint8Array): ServedFile {
  return { body, type: 'text/javascript; charset=utf-8' };
}

/** The modules imported in the page, by the names given to openBrowser (their exports, untyped). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PageModules = Record<string, any>;

/** Where the page keeps its imported modules. */
const MODULES_GLOBAL = '__collectiveTestModules';

/** One console message of the page: its type ('log', 'warning', 'error'…) and text. */
export interface ConsoleEntry {
  type: string;
  text: string;
}

/** One page (tab) with the modules imported. */
export interface BrowserPage {
  readonly page: Page;
  /** Every console message so far. */
  readonly console: ConsoleEntry[];
  /** Uncaught errors of the page so far. */
  readonly pageErrors: Error[];
  /**
   * Runs `fn(modules, arg)` in the page, `modules` being the opened modules by name, and returns its
   * result; `arg` and the result cross as JSON (bigints and typed arrays do not: pass bytes as number
   * arrays). Fails on any page error.
   */
  evaluate<R, A>(fn: (modules: PageModules, arg: A) => R | Promise<R>, arg: A): Promise<R>;
}

/** The first page, and the browser and server behind it. */
export interface BrowserHarness extends BrowserPage {
  /** The server's origin, e.g. `http://127.0.0.1:41234`. */
  readonly origin: string;
  /** Opens another page (tab) of the same browser at `/`, with the same modules imported. */
  openPage(): Promise<BrowserPage>;
  /** Closes the browser and the server; fails when a page had an uncaught error. */
  close(): Promise<void>;
}

function pageErrorSummary(errors: readonly Error[]): string {
  return errors.map((e) => `${e.name}: ${e.message}\n${e.stack ?? ''}`).join('\n---\n');
}

function serve(files: ReadonlyMap<string, ServedFile>): Promise<Server> {
  const server = createServer((request, response) => {
    let path: string;
    try {
      path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    } catch {
      response.writeHead(400, { 'content-type': 'text/plain' }).end('unparsable request target');
      return;
    }
    const file = path === '/' ? { body: BLANK_PAGE, type: 'text/html; charset=utf-8' } : files.get(path);
    if (!file && path === '/favicon.ico') {
      response.writeHead(204).end(); // asked for by every page; a 404 would be logged as a console error
      return;
    }
    if (!file) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end(`not served: ${path}`);
      return;
    }
    response.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Opens a page at `origin/` in `browser` and imports `modules` (name → URL path) there. */
async function openPage(
  browser: Browser,
  origin: string,
  modules: Record<string, string>,
): Promise<BrowserPage> {
  const page = await browser.newPage();
  const consoleEntries: ConsoleEntry[] = [];
  const pageErrors: Error[] = [];
  page.on('console', (message) => consoleEntries.push({ type: message.type(), text: message.text() }));
  page.on('pageerror', (error) => pageErrors.push(error));
  await page.goto(`${origin}/`);
  const imports = Object.entries(modules).map(
    ([name, path]) => `[${JSON.stringify(name)}, await import(${JSON.stringify(path)})]`,
  );
  await page.evaluate(
    `(async () => { globalThis.${MODULES_GLOBAL} = Object.fromEntries([${imports.join(', ')}]); })()`,
  );
  const failOnPageErrors = (): void => {
    if (pageErrors.length > 0)
      throw new Error(`the page had uncaught errors:\n${pageErrorSummary(pageErrors)}`);
  };
  return {
    page,
    console: consoleEntries,
    pageErrors,
    async evaluate<R, A>(fn: (modules: PageModules, arg: A) => R | Promise<R>, arg: A): Promise<R> {
      const call = `(${fn.toString()})(globalThis.${MODULES_GLOBAL}, ${JSON.stringify(arg)})`;
      const result = (await page.evaluate(call)) as R;
      failOnPageErrors();
      return result;
    },
  };
}

/**
 * Serves `files` (URL path → file), opens the blank page at `/` in a fresh headless Chromium and
 * imports `modules` (name → URL path among `files`) there.
 */
export async function openBrowser(
  files: Record<string, ServedFile>,
  modules: Record<string, string>,
): Promise<BrowserHarness> {
  const server = await serve(new Map(Object.entries(files)));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    const opened = browser;
    const pages: BrowserPage[] = [await openPage(opened, origin, modules)];
    return {
      ...pages[0]!,
      origin,
      async openPage() {
        const another = await openPage(opened, origin, modules);
        pages.push(another);
        return another;
      },
      async close() {
        await opened.close();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        const errors = pages.flatMap((p) => p.pageErrors);
        if (errors.length > 0) throw new Error(`the page had uncaught errors:\n${pageErrorSummary(errors)}`);
      },
    };
  } catch (error) {
    await browser?.close();
    server.close();
    throw error;
  }
}

/** Bytes as lowercase hex (how byte results cross from the page to the test). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Hex back to bytes. */
export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
