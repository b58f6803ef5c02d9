/**
 * The right edge of a Merkle tree: just enough state to append leaves and
 * compute the root of a growing log without reading stored hashes.
 */
import { checkHash, checkHashList, checkIndex, half, isOdd, popCount } from './check.js';
import { EMPTY_ROOT, nodeHash } from './hash.js';

/**
 * Called by `CompactRange.append` for each node it completes: `level` is the
 * height above the leaves (0 for the leaf itself) and `index` the node's
 * position within its level, so the node covers leaves
 * index·2^level … (index+1)·2^level − 1 and is stored at
 * `storedHashIndex(level, index)`. `hash` is shared with the range: copy it to
 * keep it, never modify it.
 */
export type OnNode = (level: number, index: number, hash: Uint8Array) => void;

/**
 * A compact range [0, size): the roots of the perfect subtrees that make up the
 * first `size` leaves of an RFC 6962 §2.1 tree, one per one bit of `size`,
 * largest (leftmost) first — O(log n) hashes, from which the tree hash of
 * every later size can be computed by appending.
 */
export class CompactRange {
  #size: number;
  #hashes: Uint8Array[];

  private constructor(size: number, hashes: Uint8Array[]) {
    this.#size = size;
    this.#hashes = hashes;
  }

  /** Returns the range of the empty tree. */
  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  /**
   * Returns the range [0, size) made of `hashes`, the perfect-subtree roots from
   * left to right (as `hashes` returns them). Throws RangeError unless there
   * is exactly one 32-byte hash per one bit of `size`; TypeError for wrong types.
   * The hashes are copied.
   */
  static from(size: number, hashes: readonly Uint8Array[]): CompactRange {
    checkIndex(size, 'CompactRange.from: size');
    checkHashList(hashes, 'CompactRange.from: hashes');
    const want = popCount(size);
    if (hashes.length !== want) {
      throw new RangeError(`CompactRange.from: a range of size ${size} has ${want} hashes, got ${hashes.length}`);
    }
    return new CompactRange(
      size,
      hashes.map((h) => h.slice()),
    );
  }

  /** The number of leaves in the range. */
  get size(): number {
    return this.#size;
  }

  /** Copies of the perfect-subtree roots, left (largest) to right (smallest). */
  get hashes(): readonly Uint8Array[] {
    return this.#hashes.map((h) => h.slice());
  }

  /** Returns an independent copy of this range. */
  clone(): CompactRange {
    return new CompactRange(this.#size, this.#hashes.slice());
  }

  /**
   * Appends the leaf hash `leafHash` as leaf `size` and merges every subtree it
   * completes (RFC 6962 §2.1). If given, `onNode` is called for every node this
   * completes, bottom-up: first the leaf itself as (0, size), then
   * (1, ⌊size/2⌋), (2, ⌊size/4⌋), … — one call per trailing one bit of the old
   * size, plus one — which is exactly the order of the stored hashes Go tlog's
   * StoredHashes appends for this leaf. If `onNode` throws, the range is left
   * unchanged. Throws TypeError/RangeError for a malformed hash, and RangeError
   * when the size would pass Number.MAX_SAFE_INTEGER.
   */
  append(leafHash: Uint8Array, onNode?: OnNode): void {
    checkHash(leafHash, 'CompactRange.append: leafHash');
    if (onNode !== undefined && typeof onNode !== 'function') {
      throw new TypeError('CompactRange.append: onNode must be a function');
    }
    if (this.#size === Number.MAX_SAFE_INTEGER) {
      throw new RangeError('CompactRange.append: size would pass Number.MAX_SAFE_INTEGER');
    }
    let h: Uint8Array = leafHash.slice();
    let level = 0;
    let index = this.#size;
    onNode?.(level, index, h);
    // Work on a cursor into the hashes and commit only at the end, so that a
    // throwing callback leaves the range as it was.
    let keep = this.#hashes.length;
    while (isOdd(index)) {
      keep--;
      h = nodeHash(this.#hashes[keep]!, h);
      level++;
      index = half(index);
      onNode?.(level, index, h);
    }
    this.#hashes.length = keep;
    this.#hashes.push(h);
    this.#size++;
  }

  /**
   * Returns the Merkle Tree Hash MTH(D[0:size]) of RFC 6962 §2.1: the
   * subtree roots folded right to left, EMPTY_ROOT (SHA-256 of "") for size 0.
   */
  root(): Uint8Array {
    const n = this.#hashes.length;
    let h = this.#hashes[n - 1];
    if (h === undefined) return EMPTY_ROOT.slice();
    if (n === 1) return h.slice();
    for (let i = n - 2; i >= 0; i--) {
      h = nodeHash(this.#hashes[i]!, h);
    }
    return h;
  }
}
