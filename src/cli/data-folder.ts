/**
 * The data folder and the store's folder in it, made and checked before
 * the store is opened: no other user may write the one or read the other,
 * and what cannot be done there is said with what to run.
 */

import { constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LevelStore } from '../storage/level-store.js';
import { databaseFiles } from '../storage/leveldb-folder.js';
import { StoreLockedError } from '../storage/store.js';
import { chownAdvice, foreignOwnerProblem, joinAsGiven, moveOutAdvice, openFolderOnPath, openFolderProblem, type OpenFolderWords, otherUserThanOwner, otherWriters, ownerName, pathAsGiven, type SharedFolderFinding } from '../file-trust.js';
import { fileKind, folderProblem, osReason, shellWord } from './os-error.js';
import { StartError } from './start-error.js';
import { showNonPrinting } from './visible-text.js';

/**
 * Makes the data folder and any missing folders above it (mode 0700), or
 * throws a StartError saying why it cannot. It finds the nearest folder that
 * exists, then makes the missing ones one at a time: node's recursive mkdir
 * retries for ever where a parent is reported missing yet cannot be made
 * (under /proc, say), and this way every failure is reported instead.
 */
export async function makeDataFolder(data: string): Promise<void> {
  const cannot = (why: string, err?: unknown) => new StartError(`cannot make the data folder ${showNonPrinting(data)}: ${why}`, err === undefined ? undefined : { cause: err });
  const missing: string[] = [];
  // As the kernel takes it: '..' after a symbolic link goes up from the link's target.
  let at = pathAsGiven(data);
  for (;;) {
    let info;
    try {
      info = await stat(at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a part of the path above is a file; going up finds it.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(at) !== at) {
        missing.push(at);
        at = dirname(at);
        continue;
      }
      throw cannot(`cannot look at ${showNonPrinting(at)} (${osReason(err)})`, err);
    }
    if (!info.isDirectory()) throw cannot(`${showNonPrinting(at)} is ${fileKind(info)}, not a folder`);
    break;
  }
  // A data folder that checkDataFolder would refuse for a folder above it is not made first.
  const above = missing.length === 0 ? undefined : await aboveDataFolderProblem(data);
  if (above !== undefined) throw new StartError(above);
  for (const folder of missing.reverse()) {
    try {
      await mkdir(folder, { mode: 0o700 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Made meanwhile by another process (a second server starting): fine if it is a folder.
      if (code === 'EEXIST' && (await stat(folder).then((info) => info.isDirectory(), () => false))) continue;
      // ENOENT although the parent exists: a file system that takes no new folders there (/proc, /sys).
      const why = code === 'ENOENT' ? `${showNonPrinting(dirname(folder))} takes no new folders (${osReason(err)})` : folderProblem(dirname(folder), err);
      throw cannot(`${why}${code === 'EACCES' || code === 'EPERM' ? await makeAdvice(dirname(folder), pathAsGiven(data)) : ''}`, err);
    }
  }
}

/**
 * What to do, after "; ", when this user may not make the data folder
 * `data` because another user owns the folder `parent` it goes in: where
 * that is root and no folder on the way lets another user move it (see
 * openFolderOnPath), what to run as root to make it and give it to this
 * user (mkdir -p -m 700, then chown); otherwise (another user's folder, a
 * home most often, or an open one above) to give a data folder elsewhere,
 * as one made there would be refused. Else ''.
 */
async function makeAdvice(parent: string, data: string): Promise<string> {
  const owner = await stat(parent).then(
    (info) => info.uid,
    () => undefined,
  );
  const user = owner === undefined ? undefined : otherUserThanOwner(owner);
  if (owner === undefined || user === undefined) return '';
  const walk = await openFolderOnPath(data, { holderIsOwn: false });
  const belongs = `it belongs to ${ownerName(owner)}: `;
  if (owner !== 0 || walk.open !== undefined) {
    const folder = walk.open?.folder ?? parent;
    return `; ${folder === parent ? belongs : ''}${moveOutAdvice('the data folder', folder)}`;
  }
  const word = shellWord(data);
  return `; ${belongs}run as root: mkdir -p -m 700 ${word} && chown ${shellWord(user)} ${word}`;
}

/**
 * Refuses a data folder that another user could change: one that group or
 * others may write (mode & 0o022), or one owned by neither this process's
 * user nor root (sshd's StrictModes rule; not checked where the platform
 * has no user ids). Such a user could put a key of their own in it before a
 * first start, or move its store away so that the next start begins the
 * log again at size 0 with the same key: two different trees signed as one
 * log. The message says what to run. So too where a folder above it, or
 * one that holds a symbolic link on the way to it, lets another user move
 * it away (see aboveDataFolderProblem; sshd's StrictModes walk); one that
 * its group may write, not its owner's private group, is told to
 * `onSharedFolder` (for a start-up warning: see sharedFolderWarnings).
 *
 * Refuses too a data folder that itself holds a LevelDB database's files
 * (databaseFiles): a store's folder (db/) named as the data folder, or a
 * store's files moved to its top. Serve would make db/ in it and begin a
 * new log there at size 0: signed with the existing log's key, where it is
 * given or found, two trees signed as one log. Nothing is made in it; the
 * message says to move the files into db/, and names the parent to give
 * instead where the folder is named db (any other parent would begin a new
 * store in its own db/), else says to make the folder a data folder's db/.
 */
export async function checkDataFolder(data: string, onSharedFolder?: (found: SharedFolderFinding) => void): Promise<void> {
  let info;
  try {
    info = await stat(data);
  } catch (err) {
    throw new StartError(`cannot look at the data folder ${showNonPrinting(data)} (${osReason(err)})`, { cause: err });
  }
  const stranger = foreignOwnerProblem('the data folder', data, info.uid, 'that user could put a key of their own in it or move its store away', 'check what it holds (its key and its store)', true);
  if (stranger !== undefined) throw new StartError(stranger);
  const writers = otherWriters(info.mode);
  if (writers !== undefined) {
    const user = otherUserThanOwner(info.uid);
    // Root's folder (a packaged root:<service group> 0775, say): this user can
    // neither chmod it nor, once root has closed it, make db/ or a key in it.
    // A volume its group may write, as a container's user gets it (OpenShift's
    // root:0 0775, a Kubernetes fsGroup's root:GID 2775): a folder this user
    // makes inside it is its own, and the volume above it is only warned of
    // where its group is not its owner's private one (openFolderProblem).
    // Not where it holds a log already: a new folder inside it would begin another log (signed with its key, where that is given).
    const holdsLog = await readdir(data).then((names) => names.includes('db') || names.includes('log.key'), () => true);
    const inside =
      user !== undefined && writers === 'its group' && process.geteuid?.() !== 0 && !holdsLog && (await access(data, fsConstants.W_OK | fsConstants.X_OK).then(() => true, () => false))
        ? `; or, without root, give --data a folder inside it, which serve makes as this user's own (--data ${shellWord(joinAsGiven(data, 'cairn'))})`
        : '';
    const fix =
      user === undefined
        ? `Check what it holds, then run: chmod go-w ${shellWord(data)}`
        : `It belongs to ${ownerName(info.uid)}, so this user (${user}) cannot change its mode, nor make its store in it once it is closed: ` +
          `check what it holds, then ${chownAdvice(data, user, { chmod: 'go-w' })}${inside}`;
    throw new StartError(
      `the data folder ${showNonPrinting(data)} may be written by ${writers} (mode ${(info.mode % 0o10000).toString(8)}): ` +
        `another user could put a key of their own in it or move its store away. ${fix}`,
    );
  }
  const above = await aboveDataFolderProblem(data, onSharedFolder);
  if (above !== undefined) throw new StartError(above);
  const names = await readdir(data).catch(() => []);
  const found = databaseFiles(names);
  if (found.length > 0) {
    const shown = showNonPrinting(data);
    const listed = found.slice(0, 3).map((name) => showNonPrinting(name)).join(', ') + (found.length > 3 ? ` and ${found.length - 3} more` : '');
    const db = showNonPrinting(joinAsGiven(data, 'db'));
    const files = 'all of them (CURRENT, LOCK, LOG*, MANIFEST-* and the numbered .log, .ldb and .sst files)';
    // Only a folder named db is its data folder's store: any other one's parent would begin a new store in its own db/.
    const fix =
      basename(data) === 'db'
        ? `If it is a store's folder, give the folder that holds it instead (--data ${shellWord(dirname(data))}); if the store's files were moved here, move ${files} into ${db}`
        : `Move ${files} into ${db}; or, if it is a store's folder, make it the db/ of a data folder (mkdir -m 700 DATA && mv ${shellWord(data)} DATA/db) and give that one (--data DATA)`;
    throw new StartError(
      `the data folder ${shown} holds a store's own files (${listed}): it is a store's folder, or a store's files were put at its top. ` +
        `Serve keeps the store in ${db} and would begin a new log there at size 0 instead of opening this one, with a new key or, if given this log's key (--key, or a log.key here), ` +
        `with that key: two different trees signed as one log; nothing was made or changed. ${fix}`,
    );
  }
}

/** How {@link openFolderProblem} speaks of the data folder: its own folder is itself (checkDataFolder), so the one that holds it is judged as those above. */
const DATA_FOLDER_WORDS: OpenFolderWords = {
  file: 'the data folder',
  moved: 'the data folder',
  risk: (holds) => `${holds ? '' : 'rename the folder or link in it that leads to the data folder, and so '}move the data folder away, and its store with it, or put one of their own in its place`,
  check: 'check what the data folder holds (its key and its store)',
  holderIsOwn: false,
};

/**
 * Why a folder on the way to the data folder `data` (see foldersLeadingTo
 * in src/file-trust.ts: the one that holds it, those above it up to /, and those
 * that hold a symbolic link on the way) lets another user move the data
 * folder away or put one of their own in its place, in words, or
 * undefined (see openFolderProblem, which gives `onSharedFolder` a folder its
 * group may write). Moved away, the data folder is made anew by the next
 * start, which begins the log again at size 0, with the same key where it
 * is kept elsewhere (--key): two different trees signed as one log. The
 * advice is to close the folder, or to move the data folder out of it;
 * never a chown, as such a folder is most often another user's home.
 */
function aboveDataFolderProblem(data: string, onSharedFolder?: (found: SharedFolderFinding) => void): Promise<string | undefined> {
  return openFolderProblem(data, DATA_FOLDER_WORDS, onSharedFolder);
}

/** The file-system calls {@link prepareStoreFolder} makes; tests stand in for a file system without Unix modes. */
export interface StoreFolderCalls {
  readonly mkdir: (path: string, options: { mode: number }) => Promise<unknown>;
  readonly stat: (path: string) => Promise<{ readonly mode: number; readonly uid: number; isDirectory(): boolean }>;
  readonly chmod: (path: string, mode: number) => Promise<void>;
  readonly access: (path: string, mode: number) => Promise<void>;
}

const NODE_STORE_FOLDER_CALLS: StoreFolderCalls = { mkdir, stat, chmod, access };

/** Error codes of a chmod that the file system, not the folder's owner, refuses (vfat, exFAT, some network shares). */
const MODES_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * Makes the store's folder `db` with mode 0700 before LevelDB opens it: its
 * files get the process's umask (0644 with the usual one), and only the
 * folder keeps other users from reading the entries of a private log. An
 * existing one that group or others may enter is made 0700 (it is the
 * server's own, and nobody else needs it; the caller says it was done); one
 * owned by another user is refused, as the data folder is, and so is one of
 * root's that this user cannot close (the message says to give it to this
 * user). Where the mode cannot be set (a file system without Unix modes: the
 * chmod is refused although this user owns the folder, or takes no effect),
 * the folder is used as it is, and the caller warns. A closed one that this
 * user may not read and write in (root's 0700, made by a start as root) is
 * refused with what to run, rather than left for LevelDB to fail on with
 * its own words. A `db` that is not a folder is left for the store's open to report. Resolves to whether it made
 * the folder, the mode it tightened, or the open mode it could not change.
 * `calls` stand in for the file system in tests.
 */
export async function prepareStoreFolder(
  db: string,
  calls: StoreFolderCalls = NODE_STORE_FOLDER_CALLS,
): Promise<{ made: boolean; tightenedMode?: number; openMode?: number }> {
  let made = false;
  try {
    await calls.mkdir(db, { mode: 0o700 });
    made = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StartError(`cannot make the store's folder ${showNonPrinting(db)}: ${await storeFolderProblem(db, err, calls)}`, { cause: err });
  }
  const look = async () => {
    try {
      return await calls.stat(db);
    } catch (err) {
      throw new StartError(`cannot look at the store's folder ${showNonPrinting(db)} (${osReason(err)})`, { cause: err });
    }
  };
  // Also when just made: a file system without Unix modes shows its own.
  const info = await look();
  if (!info.isDirectory()) return { made };
  const stranger = foreignOwnerProblem("the store's folder", db, info.uid, "that user could change the log's store", 'check it', true);
  if (stranger !== undefined) throw new StartError(stranger);
  const mode = info.mode % 0o10000;
  const user = otherUserThanOwner(info.uid);
  if (mode % 0o100 === 0) {
    await checkStoreFolderAccess(db, info.uid, mode, user, calls);
    return { made };
  }
  try {
    await calls.chmod(db, 0o700);
  } catch (err) {
    // Refused although this user owns the folder: the file system keeps no Unix modes.
    if (user === undefined && MODES_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) return { made, openMode: mode };
    const fix =
      user === undefined
        ? `run: chmod 700 ${shellWord(db)}`
        : chownAdvice(db, user, { owner: info.uid, recursive: true, chmod: '700' });
    throw new StartError(`the store's folder ${showNonPrinting(db)} is open to group or others (mode ${mode.toString(8)}) and cannot be made 0700 (${osReason(err)}); ${fix}`, { cause: err });
  }
  // Taken without effect: the file system shows a mode of its own (vfat with 'quiet', SMB without Unix extensions).
  const after = (await look()).mode % 0o10000;
  if (after % 0o100 !== 0) return { made, openMode: after };
  return made ? { made } : { made, tightenedMode: mode };
}

/**
 * Refuses the closed store's folder `db` (owned by `uid` with `mode`) when
 * this process may not read, write and enter it, saying what to run: as
 * root, give it (and the files in it, which the same start made) to this
 * process's user `user`; or, for this user's own, chmod 700.
 */
async function checkStoreFolderAccess(db: string, uid: number, mode: number, user: string | undefined, calls: StoreFolderCalls): Promise<void> {
  try {
    await calls.access(db, fsConstants.R_OK | fsConstants.W_OK | fsConstants.X_OK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EROFS') {
      throw new StartError(`the store's folder ${showNonPrinting(db)} is on a read-only file system (${osReason(err)}), and serve writes the log's store there: mount it read-write`, { cause: err });
    }
    const fix =
      user !== undefined
        ? chownAdvice(db, user, { owner: uid, recursive: true })
        : (mode & 0o700) !== 0o700
          ? `run: chmod 700 ${shellWord(db)}`
          : 'its mode lets its owner in, so an ACL or a security module (SELinux, AppArmor) denies it: see what they allow';
    throw new StartError(
      `this user${user === undefined ? '' : ` (${user})`} may not read and write in the store's folder ${showNonPrinting(db)} (mode ${mode.toString(8)}; ${osReason(err)}), so the log's store cannot be opened; ${fix}`,
      { cause: err },
    );
  }
}

/** The StartError of a data folder (`data`, as given) whose store another process holds (`err`). */
export function dataFolderInUse(data: string, err: StoreLockedError): StartError {
  return new StartError(
    `the data folder ${showNonPrinting(data)} is in use by another Cairn process (a server running or starting on it, or cairn audit checking it, holds its store's lock); stop that one first`,
    { cause: err },
  );
}

/**
 * Opens the store in `db`, the store's folder of the data folder `data` (as
 * given, for messages), with LevelStore.open's `options`: a store another
 * process holds is {@link dataFolderInUse}, one this user may not open
 * because another user's files are in it says so (foreignStoreFilesProblem),
 * and any other failure is the store's own.
 */
export async function openDataFolderStore(data: string, db: string, options?: Parameters<typeof LevelStore.open>[1]): Promise<LevelStore> {
  try {
    return await LevelStore.open(db, options);
  } catch (err) {
    if (err instanceof StoreLockedError) throw dataFolderInUse(data, err);
    throw (await foreignStoreFilesProblem(db, err)) ?? err;
  }
}

/**
 * When the store in `db` could not be opened (`err`) and files in it belong
 * to another user (root, whose start made them) and this user may not read
 * and write them, a StartError that says so and what to run as root (the
 * store's folder given to this user without -R leaves them so); else
 * undefined. Looked for only once the open failed: a large store holds many files.
 */
export async function foreignStoreFilesProblem(db: string, err: unknown): Promise<StartError | undefined> {
  let names: string[];
  try {
    names = (await readdir(db)).sort();
  } catch {
    return undefined;
  }
  const closed: { name: string; uid: number }[] = [];
  for (const name of names) {
    const info = await stat(join(db, name)).catch(() => undefined);
    if (info === undefined || !info.isFile() || otherUserThanOwner(info.uid) === undefined) continue;
    const usable = await access(join(db, name), fsConstants.R_OK | fsConstants.W_OK).then(
      () => true,
      () => false,
    );
    if (!usable) closed.push({ name, uid: info.uid });
  }
  const first = closed[0];
  const user = first === undefined ? undefined : otherUserThanOwner(first.uid);
  if (first === undefined || user === undefined) return undefined;
  const owners = [...new Set(closed.map((c) => ownerName(c.uid)))].join(' and ');
  const named = closed.slice(0, 3).map((c) => showNonPrinting(c.name)).join(', ') + (closed.length > 3 ? ` and ${closed.length - 3} more` : '');
  return new StartError(
    `cannot open the store in ${showNonPrinting(db)}: files in it (${named}) belong to ${owners}, and this user (${user}) may not read and write them; ` +
      chownAdvice(db, user, { recursive: true }),
    { cause: err },
  );
}

/**
 * Why `db` could not be made (see folderProblem), and, when this user may
 * not write in its data folder because root (or another owner) has it, what
 * to run as root: a chown of the folder, with -R where this user may not
 * even enter it (root's 0700), as it may then hold a store and a key of
 * root's start, which this user could not use either.
 */
async function storeFolderProblem(db: string, err: unknown, calls: StoreFolderCalls): Promise<string> {
  const data = dirname(db);
  const problem = folderProblem(data, err);
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'EACCES' && code !== 'EPERM') return problem;
  const owner = await calls.stat(data).then(
    (info) => info.uid,
    () => undefined,
  );
  const user = owner === undefined ? undefined : otherUserThanOwner(owner);
  if (owner === undefined || user === undefined) return problem;
  const closed = await calls.access(data, fsConstants.X_OK).then(
    () => false,
    () => true,
  );
  // Closed, the folder may well hold a store already: this user cannot see into it.
  const shown = closed ? `the folder ${showNonPrinting(data)} is closed to this user, who cannot see what it holds (${osReason(err)})` : problem;
  return `${shown}; ${chownAdvice(data, user, { owner, recursive: closed })}`;
}

/**
 * Whether `err`, or an error it was caused by, is the OS's error `code`: the
 * code, or its `words`, which LevelDB's errors quote without one ("IO error:
 * …/000003.log: No space left on device").
 */
export function causedByOsError(err: unknown, code: string, words: string): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === code || e.message.includes(words)) return true;
  }
  return false;
}

/** Whether `err`, or an error it was caused by, is the OS's ENOSPC (see causedByOsError). */
export function noSpaceLeft(err: unknown): boolean {
  return causedByOsError(err, 'ENOSPC', 'No space left on device');
}

/**
 * `problem` (a failure to open the store of the data folder `data`), with
 * what to do about a full disk when `err` is one, then `then` (start again,
 * run the command again).
 */
export function withSpaceAdvice(problem: string, err: unknown, data: string, then = 'start again'): string {
  if (!noSpaceLeft(err)) return problem;
  return `${problem}; free space on the disk that holds the data folder ${showNonPrinting(data)} (LevelDB needs a few MiB free to open its store), then ${then}`;
}
