/**
 * A stored hash tile: one C2SP tlog-tiles tile (height 8) together with the
 * seven rows of inner nodes above its bottom row.
 *
 * Row r (0..7) holds the complete nodes of tree level 8·level + r that lie
 * under the tile: at width w (the number of bottom-row hashes) that is
 * floor(w / 2^r) hashes. Row 0 is exactly what `GET /tile/...` serves; keeping
 * the inner rows means any stored hash a proof needs is one slice of one
 * tile, never a recomputation. Hashes never change once written, so a tile of
 * width w is a prefix (row by row) of the same tile at any larger width.
 */
import { HASH_SIZE as HASH } from '../merkle/hash.js';
import { TILE_HEIGHT, TILE_WIDTH } from '../merkle/tile.js';

export { TILE_HEIGHT, TILE_WIDTH };

/** Number of complete nodes in row `r` of a tile whose bottom row has `width` hashes. */
function rowLength(width: number, r: number): number {
  return Math.floor(width / 2 ** r);
}

/** Byte offset of each row in the stored form of a full tile (after the 2-byte width), and its size. */
const ROW_OFFSETS: number[] = [];
let rowsEnd = 2;
for (let r = 0; r < TILE_HEIGHT; r++) {
  ROW_OFFSETS.push(rowsEnd);
  rowsEnd += (TILE_WIDTH / 2 ** r) * HASH;
}
const FULL_SIZE = rowsEnd;

export class HashTile {
  readonly level: number;
  readonly n: number;
  private widthValue: number;
  /** Rows 0..7, each at full capacity (256 / 2^r hashes). */
  private readonly rows: Uint8Array[];
  /**
   * For a tile built here: one buffer laid out as the stored form of the
   * full tile, the rows being views into it. One allocation per tile, and a
   * full tile encodes without a copy.
   */
  private readonly own: Uint8Array | undefined;

  constructor(level: number, n: number, width = 0, rows?: Uint8Array[]) {
    this.level = level;
    this.n = n;
    this.widthValue = width;
    if (rows !== undefined) {
      this.rows = rows;
      this.own = undefined;
    } else {
      const own = new Uint8Array(FULL_SIZE);
      this.rows = ROW_OFFSETS.map((offset, r) => own.subarray(offset, offset + (TILE_WIDTH / 2 ** r) * HASH));
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

  /** The hash at row `r`, position `p`, or undefined if that node is not complete yet. */
  hash(r: number, p: number): Uint8Array | undefined {
    if (p >= rowLength(this.widthValue, r)) return undefined;
    return this.rows[r]!.subarray(p * HASH, (p + 1) * HASH);
  }

  /**
   * Stores a completed node. Nodes arrive bottom-up in append order, so a
   * row-0 node always extends the width by one.
   */
  set(r: number, p: number, hash: Uint8Array): void {
    if (r === 0) {
      if (p !== this.widthValue) throw new RangeError(`tile ${this.level}/${this.n}: hash ${p} out of order (width ${this.widthValue})`);
      this.widthValue = p + 1;
    }
    this.rows[r]!.set(hash, p * HASH);
  }

  /** The first `width` bottom-row hashes: the body of `GET /tile/L/N[.p/W]`. */
  bottomRow(width = this.widthValue): Uint8Array {
    if (width > this.widthValue) throw new RangeError(`tile has ${this.widthValue} hashes, not ${width}`);
    return this.rows[0]!.subarray(0, width * HASH);
  }

  /** A deep copy, so a round can build on it and be discarded if its write fails. */
  clone(): HashTile {
    if (this.own === undefined) return new HashTile(this.level, this.n, this.widthValue, this.rows.map((row) => Uint8Array.from(row)));
    const copy = new HashTile(this.level, this.n, this.widthValue);
    copy.own!.set(this.own);
    return copy;
  }

  /**
   * Stored form: uint16 width, then rows 0..7 each cut to its complete nodes.
   * For a full tile built here the result is the tile's own memory: store or
   * copy it, do not change it.
   */
  encode(): Uint8Array {
    if (this.full && this.own !== undefined) {
      this.own[0] = 1; // 256 as uint16 big-endian
      this.own[1] = 0;
      return this.own;
    }
    let size = 2;
    for (let r = 0; r < TILE_HEIGHT; r++) size += rowLength(this.widthValue, r) * HASH;
    const out = new Uint8Array(size);
    out[0] = Math.floor(this.widthValue / 256);
    out[1] = this.widthValue % 256;
    let offset = 2;
    for (let r = 0; r < TILE_HEIGHT; r++) {
      const len = rowLength(this.widthValue, r) * HASH;
      out.set(this.rows[r]!.subarray(0, len), offset);
      offset += len;
    }
    return out;
  }

  /**
   * Parses the stored form without copying (rows are views into `value`).
   * The result is read-only in spirit: call clone() before extending it.
   */
  static decode(level: number, n: number, value: Uint8Array): HashTile {
    if (value.length < 2) throw new RangeError('stored tile too short');
    const width = value[0]! * 256 + value[1]!;
    if (width < 1 || width > TILE_WIDTH) throw new RangeError(`stored tile width ${width}`);
    const rows: Uint8Array[] = [];
    let offset = 2;
    for (let r = 0; r < TILE_HEIGHT; r++) {
      const len = rowLength(width, r) * HASH;
      rows.push(value.subarray(offset, offset + len));
      offset += len;
    }
    if (offset !== value.length) throw new RangeError(`stored tile ${level}/${n}: ${value.length} bytes for width ${width}`);
    const tile = new HashTile(level, n, width, rows);
    return tile;
  }

  /** Full capacity copy of a decoded tile, ready to be extended by the sequencer. */
  static extendable(tile: HashTile): HashTile {
    const copy = new HashTile(tile.level, tile.n);
    for (let r = 0; r < TILE_HEIGHT; r++) {
      copy.rows[r]!.set(tile.rows[r]!.subarray(0, rowLength(tile.width, r) * HASH));
    }
    copy.widthValue = tile.width;
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
  const perTile = TILE_WIDTH / 2 ** row;
  const n = Math.floor(index / perTile);
  return { tileLevel, n, row, pos: index - n * perTile };
}
