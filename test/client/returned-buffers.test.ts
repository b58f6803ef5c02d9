// What the client library hands out is in buffers of its own: a caller may
// transfer one (postMessage, structuredClone with `transfer`) without
// detaching another value, or the slab that src/merkle/hash.ts cuts every
// hash from in this process (the server's here, in-process, too).
import { jest } from '@jest/globals';
import { CairnClient } from '../../src/client/client.js';
import { leafHash } from '../../src/merkle/hash.js';
import { storedHashIndex } from '../../src/merkle/stored.js';
import type { Checkpoint } from '../../src/note/checkpoint.js';
import { generateSignerKey, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { useCliServer } from '../helpers/cli-server.js';
import { hex } from './helpers.js';

const enc = (s: string) => new TextEncoder().encode(s);
const entry = (i: number) => enc(`buffer entry ${i}`);

const t = useCliServer('cairn-returned-buffers-', { origin: 'buffers.test/log' });

/** Whether `bytes` is the whole of its ArrayBuffer. */
const own = (bytes: Uint8Array) => bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength;

beforeAll(async () => {
  // 260 entries: one full bundle (the level-8 path of readEntryRange) and one of 4.
  await t.client.addBatch(Array.from({ length: 260 }, (_, i) => entry(i)));
});

test('entries, leaf hashes and proof hashes are each in a buffer of its own', async () => {
  const { checkpoint } = await t.client.getCheckpoint();
  const got = await t.client.getEntry(3, checkpoint);
  expect([got.leafHash, got.entry, ...got.proof].filter((b) => !own(b))).toEqual([]);
  const tiled = await t.client.getEntryFromTiles(257, checkpoint);
  expect([tiled.leafHash, tiled.entry, ...tiled.proof].filter((b) => !own(b))).toEqual([]);
  const proved = await t.client.proveIndexFromTiles(5, checkpoint);
  expect([proved.leafHash, ...proved.proof].filter((b) => !own(b))).toEqual([]);
  const bundle = await t.client.readEntryBundle(0, checkpoint);
  expect(bundle.filter((b) => !own(b))).toEqual([]);
  let groups = 0;
  for await (const { entries, leafHashes } of t.client.readEntryRange(checkpoint, 250, 259)) {
    groups++;
    expect([...entries, ...leafHashes].filter((b) => !own(b))).toEqual([]);
    expect(leafHashes.map(hex)).toEqual(entries.map((e) => hex(leafHash(e))));
  }
  expect(groups).toBe(2);
});

test('transferring a leaf hash away leaves the client and the log hashing as before', async () => {
  const { checkpoint } = await t.client.getCheckpoint();
  const got = await t.client.getEntry(3, checkpoint);
  const kept = hex(got.leafHash);
  structuredClone(got.leafHash.buffer, { transfer: [got.leafHash.buffer] });
  expect(got.leafHash.length).toBe(0);
  const next = await t.client.getEntry(4, checkpoint);
  expect(hex(next.leafHash)).toBe(hex(leafHash(entry(4))));
  expect(hex(leafHash(entry(3)))).toBe(kept);
  const added = await t.client.addEntry(enc('after a transfer'));
  expect(added.receipt.duplicate).toBe(false);
});

test('a tile is in a buffer of its own, though the fetch answered it as a view into a larger one', async () => {
  const slab = new Uint8Array(4096).fill(1);
  const body = slab.subarray(64, 96);
  const fetch = async () => new Response(new ReadableStream({ start: (c) => (c.enqueue(body), c.close()) }), { headers: { 'Content-Type': 'application/octet-stream' } });
  const client = new CairnClient({ baseUrl: 'http://127.0.0.1:9', verifierKey: verifierKeyFromSignerKey(generateSignerKey('view.test/log')), fetch });
  const tile = await client.readTile({ level: 0, n: 0, width: 1 });
  expect(hex(tile)).toBe(hex(body));
  expect(own(tile)).toBe(true);
});

describe('a tree whose right edge is not a complete subtree (300 = 256 + 32 + 8 + 4)', () => {
  // The hashes of its right edge are computed from the tiles by nodeHash, cut from hash.ts's shared slab.
  const r = useCliServer('cairn-returned-buffers-edge-', { origin: 'buffers-edge.test/log' });
  let cp260: Checkpoint;

  beforeAll(async () => {
    await r.client.addBatch(Array.from({ length: 260 }, (_, i) => entry(i)));
    cp260 = (await r.client.getCheckpoint()).checkpoint;
    await r.client.addBatch(Array.from({ length: 40 }, (_, i) => entry(260 + i)));
  });

  test('proofs, entries and hashes computed from its tiles are each in a buffer of its own', async () => {
    const { checkpoint } = await r.client.getCheckpoint();
    expect(checkpoint.treeSize).toBe(300);
    const proved = await r.client.proveIndexFromTiles(5, checkpoint);
    expect([proved.leafHash, ...proved.proof].filter((b) => !own(b))).toEqual([]);
    const tiled = await r.client.getEntryFromTiles(5, checkpoint);
    expect([tiled.leafHash, tiled.entry, ...tiled.proof].filter((b) => !own(b))).toEqual([]);
    expect(hex(tiled.entry)).toBe(hex(entry(5)));
    const consistency = await r.client.verifyConsistency(cp260, checkpoint, { fromTiles: true });
    expect(consistency.length).toBeGreaterThan(0);
    expect(consistency.filter((b) => !own(b))).toEqual([]);
    // Above a tile's bottom row a stored hash is computed too: [0, 4), [32, 64), [0, 256), [256, 288).
    const reader = r.client.tileReader(checkpoint);
    const hashes = await reader.readHashes([storedHashIndex(0, 5), storedHashIndex(2, 0), storedHashIndex(5, 1), storedHashIndex(8, 0), storedHashIndex(5, 8)]);
    expect(hashes.filter((b) => !own(b))).toEqual([]);
    // readTile, which reads a whole tile through the same path, still answers its bottom row.
    const tile = await reader.readTile(0, 1);
    expect(hex(tile.subarray(0, 32))).toBe(hex(leafHash(entry(256))));
    expect(hex(hashes[0]!)).toBe(hex(leafHash(entry(5))));
  });

  test("transferring the right edge's proof hash away moves those 32 bytes, nothing else, and the client proves on", async () => {
    const { checkpoint } = await r.client.getCheckpoint();
    const before = (await r.client.proveIndexFromTiles(40, checkpoint)).proof.map(hex);
    const edge = (await r.client.proveIndexFromTiles(30, checkpoint)).proof.at(-1)!;
    const moved = structuredClone(edge.buffer, { transfer: [edge.buffer] });
    expect(moved.byteLength).toBe(32);
    expect(edge.length).toBe(0);
    expect((await r.client.proveIndexFromTiles(40, checkpoint)).proof.map(hex)).toEqual(before);
  });

  test('getEntryFromTiles reads the bundle without the public readEntryBundle, which copies every entry', async () => {
    const { checkpoint } = await r.client.getCheckpoint();
    const spy = jest.spyOn(r.client, 'readEntryBundle');
    try {
      const got = await r.client.getEntryFromTiles(290, checkpoint);
      expect(hex(got.entry)).toBe(hex(entry(290)));
      expect(own(got.entry)).toBe(true);
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });
});
