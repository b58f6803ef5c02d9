import { TileCache } from '../../src/log/tile-cache.js';
import { nodeHash } from '../../src/merkle/hash.js';
import { HashTile, TILE_WIDTH } from '../../src/storage/hash-tile.js';

function tile(level: number, n: number, width = TILE_WIDTH): HashTile {
  const t = new HashTile(level, n);
  for (let p = 0; p < width; p++) t.set(0, p, new Uint8Array(32).fill((level + n + p) % 256));
  return t;
}

test('level-0 tiles are never kept, so they cannot push the upper levels out', () => {
  const cache = new TileCache(4);
  for (let n = 0; n < 4; n++) cache.add(tile(1, n));
  for (let n = 0; n < 100; n++) cache.add(tile(0, n));
  for (let n = 0; n < 4; n++) expect(cache.get(1, n)?.n).toBe(n);
  expect(cache.get(0, 99)).toBeUndefined();
  expect(cache.size).toBe(4);
});

test('upper tiles are least-recently-used, kept with every row, and partial tiles are never kept', () => {
  const cache = new TileCache(2);
  cache.add(tile(1, 0));
  cache.add(tile(2, 0));
  expect(cache.get(1, 0)?.level).toBe(1); // now the most recent
  cache.add(tile(1, 1));
  expect(cache.get(2, 0)).toBeUndefined();
  expect(cache.get(1, 0)?.n).toBe(0);
  // A decoded tile (rows 1 and 3 left out) is kept with them filled in.
  const built = tile(1, 7);
  const decoded = HashTile.decode(1, 7, built.encode().slice());
  expect((decoded as unknown as { rows: (Uint8Array | undefined)[] }).rows[1]).toBeUndefined();
  cache.add(decoded);
  const kept = cache.get(1, 7)!;
  expect((kept as unknown as { rows: (Uint8Array | undefined)[] }).rows[1]).toBeDefined();
  expect(Buffer.from(kept.hash(1, 3)!).equals(Buffer.from(nodeHash(built.hash(0, 6)!, built.hash(0, 7)!)))).toBe(true);
  cache.add(tile(1, 5, 10));
  expect(cache.get(1, 5)).toBeUndefined();
  expect(() => new TileCache(-1)).toThrow(RangeError);
  expect(() => new TileCache(1.5)).toThrow(RangeError);
  const none = new TileCache(0);
  none.add(tile(1, 0));
  expect(none.size).toBe(0);
});

test('a tile added again is kept once and counts as used', () => {
  const cache = new TileCache(2);
  cache.add(tile(1, 0));
  cache.add(tile(1, 1));
  cache.add(tile(1, 0)); // already there: no second copy, and now the most recent
  expect(cache.size).toBe(2);
  cache.add(tile(3, 0)); // makes room by dropping 1/1, the least recently used
  expect(cache.size).toBe(2);
  expect(cache.get(1, 1)).toBeUndefined();
  expect(cache.get(1, 0)?.n).toBe(0);
  expect(cache.get(3, 0)?.level).toBe(3);
});
