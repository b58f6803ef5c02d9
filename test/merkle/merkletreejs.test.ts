// An independent implementation as a cross-check: merkletreejs configured as
// an RFC 6962 tree.
//
// How merkletreejs 0.6 builds its tree (MerkleTree.createHashes): level by
// level it hashes pairs with hashFn(concatenator([left, right])), and with
// duplicateOdd false (and not a Bitcoin tree) it pushes a lone last node up to
// the next level unchanged. RFC 6962 §2.1 splits n leaves at the largest power
// of two k < n; carrying the odd node up level by level builds exactly that
// tree (the left 2^j-aligned blocks pair up completely, the ragged right edge
// is only ever paired once its own subtree is complete). So with leaves
// pre-hashed as SHA-256(0x00 || entry) (hashLeaves false), a concatenator that
// prepends 0x01, sortPairs/sortLeaves off, roots agree for every size ≥ 1, and
// getProof's sibling list (which skips levels where the node had no sibling)
// is the RFC audit path. (It has no notion of the empty tree, so size 0 is
// not compared.)
import { createHash } from 'node:crypto';
import { MerkleTree } from 'merkletreejs';
import { buildStoredHashesFromLeafHashes, memoryHashReader, proveInclusion, treeHash, verifyInclusion } from '../../src/merkle/index.js';
import { hex, prng } from './helpers.js';

const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();
const leafOf = (i: number): Buffer => sha256(Buffer.concat([Buffer.of(0), Buffer.from(`mtjs entry ${i}`)]));

function rfc6962Tree(leaves: Buffer[]): MerkleTree {
  return new MerkleTree(leaves, sha256, {
    hashLeaves: false,
    sortLeaves: false,
    sortPairs: false,
    sort: false,
    duplicateOdd: false,
    isBitcoinTree: false,
    complete: false,
    concatenator: (parts: Buffer[]) => Buffer.concat([Buffer.of(1), ...parts]),
  });
}

const MAX = 3000;
const allLeaves = Array.from({ length: MAX }, (_, i) => leafOf(i));
const stored = buildStoredHashesFromLeafHashes(allLeaves.map((b) => new Uint8Array(b)));
const reader = memoryHashReader(stored);

const rand = prng(6962);
const sizes = [1, 2, 3, 5, 7, 8, 9, 255, 256, 257, MAX];
while (sizes.length < 22) sizes.push(1 + Math.floor(rand() * MAX));

describe('agreement with merkletreejs (RFC 6962 configuration)', () => {
  test.each(sizes)('size %d: same root, same audit paths', async (size) => {
    const tree = rfc6962Tree(allLeaves.slice(0, size));
    const root = new Uint8Array(tree.getRoot());
    expect(root).toHaveLength(32);
    expect(hex(await treeHash(size, reader))).toBe(hex(root));

    const picks = new Set([0, size - 1, Math.floor(size / 2), Math.floor(rand() * size), Math.floor(rand() * size)]);
    for (const index of picks) {
      const theirs = tree.getProof(allLeaves[index]!, index).map((p) => hex(p.data));
      const ours = await proveInclusion(size, index, reader);
      expect(ours.map(hex)).toEqual(theirs);
      expect(verifyInclusion(new Uint8Array(allLeaves[index]!), index, size, ours, root)).toBe(true);
      expect(tree.verify(tree.getProof(allLeaves[index]!, index), allLeaves[index]!, tree.getRoot())).toBe(true);
    }
  });

  test('a different configuration (duplicated odd node) disagrees, so the check has teeth', async () => {
    const leaves = allLeaves.slice(0, 5);
    const dup = new MerkleTree(leaves, sha256, {
      duplicateOdd: true,
      concatenator: (parts: Buffer[]) => Buffer.concat([Buffer.of(1), ...parts]),
    });
    expect(hex(new Uint8Array(dup.getRoot()))).not.toBe(hex(await treeHash(5, reader)));
  });
});
