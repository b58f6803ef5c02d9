// Upgrading in place: a data folder written by format 1 (per-round entry
// segments with segment maps, tiles with all eight rows, 8-byte leaf
// indexes) opens with today's LevelStore with no migration step, reads back
// every entry, bundle, stored hash and leaf index, and keeps growing. The
// folders are written here by hand, with raw LevelDB puts laid out as format
// 1 laid them out (the fixtures below, copied from level-store.ts before
// format 2), so these tests do not depend on the code that reads them.
import { join } from 'node:path';
import { Level } from 'level';
import { auditCommand } from '../../src/cli/audit.js';
import { startServer } from '../../src/cli/server.js';
import { CairnClient } from '../../src/client/client.js';
import { encodeEntryBundle } from '../../src/merkle/bundle.js';
import { leafHash, nodeHash, sha256 } from '../../src/merkle/hash.js';
import { tileWidth } from '../../src/merkle/tile.js';
import { HashTile } from '../../src/storage/hash-tile.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { StoreCorruptError, type LogState } from '../../src/storage/store.js';
import { captureIo } from '../cli/client-io.js';
import { format1TileLength, storeRecords, toLayout1 } from '../helpers/layout1-store.js';
import { useTempDir } from '../helpers/temp-dir.js';

// ---- The format-1 layout (fixtures of the old format) ----

function u64(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt32BE(Math.floor(value / 2 ** 32), 0);
  out.writeUInt32BE(value % 2 ** 32, 4);
  return out;
}
/** 'T' level:u8 n:u64 → uint16 width, then rows 0..7 each cut to its complete nodes. */
const f1TileKey = (level: number, n: number) => Buffer.concat([Buffer.of(0x54, level), u64(n)]);
/** 'E' n:u64 pos:u8 → the entries from 256·n+pos that one round added, bundle-encoded. */
const f1SegmentKey = (n: number, pos: number) => Buffer.concat([Buffer.of(0x45), u64(n), Buffer.of(pos)]);
/** 'M' n:u64 → one byte per segment of bundle n: where it starts, ascending. */
const f1SegmentMapKey = (n: number) => Buffer.concat([Buffer.of(0x4d), u64(n)]);
/** 'H' leafHash:32 → index:u64. */
const f1LeafKey = (hash: Uint8Array) => Buffer.concat([Buffer.of(0x48), hash]);
/** 'S' → the state as JSON, hashes in base64. */
const STATE_KEY = Buffer.of(0x53);
function f1State(state: LogState): Buffer {
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  return Buffer.from(
    JSON.stringify({ treeSize: state.treeSize, rootHash: b64(state.rootHash), timestamp: state.timestamp, checkpoint: state.checkpoint, sth: state.sth, rightEdge: state.rightEdge.map(b64) }),
  );
}

// ---- The log written into the folders ----

/** Entry i: 3 to 302 bytes, unique (its first three bytes are i). */
function entry(i: number): Uint8Array {
  const length = 3 + ((i * 37) % 300);
  return Uint8Array.from({ length }, (_, j) => (j < 3 ? Math.floor(i / 256 ** (2 - j)) % 256 : (i * 7 + j) % 256));
}

/** Every node of the tree over entries 0..size-1, computed here: nodes[level][index]. */
function treeNodes(size: number): Uint8Array[][] {
  const levels: Uint8Array[][] = [Array.from({ length: size }, (_, i) => leafHash(entry(i)).slice())];
  for (let l = 1; levels[l - 1]!.length >= 2; l++) {
    const below = levels[l - 1]!;
    levels.push(Array.from({ length: Math.floor(below.length / 2) }, (_, i) => nodeHash(below[2 * i]!, below[2 * i + 1]!).slice()));
  }
  return levels;
}
const NODES = treeNodes(3000);

/** The hashes of row r of tile (level, n) in a tree of `size`. */
function tileRow(level: number, n: number, r: number, size: number): Uint8Array[] {
  const count = Math.floor(tileWidth(level, n, size) / 2 ** r);
  const first = (n * 256) / 2 ** r;
  return (NODES[8 * level + r] ?? []).slice(first, first + count);
}

/** Every tile of a tree of `size`. */
function tilesOf(size: number): { level: number; n: number }[] {
  const out: { level: number; n: number }[] = [];
  for (let level = 0; 256 ** level <= size; level++) {
    for (let n = 0; tileWidth(level, n, size) > 0; n++) out.push({ level, n });
  }
  return out;
}

