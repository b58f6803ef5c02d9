/**
 * An in-memory membership filter over the log's leaf hashes, so that a
 * round's dedup asks the store only about the hashes that may be logged
 * already (nearly none): a layered Bloom filter. A "no" is certain once the
 * filter is `ready`, that is once it holds every leaf hash the store held at
 * open (filled from the level-0 tiles in the background) as well as every hash
 * added since; a "yes" is wrong about 1% of the time per layer, which costs one
 * store lookup and nothing else.
 *
 * Leaf hashes are SHA-256 outputs, so their first bytes are already uniform:
 * the k bit positions come from two 32-bit words of the hash by double hashing
 * (position_i = (h1 + i·h2) mod bits). Someone who grinds entries to collide
 * in the filter only makes their own lookups go to the store.
 *
 * When the newest layer is full a new one twice its capacity is added; a
 * filter that would pass `maxBytes` gives up for good (`ready` turns false
 * and stays false), and the log goes back to asking the store about every
 * hash, as it does while the filter is being filled.
 */

import { HASH_SIZE } from '../merkle/hash.js';

/** At least this many bits per entry, and probes per hash: at most about 0.8% false positives per layer. */
const BITS_PER_ENTRY = 10;
const PROBES = 7;

/** Bytes of a layer for `capacity` entries: a power of two of bits, at least BITS_PER_ENTRY per entry. */
function layerBytes(capacity: number): number {
  let bits = 32;
  while (bits < capacity * BITS_PER_ENTRY) bits *= 2;
  return bits / 8;
}

/**
 * One Bloom filter of 2^b bits in 32-bit words. Everything below works on
 * 32-bit hash words and bit positions (never on log indexes), so it uses
 * 32-bit integer operations: a bit position is (h1 + i·h2) mod 2^b.
 */
class Layer {
  readonly words: Int32Array;
  private readonly mask: number;
  count = 0;

  constructor(readonly capacity: number) {
    const bytes = layerBytes(capacity);
    this.words = new Int32Array(bytes / 4);
    this.mask = bytes * 8 - 1;
  }

  add(h1: number, h2: number): void {
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      this.words[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.count++;
  }

  has(h1: number, h2: number): boolean {
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      if ((this.words[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** The two 32-bit words the hash at `at` in `bytes` is probed with (h2 odd, so the probes differ). */
function words(bytes: Uint8Array, at: number): [number, number] {
  if (!(bytes instanceof Uint8Array) || !(at >= 0 && at + HASH_SIZE <= bytes.length)) throw new TypeError('LeafFilter: a leaf hash is 32 bytes of a Uint8Array');
  const h1 = (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
  const h2 = (bytes[at + 4]! << 24) | (bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]! | 1;
  return [h1, h2];
}

export interface LeafFilterOptions {
  /** Entries the first layer is sized for. */
  readonly capacity: number;
  /** The most memory the filter may take; past it the filter gives up. */
  readonly maxBytes: number;
}

/**
 * The log's filter of logged leaf hashes (see the top of this file): `add`
 * every hash logged, `markFilled` once the store's hashes are all in, then
 * `mightContain` false means not logged for as long as `ready` holds.
 */
export class LeafFilter {
  private readonly layers: Layer[] = [];
  private readonly maxBytes: number;
  private filled = false;
  private gaveUp = false;

  constructor(options: LeafFilterOptions) {
    const { capacity, maxBytes } = options;
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`LeafFilter: capacity must be a positive integer, got ${capacity}`);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`LeafFilter: maxBytes must be a non-negative integer, got ${maxBytes}`);
    this.maxBytes = maxBytes;
    this.grow(capacity);
  }

  /** Whether a "no" from `mightContain` is certain: filled, and never given up. */
  get ready(): boolean {
    return this.filled && !this.gaveUp;
  }

  /** Whether it gave up for good (over budget, or {@link abandon}): filling it again is no use. */
  get abandoned(): boolean {
    return this.gaveUp;
  }

  /** Memory the filter holds, in bytes. */
  get bytes(): number {
    return this.layers.reduce((sum, layer) => sum + layer.words.byteLength, 0);
  }

  /**
   * Gives up for good, as when over budget: for when hashes were logged that
   * were never added (another writer on the same store).
   */
  abandon(): void {
    this.gaveUp = true;
    this.layers.length = 0;
  }

  /** Called once every hash the store held at open has been added. */
  markFilled(): void {
    this.filled = true;
  }

  /**
   * Adds a logged (or about to be logged) leaf hash: the 32 bytes of `bytes`
   * from `at` (a hash, or a row of them). Extra hashes only cost false positives.
   */
  add(bytes: Uint8Array, at = 0): void {
    if (this.gaveUp) return;
    let layer = this.layers[this.layers.length - 1]!;
    if (layer.count >= layer.capacity) {
      if (!this.grow(2 * layer.capacity)) return;
      layer = this.layers[this.layers.length - 1]!;
    }
    const [h1, h2] = words(bytes, at);
    layer.add(h1, h2);
  }

  /** False only if `hash` was never added (certain only while `ready`). */
  mightContain(hash: Uint8Array): boolean {
    if (this.gaveUp) return true;
    const [h1, h2] = words(hash, 0);
    for (const layer of this.layers) if (layer.has(h1, h2)) return true;
    return false;
  }

  /** Adds a layer for `capacity` more entries, or gives up (and frees the layers) if it would not fit. */
  private grow(capacity: number): boolean {
    // 2^32 bits at most: bit positions are 32-bit.
    if (this.bytes + layerBytes(capacity) > this.maxBytes || layerBytes(capacity) > 2 ** 29) {
      this.abandon();
      return false;
    }
    this.layers.push(new Layer(capacity));
    return true;
  }
}
