import { nodeHash, sha256 } from '../../src/merkle/hash.js';
import { tileWidth as tileWidthAt } from '../../src/merkle/tile.js';
import { HashTile, locateHash } from '../../src/storage/hash-tile.js';

const h = (seed: number) => new Uint8Array(32).fill(seed % 256);
const hex = (b: Uint8Array | undefined) => (b === undefined ? 'undefined' : Buffer.from(b).toString('hex'));

/** Row r of a tile over 256 distinct bottom hashes, computed here with nodeHash: rows[r][p]. */
const leaves = Array.from({ length: 256 }, (_, p) => sha256(Uint8Array.of(p, 0x5a)).slice());
const rows: Uint8Array[][] = [leaves];
for (let r = 1; r < 8; r++) {
  const below = rows[r - 1]!;
  rows.push(Array.from({ length: below.length / 2 }, (_, p) => nodeHash(below[2 * p]!, below[2 * p + 1]!).slice()));
}
const rowLength = (width: number, r: number) => Math.floor(width / 2 ** r);

/** The tile at `width`, built as the sequencer does: nodes set bottom-up in append order. */
function built(width: number): HashTile {
  const tile = new HashTile(0, 9);
  for (let p = 0; p < width; p++) {
    tile.set(0, p, leaves[p]!);
    for (let r = 1; r < 8 && (p + 1) % 2 ** r === 0; r++) tile.set(r, (p + 1) / 2 ** r - 1, rows[r]![(p + 1) / 2 ** r - 1]!);
  }
  return tile;
}

/** The stored form of a tile at `width` holding `which` rows, written out here from the reference rows. */
function storedForm(width: number, which: number[]): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(Math.floor(width / 256), width % 256)];
  for (const r of which) parts.push(...rows[r]!.slice(0, rowLength(width, r)));
  return new Uint8Array(Buffer.concat(parts));
}
/** Format 1, as earlier versions wrote it: all eight rows. */
const format1 = (width: number) => storedForm(width, [0, 1, 2, 3, 4, 5, 6, 7]);
/** Format 2: rows 1 and 3 left out. */
const format2 = (width: number) => storedForm(width, [0, 2, 4, 5, 6, 7]);

/** Every hash of `tile` equals the reference, and the first incomplete node of each row is undefined. */
function expectHashes(tile: HashTile, width: number): void {
  expect(tile.width).toBe(width);
  for (let r = 0; r < 8; r++) {
    const count = rowLength(width, r);
    for (let p = 0; p < count; p++) {
      if (hex(tile.hash(r, p)) !== hex(rows[r]![p])) throw new Error(`width ${width}: hash(${r}, ${p}) is ${hex(tile.hash(r, p))}`);
    }
    expect(tile.hash(r, count)).toBeUndefined();
  }
}

const WIDTHS = [1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256];

test('encode writes format 2 (rows 1 and 3 left out) and decodes back to the same hashes at every width', () => {
  for (let width = 1; width <= 256; width++) {
    const encoded = built(width).encode();
    expect(hex(encoded)).toBe(hex(format2(width)));
    expectHashes(HashTile.decode(0, 9, encoded), width);
  }
  // 2 + 32·(256+64+16+8+4+2) bytes for a full tile, where format 1 took 2 + 32·511.
  expect(built(256).encode().length).toBe(11_202);
  expect(format1(256).length).toBe(16_322);
});

test('a format-1 value decodes to the same hashes, and re-encodes as format 2', () => {
  for (const width of WIDTHS) {
    const decoded = HashTile.decode(0, 9, format1(width));
    expectHashes(decoded, width);
    expect(hex(decoded.encode())).toBe(hex(format2(width)));
  }
  // At width 1 rows 1 and 3 are empty: the two forms are the same bytes.
  expect(hex(format1(1))).toBe(hex(format2(1)));
});

