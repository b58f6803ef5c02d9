/**
 * The --receipts file of `cairn add`: receipts appended one JSON line each,
 * made durable before the next request is sent, never a line left cut off
 * where that can be helped, never bytes that another writer appended cut
 * away, and never written on to a file that its path no longer names.
 */

import { close as closeFd, constants, fstat, open as openFd, type Stats } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { Socket } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { syncFolder } from '../sync-folder.js';

/** open(2) and fstat(2) on file descriptors of their own (for a socket to own, which a FileHandle's is not). */
const openRaw = promisify(openFd);
const fstatFd = promisify(fstat);

/**
 * Error codes of an fsync refused because the file, or its file system,
 * cannot be synced at all (a FIFO, a character device, some network or FUSE
 * file systems): there is nothing more to make durable.
 */
const SYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP']);

/** Error codes of a path looked up that say it names nothing now (removed, or a folder on its way replaced). */
const PATH_GONE = new Set(['ENOENT', 'ENOTDIR']);

const errorCode = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

/**
 * The part of an open file that receipts are appended through: a file opened
 * write-only to append (see {@link processAdd}), or a test's, which may write
 * short or fail.
 */
export interface ReceiptsFile {
  /** Writes up to `length` bytes of `buffer` from `offset` at the end of the file; may write fewer. */
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  /**
   * Reads up to `length` bytes at `position` into `buffer` from `offset`.
   * Called only for a regular file: the file written to is not open for
   * reading (a reader of a pipe would never see EPIPE), so the real one reads
   * through an open of its own.
   */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stat(): Promise<Stats>;
  truncate(length: number): Promise<void>;
  /**
   * Makes what was written durable (fdatasync). Called only for a regular
   * file or a block device; rejects with EINVAL or ENOTSUP where the file
   * cannot be synced.
   */
  datasync(): Promise<void>;
  /**
   * Whether the path the file was opened by still names it: false once it
   * was removed, renamed (logrotate), or replaced by another file. Absent for
   * a file not opened by a path; called only for a regular file.
   */
  atPath?(): Promise<boolean>;
  close(): Promise<void>;
}

/** Opens the receipts file's path again, as {@link openReceiptsFile} does. */
export type ReopenReceipts = () => Promise<{ file: ReceiptsFile; created: boolean }>;

/**
 * Receipt lines that {@link ReceiptsWriter.append} could not all write: the
 * first `written` are in the file whole (and durable); of the others nothing
 * is, unless `cut` (the file could not be cut back, so a piece of the next
 * one is in it). `othersWrote` says why it was not: the file had grown by
 * bytes this writer did not write (another run appending to it), so the
 * piece may be followed by what they appended. `notDurable`: the others were
 * all written, but the file could not be made durable (its fdatasync failed:
 * EIO, ENOSPC), so a crash or power cut may lose them. The write's own error
 * is the `cause`.
 */
export class ReceiptsWriteError extends Error {
  constructor(
    readonly written: number,
    readonly cut: boolean,
    cause: unknown,
    readonly othersWrote = false,
    readonly notDurable = false,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'ReceiptsWriteError';
  }
}

/**
 * Appends lines of receipts to a file and never leaves one of them cut off
 * where it can help it: a write that writes fewer bytes than asked is
 * continued until all are written, and when a write fails (EFBIG, ENOSPC) a
 * regular file is cut back to the end of the last whole line written, but
 * only while all it holds after its length at open is this writer's: bytes
 * another writer appended (two cron jobs sharing one file) are never cut
 * away. A regular file whose last byte is not a newline (a line cut off by a
 * crash) is written to from a new line.
 *
 * Each append to a regular file (or block device) is made durable before it
 * resolves (fdatasync), as the log itself answers only once an entry is
 * durable: a receipt said to be written survives a power cut. Before each
 * append to a regular file opened by a path, the path is checked to still
 * name it: one removed or renamed meanwhile (logrotate's create or rename,
 * an rm) is opened again by its path, so receipts never go on to a file no
 * longer there.
 */
export class ReceiptsWriter {
  #file!: ReceiptsFile;
  /** Whether `#file` is a regular file: only such a file is cut back, read, and checked against its path. */
  #regular = false;
  /** Whether `#file` is synced after each append: a regular file or a block device, until its fsync says it cannot be. */
  #sync = false;
  /**
   * The length of a regular file as this writer left it, if nothing else has
   * written to it; undefined for anything else (a pipe, a device), and once
   * another writer is seen to have appended.
   */
  #length: number | undefined;
  /** Whether the next write starts with a newline, ending a cut-off line. */
  #newline = false;
  /** Bytes written so far. */
  #written = 0;
  /** Whether an append failed (its error says what became of the file). */
  #failed = false;
  readonly #reopen: ReopenReceipts | undefined;

