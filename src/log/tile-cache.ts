import type { HashTile } from '../storage/hash-tile.js';

/** A bounded least-recently-used map. */
class Lru<V> {
  private readonly items = new Map<string, V>();
  constructor(private readonly capacity: number) {}

  get(key: string): V | undefined {
    const value = this.items.get(key);
    if (value !== undefined) {
      this.items.delete(key);
      this.items.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    if (this.capacity === 0) return;
    this.items.delete(key);
    this.items.set(key, value);
    if (this.items.size > this.capacity) this.items.delete(this.items.keys().next().value as string);
  }

  get size(): number {
    return this.items.size;
  }
}

/**
 * Bounded LRUs of full hash tiles. Full tiles never change, so a cached one
 * never goes stale. Tiles of level 1 and up (one per 65,536 entries) have
 * their own LRU, so that the level-0 tiles that random proofs read one each
 * cannot push out the upper levels that every proof needs.
 */
export class TileCache {
  private readonly upper: Lru<HashTile>;
  private readonly bottom: Lru<HashTile>;

  /** `capacity` tiles of level 1 and up, and `bottomCapacity` of level 0. */
  constructor(capacity: number, bottomCapacity = capacity) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new RangeError(`tile cache capacity ${capacity}`);
    if (!Number.isSafeInteger(bottomCapacity) || bottomCapacity < 0) throw new RangeError(`tile cache capacity ${bottomCapacity}`);
    this.upper = new Lru(capacity);
    this.bottom = new Lru(bottomCapacity);
  }

  get(level: number, n: number): HashTile | undefined {
    return (level === 0 ? this.bottom : this.upper).get(`${level}/${n}`);
  }

  /**
   * Remembers a tile if it is full; partial tiles are never cached. An upper
   * tile is kept with every row filled in (the store leaves two rows out), so
   * the proofs that keep coming back to it hash nothing; a level-0 tile is
   * read for a proof or two and computes the one or two nodes they need.
   */
  add(tile: HashTile): void {
    if (!tile.full) return;
    if (tile.level === 0) this.bottom.set(`0/${tile.n}`, tile);
    else this.upper.set(`${tile.level}/${tile.n}`, tile.materialize());
  }

  get size(): number {
    return this.upper.size + this.bottom.size;
  }
}
