import { splitStoredHashIndex, storedHashCount, storedHashIndex } from '../../src/merkle/stored.js';
import { prng } from './helpers.js';

// Independent oracle in BigInt: a tree of m leaves stores sum_l floor(m/2^l)
// = 2m − popcount(m) hashes; leaf m is stored right after them, and node
// (level, n) right after leaf (n+1)·2^level − 1 and the level − 1 nodes below
// it on the way up.
function popcount(x: bigint): bigint {
  let c = 0n;
  for (; x > 0n; x >>= 1n) c += x & 1n;
  return c;
}
function countBig(m: bigint): bigint {
  return 2n * m - popcount(m);
}
function indexBig(level: number, n: bigint): bigint {
  const last = ((n + 1n) << BigInt(level)) - 1n;
  return countBig(last) + BigInt(level);
}
const MAX = BigInt(Number.MAX_SAFE_INTEGER);

describe('stored-hash indexes', () => {
  test('the first hashes are stored in append order (Go tlog layout)', () => {
    // leaf0, leaf1, node(1,0), leaf2, leaf3, node(1,1), node(2,0), leaf4, leaf5, node(1,2), leaf6, leaf7, node(1,3), node(2,1), node(3,0)
    const layout: Array<[number, number]> = [
      [0, 0], [0, 1], [1, 0], [0, 2], [0, 3], [1, 1], [2, 0], [0, 4], [0, 5], [1, 2], [0, 6], [0, 7], [1, 3], [2, 1], [3, 0],
    ];
    layout.forEach(([level, n], index) => {
      expect(storedHashIndex(level, n)).toBe(index);
      expect(splitStoredHashIndex(index)).toEqual({ level, n });
    });
    expect([0, 1, 2, 3, 4, 5, 8].map(storedHashCount)).toEqual([0, 1, 3, 4, 7, 8, 15]);
  });

  test('every index below 100,000 round-trips through split', () => {
    const wrong: number[] = [];
    for (let index = 0; index < 100_000; index++) {
      const { level, n } = splitStoredHashIndex(index);
      if (storedHashIndex(level, n) !== index || BigInt(index) !== indexBig(level, BigInt(n))) wrong.push(index);
    }
    expect(wrong).toEqual([]);
  });

  test('storedHashCount agrees with 2n − popcount(n) for 0..5000', () => {
    for (let n = 0; n <= 5000; n++) expect(storedHashCount(n)).toBe(Number(countBig(BigInt(n))));
  });

  test.each([
    ['2^32', 2 ** 32],
    ['2^40', 2 ** 40],
    ['2^50', 2 ** 50],
  ])('index math near %s matches the BigInt oracle', (_name, base) => {
    const rand = prng(base % 9973);
    const ns: number[] = [];
    for (let d = -20; d <= 20; d++) ns.push(base + d);
    for (let i = 0; i < 50; i++) ns.push(base + Math.floor(rand() * base));
    for (const n of ns) {
      expect(storedHashCount(n)).toBe(Number(countBig(BigInt(n))));
      for (const level of [0, 1, 2, 7, 8, 9, 16]) {
        const m = Math.floor(n / 2 ** level);
        const want = indexBig(level, BigInt(m));
        expect(want <= MAX).toBe(true);
        const index = storedHashIndex(level, m);
        expect(index).toBe(Number(want));
        expect(splitStoredHashIndex(index)).toEqual({ level, n: m });
      }
    }
  });

  test('indexes just below 2^53 − 1 split and round-trip', () => {
    const top = Number.MAX_SAFE_INTEGER;
    for (let index = top; index > top - 300; index--) {
      const { level, n } = splitStoredHashIndex(index);
      expect(indexBig(level, BigInt(n))).toBe(BigInt(index));
      expect(storedHashIndex(level, n)).toBe(index);
    }
  });

  test('storedHashCount stops exactly where the count leaves the safe range', () => {
    // The largest tree size whose count is still a safe integer.
    let lo = 2n ** 51n;
    let hi = 2n ** 53n;
    while (lo + 1n < hi) {
      const mid = (lo + hi) / 2n;
      if (countBig(mid) <= MAX) lo = mid;
      else hi = mid;
    }
    expect(storedHashCount(Number(lo))).toBe(Number(countBig(lo)));
    expect(() => storedHashCount(Number(hi))).toThrow(RangeError);
    expect(() => storedHashCount(Number.MAX_SAFE_INTEGER)).toThrow(RangeError);
    // storedHashIndex likewise refuses results past 2^53 − 1.
    expect(() => storedHashIndex(0, 2 ** 52 + 100)).toThrow(RangeError);
    expect(() => storedHashIndex(60, 1)).toThrow(RangeError);
    expect(() => storedHashIndex(1e9, 0)).toThrow(RangeError);
    expect(storedHashIndex(52, 0)).toBe(Number(indexBig(52, 0n)));
  });

  test('non-safe or negative arguments throw RangeError, non-numbers TypeError', () => {
    for (const bad of [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, -0.5]) {
      expect(() => storedHashIndex(bad, 0)).toThrow(RangeError);
      expect(() => storedHashIndex(0, bad)).toThrow(RangeError);
      expect(() => splitStoredHashIndex(bad)).toThrow(RangeError);
      expect(() => storedHashCount(bad)).toThrow(RangeError);
    }
    for (const bad of ['1', 1n, null, undefined, {}]) {
      expect(() => storedHashIndex(bad as unknown as number, 0)).toThrow(TypeError);
      expect(() => storedHashIndex(0, bad as unknown as number)).toThrow(TypeError);
      expect(() => splitStoredHashIndex(bad as unknown as number)).toThrow(TypeError);
      expect(() => storedHashCount(bad as unknown as number)).toThrow(TypeError);
    }
  });
});
