/**
 * A HashReader over C2SP tlog-tiles that authenticates every tile against a
 * signed tree head before using it, as Go's sumdb `tlog.TileHashReader` does:
 * the tiles holding the tree's complete-subtree hashes must rebuild the
 * signed root, and every other full tile must hash to the entry its parent
 * tile (already authenticated) holds for it. A hash handed out is therefore
 * proven to be in the tree of that size and root.
 */
import { bytesEqual } from '../merkle/check.js';
import { EMPTY_ROOT, HASH_SIZE, nodeHash } from '../merkle/hash.js';
import type { HashReader } from '../merkle/reader.js';
import { storedHashCount, storedHashIndex } from '../merkle/stored.js';
import { formatTilePath, hashFromTile, TILE_HEIGHT, TILE_WIDTH, tileForIndex, tileWidth, type Tile } from '../merkle/tile.js';
import { subTreeIndexes } from '../merkle/tree.js';
import { ClientError } from './errors.js';

/**
 * Fetches raw, unauthenticated tile contents: for a hash tile, `tile.width`
 * hashes of 32 bytes (C2SP tlog-tiles; partial tiles at that width). The
 * reader checks the length and the hashes itself, and asks once more for a
 * tile of the wrong length.
 */
export interface TileFetcher {
  readTile(tile: Tile): Promise<Uint8Array>;
}

/**
 * The largest tree a TileHashReader reads: 2^52 leaves, whose stored hashes
 * (about twice as many, see storedHashCount) are still numbered by safe
 * integers. No log grows that large; a checkpoint that claims more is refused
 * up front, with ClientError BAD_RESPONSE (a size the log signed that this
 * client cannot check), instead of failing on its first hash.
 */
export const MAX_TILED_TREE_SIZE = 2 ** 52;

/** A tree a TileHashReader authenticates against: a checkpoint's size and root. */
export interface TreeRef {
  readonly treeSize: number;
  readonly rootHash: Uint8Array;
}

/**
 * `bytes`, or a copy of them when they are a view into a larger buffer (a
 * hash from src/merkle/hash.ts's shared slab, an entry cut from its bundle,
 * a hash cut from a cached tile): what the client hands out is each in a
 * buffer of its own, which the caller may transfer (postMessage,
 * structuredClone with `transfer`) without detaching anything else.
 */
export function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}

/** The RFC 6962 hash of a full tile's 256 hashes: the node one tile level up. */
function fullTileHash(data: Uint8Array): Uint8Array {
  let row: Uint8Array[] = [];
  for (let i = 0; i < TILE_WIDTH; i++) row.push(data.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  while (row.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < row.length; i += 2) next.push(nodeHash(row[i]!, row[i + 1]!));
    row = next;
  }
  return row[0]!;
}

function key(t: Tile): string {
  return `${t.level}/${t.n}/${t.width}`;
}

/**
 * The tile `k` levels above `t` in a tree of `treeSize` leaves, at its width
 * in that tree, or undefined if the tree has no such tile (Go tlog's tileParent).
 */
export function tileParent(t: Tile, k: number, treeSize: number): Tile | undefined {
  const level = t.level + k;
  const n = Math.floor(t.n / TILE_WIDTH ** k);
  const width = tileWidth(level, n, treeSize);
  return width === 0 ? undefined : { level, n, width };
}

/** Runs `work` over `items` with at most `limit` in flight, keeping order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  });
  await Promise.all(runners);
  return out;
}

/**
 * A HashReader (src/merkle/reader.ts) for the tree of `tree.treeSize` leaves
 * with root `tree.rootHash`, reading tiles through `fetcher` (Go tlog's
 * TileHashReader with tile height 8). `readHashes` resolves only with hashes
 * whose tiles it authenticated against the root, and rejects with ClientError
 * TILE_MISMATCH when a tile's hashes do not fit the root, BAD_RESPONSE when
 * a tile is of the wrong length twice in a row (no tile at all: a body cut
 * off, say, which authenticates nothing), or RangeError for an index outside
 * the tree. Fetched tiles are cached for the
 * reader's life; they are authenticated again on every use. A tree of more
 * than MAX_TILED_TREE_SIZE leaves is refused when the reader is made, with
 * ClientError BAD_RESPONSE: its size is what a log signed, not a caller's
 * mistake, and this client cannot number its hashes.
 */
