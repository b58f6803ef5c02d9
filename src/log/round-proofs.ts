import { POW2 } from '../merkle/check.js';
import { nodeHash } from '../merkle/hash.js';
import { locateHash, type HashTile } from '../storage/hash-tile.js';

/**
 * RFC 6962 §2.1.1 audit paths for the leaves one round appended, against the
 * round's own tree, computed synchronously from the tiles the round wrote and
 * the new right edge: no store reads, no promises, and proofs of neighbouring
 * leaves share their hash views (a round of 4096 leaves needs about 8192
 * distinct hashes, not 4096 × log n).
 *
 * The tree of size N is P_0 ‖ P_1 ‖ … ‖ P_m, perfect subtrees of decreasing
 * size (the compact range). For leaf i in P_k the path is i's siblings inside
 * P_k (bottom-up), then MTH of P_{k+1} ‖ … ‖ P_m if k < m, then P_{k-1}, …, P_0.
 * A sibling inside P_k is the other child of a node that contains i; that
 * node was completed by this round (it covers i), so it and its sibling, which
 * share a tile, are in a tile this round wrote.
 */
export class RoundProofs {
  private readonly firstNew: number;
  private readonly treeSize: number;
  private readonly newLeaves: readonly Uint8Array[];
  /** Start and height of each perfect subtree P_k, left to right. */
  private readonly starts: number[] = [];
  private readonly heights: number[] = [];
  /** tails[k]: the part of the path above P_k, shared by all its leaves. */
  private readonly tails: Uint8Array[][] = [];
  /** Tiles the round wrote, by tile level, then by n. */
  private readonly tiles = new Map<number, Map<number, HashTile>>();
  /** Sibling hashes met so far, per tree level, at index − base[level]. */
  private readonly memo: (Uint8Array | undefined)[][] = [];
  private readonly base: number[] = [];

  /**
   * `rightEdge` is the compact range of the tree of `treeSize` (largest
   * subtree first), `tiles` every tile the round wrote, and the round's new
   * leaves are `firstNew` … `treeSize` − 1, whose hashes are `newLeaves`:
   * a proof's bottom hash is the leaf hash of its neighbour, handed out as
   * that array's own view rather than as a new view into a tile.
   */
  constructor(treeSize: number, firstNew: number, rightEdge: readonly Uint8Array[], tiles: readonly HashTile[], newLeaves: readonly Uint8Array[]) {
    if (!Number.isSafeInteger(treeSize) || !Number.isSafeInteger(firstNew) || firstNew < 0 || firstNew > treeSize) {
      throw new RangeError(`RoundProofs: bad range ${firstNew}..${treeSize}`);
    }
    if (newLeaves.length !== treeSize - firstNew) throw new RangeError(`RoundProofs: ${newLeaves.length} new leaf hashes for leaves ${firstNew}..${treeSize - 1}`);
    this.treeSize = treeSize;
    this.firstNew = firstNew;
    this.newLeaves = newLeaves;
    let start = 0;
    for (let height = 52; height >= 0; height--) {
      const size = 2 ** height;
      if (treeSize - start >= size) {
        this.starts.push(start);
        this.heights.push(height);
        start += size;
      }
    }
    const m = this.starts.length - 1;
    if (rightEdge.length !== m + 1) throw new RangeError(`RoundProofs: ${rightEdge.length} edge hashes for tree size ${treeSize}`);
    // suffix[k] = MTH(P_k ‖ … ‖ P_m), folded right to left.
    const suffix: Uint8Array[] = new Array<Uint8Array>(m + 1);
    if (m >= 0) suffix[m] = rightEdge[m]!;
    for (let k = m - 1; k >= 0; k--) suffix[k] = nodeHash(rightEdge[k]!, suffix[k + 1]!);
    for (let k = 0; k <= m; k++) {
      const tail: Uint8Array[] = k < m ? [suffix[k + 1]!] : [];
      for (let j = k - 1; j >= 0; j--) tail.push(rightEdge[j]!);
      this.tails.push(tail);
    }
    for (const tile of tiles) {
      let byN = this.tiles.get(tile.level);
      if (byN === undefined) this.tiles.set(tile.level, (byN = new Map()));
      byN.set(tile.n, tile);
    }
  }

  /**
   * The audit path of new leaf `index` in the round's tree, or undefined if a
   * hash it needs is not in the round's tiles (the caller then uses the
   * general, store-reading proof). Throws RangeError for a leaf the round did
   * not add.
   */
  prove(index: number): Uint8Array[] | undefined {
    if (!Number.isSafeInteger(index) || index < this.firstNew || index >= this.treeSize) {
      throw new RangeError(`RoundProofs: leaf ${index} is not one of this round's ${this.firstNew}..${this.treeSize - 1}`);
    }
    let k = this.starts.length - 1;
    while (this.starts[k]! > index) k--;
    const height = this.heights[k]!;
    const tail = this.tails[k]!;
    // Sized once: a receipt's path is made for every entry a round logs.
    const path = new Array<Uint8Array>(height + tail.length);
    let node = index; // index of i's ancestor at the current level
    for (let level = 0; level < height; level++) {
      const sibling = node % 2 === 1 ? node - 1 : node + 1;
      const hash = level === 0 && sibling >= this.firstNew ? this.newLeaves[sibling - this.firstNew] : this.sibling(level, sibling);
      if (hash === undefined) return undefined;
      path[level] = hash;
      node = Math.floor(node / 2);
    }
    for (let j = 0; j < tail.length; j++) path[height + j] = tail[j]!;
    return path;
  }

  private sibling(level: number, index: number): Uint8Array | undefined {
    let memo = this.memo[level];
    let base = this.base[level];
    if (memo === undefined || base === undefined) {
      base = Math.max(0, Math.floor(this.firstNew / POW2[level]!) - 1);
      memo = [];
      this.memo[level] = memo;
      this.base[level] = base;
    }
    const slot = index - base;
    let hash = memo[slot];
    if (hash === undefined) {
      const at = locateHash(level, index);
      hash = this.tiles.get(at.tileLevel)?.get(at.n)?.hash(at.row, at.pos);
      if (hash === undefined) return undefined;
      memo[slot] = hash;
    }
    return hash;
  }
}
