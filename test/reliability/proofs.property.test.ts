// Property-based tests (fast-check) of the proof verifiers and receipt
// checks against mutated proofs (issue 6 "Hostile input"): a genuine proof
// verifies; flipping any bit, dropping, adding, swapping or replacing a
// hash, or claiming another leaf or root, makes it fail, with `false`
// rather than an exception.
import fc from 'fast-check';
import { checkReceipt } from '../../src/client/receipt.js';
import { leafHash } from '../../src/merkle/hash.js';
import { proveConsistency, proveInclusion, verifyConsistency, verifyInclusion } from '../../src/merkle/proof.js';
import { buildStoredHashes, memoryHashReader } from '../../src/merkle/reader.js';
import { CompactRange } from '../../src/merkle/range.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { formatCheckpoint } from '../../src/note/checkpoint.js';
import { signNote } from '../../src/note/note.js';
import { testSigner, testVerifier } from '../helpers/keys.js';

const MAX = 300;
const entries = Array.from({ length: MAX }, (_, i) => new TextEncoder().encode(`leaf ${i}`));
const leaves = entries.map(leafHash);
const reader = memoryHashReader(buildStoredHashes(entries));
const roots: Uint8Array[] = [new Uint8Array(32)];
{
  const range = CompactRange.empty();
  for (const leaf of leaves) {
    range.append(leaf);
    roots.push(range.root());
  }
}

/** A way to damage a proof; each returns a proof that must not verify (or undefined when it does not apply). */
type Damage = (proof: Uint8Array[], pick: number, bit: number) => Uint8Array[] | undefined;
const DAMAGES: Record<string, Damage> = {
  'flip a bit': (p, pick, bit) => {
    if (p.length === 0) return undefined;
    const out = p.map((h) => h.slice());
    const h = out[pick % out.length]!;
    h[Math.floor(bit / 8) % 32] = h[Math.floor(bit / 8) % 32]! ^ (1 << bit % 8); // a byte, not an index
    return out;
  },
  'drop a hash': (p, pick) => (p.length === 0 ? undefined : p.filter((_, i) => i !== pick % p.length)),
  'add a hash': (p, pick) => [...p.slice(0, pick % (p.length + 1)), leaves[pick % MAX]!, ...p.slice(pick % (p.length + 1))],
  'duplicate a hash': (p, pick) => (p.length === 0 ? undefined : [...p, p[pick % p.length]!]),
  'swap two hashes': (p, pick) => {
    if (p.length < 2) return undefined;
    const a = pick % p.length;
    const b = (a + 1) % p.length;
    if (Buffer.from(p[a]!).equals(Buffer.from(p[b]!))) return undefined;
    const out = [...p];
    [out[a], out[b]] = [out[b]!, out[a]!];
    return out;
  },
  'replace a hash': (p, pick, bit) => {
    const replacement = leaves[(bit + 7) % MAX]!;
    // Replacing a sibling leaf hash with itself is no damage.
    if (p.length === 0 || Buffer.from(p[pick % p.length]!).equals(Buffer.from(replacement))) return undefined;
    return p.map((h, i) => (i === pick % p.length ? replacement : h));
  },
  'reverse': (p) => (p.length < 2 ? undefined : [...p].reverse()),
  'empty': (p) => (p.length === 0 ? undefined : []),
};

const damage = fc.tuple(fc.constantFrom(...Object.keys(DAMAGES)), fc.nat(), fc.nat(255));
const sizeAndIndex = fc.integer({ min: 1, max: MAX }).chain((size) => fc.tuple(fc.constant(size), fc.nat(size - 1)));

test('inclusion proofs: genuine ones verify, damaged ones do not', async () => {
  await fc.assert(
    fc.asyncProperty(sizeAndIndex, damage, async ([size, index], [name, pick, bit]) => {
      const proof = await proveInclusion(size, index, reader);
      expect(verifyInclusion(leaves[index]!, index, size, proof, roots[size]!)).toBe(true);
      const bad = DAMAGES[name]!(proof, pick, bit);
      fc.pre(bad !== undefined && bad !== proof);
      expect(verifyInclusion(leaves[index]!, index, size, bad!, roots[size]!)).toBe(false);
    }),
    { numRuns: 1500 },
  );
});

test('inclusion proofs do not prove another leaf, another index, or against another root', async () => {
  await fc.assert(
    fc.asyncProperty(sizeAndIndex, fc.nat(MAX - 1), async ([size, index], other) => {
      const proof = await proveInclusion(size, index, reader);
      fc.pre(other !== index);
      expect(verifyInclusion(leaves[other]!, index, size, proof, roots[size]!)).toBe(false);
      if (other < size) expect(verifyInclusion(leaves[index]!, other, size, proof, roots[size]!)).toBe(false);
      if (other + 1 !== size) expect(verifyInclusion(leaves[index]!, index, size, proof, roots[other + 1]!)).toBe(false);
      expect(verifyInclusion(leaves[index]!, index + size, size, proof, roots[size]!)).toBe(false);
    }),
    { numRuns: 800 },
  );
});

