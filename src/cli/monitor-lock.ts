/**
 * The lock that keeps two `cairn monitor`s off one state file: `<state>.lock`,
 * made only where there is none and holding its process's identity, so that
 * one left by a process that is gone (a crash, kill -9, a reboot) is known
 * for stale and taken over (see lockState).
 */

import { open, readFile, realpath, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { osReason } from './os-error.js';

/** Linux's PID_MAX_LIMIT (2^22): every pid is below it. */
export const PID_MAX_LIMIT = 4_194_304;

/** Whether process `pid` runs (one of another user's included); false when it is gone. */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The state files (see lockKey) whose lock this process holds, until
 * released (see lockState), each with its holder's own token: two monitors
 * of this process write the same lock text, and one whose attempt fails (its
 * empty lock taken over by the other while it stalled) must not forget the
 * lock the other holds now, which would let a third take it for one this
 * pid left behind.
 */
const locked = new Map<string, symbol>();

/** Forgets `key` as locked, if `token`'s holder is still the one that holds it. */
function unlocked(key: string, token: symbol): void {
  if (locked.get(key) === token) locked.delete(key);
}

/** How often lockState goes round before it gives up: only monitors racing for one lock make it go round at all. */
const LOCK_ATTEMPTS = 10;

/**
 * How long a lock holding no process id (empty, or not cairn's) is left
 * alone: a monitor writes and fsyncs its pid within milliseconds of making
 * the file, but a power cut can leave it empty (see lockState). Measured
 * from its mtime; one dated further than this from the clock, back or
 * ahead, is judged by {@link LOCK_WATCH_MS} instead.
 */
const LOCK_UNREADABLE_MS = 10_000;

/**
 * How long a lock holding no process id, dated more than
 * {@link LOCK_UNREADABLE_MS} from the clock (back or ahead), is watched
 * before it is taken for stale: one a power cut left empty is old, one made
 * while the clock ran ahead would otherwise be left until the clock caught
 * up; but on a network file system whose server's clock is off every lock
 * is dated so, one another monitor has just made (empty for the
 * milliseconds before its pid is written) too. Such a lock is stale only if
 * it still holds no pid, unchanged (content, mtime, inode), when read again
 * after this wait.
 */
const LOCK_WATCH_MS = 2_000;

/** This boot's id (/proc/sys/kernel/random/boot_id), once read; undefined where it cannot be read (not Linux). */
let bootIdRead: Promise<string | undefined> | undefined;
const bootId = (): Promise<string | undefined> =>
  (bootIdRead ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (text) => (/^[0-9a-f-]{36}\n$/.test(text) ? text.slice(0, 36) : undefined),
    () => undefined,
  ));

/**
 * Field 22 (starttime: when the process started, in clock ticks after boot)
 * of `/proc/<pid>/stat` (`pid` 'self': this process's), as written there,
 * with the pid of its field 1 and whether it has ended (field 3, its state:
 * Z, a zombie its parent has not reaped, or X, dead); undefined where it
 * cannot be read (not Linux, /proc mounted with hidepid, the process gone).
 */
async function processStart(pid: number | 'self'): Promise<{ pid: number; starttime: string; ended: boolean } | undefined> {
  if (process.platform !== 'linux') return undefined;
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; state is the 1st field after it, starttime the 20th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const starttime = fields[19];
  if (starttime === undefined || !/^(0|[1-9][0-9]{0,19})$/.test(starttime)) return undefined;
  return { pid: Number(stat.slice(0, stat.indexOf(' '))), starttime, ended: fields[0] === 'Z' || fields[0] === 'X' };
}

/**
 * Whether this process's /proc tells of its own pid namespace (`/proc/self`
 * is this process): only then do the start times it gives of other pids
 * belong to the pids that kill() reaches (a monitor run by `nsenter -p`
 * without `-m` sees the host's /proc, whose pid 1 is not its pid 1).
 */
let procIsOursRead: Promise<boolean> | undefined;
const procIsOurs = (): Promise<boolean> => (procIsOursRead ??= processStart('self').then((self) => self?.pid === process.pid));

/** What this process writes into a lock or takeover file, once worked out (see lockText). */
let lockTextMade: Promise<string> | undefined;

/**
 * What this process writes into a lock or takeover file:
 * `<pid> <starttime> <boot_id>\n` (see processStart and bootId), which
 * tells this process from a later one given its pid, after a reboot or not;
 * `<pid>\n` where /proc cannot tell (not Linux, a /proc not of this
 * process's pid namespace).
 */
