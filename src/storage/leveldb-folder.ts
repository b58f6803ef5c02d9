import type { BigIntStats } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { showNonPrinting } from '../non-printing.js';
import { scanLog } from './leveldb-log.js';
import { StoreCorruptError } from './store.js';

/*
 * What LevelStore checks in a LevelDB folder before LevelDB may open it, for
 * the two things LevelDB's recovery does without a word (classic-level has
 * no paranoid_checks and no read-only open):
 * - With its CURRENT file gone, a folder full of tables and logs looks new to
 *   LevelDB: told to create a database if missing, it makes an empty one
 *   there and deletes the old tables as obsolete.
 * - A write-ahead log record that does not read back is skipped, with the
 *   writes after it kept: a round lost from the middle of the log.
 * - The write-ahead log its MANIFEST names as live may be missing: LevelDB
 *   replays the logs there are, and the rounds in the lost one are gone.
 * No check changes a file.
 */

/**
 * StoreCorruptError for damage to the database's own files (its CURRENT
 * file, MANIFEST or write-ahead logs) rather than to the records in them.
 * Its message, as every message here, names paths and quotes what it read
 * with their non-printing characters shown as escapes (showNonPrinting).
 */
export class StoreFilesError extends StoreCorruptError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreFilesError';
  }
}

/**
 * What an open that never got to make the database leaves in its folder
 * (LevelDB's lock and info log, and a first MANIFEST not yet named by a
 * CURRENT file): such a folder holds no data, and may be made a database.
 */
const LEFT_BY_A_FIRST_OPEN = new Set(['LOCK', 'LOG', 'LOG.old', 'MANIFEST-000001', '000001.dbtmp']);

const LOG_FILE = /^(\d+)\.log$/;

/**
 * Whether LevelDB may make a new database in `path`: only if the folder does
 * not exist or holds nothing but what LEFT_BY_A_FIRST_OPEN names. A folder
 * with a CURRENT file is an existing database; any other is refused with
 * StoreFilesError, which names what it holds. A folder that cannot be
 * read counts as an existing one (the open that follows says why it fails).
 */
export async function mayCreateDatabase(path: string): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir(path);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
  if (names.includes('CURRENT')) return false;
  if (names.every((name) => LEFT_BY_A_FIRST_OPEN.has(name))) return true;
  const counts = new Map<(typeof KINDS)[number], number>();
  for (const name of names) {
    const kind = kindOf(name);
    if (kind !== undefined) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const held = KINDS.filter((kind) => counts.has(kind))
    .map((kind) => `${counts.get(kind)!} ${kind} file${counts.get(kind) === 1 ? '' : 's'}`)
    .join(', ');
  if (counts.size === 1 && counts.has('other')) {
    throw new StoreFilesError(`the folder ${showNonPrinting(path)} holds no store (no CURRENT file) but is not empty (${held}): it was not made a store; give an empty folder`);
  }
  const manifests = names.filter((n) => /^MANIFEST-\d+$/.test(n)).sort((a, b) => Number(a.slice(9)) - Number(b.slice(9)));
  const rewrite = manifests.length === 0 ? '' : `, or, if only CURRENT was lost, write the name of its newest MANIFEST and a newline into it ("${manifests.at(-1)!}\\n")`;
  throw new StoreFilesError(
    `the store in ${showNonPrinting(path)} has lost its CURRENT file (LevelDB's pointer to its MANIFEST) but still holds ${held}: ` +
      `it was not opened, so as not to start an empty log over it, and no data in it was changed; restore the store from a backup${rewrite}`,
  );
}

/**
 * The names among `names` (a folder's) that only a LevelDB database holds
 * (its CURRENT file, MANIFESTs, write-ahead logs and tables; db/filename.cc),
 * in name order: a folder holding any is a store's, or a store's files were
 * put in it. Not its lock and info logs (LOCK, LOG), which hold no data.
 */
