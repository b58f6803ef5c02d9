// RoundProofs (the receipts of a round, from its own tiles) against the
// reference PATH of RFC 6962 §2.1.1 written from the RFC's definitions.
import { RoundProofs } from '../../src/log/round-proofs.js';
import { TreeBuilder } from '../../src/log/tree-builder.js';
import { hex, prng, refLeafHash, refPath, refTree, utf8 } from '../merkle/helpers.js';

/**
 * Appends `sizes` as rounds; after each, checks the proofs of the new leaves
 * (all of them in small rounds, the first and last 300 and every 61st in
 * large ones) against the reference.
 */
function checkRounds(sizes: readonly number[]): number {
  let builder = TreeBuilder.empty();
  const leaves: Uint8Array[] = [];
  let checked = 0;
  for (const size of sizes) {
    const oldSize = builder.treeSize;
    const hashes = Array.from({ length: size }, (_, i) => refLeafHash(utf8(`entry ${oldSize + i}`)));
    builder = builder.clone();
    const tiles = builder.append(hashes);
    leaves.push(...hashes);
    const tree = refTree(leaves);
    const prover = new RoundProofs(builder.treeSize, oldSize, builder.rightEdge, tiles, hashes);
    for (let i = oldSize; i < builder.treeSize; i++) {
      if (size > 1000 && i - oldSize >= 300 && builder.treeSize - i > 300 && i % 61 !== 0) continue;
      const proof = prover.prove(i);
      expect(proof).toBeDefined();
      expect(proof!.map(hex)).toEqual(refPath(tree, i, 0, builder.treeSize).map(hex));
      checked++;
    }
  }
  return checked;
}

test('every new leaf of every round, for every tree size up to 300, one leaf per round', () => {
  expect(checkRounds(Array.from({ length: 300 }, () => 1))).toBe(300);
});

test('rounds of many sizes, crossing tile and tile-level boundaries (past 65,536 leaves)', () => {
  const random = prng(5);
  const sizes = [255, 1, 256, 3, 4096, 17, 1000, 61000, 2];
  for (let i = 0; i < 10; i++) sizes.push(1 + Math.floor(random() * 700));
  expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(65536);
  expect(checkRounds(sizes)).toBeGreaterThan(5000);
});

test('refuses leaves the round did not add, and says so when a hash is not in its tiles', () => {
  const builder = TreeBuilder.empty();
  const first = builder.append(Array.from({ length: 300 }, (_, i) => refLeafHash(utf8(`a ${i}`))));
  expect(first.length).toBeGreaterThan(0);
  const added = [refLeafHash(utf8('b')), refLeafHash(utf8('c')), refLeafHash(utf8('d')), refLeafHash(utf8('e'))];
  const tiles = builder.append(added);
  const prover = new RoundProofs(304, 300, builder.rightEdge, tiles, added);
  expect(() => prover.prove(299)).toThrow(RangeError);
  expect(() => prover.prove(304)).toThrow(RangeError);
  expect(prover.prove(300)).toBeDefined();
  // Without the round's tiles, leaf 300's sibling at level 1 (node 151, over
  // leaves 302 and 303) cannot be found: undefined, not a wrong proof.
  const blind = new RoundProofs(304, 300, builder.rightEdge, [], added);
  expect(blind.prove(300)).toBeUndefined();
  expect(() => new RoundProofs(304, 300, builder.rightEdge.slice(1), tiles, added)).toThrow(RangeError);
  expect(() => new RoundProofs(304, 300, builder.rightEdge, tiles, added.slice(1))).toThrow(RangeError);
});

test("a proof's bottom hash is the neighbouring new leaf's own hash, not a copy", () => {
  const builder = TreeBuilder.empty();
  builder.append(Array.from({ length: 301 }, (_, i) => refLeafHash(utf8(`a ${i}`))));
  const added = [refLeafHash(utf8('b')), refLeafHash(utf8('c')), refLeafHash(utf8('d'))];
  const tiles = builder.append(added);
  const prover = new RoundProofs(304, 301, builder.rightEdge, tiles, added);
  expect(prover.prove(302)![0]).toBe(added[2]);
  expect(prover.prove(303)![0]).toBe(added[1]);
  // Leaf 301's neighbour, 300, is from an earlier round: read from the tile.
  const proof = prover.prove(301)!;
  expect(hex(proof[0]!)).toBe(hex(refLeafHash(utf8('a 300'))));
});