test('consistency proofs: genuine ones verify, damaged or mismatched ones do not', async () => {
  const sizes = fc.integer({ min: 1, max: MAX }).chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n)));
  await fc.assert(
    fc.asyncProperty(sizes, damage, fc.integer({ min: 1, max: MAX }), async ([m, n], [name, pick, bit], other) => {
      const proof = await proveConsistency(m, n, reader);
      expect(verifyConsistency(m, n, roots[m]!, roots[n]!, proof)).toBe(true);
      const bad = DAMAGES[name]!(proof, pick, bit);
      if (bad !== undefined) expect(verifyConsistency(m, n, roots[m]!, roots[n]!, bad)).toBe(false);
      if (other !== m) expect(verifyConsistency(m, n, roots[other]!, roots[n]!, proof)).toBe(false);
      if (other !== n) expect(verifyConsistency(m, n, roots[m]!, roots[other]!, proof)).toBe(false);
      if (m !== n) expect(verifyConsistency(n, m, roots[n]!, roots[m]!, proof)).toBe(false);
    }),
    { numRuns: 1500 },
  );
});

test('verifiers answer false, not an exception, for well-typed garbage', () => {
  const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });
  fc.assert(
    fc.property(hash, fc.nat(2 ** 40), fc.nat(2 ** 40), fc.array(hash, { maxLength: 70 }), hash, (leaf, a, b, proof, root) => {
      expect(verifyInclusion(leaf, a, b, proof, root)).toBe(false);
      expect(verifyConsistency(a, b, leaf, root, proof)).toBe(false);
    }),
    { numRuns: 1000 },
  );
});

describe('receipts', () => {
  async function receiptFor(size: number, index: number) {
    const note = signNote(formatCheckpoint({ origin: testSigner.name, treeSize: size, rootHash: roots[size]!, extensions: [] }), [testSigner]);
    const proof = await proveInclusion(size, index, reader);
    return { index, leaf_hash: encodeBase64(leaves[index]!), checkpoint: note, inclusion_proof: proof.map(encodeBase64), duplicate: false };
  }

  test('a genuine receipt checks; a damaged proof, index, leaf hash, entry or checkpoint does not', async () => {
    const field = fc.constantFrom('proof', 'index', 'leaf_hash', 'entry', 'checkpoint', 'checkpoint size');
    await fc.assert(
      fc.asyncProperty(sizeAndIndex, damage, field, fc.nat(MAX - 1), async ([size, index], [name, pick, bit], what, other) => {
        const receipt = await receiptFor(size, index);
        expect(checkReceipt(receipt, entries[index]!, testVerifier)).toMatchObject({ valid: true, index });
        // Whether the submitter was told it was a duplicate is not signed: it does not change the check.
        expect(checkReceipt({ ...receipt, duplicate: true }, entries[index]!, testVerifier).valid).toBe(true);
        let forged: Record<string, unknown> = receipt;
        let entry = entries[index]!;
        switch (what) {
          case 'proof': {
            const bad = DAMAGES[name]!((await proveInclusion(size, index, reader)).slice(), pick, bit);
            fc.pre(bad !== undefined);
            forged = { ...receipt, inclusion_proof: bad!.map(encodeBase64) };
            break;
          }
          case 'index':
            fc.pre(other !== index);
            forged = { ...receipt, index: other };
            break;
          case 'leaf_hash':
            fc.pre(other !== index);
            forged = { ...receipt, leaf_hash: encodeBase64(leaves[other]!) };
            break;
          case 'entry':
            fc.pre(other !== index);
            entry = entries[other]!;
            break;
          case 'checkpoint': {
            const note = receipt.checkpoint;
            const at = pick % note.length;
            const changed = note.slice(0, at) + (note[at] === 'A' ? 'B' : 'A') + note.slice(at + 1);
            forged = { ...receipt, checkpoint: changed };
            break;
          }
          default: {
            // A checkpoint honestly signed for another size does not carry this proof.
            fc.pre(other + 1 !== size);
            forged = { ...receipt, checkpoint: (await receiptFor(other + 1, 0)).checkpoint };
          }
        }
        const result = checkReceipt(forged, entry, testVerifier);
        expect(result.valid).toBe(false);
        if (!result.valid) expect(typeof result.reason).toBe('string');
      }),
      { numRuns: 400 },
    );
  });
});