export function databaseFiles(names: readonly string[]): string[] {
  return names.filter((name) => name === 'CURRENT' || /^MANIFEST-\d+$/.test(name) || /^\d+\.(log|ldb|sst)$/.test(name)).sort();
}

const KINDS = ['table', 'write-ahead log', 'MANIFEST', 'other'] as const;

/** The kind of a file in a LevelDB folder, as the refusal names it; undefined for LevelDB's lock, info log and temporary file. */
function kindOf(name: string): (typeof KINDS)[number] | undefined {
  if (name === 'LOCK' || name === 'LOG' || name === 'LOG.old' || name.endsWith('.dbtmp')) return undefined;
  if (name.endsWith('.ldb') || name.endsWith('.sst')) return 'table';
  if (LOG_FILE.test(name)) return 'write-ahead log';
  if (name.startsWith('MANIFEST-')) return 'MANIFEST';
  return 'other';
}

/**
 * Why the LevelDB folder `path`, which no process has open, may hold a
 * write, in words, or undefined when it provably holds none (see
 * lookForWrites): a file that may hold one, or else the folder or a
 * write-ahead log that cannot be read, which may hold anything. No file is
 * changed.
 */
export async function mayHoldWrites(path: string): Promise<string | undefined> {
  return (await lookForWrites(path))?.why;
}

/**
 * Whether the LevelDB folder `path`, which no process has open, may hold a
 * write: undefined when it provably holds none (no table file, no
 * write-ahead log holding the start of a write (scanLog's hasWrite; a
 * record that a failed write cut off is none, LevelDB's recovery drops it),
 * and no file of another kind; its lock, info logs, CURRENT file and
 * MANIFESTs name files and hold no data). Else `why`, in words: the first
 * file, in name order, that may hold a write, or, when none does but the
 * folder or a write-ahead log cannot be read, that one, with `unreadable`
 * set: what it holds cannot be told, and the store's open says why it
 * cannot be read. No file is changed.
 */
export async function lookForWrites(path: string): Promise<{ why: string; unreadable: boolean } | undefined> {
  let names: string[];
  try {
    names = await readdir(path);
  } catch (err) {
    return { why: `its folder cannot be read (${showNonPrinting((err as Error).message)})`, unreadable: true };
  }
  let unread: string | undefined;
  for (const name of names.sort()) {
    const kind = kindOf(name);
    if (kind === undefined || kind === 'MANIFEST' || name === 'CURRENT') continue;
    const shown = showNonPrinting(name);
    if (kind !== 'write-ahead log') return { why: `it holds the ${kind === 'table' ? 'table ' : ''}file ${shown}`, unreadable: false };
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(path, name));
    } catch (err) {
      unread ??= `its write-ahead log ${shown} cannot be read (${showNonPrinting((err as Error).message)})`;
      continue;
    }
    if (scanLog(bytes).hasWrite) return { why: `its write-ahead log ${shown} holds a write`, unreadable: false };
  }
  return unread === undefined ? undefined : { why: unread, unreadable: true };
}

/** The tables of /proc that lockShown reads; tests stand in for them. */
export interface ProcTables {
  /** The system's table of file locks (/proc/locks). */
  locks(): Promise<string>;
  /** This process's mount table (/proc/self/mountinfo). */
  mountinfo(): Promise<string>;
}

const PROC: ProcTables = {
  locks: () => readFile('/proc/locks', 'latin1'),
  mountinfo: () => readFile('/proc/self/mountinfo', 'utf8'),
};

