// Shared by the merkle tests: vector loading, hex, a seeded PRNG, and a
// reference RFC 6962 §2.1 implementation written straight from the RFC's
// recursive definitions (MTH, PATH, SUBPROOF) over arbitrary ranges, so the
// tests never check the code under test against itself.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface InclusionVector {
  index: number;
  tree_size: number;
  leaf_hash: string;
  root: string;
  path: string[];
}

export interface ConsistencyVector {
  first: number;
  second: number;
  first_root: string;
  second_root: string;
  proof: string[];
}

export interface TreeVectors {
  description: string;
  leaves_hex: string[];
  roots: Record<string, string>;
  inclusion: InclusionVector[];
  consistency: ConsistencyVector[];
}

export function loadJson<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8')) as T;
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Deterministic PRNG (mulberry32), so failures reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// --- reference RFC 6962, independent of src/merkle (node:crypto directly) ---

export function refSha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function refLeafHash(entry: Uint8Array): Uint8Array {
  return refSha256(Uint8Array.of(0), entry);
}

export function refNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return refSha256(Uint8Array.of(1), left, right);
}

/** The largest power of two strictly less than n (n >= 2), RFC 6962 §2.1's k. */
export function refSplit(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * A tree over leaves [0, size) given by `mth(lo, hi)`, the Merkle Tree Hash
 * of D[lo:hi] for 0 <= lo < hi.
 */
export interface RefTree {
  mth(lo: number, hi: number): Uint8Array;
}

/** A reference tree over explicit leaf hashes, memoized. */
export function refTree(leafHashes: readonly Uint8Array[]): RefTree {
  const memo = new Map<string, Uint8Array>();
  const mth = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return leafHashes[lo]!;
    const key = `${lo},${hi}`;
    let h = memo.get(key);
    if (h === undefined) {
      const k = refSplit(hi - lo);
      h = refNodeHash(mth(lo, lo + k), mth(lo + k, hi));
      memo.set(key, h);
    }
    return h;
  };
  return { mth };
}

function isPow2(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

/**
 * A "virtual" reference tree of any size up to 2^53: perfect subtrees for
 * which `interesting(lo, hi)` is false get an opaque pseudo-random hash, all
 * other ranges are hashed per RFC 6962 from their halves. Any proof only
 * looks inside the interesting ranges, so this gives real roots and proofs
 * for trees far too large to build.
 */
export function virtualTree(interesting: (lo: number, hi: number) => boolean): RefTree {
  const memo = new Map<string, Uint8Array>();
  const mth = (lo: number, hi: number): Uint8Array => {
    const key = `${lo},${hi}`;
    let h = memo.get(key);
    if (h !== undefined) return h;
    if (hi - lo === 1) {
      h = refLeafHash(utf8(`leaf ${lo}`));
    } else if (isPow2(hi - lo) && !interesting(lo, hi)) {
      h = refSha256(utf8(`opaque ${lo} ${hi}`));
    } else {
      const k = refSplit(hi - lo);
      h = refNodeHash(mth(lo, lo + k), mth(lo + k, hi));
    }
    memo.set(key, h);
    return h;
  };
  return { mth };
}

/** RFC 6962 §2.1.1 PATH(m, D[lo:hi]), bottom-up; m is absolute. */
export function refPath(t: RefTree, m: number, lo: number, hi: number): Uint8Array[] {
  if (hi - lo === 1) return [];
  const k = refSplit(hi - lo);
  if (m < lo + k) return [...refPath(t, m, lo, lo + k), t.mth(lo + k, hi)];
  return [...refPath(t, m, lo + k, hi), t.mth(lo, lo + k)];
}

/** RFC 6962 §2.1.2 SUBPROOF(m, D[lo:hi], b); m is absolute. */
export function refSubproof(t: RefTree, m: number, lo: number, hi: number, b: boolean): Uint8Array[] {
  if (m === hi) return b ? [] : [t.mth(lo, hi)];
  const k = refSplit(hi - lo);
  if (m <= lo + k) return [...refSubproof(t, m, lo, lo + k, b), t.mth(lo + k, hi)];
  return [...refSubproof(t, m, lo + k, hi, false), t.mth(lo, lo + k)];
}

/** RFC 6962 §2.1.2 PROOF(m, D[0:n]). */
export function refProof(t: RefTree, m: number, n: number): Uint8Array[] {
  return refSubproof(t, m, 0, n, true);
}

/** A copy of `h` with bit `bit` (0..255) flipped. */
export function flipBit(h: Uint8Array, bit: number): Uint8Array {
  const out = h.slice();
  const i = Math.floor(bit / 8);
  out[i] = out[i]! ^ (1 << bit % 8);
  return out;
}
