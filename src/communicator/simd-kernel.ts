import type { WasmMemory } from './wasm.js';
/** Placeholder: the WebAssembly SIMD kernel. */
export function registerSharedMemory(_memory: WasmMemory): void {}
