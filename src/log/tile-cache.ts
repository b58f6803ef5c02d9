import type { HashTile } from '../storage/hash-tile.js';

/**
 * A bounded LRU of full hash tiles. Full tiles never change, so a cached one
 * never goes stale; the upper levels of the tree stay hot and proofs seldom
 * touch the store for them.
 */
export class TileCache {
  private readonly tiles = new Map<string, HashTile>();
  private readonly capacity: number;

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new RangeError(`tile cache capacity ${capacity}`);
    this.capacity = capacity;
  }

  get(level: number, n: number): HashTile | undefined {
    const key = `${level}/${n}`;
    const tile = this.tiles.get(key);
    if (tile !== undefined) {
      this.tiles.delete(key);
      this.tiles.set(key, tile);
    }
    return tile;
  }

  /** Remembers a tile if it is full; partial tiles are never cached. */
  add(tile: HashTile): void {
    if (!tile.full || this.capacity === 0) return;
    const key = `${tile.level}/${tile.n}`;
    this.tiles.delete(key);
    this.tiles.set(key, tile);
    if (this.tiles.size > this.capacity) {
      const oldest = this.tiles.keys().next().value as string;
      this.tiles.delete(oldest);
    }
  }

  get size(): number {
    return this.tiles.size;
  }
}
