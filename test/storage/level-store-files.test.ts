// LevelStore.open on damaged LevelDB files (see src/storage/leveldb-folder.ts):
// a store whose CURRENT file is gone, and write-ahead logs damaged in the
// middle, are refused with every file left as it was; the end a crash leaves
// (the last round damaged or cut off) opens at the round before; logs that
// LevelDB itself wrote, with records over several blocks, read back whole.
import { createHash } from 'node:crypto';
import { appendFile, cp, mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c, maskCrc } from '../../src/storage/crc32c.js';
import { StoreFilesError } from '../../src/storage/leveldb-folder.js';
import { scanLog } from '../../src/storage/leveldb-log.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { StoreCorruptError, type LogState } from '../../src/storage/store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir('cairn-files-');
let root: string;
/** The store's folder; copies of it go beside it. */
let dir: string;
beforeEach(() => {
  root = tempDir();
  dir = join(root, 'db');
});

/** A copy of the store's folder, beside it. */
async function copyOf(name: string): Promise<string> {
  const copy = join(root, name);
  await cp(dir, copy, { recursive: true });
  return copy;
}

const hash = (i: number) => createHash('sha256').update(String(i)).digest();

function stateOf(size: number): LogState {
  return { treeSize: size, rootHash: hash(-size), timestamp: size, checkpoint: `checkpoint ${size}`, sth: { tree_size: size, timestamp: size, sha256_root_hash: 'x', tree_head_signature: 'y' }, rightEdge: [hash(-size)] };
}

/** Appends `rounds` rounds of `perRound` entries of `entryBytes` bytes each; returns the tree size after each. */
async function writeRounds(store: LevelStore, rounds: number, perRound: number, entryBytes = 20): Promise<number[]> {
  const sizes: number[] = [];
  let size = (await store.readState())?.treeSize ?? 0;
  for (let r = 0; r < rounds; r++) {
    const entries = Array.from({ length: perRound }, (_, i) => new Uint8Array(entryBytes).fill((size + i) % 256));
    await store.writeRound({ entries, leafHashes: entries.map((_, i) => hash(size + i)), tiles: [], state: stateOf(size + perRound) });
    size += perRound;
    sizes.push(size);
  }
  return sizes;
}

/** Every file in `folder` and a hash of its bytes, but LevelDB's info log (LOG, LOG.old), which any open of LevelDB starts anew. */
async function contents(folder: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(folder)).sort()) {
    if (name === 'LOG' || name === 'LOG.old') continue;
    out[name] = createHash('sha256').update(await readFile(join(folder, name))).digest('hex');
  }
  return out;
}

async function logFiles(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((n) => n.endsWith('.log')).sort();
}

async function flipByte(file: string, at: number): Promise<void> {
  const bytes = await readFile(file);
  bytes[at] = bytes[at]! ^ 0x10;
  await writeFile(file, bytes);
}

async function treeSizeAfterOpen(folder: string): Promise<number | undefined> {
  const store = await LevelStore.open(folder);
  try {
    return (await store.readState())?.treeSize;
  } finally {
    await store.close();
  }
}

test('a store whose CURRENT file is gone is refused, and its tables and logs are all left as they were', async () => {
  const store = await LevelStore.open(dir);
  await writeRounds(store, 3, 100);
  await store.close();
  // Reopened once, the first rounds are in a table; the next ones in the write-ahead log.
  const again = await LevelStore.open(dir);
  await writeRounds(again, 2, 100);
  await again.close();
  expect((await readdir(dir)).filter((n) => n.endsWith('.ldb'))).toHaveLength(1);
  const current = await readFile(join(dir, 'CURRENT'));
  await rm(join(dir, 'CURRENT'));
  const before = await contents(dir);
  await expect(LevelStore.open(dir)).rejects.toBeInstanceOf(StoreFilesError);
  let message = '';
  await LevelStore.open(dir).catch((err: unknown) => {
    message = (err as Error).message;
  });
  expect(message).toMatch(/has lost its CURRENT file .* holds 1 table file, 1 write-ahead log file, 1 MANIFEST file: .*no data in it was changed; restore the store from a backup, or, if only CURRENT was lost, write the name of its newest MANIFEST and a newline into it \("MANIFEST-\d+\\n"\)$/);
  expect(await contents(dir)).toEqual(before);
  // Nothing was lost: with CURRENT back as the message says, every round is there.
  const named = /\("(MANIFEST-\d+)\\n"\)$/.exec(message)![1];
  expect(`${named!}\n`).toBe(current.toString('latin1'));
  await writeFile(join(dir, 'CURRENT'), `${named!}\n`);
  expect(await treeSizeAfterOpen(dir)).toBe(500);
});

