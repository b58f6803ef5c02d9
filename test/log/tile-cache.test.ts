import { TileCache } from '../../src/log/tile-cache.js';
import { HashTile, TILE_WIDTH } from '../../src/storage/hash-tile.js';

function tile(level: number, n: number, width = TILE_WIDTH): HashTile {
  const t = new HashTile(level, n);
  for (let p = 0; p < width; p++) t.set(0, p, new Uint8Array(32).fill((level + n + p) % 256));
  return t;
}

test('level-0 tiles cannot push the upper levels out of the cache', () => {
  const cache = new TileCache(4, 2);
  for (let n = 0; n < 4; n++) cache.add(tile(1, n));
  for (let n = 0; n < 100; n++) cache.add(tile(0, n));
  for (let n = 0; n < 4; n++) expect(cache.get(1, n)?.n).toBe(n);
  // Only the two most recent level-0 tiles stay.
  expect(cache.get(0, 99)?.n).toBe(99);
  expect(cache.get(0, 98)?.n).toBe(98);
  expect(cache.get(0, 97)).toBeUndefined();
  expect(cache.size).toBe(6);
});

test('each level class is least-recently-used, and partial tiles are never kept', () => {
  const cache = new TileCache(2, 2);
  cache.add(tile(1, 0));
  cache.add(tile(2, 0));
  expect(cache.get(1, 0)?.level).toBe(1); // now the most recent
  cache.add(tile(1, 1));
  expect(cache.get(2, 0)).toBeUndefined();
  expect(cache.get(1, 0)?.n).toBe(0);
  cache.add(tile(0, 5, 10));
  expect(cache.get(0, 5)).toBeUndefined();
  expect(() => new TileCache(-1)).toThrow(RangeError);
  expect(() => new TileCache(1, 1.5)).toThrow(RangeError);
  const none = new TileCache(0, 0);
  none.add(tile(1, 0));
  expect(none.size).toBe(0);
});
