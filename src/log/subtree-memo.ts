import type { SubtreeMemo } from '../merkle/tree.js';

/**
 * A bounded SubtreeMemo for the log's proofs: hashes of incomplete leaf
 * ranges, which never change in an append-only log. Proofs against one tree
 * size need the same few ranges along its right edge, so a small memo covers
 * them; when it fills it starts over rather than tracking recency.
 */
export class BoundedSubtreeMemo implements SubtreeMemo {
  private readonly hashes = new Map<string, Uint8Array>();

  constructor(private readonly capacity = 4096) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`subtree memo capacity ${capacity}`);
  }

  get(lo: number, hi: number): Uint8Array | undefined {
    return this.hashes.get(`${lo}/${hi}`);
  }

  set(lo: number, hi: number, hash: Uint8Array): void {
    if (this.hashes.size >= this.capacity) this.hashes.clear();
    this.hashes.set(`${lo}/${hi}`, hash);
  }

  get size(): number {
    return this.hashes.size;
  }
}
