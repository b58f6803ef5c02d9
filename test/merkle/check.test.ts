import { largestPowerOfTwoAtMost, splitPoint } from '../../src/merkle/check.js';

// Oracle in BigInt: the largest power of two strictly below n, by shifting.
function splitBig(n: bigint): { k: bigint; level: number } {
  let level = 0;
  while (1n << BigInt(level + 1) < n) level++;
  return { k: 1n << BigInt(level), level };
}

function expectSplit(n: number): void {
  const want = splitBig(BigInt(n));
  const got = splitPoint(n);
  expect({ n, k: BigInt(got.k), level: got.level }).toEqual({ n, k: want.k, level: want.level });
}

test('splitPoint is the largest power of two below n for every n up to 70,000', () => {
  for (let n = 2; n <= 70_000; n++) expectSplit(n);
});

test('splitPoint is exact next to every power of two up to 2^53, where log2 rounds', () => {
  for (let e = 1; e <= 53; e++) {
    const p = 2 ** e;
    for (const n of [p - 2, p - 1, p, p + 1, p + 2]) if (n >= 2 && Number.isSafeInteger(n)) expectSplit(n);
  }
  expectSplit(Number.MAX_SAFE_INTEGER);
});

test('largestPowerOfTwoAtMost(n) is the largest power of two <= n', () => {
  for (const n of [1, 2, 3, 4, 5, 1023, 1024, 1025, 2 ** 40 - 1, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
    const { k, level } = largestPowerOfTwoAtMost(n);
    expect(k).toBe(2 ** level);
    expect(k <= n && 2 * k > n).toBe(true);
  }
});