function f1TileValue(level: number, n: number, size: number): Buffer {
  const width = tileWidth(level, n, size);
  const rows = Array.from({ length: 8 }, (_, r) => tileRow(level, n, r, size));
  return Buffer.concat([Buffer.of(Math.floor(width / 256), width % 256), ...rows.flat()]);
}

/** The tile as the sequencer hands it to writeRound: built in memory, every row. */
function builtTile(level: number, n: number, size: number): HashTile {
  const tile = new HashTile(level, n);
  for (let r = 0; r < 8; r++) tileRow(level, n, r, size).forEach((h, p) => tile.set(r, p, h));
  return tile;
}

function state(treeSize: number, timestamp: number): LogState {
  const root = sha256(Uint8Array.of(treeSize % 256, Math.floor(treeSize / 256)));
  return {
    treeSize,
    rootHash: root,
    timestamp,
    checkpoint: `example.com/log\n${treeSize}\n${Buffer.from(root).toString('base64')}\n`,
    sth: { tree_size: treeSize, timestamp, sha256_root_hash: Buffer.from(root).toString('base64'), tree_head_signature: 'sig' },
    rightEdge: [root],
  };
}

/** The tiles whose width a round from `from` to `to` changed. */
function touched(from: number, to: number): { level: number; n: number }[] {
  return tilesOf(to).filter((t) => tileWidth(t.level, t.n, from) !== tileWidth(t.level, t.n, to));
}

/**
 * Writes rounds of `sizes` entries into `dir` exactly as format 1 did: one
 * batch per round with its segments and segment maps, 8-byte leaf indexes,
 * every touched tile with all eight rows, and the state.
 */
async function writeFormat1(dir: string, sizes: number[]): Promise<number> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const starts = new Map<number, number[]>();
  let size = 0;
  let ts = 1;
  for (const count of sizes) {
    const batch = db.batch();
    const end = size + count;
    for (let index = size; index < end; ) {
      const n = Math.floor(index / 256);
      const pos = index - n * 256;
      const take = Math.min(256 - pos, end - index);
      batch.put(f1SegmentKey(n, pos), Buffer.from(encodeEntryBundle(Array.from({ length: take }, (_, j) => entry(index + j)))));
      const segmentStarts = pos === 0 ? [0] : [...starts.get(n)!, pos];
      starts.set(n, segmentStarts);
      batch.put(f1SegmentMapKey(n), Buffer.from(segmentStarts));
      index += take;
    }
    for (let i = size; i < end; i++) batch.put(f1LeafKey(NODES[0]![i]!), u64(i));
    for (const t of touched(size, end)) batch.put(f1TileKey(t.level, t.n), f1TileValue(t.level, t.n, end));
    batch.put(STATE_KEY, f1State(state(end, ts++)));
    await batch.write({ sync: true });
    size = end;
  }
  await db.close();
  return size;
}

/** Appends rounds through LevelStore, as the sequencer would. */
async function grow(store: LevelStore, sizes: number[]): Promise<number> {
  let size = (await store.readState())!.treeSize;
  let ts = (await store.readState())!.timestamp + 1;
  for (const count of sizes) {
    const end = size + count;
    const entries = Array.from({ length: count }, (_, j) => entry(size + j));
    const tiles = touched(size, end).map((t) => builtTile(t.level, t.n, end));
    await store.writeRound({ entries, leafHashes: NODES[0]!.slice(size, end), tiles, state: state(end, ts++) });
    size = end;
  }
  return size;
}

