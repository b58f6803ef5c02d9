import fc from 'fast-check';
import {
  MAX_TILE_LEVEL,
  TILE_HEIGHT,
  TILE_WIDTH,
  type Tile,
  buildStoredHashesFromLeafHashes,
  formatTilePath,
  hashFromTile,
  newTiles,
  parseTilePath,
  storedHashCount,
  storedHashIndex,
  tileForIndex,
  tileWidth,
} from '../../src/merkle/index.js';
import { hex, loadJson, refLeafHash, refTree, utf8 } from './helpers.js';

interface TilePathVectors {
  paths: Array<{ level: number; n: number; width: number; path: string }>;
}

const vectors = loadJson<TilePathVectors>('tile-paths.json');

describe('tile paths', () => {
  test('constants', () => {
    expect(TILE_HEIGHT).toBe(8);
    expect(TILE_WIDTH).toBe(2 ** TILE_HEIGHT);
    expect(MAX_TILE_LEVEL).toBe(63);
  });

  test.each(vectors.paths)('vector $path both ways', ({ level, n, width, path }) => {
    expect(formatTilePath({ level, n, width })).toBe(path);
    expect(parseTilePath(path)).toEqual({ level, n, width });
  });

  test('more canonical paths both ways', () => {
    const cases: Array<[Tile, string]> = [
      [{ level: 0, n: 999, width: 255 }, 'tile/0/999.p/255'],
      [{ level: 0, n: 1000, width: 256 }, 'tile/0/x001/000'],
      [{ level: 63, n: 0, width: 1 }, 'tile/63/000.p/1'],
      [{ level: -1, n: 0, width: 256 }, 'tile/entries/000'],
      [{ level: 5, n: 1_000_000, width: 10 }, 'tile/5/x001/x000/000.p/10'],
      [{ level: 0, n: 2 ** 32, width: 256 }, 'tile/0/x004/x294/x967/296'],
      [{ level: 0, n: 2 ** 40 + 1, width: 256 }, 'tile/0/x001/x099/x511/x627/777'],
      [{ level: 1, n: Number.MAX_SAFE_INTEGER, width: 7 }, 'tile/1/x009/x007/x199/x254/x740/991.p/7'],
      [{ level: -1, n: Number.MAX_SAFE_INTEGER - 1, width: 256 }, 'tile/entries/x009/x007/x199/x254/x740/990'],
      [{ level: 0, n: 2 ** 53 - 1000, width: 256 }, 'tile/0/x009/x007/x199/x254/x739/992'],
    ];
    for (const [tile, path] of cases) {
      expect(formatTilePath(tile)).toBe(path);
      expect(parseTilePath(path)).toEqual(tile);
    }
  });

  test('formatting matches a BigInt digit-group oracle for huge n', () => {
    const oracle = (n: bigint): string => {
      const digits = n.toString().padStart(Math.ceil(n.toString().length / 3) * 3, '0');
      const groups = digits.match(/.../g)!;
      return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
    };
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: BigInt(Number.MAX_SAFE_INTEGER) }), (big) => {
        const n = Number(big);
        const path = formatTilePath({ level: 0, n, width: 256 });
        expect(path).toBe(`tile/0/${oracle(big)}`);
        expect(parseTilePath(path).n).toBe(n);
      }),
      { numRuns: 2000 },
    );
  });

  test('random tiles round-trip', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1, max: 63 }),
        fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.maxSafeNat()),
        fc.integer({ min: 1, max: 256 }),
        (level, n, width) => {
          const tile = { level, n, width };
          expect(parseTilePath(formatTilePath(tile))).toEqual(tile);
        },
      ),
    );
  });

  test.each([
    '',
    'tile',
    'tile/',
    'tile/0',
    'tile/0/',
    '/tile/0/000',
    'tile/0/000/',
    'tile//000',
    'tile/0//000',
    'tile/0/000/extra',
    'tile/0/000.p/1/extra',
    'tiles/0/000',
    'TILE/0/000',
    'tile/0/0',
    'tile/0/00',
    'tile/0/0000',
    'tile/0/1',
    'tile/0/x001',
    'tile/0/x1/000',
    'tile/0/x0001/000',
    'tile/0/001/000',
    'tile/0/x000/000',
    'tile/0/x000/x001/000',
    'tile/0/X001/000',
    'tile/0/y001/000',
    'tile/0/x001/x234',
    'tile/00/000',
    'tile/01/000',
    'tile/64/000',
    'tile/99/000',
    'tile/100/000',
    'tile/-1/000',
    'tile/+1/000',
    'tile/1e1/000',
    'tile/ 0/000',
    'tile/0/ 000',
    'tile/0/000 ',
    'tile/0/000\n',
    '\ntile/0/000',
    'tile/0/-01',
    'tile/0/0x1',
    'tile/0/١٢٣',
    'tile/data/000',
    'tile/entry/000',
    'tile/Entries/000',
    'tile/entries/-1/000',
    'tile/8/0/000',
    'tile/0/000.p',
    'tile/0/000.p/',
    'tile/0/000.p/0',
    'tile/0/000.p/00',
    'tile/0/000.p/01',
    'tile/0/000.p/007',
    'tile/0/000.p/256',
    'tile/0/000.p/257',
    'tile/0/000.p/1000',
    'tile/0/000.p/-1',
    'tile/0/000.p/+1',
    'tile/0/000.p/1.0',
    'tile/0/000.p/1/',
    'tile/0/000.P/1',
    'tile/0/000p/1',
    'tile/0/000.p.1',
    'tile/entries/000.p/256',
    'tile/entries/000.p/0',
    'tile\\0\\000',
    'tile/0/../000',
    'tile/0/./000',
    'tile/0/x009/x007/x199/x254/x740/992', // 2^53: not a safe integer
    'tile/0/x999/x999/x999/x999/x999/999',
    'tile/0/x001/x000/x000/x000/x000/x000/000',
  ])('rejects %j with RangeError', (path) => {
    expect(() => parseTilePath(path)).toThrow(RangeError);
  });

  test('rejects non-strings with TypeError', () => {
    for (const bad of [null, undefined, 0, {}, ['tile/0/000'], new String('tile/0/000')]) {
      expect(() => parseTilePath(bad as unknown as string)).toThrow(TypeError);
    }
  });

  test('parse never crashes: any string parses to a tile that formats back to it, or RangeError', () => {
    const chars = fc.constantFrom(...'tile/entrs0123456789x.p'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: chars, maxLength: 30 }).map((s) => `tile/${s}`)), (s) => {
        let tile: Tile;
        try {
          tile = parseTilePath(s);
        } catch (err) {
          expect(err).toBeInstanceOf(RangeError);
          return;
        }
        expect(formatTilePath(tile)).toBe(s);
      }),
      { numRuns: 5000 },
    );
  });

  test('formatTilePath rejects malformed tiles', () => {
    for (const t of [
      { level: -2, n: 0, width: 1 },
      { level: 64, n: 0, width: 1 },
      { level: 0.5, n: 0, width: 1 },
      { level: 0, n: -1, width: 1 },
      { level: 0, n: 1.5, width: 1 },
      { level: 0, n: 2 ** 53, width: 1 },
      { level: 0, n: NaN, width: 1 },
      { level: 0, n: 0, width: 0 },
      { level: 0, n: 0, width: 257 },
      { level: 0, n: 0, width: 1.5 },
    ]) {
      expect(() => formatTilePath(t)).toThrow(RangeError);
    }
    for (const t of [null, 'tile', { level: '0', n: 0, width: 1 }, { level: 0, n: '0', width: 1 }, { level: 0, n: 0 }]) {
      expect(() => formatTilePath(t as unknown as Tile)).toThrow(TypeError);
    }
  });
});

