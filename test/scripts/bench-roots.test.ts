// The benchmark checks each server's signed root against rootsOfPrefixes,
// the roots of its entries computed apart from Cairn's tree code: checked
// here against merkletreejs (RFC 6962 nodes, no hashing of leaves, the odd
// node carried up) and against a log grown from the same entries.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MerkleTree } from 'merkletreejs';
import { benchLeafHash, entryAt, rootsOfPrefixes } from '../../scripts/bench/entries.js';
import { grow, openDataFolder } from '../../scripts/bench/sequencing.js';

const SEED = 0x1234;
const rfcNode = (data: Buffer) => createHash('sha256').update(Buffer.concat([Buffer.of(1), data])).digest();

function merkletreejsRoot(size: number): Buffer {
  const leaves = Array.from({ length: size }, (_, i) => benchLeafHash(entryAt(SEED, i)));
  // RFC 6962 §2.1: an odd node is carried up unhashed, as merkletreejs does without duplicateOdd.
  return new MerkleTree(leaves, rfcNode, { hashLeaves: false }).getRoot();
}

test('rootsOfPrefixes gives the RFC 6962 roots merkletreejs computes, for sizes on and off powers of two, in any order', () => {
  const sizes = [1000, 1, 2, 3, 7, 8, 255, 256, 257, 513];
  const roots = rootsOfPrefixes(SEED, sizes);
  expect([...roots.keys()].sort((a, b) => a - b)).toEqual([...sizes].sort((a, b) => a - b));
  for (const m of sizes) expect([m, roots.get(m)!.toString('hex')]).toEqual([m, merkletreejsRoot(m).toString('hex')]);
  expect(rootsOfPrefixes(SEED, [1]).get(1)!.equals(benchLeafHash(entryAt(SEED, 0)))).toBe(true);
  expect(() => rootsOfPrefixes(SEED, [0])).toThrow(RangeError);
});

test('rootsOfPrefixes gives the root a log grown from the same entries signs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-roots-'));
  try {
    const log = await openDataFolder(join(dir, 'data'));
    await grow(log, SEED, 0, 5000);
    expect(Buffer.from(log.latest().rootHash).toString('hex')).toBe(rootsOfPrefixes(SEED, [5000]).get(5000)!.toString('hex'));
    await log.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