const lockText = (): Promise<string> =>
  (lockTextMade ??= (async () => {
    const [self, ours, boot] = await Promise.all([processStart('self'), procIsOurs(), bootId()]);
    return self !== undefined && ours && boot !== undefined ? `${process.pid} ${self.starttime} ${boot}\n` : `${process.pid}\n`;
  })());

/**
 * Who may still hold a lock (or takeover) file holding `text`, last changed
 * at `changed` (ms since the epoch): its process id, 'unreadable' for a
 * recent one that holds none, or undefined when it is stale. Stale: one whose
 * process is gone, or is this one, which does not hold it (`own` false: a
 * restarted container's monitor often gets its old pid back); one recording
 * a boot_id other than this boot's (after a reboot pids start low again, and
 * an old lock's pid often runs: a kernel thread); one recording a starttime
 * other than that of the process its pid is now (the pid went to another
 * process since). Where /proc cannot be read, or the lock holds only a pid
 * (an older cairn's), a running pid holds it. The machine's clock judges no
 * lock whose pid runs: it may be stepped (NTP after a VM resumes, date -s), a
 * network file system's mtimes come from the server's clock, and a
 * container's /proc/uptime (lxcfs) need not count from the boot /proc/<pid>/stat
 * counts from. Its one use: a lock holding no pid (a power cut can leave it
 * empty) dated more than {@link LOCK_UNREADABLE_MS} from the clock, back or
 * ahead, is 'watch', for the caller to read again after
 * {@link LOCK_WATCH_MS} (see staleUnchanged), never stale at once: a file
 * server's clock behind or ahead, or a clock stepped, dates a lock just made
 * so too.
 */
async function lockHolder(text: string, changed: number, own: boolean): Promise<number | 'unreadable' | 'watch' | undefined> {
  const match = /^([1-9][0-9]{0,6})(?: (0|[1-9][0-9]{0,19}) ([0-9a-f-]{36}))?\n$/.exec(text);
  if (match === null || Number(match[1]) >= PID_MAX_LIMIT) {
    return Math.abs(Date.now() - changed) > LOCK_UNREADABLE_MS ? 'watch' : 'unreadable';
  }
  const pid = Number(match[1]);
  const [, , starttime, boot] = match;
  if (boot !== undefined) {
    const here = await bootId();
    if (here !== undefined && here !== boot) return undefined;
  }
  if (pid === process.pid ? !own : !processRuns(pid)) return undefined;
  // kill() reaches a zombie too: a monitor that ended, its parent not yet reaping it (a container's pid 1 that reaps nothing).
  const now = (await procIsOurs()) ? await processStart(pid) : undefined;
  if (now?.ended === true) return undefined;
  if (starttime !== undefined && now !== undefined && now.starttime !== starttime) return undefined;
  return pid;
}

/**
 * Whether the lock (or takeover) file `file`, found as `found` holding no
 * pid and dated far from the clock (lockHolder's 'watch'), is stale: still
 * the same, unchanged, after {@link LOCK_WATCH_MS} (`sleep`). A monitor that
 * has just made it has written its pid by then.
 */
async function staleUnchanged(file: string, found: LockFile, sleep: (ms: number) => Promise<void>): Promise<boolean> {
  await sleep(LOCK_WATCH_MS);
  const again = await readLock(file);
  return again !== undefined && sameLock(again, found);
}

/** The state files (see lockKey) whose lock this process is taking over, holding its `.takeover` file (see takeOver). */
const takingOver = new Set<string>();

/** How long lockState waits for another monitor to end its takeover of a stale lock, before it looks again. */
const TAKEOVER_WAIT_MS = 100;

/**
 * The state file `path` as `locked` knows it: in its folder's real path, so
 * that two names of one folder (through a symbolic link) are one state file;
 * `path` resolved where the folder cannot be resolved. A state file that is
 * itself a symbolic link is never `path`: the monitor locks the file it
 * leads to (see stateFileTarget), whose lock file is the one a monitor
 * started on that file takes.
 */
async function lockKey(path: string): Promise<string> {
  try {
    return join(await realpath(dirname(path)), basename(path));
  } catch {
    return resolve(path);
  }
}