test('a folder holding only what an open that never made the database leaves is made a store; any other file is refused', async () => {
  const leftovers = join(root, 'first-open');
  await mkdir(leftovers);
  await writeFile(join(leftovers, 'LOCK'), '');
  await writeFile(join(leftovers, 'LOG'), 'an info log\n');
  expect(await treeSizeAfterOpen(leftovers)).toBeUndefined();
  expect(await LevelStore.exists(leftovers)).toBe(true);

  const other = join(root, 'other');
  await mkdir(other);
  await writeFile(join(other, 'notes.txt'), 'mine');
  await expect(LevelStore.open(other)).rejects.toThrow(/^the folder .*other holds no store \(no CURRENT file\) but is not empty \(1 other file\): it was not made a store; give an empty folder$/);
  await expect(LevelStore.exists(other)).rejects.toBeInstanceOf(StoreFilesError);
  expect(await readdir(other)).toEqual(['notes.txt']);
  expect(await LevelStore.exists(join(root, 'none'))).toBe(false);
});

test('an untouched write-ahead log opens with every round', async () => {
  const store = await LevelStore.open(dir);
  const sizes = await writeRounds(store, 20, 7);
  await store.close();
  expect(await logFiles(dir)).toEqual(['000003.log']);
  expect(await treeSizeAfterOpen(dir)).toBe(sizes.at(-1));
});

test('a byte damaged in the middle of the write-ahead log is refused, naming the log and the offset; the log is left as it was', async () => {
  const store = await LevelStore.open(dir);
  await writeRounds(store, 40, 5);
  await store.close();
  const log = join(dir, '000003.log');
  const size = (await readFile(log)).length;
  const at = Math.floor(size / 2);
  await flipByte(log, at);
  const before = await contents(dir);
  let error: unknown;
  await LevelStore.open(dir).catch((err: unknown) => {
    error = err;
  });
  expect(error).toBeInstanceOf(StoreFilesError);
  expect(error).toBeInstanceOf(StoreCorruptError);
  const message = (error as Error).message;
  expect(message).toMatch(new RegExp(`write-ahead log ${join(dir, '000003.log')} is damaged at byte \\d+ \\(a checksum mismatch\\), and a later write at byte \\d+ reads back: .* restore it from a backup`));
  const offset = Number(/damaged at byte (\d+)/.exec(message)![1]);
  expect(offset).toBeLessThanOrEqual(at);
  expect(offset).toBeGreaterThan(at - 1000);
  expect(await contents(dir)).toEqual(before);
});

test('the last round damaged, or cut off, is the end a crash leaves: the store opens at the round before', async () => {
  const store = await LevelStore.open(dir);
  const sizes = await writeRounds(store, 10, 5);
  await store.close();
  const log = join(dir, '000003.log');
  const size = (await readFile(log)).length;
  const copies = [await copyOf('a'), await copyOf('b'), await copyOf('c')];
  // The last bytes of the log are the end of the last round's state record.
  await flipByte(join(copies[0]!, '000003.log'), size - 5);
  await truncate(join(copies[1]!, '000003.log'), size - 50);
  await truncate(join(copies[2]!, '000003.log'), size - 1);
  for (const copy of copies) expect(await treeSizeAfterOpen(copy)).toBe(sizes.at(-2));
  expect(await treeSizeAfterOpen(dir)).toBe(sizes.at(-1));
});

