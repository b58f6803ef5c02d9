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

/**
 * RFC 6962 §2.1 node hash of `data`, SHA-256(0x01 || data), where data is
 * the two children's hashes one after the other, with node:crypto: also
 * merkletreejs's hash function for inner nodes (it hashes left || right).
 */
export function benchNodeHash(data: Buffer): Buffer {
  const input = Buffer.allocUnsafe(data.length + 1);
  input[0] = 1;
  data.copy(input, 1);
  return hash('sha256', input, 'buffer');
}

/** The seed of the entries a built log holds; load generators derive proofs of them. */
export const BUILD_SEED = 0x6361_6972; // "cair"

/**
 * The RFC 6962 §2.1 roots of the trees of the first m entries of stream
 * `seed`, for each m of `sizes` (each at least 1), computed from the entries
 * alone, in one pass, with node:crypto and none of Cairn's tree code: the
 * benchmark checks each server's signed root against it, so that a proof it
 * verifies against that root is right about the entries the log was given,
 * not only consistent with the server's own hashes.
 */
export function rootsOfPrefixes(seed: number, sizes: readonly number[]): Map<number, Buffer> {
  const wanted = [...new Set(sizes)].sort((a, b) => a - b);
  if (wanted.some((m) => !Number.isSafeInteger(m) || m < 1)) throw new RangeError(`rootsOfPrefixes: sizes must be positive integers, got ${sizes.join(', ')}`);
  const node = (left: Buffer, right: Buffer) => benchNodeHash(Buffer.concat([left, right]));
  // The perfect subtrees the leaves so far make, largest first: subtree k
  // covers 2^heights[k] leaves.
  const stack: Buffer[] = [];
  const heights: number[] = [];
  const roots = new Map<number, Buffer>();
  const chunk = 65_536;
  let next = 0;
  for (const m of wanted) {
    while (next < m) {
      const count = Math.min(chunk, m - next);
      for (const entry of entryRange(seed, next, count)) {
        let h = benchLeafHash(entry);
        let height = 0;
        while (heights.length > 0 && heights[heights.length - 1] === height) {
          h = node(stack.pop()!, h);
          heights.pop();
          height += 1;
        }
        stack.push(h);
        heights.push(height);
      }
      next += count;
    }
    // The root folds the subtrees from the right (RFC 6962 §2.1: the left
    // part is the largest power of two below m).
    let root = stack[stack.length - 1]!;
    for (let k = stack.length - 2; k >= 0; k--) root = node(stack[k]!, root);
    roots.set(m, root);
  }
  return roots;
}