/**
 * Whether the system's table of file locks (/proc/locks, Linux) shows a
 * lock on the LevelDB lock file of the folder `path`: a process that has
 * the store open holds one (LevelDB takes it with fcntl). Reads that table,
 * the file's status and the mount table and so, unlike a LevelDB open that
 * probes the lock, changes nothing (LevelDB renames its info log to LOG.old
 * as it opens, before it tries the lock, the info log of the process that
 * holds it too). False also where no such table is or it cannot be read,
 * the lock file is missing, or the lock is not shown (its holder in another
 * PID namespace): false says nothing.
 *
 * The table names a file by its device and inode number. Where the file's
 * own device (stat) is not the one the table gives (btrfs: stat gives each
 * subvolume a device of its own, the table the file system's, from the
 * mount table), inode numbers are compared across all the subvolumes, and
 * a snapshot, or another subvolume made alike, holds a lock file with the
 * same number: such a match is shown only if the holder the table names
 * has the lock file itself open (a file in /proc/PID/fd with the lock
 * file's device and inode). If that cannot be read (a process of another
 * user, /proc mounted with hidepid), it is not shown: a false "not shown"
 * costs only LevelDB's info log, a false "shown" refuses a store nobody
 * holds.
 */
export async function lockShown(path: string, proc: ProcTables = PROC): Promise<boolean> {
  let table: string;
  let info: BigIntStats;
  let place: string;
  try {
    [table, info, place] = await Promise.all([proc.locks(), stat(join(path, 'LOCK'), { bigint: true }), realpath(path)]);
  } catch {
    return false;
  }
  // The table names a file MAJOR:MINOR:INODE by its file system's device,
  // which stat gives (st_dev, as glibc's makedev packs it) on most file
  // systems, but not on btrfs, whose stat gives a subvolume's own device:
  // the mount table has the file system's.
  const major = ((info.dev >> 8n) & 0xfffn) | ((info.dev >> 32n) & ~0xfffn);
  const minor = (info.dev & 0xffn) | ((info.dev >> 12n) & ~0xffn);
  const own = `${hex(major)}:${hex(minor)}:${info.ino}`;
  const mounted = await proc.mountinfo().then(
    (text) => mountDevice(text, place),
    () => undefined,
  );
  const byMount = mounted === undefined ? undefined : `${hex(BigInt(mounted.major))}:${hex(BigInt(mounted.minor))}:${info.ino}`;
  const suspects = new Set<number>();
  for (const line of table.split('\n')) {
    // N: [-> ]POSIX ADVISORY WRITE PID MAJOR:MINOR:INODE START END
    const fields = line.trim().split(/\s+/);
    const at = fields.findIndex((field) => field === own || field === byMount);
    if (at < 0) continue;
    if (fields[at] === own) return true;
    const pid = Number(fields[at - 1]);
    if (Number.isSafeInteger(pid) && pid > 0) suspects.add(pid);
  }
  for (const pid of suspects) {
    if (await holdsOpen(pid, info)) return true;
  }
  return false;
}

/** Whether the process `pid` has the file `info` open (one of /proc/PID/fd is it); false if that cannot be read. */
async function holdsOpen(pid: number, info: BigIntStats): Promise<boolean> {
  const fds = `/proc/${pid}/fd`;
  let names: string[];
  try {
    names = await readdir(fds);
  } catch {
    return false;
  }
  for (const name of names) {
    try {
      const open = await stat(join(fds, name), { bigint: true });
      if (open.dev === info.dev && open.ino === info.ino) return true;
    } catch {
      // Closed meanwhile, or not to be followed: not the lock file.
    }
  }
  return false;
}

/** A device number as /proc/locks prints it: hex, two digits or more. */
const hex = (n: bigint) => n.toString(16).padStart(2, '0');

/**
 * The device of the file system mounted at `place` (a real path, without
 * symbolic links) as the mount table `mountinfo` (/proc/self/mountinfo)
 * gives it: that of the mount whose mount point is the longest that holds
 * `place`, the last such when several share it (a mount over another).
 */
