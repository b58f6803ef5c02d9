/**
 * A stored hash tile: one C2SP tlog-tiles tile (height 8) together with the
 * seven rows of inner nodes above its bottom row.
 *
 * Row r (0..7) holds the complete nodes of tree level 8·level + r that lie
 * under the tile: at width w (the number of bottom-row hashes) that is
 * floor(w / 2^r) hashes. Row 0 is exactly what `GET /tile/...` serves. Hashes
 * never change once written, so a tile of width w is a prefix (row by row) of
 * the same tile at any larger width.
 *
 * Stored form (the value under a tile key of level-store.ts), uint16
 * big-endian width first, then rows each cut to its complete nodes:
 *   format 2 (written now): rows 0, 2, 4, 5, 6, 7. Rows 1 and 3 hold 5/8 of a
 *     tile's inner hashes but are each one node hash away from a stored row
 *     (row 1 from row 0, row 3 from row 2), so they are recomputed when read;
 *     every other stored hash a proof needs is still one slice of one tile.
 *     A full tile is 11,202 bytes instead of 16,322.
 *   format 1 (written by earlier versions): all eight rows.
 * The two are told apart by length alone: for a given width they differ
 * unless the width is 1, where rows 1 and 3 are empty and the bytes agree.
 *
 * Tiles the sequencer builds in memory keep all eight rows, so appending
 * never recomputes a hash; a decoded format-2 tile computes a node of rows 1
 * and 3 on each `hash()` call until `materialize()` fills those rows in.
 */
import { POW2 } from '../merkle/check.js';
import { HASH_SIZE as HASH, nodeHash } from '../merkle/hash.js';
import { TILE_HEIGHT, TILE_WIDTH } from '../merkle/tile.js';

export { TILE_HEIGHT, TILE_WIDTH };

/** Number of complete nodes in row `r` of a tile whose bottom row has `width` hashes. */
function rowLength(width: number, r: number): number {
  return Math.floor(width / POW2[r]!);
}

/** The rows of format 2, in stored order. Each row left out is one node hash above a row kept. */
const STORED_ROWS: readonly number[] = [0, 2, 4, 5, 6, 7];
/** The rows format 2 leaves out. */
const COMPUTED_ROWS: readonly number[] = [1, 3];
/** The rows of format 1, in stored order. */
const ALL_ROWS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7];

/** Bytes of the stored form of a tile of `width` that holds `rows`. */
function storedSize(width: number, rows: readonly number[]): number {
  let size = 2;
  for (const r of rows) size += rowLength(width, r) * HASH;
  return size;
}

/**
 * Where each row lives in the memory of a tile built here: the format-2
 * stored form of the full tile (width, then its rows at full capacity),
 * followed by the rows it leaves out. A full tile then encodes without a copy.
 */
const OWN_OFFSETS: number[] = new Array<number>(TILE_HEIGHT).fill(0);
let ownEnd = 2;
for (const r of [...STORED_ROWS, ...COMPUTED_ROWS]) {
  OWN_OFFSETS[r] = ownEnd;
  ownEnd += (TILE_WIDTH / 2 ** r) * HASH;
}
const OWN_SIZE = ownEnd;
const FULL_STORED_SIZE = storedSize(TILE_WIDTH, STORED_ROWS);

// The two children of a computed node, copied here so that computing one
// allocates nothing but its result.
const left = new Uint8Array(HASH);
const right = new Uint8Array(HASH);

export class HashTile {
  readonly level: number;
  readonly n: number;
  private widthValue: number;
  /**
   * Rows 0..7: at full capacity (256 / 2^r hashes) for a tile built here,
   * cut to the complete nodes for a decoded one; undefined for a row the
   * stored form left out and that is computed from the row below.
   */
  private readonly rows: (Uint8Array | undefined)[];
  /**
   * For a tile built here: one buffer laid out as described at OWN_OFFSETS,
   * the rows being views into it. One allocation per tile.
   */
  private readonly own: Uint8Array | undefined;

