import type { NodeReader, TreeNode } from '../merkle/reader.js';
import { splitStoredHashIndex } from '../merkle/stored.js';
import { locateHash, type HashTile } from '../storage/hash-tile.js';
import type { LogStore } from '../storage/store.js';
import type { TileCache } from './tile-cache.js';

/** A tile one read needs, once found. */
interface Needed {
  readonly level: number;
  readonly n: number;
  tile: HashTile | undefined;
}

/**
 * Reads stored hashes out of hash tiles: first the sequencer's in-memory
 * partial tiles, then the cache of full tiles, then the store, in one
 * batched read for all that are missing. Proofs ask by tree node
 * (`readNodes`); `readHashes` takes Go tlog's stored-hash indexes.
 */
export class TileHashReader implements NodeReader {
  constructor(
    private readonly store: LogStore,
    private readonly cache: TileCache,
    private readonly partialTile: (level: number, n: number) => HashTile | undefined,
  ) {}

  async readHashes(indexes: readonly number[]): Promise<Uint8Array[]> {
    return this.readNodes(indexes.map((index) => splitStoredHashIndex(index)));
  }

  async readNodes(nodes: readonly TreeNode[]): Promise<Uint8Array[]> {
    // A proof touches a handful of tiles: a short list beats a keyed map.
    const needed: Needed[] = [];
    const places = nodes.map(({ level, n }) => {
      const at = locateHash(level, n);
      let tile = needed.find((t) => t.level === at.tileLevel && t.n === at.n);
      if (tile === undefined) {
        tile = { level: at.tileLevel, n: at.n, tile: this.partialTile(at.tileLevel, at.n) ?? this.cache.get(at.tileLevel, at.n) };
        needed.push(tile);
      }
      return { tile, row: at.row, pos: at.pos };
    });
    const missing = needed.filter((t) => t.tile === undefined);
    if (missing.length > 0) {
      const tiles = await this.store.readTiles(missing);
      tiles.forEach((tile, i) => {
        if (tile === undefined) return;
        missing[i]!.tile = tile;
        this.cache.add(tile);
      });
    }
    return places.map(({ tile, row, pos }, i) => {
      const hash = tile.tile?.hash(row, pos);
      if (hash === undefined) throw new Error(`stored hash of level ${nodes[i]!.level}, node ${nodes[i]!.n} (tile ${tile.level}/${tile.n}) is not in the store`);
      return hash;
    });
  }
}