describe('tile widths and new tiles', () => {
  // C2SP tlog-tiles' formula, written with BigInt: tile n of level l at size s.
  const widthOracle = (level: number, n: number, size: number): number => {
    const count = BigInt(size) / 256n ** BigInt(Math.max(level, 0));
    const w = count - BigInt(n) * 256n;
    return Number(w < 0n ? 0n : w > 256n ? 256n : w);
  };

  test('the C2SP example: a tree of 70,000 leaves', () => {
    const tiles = newTiles(0, 70_000);
    const level0 = tiles.filter((t) => t.level === 0);
    expect(level0.filter((t) => t.width === 256)).toHaveLength(273);
    expect(level0.filter((t) => t.width < 256)).toEqual([{ level: 0, n: 273, width: 112 }]);
    expect(tiles.filter((t) => t.level === 1)).toEqual([
      { level: 1, n: 0, width: 256 },
      { level: 1, n: 1, width: 17 },
    ]);
    expect(tiles.filter((t) => t.level === 2)).toEqual([{ level: 2, n: 0, width: 1 }]);
    expect(tiles).toHaveLength(273 + 1 + 2 + 1);
    expect(newTiles(0, 256)).toEqual([
      { level: 0, n: 0, width: 256 },
      { level: 1, n: 0, width: 1 },
    ]);
    expect(tileWidth(0, 273, 70_000)).toBe(112);
    expect(tileWidth(-1, 273, 70_000)).toBe(112);
    expect(tileWidth(1, 1, 70_000)).toBe(17);
    expect(tileWidth(2, 0, 70_000)).toBe(1);
    expect(tileWidth(3, 0, 70_000)).toBe(0);
    expect(tileWidth(0, 274, 70_000)).toBe(0);
    expect(tileWidth(0, 272, 70_000)).toBe(256);
  });

  /** The tiles whose width changes between the two sizes, by level then n (the oracle for newTiles). */
  function changedTiles(oldSize: number, newSize: number): Tile[] {
    const out: Tile[] = [];
    for (let level = 0; level <= 7; level++) {
      const first = Math.floor(oldSize / 256 ** (level + 1));
      const last = Math.floor(newSize / 256 ** (level + 1));
      for (let n = first; n <= last; n++) {
        const w = widthOracle(level, n, newSize);
        if (w > 0 && w !== widthOracle(level, n, oldSize)) out.push({ level, n, width: w });
      }
    }
    return out;
  }

  test('newTiles lists exactly the tiles whose width changes, for all small size pairs', () => {
    const sizes = [0, 1, 2, 255, 256, 257, 511, 512, 513, 1000, 65_535, 65_536, 65_537, 70_000, 131_072];
    for (const a of sizes) {
      for (const b of sizes) {
        if (a > b) continue;
        expect(newTiles(a, b)).toEqual(changedTiles(a, b));
      }
    }
    for (const [a, b] of [
      [16_777_215, 16_777_216],
      [16_777_000, 16_777_217],
      [16_711_680, 16_777_216],
    ] as const) {
      expect(newTiles(a, b)).toEqual(changedTiles(a, b));
    }
    for (let a = 0; a <= 600; a += 7) {
      for (let b = a; b <= 600; b += 13) expect(newTiles(a, b)).toEqual(changedTiles(a, b));
    }
  });

  test.each([
    ['2^32', 2 ** 32],
    ['2^40', 2 ** 40],
    ['2^53 − 1', Number.MAX_SAFE_INTEGER],
  ])('newTiles and tileWidth near %s', (_name, top) => {
    for (const [a, b] of [
      [top - 1000, top],
      [top - 1, top],
      [top - 70_000, top - 3],
      [top - 256 ** 3 - 5, top],
    ] as const) {
      expect(newTiles(a, b)).toEqual(changedTiles(a, b));
    }
    for (const size of [top - 1, top]) {
      for (let level = -1; level <= 7; level++) {
        const count = Math.floor(size / 256 ** Math.max(level, 0));
        const last = Math.floor(count / 256);
        for (const n of [0, last - 1, last, last + 1]) {
          if (n < 0) continue;
          expect(tileWidth(level, n, size)).toBe(widthOracle(level, n, size));
        }
      }
    }
  });

  test('argument errors', () => {
    expect(() => newTiles(5, 4)).toThrow(RangeError);
    for (const bad of [-1, 1.5, NaN, 2 ** 53]) {
      expect(() => newTiles(bad, 10)).toThrow(RangeError);
      expect(() => newTiles(0, bad)).toThrow(RangeError);
      expect(() => tileWidth(0, bad, 10)).toThrow(RangeError);
      expect(() => tileWidth(0, 0, bad)).toThrow(RangeError);
    }
    for (const bad of [-2, 64, 0.5, NaN]) expect(() => tileWidth(bad, 0, 10)).toThrow(RangeError);
    expect(() => tileWidth('0' as unknown as number, 0, 10)).toThrow(TypeError);
    expect(() => newTiles('0' as unknown as number, 10)).toThrow(TypeError);
  });
});