/**
 * How many tiles a long walk lets one TileHashReader keep before a fresh one
 * takes over: a reader keeps every tile it read (8 KiB each at full width,
 * so about 32 MiB). Used by cairn monitor and verify-receipt --url.
 */
export const TILES_PER_READER = 4096;

export class TileHashReader implements HashReader {
  readonly treeSize: number;
  readonly rootHash: Uint8Array;
  readonly #fetcher: TileFetcher;
  readonly #concurrency: number;
  readonly #cache = new Map<string, Promise<Uint8Array>>();

  constructor(tree: TreeRef, fetcher: TileFetcher, options: { concurrency?: number } = {}) {
    if (tree === null || typeof tree !== 'object') throw new TypeError('TileHashReader: tree must be an object');
    if (typeof tree.treeSize !== 'number') throw new TypeError('TileHashReader: treeSize must be a number');
    if (!Number.isSafeInteger(tree.treeSize) || tree.treeSize < 0) throw new RangeError('TileHashReader: treeSize must be a safe non-negative integer');
    if (tree.treeSize > MAX_TILED_TREE_SIZE) {
      throw new ClientError(
        'BAD_RESPONSE',
        `a tree of ${tree.treeSize} leaves is past the 2^52 whose stored hashes a safe integer can number: this client can neither read its tiles nor check its entries`,
      );
    }
    if (!(tree.rootHash instanceof Uint8Array)) throw new TypeError('TileHashReader: rootHash must be a Uint8Array');
    if (tree.rootHash.length !== HASH_SIZE) throw new RangeError('TileHashReader: rootHash must be 32 bytes');
    if (fetcher === null || typeof fetcher !== 'object' || typeof fetcher.readTile !== 'function') {
      throw new TypeError('TileHashReader: fetcher must have a readTile method');
    }
    this.treeSize = tree.treeSize;
    this.rootHash = tree.rootHash.slice();
    this.#fetcher = fetcher;
    this.#concurrency = options.concurrency ?? 8;
  }

  /** How many tiles this reader keeps now (those being fetched included; a failed fetch is not kept). */
  get cachedTiles(): number {
    return this.#cache.size;
  }

  async #fetch(tile: Tile): Promise<Uint8Array> {
    const k = key(tile);
    let p = this.#cache.get(k);
    if (p === undefined) {
      p = this.#fetchWhole(tile);
      this.#cache.set(k, p);
      // A failed fetch is not remembered: a later call may succeed.
      p.catch(() => this.#cache.delete(k));
    }
    return p;
  }

