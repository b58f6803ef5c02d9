// LevelDB's info logs (LOG, and LOG.old before it) through opens that are
// refused: LevelDB starts LOG anew as it begins any open, a refused one and
// a lock probe too, so two refused opens in a row (a start a service manager
// retries) would leave two empty files where its account of the store's last
// runs was. A refused open, by Cairn's checks, by LevelDB or by what it then
// reads, and a lock probe leave both byte for byte as they were; an open
// that goes ahead starts LOG anew as LevelDB does.
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lookForWrites, mayCreateDatabase, StoreFilesError } from '../../src/storage/leveldb-folder.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { StoreCorruptError, type LogState } from '../../src/storage/store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir('cairn-info-logs-');
const hash = (i: number) => createHash('sha256').update(String(i)).digest();

function stateOf(size: number): LogState {
  return { treeSize: size, rootHash: hash(-size), timestamp: size, checkpoint: `checkpoint ${size}`, sth: { tree_size: size, timestamp: size, sha256_root_hash: 'x', tree_head_signature: 'y' }, rightEdge: [hash(-size)] };
}

/** A closed store of two rounds, opened twice (the first round in a table, the second in the live log), so that LOG and LOG.old both tell of its runs. */
async function storeWithHistory(): Promise<string> {
  const dir = join(tempDir(), 'db');
  for (let round = 0; round < 2; round++) {
    const store = await LevelStore.open(dir);
    const entries = [Uint8Array.of(round, 1), Uint8Array.of(round, 2)];
    await store.writeRound({ entries, leafHashes: entries.map((_, i) => hash(2 * round + i)), tiles: [], state: stateOf(2 * round + 2) });
    await store.close();
  }
  return dir;
}

/** LOG's and LOG.old's bytes, base64 ('' for an empty file), undefined for one missing. */
async function infoLogs(dir: string): Promise<{ LOG?: string; 'LOG.old'?: string }> {
  const read = (name: string) => readFile(join(dir, name)).then((bytes) => bytes.toString('base64'), () => undefined);
  return { LOG: await read('LOG'), 'LOG.old': await read('LOG.old') };
}

/** The store's info logs, checked to be both there and not empty (LevelDB wrote in them). */
async function historyOf(dir: string): Promise<{ LOG?: string; 'LOG.old'?: string }> {
  const logs = await infoLogs(dir);
  expect(logs.LOG).toMatch(/./);
  expect(logs['LOG.old']).toMatch(/./);
  expect(logs.LOG).not.toBe(logs['LOG.old']);
  return logs;
}

/** The error LevelStore.open of `dir` is refused with. */
async function refusal(dir: string, options: { keepLayout?: boolean } = {}): Promise<Error> {
  let error: unknown;
  await LevelStore.open(dir, options).then(
    (store) => store.close(),
    (err: unknown) => {
      error = err;
    },
  );
  if (!(error instanceof Error)) throw new Error('the store opened');
  return error;
}

/** The names in `dir` other than LevelDB's own: none is left by an open or a probe. */
async function strayNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => !/^(CURRENT|LOCK|LOG|LOG\.old|MANIFEST-\d+|\d+\.(log|ldb))$/.test(name));
}

test("a store refused twice for its missing live write-ahead log (Cairn's check, then the lock probe) keeps LOG and LOG.old byte for byte", async () => {
  const dir = await storeWithHistory();
  const [live] = (await readdir(dir)).filter((n) => n.endsWith('.log')).sort().reverse();
  await rm(join(dir, live!));
  const before = await historyOf(dir);
  for (const options of [{}, { keepLayout: true }]) {
    const error = await refusal(dir, options);
    expect(error).toBeInstanceOf(StoreFilesError);
    expect(error.message).toMatch(/names as live, is missing: .*The store was not opened and nothing in it was changed; put that file back, or restore the store from a backup$/);
    expect(await infoLogs(dir)).toEqual(before);
  }
  expect(await strayNames(dir)).toEqual([]);
});