test('a format-1 tile serves its stored rows 1 and 3 as stored (so an audit sees them), format 2 computes them', () => {
  const value = format1(8);
  const row1 = 2 + 8 * 32; // row 1, position 0
  value[row1 + 5] = value[row1 + 5]! ^ 1;
  const damaged = HashTile.decode(0, 9, value);
  expect(hex(damaged.hash(1, 0))).not.toBe(hex(rows[1]![0]));
  expect(hex(damaged.hash(1, 1))).toBe(hex(rows[1]![1]));
});

test('a computed node is nodeHash of its two children in the row below', () => {
  for (const width of WIDTHS) {
    const tile = HashTile.decode(0, 9, format2(width));
    for (const r of [1, 3]) {
      for (let p = 0; p < rowLength(width, r); p++) {
        expect(hex(tile.hash(r, p))).toBe(hex(nodeHash(tile.hash(r - 1, 2 * p)!, tile.hash(r - 1, 2 * p + 1)!)));
      }
    }
  }
  // A changed child changes the computed parent: nothing is cached behind the stored rows.
  const value = format2(4);
  value[2 + 3 * 32] = value[2 + 3 * 32]! ^ 1; // row 0, position 3
  const tile = HashTile.decode(0, 9, value);
  expect(hex(tile.hash(1, 1))).toBe(hex(nodeHash(tile.hash(0, 2)!, tile.hash(0, 3)!)));
  expect(hex(tile.hash(1, 1))).not.toBe(hex(rows[1]![1]));
});

test('a computed node is a 32-byte array of its own', () => {
  const tile = HashTile.decode(0, 9, format2(256));
  const a = tile.hash(1, 5)!;
  const b = tile.hash(3, 2)!;
  expect(a.length).toBe(32);
  a.fill(0);
  expect(hex(b)).toBe(hex(rows[3]![2]));
  expect(hex(tile.hash(1, 5))).toBe(hex(rows[1]![5]));
});

test('materialize fills in the rows left out, once; the hashes stay the same', () => {
  for (const width of WIDTHS) {
    const tile = HashTile.decode(0, 9, format2(width));
    expect(tile.materialize()).toBe(tile);
    expectHashes(tile, width);
    if (rowLength(width, 1) > 0) {
      // Now a view into the tile: two reads of the same node share their memory.
      const [a, b] = [tile.hash(1, 0)!, tile.hash(1, 0)!];
      expect(a.buffer === b.buffer && a.byteOffset === b.byteOffset).toBe(true);
    }
    expect(hex(tile.encode())).toBe(hex(format2(width)));
  }
});

test('extendable turns a decoded tile of either format into one the sequencer can finish', () => {
  for (const width of WIDTHS) {
    for (const value of [format1(width), format2(width)]) {
      const tile = HashTile.extendable(HashTile.decode(0, 9, value));
      expectHashes(tile, width);
      for (let p = width; p < 256; p++) {
        tile.set(0, p, leaves[p]!);
        for (let r = 1; r < 8 && (p + 1) % 2 ** r === 0; r++) tile.set(r, (p + 1) / 2 ** r - 1, rows[r]![(p + 1) / 2 ** r - 1]!);
      }
      expect(tile.full).toBe(true);
      expect(hex(tile.encode())).toBe(hex(format2(256)));
    }
  }
});

test('clone copies a decoded tile; a decoded tile refuses set', () => {
  const value = format2(100);
  const tile = HashTile.decode(0, 9, value);
  const copy = tile.clone();
  value.fill(0, 2);
  expectHashes(copy, 100);
  expect(() => tile.set(0, 100, h(1))).toThrow(/read-only/);
  expect(() => tile.set(1, 0, h(1))).toThrow(/read-only/);
});