  /**
   * An empty tile (level, n) with room for all 256 hashes of every row. The
   * `width` and `rows` arguments are for this module's decoder: rows 0, 2, 4,
   * 5, 6 and 7 must be present, rows 1 and 3 may be undefined.
   */
  constructor(level: number, n: number, width = 0, rows?: (Uint8Array | undefined)[]) {
    this.level = level;
    this.n = n;
    this.widthValue = width;
    if (rows !== undefined) {
      this.rows = rows;
      this.own = undefined;
    } else {
      const own = new Uint8Array(OWN_SIZE);
      this.rows = OWN_OFFSETS.map((offset, r) => own.subarray(offset, offset + (TILE_WIDTH / 2 ** r) * HASH));
      this.own = own;
    }
  }

  /** How many bottom-row hashes the tile holds (256 when full). */
  get width(): number {
    return this.widthValue;
  }

  get full(): boolean {
    return this.widthValue === TILE_WIDTH;
  }

  /**
   * The hash at row `r` (0..7), position `p`, or undefined if that node is
   * not complete yet. A node of a row the stored form left out is computed
   * (RFC 6962 §2.1 node hash of its two children) as a new 32-byte array;
   * any other is a view into the tile.
   */
  hash(r: number, p: number): Uint8Array | undefined {
    if (p >= rowLength(this.widthValue, r)) return undefined;
    const row = this.rows[r];
    if (row !== undefined) return row.subarray(p * HASH, (p + 1) * HASH);
    if (!(r >= 1 && r < TILE_HEIGHT)) throw new RangeError(`tile ${this.level}/${this.n}: no row ${r}`);
    return this.computeNode(r, p);
  }

  /** nodeHash of the children of (r, p), which must be complete. */
  private computeNode(r: number, p: number): Uint8Array {
    const below = this.rows[r - 1];
    // Never the case for the rows format 2 leaves out (the row below each is
    // stored), but correct for any choice of rows, row 0 being always there.
    if (below === undefined) return nodeHash(this.hash(r - 1, 2 * p)!, this.hash(r - 1, 2 * p + 1)!);
    const at = 2 * p * HASH;
    for (let i = 0; i < HASH; i++) {
      left[i] = below[at + i]!;
      right[i] = below[at + HASH + i]!;
    }
    return nodeHash(left, right);
  }

  /**
   * Computes, once, the rows the stored form left out, so that `hash()`
   * never computes again (for tiles kept in a cache). Returns this tile.
   */
  materialize(): this {
    for (const r of COMPUTED_ROWS) {
      if (this.rows[r] !== undefined) continue;
      const count = rowLength(this.widthValue, r);
      const row = new Uint8Array(count * HASH);
      for (let p = 0; p < count; p++) row.set(this.computeNode(r, p), p * HASH);
      this.rows[r] = row;
    }
    return this;
  }

  /**
   * Stores a completed node. Nodes arrive bottom-up in append order, so a
   * row-0 node always extends the width by one. Only for tiles built here or
   * made by `extendable`; a decoded tile is read-only.
   */
  set(r: number, p: number, hash: Uint8Array): void {
    const row = this.rows[r];
    if (this.own === undefined || row === undefined) throw new Error(`tile ${this.level}/${this.n} is read-only: extend a copy from HashTile.extendable`);
    if (r === 0) {
      if (p !== this.widthValue) throw new RangeError(`tile ${this.level}/${this.n}: hash ${p} out of order (width ${this.widthValue})`);
      this.widthValue = p + 1;
    }
    row.set(hash, p * HASH);
  }

  /** The first `width` bottom-row hashes: the body of `GET /tile/L/N[.p/W]`. */
  bottomRow(width = this.widthValue): Uint8Array {
    if (width > this.widthValue) throw new RangeError(`tile has ${this.widthValue} hashes, not ${width}`);
    return this.rows[0]!.subarray(0, width * HASH);
  }