test('a store LevelDB refuses as it opens (a table missing) keeps LOG and LOG.old, refused twice', async () => {
  const dir = await storeWithHistory();
  const [table] = (await readdir(dir)).filter((n) => n.endsWith('.ldb'));
  await rm(join(dir, table!));
  const before = await historyOf(dir);
  for (let i = 0; i < 2; i++) {
    expect((await refusal(dir)).message).toMatch(/^LevelDB finds the store in .* corrupt \(Corruption: 1 missing files; .*\); restore it from a backup$/);
    expect(await infoLogs(dir)).toEqual(before);
  }
  expect(await strayNames(dir)).toEqual([]);
});

test('a store refused for what LevelDB reads once it opened (its state gone) keeps LOG and LOG.old, refused twice', async () => {
  const dir = await storeWithHistory();
  const store = await LevelStore.open(dir);
  await store.database.del(Uint8Array.of(0x53));
  await store.close();
  const before = await historyOf(dir);
  for (let i = 0; i < 2; i++) {
    const error = await refusal(dir);
    expect(error).toBeInstanceOf(StoreCorruptError);
    expect(error.message).toMatch(/ holds entry chunks and leaf-hash index keys but no state /);
    expect(await infoLogs(dir)).toEqual(before);
  }
  expect(await strayNames(dir)).toEqual([]);
});

test("LevelStore.inUseOrWritten's lock probe leaves LOG and LOG.old as they were", async () => {
  const dir = join(tempDir(), 'db');
  for (let i = 0; i < 2; i++) await (await LevelStore.open(dir)).close();
  const before = await historyOf(dir);
  for (let i = 0; i < 2; i++) {
    expect(await LevelStore.inUseOrWritten(dir)).toBeUndefined();
    expect(await infoLogs(dir)).toEqual(before);
  }
  expect(await strayNames(dir)).toEqual([]);
});

test('an open that goes ahead starts LOG anew as LevelDB does, the one before kept as LOG.old', async () => {
  const dir = await storeWithHistory();
  const before = await historyOf(dir);
  const store = await LevelStore.open(dir);
  expect((await store.readState())?.treeSize).toBe(4);
  const during = await infoLogs(dir);
  expect(during['LOG.old']).toBe(before.LOG);
  expect(during.LOG).not.toBe(before.LOG);
  await store.close();
  expect(await strayNames(dir)).toEqual([]);
});

test('info logs kept by an open a crash cut short are no store files, and the next open replaces them', async () => {
  const dir = await storeWithHistory();
  await writeFile(join(dir, 'LOG.cairn-kept'), 'kept by an open that a crash cut short\n');
  await writeFile(join(dir, 'LOG.old.cairn-kept'), 'kept too\n');
  expect(await lookForWrites(dir)).toMatchObject({ why: expect.stringMatching(/^it holds the table file \d+\.ldb$/) });
  const store = await LevelStore.open(dir);
  await store.close();
  expect(await strayNames(dir)).toEqual([]);
  // Beside LevelDB's lock and info log only, a folder may still be made a store.
  const first = join(tempDir(), 'first-open');
  await mkdir(first);
  await cp(join(dir, 'LOG'), join(first, 'LOG'));
  await writeFile(join(first, 'LOCK'), '');
  await writeFile(join(first, 'LOG.cairn-kept'), 'kept\n');
  expect(await mayCreateDatabase(first)).toBe(true);
  expect(await lookForWrites(first)).toBeUndefined();
});

test('where an info log cannot be kept, the refusal says LevelDB started it anew', async () => {
  const dir = await storeWithHistory();
  const [live] = (await readdir(dir)).filter((n) => n.endsWith('.log')).sort().reverse();
  await rm(join(dir, live!));
  // A folder in the way of LOG's kept name: it cannot be kept.
  await mkdir(join(dir, 'LOG.cairn-kept'));
  await writeFile(join(dir, 'LOG.cairn-kept', 'x'), '');
  const before = await historyOf(dir);
  const error = await refusal(dir);
  expect(error).toBeInstanceOf(StoreFilesError);
  expect(error.message).toMatch(
    /nothing in it was changed; put that file back, or restore the store from a backup\. LevelDB's info logs \(LOG, LOG\.old\), which it starts anew as it begins to open a store, could not be put back as they were: LOG could not be kept \(.+\)$/,
  );
  // LOG.old, kept, is back; LOG was started anew.
  const after = await infoLogs(dir);
  expect(after['LOG.old']).toBe(before['LOG.old']);
  expect(after.LOG).not.toBe(before.LOG);
});
