// Trees far too large to build (2^32, 2^40, 2^52 and 2^53 − 1 leaves): the
// reference recursion in helpers.ts hashes only the ranges a proof looks
// into, so roots and proofs are real, and any 32-bit truncation in the index
// math would show up as a wrong proof.
import {
  type HashReader,
  proveConsistency,
  proveInclusion,
  rootFromInclusionProof,
  splitStoredHashIndex,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from '../../src/merkle/index.js';
import { type RefTree, flipBit, hex, refPath, refProof, virtualTree } from './helpers.js';

const MAX = Number.MAX_SAFE_INTEGER;

/** A HashReader over a virtual tree of `size` leaves, answering from the reference recursion. */
function virtualReader(t: RefTree, size: number): HashReader & { calls: number } {
  const reader = {
    calls: 0,
    readHashes(indexes: readonly number[]): Promise<Uint8Array[]> {
      reader.calls++;
      return Promise.resolve(
        indexes.map((index) => {
          const { level, n } = splitStoredHashIndex(index);
          const lo = n * 2 ** level;
          const hi = lo + 2 ** level;
          if (hi > size) throw new RangeError(`stored hash ${index} is not in a tree of size ${size}`);
          return t.mth(lo, hi);
        }),
      );
    },
  };
  return reader;
}

// Largest tree whose stored-hash indexes are all safe integers is a little over 2^52.
const PROVABLE = [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 - 1, 2 ** 40 + 12_345, 2 ** 52 - 3, 2 ** 52];
const VERIFY_ONLY = [2 ** 53 - 2, MAX];

describe('inclusion in huge trees', () => {
  const indexesFor = (size: number): number[] =>
    [0, 1, 255, 256, 2 ** 31, Math.floor(size / 2), size - 257, size - 2, size - 1].filter((i) => i >= 0 && i < size);

  test.each(PROVABLE)('size %d: treeHash and proveInclusion match the RFC recursion, and verify', async (size) => {
    for (const index of indexesFor(size)) {
      const t = virtualTree((lo, hi) => lo <= index && index < hi);
      const root = t.mth(0, size);
      const reader = virtualReader(t, size);
      expect(hex(await treeHash(size, reader))).toBe(hex(root));
      const proof = await proveInclusion(size, index, reader);
      expect(reader.calls).toBe(2);
      expect(proof.map(hex)).toEqual(refPath(t, index, 0, size).map(hex));
      const leaf = t.mth(index, index + 1);
      expect(verifyInclusion(leaf, index, size, proof, root)).toBe(true);
      expect(hex(rootFromInclusionProof(leaf, index, size, proof))).toBe(hex(root));
      for (let j = 0; j < proof.length; j++) {
        const bad = proof.slice();
        bad[j] = flipBit(proof[j]!, (j * 37) % 256);
        expect(verifyInclusion(leaf, index, size, bad, root)).toBe(false);
      }
      expect(verifyInclusion(leaf, index, size, proof.slice(1), root)).toBe(false);
      expect(verifyInclusion(leaf, index, size, [...proof, leaf], root)).toBe(false);
      if (index > 0) expect(verifyInclusion(leaf, index - 1, size, proof, root)).toBe(false);
    }
  });

  test.each(VERIFY_ONLY)('size %d: the RFC proof verifies (stored indexes out of range for proving)', async (size) => {
    for (const index of indexesFor(size)) {
      const t = virtualTree((lo, hi) => lo <= index && index < hi);
      const root = t.mth(0, size);
      const proof = refPath(t, index, 0, size);
      expect(proof.length).toBeGreaterThanOrEqual(52);
      const leaf = t.mth(index, index + 1);
      expect(verifyInclusion(leaf, index, size, proof, root)).toBe(true);
      expect(verifyInclusion(leaf, index, size, [...proof.slice(0, -1), flipBit(proof[proof.length - 1]!, 3)], root)).toBe(false);
      expect(verifyInclusion(leaf, index, size, proof.slice(0, -1), root)).toBe(false);
    }
    // Proving needs stored-hash indexes up to about 2 · size: beyond the safe range.
    const t = virtualTree(() => false);
    await expect(proveInclusion(size, 0, virtualReader(t, size))).rejects.toThrow(RangeError);
  });
});

describe('consistency in huge trees', () => {
  const pairs: Array<[number, number]> = [
    [1, 2 ** 32],
    [2 ** 32 - 1, 2 ** 32],
    [2 ** 32, 2 ** 32 + 1],
    [2 ** 31 + 7, 2 ** 33 + 5],
    [2 ** 32, 2 ** 40 + 7],
    [2 ** 40 - 1, 2 ** 40 + 12_345],
    [12_345, 2 ** 52 - 3],
    [2 ** 52 - 4, 2 ** 52],
  ];

  test.each(pairs)('%d -> %d: proveConsistency matches the RFC recursion, and verifies', async (m, n) => {
    const t = virtualTree((lo, hi) => lo < m && m < hi);
    const oldRoot = t.mth(0, m);
    const newRoot = t.mth(0, n);
    const reader = virtualReader(t, n);
    expect(hex(await treeHash(m, reader))).toBe(hex(oldRoot));
    const proof = await proveConsistency(m, n, reader);
    expect(proof.map(hex)).toEqual(refProof(t, m, n).map(hex));
    expect(verifyConsistency(m, n, oldRoot, newRoot, proof)).toBe(true);
    for (let j = 0; j < proof.length; j++) {
      const bad = proof.slice();
      bad[j] = flipBit(proof[j]!, (j * 53 + 1) % 256);
      expect(verifyConsistency(m, n, oldRoot, newRoot, bad)).toBe(false);
    }
    expect(verifyConsistency(m, n, oldRoot, newRoot, proof.slice(0, -1))).toBe(false);
    expect(verifyConsistency(m, n, oldRoot, newRoot, [...proof, newRoot])).toBe(false);
    expect(verifyConsistency(m, n, newRoot, oldRoot, proof)).toBe(false);
  });

  test.each([
    [2 ** 53 - 2, MAX],
    [2 ** 52 + 1, MAX],
    [3, MAX],
    [2 ** 40, 2 ** 53 - 2],
  ])('%d -> %d: the RFC proof verifies at the top of the safe range', (m, n) => {
    const t = virtualTree((lo, hi) => lo < m && m < hi);
    const oldRoot = t.mth(0, m);
    const newRoot = t.mth(0, n);
    const proof = refProof(t, m, n);
    expect(verifyConsistency(m, n, oldRoot, newRoot, proof)).toBe(true);
    expect(verifyConsistency(m, n, oldRoot, newRoot, proof.slice(1))).toBe(false);
    expect(verifyConsistency(m, n, oldRoot, flipBit(newRoot, 200), proof)).toBe(false);
  });
});
