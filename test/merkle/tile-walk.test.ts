// eachNewTile and newTileCounts: the tiles of newTiles, walked one at a time
// and counted without a list, so that growth to 2^53 − 1 leaves (2^45 level-0
// tiles) costs no memory. newTiles (checked against its own oracle in
// tile.test.ts) is the reference for small and large sizes alike.
import { eachNewTile, newTileCounts, newTiles, type Tile } from '../../src/merkle/tile.js';

const MAX = Number.MAX_SAFE_INTEGER;

/** The first `count` tiles of a walk, without running it further. */
function firstOf(walk: Iterator<Tile>, count: number): Tile[] {
  const out: Tile[] = [];
  while (out.length < count) {
    const step = walk.next();
    if (step.done === true) break;
    out.push(step.value);
  }
  return out;
}

/** Per-level counts of a tile list, up to `levels` levels. */
function countsOf(tiles: Tile[], levels: number): number[] {
  return Array.from({ length: levels }, (_, level) => tiles.filter((t) => t.level === level).length);
}

const pairs: [number, number][] = [];
const sizes = [0, 1, 2, 255, 256, 257, 511, 512, 513, 1000, 65_535, 65_536, 65_537, 70_000, 131_072];
for (const a of sizes) for (const b of sizes) if (a <= b) pairs.push([a, b]);
for (const top of [2 ** 32, 2 ** 40, MAX]) pairs.push([top - 1000, top], [top - 1, top], [top - 70_000, top - 3], [top - 256 ** 3 - 5, top]);
pairs.push([16_777_215, 16_777_216], [16_777_000, 16_777_217], [16_711_680, 16_777_216]);

test('eachNewTile yields exactly newTiles, in order', () => {
  for (const [a, b] of pairs) expect([a, b, [...eachNewTile(a, b)]]).toEqual([a, b, newTiles(a, b)]);
});

test('newTileCounts counts the tiles of newTiles at each level, up to the top tile level', () => {
  for (const [a, b] of pairs) {
    const counts = newTileCounts(a, b);
    // One element per tile level the tree of size b has: 256^level <= b.
    let levels = 0;
    while (256 ** levels <= b) levels++;
    expect([a, b, counts]).toEqual([a, b, countsOf(newTiles(a, b), levels)]);
  }
});

test('growth from 0 to 2^53 − 1 leaves is walked and counted without a list', () => {
  const walk = eachNewTile(0, MAX);
  expect(firstOf(walk, 3)).toEqual([
    { level: 0, n: 0, width: 256 },
    { level: 0, n: 1, width: 256 },
    { level: 0, n: 2, width: 256 },
  ]);
  // Level 0 has 2^45 tiles, the last one partial: (2^53 − 1) mod 256 = 255 leaves.
  expect(newTileCounts(0, MAX)).toEqual([2 ** 45, 2 ** 37, 2 ** 29, 2 ** 21, 2 ** 13, 2 ** 5, 1]);
  // Near the top the walk reaches the same tiles as the list.
  expect([...eachNewTile(MAX - 600, MAX)]).toEqual(newTiles(MAX - 600, MAX));
});

test('the arguments are checked at the call, before any step', () => {
  expect(() => eachNewTile(5, 4)).toThrow(RangeError);
  expect(() => newTileCounts(5, 4)).toThrow(RangeError);
  for (const bad of [-1, 1.5, NaN, 2 ** 53]) {
    expect(() => eachNewTile(bad, 10)).toThrow(RangeError);
    expect(() => eachNewTile(0, bad)).toThrow(RangeError);
    expect(() => newTileCounts(bad, 10)).toThrow(RangeError);
    expect(() => newTileCounts(0, bad)).toThrow(RangeError);
  }
  expect(() => eachNewTile('0' as unknown as number, 10)).toThrow(TypeError);
  expect(() => newTileCounts(0, '10' as unknown as number)).toThrow(TypeError);
  expect(() => eachNewTile(5, 4)).toThrow(/^eachNewTile: oldTreeSize 5 is larger than newTreeSize 4$/);
});