test("rounds larger than a block read back as LevelDB's write batches; a damaged middle fragment is refused", async () => {
  const store = await LevelStore.open(dir);
  // 32 entries of 3000 bytes: 96 KB a round, over three or four blocks; two chunks of 16 entries.
  await writeRounds(store, 4, 32, 3000);
  await store.close();
  const log = join(dir, '000003.log');
  const bytes = new Uint8Array(await readFile(log));
  const scan = scanLog(bytes, true);
  expect(scan.bad).toBeUndefined();
  // Each record a WriteBatch (LevelDB db/write_batch.cc): sequence (u64 LE), count (u32 LE), then its puts.
  // A round puts 2 chunks, 32 leaf indexes and the state; sequences follow on from each other.
  expect(scan.records).toHaveLength(4);
  const view = (r: Uint8Array) => new DataView(r.buffer, r.byteOffset, r.byteLength);
  const counts = scan.records.map((r) => view(r).getUint32(8, true));
  expect(counts).toEqual([35, 35, 35, 35]);
  const sequences = scan.records.map((r) => Number(view(r).getBigUint64(0, true)));
  expect(sequences.slice(1)).toEqual(sequences.slice(0, -1).map((s) => s + 35));
  expect(scan.records.every((r) => r.length > 96_000)).toBe(true);
  expect(await treeSizeAfterOpen(await copyOf('intact'))).toBe(128);

  // The second block of the log is a middle fragment of the first round.
  await flipByte(log, 32768 + 1000);
  await expect(LevelStore.open(dir)).rejects.toThrow(/000003\.log is damaged at byte 32768 \(a checksum mismatch\), and a later write at byte \d+ reads back/);
});

test('the damaged end of one log followed by a write in a later log is refused; a damaged log LevelDB no longer replays is not', async () => {
  const store = await LevelStore.open(dir);
  const sizes = await writeRounds(store, 6, 5);
  await store.close();
  const original = await readFile(join(dir, '000003.log'));

  // A stale log: opened and closed, the rounds are in a table and 000003.log is gone; a damaged copy put back is ignored.
  const stale = await copyOf('stale');
  expect(await treeSizeAfterOpen(stale)).toBe(sizes.at(-1));
  expect(await logFiles(stale)).not.toContain('000003.log');
  const damaged = Buffer.from(original);
  const middle = Math.floor(damaged.length / 2);
  damaged[middle] = damaged[middle]! ^ 0x10;
  await writeFile(join(stale, '000003.log'), damaged);
  expect(await treeSizeAfterOpen(stale)).toBe(sizes.at(-1));

  // The end of 000003.log cut off (alone, the end a crash leaves), then a later log holding a write: its first record, a FULL one.
  await truncate(join(dir, '000003.log'), original.length - 20);
  const first = original.subarray(0, 7 + original[4]! + 256 * original[5]!);
  expect(first[6]).toBe(1);
  await writeFile(join(dir, '000009.log'), first);
  const before = await contents(dir);
  await expect(LevelStore.open(dir)).rejects.toThrow(/000003\.log is damaged at byte \d+ \(a record of \d+ bytes cut off by the end of the file\), and the later log 000009\.log holds writes/);
  expect(await contents(dir)).toEqual(before);
});

test("a table file missing is refused in LevelDB's words, as damaged store files", async () => {
  const store = await LevelStore.open(dir);
  await writeRounds(store, 3, 10);
  await store.close();
  expect(await treeSizeAfterOpen(dir)).toBe(30); // the rounds now in a table
  const [table] = (await readdir(dir)).filter((n) => n.endsWith('.ldb'));
  await rm(join(dir, table!));
  await expect(LevelStore.open(dir)).rejects.toBeInstanceOf(StoreFilesError);
  await expect(LevelStore.open(dir)).rejects.toThrow(new RegExp(`LevelDB finds the store in .* corrupt \\(Corruption: 1 missing files; e\\.g\\.: .*${table!}\\); restore it from a backup`));
});

test('while another opener holds the store, a damaged log is reported as the store in use', async () => {
  const store = await LevelStore.open(dir);
  try {
    await writeRounds(store, 10, 5);
    const [log] = await logFiles(dir);
    await flipByte(join(dir, log!), 100);
    await expect(LevelStore.open(dir)).rejects.toThrow(/in use by another Cairn process/);
  } finally {
    await store.close();
  }
  await expect(LevelStore.open(dir)).rejects.toBeInstanceOf(StoreFilesError);
});

/** The live write-ahead log: the newest. */
async function liveLog(folder: string): Promise<string> {
  const logs = await logFiles(folder);
  expect(logs.length).toBeGreaterThan(0);
  return logs.at(-1)!;
}

