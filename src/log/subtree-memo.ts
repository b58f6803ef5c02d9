import type { SubtreeMemo } from '../merkle/tree.js';

/**
 * A bounded SubtreeMemo for the log's proofs: hashes of incomplete leaf
 * ranges, which never change in an append-only log. Proofs against one tree
 * size need the same few ranges along its right edge, so a small memo covers
 * them; when it fills it starts over rather than tracking recency. Ranges are
 * found by their end, then their start, with the numbers themselves as keys.
 */
export class BoundedSubtreeMemo implements SubtreeMemo {
  private readonly byEnd = new Map<number, Map<number, Uint8Array>>();
  private count = 0;

  constructor(private readonly capacity = 4096) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`subtree memo capacity ${capacity}`);
  }

  get(lo: number, hi: number): Uint8Array | undefined {
    return this.byEnd.get(hi)?.get(lo);
  }

  set(lo: number, hi: number, hash: Uint8Array): void {
    if (this.count >= this.capacity) this.clear();
    let starts = this.byEnd.get(hi);
    if (starts === undefined) this.byEnd.set(hi, (starts = new Map()));
    if (!starts.has(lo)) this.count++;
    starts.set(lo, hash);
  }

  /** Forgets every range. */
  clear(): void {
    this.byEnd.clear();
    this.count = 0;
  }

  get size(): number {
    return this.count;
  }
}