test('decode rejects values of the wrong length or width with RangeError', () => {
  for (const width of WIDTHS) {
    for (const value of [format1(width), format2(width)]) {
      for (const delta of [-32, -1, 1, 32]) {
        const length = value.length + delta;
        // Skip a length that is the other format's (widths 2 and 3 differ by one hash), or no tile at all.
        if (length === format1(width).length || length === format2(width).length || length < 3) continue;
        const wrong = new Uint8Array(length);
        wrong.set(value.subarray(0, Math.min(value.length, wrong.length)));
        expect(() => HashTile.decode(0, 9, wrong)).toThrow(RangeError);
      }
    }
  }
  // The length of the other width's forms does not pass either.
  const five = format2(5);
  five[1] = 4;
  expect(() => HashTile.decode(0, 9, five)).toThrow(RangeError);
  expect(() => HashTile.decode(0, 0, Uint8Array.of(0, 1))).toThrow(RangeError);
  expect(() => HashTile.decode(0, 0, Uint8Array.of(1))).toThrow(RangeError);
  expect(() => HashTile.decode(0, 0, Uint8Array.of(0, 0))).toThrow(RangeError);
  expect(() => HashTile.decode(0, 0, Uint8Array.of(1, 1))).toThrow(RangeError);
});

test('encode/decode round-trips every width of a tile built in append order and keeps rows as prefixes', () => {
  const full = new HashTile(2, 5);
  for (let p = 0; p < 256; p++) {
    full.set(0, p, h(p));
    for (let r = 1; r < 8; r++) if ((p + 1) % 2 ** r === 0) full.set(r, (p + 1) / 2 ** r - 1, h(p * 7 + r));
    // Rows 1 and 3 are not stored: they come back as the node hashes of the rows below.
    const decoded = HashTile.decode(2, 5, full.encode());
    expect(decoded.width).toBe(p + 1);
    for (let r = 0; r < 8; r++) {
      const count = Math.floor((p + 1) / 2 ** r);
      if (count > 0) {
        const want = r === 1 || r === 3 ? nodeHash(full.hash(r - 1, 2 * count - 2)!, full.hash(r - 1, 2 * count - 1)!) : full.hash(r, count - 1);
        expect(hex(decoded.hash(r, count - 1))).toBe(hex(want));
      }
      expect(decoded.hash(r, count)).toBeUndefined();
    }
  }
  expect(full.full).toBe(true);
});

test('set refuses bottom-row hashes out of order', () => {
  const tile = new HashTile(0, 0);
  expect(() => tile.set(0, 1, h(1))).toThrow(RangeError);
});

test('locateHash maps tree levels to tile rows, including at huge indexes', () => {
  expect(locateHash(0, 0)).toEqual({ tileLevel: 0, n: 0, row: 0, pos: 0 });
  expect(locateHash(0, 257)).toEqual({ tileLevel: 0, n: 1, row: 0, pos: 1 });
  expect(locateHash(7, 3)).toEqual({ tileLevel: 0, n: 1, row: 7, pos: 1 });
  expect(locateHash(8, 3)).toEqual({ tileLevel: 1, n: 0, row: 0, pos: 3 });
  expect(locateHash(9, 300)).toEqual({ tileLevel: 1, n: 2, row: 1, pos: 44 });
  const big = 2 ** 53 - 1;
  expect(locateHash(0, big)).toEqual({ tileLevel: 0, n: Math.floor(big / 256), row: 0, pos: 255 });
  expect(locateHash(3, 2 ** 40 + 5)).toEqual({ tileLevel: 0, n: 2 ** 35, row: 3, pos: 5 });
});

test('tile widths (as the log serves them) are 0, partial and 256', () => {
  expect(tileWidthAt(0, 0, 0)).toBe(0);
  expect(tileWidthAt(0, 0, 5)).toBe(5);
  expect(tileWidthAt(0, 0, 300)).toBe(256);
  expect(tileWidthAt(0, 1, 300)).toBe(44);
  expect(tileWidthAt(1, 0, 300)).toBe(1);
  expect(tileWidthAt(1, 0, 255)).toBe(0);
  expect(tileWidthAt(0, 2 ** 32 - 1, 2 ** 40)).toBe(256);
  expect(tileWidthAt(0, 2 ** 32, 2 ** 40)).toBe(0);
  expect(tileWidthAt(0, 2 ** 32, 2 ** 40 + 3)).toBe(3);
  expect(tileWidthAt(2, 0, 2 ** 32 + 5)).toBe(256);
});
