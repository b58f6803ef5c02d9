import { CompactRange } from '../merkle/range.js';
import { HashTile, locateHash, TILE_WIDTH } from '../storage/hash-tile.js';
import type { LogState, LogStore } from '../storage/store.js';

/**
 * The sequencer's view of the right edge of the tree: its compact range and
 * the rightmost, still partial, stored tile of each tile level. That is all
 * appending needs (O(log n) hashes, never the whole tree).
 */
export class TreeBuilder {
  private range: CompactRange;
  /**
   * Rightmost tile of each level. Nodes complete in index order at every
   * level, so a node of tile n+1 retires tile n (which is full by then).
   */
  private readonly partial: Map<number, HashTile>;

  private constructor(range: CompactRange, partial: Map<number, HashTile>) {
    this.range = range;
    this.partial = partial;
  }

  /** An empty tree. */
  static empty(): TreeBuilder {
    return new TreeBuilder(CompactRange.empty(), new Map());
  }

  /** Resumes from a stored state: reads only the partial tiles of its right edge (O(log n)). */
  static async load(store: LogStore, state: LogState): Promise<TreeBuilder> {
    const range = CompactRange.from(state.treeSize, state.rightEdge);
    const keys: { level: number; n: number }[] = [];
    for (let level = 0; TILE_WIDTH ** level <= state.treeSize; level++) {
      const nodes = Math.floor(state.treeSize / TILE_WIDTH ** level);
      const n = Math.floor(nodes / TILE_WIDTH);
      if (nodes - n * TILE_WIDTH > 0) keys.push({ level, n });
    }
    const tiles = await store.readTiles(keys);
    const partial = new Map<number, HashTile>();
    tiles.forEach((tile, i) => {
      const key = keys[i]!;
      if (tile === undefined) throw new Error(`store is missing tile ${key.level}/${key.n} of tree size ${state.treeSize}`);
      partial.set(key.level, HashTile.extendable(tile));
    });
    return new TreeBuilder(range, partial);
  }

  get treeSize(): number {
    return this.range.size;
  }

  get rightEdge(): readonly Uint8Array[] {
    return this.range.hashes;
  }

  root(): Uint8Array {
    return this.range.root();
  }

  /** The partial tile of a level if it is tile n, for readers of the latest tree. */
  partialTile(level: number, n: number): HashTile | undefined {
    const tile = this.partial.get(level);
    return tile !== undefined && tile.n === n ? tile : undefined;
  }

  /** A copy to build a round on; the original stays as it was if the round fails. */
  clone(): TreeBuilder {
    const partial = new Map<number, HashTile>();
    for (const [level, tile] of this.partial) partial.set(level, tile.clone());
    return new TreeBuilder(CompactRange.from(this.range.size, this.range.hashes), partial);
  }

  /**
   * Appends leaves and returns every tile they changed (full ones included),
   * each to be written at its new width in the round's batch.
   */
  append(leafHashes: readonly Uint8Array[]): HashTile[] {
    const dirty = new Set<HashTile>();
    const onNode = (level: number, index: number, hash: Uint8Array): void => {
      const at = locateHash(level, index);
      let tile = this.partial.get(at.tileLevel);
      if (tile === undefined || tile.n !== at.n) {
        tile = new HashTile(at.tileLevel, at.n);
        this.partial.set(at.tileLevel, tile);
      }
      tile.set(at.row, at.pos, hash);
      dirty.add(tile);
    };
    for (const hash of leafHashes) this.range.append(hash, onNode);
    return [...dirty];
  }
}
