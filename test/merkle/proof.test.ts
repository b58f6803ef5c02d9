// Exhaustive proofs for every tree size 1..128 against the RFC 6962 reference
// recursion in helpers.ts, with every kind of corruption, and the error policy.
import {
  type HashReader,
  buildStoredHashesFromLeafHashes,
  memoryHashReader,
  proveConsistency,
  proveInclusion,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from '../../src/merkle/index.js';
import { type RefTree, flipBit, hex, prng, refLeafHash, refPath, refProof, refSha256, refTree, utf8 } from './helpers.js';

const N = 128;
const leafHashes = Array.from({ length: N }, (_, i) => refLeafHash(utf8(`leaf ${i}`)));
const ref: RefTree = refTree(leafHashes);
const reader = memoryHashReader(buildStoredHashesFromLeafHashes(leafHashes));
const root = (size: number): Uint8Array => (size === 0 ? refSha256(new Uint8Array(0)) : ref.mth(0, size));
const junk = refLeafHash(utf8('junk'));

/** Bits to flip in hash j of a proof: all 256 for small trees, else a few that move around. */
function bitsToFlip(size: number, i: number, j: number): number[] {
  if (size <= 16) return Array.from({ length: 256 }, (_, b) => b);
  const s = (size * 31 + i * 7 + j * 13) % 256;
  return [s, (s + 101) % 256, 255 - s];
}

/** Proof variants of the wrong length or order, which must all fail. */
function reshaped(proof: readonly Uint8Array[]): Uint8Array[][] {
  const out: Uint8Array[][] = [[...proof, junk], [junk, ...proof], [...proof, proof[0] ?? junk]];
  if (proof.length > 0) {
    out.push(proof.slice(1), proof.slice(0, -1));
    if (proof.length > 1) out.push(proof.slice(0, 1).concat(proof.slice(2))); // one missing from the middle
  }
  for (let j = 0; j + 1 < proof.length; j++) {
    if (hex(proof[j]!) === hex(proof[j + 1]!)) continue;
    const swapped = proof.slice();
    [swapped[j], swapped[j + 1]] = [swapped[j + 1]!, swapped[j]!];
    out.push(swapped);
  }
  return out;
}

describe('inclusion proofs, every leaf of every size 1..128', () => {
  test('generated proofs equal RFC 6962 PATH and verify', async () => {
    for (let size = 1; size <= N; size++) {
      for (let i = 0; i < size; i++) {
        const proof = await proveInclusion(size, i, reader);
        expect(proof.map(hex)).toEqual(refPath(ref, i, 0, size).map(hex));
        expect(verifyInclusion(leafHashes[i]!, i, size, proof, root(size))).toBe(true);
        expect(hex(rootFromInclusionProof(leafHashes[i]!, i, size, proof))).toBe(hex(root(size)));
      }
    }
  });

  test('flipping a bit of any proof hash, the leaf or the root fails', async () => {
    let checked = 0;
    for (let size = 1; size <= N; size++) {
      const r = root(size);
      for (let i = 0; i < size; i++) {
        const proof = await proveInclusion(size, i, reader);
        const leaf = leafHashes[i]!;
        for (let j = 0; j < proof.length; j++) {
          for (const bit of bitsToFlip(size, i, j)) {
            const bad = proof.slice();
            bad[j] = flipBit(proof[j]!, bit);
            if (verifyInclusion(leaf, i, size, bad, r)) throw new Error(`accepted size ${size} index ${i} hash ${j} bit ${bit}`);
            checked++;
          }
        }
        const bit = (size + i) % 256;
        expect(verifyInclusion(flipBit(leaf, bit), i, size, proof, r)).toBe(false);
        expect(verifyInclusion(leaf, i, size, proof, flipBit(r, bit))).toBe(false);
      }
    }
    expect(checked).toBeGreaterThan(50_000);
  });

  test('a wrong index, a wrong size (with its own root), or a reshaped proof fails', async () => {
    const accepted: string[] = [];
    let checked = 0;
    const mustFail = (ok: boolean, what: string): void => {
      checked++;
      if (ok) accepted.push(what);
    };
    for (let size = 1; size <= N; size++) {
      for (let i = 0; i < size; i++) {
        const proof = await proveInclusion(size, i, reader);
        const leaf = leafHashes[i]!;
        for (const j of [i - 1, i + 1, i + 2, size - 1 - i, size, size + 1, 2 * size]) {
          if (j < 0 || j === i) continue;
          mustFail(verifyInclusion(leaf, j, size, proof, root(size)), `size ${size} index ${i} as index ${j}`);
        }
        for (const s of [size - 1, size + 1, 2 * size]) {
          if (s <= i || s > N) continue;
          mustFail(verifyInclusion(leaf, i, s, proof, root(s)), `size ${size} index ${i} as size ${s}`);
        }
        reshaped(proof).forEach((bad, k) => {
          mustFail(verifyInclusion(leaf, i, size, bad, root(size)), `size ${size} index ${i} reshaped #${k}`);
        });
        // Another leaf's hash with this leaf's proof.
        mustFail(verifyInclusion(leafHashes[(i + 1) % N]!, i, size, proof, root(size)), `size ${size} index ${i} other leaf`);
      }
    }
    expect(accepted).toEqual([]);
    expect(checked).toBeGreaterThan(80_000);
  });
});

describe('consistency proofs, every pair 1 <= m <= n <= 128', () => {
  test('generated proofs equal RFC 6962 PROOF and verify', async () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = await proveConsistency(m, n, reader);
        expect(proof.map(hex)).toEqual(refProof(ref, m, n).map(hex));
        expect(verifyConsistency(m, n, root(m), root(n), proof)).toBe(true);
      }
    }
  });

  test('flipping a bit of any proof hash or either root fails', async () => {
    let checked = 0;
    for (let n = 1; n <= N; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = await proveConsistency(m, n, reader);
        for (let j = 0; j < proof.length; j++) {
          for (const bit of bitsToFlip(n, m, j)) {
            const bad = proof.slice();
            bad[j] = flipBit(proof[j]!, bit);
            if (verifyConsistency(m, n, root(m), root(n), bad)) throw new Error(`accepted ${m}->${n} hash ${j} bit ${bit}`);
            checked++;
          }
        }
        const bit = (m * 3 + n) % 256;
        expect(verifyConsistency(m, n, flipBit(root(m), bit), root(n), proof)).toBe(false);
        expect(verifyConsistency(m, n, root(m), flipBit(root(n), bit), proof)).toBe(false);
      }
    }
    expect(checked).toBeGreaterThan(50_000);
  });

  test('wrong sizes (with their own roots), swapped roots, or a reshaped proof fail', async () => {
    const accepted: string[] = [];
    let checked = 0;
    const mustFail = (ok: boolean, what: string): void => {
      checked++;
      if (ok) accepted.push(what);
    };
    for (let n = 1; n <= N; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = await proveConsistency(m, n, reader);
        for (const [a, b] of [
          [m - 1, n],
          [m + 1, n],
          [m, n - 1],
          [m, n + 1],
          [n, m],
          [m + 1, n + 1],
        ] as const) {
          if (a < 1 || a > N || b < 0 || b > N || (a === m && b === n)) continue;
          if (a === b && proof.length === 0) continue; // m = n: the empty proof is right for any equal pair
          mustFail(verifyConsistency(a, b, root(a), root(b), proof), `${m}->${n} as ${a}->${b}`);
        }
        if (m !== n) {
          mustFail(verifyConsistency(m, n, root(n), root(m), proof), `${m}->${n} roots swapped`);
          mustFail(verifyConsistency(n, m, root(n), root(m), proof), `${m}->${n} reversed`);
        }
        reshaped(proof).forEach((bad, k) => {
          mustFail(verifyConsistency(m, n, root(m), root(n), bad), `${m}->${n} reshaped #${k}`);
        });
      }
    }
    expect(accepted).toEqual([]);
    expect(checked).toBeGreaterThan(80_000);
  });

  test('equal sizes need an empty proof and equal roots; size 0 never verifies', () => {
    expect(verifyConsistency(5, 5, root(5), root(5), [])).toBe(true);
    expect(verifyConsistency(5, 5, root(5), root(6), [])).toBe(false);
    expect(verifyConsistency(5, 5, root(5), root(5), [root(5)])).toBe(false);
    expect(verifyConsistency(0, 5, root(5), root(5), [])).toBe(false);
    expect(verifyConsistency(0, 0, root(5), root(5), [])).toBe(false);
    expect(verifyConsistency(0, 1, root(1), root(1), [root(1)])).toBe(false);
  });
});

