/**
 * C2SP tlog-tiles with tile height 8: tile coordinates, their paths, and the
 * hashes a tile proves (Go tlog's tile.go with H = 8, and C2SP's path form:
 * no height element, `entries` for entry bundles).
 */
import { checkIndex } from './check.js';
import { HASH_SIZE, nodeHash } from './hash.js';
import { splitStoredHashIndex } from './stored.js';

/** The height of every tile: a tile spans 8 tree levels (C2SP tlog-tiles). */
export const TILE_HEIGHT = 8;

/** The number of hashes (or entries) in a full tile, 2^TILE_HEIGHT. */
export const TILE_WIDTH = 256;

/** The highest tile level a path may name (C2SP tlog-tiles: 0 to 63). */
export const MAX_TILE_LEVEL = 63;

/**
 * One tile (C2SP tlog-tiles): `width` consecutive hashes of tree level
 * 8·`level` starting at hash 256·`n`, or for `level` -1 the entry bundle of
 * entries 256·`n` …; `width` is 1 to 256, 256 being a full tile.
 */
export interface Tile {
  level: number;
  n: number;
  width: number;
}

function checkLevel(level: unknown, name: string, min: number): number {
  if (typeof level !== 'number') throw new TypeError(`${name} must be a number, got ${typeof level}`);
  if (!Number.isInteger(level) || level < min || level > MAX_TILE_LEVEL) {
    throw new RangeError(`${name} must be an integer from ${min} to ${MAX_TILE_LEVEL}, got ${String(level)}`);
  }
  return level;
}

function checkTile(tile: unknown, fn: string): Tile {
  if (typeof tile !== 'object' || tile === null) throw new TypeError(`${fn}: tile must be an object`);
  const t = tile as Tile;
  checkLevel(t.level, `${fn}: tile.level`, -1);
  checkIndex(t.n, `${fn}: tile.n`);
  if (typeof t.width !== 'number') throw new TypeError(`${fn}: tile.width must be a number`);
  if (!Number.isInteger(t.width) || t.width < 1 || t.width > TILE_WIDTH) {
    throw new RangeError(`${fn}: tile.width must be an integer from 1 to ${TILE_WIDTH}, got ${String(t.width)}`);
  }
  return t;
}

/** `x` as three decimal digits (0 <= x < 1000). */
function pad3(x: number): string {
  return String(x).padStart(3, '0');
}

/**
 * Returns the C2SP tlog-tiles path of `tile`: `tile/<L>/<N>[.p/<W>]`, or
 * `tile/entries/<N>[.p/<W>]` for level -1, with N in groups of three digits,
 * all but the last prefixed by `x` (1234067 → `x001/x234/067`), and `.p/<W>`
 * only for partial tiles. Throws TypeError/RangeError for a malformed tile.
 */
export function formatTilePath(tile: Tile): string {
  const { level, n, width } = checkTile(tile, 'formatTilePath');
  let rest = n % 1000;
  let path = pad3(rest);
  // (m - m % 1000) / 1000 is exact; Math.floor(m / 1000) may round up near 2^53.
  for (let m = (n - rest) / 1000; m > 0; m = (m - rest) / 1000) {
    rest = m % 1000;
    path = `x${pad3(rest)}/${path}`;
  }
  const partial = width === TILE_WIDTH ? '' : `.p/${width}`;
  return `tile/${level === -1 ? 'entries' : String(level)}/${path}${partial}`;
}

