/**
 * Deterministic benchmark entries: entry i of stream `seed` is 100 bytes
 * that look random (a 32-bit mixing function over the seed and index), the
 * same in every process, so that a load generator can ask for the proof of
 * an entry the builder logged without either keeping a list.
 */
import { hash } from 'node:crypto';

/** Bytes per benchmark entry (the 100-byte entries). */
export const ENTRY_SIZE = 100;
const WORDS = ENTRY_SIZE / 4;

/** A 32-bit finalizer (Murmur3 fmix32): a bijection on 32-bit words. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Writes entry `index` of stream `seed` into `out` at `offset`. The first
 * word is a bijection of the index for a given seed, so the entries of one
 * stream are all distinct (indexes below 2^32).
 */
export function writeEntry(seed: number, index: number, out: Uint8Array, offset: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= 2 ** 32) throw new RangeError(`entry index ${index}`);
  const view = new DataView(out.buffer, out.byteOffset + offset, ENTRY_SIZE);
  const s = mix32(seed >>> 0);
  view.setUint32(0, mix32(s ^ mix32(index)));
  for (let k = 1; k < WORDS; k++) view.setUint32(4 * k, mix32(s ^ mix32((index * WORDS + k) % 2 ** 32)));
}

/** Entry `index` of stream `seed` as its own 100-byte array. */
export function entryAt(seed: number, index: number): Uint8Array {
  const out = new Uint8Array(ENTRY_SIZE);
  writeEntry(seed, index, out, 0);
  return out;
}

/** Entries first … first+count−1 of a stream, as views into one buffer. */
export function entryRange(seed: number, first: number, count: number): Uint8Array[] {
  const all = new Uint8Array(ENTRY_SIZE * count);
  const out: Uint8Array[] = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) {
    writeEntry(seed, first + i, all, i * ENTRY_SIZE);
    out[i] = all.subarray(i * ENTRY_SIZE, (i + 1) * ENTRY_SIZE);
  }
  return out;
}

/** RFC 6962 §2.1 leaf hash, SHA-256(0x00 || entry), with node:crypto. */
export function benchLeafHash(entry: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(entry.length + 1);
  input[0] = 0;
  input.set(entry, 1);
  return hash('sha256', input, 'buffer');
}

/** The seed of the entries a built log holds; load generators derive proofs of them. */
export const BUILD_SEED = 0x6361_6972; // "cair"
