// LevelStore.inUseOrWritten: whether a closed store provably holds no write
// and nobody holds it (what a first start that failed needs to know before
// it takes back the key it made); lookForWrites and lockShown of
// leveldb-folder.ts, what serve looks at beside a store whose key is missing.
import { createHash } from 'node:crypto';
import { readdir, rm, stat, symlink, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { lockShown, lookForWrites, mountDevice, type ProcTables } from '../../src/storage/leveldb-folder.js';
import { LevelStore } from '../../src/storage/level-store.js';
import type { LogState } from '../../src/storage/store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir('cairn-unused-');
const hash = (i: number) => createHash('sha256').update(String(i)).digest();
const state0: LogState = { treeSize: 0, rootHash: hash(0), timestamp: 1, checkpoint: 'checkpoint 0', sth: { tree_size: 0, timestamp: 1, sha256_root_hash: 'x', tree_head_signature: 'y' }, rightEdge: [] };

test('a store made and closed with no write is unused and empty; one held open is in use', async () => {
  const db = join(tempDir(), 'db');
  const store = await LevelStore.open(db);
  expect(await LevelStore.inUseOrWritten(db)).toBe('another process holds its lock');
  await store.close();
  expect(await LevelStore.inUseOrWritten(db)).toBeUndefined();
  // A folder that cannot be read may hold anything.
  expect(await LevelStore.inUseOrWritten(join(tempDir(), 'none'))).toMatch(/^its folder cannot be read \(ENOENT: /);
});

test('a write in the write-ahead log or in a table counts; a write cut off by the end of its log does not', async () => {
  const db = join(tempDir(), 'db');
  const store = await LevelStore.open(db);
  await store.writeRound({ entries: [], leafHashes: [], tiles: [], state: state0 });
  await store.close();
  const log = (await readdir(db)).find((name) => name.endsWith('.log'))!;
  expect(await LevelStore.inUseOrWritten(db)).toBe(`its write-ahead log ${log} holds a write`);
  // The record cut short, as a write that failed part-way leaves it: LevelDB's recovery drops it.
  await truncate(join(db, log), (await stat(join(db, log))).size - 3);
  expect(await LevelStore.inUseOrWritten(db)).toBeUndefined();
  await truncate(join(db, log), 0);
  const again = await LevelStore.open(db);
  await again.writeRound({ entries: [], leafHashes: [], tiles: [], state: state0 });
  await again.close();
  // Opened once more, LevelDB moves the write-ahead log into a table.
  await (await LevelStore.open(db)).close();
  const table = (await readdir(db)).find((name) => name.endsWith('.ldb') || name.endsWith('.sst'))!;
  expect(table).toBeDefined();
  expect(await LevelStore.inUseOrWritten(db)).toBe(`it holds the table file ${table}`);
});

test('a write-ahead log that cannot be read leaves it untold, unless another file shows a write', async () => {
  const db = join(tempDir(), 'db');
  await (await LevelStore.open(db)).close();
  // A log whose read fails (EIO): a test run as root reads one of mode 0000.
  await symlink('/proc/self/mem', join(db, '000000.log'));
  const unread = { why: 'its write-ahead log 000000.log cannot be read (EIO: i/o error, read)', unreadable: true };
  expect(await lookForWrites(db)).toEqual(unread);
  expect(await LevelStore.inUseOrWritten(db)).toBe(unread.why);
  await rm(join(db, '000000.log'));
  const store = await LevelStore.open(db);
  await store.writeRound({ entries: [], leafHashes: [], tiles: [], state: state0 });
  await store.close();
  await symlink('/proc/self/mem', join(db, '000000.log'));
  const log = (await readdir(db)).filter((name) => name.endsWith('.log')).sort().at(-1)!;
  expect(await lookForWrites(db)).toEqual({ why: `its write-ahead log ${log} holds a write`, unreadable: false });
  expect(await lookForWrites(join(tempDir(), 'none'))).toMatchObject({ why: expect.stringMatching(/^its folder cannot be read \(ENOENT: /), unreadable: true });
});

test("the system's lock table shows the lock of a store held open, and of no store closed or missing", async () => {
  const db = join(tempDir(), 'db');
  const store = await LevelStore.open(db);
  expect(await lockShown(db)).toBe(true);
  await store.close();
  expect(await lockShown(db)).toBe(false);
  expect(await lockShown(join(tempDir(), 'none'))).toBe(false);
});

test("a lock the table shows only by the mount's device (btrfs) is held only if the holder it names has the lock file open", async () => {
  const db = join(tempDir(), 'db');
  const store = await LevelStore.open(db);
  const { dev, ino } = await stat(join(db, 'LOCK'), { bigint: true });
  // As on btrfs: the table and the mount table give the file system's device (0:153), stat a subvolume's.
  expect(dev).not.toBe(153n);
  const tables = (pid: number): ProcTables => ({
    locks: async () => `1: POSIX  ADVISORY  WRITE ${pid} 00:99:${ino} 0 EOF\n2: FLOCK  ADVISORY  WRITE 1 00:99:1 0 EOF\n`,
    mountinfo: async () => '22 1 0:153 / / rw,relatime shared:1 - btrfs /dev/loop0 rw\n',
  });
  expect(await lockShown(db, tables(process.pid))).toBe(true);
  // A holder whose open files cannot be read (no such process; another user's, hidepid): not shown.
  const unseen = 2 ** 22 + 1;
  expect(await lockShown(db, tables(unseen))).toBe(false);
  await store.close();
  // A snapshot, or a subvolume made alike, has a lock file of the same inode number: nobody holds this one.
  expect(await lockShown(db, tables(process.pid))).toBe(false);
  // The file's own device in the table needs no holder's files.
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const own = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`;
  expect(await lockShown(db, { ...tables(unseen), locks: async () => `1: POSIX  ADVISORY  WRITE ${unseen} ${own} 0 EOF\n` })).toBe(true);
});

test("a file's device for the lock table is its mount's (btrfs's stat gives a subvolume's own): the longest mount point holding it, the last of equals", () => {
  const mountinfo = [
    '22 1 0:21 / / rw,relatime shared:1 - btrfs /dev/sda2 rw,subvol=/@',
    '29 22 8:1 / /boot rw,relatime shared:2 - ext4 /dev/sda1 rw',
    '31 22 0:21 /@home /home rw,relatime shared:3 - btrfs /dev/sda2 rw,subvol=/@home',
    '40 31 0:45 / /home/my\\040data rw - tmpfs tmpfs rw',
    '41 31 0:46 / /home/my\\040data rw - tmpfs tmpfs rw',
    '',
  ].join('\n');
  expect(mountDevice(mountinfo, '/var/lib/cairn/db')).toEqual({ major: 0, minor: 21 });
  expect(mountDevice(mountinfo, '/boot')).toEqual({ major: 8, minor: 1 });
  expect(mountDevice(mountinfo, '/bootstrap/db')).toEqual({ major: 0, minor: 21 });
  expect(mountDevice(mountinfo, '/home/me/db')).toEqual({ major: 0, minor: 21 });
  expect(mountDevice(mountinfo, '/home/my data/db')).toEqual({ major: 0, minor: 46 });
  expect(mountDevice('', '/x')).toBeUndefined();
});