  private constructor(reopen: ReopenReceipts | undefined) {
    this.#reopen = reopen;
  }

  /**
   * A writer appending to `file`, which stays open until {@link close}; with
   * `reopen`, a regular file that its path no longer names is replaced by
   * what `reopen` opens at that path.
   */
  static async open(file: ReceiptsFile, reopen?: ReopenReceipts): Promise<ReceiptsWriter> {
    const writer = new ReceiptsWriter(reopen);
    await writer.#take(file);
    return writer;
  }

  /** Makes `file` the one written to, as it is now. */
  async #take(file: ReceiptsFile): Promise<void> {
    const stat = await file.stat();
    this.#file = file;
    this.#regular = stat.isFile();
    this.#sync = stat.isFile() || stat.isBlockDevice();
    this.#length = this.#regular ? stat.size : undefined;
    this.#newline = false;
    if (this.#regular && stat.size > 0) {
      const last = new Uint8Array(1);
      try {
        const { bytesRead } = await file.read(last, 0, 1, stat.size - 1);
        this.#newline = bytesRead === 1 && last[0] !== 0x0a;
      } catch {
        // A file the user may not read, or no longer the one at its path: its last byte is not known.
      }
    }
  }

  /**
   * What became of the file written to: 'removed', 'moved' (renamed, or
   * replaced by another file at its path), or undefined while its path still
   * names it, and for a file that is not regular or was not opened by a
   * path. Rejects if the path or the file cannot be looked at.
   */
  async #whereabouts(): Promise<'removed' | 'moved' | undefined> {
    if (!this.#regular || this.#reopen === undefined) return undefined;
    // Undefined for a file not opened by a path.
    if ((await this.#file.atPath?.()) !== false) return undefined;
    // A file removed has no name left; one renamed (FILE.1) still has one.
    return (await this.#file.stat()).nlink === 0 ? 'removed' : 'moved';
  }

  /**
   * Opens the path again if it no longer names the file written to, closing
   * that file, and then calls `onReopen` (`removed`: the file was removed,
   * not renamed or replaced). Rejects with a ReceiptsWriteError if the path
   * cannot be checked or opened.
   */
  async #follow(onReopen: ((removed: boolean) => void) | undefined): Promise<void> {
    let whereabouts: 'removed' | 'moved' | undefined;
    try {
      whereabouts = await this.#whereabouts();
    } catch (err) {
      throw new ReceiptsWriteError(0, false, err);
    }
    const reopen = this.#reopen;
    if (whereabouts === undefined || reopen === undefined) return;
    const removed = whereabouts === 'removed';
    const gone = removed ? 'removed' : 'moved or replaced';
    let opened: { file: ReceiptsFile; created: boolean };
    try {
      opened = await reopen();
    } catch (err) {
      throw new ReceiptsWriteError(0, false, new Error(`it was ${gone} while receipts were written to it, and it cannot be opened again: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    }
    // The old file's receipts are durable (each append was synced); an error closing it changes nothing.
    await this.#file.close().catch(() => undefined);
    try {
      await this.#take(opened.file);
    } catch (err) {
      await opened.file.close().catch(() => undefined);
      throw new ReceiptsWriteError(0, false, err);
    }
    onReopen?.(removed);
  }

  /** Whether anything has been written. */
  get wroteAny(): boolean {
    return this.#written > 0;
  }

  /**
   * Whether the file written to is still at its path, as each append checks
   * before it writes, for when no append follows (cairn add ends): 'removed'
   * or 'moved' (renamed, or replaced) since, else undefined (also when that
   * cannot be told, and once an append failed: its error told).
   */
  async gone(): Promise<'removed' | 'moved' | undefined> {
    if (this.#failed) return undefined;
    try {
      return await this.#whereabouts();
    } catch {
      return undefined;
    }
  }

  /**
   * Writes `lines` (each ending in "\n") at the end of the file, all of
   * them, and makes them durable; rejects with a ReceiptsWriteError saying
   * how many were written whole. If the file's path was found to name another
   * file, or none, and was opened again, `onReopen` is called first.
   */
  async append(lines: readonly string[], onReopen?: (removed: boolean) => void): Promise<void> {
    try {
      await this.#append(lines, onReopen);
    } catch (err) {
      this.#failed = true;
      throw err;
    }
  }

  async #append(lines: readonly string[], onReopen: ((removed: boolean) => void) | undefined): Promise<void> {
    await this.#follow(onReopen);
    const parts = lines.map((l) => Buffer.from(l, 'utf8'));
    const prefix = this.#newline ? 1 : 0;
    const bytes = Buffer.concat([...(prefix === 1 ? [Buffer.from('\n')] : []), ...parts]);
    let at = 0;
    try {
      while (at < bytes.length) {
        const { bytesWritten } = await this.#file.write(bytes, at, bytes.length - at);
        if (!(Number.isSafeInteger(bytesWritten) && bytesWritten > 0 && bytesWritten <= bytes.length - at)) {
          throw new Error(`a write of ${bytes.length - at} bytes reported ${bytesWritten} written`);
        }
        at += bytesWritten;
        this.#written += bytesWritten;
      }
    } catch (err) {
      // Where the last whole line written ends.
      let end = Math.min(at, prefix);
      let whole = 0;
      for (const part of parts) {
        if (end + part.length > at) break;
        end += part.length;
        whole++;
      }
      let cut = at > end;
      let othersWrote = false;
      if (cut && this.#length !== undefined) {
        try {
          // Only bytes this writer wrote are cut away: if the file is longer (or
          // shorter) than its length before plus this append's bytes, another
          // writer has changed it since, and cutting back to a length remembered
          // would destroy what it appended. One may still append between this
          // stat and the truncate, and lose that; the window is kept to these two
          // calls back to back, since node has no advisory file lock (flock)
          // without a native addon.
          const { size } = await this.#file.stat();
          if (size === this.#length + at) {
            await this.#file.truncate(this.#length + end);
            cut = false;
          } else {
            othersWrote = true;
          }
        } catch {
          // Left as it is; the error says so.
        }
      }
      if (othersWrote) this.#length = undefined;
      else if (this.#length !== undefined) this.#length += cut ? at : end;
      if (at >= prefix) this.#newline = cut;
      throw new ReceiptsWriteError(whole, cut, err, othersWrote);
    }
    if (this.#length !== undefined) this.#length += bytes.length;
    this.#newline = false;
    if (this.#sync) {
      try {
        await this.#file.datasync();
      } catch (err) {
        if (!SYNC_UNSUPPORTED.has(errorCode(err) ?? '')) throw new ReceiptsWriteError(0, false, err, false, true);
        this.#sync = false;
      }
    }
  }

  async close(): Promise<void> {
    await this.#file.close();
  }
}

/**
 * A file opened write-only to append, as a ReceiptsFile. It is never opened
 * for reading: on a pipe (a FIFO, /dev/stdout) that would make cairn add a
 * reader of its own output, so opening would not wait for the real reader and
 * a reader that goes away would not end the writes with EPIPE. The last byte
 * of a regular file is read through a read-only open of its own, without
 * waiting (O_NONBLOCK) in case `path` has become a pipe since, and only if it
 * is still the file written to.
 */
function appendOnly(path: string, handle: FileHandle): ReceiptsFile {
  /** Whether `theirs` is the file written to. */
  const mine = async (theirs: Stats) => {
    const own = await handle.stat();
    return theirs.isFile() && own.dev === theirs.dev && own.ino === theirs.ino;
  };
  return {
    write: (buffer, offset, length) => handle.write(buffer, offset, length),
    async read(buffer, offset, length, position) {
      const reader = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        if (!(await mine(await reader.stat()))) throw new Error(`${path} is no longer the file written to`);
        return await reader.read(buffer, offset, length, position);
      } finally {
        await reader.close();
      }
    },
    stat: () => handle.stat(),
    truncate: (length) => handle.truncate(length),
    datasync: () => handle.datasync(),
    async atPath() {
      let theirs: Stats;
      try {
        theirs = await stat(path);
      } catch (err) {
        // Any other failure (EACCES on a folder of the path) does not say the file has gone.
        return !PATH_GONE.has(errorCode(err) ?? '');
      }
      return mine(theirs);
    },
    close: () => handle.close(),
  };
}

/**
 * A FIFO opened to append receipts, written through a net.Socket on its file
 * descriptor: its writes wait in the event loop, not in node's thread pool,
 * so one that its reader does not take (a full pipe) never keeps the process
 * from ending, and a reader that goes away fails the next write with EPIPE.
 * Only written to and looked at (fstat): a pipe is not read, cut or synced.
 */
function pipeFile(fd: number): ReceiptsFile {
  const socket = new Socket({ fd, readable: false, writable: true });
  // Each write's callback gets its error (an EPIPE); the event would otherwise be thrown.
  socket.on('error', () => undefined);
  const notForPipes = (what: string) => Promise.reject(new Error(`a pipe is not ${what}`));
  return {
    write: (buffer, offset, length) =>
      new Promise((resolve, reject) => {
        socket.write(buffer.subarray(offset, offset + length), (err) => (err == null ? resolve({ bytesWritten: length }) : reject(err)));
      }),
    read: () => notForPipes('read'),
    stat: () => fstatFd(fd),
    truncate: () => notForPipes('cut back'),
    datasync: () => notForPipes('synced'),
    close: async () => {
      socket.destroy();
    },
  };
}

/** What {@link openReceiptsFile} does while a FIFO at the path has no reader. */
export interface ReceiptsWait {
  /** Ends the wait: the open rejects with its reason (an AbortError). */
  readonly signal?: AbortSignal;
  /** Called once, when the wait begins. */
  onWait?(): void;
}

/** The longest pause between two looks for a reader of a FIFO to append receipts to, in ms. */
const READER_POLL_MAX_MS = 200;

/**
 * Opens the file at `path`, which is there, to append to it, without ever
 * waiting in node's thread pool for a FIFO's reader (an open that waits
 * there cannot be given up, and the process's exit would wait for it): the
 * open is O_NONBLOCK, and while a FIFO has no reader (ENXIO) it is tried
 * again after a pause, until `wait.signal` aborts. A FIFO is written through
 * a socket (pipeFile), a regular file through its FileHandle (O_NONBLOCK
 * does nothing to one), anything else (a terminal, whose writes would fail
 * EAGAIN when its buffer is full) through a FileHandle opened again without
 * it.
 */
async function openToAppend(path: string, wait: ReceiptsWait): Promise<ReceiptsFile> {
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK;
  let pauseMs = 10;
  let waiting = false;
  for (;;) {
    let fd: number;
    try {
      fd = await openRaw(path, flags);
    } catch (err) {
      // ENXIO is also a device with nothing behind it (/dev/tty without a terminal): only a FIFO is waited for.
      if (errorCode(err) !== 'ENXIO' || !(await stat(path).catch(() => undefined))?.isFIFO()) throw err;
      if (!waiting) {
        waiting = true;
        wait.onWait?.();
      }
      await delay(pauseMs, undefined, wait.signal === undefined ? {} : { signal: wait.signal });
      pauseMs = Math.min(READER_POLL_MAX_MS, pauseMs * 2);
      continue;
    }
    let stats: Stats;
    try {
      stats = await fstatFd(fd);
    } catch (err) {
      closeFd(fd, () => undefined);
      throw err;
    }
    if (stats.isFIFO()) return pipeFile(fd);
    closeFd(fd, () => undefined);
    const handle = await open(path, stats.isFile() ? flags : 'a');
    try {
      const now = await handle.stat();
      if (now.dev === stats.dev && now.ino === stats.ino) return appendOnly(path, handle);
    } catch (err) {
      await handle.close();
      throw err;
    }
    // Replaced between the two opens: looked at again.
    await handle.close();
  }
}

/**
 * Error codes of a folder's fsync where it cannot be done: its file system
 * has none, or the folder may not be opened to read (a folder this user may
 * write to but not list).
 */
const FOLDER_SYNC_UNDONE = new Set([...SYNC_UNSUPPORTED, 'EACCES', 'EPERM']);

/**
 * Opens `path` to append receipts to it (O_WRONLY | O_APPEND: see
 * appendOnly), creating it if there is none: made with O_EXCL first, to know
 * whether this run made it (`created`). A file made is made durable in its
 * folder (`sync`, an fsync of the folder) before it is given, so that
 * receipts synced to it are not lost with its name at a power cut; if that
 * fails (EIO), the file made is removed again and the error thrown. One
 * there is opened by openToAppend: a FIFO without a reader is waited for as
 * `wait` says.
 */
export async function openReceiptsFile(path: string, sync: (folder: string) => Promise<void> = syncFolder, wait: ReceiptsWait = {}): Promise<{ file: ReceiptsFile; created: boolean }> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'ax');
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') throw err;
    return { file: await openToAppend(path, wait), created: false };
  }
  try {
    await sync(dirname(path));
  } catch (err) {
    if (!FOLDER_SYNC_UNDONE.has(errorCode(err) ?? '')) {
      await handle.close();
      await unlink(path).catch(() => undefined);
      throw err;
    }
  }
  return { file: appendOnly(path, handle), created: true };
}
