// The client's verification code against test/vectors (made with Go's
// tlog/note): receipts built from the vector proofs, and proofs computed from
// tiles by the authenticating TileHashReader, which must reproduce them.
import { readFileSync } from 'node:fs';
import { checkReceipt, checkReceiptProof, verifyReceipt, type Receipt } from '../../src/client/receipt.js';
import { MAX_TILED_TREE_SIZE, TileHashReader } from '../../src/client/tile-reader.js';
import { ClientError } from '../../src/client/errors.js';
import { proveConsistency, proveInclusion } from '../../src/merkle/proof.js';
import { buildStoredHashes } from '../../src/merkle/reader.js';
import { storedHashCount, storedHashIndex } from '../../src/merkle/stored.js';
import { treeHash } from '../../src/merkle/tree.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { generateSignerKey, newVerifier, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { TEST_ORIGIN, testSigner, testVerifier, vector } from '../helpers/keys.js';
import { flip, hex, hexToBytes, memoryTileFetcher } from './helpers.js';

interface Tree {
  leaves_hex: string[];
  roots: Record<string, string>;
  inclusion: { index: number; tree_size: number; leaf_hash: string; root: string; path: string[] }[];
  consistency: { first: number; second: number; first_root: string; second_root: string; proof: string[] }[];
}
const load = (name: string): Tree => JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8')) as Tree;
const small = load('rfc6962-small.json');
const big = load('rfc6962-1100.json');

const signed = new Map<string, string>();
function checkpointFor(size: number, rootHex: string): string {
  const key = `${size} ${rootHex}`;
  let note = signed.get(key);
  if (note === undefined) {
    note = signCheckpoint({ origin: TEST_ORIGIN, treeSize: size, rootHash: hexToBytes(rootHex), extensions: [] }, testSigner);
    signed.set(key, note);
  }
  return note;
}

describe('verifyReceipt on receipts made of the vector proofs', () => {
  for (const [name, tree] of [['small', small], ['1100', big]] as const) {
    test(`every inclusion proof of rfc6962-${name}, and every one-bit change of it`, () => {
      let checked = 0;
      for (const v of tree.inclusion) {
        const entry = hexToBytes(tree.leaves_hex[v.index]!);
        const receipt: Receipt = {
          index: v.index,
          leaf_hash: encodeBase64(hexToBytes(v.leaf_hash)),
          checkpoint: checkpointFor(v.tree_size, v.root),
          inclusion_proof: v.path.map((p) => encodeBase64(hexToBytes(p))),
          duplicate: false,
        };
        const ok = checkReceipt(receipt, entry, testVerifier);
        expect(ok).toMatchObject({ valid: true, index: v.index });
        if (!ok.valid) continue;
        // The mutations below are checked against the opened checkpoint: one signature check per vector.
        const valid = (r: unknown, e = entry) => checkReceiptProof(r, e, ok.checkpoint).valid;
        expect(valid(receipt)).toBe(true);
        // Flip one bit in each proof hash (sampled bits for the big file).
        v.path.forEach((p, i) => {
          const bits = name === 'small' ? [0, 7, 100, 255] : [i * 37 % 256];
          for (const bit of bits) {
            const bad = flip(hexToBytes(p), Math.floor(bit / 8), bit % 8);
            const proof = receipt.inclusion_proof.slice();
            proof[i] = encodeBase64(bad);
            expect(valid({ ...receipt, inclusion_proof: proof })).toBe(false);
          }
        });
        // A proof one hash short or long, another index, another entry.
        if (v.path.length > 0) expect(valid({ ...receipt, inclusion_proof: receipt.inclusion_proof.slice(1) })).toBe(false);
        expect(valid({ ...receipt, inclusion_proof: [...receipt.inclusion_proof, receipt.leaf_hash] })).toBe(false);
        if (v.tree_size > 1) expect(valid({ ...receipt, index: (v.index + 1) % v.tree_size })).toBe(false);
        expect(valid({ ...receipt, index: v.tree_size })).toBe(false);
        expect(valid(receipt, Uint8Array.of(...entry, 0))).toBe(false);
        if (v.index < 3) expect(verifyReceipt(receipt, Uint8Array.of(...entry, 0), testVerifier)).toBe(false);
        checked++;
      }
      expect(checked).toBe(tree.inclusion.length);
    });
  }

  test('the vector checkpoint note itself carries a receipt; another key or an edited checkpoint does not', () => {
    // A proof for leaf 7 of the 300-leaf tree that signed-note.json signs, computed by src/merkle over the vector leaves.
    const leaves = big.leaves_hex.slice(0, 300).map(hexToBytes);
    const stored = buildStoredHashes(leaves);
    return (async () => {
      const proof = await proveInclusion(300, 7, { readHashes: (ix) => Promise.resolve(ix.map((i) => stored[i]!)) });
      const receipt = { index: 7, leaf_hash: encodeBase64(stored[storedHashIndex(0, 7)]!), checkpoint: vector.note, inclusion_proof: proof.map(encodeBase64), duplicate: true };
      expect(checkReceipt(receipt, leaves[7]!, testVerifier).valid).toBe(true);
      const other = newVerifier(verifierKeyFromSignerKey(generateSignerKey(TEST_ORIGIN)));
      expect(checkReceipt(receipt, leaves[7]!, other)).toMatchObject({ valid: false, reason: expect.stringMatching(/checkpoint does not verify/) });
      const edited = vector.note.replace('\n300\n', '\n301\n');
      expect(verifyReceipt({ ...receipt, checkpoint: edited }, leaves[7]!, testVerifier)).toBe(false);
      for (const broken of [null, [], { ...receipt, index: -1 }, { ...receipt, index: '7' }, { ...receipt, checkpoint: undefined }, { ...receipt, inclusion_proof: 'x' }, { ...receipt, duplicate: 'no' }, { ...receipt, leaf_hash: 'AAAA' }]) {
        expect(checkReceipt(broken, leaves[7]!, testVerifier).valid).toBe(false);
      }
    })();
  });
});

