import { POW2 } from '../merkle/check.js';
import { EMPTY_ROOT, nodeHash } from '../merkle/hash.js';
import { CompactRange } from '../merkle/range.js';
import { HashTile, TILE_HEIGHT, TILE_WIDTH } from '../storage/hash-tile.js';
import type { LogState, LogStore } from '../storage/store.js';

/**
 * The sequencer's view of the right edge of the tree: its compact range (the
 * roots of the perfect subtrees of RFC 6962 §2.1, largest first) and the
 * rightmost, still partial, stored tile of each tile level. That is all
 * appending needs (O(log n) hashes, never the whole tree).
 *
 * The range is kept here rather than in a CompactRange: appending is the
 * sequencer's inner loop, and the builder's hashes are its own (never handed
 * out without a copy), so it can skip CompactRange's defensive copy of every
 * leaf. Restarts still go through CompactRange.from, which checks the shape.
 */
export class TreeBuilder {
  private size: number;
  /** Perfect-subtree roots, left (largest) to right; never modified in place. */
  private edge: Uint8Array[];
  /**
   * Rightmost tile of each level. Nodes complete in index order at every
   * level, so a node of tile n+1 retires tile n (which is full by then).
   */
  private readonly partial: Map<number, HashTile>;

  private constructor(size: number, edge: Uint8Array[], partial: Map<number, HashTile>) {
    this.size = size;
    this.edge = edge;
    this.partial = partial;
  }

  /** An empty tree. */
  static empty(): TreeBuilder {
    return new TreeBuilder(0, [], new Map());
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
    return new TreeBuilder(range.size, [...range.hashes], partial);
  }

  get treeSize(): number {
    return this.size;
  }

  /** Copies of the compact range's hashes, largest subtree first (what LogState.rightEdge stores). */
  get rightEdge(): readonly Uint8Array[] {
    return this.edge.map((h) => h.slice());
  }

  /** MTH of the whole tree (RFC 6962 §2.1): the edge folded right to left; SHA-256("") when empty. */
  root(): Uint8Array {
    const last = this.edge.length - 1;
    if (last < 0) return EMPTY_ROOT.slice();
    let h = this.edge[last]!;
    for (let i = last - 1; i >= 0; i--) h = nodeHash(this.edge[i]!, h);
    return h === this.edge[last] ? h.slice() : h;
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
    return new TreeBuilder(this.size, this.edge.slice(), partial);
  }

  /**
   * Appends leaf hashes (32 bytes each, kept by reference: the caller must
   * not change them) and returns every tile they changed (full ones
   * included), each to be written at its new width in the round's batch.
   */
  append(leafHashes: readonly Uint8Array[]): HashTile[] {
    const dirty = new Set<HashTile>();
    for (const leaf of leafHashes) {
      if (!(leaf instanceof Uint8Array) || leaf.length !== 32) throw new TypeError('a leaf hash must be a 32-byte Uint8Array');
      if (this.size === Number.MAX_SAFE_INTEGER) throw new RangeError('the tree would pass Number.MAX_SAFE_INTEGER leaves');
      let h = leaf;
      let level = 0;
      let index = this.size;
      dirty.add(this.place(level, index, h));
      // Each trailing one bit of the old size completes a node (RFC 6962 §2.1).
      while (index % 2 === 1) {
        h = nodeHash(this.edge.pop()!, h);
        level++;
        index = (index - 1) / 2;
        dirty.add(this.place(level, index, h));
      }
      this.edge.push(h);
      this.size++;
    }
    // Only the newest leaf can still be on the edge (when the size is odd);
    // it is the caller's array, so the builder keeps a copy of its own.
    const last = this.edge.length - 1;
    if (leafHashes.length > 0 && this.size % 2 === 1) this.edge[last] = this.edge[last]!.slice();
    return [...dirty];
  }

  /** Stores completed node (level, index) in its tile (C2SP tlog-tiles, height 8); returns the tile. */
  private place(level: number, index: number, hash: Uint8Array): HashTile {
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const row = level - tileLevel * TILE_HEIGHT;
    const perTile = TILE_WIDTH / POW2[row]!;
    const n = Math.floor(index / perTile);
    let tile = this.partial.get(tileLevel);
    if (tile === undefined || tile.n !== n) {
      tile = new HashTile(tileLevel, n);
      this.partial.set(tileLevel, tile);
    }
    tile.set(row, index - n * perTile, hash);
    return tile;
  }
}
