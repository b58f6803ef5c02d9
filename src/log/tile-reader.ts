import type { HashReader } from '../merkle/reader.js';
import { splitStoredHashIndex } from '../merkle/stored.js';
import { locateHash, type HashTile } from '../storage/hash-tile.js';
import type { LogStore } from '../storage/store.js';
import type { TileCache } from './tile-cache.js';

/**
 * Reads stored hashes (Go tlog's stored-hash indexes) out of hash tiles:
 * first the sequencer's in-memory partial tiles, then the cache of full
 * tiles, then the store, in one batched read for all that are missing.
 */
export class TileHashReader implements HashReader {
  constructor(
    private readonly store: LogStore,
    private readonly cache: TileCache,
    private readonly partialTile: (level: number, n: number) => HashTile | undefined,
  ) {}

  async readHashes(indexes: readonly number[]): Promise<Uint8Array[]> {
    const places = indexes.map((index) => {
      const { level, n } = splitStoredHashIndex(index);
      return locateHash(level, n);
    });
    const found = new Map<string, HashTile>();
    const missing: { level: number; n: number }[] = [];
    for (const at of places) {
      const key = `${at.tileLevel}/${at.n}`;
      if (found.has(key) || missing.some((m) => m.level === at.tileLevel && m.n === at.n)) continue;
      const tile = this.partialTile(at.tileLevel, at.n) ?? this.cache.get(at.tileLevel, at.n);
      if (tile !== undefined) found.set(key, tile);
      else missing.push({ level: at.tileLevel, n: at.n });
    }
    if (missing.length > 0) {
      const tiles = await this.store.readTiles(missing);
      tiles.forEach((tile, i) => {
        if (tile === undefined) return;
        found.set(`${missing[i]!.level}/${missing[i]!.n}`, tile);
        this.cache.add(tile);
      });
    }
    return places.map((at, i) => {
      const hash = found.get(`${at.tileLevel}/${at.n}`)?.hash(at.row, at.pos);
      if (hash === undefined) throw new Error(`stored hash ${indexes[i]} (tile ${at.tileLevel}/${at.n}) is not in the store`);
      return hash;
    });
  }
}