/**
 * Takes the lock of the state file `path`, `<path>.lock`: created only where
 * there is none (O_EXCL), holding this process's pid, start time and boot
 * id (see lockText; fsync'd, so that a power cut leaves it whole where the
 * file system allows), so that two
 * monitors on one state file (cron starting one while a slow run goes on)
 * cannot both write it, the last rename taking the state back to what the
 * other began from. A second monitor is refused, naming the lock file and
 * the pid in it. A stale lock (see lockHolder: its process gone, its pid
 * another process's now, or the machine restarted since it was made; one
 * holding no pid dated more than 10 s back or ahead and unchanged over
 * `sleep` (LOCK_WATCH_MS)) is taken over (see takeOver), so
 * that a monitor restarted after a crash or a reboot (by systemd, say) runs
 * without help; as with removeStaleTemps, a pid says nothing of another pid
 * namespace (another container's monitor on a shared volume). A monitor
 * whose lock, once its pid is written, is no longer the file at the lock's
 * path (see stillAt) does not run; one that cannot write its pid removes
 * the lock only if it is still the file it made. Resolves to the release,
 * which removes the lock only if it is still the file this monitor made
 * (see stillAt; held open until then), never another's: not one of another
 * monitor of this process, which holds the same text.
 */
export async function lockState(path: string, sleep: (ms: number) => Promise<void>): Promise<() => Promise<void>> {
  const lock = `${path}.lock`;
  const key = await lockKey(path);
  const mine = await lockText();
  let busy: string | undefined;
  for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
    let handle: FileHandle | undefined;
    try {
      handle = await open(lock, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create the lock file ${lock}: ${osReason(err)}`);
    }
    if (handle !== undefined) {
      // Known as held from its creation: another monitorCommand of this process finding it still empty, or
      // holding this pid, must not take it for one this pid left behind.
      const token = Symbol(key);
      locked.set(key, token);
      let ours: boolean;
      try {
        await handle.writeFile(mine);
        await handle.sync();
        ours = await stillAt(lock, handle);
      } catch (err) {
        unlocked(key, token);
        // Removed only if the file at the path is still the one this attempt made: another monitor may have
        // taken it over, still empty, and made its own (see stillAt).
        if (await stillAt(lock, handle).catch(() => false)) await unlink(lock).catch(() => undefined);
        await handle.close().catch(() => undefined);
        throw new Error(`cannot write the lock file ${lock}: ${osReason(err)}`);
      }
      if (!ours) {
        // Its file was taken for stale, still empty, and removed: the path is another monitor's now, and left to it.
        unlocked(key, token);
        await handle.close().catch(() => undefined);
        throw new Error(`the state file ${path} is in use: another monitor took its lock file ${lock} over while this one was starting (this one stalled between making the lock and writing its pid)`);
      }
      // The handle stays open until the release: its text is this pid's, as another monitor of this process
      // writes it, so only the file itself (see stillAt) tells this monitor's lock from a fresh one made after
      // it went, and an open file's inode is not given to another.
      const made = handle;
      return async () => {
        unlocked(key, token);
        try {
          if (await stillAt(lock, made)) await unlink(lock);
        } catch {
          // Left as it is: a lock this monitor cannot tell for its own is not removed.
        } finally {
          await made.close().catch(() => undefined);
        }
      };
    }
    const found = await readLock(lock);
    // Removed since: try again.
    if (found === undefined) continue;
    const holder = await lockHolder(found.text, found.changed, locked.has(key));
    // Changed or removed while watched (a monitor that had just made it wrote its pid): judge it again.
    if (holder === 'watch' && !(await staleUnchanged(lock, found, sleep))) continue;
    if (holder === 'unreadable') {
      // Empty while the monitor that made it writes its pid; else not cairn's.
      throw new Error(`the state file ${path} is in use: its lock file ${lock} holds no process id (another monitor may be starting; if none is, it is taken over once ${LOCK_UNREADABLE_MS / 1000} s old)`);
    }
    if (holder !== undefined && holder !== 'watch') {
      throw new Error(`the state file ${path} is in use: its lock file ${lock} is held by process ${holder}, which still runs (another cairn monitor: wait for it to end, or stop it; if no monitor runs, its pid went to another process after a crash: remove the lock file)`);
    }
    busy = await takeOver(lock, key, found, sleep);
    if (busy !== undefined) await delay(TAKEOVER_WAIT_MS);
  }
  throw new Error(busy ?? `cannot take the lock file ${lock}: other monitors keep taking it`);
}

/**
 * Whether the file at `lock` is still the one open as `handle` (same device
 * and inode; while it is open its inode goes to no other file): a monitor
 * stalled for more than {@link LOCK_WATCH_MS} between making its lock and
 * writing its pid may find that another monitor took the empty file for
 * stale (see lockHolder), removed it and made its own; a monitor ending
 * may find its lock gone (removed by hand, say) and another monitor of this
 * process, whose lock holds the same text, holding a fresh one. A file is
 * removed only by its path, so this check and a removal after it are two
 * steps, with a window of microseconds between them (see takeOver).
 */
async function stillAt(lock: string, handle: FileHandle): Promise<boolean> {
  const held = await handle.stat({ bigint: true });
  const now = await stat(lock, { bigint: true }).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  });
  return now !== undefined && now.dev === held.dev && now.ino === held.ino;
}

/** A lock file as read (see readLock). */
interface LockFile {
  readonly text: string;
  /** When it last changed, ms since the epoch. */
  readonly changed: number;
  readonly ino: number;
}

/** Whether `a` and `b` are one and the same lock file, unchanged. */
const sameLock = (a: LockFile, b: LockFile): boolean => a.text === b.text && a.changed === b.changed && a.ino === b.ino;

/** What the lock file `lock` holds and when it last changed, or undefined when there is none. */
async function readLock(lock: string): Promise<LockFile | undefined> {
  try {
    const handle = await open(lock, 'r');
    try {
      const { mtimeMs, ino } = await handle.stat();
      return { text: await handle.readFile('utf8'), changed: mtimeMs, ino };
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the lock file ${lock}: ${osReason(err)}`);
  }
}