test('the write-ahead log the MANIFEST names, lost from a young store, is refused: not opened as an empty log', async () => {
  const store = await LevelStore.open(dir);
  await writeRounds(store, 5, 10);
  await store.close();
  // Every round is still in the first log, which the MANIFEST names.
  expect(await logFiles(dir)).toEqual(['000003.log']);
  expect((await readdir(dir)).filter((n) => n.endsWith('.ldb'))).toEqual([]);
  const saved = await readFile(join(dir, '000003.log'));
  await rm(join(dir, '000003.log'));
  const before = await contents(dir);
  let error: unknown;
  await LevelStore.open(dir).catch((err: unknown) => {
    error = err;
  });
  expect(error).toBeInstanceOf(StoreFilesError);
  expect((error as Error).message).toMatch(
    new RegExp(`^the store's write-ahead log ${join(dir, '000003.log')}, which its MANIFEST-\\d+ names as live, is missing: writes not yet moved into a table .* may be lost.* The store was not opened and no data in it was changed; put that file back, or restore the store from a backup$`),
  );
  expect(await contents(dir)).toEqual(before);
  // Put back, every round is there.
  await writeFile(join(dir, '000003.log'), saved);
  expect(await treeSizeAfterOpen(dir)).toBe(50);
});

test('the live write-ahead log lost after the first rounds went into a table is refused, not opened at the older size', async () => {
  const store = await LevelStore.open(dir);
  await writeRounds(store, 3, 10);
  await store.close();
  // Reopened, the first rounds go into a table and a new log is the live one; then three rounds more.
  const again = await LevelStore.open(dir);
  await writeRounds(again, 3, 1);
  await again.close();
  expect((await readdir(dir)).filter((n) => n.endsWith('.ldb'))).toHaveLength(1);
  const live = await liveLog(dir);
  expect(live).not.toBe('000003.log');
  const lost = await copyOf('lost');
  await rm(join(lost, live));
  const before = await contents(lost);
  await expect(LevelStore.open(lost)).rejects.toThrow(new RegExp(`write-ahead log ${join(lost, live)}, which its MANIFEST-\\d+ names as live, is missing`));
  await expect(LevelStore.open(lost)).rejects.toBeInstanceOf(StoreFilesError);
  expect(await contents(lost)).toEqual(before);
  // An older log put in its place does not stand for it.
  await writeFile(join(lost, '000003.log'), '');
  await expect(LevelStore.open(lost)).rejects.toThrow(new RegExp(`${live}, which its MANIFEST-\\d+ names as live, is missing`));
  expect(await treeSizeAfterOpen(dir)).toBe(33);
});

test("a missing log that the MANIFEST names as the previous log (older LevelDB's prevLog) is refused too", async () => {
  const store = await LevelStore.open(dir);
  await writeRounds(store, 2, 10);
  await store.close();
  const manifest = (await readFile(join(dir, 'CURRENT'), 'latin1')).trim();
  // A VersionEdit record setting the previous log number (tag 9) to 2, appended to the MANIFEST.
  const edit = Uint8Array.of(9, 2);
  const record = new Uint8Array(7 + edit.length);
  record[6] = 1; // FULL
  record.set(edit, 7);
  new DataView(record.buffer).setUint32(0, maskCrc(crc32c(record, 6)), true);
  new DataView(record.buffer).setUint16(4, edit.length, true);
  await appendFile(join(dir, manifest), record);
  await expect(LevelStore.open(dir)).rejects.toThrow(new RegExp(`write-ahead log ${join(dir, '000002.log')}, which its ${manifest} names as the previous log, is missing`));
  await writeFile(join(dir, '000002.log'), '');
  expect(await treeSizeAfterOpen(dir)).toBe(20);
});

test('a store LevelDB has just compacted (its memtable moved into a table, its log switched) opens with every round', async () => {
  const store = await LevelStore.open(dir);
  // 5 MB of entries: more than LevelDB's 4 MiB write buffer, so it switches to a new log and writes the old one into a table.
  const sizes = await writeRounds(store, 50, 32, 3000);
  // The memtable is written into a table by LevelDB's background thread; a close before it is
  // done abandons that work and keeps the old log. On a busy machine it can take a while: wait
  // (up to 20 s) for the old log to go, so that the store this test opens has really compacted.
  for (let waited = 0; waited < 20_000 && (await logFiles(dir)).includes('000003.log'); waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await store.close();
  expect((await readdir(dir)).filter((n) => n.endsWith('.ldb')).length).toBeGreaterThan(0);
  expect(await logFiles(dir)).not.toContain('000003.log');
  expect(await treeSizeAfterOpen(dir)).toBe(sizes.at(-1));
  expect(await treeSizeAfterOpen(dir)).toBe(sizes.at(-1));
});