  /** A deep copy, so a round can build on it and be discarded if its write fails. */
  clone(): HashTile {
    if (this.own === undefined) return new HashTile(this.level, this.n, this.widthValue, this.rows.map((row) => row?.slice()));
    const copy = new HashTile(this.level, this.n, this.widthValue);
    copy.own!.set(this.own);
    return copy;
  }

  /**
   * The stored form, format 2: uint16 width, then rows 0, 2, 4, 5, 6 and 7
   * each cut to its complete nodes. For a full tile built here the result is
   * the tile's own memory: store or copy it, do not change it.
   */
  encode(): Uint8Array {
    if (this.full && this.own !== undefined) {
      this.own[0] = 1; // 256 as uint16 big-endian
      this.own[1] = 0;
      return this.own.subarray(0, FULL_STORED_SIZE);
    }
    const out = new Uint8Array(storedSize(this.widthValue, STORED_ROWS));
    out[0] = Math.floor(this.widthValue / 256);
    out[1] = this.widthValue % 256;
    let offset = 2;
    for (const r of STORED_ROWS) {
      const len = rowLength(this.widthValue, r) * HASH;
      out.set(this.rows[r]!.subarray(0, len), offset);
      offset += len;
    }
    return out;
  }

  /**
   * Parses a stored form, format 2 or format 1 (told apart by its length),
   * without copying: rows are views into `value`. The result is read-only;
   * extend a copy from `extendable`. Throws RangeError for a width outside
   * 1..256 or a length that is neither format's for that width.
   */
  static decode(level: number, n: number, value: Uint8Array): HashTile {
    if (value.length < 2) throw new RangeError('stored tile too short');
    const width = value[0]! * 256 + value[1]!;
    if (width < 1 || width > TILE_WIDTH) throw new RangeError(`stored tile width ${width}`);
    let layout: readonly number[];
    if (value.length === storedSize(width, STORED_ROWS)) layout = STORED_ROWS;
    else if (value.length === storedSize(width, ALL_ROWS)) layout = ALL_ROWS;
    else {
      throw new RangeError(
        `stored tile ${level}/${n}: ${value.length} bytes for width ${width} (${storedSize(width, STORED_ROWS)} in format 2, ${storedSize(width, ALL_ROWS)} in format 1)`,
      );
    }
    const rows: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(TILE_HEIGHT).fill(undefined);
    // Plain views even of a Buffer: a Buffer's subarray builds a Buffer,
    // which costs more, and a proof takes a view per hash.
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.length);
    let offset = 2;
    for (const r of layout) {
      const len = rowLength(width, r) * HASH;
      rows[r] = bytes.subarray(offset, offset + len);
      offset += len;
    }
    return new HashTile(level, n, width, rows);
  }

  /**
   * A full-capacity copy of a decoded tile, every row filled in (computing
   * those its stored form left out), ready to be extended by the sequencer.
   */
  static extendable(tile: HashTile): HashTile {
    const copy = new HashTile(tile.level, tile.n);
    copy.widthValue = tile.width;
    for (let r = 0; r < TILE_HEIGHT; r++) {
      const count = rowLength(tile.width, r);
      const from = tile.rows[r];
      const to = copy.rows[r]!;
      if (from !== undefined) to.set(from.subarray(0, count * HASH));
      else for (let p = 0; p < count; p++) to.set(copy.computeNode(r, p), p * HASH);
    }
    return copy;
  }
}

/**
 * Where the stored hash of tree level `level`, index `index` lives: tile
 * (floor(level / 8), n), row level mod 8, position p.
 */
export function locateHash(level: number, index: number): { tileLevel: number; n: number; row: number; pos: number } {
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  const row = level - tileLevel * TILE_HEIGHT;
  const perTile = TILE_WIDTH / POW2[row]!;
  const n = Math.floor(index / perTile);
  return { tileLevel, n, row, pos: index - n * perTile };
}
