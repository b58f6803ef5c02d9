import type { HashTile } from '../storage/hash-tile.js';

interface Entry {
  readonly tile: HashTile;
  /** The cache's clock when the tile was last added or found. */
  used: number;
}

/**
 * A bounded least-recently-used cache of full hash tiles of level 1 and up
 * (one per 65,536 entries), which every proof needs. Full tiles never change,
 * so a cached one never goes stale.
 *
 * Level-0 tiles are not kept: a random proof reads one that the next
 * thousands of proofs will not touch, and a cache of them only made the
 * tiles outlive the young generation, so that at 10^7 entries the server
 * ran five times as many full collections (32 against 6 in 6.5 s of proofs)
 * with a 50% higher p99, for a store read (~5 µs) saved now and then.
 *
 * Tiles are found by number in one map per level, and a hit only stamps the
 * entry with a clock: no key is built and no map changes on the path every
 * proof takes. The least recently used tile is looked for only when a tile
 * must make room, which follows a store read that costs far more.
 */
export class TileCache {
  private readonly levels: Map<number, Entry>[] = [];
  private count = 0;
  private clock = 0;

  /** Room for `capacity` tiles of level 1 and up. */
  constructor(private readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new RangeError(`tile cache capacity ${capacity}`);
  }

  get(level: number, n: number): HashTile | undefined {
    const entry = this.levels[level]?.get(n);
    if (entry === undefined) return undefined;
    entry.used = ++this.clock;
    return entry.tile;
  }

  /**
   * Remembers a full tile of level 1 or up, with every row filled in (the
   * store leaves two rows out), so that the proofs that keep coming back to
   * it hash nothing. Partial tiles and level-0 tiles are not kept.
   */
  add(tile: HashTile): void {
    if (!tile.full || tile.level === 0 || this.capacity === 0) return;
    const map = (this.levels[tile.level] ??= new Map());
    const entry = map.get(tile.n);
    if (entry !== undefined) {
      entry.used = ++this.clock;
      return;
    }
    if (this.count === this.capacity) this.evictOldest();
    map.set(tile.n, { tile: tile.materialize(), used: ++this.clock });
    this.count++;
  }

  get size(): number {
    return this.count;
  }

  private evictOldest(): void {
    let oldest: { map: Map<number, Entry>; n: number; used: number } | undefined;
    for (const map of this.levels) {
      if (map === undefined) continue;
      for (const [n, entry] of map) if (oldest === undefined || entry.used < oldest.used) oldest = { map, n, used: entry.used };
    }
    if (oldest === undefined) return;
    oldest.map.delete(oldest.n);
    this.count--;
  }
}
