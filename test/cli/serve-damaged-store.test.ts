// serve on a store that lost its live write-ahead log or its state, or that a
// newer Cairn wrote: it refuses to start, and makes no key for a store that
// holds entries (it would sign tree heads for sizes already signed); one
// whose key is missing is refused before its store is opened, and one that
// lost its CURRENT file is reported as such, a missing --key or not, as is
// one whose write-ahead log cannot be read.
import { cp, readdir, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { refuseLostKey, startServer } from '../../src/cli/server.js';
import { CairnClient } from '../../src/client/client.js';
import { StoreFilesError } from '../../src/storage/leveldb-folder.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { StoreCorruptError, StoreLayoutError } from '../../src/storage/store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir('cairn-serve-damaged-');
const enc = (s: string) => new TextEncoder().encode(s);
const S = Uint8Array.of(0x53);

/** A data folder whose log holds 3 entries, in the write-ahead log; the server stopped. */
async function logOfThree(): Promise<string> {
  const data = join(tempDir(), 'data');
  const server = await startServer({ data, host: '127.0.0.1', port: 0 });
  const client = new CairnClient({ baseUrl: server.url, verifierKey: server.verifierKey });
  for (let i = 0; i < 3; i++) await client.addEntry(enc(`entry ${i}`));
  await server.close();
  return data;
}

test('serve refuses a store whose live write-ahead log is missing, and one that lost its state, making no key', async () => {
  const data = await logOfThree();
  const noLog = join(tempDir(), 'no-log');
  await cp(data, noLog, { recursive: true });
  const [log] = (await readdir(join(noLog, 'db'))).filter((n) => n.endsWith('.log'));
  await rm(join(noLog, 'db', log!));
  await expect(startServer({ data: noLog, host: '127.0.0.1', port: 0 })).rejects.toBeInstanceOf(StoreFilesError);

  const store = await LevelStore.open(join(data, 'db'));
  await store.database.del(S);
  await store.close();
  // Its key missing, it is refused before the store is opened; with it, as corrupt.
  await rename(join(data, 'log.key'), join(tempDir(), 'log.key'));
  await expect(startServer({ data, host: '127.0.0.1', port: 0 })).rejects.toThrow(/may hold a log \(.*\), and its key .* is missing: the store was not opened and no key was made/);
  expect(await readdir(data)).toEqual(['db']);
  await expect(startServer({ data, key: join(tempDir(), 'log.key'), host: '127.0.0.1', port: 0 })).rejects.toThrow(StoreCorruptError);
  await expect(startServer({ data, key: join(tempDir(), 'log.key'), host: '127.0.0.1', port: 0 })).rejects.toThrow(/holds entry chunks, leaf-hash index keys and hash tiles but no state/);
  expect(await readdir(data)).toEqual(['db']);
});

test('serve refuses a store a newer Cairn wrote', async () => {
  const data = await logOfThree();
  const store = await LevelStore.open(join(data, 'db'));
  const state = JSON.parse(new TextDecoder().decode(await store.database.get(S))) as Record<string, unknown>;
  await store.database.put(S, enc(JSON.stringify({ ...state, layout: 3 })));
  await store.close();
  await expect(startServer({ data, host: '127.0.0.1', port: 0 })).rejects.toBeInstanceOf(StoreLayoutError);
});

test('a missing --key beside a store that lost its CURRENT file gets the store\'s problem, not advice to make a new key', async () => {
  const data = await logOfThree();
  await rename(join(data, 'log.key'), join(tempDir(), 'moved.key'));
  await rm(join(data, 'db', 'CURRENT'));
  const start = startServer({ data, key: join(tempDir(), 'no.key'), host: '127.0.0.1', port: 0 });
  await expect(start).rejects.toBeInstanceOf(StoreFilesError);
  await expect(start).rejects.toThrow(/the store in .* has lost its CURRENT file \(LevelDB's pointer to its MANIFEST\) but still holds 1 write-ahead log file, 1 MANIFEST file: it was not opened/);
  await expect(start).rejects.not.toThrow(/keygen/);
  expect(await readdir(data)).toEqual(['db']);
});

test("a missing key beside a store whose write-ahead log cannot be read gets the read's failure, not advice to put the key back", async () => {
  const data = await logOfThree();
  await rename(join(data, 'log.key'), join(tempDir(), 'moved.key'));
  const db = join(data, 'db');
  const [log] = (await readdir(db)).filter((n) => n.endsWith('.log'));
  // A log whose read fails (EIO): a test run as root reads one of mode 0000.
  await rename(join(db, log!), join(tempDir(), log!));
  await symlink('/proc/self/mem', join(db, log!));
  for (const key of [{}, { key: join(tempDir(), 'no.key') }]) {
    const start = startServer({ data, ...key, host: '127.0.0.1', port: 0 });
    await expect(start).rejects.toThrow(`cannot open the store in ${db}: EIO: i/o error, read`);
    await expect(start).rejects.not.toThrow(/key/);
  }
  expect(await readdir(data)).toEqual(['db']);
  // Readable again, the lost key is what stops it.
  await rm(join(db, log!));
  await rename(join(tempDir(), log!), join(db, log!));
  await expect(startServer({ data, host: '127.0.0.1', port: 0 })).rejects.toThrow(/may hold a log \(its write-ahead log \d+\.log holds a write\), and its key .* is missing/);
});

test('a key that a first start on the same folder made while the store was looked into is not refused as missing', async () => {
  const data = await logOfThree();
  const key = join(data, 'log.key');
  const db = join(data, 'db');
  // Missing when looked for before the store, there once its write was found (the other start made it and wrote its first checkpoint).
  const seen = (answers: boolean[]) => async () => answers.shift()!;
  await expect(refuseLostKey(key, db, seen([false, true]))).resolves.toBe(false);
  await expect(refuseLostKey(key, db, seen([false, false]))).rejects.toThrow(/may hold a log \(its write-ahead log \d+\.log holds a write\), and its key .* is missing/);
});
