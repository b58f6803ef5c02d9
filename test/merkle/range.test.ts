import {
  CompactRange,
  EMPTY_ROOT,
  buildStoredHashesFromLeafHashes,
  memoryHashReader,
  splitStoredHashIndex,
  storedHashCount,
  storedHashIndex,
  storedHashesForRecordHash,
} from '../../src/merkle/index.js';
import { hex, refLeafHash, refSha256, refTree, utf8 } from './helpers.js';

const N = 1100;
const leafHashes = Array.from({ length: N }, (_, i) => refLeafHash(utf8(`leaf ${i}`)));
const ref = refTree(leafHashes);
const stored = buildStoredHashesFromLeafHashes(leafHashes);

describe('CompactRange', () => {
  test('empty range: size 0, no hashes, root SHA-256("")', () => {
    const r = CompactRange.empty();
    expect(r.size).toBe(0);
    expect(r.hashes).toEqual([]);
    expect(hex(r.root())).toBe(hex(refSha256(new Uint8Array(0))));
    expect(hex(r.root())).toBe(hex(EMPTY_ROOT));
  });

  test('roots and hashes match the reference tree at every size up to 1100', () => {
    const r = CompactRange.empty();
    for (let size = 1; size <= N; size++) {
      r.append(leafHashes[size - 1]!);
      expect(hex(r.root())).toBe(hex(ref.mth(0, size)));
      // The hashes are the perfect subtrees of [0, size), left to right.
      const want: string[] = [];
      let lo = 0;
      for (let k = 2 ** 11; k >= 1; k /= 2) {
        if (lo + k <= size) {
          want.push(hex(ref.mth(lo, lo + k)));
          lo += k;
        }
      }
      expect(r.hashes.map(hex)).toEqual(want);
    }
  });

  test('onNode reports exactly the stored hashes, in storage order (Go StoredHashes)', async () => {
    const r = CompactRange.empty();
    const seen: Uint8Array[] = [];
    const reader = memoryHashReader(stored);
    for (let n = 0; n < N; n++) {
      const calls: Array<[number, number, Uint8Array]> = [];
      r.append(leafHashes[n]!, (level, index, hash) => calls.push([level, index, hash.slice()]));
      // One call for the leaf plus one per subtree it completes.
      expect(calls.length).toBe(storedHashCount(n + 1) - storedHashCount(n));
      calls.forEach(([level, index, hash], k) => {
        const at = storedHashCount(n) + k;
        expect(storedHashIndex(level, index)).toBe(at);
        expect(splitStoredHashIndex(at)).toEqual({ level, n: index });
        expect(hex(hash)).toBe(hex(stored[at]!));
        seen.push(hash);
      });
      // And agrees with Go's StoredHashesForRecordHash over a reader.
      if (n % 97 === 0 || n === N - 1) {
        const want = await storedHashesForRecordHash(n, leafHashes[n]!, reader);
        expect(calls.map(([, , h]) => hex(h))).toEqual(want.map(hex));
      }
    }
    expect(seen.map(hex)).toEqual(stored.map(hex));
  });

  test('from(size, hashes) resumes where a range left off', () => {
    const a = CompactRange.empty();
    for (let n = 0; n < 700; n++) a.append(leafHashes[n]!);
    const b = CompactRange.from(a.size, a.hashes);
    expect(b.size).toBe(700);
    for (let n = 700; n < N; n++) {
      a.append(leafHashes[n]!);
      b.append(leafHashes[n]!);
    }
    expect(hex(b.root())).toBe(hex(ref.mth(0, N)));
    expect(b.hashes.map(hex)).toEqual(a.hashes.map(hex));
    expect(CompactRange.from(0, []).size).toBe(0);
  });

  test('clone() is independent', () => {
    const a = CompactRange.empty();
    for (let n = 0; n < 10; n++) a.append(leafHashes[n]!);
    const b = a.clone();
    b.append(leafHashes[10]!);
    expect(a.size).toBe(10);
    expect(hex(a.root())).toBe(hex(ref.mth(0, 10)));
    expect(hex(b.root())).toBe(hex(ref.mth(0, 11)));
  });

  test('hashes, root and appended leaves do not alias internal state', () => {
    const r = CompactRange.empty();
    const leaf = leafHashes[0]!.slice();
    r.append(leaf);
    leaf.fill(0);
    r.hashes[0]!.fill(0);
    r.root().fill(0);
    expect(hex(r.root())).toBe(hex(leafHashes[0]!));
    const input = [leafHashes[5]!.slice()];
    const s = CompactRange.from(1, input);
    input[0]!.fill(0);
    expect(hex(s.root())).toBe(hex(leafHashes[5]!));
  });

  test('a throwing onNode leaves the range unchanged', () => {
    const r = CompactRange.empty();
    for (let n = 0; n < 7; n++) r.append(leafHashes[n]!);
    const before = r.hashes.map(hex);
    let calls = 0;
    expect(() =>
      r.append(leafHashes[7]!, (level) => {
        calls++;
        if (level === 2) throw new Error('storage failed');
      }),
    ).toThrow('storage failed');
    expect(calls).toBe(3);
    expect(r.size).toBe(7);
    expect(r.hashes.map(hex)).toEqual(before);
    r.append(leafHashes[7]!);
    expect(hex(r.root())).toBe(hex(ref.mth(0, 8)));
  });

  test('from() validates size, count and hashes', () => {
    const h = leafHashes[0]!;
    expect(() => CompactRange.from(3, [h])).toThrow(RangeError); // popcount(3) = 2
    expect(() => CompactRange.from(3, [h, h, h])).toThrow(RangeError);
    expect(() => CompactRange.from(0, [h])).toThrow(RangeError);
    expect(() => CompactRange.from(4, [])).toThrow(RangeError);
    expect(() => CompactRange.from(2 ** 40 + 1, [h])).toThrow(RangeError);
    expect(CompactRange.from(2 ** 40 + 1, [h, h]).size).toBe(2 ** 40 + 1);
    expect(() => CompactRange.from(1, [new Uint8Array(31)])).toThrow(RangeError);
    expect(() => CompactRange.from(1, [new Uint8Array(33)])).toThrow(RangeError);
    expect(() => CompactRange.from(1, ['x' as unknown as Uint8Array])).toThrow(TypeError);
    expect(() => CompactRange.from(1, 'x' as unknown as Uint8Array[])).toThrow(TypeError);
    for (const bad of [-1, 1.5, NaN, 2 ** 53]) expect(() => CompactRange.from(bad, [])).toThrow(RangeError);
    expect(() => CompactRange.from('1' as unknown as number, [h])).toThrow(TypeError);
  });

  test('append() validates its arguments and stops at 2^53 − 1', () => {
    const r = CompactRange.empty();
    expect(() => r.append(new Uint8Array(31))).toThrow(RangeError);
    expect(() => r.append('x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => r.append(leafHashes[0]!, 'f' as unknown as () => void)).toThrow(TypeError);
    expect(r.size).toBe(0);
    const h = leafHashes[0]!;
    const full = CompactRange.from(Number.MAX_SAFE_INTEGER, Array(53).fill(h));
    expect(() => full.append(h)).toThrow(RangeError);
    expect(full.size).toBe(Number.MAX_SAFE_INTEGER);
  });

  test('appending at huge sizes reports the right node coordinates', () => {
    // Size 2^40 − 1: the next leaf completes a subtree at every level up to 40.
    const h = leafHashes[1]!;
    const r = CompactRange.from(2 ** 40 - 1, Array(40).fill(h));
    const calls: Array<[number, number]> = [];
    r.append(h, (level, index) => calls.push([level, index]));
    expect(calls).toEqual(Array.from({ length: 41 }, (_, l) => [l, (2 ** 40 - 1 - (2 ** l - 1)) / 2 ** l]));
    expect(r.size).toBe(2 ** 40);
    expect(r.hashes).toHaveLength(1);
    // Near 2^53: size 2^53 − 2 has 52 subtrees; appending makes it 53.
    const s = CompactRange.from(2 ** 53 - 2, Array(52).fill(h));
    const got: Array<[number, number]> = [];
    s.append(h, (level, index) => got.push([level, index]));
    expect(got).toEqual([[0, 2 ** 53 - 2]]);
    expect(s.hashes).toHaveLength(53);
  });
});
