/**
 * The slice of the WebAssembly JS API this library uses. The project compiles against ES2022 without
 * DOM typings, where the WebAssembly namespace is not declared; these types describe what Node 20
 * provides at runtime.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: Record<string, Record<string, unknown>>) => WasmInstance;
  validate(bytes: Uint8Array): boolean;
}

/** The runtime's WebAssembly API, or undefined where the platform has none. */
export const Wasm: WasmApi | undefined = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

export function isWasmMemory(value: unknown): value is WasmMemory {
  return Wasm !== undefined && value instanceof (Wasm.Memory as unknown as new () => object);
}

type WaitAsyncResult =
  { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<string> };

/** Atomics.waitAsync (Node ≥ 16), typed here because ES2022's lib does not declare it. */
export function waitAsync(
  words: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
): WaitAsyncResult {
  return (Atomics as unknown as { waitAsync: (...a: unknown[]) => WaitAsyncResult }).waitAsync(
    words,
    index,
    value,
    timeoutMs,
  );
}
