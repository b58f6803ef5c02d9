import type { NodeReader, TreeNode } from '../merkle/reader.js';
import { splitStoredHashIndex } from '../merkle/stored.js';
import { locateHash, type HashTile } from '../storage/hash-tile.js';
import type { LogStore } from '../storage/store.js';
import type { TileCache } from './tile-cache.js';

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
    // A proof touches a handful of tiles: short lists beat a keyed map, and
    // a proof's two dozen hashes are worth not making an object each.
    const levels: number[] = [];
    const ns: number[] = [];
    const tiles: (HashTile | undefined)[] = [];
    const slots = new Uint32Array(nodes.length);
    const rows = new Uint8Array(nodes.length);
    const positions = new Uint8Array(nodes.length); // < 256, the tile width
    for (let i = 0; i < nodes.length; i++) {
      const at = locateHash(nodes[i]!.level, nodes[i]!.n);
      let slot = 0;
      while (slot < tiles.length && (levels[slot] !== at.tileLevel || ns[slot] !== at.n)) slot++;
      if (slot === tiles.length) {
        levels.push(at.tileLevel);
        ns.push(at.n);
        tiles.push(this.partialTile(at.tileLevel, at.n) ?? this.cache.get(at.tileLevel, at.n));
      }
      slots[i] = slot;
      rows[i] = at.row;
      positions[i] = at.pos;
    }
    const missing: { level: number; n: number; slot: number }[] = [];
    tiles.forEach((tile, slot) => {
      if (tile === undefined) missing.push({ level: levels[slot]!, n: ns[slot]!, slot });
    });
    if (missing.length > 0) {
      const read = await this.store.readTiles(missing);
      read.forEach((tile, i) => {
        if (tile === undefined) return;
        tiles[missing[i]!.slot] = tile;
        this.cache.add(tile);
      });
    }
    const out: Uint8Array[] = new Array<Uint8Array>(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const hash = tiles[slots[i]!]?.hash(rows[i]!, positions[i]!);
      if (hash === undefined) {
        const { level, n } = nodes[i]!;
        throw new Error(`stored hash of level ${level}, node ${n} (tile ${levels[slots[i]!]}/${ns[slots[i]!]}) is not in the store`);
      }
      out[i] = hash;
    }
    return out;
  }
}
