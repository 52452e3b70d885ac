/**
 * The WebAssembly SIMD reduction kernel (spec/backend-shm.md §4.4, spec/communicator.md §5).
 *
 * A hand-assembled module of loops `acc[i] = acc[i] ∘ src[i]` over a shared WebAssembly.Memory, two
 * or four lanes at a time, then a scalar tail. Each lane is one IEEE operation on one element, in the
 * same order as the JS loop, and with the same rounding point (float32 sums and products of two
 * float32 values are exact in float64, so rounding once to float32 equals the JS store), so the bits
 * are identical. Only operators whose results are fully determined are accelerated: sum and prod of
 * float64, float32, int32 and uint32 (min/max are left to JS: WebAssembly may return a different
 * NaN payload than Math.min).
 *
 * The kernel runs in place only when both arrays are views of a memory registered with
 * registerSharedMemory (the shm data region); any other buffer takes the JS loop, so installing it
 * never changes a result, only the speed.
 */
import { DTYPES, type DType, type NumericArray, type ReduceOp } from './dtypes.js';
import { Wasm, type WasmMemory } from './wasm.js';

type Step = (acc: NumericArray, src: NumericArray, start: number, end: number) => void;
type Kernel = (accByte: number, srcByte: number, elements: number) => void;

interface KernelSpec {
  dtype: DType['name'];
  op: ReduceOp;
  /** log2 of the element size in bytes. */
  shift: number;
  simdOp: number;
  scalarLoad: number;
  scalarOp: number;
  scalarStore: number;
}

// Opcodes (WebAssembly core spec §5.4 and the fixed-width SIMD proposal).
const OP = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Const: 0x41,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32And: 0x71,
  i32Shl: 0x74,
  simdPrefix: 0xfd,
  v128Load: 0x00,
  v128Store: 0x0b,
} as const;
const VOID_BLOCK = 0x40;
const I32 = 0x7f;
const VECTOR_BYTES = 16;
/** Below this many elements the JS loop wins: the lookup and the call into WebAssembly cost more. */
const MIN_SIMD_ELEMENTS = 32;

const SPECS: KernelSpec[] = [
  {
    dtype: 'float64',
    op: 'sum',
    shift: 3,
    simdOp: 0xf0,
    scalarLoad: 0x2b,
    scalarOp: 0xa0,
    scalarStore: 0x39,
  },
  {
    dtype: 'float64',
    op: 'prod',
    shift: 3,
    simdOp: 0xf2,
    scalarLoad: 0x2b,
    scalarOp: 0xa2,
    scalarStore: 0x39,
  },
  {
    dtype: 'float32',
    op: 'sum',
    shift: 2,
    simdOp: 0xe4,
    scalarLoad: 0x2a,
    scalarOp: 0x92,
    scalarStore: 0x38,
  },
  {
    dtype: 'float32',
    op: 'prod',
    shift: 2,
    simdOp: 0xe6,
    scalarLoad: 0x2a,
    scalarOp: 0x94,
    scalarStore: 0x38,
  },
  { dtype: 'int32', op: 'sum', shift: 2, simdOp: 0xae, scalarLoad: 0x28, scalarOp: 0x6a, scalarStore: 0x36 },
  { dtype: 'int32', op: 'prod', shift: 2, simdOp: 0xb5, scalarLoad: 0x28, scalarOp: 0x6c, scalarStore: 0x36 },
  { dtype: 'uint32', op: 'sum', shift: 2, simdOp: 0xae, scalarLoad: 0x28, scalarOp: 0x6a, scalarStore: 0x36 },
  {
    dtype: 'uint32',
    op: 'prod',
    shift: 2,
    simdOp: 0xb5,
    scalarLoad: 0x28,
    scalarOp: 0x6c,
    scalarStore: 0x36,
  },
];

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