/** Everything the store holds, read through its API and compared with the log. */
async function expectLog(store: LevelStore, size: number): Promise<void> {
  expect((await store.readState())!.treeSize).toBe(size);
  for (let i = 0; i < size; i++) {
    if (!Buffer.from(await store.readEntry(i)).equals(Buffer.from(entry(i)))) throw new Error(`readEntry(${i}) is wrong`);
  }
  await expect(store.readEntry(size)).rejects.toThrow(/not stored/);
  for (let n = 0; n * 256 < size; n++) {
    const want = encodeEntryBundle(Array.from({ length: Math.min(256, size - n * 256) }, (_, j) => entry(n * 256 + j)));
    if (!Buffer.from(await store.readBundle(n)).equals(Buffer.from(want))) throw new Error(`readBundle(${n}) is wrong`);
  }
  expect((await store.readBundle(Math.ceil(size / 256))).length).toBe(0);
  // Ranges across bundles of both formats, and the whole log in one read.
  const ranges = [[0, size], [250, 20], [255, 2], [size - 1, 1], [Math.max(0, size - 300), Math.min(size, 300)]].filter(([start, count]) => start! >= 0 && start! + count! <= size);
  for (const [start, count] of ranges) {
    const got = await store.readEntries(start!, count!);
    expect(got).toHaveLength(count!);
    got.forEach((e, i) => {
      if (!Buffer.from(e).equals(Buffer.from(entry(start! + i)))) throw new Error(`readEntries(${start}, ${count})[${i}] is wrong`);
    });
  }
  const keys = tilesOf(size);
  const tiles = await store.readTiles(keys);
  keys.forEach((k, i) => {
    const tile = tiles[i];
    expect(tile?.width).toBe(tileWidth(k.level, k.n, size));
    for (let r = 0; r < 8; r++) {
      const row = tileRow(k.level, k.n, r, size);
      row.forEach((h, p) => {
        if (!Buffer.from(tile!.hash(r, p)!).equals(Buffer.from(h))) throw new Error(`tile ${k.level}/${k.n} hash (${r}, ${p}) is wrong`);
      });
      expect(tile!.hash(r, row.length)).toBeUndefined();
    }
  });
  const found = await store.findLeafHashes([...NODES[0]!.slice(0, size), sha256(Uint8Array.of(1, 2, 3))]);
  expect(found).toEqual([...Array.from({ length: size }, (_, i) => i), undefined]);
  // Small lookups take the synchronous path: check it too.
  expect(await store.findLeafHashes([NODES[0]![size - 1]!, NODES[0]![0]!])).toEqual([size - 1, 0]);
}

/** Every raw key and value with the given first byte. */
async function rawEntries(db: LevelStore['database'], prefix: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [k, v] of db.iterator({ gte: Uint8Array.of(prefix), lt: Uint8Array.of(prefix + 1) })) out.set(Buffer.from(k).toString('hex'), Buffer.from(v).toString('hex'));
  return out;
}
const keysOfBundle = (map: Map<string, string>, prefix: number, n: number) => [...map.keys()].filter((k) => k.startsWith(Buffer.concat([Buffer.of(prefix), u64(n)]).toString('hex')));

const dir = useTempDir('cairn-format1-');

test('a format-1 folder whose last bundle is partial: reads, converts only that bundle, grows, reopens', async () => {
  const written = await writeFormat1(dir(), [1, 2, 250, 10, 300, 7, 1, 512, 40]);
  expect(written).toBe(1123); // bundles 0..3 full, bundle 4 holds 99 entries in several segments
  let store = await LevelStore.open(dir());
  const segments = await rawEntries(store.database, 0x45);
  const maps = await rawEntries(store.database, 0x4d);
  const chunks = await rawEntries(store.database, 0x43);
  // Bundle 4 is now chunks 64..70 (16 entries each, the last 3); its segments and map are gone.
  expect(keysOfBundle(segments, 0x45, 4)).toEqual([]);
  expect(keysOfBundle(maps, 0x4d, 4)).toEqual([]);
  expect([...chunks.keys()]).toEqual(Array.from({ length: 7 }, (_, c) => Buffer.concat([Buffer.of(0x43), u64(64 + c)]).toString('hex')));
  // The full bundles keep their segments (bundle 2 in four: from rounds of 300, 7, 1 and 512) and maps.
  expect(keysOfBundle(segments, 0x45, 2).length).toBe(4);
  expect(maps.size).toBe(4);
  await expectLog(store, 1123);

  // A crash right after the conversion: the folder reads the same on the next open.
  await store.close();
  store = await LevelStore.open(dir());
  expect(await rawEntries(store.database, 0x45)).toEqual(segments);
  expect(await rawEntries(store.database, 0x43)).toEqual(chunks);
  await expectLog(store, 1123);

  // Growing fills the partial chunk and bundle, then new ones; no segment is ever written again.
  const size = await grow(store, [30, 200, 5, 600, 3]);
  expect(size).toBe(1961);
  await expectLog(store, size);
  expect(await rawEntries(store.database, 0x45)).toEqual(segments);
  expect(await rawEntries(store.database, 0x4d)).toEqual(maps);
  // Leaf indexes: the old ones stay 8 bytes, new ones take as few bytes as they need.
  const leaves = await rawEntries(store.database, 0x48);
  expect(leaves.get(f1LeafKey(NODES[0]![5]!).toString('hex'))).toBe(u64(5).toString('hex'));
  expect(leaves.get(f1LeafKey(NODES[0]![1123]!).toString('hex'))).toBe('0463');
  // Tiles: rewritten ones are format 2; tile 0/0 (full since format 1) is as format 1 wrote it.
  const tiles = await rawEntries(store.database, 0x54);
  expect(tiles.get(f1TileKey(0, 0).toString('hex'))).toBe(f1TileValue(0, 0, 256).toString('hex'));
  expect(tiles.get(f1TileKey(0, 4).toString('hex'))!.length / 2).toBe(11_202);
  expect(tiles.get(f1TileKey(1, 0).toString('hex'))!.length / 2).toBe(2 + 32 * (7 + 1 + 0)); // width 7: rows 0 and 2
  await store.close();
  store = await LevelStore.open(dir());
  await expectLog(store, size);
  expect(await grow(store, [1])).toBe(1962);
  await expectLog(store, 1962);
  await store.close();
});