describe('TileHashReader over tiles of the 1100-leaf vector tree', () => {
  const stored = buildStoredHashes(big.leaves_hex.map(hexToBytes));
  const reader = (size: number) => {
    const fetcher = memoryTileFetcher(stored);
    return { fetcher, reader: new TileHashReader({ treeSize: size, rootHash: hexToBytes(big.roots[String(size)]!) }, fetcher) };
  };

  test('reproduces every vector inclusion proof and leaf hash', async () => {
    for (const v of big.inclusion) {
      const { reader: r } = reader(v.tree_size);
      expect((await proveInclusion(v.tree_size, v.index, r)).map(hex)).toEqual(v.path);
      expect(hex((await r.readHashes([storedHashIndex(0, v.index)]))[0]!)).toBe(v.leaf_hash);
    }
  });

  test('reproduces every vector consistency proof and every root', async () => {
    for (const v of big.consistency) {
      const { reader: r } = reader(v.second);
      expect((await proveConsistency(v.first, v.second, r)).map(hex)).toEqual(v.proof);
    }
    for (let size = 1; size <= 1100; size += size < 70 ? 1 : 13) {
      expect(hex(await treeHash(size, reader(size).reader))).toBe(big.roots[String(size)]);
    }
  });

  test('any flipped byte in any tile it reads is refused, as is a wrong root; a tile of the wrong length, twice, is no tile (BAD_RESPONSE)', async () => {
    for (const size of [1, 2, 3, 255, 256, 257, 300, 511, 512, 513, 767, 1024, 1100]) {
      const indexes = [0, Math.floor(size / 2), size - 1];
      const { fetcher, reader: good } = reader(size);
      for (const i of indexes) {
        await good.readHashes([storedHashIndex(0, i)]);
        await proveInclusion(size, i, good);
      }
      const used = [...new Set(fetcher.reads)];
      expect(used.length).toBeGreaterThan(0);
      for (const path of used) {
        for (const where of ['first', 'last']) {
          const { fetcher: f, reader: r } = reader(size);
          f.corrupt = (p, data) => (p === path ? flip(data, where === 'first' ? 0 : data.length - 1) : data);
          const attempts = await Promise.allSettled(indexes.flatMap((i) => [r.readHashes([storedHashIndex(0, i)]), proveInclusion(size, i, r)]));
          const refused = attempts.filter((a) => a.status === 'rejected');
          expect(refused.length).toBeGreaterThan(0);
          for (const a of refused) {
            expect((a as PromiseRejectedResult).reason).toBeInstanceOf(ClientError);
            expect(((a as PromiseRejectedResult).reason as ClientError).code).toBe('TILE_MISMATCH');
          }
        }
      }
      const { fetcher: f, reader: r } = reader(size);
      f.corrupt = (_p, data) => data.subarray(0, data.length - 32);
      await expect(r.readHashes([storedHashIndex(0, size - 1)])).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/^tile\/\S+ is (\d+), then \1 bytes, not \d+$/) });
      const wrongRoot = new TileHashReader({ treeSize: size, rootHash: hexToBytes(big.roots[String(size - 1)]!) }, memoryTileFetcher(stored));
      await expect(wrongRoot.readHashes([storedHashIndex(0, 0)])).rejects.toMatchObject({ code: 'TILE_MISMATCH' });
    }
  });

  test('a full tile below a shared root-building tile is authenticated too (300 leaves: three subtree hashes share tile/0/001.p/44)', async () => {
    // Go's loop that checks child tiles starts at len(stx) = 4 here although
    // only two tiles build the root, so tile/0/000 would go unchecked.
    const { fetcher, reader: r } = reader(300);
    fetcher.corrupt = (p, data) => (p === 'tile/0/000' ? flip(data, 5 * 32) : data);
    await expect(r.readHashes([storedHashIndex(0, 5)])).rejects.toMatchObject({ code: 'TILE_MISMATCH', message: expect.stringMatching(/tile\/0\/000 does not match its parent/) });
  });

  test('readTile returns the authenticated bottom row; indexes outside the tree are refused', async () => {
    const { reader: r } = reader(1100);
    const tile = await r.readTile(0, 4);
    expect(tile.length).toBe(76 * 32);
    expect(hex(tile.subarray(0, 32))).toBe(hex(stored[storedHashIndex(0, 1024)]!));
    const top = await r.readTile(1, 0);
    expect(top.length).toBe(4 * 32);
    expect(hex(top.subarray(32, 64))).toBe(hex(stored[storedHashIndex(8, 1)]!));
    await expect(r.readTile(0, 5)).rejects.toThrow(RangeError);
    await expect(r.readHashes([storedHashIndex(0, 1100)])).rejects.toThrow(RangeError);
    await expect(new TileHashReader({ treeSize: 0, rootHash: hexToBytes(big.roots['0']!) }, memoryTileFetcher(stored)).readHashes([])).resolves.toEqual([]);
  });

  test('a tree past 2^52 leaves is refused when the reader is made: its stored hashes pass Number.MAX_SAFE_INTEGER', () => {
    const rootHash = hexToBytes(big.roots['1']!);
    expect(storedHashCount(MAX_TILED_TREE_SIZE)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => storedHashCount(MAX_TILED_TREE_SIZE + 1)).toThrow(RangeError);
    expect(new TileHashReader({ treeSize: MAX_TILED_TREE_SIZE, rootHash }, memoryTileFetcher(stored)).treeSize).toBe(MAX_TILED_TREE_SIZE);
    for (const treeSize of [MAX_TILED_TREE_SIZE + 1, Number.MAX_SAFE_INTEGER]) {
      expect(() => new TileHashReader({ treeSize, rootHash }, memoryTileFetcher(stored))).toThrow(new RegExp(`a tree of ${treeSize} leaves is past the 2\\^52`));
    }
  });
});
