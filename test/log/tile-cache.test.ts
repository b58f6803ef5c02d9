import { jest } from '@jest/globals';
import { MATERIALIZE_AFTER, TileCache } from '../../src/log/tile-cache.js';
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

function rowsOf(t: HashTile): (Uint8Array | undefined)[] {
  return (t as unknown as { rows: (Uint8Array | undefined)[] }).rows;
}

test('upper tiles are pushed out least recently used first, and partial tiles are never kept', () => {
  const cache = new TileCache(2);
  cache.add(tile(1, 0));
  cache.add(tile(2, 0));
  expect(cache.get(1, 0)?.level).toBe(1); // now the most recent
  cache.add(tile(1, 1));
  expect(cache.get(2, 0)).toBeUndefined();
  expect(cache.get(1, 0)?.n).toBe(0);
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

test('a tile read from the store gets the rows its stored form left out once it has been found often enough to pay for them', () => {
  const cache = new TileCache(4);
  const built = tile(1, 7);
  const decoded = HashTile.decode(1, 7, built.encode().slice());
  expect(rowsOf(decoded)[1]).toBeUndefined();
  cache.add(decoded);
  const expected = Buffer.from(nodeHash(built.hash(0, 6)!, built.hash(0, 7)!));
  // Read for a proof or two and maybe pushed out again (a log with more
  // tiles of level 1 than the cache holds): 160 hashes computed for the 2
  // a proof uses would be wasted.
  for (let i = 1; i < MATERIALIZE_AFTER; i++) {
    const found = cache.get(1, 7)!;
    expect(rowsOf(found)[1]).toBeUndefined();
    expect(rowsOf(found)[3]).toBeUndefined();
    expect(Buffer.from(found.hash(1, 3)!).equals(expected)).toBe(true);
  }
  const kept = cache.get(1, 7)!;
  expect(rowsOf(kept)[1]).toBeDefined();
  expect(rowsOf(kept)[3]).toBeDefined();
  expect(Buffer.from(kept.hash(1, 3)!).equals(expected)).toBe(true);
  expect(Buffer.from(kept.hash(3, 1)!).equals(Buffer.from(nodeHash(built.hash(2, 2)!, built.hash(2, 3)!)))).toBe(true);
});

test('a tile found since the others keeps its place while a stream of tiles read once passes through a full cache', () => {
  const cache = new TileCache(8);
  for (let n = 0; n < 8; n++) cache.add(tile(1, n));
  for (let n = 8; n < 200; n++) {
    expect(cache.get(2, 0) ?? cache.get(1, 3)).toBeDefined();
    cache.add(tile(1, n));
    expect(cache.size).toBe(8);
    expect(cache.get(1, n)?.n).toBe(n); // the newest is kept
    if (n === 8) cache.add(tile(2, 0));
  }
  expect(cache.get(2, 0)?.level).toBe(2);
});

test('making room in a full cache does not look through every cached tile', () => {
  const capacity = 1024;
  const cache = new TileCache(capacity);
  for (let n = 0; n < capacity; n++) cache.add(tile(1, n));
  // Every tile found once (as proofs would), then a stream of new ones: each
  // needs room. Looking for the least recently used tile went through all
  // of the cache's maps for every one.
  for (let n = 0; n < capacity; n++) cache.get(1, n);
  const incoming = Array.from({ length: 2 * capacity }, (_, i) => tile(1, capacity + i));
  const iterate = jest.spyOn(Map.prototype, Symbol.iterator);
  const entries = jest.spyOn(Map.prototype, 'entries');
  const values = jest.spyOn(Map.prototype, 'values');
  const forEach = jest.spyOn(Map.prototype, 'forEach');
  try {
    for (const t of incoming) cache.add(t);
    expect(iterate.mock.calls.length + entries.mock.calls.length + values.mock.calls.length + forEach.mock.calls.length).toBe(0);
  } finally {
    iterate.mockRestore();
    entries.mockRestore();
    values.mockRestore();
    forEach.mockRestore();
  }
  expect(cache.size).toBe(capacity);
  for (const t of incoming.slice(-capacity)) expect(cache.get(1, t.n)).toBe(t);
});
