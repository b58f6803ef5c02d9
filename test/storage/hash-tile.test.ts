import { tileWidth as tileWidthAt } from '../../src/merkle/tile.js';
import { HashTile, locateHash } from '../../src/storage/hash-tile.js';

const h = (seed: number) => new Uint8Array(32).fill(seed % 256);

test('encode/decode round-trips every width and keeps rows as prefixes', () => {
  const full = new HashTile(2, 5);
  for (let p = 0; p < 256; p++) {
    full.set(0, p, h(p));
    for (let r = 1; r < 8; r++) if ((p + 1) % 2 ** r === 0) full.set(r, (p + 1) / 2 ** r - 1, h(p * 7 + r));
    const decoded = HashTile.decode(2, 5, full.encode());
    expect(decoded.width).toBe(p + 1);
    for (let r = 0; r < 8; r++) {
      const count = Math.floor((p + 1) / 2 ** r);
      if (count > 0) expect(Array.from(decoded.hash(r, count - 1)!)).toEqual(Array.from(full.hash(r, count - 1)!));
      expect(decoded.hash(r, count)).toBeUndefined();
    }
  }
  expect(full.full).toBe(true);
});

test('decode rejects values of the wrong length or width', () => {
  const tile = new HashTile(0, 0);
  tile.set(0, 0, h(1));
  const value = tile.encode();
  expect(() => HashTile.decode(0, 0, value.subarray(0, value.length - 1))).toThrow(RangeError);
  expect(() => HashTile.decode(0, 0, Uint8Array.of(0, 0))).toThrow(RangeError);
  expect(() => HashTile.decode(0, 0, Uint8Array.of(1, 1))).toThrow(RangeError);
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