/** Locals: 0 acc, 1 src, 2 n (parameters), 3 end, 4 vectorEnd. */
function body(spec: KernelSpec): number[] {
  const [acc, src, n, end, vectorEnd] = [0, 1, 2, 3, 4];
  const get = (i: number): number[] => [OP.localGet, i];
  const advance = (local: number, bytes: number): number[] => [
    ...get(local),
    OP.i32Const,
    ...sleb(bytes),
    OP.i32Add,
    OP.localSet,
    local,
  ];
  const simd = (op: number): number[] => [OP.simdPrefix, ...uleb(op)];
  const memarg = (align: number): number[] => [align, 0];
  const elementBytes = 1 << spec.shift;
  const code = [
    // end = acc + (n << shift); vectorEnd = acc + ((n << shift) & -16)
    ...get(acc),
    ...get(n),
    OP.i32Const,
    spec.shift,
    OP.i32Shl,
    OP.localTee,
    end,
    OP.i32Const,
    ...sleb(-VECTOR_BYTES),
    OP.i32And,
    OP.i32Add,
    OP.localSet,
    vectorEnd,
    ...get(acc),
    ...get(end),
    OP.i32Add,
    OP.localSet,
    end,
    // while (acc < vectorEnd) { v128 acc = acc ∘ src; acc += 16; src += 16 }
    OP.block,
    VOID_BLOCK,
    OP.loop,
    VOID_BLOCK,
    ...get(acc),
    ...get(vectorEnd),
    OP.i32GeU,
    OP.brIf,
    1,
    ...get(acc),
    ...get(acc),
    ...simd(OP.v128Load),
    ...memarg(0),
    ...get(src),
    ...simd(OP.v128Load),
    ...memarg(0),
    ...simd(spec.simdOp),
    ...simd(OP.v128Store),
    ...memarg(0),
    ...advance(acc, VECTOR_BYTES),
    ...advance(src, VECTOR_BYTES),
    OP.br,
    0,
    OP.end,
    OP.end,
    // while (acc < end) { scalar acc = acc ∘ src; acc += size; src += size }
    OP.block,
    VOID_BLOCK,
    OP.loop,
    VOID_BLOCK,
    ...get(acc),
    ...get(end),
    OP.i32GeU,
    OP.brIf,
    1,
    ...get(acc),
    ...get(acc),
    spec.scalarLoad,
    ...memarg(spec.shift),
    ...get(src),
    spec.scalarLoad,
    ...memarg(spec.shift),
    spec.scalarOp,
    spec.scalarStore,
    ...memarg(spec.shift),
    ...advance(acc, elementBytes),
    ...advance(src, elementBytes),
    OP.br,
    0,
    OP.end,
    OP.end,
    OP.end,
  ];
  const locals = [...uleb(1), ...uleb(2), I32];
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

const exportName = (s: KernelSpec): string => `${s.dtype}_${s.op}`;

/** The module: imports env.memory (shared, up to 4 GiB), exports one function per spec. */
export function kernelModuleBytes(): Uint8Array {
  const maxPages = 65536;
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x03, ...uleb(0), ...uleb(maxPages)];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, 3, I32, I32, I32, 0]])),
    ...section(2, vec([memoryImport])),
    ...section(3, vec(SPECS.map(() => [0]))),
    ...section(7, vec(SPECS.map((s, i) => [...name(exportName(s)), 0x00, ...uleb(i)]))),
    ...section(10, vec(SPECS.map(body))),
  ];
  return new Uint8Array(bytes);
}

function compile(): object | null {
  if (!Wasm) return null;
  try {
    const bytes = kernelModuleBytes();
    return Wasm.validate(bytes) ? new Wasm.Module(bytes) : null;
  } catch {
    return null;
  }
}

const kernelModule = compile();
const kernelsByBuffer = new WeakMap<ArrayBufferLike, Record<string, Kernel>>();

/** True where the platform has WebAssembly with SIMD and threads (Node 20 on x64 and arm64). */
export const simdAvailable = kernelModule !== null;

/**
 * Lets the kernel run in place on views of `memory` (the shm data region). Idempotent; a no-op where
 * SIMD is unavailable.
 */
export function registerSharedMemory(memory: WasmMemory): void {
  if (!Wasm || !kernelModule || kernelsByBuffer.has(memory.buffer)) return;
  const instance = new Wasm.Instance(kernelModule, { env: { memory } });
  kernelsByBuffer.set(memory.buffer, instance.exports as Record<string, Kernel>);
}

export interface AcceleratedKernel {
  dtype: DType;
  op: ReduceOp;
  /** The accelerated step; `fallback` runs whenever the arrays are not in a registered memory. */
  step(fallback: Step): Step;
}

/** The kernels reduce.ts installs with installAcceleratedStep; empty without SIMD. */
export function acceleratedKernels(): AcceleratedKernel[] {
  if (!kernelModule) return [];
  return SPECS.map((spec) => {
    const dtype = DTYPES.find((d) => d.name === spec.dtype) as DType;
    const key = exportName(spec);
    return {
      dtype,
      op: spec.op,
      step:
        (fallback: Step): Step =>
        (acc, src, start, end) => {
          if (end - start < MIN_SIMD_ELEMENTS) return fallback(acc, src, start, end);
          const buffer = acc.buffer;
          const kernels = buffer === src.buffer ? kernelsByBuffer.get(buffer) : undefined;
          if (!kernels) return fallback(acc, src, start, end);
          const at = start << spec.shift;
          (kernels[key] as Kernel)(acc.byteOffset + at, src.byteOffset + at, end - start);
        },
    };
  });
}