/**
 * Removes the stale lock file `lock`, found as `stale`, under
 * `<lock>.takeover`: a file made only where there is none (O_EXCL), holding
 * what a lock holds (lockText), so that one monitor at a time reads the lock again and
 * removes it, only if it is still the stale one found (not a lock another
 * monitor made since); the takeover file then goes, and lockState tries to
 * make the lock again, as any monitor may. A takeover file left by a
 * monitor killed while it held it (for milliseconds) is stale by the rules
 * of a lock (lockHolder) and removed the same way, if still the one found;
 * the monitor that removed it then starts again from making the lock, as
 * lockState goes round. Returns why it could not try, when another monitor
 * holds the takeover file.
 *
 * The one window left: a file can be removed only by its path, so a check
 * that the takeover file is still the stale one found and its removal are
 * two steps. With three monitors and one killed holding the takeover file,
 * one (B) may find that file stale, another (A) remove it and make its own,
 * then B remove A's fresh one; a third (C) then makes its own, and A and C
 * both hold one: each may remove the stale lock, and one of them the lock
 * the other has made since. Closing it needs a lock the kernel drops when
 * its process dies (flock), which Node does not offer; it needs a monitor
 * killed within the milliseconds it holds the takeover file, and three
 * monitors each between two of the others' system calls.
 */
async function takeOver(lock: string, key: string, stale: LockFile, sleep: (ms: number) => Promise<void>): Promise<string | undefined> {
  const takeover = `${lock}.takeover`;
  let handle;
  try {
    handle = await open(takeover, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot take over the stale lock file ${lock}: cannot create ${takeover}: ${osReason(err)}`);
    const other = await readLock(takeover);
    if (other === undefined) return undefined;
    const holder = await lockHolder(other.text, other.changed, takingOver.has(key));
    if (holder === 'watch') {
      if (await staleUnchanged(takeover, other, sleep)) await unlink(takeover).catch(() => undefined);
      return undefined;
    }
    if (holder === undefined) {
      const again = await readLock(takeover);
      if (again !== undefined && sameLock(again, other)) await unlink(takeover).catch(() => undefined);
      return undefined;
    }
    return `cannot take over the stale lock file ${lock}: another monitor is taking it over (${takeover}, ${holder === 'unreadable' ? 'holding no process id yet' : `held by process ${holder}`}); if none is, remove ${takeover}`;
  }
  takingOver.add(key);
  try {
    await handle.writeFile(await lockText());
    await handle.close();
    const now = await readLock(lock);
    if (now !== undefined && sameLock(now, stale)) {
      await unlink(lock).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot take over the stale lock file ${lock}: ${osReason(err)}`);
      });
    }
  } finally {
    await handle.close().catch(() => undefined);
    takingOver.delete(key);
    await unlink(takeover).catch(() => undefined);
  }
  return undefined;
}