describe('tileForIndex and hashFromTile', () => {
  const SIZE = 70_000;
  const leafHashes = Array.from({ length: SIZE }, (_, i) => refLeafHash(utf8(`leaf ${i}`)));
  const stored = buildStoredHashesFromLeafHashes(leafHashes);
  const ref = refTree(leafHashes);

  /** Tile contents as a server would serve them: hashes of tree level 8·level, from the stored hashes. */
  const fullTiles = new Map<string, Uint8Array>();
  function tileData(tile: Tile): Uint8Array {
    const key = `${tile.level}/${tile.n}`;
    let data = fullTiles.get(key);
    if (data === undefined) {
      const width = tileWidth(tile.level, tile.n, SIZE);
      data = new Uint8Array(width * 32);
      for (let i = 0; i < width; i++) {
        data.set(stored[storedHashIndex(TILE_HEIGHT * tile.level, tile.n * 256 + i)]!, i * 32);
      }
      fullTiles.set(key, data);
    }
    if (tile.width * 32 > data.length) throw new Error(`test: ${key} has no width ${tile.width}`);
    return data.subarray(0, tile.width * 32);
  }

  test('the hash at stored index i of level-0 tile hashes is the leaf hash', () => {
    expect(tileForIndex(0)).toEqual({ level: 0, n: 0, width: 1 });
    expect(tileForIndex(storedHashIndex(0, 300))).toEqual({ level: 0, n: 1, width: 45 });
    expect(tileForIndex(storedHashIndex(1, 150))).toEqual({ level: 0, n: 1, width: 46 });
    expect(tileForIndex(storedHashIndex(7, 1))).toEqual({ level: 0, n: 0, width: 256 });
    expect(tileForIndex(storedHashIndex(8, 0))).toEqual({ level: 1, n: 0, width: 1 });
    expect(tileForIndex(storedHashIndex(16, 3))).toEqual({ level: 2, n: 0, width: 4 });
  });

  test('every stored hash of a 70,000-leaf tree is recovered from its tile, minimal and actual width', () => {
    const wrong: number[] = [];
    const count = storedHashCount(SIZE);
    for (let index = 0; index < count; index++) {
      const minimal = tileForIndex(index);
      const actual = { ...minimal, width: tileWidth(minimal.level, minimal.n, SIZE) };
      if (actual.width < minimal.width) {
        wrong.push(index);
        continue;
      }
      const want = hex(stored[index]!);
      if (hex(hashFromTile(minimal, tileData(minimal), index)) !== want) wrong.push(index);
      if (index % 7 === 0 && hex(hashFromTile(actual, tileData(actual), index)) !== want) wrong.push(index);
    }
    expect(wrong).toEqual([]);
    // And a spot check against the reference recursion: the level-16 node over leaves [0, 65536).
    const top = storedHashIndex(16, 0);
    expect(hex(hashFromTile({ level: 2, n: 0, width: 1 }, tileData({ level: 2, n: 0, width: 1 }), top))).toBe(
      hex(ref.mth(0, 65_536)),
    );
    const mid = storedHashIndex(12, 3); // in level-1 tile 0, rehashed from 16 of its hashes
    expect(hex(hashFromTile({ level: 1, n: 0, width: 256 }, tileData({ level: 1, n: 0, width: 256 }), mid))).toBe(
      hex(ref.mth(3 * 4096, 4 * 4096)),
    );
  });

  test('hashFromTile refuses a hash from the wrong tile, a tile too narrow, or bad data', () => {
    const index = storedHashIndex(1, 150); // needs level-0 tile 1 of width >= 46
    const t = { level: 0, n: 1, width: 46 };
    const data = tileData(t);
    expect(hex(hashFromTile(t, data, index))).toBe(hex(stored[index]!));
    expect(() => hashFromTile({ level: 0, n: 1, width: 45 }, data.subarray(0, 45 * 32), index)).toThrow(RangeError);
    expect(() => hashFromTile({ level: 0, n: 2, width: 46 }, data, index)).toThrow(RangeError);
    expect(() => hashFromTile({ level: 1, n: 1, width: 46 }, data, index)).toThrow(RangeError);
    expect(() => hashFromTile({ level: -1, n: 1, width: 46 }, data, index)).toThrow(RangeError);
    expect(() => hashFromTile(t, data.subarray(0, 45 * 32), index)).toThrow(RangeError);
    expect(() => hashFromTile(t, new Uint8Array(47 * 32), index)).toThrow(RangeError);
    expect(() => hashFromTile(t, Array.from(data) as unknown as Uint8Array, index)).toThrow(TypeError);
    expect(() => hashFromTile(t, data, -1)).toThrow(RangeError);
    expect(() => hashFromTile(t, data, 2 ** 53)).toThrow(RangeError);
    expect(() => hashFromTile({ level: 0, n: 1, width: 300 }, data, index)).toThrow(RangeError);
    // A corrupted tile gives a different hash (the caller's proof check then fails).
    const bad = data.slice();
    bad[150 * 2 * 32 - 256 * 32 + 5]! ^= 1;
    expect(hex(hashFromTile(t, bad, index))).not.toBe(hex(stored[index]!));
  });

  test('tileForIndex at huge indexes matches the level/n arithmetic', () => {
    for (const [level, n] of [
      [0, 2 ** 32 + 5],
      [3, 2 ** 37 - 1],
      [8, 2 ** 32 + 300],
      [17, 2 ** 34 + 7],
      [0, 2 ** 52 - 1],
      [40, 2 ** 11 + 1],
      [48, 13],
    ] as const) {
      const index = storedHashIndex(level, n);
      const tile = tileForIndex(index);
      const within = level % 8;
      expect(tile.level).toBe(Math.floor(level / 8));
      expect(tile.n).toBe(Math.floor((n * 2 ** within) / 256));
      expect(tile.width).toBe(((n * 2 ** within) % 256) + 2 ** within);
      expect(formatTilePath(tile)).toBe(formatTilePath(parseTilePath(formatTilePath(tile))));
    }
    expect(() => tileForIndex(2 ** 53)).toThrow(RangeError);
    expect(() => tileForIndex('1' as unknown as number)).toThrow(TypeError);
  });
});
