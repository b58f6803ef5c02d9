// LevelStore's segment maps: a full bundle is read by point reads, and a
// store written without them (an older version) still reads and grows.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEntryBundle as encodeBundle } from '../../src/merkle/bundle.js';
import { LevelStore } from '../../src/storage/level-store.js';
import type { LogState } from '../../src/storage/store.js';

const hash = (seed: number) => new Uint8Array(32).fill(seed % 256);
function state(treeSize: number, timestamp: number): LogState {
  return {
    treeSize,
    rootHash: hash(treeSize),
    timestamp,
    checkpoint: `origin\n${treeSize}\n`,
    sth: { tree_size: treeSize, timestamp, sha256_root_hash: 'x', tree_head_signature: 'y' },
    rightEdge: [hash(treeSize)],
  };
}
const entry = (i: number) => Uint8Array.of(i % 256, Math.floor(i / 256) % 256, 7);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-segments-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes rounds of the given sizes; returns every entry written. */
async function writeRounds(store: LevelStore, sizes: number[], from = 0, ts = 1): Promise<Uint8Array[]> {
  const all: Uint8Array[] = [];
  let size = from;
  for (const count of sizes) {
    const entries = Array.from({ length: count }, (_, i) => entry(size + i));
    all.push(...entries);
    size += count;
    await store.writeRound({ entries, leafHashes: entries.map((_, i) => hash(size - count + i)), tiles: [], state: state(size, ts++) });
  }
  return all;
}

test('bundles written in many rounds read back whole, before and after reopening', async () => {
  let store = await LevelStore.open(dir);
  const sizes = [1, 2, 250, 10, 300, 7, 1, 512, 40];
  const all = await writeRounds(store, sizes);
  const check = async (s: LevelStore) => {
    for (let n = 0; n * 256 < all.length; n++) {
      expect(Buffer.from(await s.readBundle(n)).equals(Buffer.from(encodeBundle(all.slice(n * 256, (n + 1) * 256))))).toBe(true);
    }
  };
  await check(store);
  await store.close();
  store = await LevelStore.open(dir);
  await check(store);
  // And it keeps growing after the reopen, continuing the partial bundle.
  all.push(...(await writeRounds(store, [30, 200], all.length, 100)));
  await check(store);
  await store.close();
});

test('a store without segment maps (written by an older version) reads and grows', async () => {
  let store = await LevelStore.open(dir);
  const all = await writeRounds(store, [100, 100, 100, 100]);
  // Remove every segment map, as an older version would have left the store.
  const maps: Uint8Array[] = [];
  for await (const key of store.database.keys({ gte: Uint8Array.of(0x4d), lt: Uint8Array.of(0x4e) })) maps.push(key);
  expect(maps.length).toBeGreaterThan(0);
  for (const key of maps) await store.database.del(key);
  await store.close();
  store = await LevelStore.open(dir);
  expect(Buffer.from(await store.readBundle(0)).equals(Buffer.from(encodeBundle(all.slice(0, 256))))).toBe(true);
  all.push(...(await writeRounds(store, [200], all.length, 100)));
  for (let n = 0; n * 256 < all.length; n++) {
    expect(Buffer.from(await store.readBundle(n)).equals(Buffer.from(encodeBundle(all.slice(n * 256, (n + 1) * 256))))).toBe(true);
  }
  await store.close();
});