test("converting a format-1 folder's partial last bundle rewrites, in the same batch, the partial tiles of the tree's right edge in format 2, which 0.1.0 does not start on, and the state naming its layout", async () => {
  expect(await writeFormat1(dir(), [1, 2, 250, 10, 300, 7, 1, 512, 40])).toBe(1123);
  // The tiles a server resumes from, as 0.1.0 did: 0/4 (99 hashes) and 1/0 (4).
  const edge = [f1TileKey(0, 4), f1TileKey(1, 0)].map((key) => key.toString('hex'));
  const before = await storeRecords(dir());
  expect(edge.map((key) => before.get(key)!.length / 2)).toEqual([format1TileLength(99), format1TileLength(4)]);
  let store = await LevelStore.open(dir());
  expect(store.olderLayout).toEqual({ layout: 1, convertedBundle: 4 });
  await store.close();
  const after = await storeRecords(dir());
  // Each is now as long as format 2 makes it, not the length 0.1.0 decodes, and holds the same hashes (expectLog below).
  expect(edge.map((key) => after.get(key)!.length / 2)).toEqual([2 + 32 * (99 + 24 + 6 + 3 + 1), 2 + 32 * (4 + 1)]);
  expect(edge.map((key) => after.get(key)!.length / 2)).not.toContain(format1TileLength(99));
  const stateKey = STATE_KEY.toString('hex');
  const stateOf = (records: Map<string, string>) => JSON.parse(Buffer.from(records.get(stateKey)!, 'hex').toString()) as Record<string, unknown>;
  expect(stateOf(before).layout).toBeUndefined();
  expect(stateOf(after)).toEqual({ layout: 2, ...stateOf(before) });
  // Every other tile (the full ones) is as format 1 wrote it.
  const tiles = (records: Map<string, string>) => [...records].filter(([key]) => key.startsWith('54') && !edge.includes(key));
  expect(tiles(after)).toEqual(tiles(before));
  expect(tiles(after)).toHaveLength(4);
  store = await LevelStore.open(dir());
  expect(store.olderLayout).toBeUndefined();
  await expectLog(store, 1123);
  await store.close();
});

test("a format-1 folder's partial last bundle whose right-edge tiles each hold one hash (alike in both formats) is left as 0.1.0 wrote it until the first round that logs entries", async () => {
  // Tree size 257: tiles 0/1 and 1/0 hold one hash each, the same bytes in both tile formats, so that no rewrite at the open could stop 0.1.0.
  expect(await writeFormat1(dir(), [200, 56, 1])).toBe(257);
  const before = await storeRecords(dir());
  let store = await LevelStore.open(dir());
  expect(store.olderLayout).toEqual({ layout: 1 });
  await expectLog(store, 257);
  await store.close();
  expect(await storeRecords(dir())).toEqual(before);
  store = await LevelStore.open(dir());
  await expectLog(store, 257);
  // A round that logs no entry (a tree head signed again) leaves the bundle as it is too.
  await store.writeRound({ entries: [], leafHashes: [], tiles: [], state: state(257, 10) });
  expect(await rawEntries(store.database, 0x43)).toEqual(new Map());
  // The first round that logs entries writes bundle 1 as chunk 16, and deletes its segment and segment map; bundle 0 keeps its own.
  expect(await grow(store, [2])).toBe(259);
  expect([...(await rawEntries(store.database, 0x43)).keys()]).toEqual([Buffer.concat([Buffer.of(0x43), u64(16)]).toString('hex')]);
  expect([...(await rawEntries(store.database, 0x45)).keys()]).toEqual([f1SegmentKey(0, 0), f1SegmentKey(0, 200)].map((key) => key.toString('hex')));
  expect([...(await rawEntries(store.database, 0x4d)).keys()]).toEqual([f1SegmentMapKey(0).toString('hex')]);
  await expectLog(store, 259);
  await store.close();
  store = await LevelStore.open(dir());
  await expectLog(store, 259);
  expect(await grow(store, [300])).toBe(559);
  await expectLog(store, 559);
  await store.close();
});

