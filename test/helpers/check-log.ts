// A whole-log invariant check from the outside (Sunlight style): every entry,
// every tile and the signed heads must agree with each other.
import { leafHash } from '../../src/merkle/hash.js';
import { CompactRange } from '../../src/merkle/range.js';
import { verifyInclusion } from '../../src/merkle/proof.js';
import type { Log } from '../../src/log/log.js';
import { openCheckpoint } from '../../src/note/checkpoint.js';
import type { Verifier } from '../../src/note/keys.js';
import { verifyTreeHead } from '../../src/note/sth.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export async function checkLog(log: Log, verifier: Verifier): Promise<void> {
  const head = log.latest();
  const { checkpoint } = openCheckpoint(head.checkpoint, verifier);
  expect(checkpoint.treeSize).toBe(head.treeSize);
  const sth = verifyTreeHead(head.sth, verifier);
  expect(sth).not.toBeNull();
  expect(sth!.treeSize).toBe(head.treeSize);
  expect(hex(sth!.rootHash)).toBe(hex(checkpoint.rootHash));

  const range = CompactRange.empty();
  const leaves: Uint8Array[] = [];
  for (let start = 0; start < head.treeSize; start += 1000) {
    for (const entry of await log.entries(start, start + 999)) {
      const h = leafHash(entry);
      leaves.push(h);
      range.append(h);
    }
  }
  expect(leaves.length).toBe(head.treeSize);
  expect(hex(range.root())).toBe(hex(checkpoint.rootHash));

  // Every level-0 tile is the leaf hashes; dedup index finds each leaf.
  for (let n = 0; n * 256 < head.treeSize; n++) {
    const width = Math.min(256, head.treeSize - n * 256);
    const tile = await log.tile(0, n, width);
    expect(hex(tile)).toBe(leaves.slice(n * 256, n * 256 + width).map(hex).join(''));
  }
  // A sample of inclusion proofs against the head.
  const step = Math.max(1, Math.floor(head.treeSize / 50));
  for (let i = 0; i < head.treeSize; i += step) {
    expect(await log.findLeaf(leaves[i]!)).toBe(i);
    const proof = await log.inclusionProof(i, head.treeSize);
    expect(verifyInclusion(leaves[i]!, i, head.treeSize, proof, checkpoint.rootHash)).toBe(true);
  }
}