export function mountDevice(mountinfo: string, place: string): { major: number; minor: number } | undefined {
  let found: { major: number; minor: number; at: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    // ID PARENT MAJOR:MINOR ROOT MOUNT-POINT ...; spaces and the like in paths as octal escapes (\040).
    const fields = line.split(' ');
    const device = /^(\d+):(\d+)$/.exec(fields[2] ?? '');
    if (device === null || fields[4] === undefined) continue;
    const at = fields[4].replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    const holds = at === '/' || place === at || place.startsWith(`${at}/`);
    if (holds && (found === undefined || at.length >= found.at.length)) found = { major: Number(device[1]), minor: Number(device[2]), at };
  }
  return found === undefined ? undefined : { major: found.major, minor: found.minor };
}

/** Reads a LevelDB varint (at most 10 bytes) at `at`: its value (exact below 2^53) and the offset after it. */
function varint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 10 && at + i < bytes.length; i++) {
    const b = bytes[at + i]!;
    value += (b % 128) * 2 ** (7 * i);
    if (b < 128) return [value, at + i + 1];
  }
  throw new RangeError('a varint runs past its record');
}

/** Skips a length-prefixed byte string at `at`. */
function skipString(bytes: Uint8Array, at: number): number {
  const [length, next] = varint(bytes, at);
  if (next + length > bytes.length) throw new RangeError('a string runs past its record');
  return next + length;
}

/** Tags of a VersionEdit (LevelDB db/version_edit.cc). */
const COMPARATOR = 1;
const LOG_NUMBER = 2;
const NEXT_FILE = 3;
const LAST_SEQUENCE = 4;
const COMPACT_POINTER = 5;
const DELETED_FILE = 6;
const NEW_FILE = 7;
const PREV_LOG_NUMBER = 9;

/** The log number and previous log number a VersionEdit sets, if it does. */
function logNumbersOf(edit: Uint8Array): { log?: number; prevLog?: number } {
  const out: { log?: number; prevLog?: number } = {};
  let at = 0;
  while (at < edit.length) {
    const [tag, next] = varint(edit, at);
    at = next;
    switch (tag) {
      case COMPARATOR:
        at = skipString(edit, at);
        break;
      case LOG_NUMBER:
        [out.log, at] = varint(edit, at);
        break;
      case PREV_LOG_NUMBER:
        [out.prevLog, at] = varint(edit, at);
        break;
      case NEXT_FILE:
      case LAST_SEQUENCE:
        at = varint(edit, at)[1];
        break;
      case COMPACT_POINTER:
        at = skipString(edit, varint(edit, at)[1]);
        break;
      case DELETED_FILE:
        at = varint(edit, varint(edit, at)[1])[1];
        break;
      case NEW_FILE: {
        const afterSize = varint(edit, varint(edit, varint(edit, at)[1])[1])[1];
        at = skipString(edit, skipString(edit, afterSize));
        break;
      }
      default:
        throw new RangeError(`unknown tag ${tag}`);
    }
  }
  return out;
}

/**
 * The write-ahead logs LevelDB replays when it opens the database in `path`
 * (db_impl.cc Recover): those numbered at least the MANIFEST's log number,
 * or equal to its previous log number, oldest first. StoreFilesError if
 * CURRENT or the MANIFEST it names does not read back, or if a log the
 * MANIFEST names (its log number or previous log number, when not 0) is not
 * in `names`.
 */