test("a format-1 folder missing a partial tile of its right edge fails the open, nothing converted", async () => {
  expect(await writeFormat1(dir(), [100, 200])).toBe(300);
  const db = new Level<Buffer, Buffer>(dir(), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.del(f1TileKey(0, 1));
  await db.close();
  const before = await storeRecords(dir());
  await expect(LevelStore.open(dir())).rejects.toThrow(new StoreCorruptError('tile 0/1, which the tree of size 300 ends inside, is missing'));
  expect(await storeRecords(dir())).toEqual(before);
});

test("a log put in 0.1.0's layout, opened and closed with no round, has its partial tile in format 2 and its state naming its layout, and audits OK", async () => {
  const data = join(dir(), 'data');
  const server = await startServer({ data, host: '127.0.0.1', port: 0, origin: 'format1.test/log' });
  const verifierKey = server.verifierKey;
  await new CairnClient({ baseUrl: server.url, verifierKey }).addBatch(Array.from({ length: 300 }, (_, i) => new TextEncoder().encode(`entry ${i}`)));
  await server.close();
  const db = join(data, 'db');
  expect(await toLayout1(db)).toBe(300);
  // Tile 0/1 holds 44 hashes; tile 1/0 one.
  const tileKey = f1TileKey(0, 1).toString('hex');
  const stateOf = (records: Map<string, string>) => JSON.parse(Buffer.from(records.get(STATE_KEY.toString('hex'))!, 'hex').toString()) as { layout?: number };
  const before = await storeRecords(db);
  expect([before.get(tileKey)!.length / 2, stateOf(before).layout]).toEqual([format1TileLength(44), undefined]);
  const store = await LevelStore.open(db);
  expect(store.olderLayout).toEqual({ layout: 1, convertedBundle: 1 });
  await store.close();
  const after = await storeRecords(db);
  expect([after.get(tileKey)!.length / 2, stateOf(after).layout]).toEqual([2 + 32 * (44 + 11 + 2 + 1), 2]);
  const io = captureIo();
  expect(await auditCommand(['--data', data, '--vkey', verifierKey], io)).toBe(0);
  expect(io.out()).toMatch(/^OK: .* holds 300 entries of format1\.test\/log; /);
});

test('opened with keepLayout, a format-1 folder whose last bundle is partial reads whole and is left in its layout; writeRound refuses', async () => {
  expect(await writeFormat1(dir(), [1, 2, 250, 10, 300, 7, 1, 512, 40])).toBe(1123);
  const raw = async (store: LevelStore) => ({ E: await rawEntries(store.database, 0x45), M: await rawEntries(store.database, 0x4d), C: await rawEntries(store.database, 0x43), S: await rawEntries(store.database, 0x53) });
  let store = await LevelStore.open(dir(), { keepLayout: true });
  const before = await raw(store);
  expect(keysOfBundle(before.E, 0x45, 4).length).toBeGreaterThan(1);
  expect(before.C.size).toBe(0);
  await expectLog(store, 1123);
  expect(store.olderLayout).toEqual({ layout: 1 });
  await expect(store.writeRound({ entries: [entry(1123)], leafHashes: [NODES[0]![1123]!], tiles: [], state: state(1124, 99) })).rejects.toThrow(/opened to be read only/);
  expect(await raw(store)).toEqual(before);
  await store.close();
  // Still format 1 on disk: an ordinary open converts the partial bundle and says which.
  store = await LevelStore.open(dir());
  expect(store.olderLayout).toEqual({ layout: 1, convertedBundle: 4 });
  await store.close();
  store = await LevelStore.open(dir());
  expect(store.olderLayout).toBeUndefined();
  await store.close();
});

test('a format-1 folder whose last bundle is full opens without a write and grows in chunks', async () => {
  expect(await writeFormat1(dir(), [256, 100, 156])).toBe(512);
  let store = await LevelStore.open(dir());
  const before = { E: await rawEntries(store.database, 0x45), M: await rawEntries(store.database, 0x4d) };
  expect((await rawEntries(store.database, 0x43)).size).toBe(0);
  // Still 0.1.0's layout (nothing converted) until the first round.
  expect(store.olderLayout).toEqual({ layout: 1 });
  await expectLog(store, 512);
  const size = await grow(store, [10, 300]);
  await expectLog(store, size);
  expect(await rawEntries(store.database, 0x45)).toEqual(before.E);
  expect(await rawEntries(store.database, 0x4d)).toEqual(before.M);
  await store.close();
  store = await LevelStore.open(dir());
  expect(store.olderLayout).toBeUndefined();
  await expectLog(store, size);
  await store.close();
});

test('a format-1 folder written before segment maps existed reads and grows', async () => {
  expect(await writeFormat1(dir(), [100, 100, 100, 100])).toBe(400);
  const db = new Level<Buffer, Buffer>(dir(), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  const maps = await db.keys({ gte: Buffer.of(0x4d), lt: Buffer.of(0x4e) }).all();
  expect(maps.length).toBe(2);
  await db.batch(maps.map((key) => ({ type: 'del' as const, key })));
  await db.close();
  let store = await LevelStore.open(dir());
  await expectLog(store, 400);
  const size = await grow(store, [200, 1]);
  await expectLog(store, size);
  await store.close();
  store = await LevelStore.open(dir());
  await expectLog(store, size);
  await store.close();
});

test('a format-1 partial bundle that does not hold the entries of the tree fails the open, and releases the lock', async () => {
  expect(await writeFormat1(dir(), [60, 40])).toBe(100);
  for (const [extra, why] of [
    [Buffer.from(encodeEntryBundle([entry(100)])), /does not hold the 100 entries.*expected 100 entries, got 101/],
    [Buffer.of(0, 9, 1), /does not hold the 100 entries.*truncated/],
  ] as const) {
    const db = new Level<Buffer, Buffer>(dir(), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.put(f1SegmentKey(0, 100), extra);
    await db.close();
    await expect(LevelStore.open(dir())).rejects.toBeInstanceOf(StoreCorruptError);
    await expect(LevelStore.open(dir())).rejects.toThrow(why);
  }
  // Nothing was converted, and with the stray segment gone the folder opens as before.
  const db = new Level<Buffer, Buffer>(dir(), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  expect((await db.keys({ gte: Buffer.of(0x43), lt: Buffer.of(0x44) }).all()).length).toBe(0);
  await db.del(f1SegmentKey(0, 100));
  await db.close();
  const store = await LevelStore.open(dir());
  await expectLog(store, 100);
  await store.close();
});

test('a damaged last chunk fails the open with StoreCorruptError', async () => {
  const store = await LevelStore.open(dir());
  await store.writeRound({ entries: [entry(0), entry(1), entry(2)], leafHashes: NODES[0]!.slice(0, 3), tiles: [builtTile(0, 0, 3)], state: state(3, 1) });
  await store.database.put(Buffer.concat([Buffer.of(0x43), u64(0)]), Buffer.from(encodeEntryBundle([entry(0), entry(1)])));
  await store.close();
  await expect(LevelStore.open(dir())).rejects.toThrow(/entry chunk 0 .* does not hold the 3 entries of tree size 3/);
  // Again StoreCorruptError, not StoreLockedError: the failed open let the folder go.
  await expect(LevelStore.open(dir())).rejects.toBeInstanceOf(StoreCorruptError);
});

test('reads of the last bundle while the first round after the open writes it as chunks and deletes its segments (a one-hash right edge) never find it empty', async () => {
  const failures: string[] = [];
  // The read that looks for chunks before the round's write and for segments after it is what can
  // fail; each trial races reads, one per turn of the event loop, against that round.
  for (let t = 0; t < 30 && failures.length === 0; t++) {
    const d = `${dir()}/t${t}`;
    expect(await writeFormat1(d, [200, 56, 1])).toBe(257);
    const store = await LevelStore.open(d);
    let done = false;
    const writing = grow(store, [5]).then(() => (done = true));
    const reads: Promise<unknown>[] = [];
    while (!done) {
      reads.push(
        store.readBundle(1).then(
          (b) => void (b.length === 0 && failures.push('readBundle(1) empty')),
          (e: Error) => failures.push(`readBundle: ${e.message}`),
        ),
      );
      reads.push(store.readEntries(256, 1).then(() => undefined, (e: Error) => failures.push(`readEntries: ${e.message}`)));
      await new Promise((r) => setImmediate(r));
    }
    await writing;
    await Promise.all(reads);
    await store.close();
  }
  expect(failures).toEqual([]);
});
