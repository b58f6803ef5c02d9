import { buildStoredHashes, memoryHashReader, type HashReader } from '../../src/merkle/reader.js';
import { proveConsistency, proveInclusion } from '../../src/merkle/proof.js';
import type { SubtreeMemo } from '../../src/merkle/tree.js';
import { BoundedSubtreeMemo } from '../../src/log/subtree-memo.js';

const entries = Array.from({ length: 1100 }, (_, i) => new TextEncoder().encode(`leaf ${i}`));
const stored = buildStoredHashes(entries);
const hex = (hs: Uint8Array[]) => hs.map((h) => Buffer.from(h).toString('hex'));

/** A memory reader that counts the hashes asked of it. */
function countingReader(): HashReader & { asked: number } {
  const inner = memoryHashReader(stored);
  const reader = {
    asked: 0,
    readHashes(indexes: readonly number[]) {
      reader.asked += indexes.length;
      return inner.readHashes(indexes);
    },
  };
  return reader;
}

const sizes = [1, 2, 3, 5, 7, 100, 255, 256, 257, 1000, 1023, 1025, 1100];

test('inclusion proofs with a shared memo equal proofs without one, and read fewer hashes', async () => {
  const memo = new BoundedSubtreeMemo();
  const plain = countingReader();
  const memoed = countingReader();
  for (const treeSize of sizes) {
    for (const index of [0, 1, Math.floor(treeSize / 3), treeSize - 2, treeSize - 1]) {
      if (index < 0 || index >= treeSize) continue;
      for (let again = 0; again < 2; again++) {
        const want = hex(await proveInclusion(treeSize, index, plain));
        expect({ treeSize, index, got: hex(await proveInclusion(treeSize, index, memoed, memo)) }).toEqual({ treeSize, index, got: want });
      }
    }
  }
  expect(memo.size).toBeGreaterThan(0);
  expect(memoed.asked).toBeLessThan(plain.asked);
});

test('consistency proofs with a shared memo equal proofs without one', async () => {
  const memo = new BoundedSubtreeMemo(8); // small: it fills and starts over on the way
  const reader = memoryHashReader(stored);
  for (const second of sizes) {
    for (const first of sizes) {
      if (first > second) continue;
      for (let again = 0; again < 2; again++) {
        const want = hex(await proveConsistency(first, second, reader));
        expect({ first, second, got: hex(await proveConsistency(first, second, reader, memo)) }).toEqual({ first, second, got: want });
      }
    }
  }
  expect(memo.size).toBeLessThanOrEqual(8);
});

test('hashes from the memo are used, and a memo emptied during the read does not derail a proof', async () => {
  const warm = new BoundedSubtreeMemo();
  await proveInclusion(1100, 5, memoryHashReader(stored), warm);
  // The same proof on a memo whose entries are wrong: the wrong hash shows
  // up, so the proof took it from the memo rather than recomputing it.
  const poisoned: SubtreeMemo = { get: (lo, hi) => (warm.get(lo, hi) === undefined ? undefined : new Uint8Array(32)), set: () => undefined };
  const proof = hex(await proveInclusion(1100, 5, memoryHashReader(stored), poisoned));
  expect(proof).toContain('00'.repeat(32));

  // A memo that forgets everything while the proof waits for its hashes:
  // the second pass must still use what the first pass found in it.
  const memo = new BoundedSubtreeMemo();
  await proveInclusion(1100, 7, memoryHashReader(stored), memo);
  const remembered = memo.get(1024, 1100);
  expect(remembered).toBeDefined();
  const inner = memoryHashReader(stored);
  const clearing: HashReader = {
    readHashes(indexes) {
      memo.clear();
      return inner.readHashes(indexes);
    },
  };
  const want = hex(await proveInclusion(1100, 9, memoryHashReader(stored)));
  expect(hex(await proveInclusion(1100, 9, clearing, memo))).toEqual(want);
  expect(memo.get(1024, 1100)).toBeUndefined();
});

test('the bounded memo rejects a useless capacity', () => {
  expect(() => new BoundedSubtreeMemo(0)).toThrow(RangeError);
  expect(() => new BoundedSubtreeMemo(1.5)).toThrow(RangeError);
});

test('the bounded memo counts each range once and starts over when full', () => {
  const memo = new BoundedSubtreeMemo(3);
  const h = (b: number) => new Uint8Array(32).fill(b);
  memo.set(0, 3, h(1));
  memo.set(0, 3, h(2)); // the same range again: still one
  memo.set(1, 3, h(3)); // same end, another start
  expect(memo.size).toBe(2);
  expect(memo.get(0, 3)).toEqual(h(2));
  expect(memo.get(1, 3)).toEqual(h(3));
  expect(memo.get(0, 5)).toBeUndefined();
  memo.set(4, 7, h(4));
  expect(memo.size).toBe(3);
  memo.set(8, 11, h(5)); // full: forgets the rest first
  expect(memo.size).toBe(1);
  expect(memo.get(0, 3)).toBeUndefined();
  expect(memo.get(8, 11)).toEqual(h(5));
  memo.clear();
  expect(memo.size).toBe(0);
  expect(memo.get(8, 11)).toBeUndefined();
});