describe('proof generation reads once and hands out its own memory', () => {
  test('one readHashes call; the proof does not alias the reader', async () => {
    const stored = buildStoredHashesFromLeafHashes(leafHashes);
    const before = stored.map(hex);
    let calls = 0;
    const shared: HashReader = {
      readHashes(indexes) {
        calls++;
        return Promise.resolve(indexes.map((i) => stored[i]!)); // no copies
      },
    };
    for (const [m, n] of [
      [1, 2],
      [4, 8],
      [37, 100],
      [64, 128],
    ] as const) {
      calls = 0;
      const p = await proveConsistency(m, n, shared);
      expect(calls).toBe(1);
      for (const h of p) h.fill(0);
      calls = 0;
      const q = await proveInclusion(n, m, shared);
      expect(calls).toBe(1);
      for (const h of q) h.fill(0);
    }
    expect(stored.map(hex)).toEqual(before);
  });

  test('a reader breaking its contract makes the proof reject', async () => {
    const short: HashReader = { readHashes: (ix) => reader.readHashes(ix.slice(1)) };
    await expect(proveInclusion(100, 5, short)).rejects.toThrow(/HashReader returned/);
    const wrongSize: HashReader = { readHashes: async (ix) => ix.map(() => new Uint8Array(31)) };
    await expect(proveConsistency(3, 100, wrongSize)).rejects.toThrow(/32-byte/);
    const failing: HashReader = { readHashes: () => Promise.reject(new Error('disk on fire')) };
    await expect(proveInclusion(100, 5, failing)).rejects.toThrow('disk on fire');
    // The in-memory reader rejects for hashes it does not have.
    const tiny = memoryHashReader(buildStoredHashesFromLeafHashes(leafHashes.slice(0, 3)));
    await expect(proveInclusion(10, 5, tiny)).rejects.toThrow(RangeError);
    await expect(tiny.readHashes([0, 99])).rejects.toThrow(RangeError);
    await expect(tiny.readHashes([-1])).rejects.toThrow(RangeError);
  });
});

