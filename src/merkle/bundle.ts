/**
 * C2SP tlog-tiles entry bundles: the entries 256·N … as
 * `uint16 big-endian length || bytes` each (CONTRACT §3), and their check
 * against the authenticated level-0 tile of the same N.
 */
import { HASH_SIZE, leafHash } from './hash.js';
import { TILE_WIDTH } from './tile.js';

/** The largest entry a bundle can carry, and CONTRACT §1's limit. */
export const MAX_ENTRY_SIZE = 65_535;

/**
 * Splits an entry bundle (C2SP tlog-tiles §Log entries) into its entries,
 * strictly: exactly `count` entries when given (1..256), each 1 to 65,535
 * bytes (CONTRACT §1), no bytes left over. The entries are views into
 * `bundle`. Throws TypeError for wrong types and RangeError for a bundle that
 * does not parse so.
 */
export function parseEntryBundle(bundle: Uint8Array, count?: number): Uint8Array[] {
  if (!(bundle instanceof Uint8Array)) throw new TypeError('parseEntryBundle: bundle must be a Uint8Array');
  if (count !== undefined && (!Number.isSafeInteger(count) || count < 1 || count > TILE_WIDTH)) {
    throw new RangeError(`parseEntryBundle: count must be 1..${TILE_WIDTH}, got ${String(count)}`);
  }
  const out: Uint8Array[] = [];
  let offset = 0;
  while (offset < bundle.length) {
    if (out.length === TILE_WIDTH) throw new RangeError(`parseEntryBundle: more than ${TILE_WIDTH} entries`);
    if (offset + 2 > bundle.length) throw new RangeError(`parseEntryBundle: truncated length of entry ${out.length}`);
    const length = bundle[offset]! * 256 + bundle[offset + 1]!;
    if (length === 0) throw new RangeError(`parseEntryBundle: entry ${out.length} is empty`);
    if (offset + 2 + length > bundle.length) throw new RangeError(`parseEntryBundle: entry ${out.length} is truncated`);
    out.push(bundle.subarray(offset + 2, offset + 2 + length));
    offset += 2 + length;
  }
  if (count !== undefined && out.length !== count) {
    throw new RangeError(`parseEntryBundle: expected ${count} entries, got ${out.length}`);
  }
  return out;
}

/**
 * Entry `position` (0-based) of an entry bundle (C2SP tlog-tiles §Log
 * entries) as a view into `bundle`, found by walking the length prefixes
 * without splitting the rest. Checks the lengths it walks over as
 * parseEntryBundle does; throws RangeError when the bundle ends before that
 * entry or does not parse up to it.
 */
export function bundleEntry(bundle: Uint8Array, position: number): Uint8Array {
  if (!(bundle instanceof Uint8Array)) throw new TypeError('bundleEntry: bundle must be a Uint8Array');
  if (!Number.isSafeInteger(position) || position < 0 || position >= TILE_WIDTH) {
    throw new RangeError(`bundleEntry: position must be 0..${TILE_WIDTH - 1}, got ${String(position)}`);
  }
  let offset = 0;
  for (let i = 0; ; i++) {
    if (offset + 2 > bundle.length) throw new RangeError(`bundleEntry: the bundle ends before entry ${i}`);
    const length = bundle[offset]! * 256 + bundle[offset + 1]!;
    if (length === 0) throw new RangeError(`bundleEntry: entry ${i} is empty`);
    if (offset + 2 + length > bundle.length) throw new RangeError(`bundleEntry: entry ${i} is truncated`);
    if (i === position) return bundle.subarray(offset + 2, offset + 2 + length);
    offset += 2 + length;
  }
}

/**
 * Encodes entries as an entry bundle (C2SP tlog-tiles §Log entries). Throws
 * RangeError for an entry that is empty or longer than 65,535 bytes, or more
 * than 256 entries.
 */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(entries)) throw new TypeError('encodeEntryBundle: entries must be an array');
  if (entries.length > TILE_WIDTH) throw new RangeError(`encodeEntryBundle: at most ${TILE_WIDTH} entries`);
  let size = 0;
  for (const e of entries) {
    if (!(e instanceof Uint8Array)) throw new TypeError('encodeEntryBundle: entries must be Uint8Arrays');
    if (e.length === 0 || e.length > MAX_ENTRY_SIZE) throw new RangeError(`encodeEntryBundle: an entry is 1..${MAX_ENTRY_SIZE} bytes, got ${e.length}`);
    size += 2 + e.length;
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const e of entries) {
    out[offset] = Math.floor(e.length / 256);
    out[offset + 1] = e.length % 256;
    out.set(e, offset + 2);
    offset += 2 + e.length;
  }
  return out;
}

/**
 * Returns the position of the first entry whose RFC 6962 leaf hash differs
 * from the hash at the same position of `tile` (the bottom row of the level-0
 * hash tile with the same N, which must already be authenticated against a
 * checkpoint), or -1 when all match and the counts agree; a count mismatch
 * reports the first position that only one side has.
 */
export function firstMismatchedEntry(entries: readonly Uint8Array[], tile: Uint8Array): number {
  if (!Array.isArray(entries)) throw new TypeError('firstMismatchedEntry: entries must be an array');
  if (!(tile instanceof Uint8Array)) throw new TypeError('firstMismatchedEntry: tile must be a Uint8Array');
  if (tile.length % HASH_SIZE !== 0) throw new RangeError('firstMismatchedEntry: tile length is not a multiple of 32');
  const width = tile.length / HASH_SIZE;
  const n = Math.min(width, entries.length);
  for (let i = 0; i < n; i++) {
    const h = leafHash(entries[i]!);
    const off = i * HASH_SIZE;
    for (let j = 0; j < HASH_SIZE; j++) {
      if (h[j] !== tile[off + j]) return i;
    }
  }
  return width === entries.length ? -1 : n;
}
