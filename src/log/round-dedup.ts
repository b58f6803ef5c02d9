import { bytesEqual } from '../merkle/check.js';

/**
 * The set of leaf hashes seen so far in one round (CONTRACT §1: identical
 * entries in one round are logged once), keyed by a number made of the
 * hash's first 30 bits: a small integer (a V8 Smi), so that neither a lookup
 * nor an entry of the map allocates a boxed number. Hashes whose first 30
 * bits collide with an earlier, different hash (about one round of 4096 in
 * 130) go to a second map keyed by the whole hash; a hit is always confirmed
 * on all 32 bytes.
 */
export class RoundDedup {
  private readonly byPrefix = new Map<number, number>();
  private collided: Map<string, number> | undefined;

  /** The slot stored for `hash`, or undefined; `hashes[slot]` is the hash stored at that slot. */
  find(hash: Uint8Array, hashes: readonly Uint8Array[]): number | undefined {
    const slot = this.byPrefix.get(prefixOf(hash));
    if (slot === undefined) return undefined;
    if (bytesEqual(hashes[slot]!, hash)) return slot;
    return this.collided?.get(fullKey(hash));
  }

  /** Remembers `hash` at `slot`; call only after find() returned undefined. */
  add(hash: Uint8Array, slot: number): void {
    const prefix = prefixOf(hash);
    if (!this.byPrefix.has(prefix)) this.byPrefix.set(prefix, slot);
    else (this.collided ??= new Map()).set(fullKey(hash), slot);
  }
}

/** The first 30 bits as an integer below 2^30 (a Smi even where those are 31 bits). */
function prefixOf(h: Uint8Array): number {
  return (h[0]! << 22) | (h[1]! << 14) | (h[2]! << 6) | (h[3]! >>> 2);
}

function fullKey(h: Uint8Array): string {
  return Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString('latin1');
}