describe('error policy for malformed input', () => {
  const leaf = leafHashes[3]!;
  const r = root(10);
  const goodProof = refPath(ref, 3, 0, 10);
  const goodCons = refProof(ref, 3, 10);
  const notNumbers = ['3', 3n, null, undefined, {}, [3]] as unknown as number[];
  const badNumbers = [-1, 1.5, NaN, Infinity, 2 ** 53, Number.MAX_VALUE, -0.1];
  const notHashes = ['x'.repeat(32), Array.from(leaf), null, undefined, 42, new Uint16Array(16)] as unknown as Uint8Array[];
  const badLengths = [new Uint8Array(0), new Uint8Array(31), new Uint8Array(33), new Uint8Array(64)];

  test('the good inputs verify (so the rejections below are about the one bad argument)', () => {
    expect(verifyInclusion(leaf, 3, 10, goodProof, r)).toBe(true);
    expect(verifyConsistency(3, 10, root(3), r, goodCons)).toBe(true);
  });

  test('verifyInclusion and rootFromInclusionProof: TypeError, RangeError', () => {
    for (const fn of [
      (a: unknown[]) => verifyInclusion(...(a as Parameters<typeof verifyInclusion>)),
      (a: unknown[]) => rootFromInclusionProof(...(a.slice(0, 4) as Parameters<typeof rootFromInclusionProof>)),
    ]) {
      for (const x of notNumbers) {
        expect(() => fn([leaf, x, 10, goodProof, r])).toThrow(TypeError);
        expect(() => fn([leaf, 3, x, goodProof, r])).toThrow(TypeError);
      }
      for (const x of badNumbers) {
        expect(() => fn([leaf, x, 10, goodProof, r])).toThrow(RangeError);
        expect(() => fn([leaf, 3, x, goodProof, r])).toThrow(RangeError);
      }
      for (const h of notHashes) {
        expect(() => fn([h, 3, 10, goodProof, r])).toThrow(TypeError);
        expect(() => fn([leaf, 3, 10, [goodProof[0], h, ...goodProof.slice(2)], r])).toThrow(TypeError);
      }
      for (const h of badLengths) {
        expect(() => fn([h, 3, 10, goodProof, r])).toThrow(RangeError);
        expect(() => fn([leaf, 3, 10, [...goodProof.slice(0, -1), h], r])).toThrow(RangeError);
      }
      for (const p of [null, undefined, 'proof', goodProof[0], { length: 4 }]) {
        expect(() => fn([leaf, 3, 10, p, r])).toThrow(TypeError);
      }
    }
    for (const h of notHashes) expect(() => verifyInclusion(leaf, 3, 10, goodProof, h)).toThrow(TypeError);
    for (const h of badLengths) expect(() => verifyInclusion(leaf, 3, 10, goodProof, h)).toThrow(RangeError);
  });

  test('well-formed but wrong inclusion proofs: false, or RangeError from rootFromInclusionProof', () => {
    expect(verifyInclusion(leaf, 10, 10, goodProof, r)).toBe(false);
    expect(verifyInclusion(leaf, 3, 0, [], r)).toBe(false);
    expect(verifyInclusion(leaf, 0, 0, [], r)).toBe(false);
    expect(verifyInclusion(leaf, 3, 10, [], r)).toBe(false);
    expect(verifyInclusion(leaf, 3, 10, Array(60).fill(junk), r)).toBe(false);
    expect(verifyInclusion(leaf, 3, Number.MAX_SAFE_INTEGER, goodProof, r)).toBe(false);
    expect(() => rootFromInclusionProof(leaf, 10, 10, goodProof)).toThrow(RangeError);
    expect(() => rootFromInclusionProof(leaf, 3, 10, goodProof.slice(1))).toThrow(RangeError);
    expect(() => rootFromInclusionProof(leaf, 3, 10, [...goodProof, junk])).toThrow(RangeError);
    expect(() => rootFromInclusionProof(leaf, 0, 0, [])).toThrow(RangeError);
    // A one-leaf tree: the root is the leaf hash, returned as a copy.
    const one = rootFromInclusionProof(leaf, 0, 1, []);
    expect(hex(one)).toBe(hex(leaf));
    expect(one).not.toBe(leaf);
  });

  test('verifyConsistency: TypeError, RangeError, false', () => {
    for (const x of notNumbers) {
      expect(() => verifyConsistency(x, 10, root(3), r, goodCons)).toThrow(TypeError);
      expect(() => verifyConsistency(3, x, root(3), r, goodCons)).toThrow(TypeError);
    }
    for (const x of badNumbers) {
      expect(() => verifyConsistency(x, 10, root(3), r, goodCons)).toThrow(RangeError);
      expect(() => verifyConsistency(3, x, root(3), r, goodCons)).toThrow(RangeError);
    }
    for (const h of notHashes) {
      expect(() => verifyConsistency(3, 10, h, r, goodCons)).toThrow(TypeError);
      expect(() => verifyConsistency(3, 10, root(3), h, goodCons)).toThrow(TypeError);
      expect(() => verifyConsistency(3, 10, root(3), r, [h])).toThrow(TypeError);
    }
    for (const h of badLengths) {
      expect(() => verifyConsistency(3, 10, h, r, goodCons)).toThrow(RangeError);
      expect(() => verifyConsistency(3, 10, root(3), h, goodCons)).toThrow(RangeError);
      expect(() => verifyConsistency(3, 10, root(3), r, [...goodCons, h])).toThrow(RangeError);
    }
    for (const p of [null, 'proof', goodCons[0], { length: 1 }]) {
      expect(() => verifyConsistency(3, 10, root(3), r, p as unknown as Uint8Array[])).toThrow(TypeError);
    }
    expect(verifyConsistency(10, 3, r, root(3), goodCons)).toBe(false);
    expect(verifyConsistency(3, 10, root(3), r, [])).toBe(false);
    expect(verifyConsistency(3, 10, root(3), r, Array(60).fill(junk))).toBe(false);
    expect(verifyConsistency(3, Number.MAX_SAFE_INTEGER, root(3), r, goodCons)).toBe(false);
  });

  test('proveInclusion and proveConsistency: TypeError, RangeError', async () => {
    for (const x of notNumbers) {
      await expect(proveInclusion(x, 0, reader)).rejects.toThrow(TypeError);
      await expect(proveInclusion(10, x, reader)).rejects.toThrow(TypeError);
      await expect(proveConsistency(x, 10, reader)).rejects.toThrow(TypeError);
      await expect(proveConsistency(3, x, reader)).rejects.toThrow(TypeError);
    }
    for (const x of badNumbers) {
      await expect(proveInclusion(x, 0, reader)).rejects.toThrow(RangeError);
      await expect(proveInclusion(10, x, reader)).rejects.toThrow(RangeError);
      await expect(proveConsistency(x, 10, reader)).rejects.toThrow(RangeError);
      await expect(proveConsistency(3, x, reader)).rejects.toThrow(RangeError);
    }
    for (const bad of [null, undefined, {}, { readHashes: 1 }, 'reader']) {
      await expect(proveInclusion(10, 3, bad as unknown as HashReader)).rejects.toThrow(TypeError);
      await expect(proveConsistency(3, 10, bad as unknown as HashReader)).rejects.toThrow(TypeError);
    }
    await expect(proveInclusion(10, 10, reader)).rejects.toThrow(RangeError);
    await expect(proveInclusion(0, 0, reader)).rejects.toThrow(RangeError);
    await expect(proveConsistency(0, 10, reader)).rejects.toThrow(RangeError);
    await expect(proveConsistency(0, 0, reader)).rejects.toThrow(RangeError);
    await expect(proveConsistency(11, 10, reader)).rejects.toThrow(RangeError);
    expect(await proveConsistency(10, 10, reader)).toEqual([]);
    expect(await proveInclusion(1, 0, reader)).toEqual([]);
  });

  test('random garbage proofs never verify', () => {
    const rand = prng(99);
    for (let t = 0; t < 2000; t++) {
      const size = 1 + Math.floor(rand() * N);
      const i = Math.floor(rand() * size);
      const len = Math.floor(rand() * 9);
      const proof = Array.from({ length: len }, () => refLeafHash(utf8(`g${t} ${rand()}`)));
      if (size === 1 && len === 0) continue; // the one-leaf tree's proof is empty: that one is right
      expect(verifyInclusion(leafHashes[i]!, i, size, proof, root(size))).toBe(false);
      const m = 1 + Math.floor(rand() * size);
      if (m === size && len === 0) continue;
      expect(verifyConsistency(m, size, root(m), root(size), proof)).toBe(false);
    }
  });
});
