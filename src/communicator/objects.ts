/**
 * Encoding of the object family (allgather, bcast): MessagePack via msgpackr, with its structured-clone
 * extensions so nested objects, Maps, Sets, Dates, bigints, typed arrays and cycles round-trip.
 * Known loss: -0 encodes as the integer 0 (MessagePack has no negative-zero integer).
 */
import { Packr } from 'msgpackr';

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
  return packr.pack(value);
}

export function decodeObject<V>(bytes: Uint8Array): V {
  return packr.unpack(bytes) as V;
}
