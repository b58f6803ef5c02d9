// What the client library hands out is in buffers of its own: a caller may
// transfer one (postMessage, structuredClone with `transfer`) without
// detaching another value, or the slab that src/merkle/hash.ts cuts every
// hash from in this process (the server's here, in-process, too).
import { CairnClient } from '../../src/client/client.js';
import { leafHash } from '../../src/merkle/hash.js';
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
