/**
 * Encoding of the object family (allgather, bcast): MessagePack via msgpackr, with its structured-clone
 * extensions so nested objects, Maps, Sets, Dates, bigints, typed arrays and cycles round-trip.
 * What cannot travel is refused before encoding (checkTravels), so no rank receives a silently
 * changed value; spec/communicator.md §4.6 has the table. Known loss: -0 encodes as the integer 0
 * (MessagePack has no negative-zero integer).
 */
// 'msgpackr/pack' is msgpackr's portable entry (Packr packs and unpacks): on Node.js the main entry adds
// streams and loads the native string extractor (msgpackr-extract), ~25 ms of CPU in every rank's start
// (spec/performance.md §2.4.1) for faster decoding of string-heavy objects, which the object family's
// small metadata does not need.
import { Packr } from 'msgpackr/pack';
import { CommError } from './errors.js';

const OPTIONS = {
  structuredClone: true,
  moreTypes: true,
  int64AsType: 'bigint',
  mapsAsObjects: false,
  largeBigIntToFloat: false,
  useBigIntExtension: true,
} as const;

// One packer per thread; each message embeds its own record structures, so any rank decodes any message.
const packr = new Packr(OPTIONS);

export function encodeObject(value: unknown): Uint8Array {
  checkTravels(value);
  return packr.pack(value);
}

export function decodeObject<V>(bytes: Uint8Array): V {
  return packr.unpack(bytes) as V;
}

/** A value that cannot travel: `path` says where it is inside the value, `why` what to do. */
export class CannotTravel extends Error {
  override name = 'CannotTravel';
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`${path} ${why}`);
  }
}

/**
 * The SharedArrayBuffer class, or undefined where the platform withholds it: a browser page that is not
 * cross-origin isolated has no SharedArrayBuffer global, and a bare reference would throw there
 * (spec/browser.md §3). Where it is absent no value can hold one, so there is nothing to refuse.
 */
const SharedArrayBufferClass = (globalThis as { SharedArrayBuffer?: SharedArrayBufferConstructor })
  .SharedArrayBuffer;

/** Objects that arrive as what they were sent as (their prototype is restored by the decoder). */
const KEPT_CLASSES: ReadonlySet<unknown> = new Set([
  Object.prototype,
  null,
  Array.prototype,
  Map.prototype,
  Set.prototype,
  Date.prototype,
  RegExp.prototype,
  ArrayBuffer.prototype,
  Error.prototype,
  EvalError.prototype,
  RangeError.prototype,
  ReferenceError.prototype,
  SyntaxError.prototype,
  TypeError.prototype,
  URIError.prototype,
]);

/**
 * Throws CannotTravel at the first part of `value` that would not arrive as it was sent: a function,
 * a symbol (value or key), an own `__proto__` key (msgpackr renames it, a guard against prototype
 * pollution), a string or key with a lone UTF-16 surrogate (it would arrive as U+FFFD), an instance
 * of any other class (its prototype, so its methods, would be lost), a SharedArrayBuffer. One walk
 * over the value, each object once (cycles are fine); numbers and typed arrays cost a type check.
 */
export function checkTravels(value: unknown): void {
  // Where the walk is: property keys and indices, formatted only when something cannot travel.
  const path: Array<string | number> = [];
  const seen = new Set<object>();
  const fail = (why: string): never => {
    throw new CannotTravel(formatPath(path), why);
  };
  const key = (k: string): void => {
    if (!isWellFormed(k))
      fail(
        `has the key ${JSON.stringify(k)} with a lone UTF-16 surrogate, which cannot travel: it would arrive as U+FFFD`,
      );
  };
  const walk = (v: unknown): void => {
    switch (typeof v) {
      case 'string':
        if (!isWellFormed(v))
          fail(
            'is a string with a lone UTF-16 surrogate, which cannot travel (it would arrive as U+FFFD): pass well-formed text, or the code units in a Uint16Array',
          );
        return;
      case 'function':
        fail('is a function, which cannot travel: send data and look the function up on the receiver');
        return;
      case 'symbol':
        fail('is a symbol, which cannot travel: send a string');
        return;
      case 'object':
        break;
      default:
        return; // number, bigint, boolean, undefined
    }
    if (v === null || seen.has(v)) return;
    seen.add(v);
    if (ArrayBuffer.isView(v)) return; // typed arrays and DataView: values are copied
    if (SharedArrayBufferClass !== undefined && v instanceof SharedArrayBufferClass) {
      fail(
        'is a SharedArrayBuffer, which cannot travel (it would arrive as {}): copy it into an ArrayBuffer, or share memory with createSharedRegion',
      );
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (!KEPT_CLASSES.has(proto)) {
      const name =
        (proto as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'an unknown class';
      fail(
        `is an instance of ${name}, which cannot travel (its prototype and methods would be lost): send a plain object and rebuild the instance on the receiver`,
      );
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        walk(v[i]);
        path.pop();
      }
    } else if (v instanceof Map) {
      let i = 0;
      for (const [k, x] of v) {
        path.push(`(Map key #${i})`);
        walk(k);
        path.pop();
        path.push(`(Map value #${i++})`);
        walk(x);
        path.pop();
      }
    } else if (v instanceof Set) {
      let i = 0;
      for (const x of v) {
        path.push(`(Set member #${i++})`);
        walk(x);
        path.pop();
      }
    } else if (v instanceof Error) {
      if ('cause' in v) {
        path.push('.cause');
        walk(v.cause);
        path.pop();
      }
    } else if (proto === Object.prototype || proto === null) {
      if (Object.prototype.hasOwnProperty.call(v, '__proto__')) {
        fail(
          'has an own key "__proto__", which cannot travel (the decoder renames it, a guard against prototype pollution): rename the key',
        );
      }
      for (const s of Object.getOwnPropertySymbols(v)) {
        if (Object.prototype.propertyIsEnumerable.call(v, s))
          fail(`has the symbol key ${String(s)}, which cannot travel: use a string key`);
      }
      for (const k of Object.keys(v)) {
        key(k);
        path.push(`.${k}`);
        walk((v as Record<string, unknown>)[k]);
        path.pop();
      }
    }
  };
  walk(value);
}

/** `value.a[3].b`: indices as numbers, keys as '.key', Map and Set positions as '(…)'. */
function formatPath(path: ReadonlyArray<string | number>): string {
  let out = 'value';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (part.startsWith('.') && !/^\.[A-Za-z_$][\w$]*$/.test(part))
      out += `[${JSON.stringify(part.slice(1))}]`;
    else out += part;
  }
  return out;
}

/** No lone UTF-16 surrogate (String#isWellFormed: Node 20; typed here because lib is ES2022). */
function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** encodeObject for `operation`, a value that cannot travel refused with InvalidArgument naming where (§4.6). */
export function encodeWith(operation: string, value: unknown): Uint8Array {
  try {
    return encodeObject(value);
  } catch (cause) {
    if (cause instanceof CannotTravel) {
      throw new CommError('InvalidArgument', operation, `${cause.message} (spec §4.6 lists what travels).`, {
        argument: 'value',
        path: cause.path,
      });
    }
    throw new CommError(
      'InvalidArgument',
      operation,
      `the value cannot be encoded (${(cause as Error).message}); pass plain data: objects, arrays, Maps, Sets, Dates, bigints, typed arrays (spec §4.6 lists what travels).`,
      { argument: 'value' },
    );
  }
}