const TILE_PATH = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*)([0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * Parses a C2SP tlog-tiles path as `formatTilePath` writes it, accepting only
 * the canonical form: level 0 to 63 or `entries` without leading zeros, N in
 * three-digit groups with no leading zero group and a safe integer value, and
 * `.p/<W>` with W from 1 to 255 without leading zeros; nothing before or after.
 * Throws TypeError for a non-string and RangeError for anything else.
 */
export function parseTilePath(path: string): Tile {
  if (typeof path !== 'string') throw new TypeError('parseTilePath: path must be a string');
  const bad = (): RangeError => new RangeError(`parseTilePath: not a canonical tile path: ${JSON.stringify(path.slice(0, 80))}`);
  if (path.length > 80) throw bad();
  const m = TILE_PATH.exec(path);
  if (m === null) throw bad();
  const [, levelText = '', groups = '', last = '', widthText] = m;
  const level = levelText === 'entries' ? -1 : Number(levelText);
  if (level > MAX_TILE_LEVEL) throw bad();
  let n = 0;
  for (const group of [...groups.split('/').filter((g) => g !== '').map((g) => g.slice(1)), last]) {
    n = n * 1000 + Number(group);
    if (!Number.isSafeInteger(n)) throw bad();
  }
  const width = widthText === undefined ? TILE_WIDTH : Number(widthText);
  if (widthText !== undefined && width >= TILE_WIDTH) throw bad(); // a full tile has no .p/ form
  const tile: Tile = { level, n, width };
  // The grammar leaves one ambiguity, a leading zero group ("x000/…"): only
  // the form formatTilePath writes is canonical.
  if (formatTilePath(tile) !== path) throw bad();
  return tile;
}

/**
 * Returns the number of hashes (for level -1: entries) that tile `n` of tile
 * level `level` holds in a tree of `treeSize` leaves: 0 if the tile does not
 * exist yet, 256 if it is full, else the partial width floor(treeSize /
 * 256^level) mod 256 of C2SP tlog-tiles. Level -1 is counted like level 0.
 */
export function tileWidth(level: number, n: number, treeSize: number): number {
  checkLevel(level, 'tileWidth: level', -1);
  checkIndex(n, 'tileWidth: n');
  checkIndex(treeSize, 'tileWidth: treeSize');
  const hashes = Math.floor(treeSize / TILE_WIDTH ** Math.max(level, 0));
  return Math.min(TILE_WIDTH, Math.max(0, hashes - n * TILE_WIDTH));
}

/**
 * Returns the smallest tile that holds the stored hash at `storedHashIndex`
 * (Go tlog's TileForIndex with H = 8): the hash's level and position give the
 * tile, and the width is just enough to cover the subtree under that hash.
 */
export function tileForIndex(storedHashIndex: number): Tile {
  return locate(storedHashIndex).tile;
}

function locate(index: number): { tile: Tile; start: number; end: number } {
  checkIndex(index, 'tileForIndex: storedHashIndex');
  const { level: hashLevel, n } = splitStoredHashIndex(index);
  const level = Math.floor(hashLevel / TILE_HEIGHT);
  const within = hashLevel - level * TILE_HEIGHT; // the hash's level inside the tile
  const span = 2 ** within; // how many of the tile's hashes it covers
  const first = n * span; // its first hash on the tile's bottom row
  const tileN = Math.floor(first / TILE_WIDTH);
  const start = first - tileN * TILE_WIDTH;
  return { tile: { level, n: tileN, width: start + span }, start, end: start + span };
}

/** The RFC 6962 hash of the perfect subtree whose leaves are the 2^k hashes in `data`. */
function tileHash(data: Uint8Array): Uint8Array {
  const count = data.length / HASH_SIZE;
  if (count === 1) return data.slice();
  const middle = (count / 2) * HASH_SIZE;
  return nodeHash(tileHash(data.subarray(0, middle)), tileHash(data.subarray(middle)));
}

/**
 * Returns the stored hash at `storedHashIndex` computed from `data`, the
 * contents of hash tile `tile` (Go tlog's HashFromTile with H = 8): hashes at
 * the tile's bottom level are read directly, the ones above are rehashed from
 * the tile. Throws RangeError if `tile` is an entry bundle, `data` is not
 * exactly `tile.width` hashes, or the hash is not in that tile at that width;
 * TypeError for wrong types.
 */
export function hashFromTile(tile: Tile, data: Uint8Array, storedHashIndex: number): Uint8Array {
  checkTile(tile, 'hashFromTile');
  if (tile.level < 0) throw new RangeError('hashFromTile: an entry bundle holds no hashes');
  if (!(data instanceof Uint8Array)) throw new TypeError('hashFromTile: data must be a Uint8Array');
  if (data.length !== tile.width * HASH_SIZE) {
    throw new RangeError(`hashFromTile: a tile of width ${tile.width} is ${tile.width * HASH_SIZE} bytes, got ${data.length}`);
  }
  const { tile: needed, start, end } = locate(storedHashIndex);
  if (needed.level !== tile.level || needed.n !== tile.n || needed.width > tile.width) {
    throw new RangeError(
      `hashFromTile: stored hash ${storedHashIndex} is in ${formatTilePath(needed)}, not ${formatTilePath(tile)}`,
    );
  }
  return tileHash(data.subarray(start * HASH_SIZE, end * HASH_SIZE));
}

function checkGrowth(oldTreeSize: number, newTreeSize: number, fn: string): void {
  checkIndex(oldTreeSize, `${fn}: oldTreeSize`);
  checkIndex(newTreeSize, `${fn}: newTreeSize`);
  if (oldTreeSize > newTreeSize) {
    throw new RangeError(`${fn}: oldTreeSize ${oldTreeSize} is larger than newTreeSize ${newTreeSize}`);
  }
}

function* walkNewTiles(oldTreeSize: number, newTreeSize: number): Generator<Tile, void, undefined> {
  for (let level = 0; Math.floor(newTreeSize / TILE_WIDTH ** level) > 0; level++) {
    const oldN = Math.floor(oldTreeSize / TILE_WIDTH ** level);
    const newN = Math.floor(newTreeSize / TILE_WIDTH ** level);
    if (oldN === newN) continue;
    const lastFull = Math.floor(newN / TILE_WIDTH);
    for (let n = Math.floor(oldN / TILE_WIDTH); n < lastFull; n++) {
      yield { level, n, width: TILE_WIDTH };
    }
    const width = newN - lastFull * TILE_WIDTH;
    if (width > 0) yield { level, n: lastFull, width };
  }
}

/**
 * Returns the hash tiles that change when the tree grows from `oldTreeSize`
 * to `newTreeSize` leaves (Go tlog's NewTiles with H = 8): for each tile level
 * the tiles whose width grows, by level then n, each with its width at the new
 * size. The entry bundles that change are those of the level-0 tiles. Throws
 * RangeError unless 0 <= oldTreeSize <= newTreeSize (safe integers). The list
 * has about (newTreeSize - oldTreeSize) / 255 tiles: for growth that may be
 * huge, walk it with eachNewTile instead.
 */
export function newTiles(oldTreeSize: number, newTreeSize: number): Tile[] {
  checkGrowth(oldTreeSize, newTreeSize, 'newTiles');
  return [...walkNewTiles(oldTreeSize, newTreeSize)];
}

/**
 * Yields the tiles of newTiles(`oldTreeSize`, `newTreeSize`) one at a time, in
 * the same order (C2SP tlog-tiles; Go tlog's NewTiles with H = 8), holding
 * none of them: memory stays constant whatever the growth. The arguments are
 * checked at the call, not at the first step: RangeError unless
 * 0 <= oldTreeSize <= newTreeSize (safe integers), TypeError for non-numbers.
 */
export function eachNewTile(oldTreeSize: number, newTreeSize: number): Generator<Tile, void, undefined> {
  checkGrowth(oldTreeSize, newTreeSize, 'eachNewTile');
  return walkNewTiles(oldTreeSize, newTreeSize);
}

/**
 * Returns how many tiles of each tile level change when the tree grows from
 * `oldTreeSize` to `newTreeSize` leaves: element `level` is the number of
 * tiles of that level in newTiles(`oldTreeSize`, `newTreeSize`), computed
 * without listing them (C2SP tlog-tiles; element 0 is also the number of
 * entry bundles that change). The array ends at the tree's top tile level.
 * Throws as newTiles does.
 */
export function newTileCounts(oldTreeSize: number, newTreeSize: number): number[] {
  checkGrowth(oldTreeSize, newTreeSize, 'newTileCounts');
  const counts: number[] = [];
  for (let level = 0; Math.floor(newTreeSize / TILE_WIDTH ** level) > 0; level++) {
    const oldN = Math.floor(oldTreeSize / TILE_WIDTH ** level);
    const newN = Math.floor(newTreeSize / TILE_WIDTH ** level);
    // Tiles floor(oldN / 256) to ceil(newN / 256) - 1 gain width, unless the level did not grow.
    counts.push(oldN === newN ? 0 : Math.ceil(newN / TILE_WIDTH) - Math.floor(oldN / TILE_WIDTH));
  }
  return counts;
}
