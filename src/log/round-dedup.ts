import { bytesEqual } from '../merkle/check.js';

/**
 * The set of leaf hashes seen so far in one round (CONTRACT §1: identical
 * entries in one round are logged once), keyed by a number made of the
 * hash's first six bytes so that a lookup allocates nothing. Hashes whose
 * first six bytes collide with an earlier, different hash go to a second map
 * keyed by the whole hash; a hit is always confirmed on all 32 bytes.
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

/** The first six bytes as an exact integer below 2^48. */
function prefixOf(h: Uint8Array): number {
  return ((((h[0]! * 256 + h[1]!) * 256 + h[2]!) * 256 + h[3]!) * 256 + h[4]!) * 256 + h[5]!;
}

function fullKey(h: Uint8Array): string {
  return Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString('latin1');
}
