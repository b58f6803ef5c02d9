import type { HashTile } from '../storage/hash-tile.js';

interface Entry {
  readonly tile: HashTile;
  /** Found since the clock hand last passed it (or since it was added again). */
  used: boolean;
  /** Times found: its left-out rows are filled in at MATERIALIZE_AFTER. */
  hits: number;
}

/**
 * Times a cached tile is found before the rows its stored form left out
 * (1 and 3) are computed and kept. Computing them is 160 node hashes; a
 * proof through a tile without them computes one node of each, 2 hashes:
 * after about 80 proofs through it, keeping them has paid for itself. A
 * tile that proofs keep coming back to (every tile of level 2 and up, and
 * every tile of level 1 while they all fit) soon has them; a tile read for
 * one proof and pushed out again before many more came to it (a log of
 * more than 65,536 entries per tile the cache holds: 1,526 tiles of level
 * 1 at 10^8 against 1,024) never pays for them. Filled in as it was added,
 * every such read cost 160 hashes for the two that proof used: at 10^8,
 * one proof in three by index, 80 µs each on the 2-vCPU machine.
 */
export const MATERIALIZE_AFTER = 64;

/**
 * A bounded cache of full hash tiles of level 1 and up (one per 65,536
 * entries), which every proof needs. Full tiles never change, so a cached
 * one never goes stale.
 *
 * Level-0 tiles are not kept: a random proof reads one that the next
 * thousands of proofs will not touch, and a cache of them only made the
 * tiles outlive the young generation, so that at 10^7 entries the server
 * ran five times as many full collections (32 against 6 in 6.5 s of proofs)
 * with a 50% higher p99, for a store read (~5 µs) saved now and then.
 *
 * Tiles are found by number in one map per level, and a hit only marks the
 * entry as used: no key is built and no map changes on the path every
 * proof takes. A tile that must make room pushes out the one a clock hand
 * going round the ring of cached tiles first finds unused since the hand
 * last passed (clearing the marks it passes): about the least recently
 * used, found in a few steps whatever the cache's size. (Looking for the
 * least recently used tile itself scanned all 1,024 on every tile read
 * once the cache was full, 13 µs each: at 10^8 entries, one proof in three.)
 */
export class TileCache {
  private readonly levels: Map<number, Entry>[] = [];
  /** The cached tiles, in the order the clock hand visits them. */
  private readonly ring: Entry[] = [];
  private hand = 0;

  /** Room for `capacity` tiles of level 1 and up. */
  constructor(private readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new RangeError(`tile cache capacity ${capacity}`);
  }

  get(level: number, n: number): HashTile | undefined {
    const entry = this.levels[level]?.get(n);
    if (entry === undefined) return undefined;
    entry.used = true;
    if (++entry.hits === MATERIALIZE_AFTER) entry.tile.materialize();
    return entry.tile;
  }

  /**
   * Remembers a full tile of level 1 or up, as it is (a tile read from the
   * store lacks two rows until it has been found MATERIALIZE_AFTER times).
   * Partial tiles and level-0 tiles are not kept.
   */
  add(tile: HashTile): void {
    if (!tile.full || tile.level === 0 || this.capacity === 0) return;
    const map = (this.levels[tile.level] ??= new Map());
    const entry = map.get(tile.n);
    if (entry !== undefined) {
      entry.used = true;
      return;
    }
    const slot = this.ring.length < this.capacity ? this.ring.length : this.evict();
    const added: Entry = { tile, used: false, hits: 0 };
    this.ring[slot] = added;
    map.set(tile.n, added);
  }

  get size(): number {
    return this.ring.length;
  }

  /** Empties the slot the clock hand stops at and returns it. */
  private evict(): number {
    for (;;) {
      const slot = this.hand;
      this.hand = (this.hand + 1) % this.ring.length;
      const entry = this.ring[slot]!;
      if (entry.used) {
        entry.used = false;
        continue;
      }
      this.levels[entry.tile.level]!.delete(entry.tile.n);
      return slot;
    }
  }
}