  /**
   * Tile `tile` from the fetcher, of its width's length: asked for once more
   * when it is not, then BAD_RESPONSE.
   */
  async #fetchWhole(tile: Tile): Promise<Uint8Array> {
    const size = tile.width * HASH_SIZE;
    let lengths = '';
    for (let attempt = 0; attempt < 2; attempt++) {
      const data = await this.#fetcher.readTile(tile);
      if (!(data instanceof Uint8Array)) throw new TypeError('TileFetcher.readTile must resolve to a Uint8Array');
      if (data.length === size) return data;
      lengths += `${attempt === 0 ? '' : ', then '}${data.length}`;
    }
    throw new ClientError('BAD_RESPONSE', `${formatTilePath(tile)} is ${lengths} bytes, not ${size}`);
  }

  /**
   * Returns the stored hashes at `indexes` (stored-hash indexes, see
   * storedHashIndex), each from a tile authenticated against this tree and
   * each in a buffer of its own (see ownBytes): a hash above a tile's bottom
   * row is computed, and node:crypto's are cut from a shared slab.
   */
  async readHashes(indexes: readonly number[]): Promise<Uint8Array[]> {
    return (await this.#readHashes(indexes)).map(ownBytes);
  }

  /** readHashes, its hashes possibly views into a shared buffer (readTile copies them into its own). */
  async #readHashes(indexes: readonly number[]): Promise<Uint8Array[]> {
    if (!Array.isArray(indexes)) throw new TypeError('readHashes: indexes must be an array');
    const limit = storedHashCount(this.treeSize);
    for (const x of indexes) {
      if (typeof x !== 'number') throw new TypeError('readHashes: an index is not a number');
      if (!Number.isSafeInteger(x) || x < 0 || x >= limit) {
        throw new RangeError(`readHashes: stored hash ${String(x)} is not in the tree of size ${this.treeSize}`);
      }
    }
    if (indexes.length === 0) return [];

    // Plan, as Go does: first the tiles that rebuild the root; then for each
    // index its tile, preceded by any ancestors not planned yet, so that
    // every tile comes after the parent that authenticates it.
    const tiles: Tile[] = [];
    const order = new Map<string, number>();
    const add = (t: Tile): number => {
      const i = tiles.length;
      order.set(key(t), i);
      tiles.push(t);
      return i;
    };
    const stx = subTreeIndexes(0, this.treeSize, []);
    const stxTile = stx.map((x) => {
      const t = tileParent(tileForIndex(x), 0, this.treeSize)!;
      return order.get(key(t)) ?? add(t);
    });
    const indexTile = indexes.map((x) => {
      const base = tileForIndex(x);
      let k = 0;
      for (; ; k++) {
        const p = tileParent(base, k, this.treeSize);
        if (p === undefined) throw new Error(`client: bad math in TileHashReader: no planned ancestor of stored hash ${x}`);
        const j = order.get(key(p));
        if (j !== undefined) {
          if (k === 0) return j;
          break;
        }
      }
      let mine = -1;
      for (k--; k >= 0; k--) {
        const p = tileParent(base, k, this.treeSize)!;
        // A tile with a parent tile is full: only full tiles are summarized one level up.
        if (p.width !== TILE_WIDTH) throw new Error(`client: bad math in TileHashReader: ${formatTilePath(p)} has a parent`);
        mine = add(p);
      }
      return mine;
    });

    const data = await mapLimit(tiles, this.#concurrency, (t) => this.#fetch(t));

    // The root-building tiles, checked together: if the root differs one of
    // them is wrong, but which one cannot be told.
    let root: Uint8Array | undefined;
    for (let i = stx.length - 1; i >= 0; i--) {
      const j = stxTile[i]!;
      const h = hashFromTile(tiles[j]!, data[j]!, stx[i]!);
      root = root === undefined ? h : nodeHash(h, root);
    }
    if (!bytesEqual(root ?? EMPTY_ROOT, this.rootHash)) {
      const names = [...new Set(stxTile)].map((j) => formatTilePath(tiles[j]!)).join(', ');
      throw new ClientError('TILE_MISMATCH', `the tiles ${names} do not rebuild the root of the tree of size ${this.treeSize}`);
    }
    // Every other tile against its parent, which comes earlier in the list.
    const firstChild = Math.max(...stxTile) + 1;
    for (let i = firstChild; i < tiles.length; i++) {
      const t = tiles[i]!;
      const p = tileParent(t, 1, this.treeSize)!;
      const j = order.get(key(p));
      if (j === undefined || j >= i) throw new Error(`client: bad math in TileHashReader: lost the parent of ${formatTilePath(t)}`);
      const expected = hashFromTile(p, data[j]!, storedHashIndex(p.level * TILE_HEIGHT, t.n));
      if (!bytesEqual(fullTileHash(data[i]!), expected)) {
        throw new ClientError('TILE_MISMATCH', `${formatTilePath(t)} does not match its parent tile ${formatTilePath(p)} in the tree of size ${this.treeSize}`);
      }
    }
    return indexes.map((x, i) => {
      const j = indexTile[i]!;
      return hashFromTile(tiles[j]!, data[j]!, x);
    });
  }

  /**
   * Returns hash tile (`level`, `n`) at its width in this tree, authenticated
   * against the root (its bottom row is `tile/<level>/<n>[.p/<w>]`). Throws
   * RangeError if the tree has no such tile.
   */
  async readTile(level: number, n: number): Promise<Uint8Array> {
    const width = tileWidth(level, n, this.treeSize);
    if (level < 0 || width === 0) throw new RangeError(`readTile: the tree of size ${this.treeSize} has no tile ${level}/${n}`);
    const first = n * TILE_WIDTH;
    const indexes: number[] = [];
    for (let i = 0; i < width; i++) indexes.push(storedHashIndex(level * TILE_HEIGHT, first + i));
    const hashes = await this.#readHashes(indexes);
    const out = new Uint8Array(width * HASH_SIZE);
    hashes.forEach((h, i) => out.set(h, i * HASH_SIZE));
    return out;
  }
}
