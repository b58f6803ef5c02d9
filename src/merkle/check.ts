/**
 * Argument checks and integer helpers shared by the Merkle modules (internal:
 * not re-exported from `index.ts`).
 *
 * Indexes and sizes are JavaScript numbers restricted to safe non-negative
 * integers. Bitwise operators would truncate them to 32 bits, so every helper
 * here uses division by powers of two, `%` and `Math.floor`, which are exact
 * on safe integers.
 */

/** Checks that `x` is a safe non-negative integer: TypeError if not a number, RangeError otherwise. */
export function checkIndex(x: unknown, name: string): number {
  if (typeof x !== 'number') {
    throw new TypeError(`${name} must be a number, got ${typeof x}`);
  }
  if (!Number.isSafeInteger(x) || x < 0) {
    throw new RangeError(`${name} must be a safe non-negative integer, got ${String(x)}`);
  }
  return x;
}

/** Checks that `x` is a 32-byte Uint8Array: TypeError if not a Uint8Array, RangeError if the length differs. */
export function checkHash(x: unknown, name: string): Uint8Array {
  if (!(x instanceof Uint8Array)) {
    throw new TypeError(`${name} must be a Uint8Array`);
  }
  if (x.length !== 32) {
    throw new RangeError(`${name} must be 32 bytes, got ${x.length}`);
  }
  return x;
}

/** Checks that `x` is an array of 32-byte Uint8Arrays. */
export function checkHashList(x: unknown, name: string): readonly Uint8Array[] {
  if (!Array.isArray(x)) {
    throw new TypeError(`${name} must be an array of hashes`);
  }
  for (let i = 0; i < x.length; i++) {
    checkHash(x[i], `${name}[${i}]`);
  }
  return x as readonly Uint8Array[];
}

/** Whether two byte arrays hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!; // bytes, not indexes
  return diff === 0;
}

/** floor(x / 2) for a safe non-negative integer. */
export function half(x: number): number {
  return Math.floor(x / 2);
}

/** Whether the safe non-negative integer `x` is odd. */
export function isOdd(x: number): boolean {
  return x % 2 === 1;
}

/** The number of trailing zero bits of a positive safe integer. */
export function trailingZeros(x: number): number {
  let count = 0;
  while (x > 0 && x % 2 === 0) {
    x /= 2;
    count++;
  }
  return count;
}

/** The number of trailing one bits of a safe non-negative integer. */
export function trailingOnes(x: number): number {
  let count = 0;
  while (x % 2 === 1) {
    x = half(x);
    count++;
  }
  return count;
}

/** The number of one bits of a safe non-negative integer. */
export function popCount(x: number): number {
  let count = 0;
  while (x > 0) {
    if (x % 2 === 1) count++;
    x = half(x);
  }
  return count;
}

/** 2^0 … 2^53, exact: a table lookup, where `2 ** e` with a variable e calls Math.pow. */
export const POW2: readonly number[] = Array.from({ length: 54 }, (_, e) => 2 ** e);

/** Whether the positive safe integer `x` is a power of two. */
export function isPowerOfTwo(x: number): boolean {
  return x > 0 && POW2[floorLog2(x)] === x;
}

/**
 * floor(log2(x)) for a positive safe integer, exactly: Math.clz32 of the high
 * and low 32-bit halves, each split off arithmetically (so below 2^32, where
 * clz32's conversion is exact).
 */
export function floorLog2(x: number): number {
  const high = Math.floor(x / 4_294_967_296);
  return high > 0 ? 63 - Math.clz32(high) : 31 - Math.clz32(x);
}

/**
 * The largest power of two k with k < n, and its exponent (n >= 2): RFC 6962
 * §2.1 splits a tree of n leaves into k and n − k.
 */
export function splitPoint(n: number): { k: number; level: number } {
  if (n <= 2) return { k: 1, level: 0 };
  const level = floorLog2(n - 1);
  return { k: POW2[level]!, level };
}

/** The largest power of two k with k <= n, and its exponent (n >= 1). */
export function largestPowerOfTwoAtMost(n: number): { k: number; level: number } {
  return splitPoint(n + 1);
}
