import { buildStoredHashes, memoryHashReader, type NodeReader, type TreeNode } from '../../src/merkle/reader.js';
import { proveConsistency, proveInclusion } from '../../src/merkle/proof.js';
import { storedHashIndex } from '../../src/merkle/stored.js';
import { Log } from '../../src/log/log.js';
import { TileCache } from '../../src/log/tile-cache.js';
import { TileHashReader } from '../../src/log/tile-reader.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { testSigner, testVerifier } from '../helpers/keys.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-tile-reader-');

const entry = (i: number) => new TextEncoder().encode(`entry ${i}`);

/** A log of `size` entries written in rounds of `rounds` sizes, closed; returns its entries. */
async function writeLog(rounds: number[]): Promise<Uint8Array[]> {
  const log = await Log.open({ store: await LevelStore.open(dir()), signer: testSigner, verifier: testVerifier });
  const all: Uint8Array[] = [];
  try {
    for (const count of rounds) {
      const entries = Array.from({ length: count }, (_, i) => entry(all.length + i));
      await log.submit(entries);
      all.push(...entries);
    }
  } finally {
    await log.close();
  }
  return all;
}

/** Every complete node of the tree of `size` leaves. */
function allNodes(size: number): TreeNode[] {
  const nodes: TreeNode[] = [];
  for (let level = 0; 2 ** level <= size; level++) {
    for (let n = 0; (n + 1) * 2 ** level <= size; n++) nodes.push({ level, n });
  }
  return nodes;
}

test('readNodes and readHashes answer every stored hash as the in-memory tree has it', async () => {
  const entries = await writeLog([300, 1, 699, 256]);
  const expected = buildStoredHashes(entries);
  const store = await LevelStore.open(dir());
  try {
    // A cache too small to hold the tree, so the answers come from the store as well.
    const reader = new TileHashReader(store, new TileCache(1), () => undefined);
    const nodes = allNodes(entries.length);
    const byNode = await reader.readNodes(nodes);
    const byIndex = await reader.readHashes(nodes.map(({ level, n }) => storedHashIndex(level, n)));
    nodes.forEach(({ level, n }, i) => {
      const want = Buffer.from(expected[storedHashIndex(level, n)]!);
      expect({ level, n, hash: Buffer.from(byNode[i]!).toString('hex') }).toEqual({ level, n, hash: want.toString('hex') });
      expect(Buffer.from(byIndex[i]!).equals(want)).toBe(true);
    });
    await expect(reader.readNodes([{ level: 0, n: entries.length + 300 }])).rejects.toThrow(/not in the store/);
  } finally {
    await store.close();
  }
});

test('proofs through readNodes equal proofs through stored-hash indexes', async () => {
  const entries = await writeLog([1000, 3, 28]);
  const memory = memoryHashReader(buildStoredHashes(entries));
  const store = await LevelStore.open(dir());
  try {
    const tiles = new TileHashReader(store, new TileCache(2), () => undefined);
    let nodeCalls = 0;
    const counting: NodeReader = {
      readHashes: (indexes) => tiles.readHashes(indexes),
      readNodes: (nodes) => {
        nodeCalls++;
        return tiles.readNodes(nodes);
      },
    };
    const size = entries.length;
    for (const index of [0, 1, 255, 256, 511, 700, 1000, size - 1]) {
      for (const treeSize of [index + 1, 777, 1024, size]) {
        if (treeSize <= index || treeSize > size) continue;
        const want = (await proveInclusion(treeSize, index, memory)).map((h) => Buffer.from(h).toString('hex'));
        const got = (await proveInclusion(treeSize, index, counting)).map((h) => Buffer.from(h).toString('hex'));
        expect({ index, treeSize, got }).toEqual({ index, treeSize, got: want });
      }
    }
    for (const [first, second] of [[1, size], [255, 256], [256, 1000], [513, 1031], [1000, 1001]] as const) {
      const want = (await proveConsistency(first, second, memory)).map((h) => Buffer.from(h).toString('hex'));
      const got = (await proveConsistency(first, second, counting)).map((h) => Buffer.from(h).toString('hex'));
      expect({ first, second, got }).toEqual({ first, second, got: want });
    }
    expect(nodeCalls).toBeGreaterThan(0);
  } finally {
    await store.close();
  }
});