async function liveLogs(path: string, names: readonly string[]): Promise<string[]> {
  const shown = showNonPrinting(path);
  const current = await readFile(join(path, 'CURRENT'), 'latin1');
  const manifest = current.endsWith('\n') ? current.slice(0, -1) : '';
  if (!/^MANIFEST-\d+$/.test(manifest)) {
    // JSON.stringify leaves C1 controls and bidi overrides as they are.
    throw new StoreFilesError(`the store's CURRENT file in ${shown} does not name a MANIFEST (it holds ${showNonPrinting(JSON.stringify(current.slice(0, 40)))}); restore the store from a backup`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(join(path, manifest));
  } catch (err) {
    throw new StoreFilesError(`the store's ${manifest} in ${shown}, named by its CURRENT file, cannot be read (${showNonPrinting((err as Error).message)}); restore the store from a backup`, { cause: err });
  }
  const scan = scanLog(bytes, true);
  if (scan.laterWrite !== undefined) throw new StoreFilesError(`the store's ${manifest} in ${shown} is damaged at byte ${scan.bad!.offset} (${scan.bad!.reason}); restore the store from a backup`);
  let log: number | undefined;
  let prevLog = 0;
  scan.records.forEach((edit, i) => {
    let numbers;
    try {
      numbers = logNumbersOf(edit);
    } catch (err) {
      throw new StoreFilesError(`record ${i} of the store's ${manifest} in ${shown} does not decode (${(err as Error).message}); restore the store from a backup`, { cause: err });
    }
    log = numbers.log ?? log;
    prevLog = numbers.prevLog ?? prevLog;
  });
  if (log === undefined) throw new StoreFilesError(`the store's ${manifest} in ${shown} names no write-ahead log; restore the store from a backup`);
  const min = log;
  const logs = names.map((name) => ({ name, number: Number(LOG_FILE.exec(name)?.[1] ?? -1) }));
  // LevelDB makes a log (and syncs the folder) before a MANIFEST edit names
  // it, and removes a log only once a later edit has stopped naming it
  // (db_impl.cc: DB::Open, MakeRoomForWrite, CompactMemTable,
  // RemoveObsoleteFiles); 0 names none (a database just made). A named log
  // that is missing held writes not yet in a table: LevelDB would open
  // without them and say nothing.
  for (const number of [min, prevLog]) {
    if (number === 0 || logs.some((l) => l.number === number)) continue;
    const missing = showNonPrinting(join(path, `${String(number).padStart(6, '0')}.log`));
    throw new StoreFilesError(
      `the store's write-ahead log ${missing}, which its ${manifest} names as ${number === min ? 'live' : 'the previous log'}, is missing: writes not yet moved into a table (answered entries among them) ` +
        'may be lost, and the store would open at an older tree size and sign new tree heads for sizes it has already signed. ' +
        'The store was not opened and no data in it was changed; put that file back, or restore the store from a backup',
    );
  }
  return logs
    .filter(({ number }) => number >= 0 && (number >= min || number === prevLog))
    .sort((a, b) => a.number - b.number)
    .map(({ name }) => name);
}

/**
 * Checks the write-ahead logs of the existing LevelDB database in `path`
 * before LevelDB replays them (LevelDB doc/log_format.md). A record that
 * does not read back is allowed only as the end a crash can leave: nothing
 * valid after it, in its own log or a later one (that write was never
 * acknowledged, and LevelDB drops it). If a later write follows it, rounds
 * that were acknowledged would be lost: StoreFilesError, naming the file
 * and byte offset, with every file left as it was. So too if the log the
 * MANIFEST names as live is missing, naming that file.
 */
export async function checkWriteAheadLogs(path: string): Promise<void> {
  const logs = await liveLogs(path, await readdir(path));
  const scans = await Promise.all(logs.map(async (name) => scanLog(await readFile(join(path, name)))));
  scans.forEach((scan, i) => {
    if (scan.bad === undefined) return;
    const laterLog = logs.find((_, j) => j > i && scans[j]!.hasWrite);
    const later = scan.laterWrite !== undefined ? `a later write at byte ${scan.laterWrite} reads back` : laterLog !== undefined ? `the later log ${laterLog} holds writes` : undefined;
    if (later === undefined) return;
    throw new StoreFilesError(
      `the store's write-ahead log ${showNonPrinting(join(path, logs[i]!))} is damaged at byte ${scan.bad.offset} (${scan.bad.reason}), and ${later}: ` +
        'LevelDB would skip the damaged record and lose acknowledged writes without a word. The store was not opened and no data in it was changed; restore it from a backup',
    );
  });
}
