/**
 * Reads and writes `cairn monitor`'s state file, the record of what it has
 * verified (see MonitorState): read with every signed note in it verified,
 * written atomically (a temporary file, fsync'd, renamed over it) with mode
 * 0600, and the temporary files of killed monitors cleared away.
 */

import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, readlink, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { MAX_LINKS } from '../file-trust.js';
import { decodeBase64 } from '../note/base64.js';
import { openCheckpoint, type Checkpoint } from '../note/checkpoint.js';
import type { Verifier } from '../note/keys.js';
import { PID_MAX_LIMIT, processRuns } from './monitor-lock.js';
import { syncFolder } from '../sync-folder.js';
import { osReason } from './os-error.js';

/**
 * What the state file holds: the last checkpoint and STH that passed every
 * check, and how far an unfinished walk got. Only the checkpoint notes are
 * signed (and verified when read); the other fields are trusted as they
 * stand, as any local state is: the file is to be protected, not checked.
 */
export interface MonitorState {
  /**
   * 3 when the state holds `checkpoint_behind` or `sth_ahead` (fields of the
   * monitor's own, see its SavedState), else 2 when it holds `newest`, else
   * 1: a cairn from before `newest` refuses every version but 1, one from
   * before the other two every version but 1 and 2, and so none can read a
   * state holding a field it does not know and write it back without it
   * (the checks it stands for dropped without a word). All three are read.
   */
  version: 1 | 2 | 3;
  origin: string;
  url: string;
  /**
   * The signed checkpoint note whose every entry was checked; null while the
   * first walk of the log is unfinished (then `partial` says how far it got,
   * or only `newest` is there when no bundle was checked yet, and tree_size
   * is 0).
   */
  checkpoint: string | null;
  tree_size: number;
  root_hash: string;
  /** ms: the last verified STH's timestamp (files written before sth_tree_size existed: the newest one seen). */
  sth_timestamp: number | null;
  /** The last verified STH's tree size and root; absent in older state files (their STH size checks are skipped). */
  sth_tree_size?: number;
  sth_root_hash?: string;
  /**
   * An unfinished walk: the entries from tree_size up to (not including)
   * checked_to, with their tiles, were checked against the tree of this
   * signed checkpoint, which extends `checkpoint` and is larger than
   * checked_to. Absent when the walk reached the checkpoint it walked to
   * (the newest one, or under --once the one its first round found).
   * Written at the end of a round, at a stop, and every SAVE_EVERY_BUNDLES
   * bundles of a walk (so that a monitor killed loses little of it).
   */
  partial?: { checkpoint: string; tree_size: number; root_hash: string; checked_to: number };
  /**
   * The newest checkpoint a round saw, when it is larger than the one walked
   * (--once walks to the checkpoint it found first) or than the state's
   * others (a round keeps it as soon as its consistency checks pass, before
   * it walks, so that a walk that fails or is killed does not lose it):
   * verified, and shown to extend every checkpoint above, before it was
   * written. The next round's newest checkpoint must extend it. Absent in
   * older state files, and once a walk reached it or the walked checkpoint
   * was the newest.
   */
  newest?: { checkpoint: string; tree_size: number; root_hash: string };
  verified_at: string;
}

/** How far an unfinished walk got: entries up to `checkedTo` checked against `checkpoint` (see MonitorState.partial). */
export interface WalkProgress {
  readonly checkpoint: Checkpoint;
  readonly note: string;
  readonly checkedTo: number;
}

/** What a round starts from: the last verified checkpoint, what is known of the last verified STH, and an unfinished walk. */
export interface Verified {
  /** Undefined while the first walk of the log is unfinished. */
  readonly checkpoint: Checkpoint | undefined;
  readonly sthTimestamp: number | undefined;
  readonly sth: Checkpoint | undefined;
  readonly partial: WalkProgress | undefined;
  /** The newest checkpoint an earlier round saw, when larger than the one it walked (see MonitorState.newest). */
  readonly newest: { readonly checkpoint: Checkpoint; readonly note: string } | undefined;
}

/**
 * The file the state file `path` names: `path` itself, unless it is a
 * symbolic link, then the file it leads to, followed link by link (each
 * relative one from its link's folder), whether that file exists yet or not:
 * a link made before the first run, to a state kept elsewhere, leads nowhere
 * until that run writes it. Worked out once, at start: the monitor locks,
 * reads and writes that file, so that a monitor started on the link and
 * another on its target take one lock (`<target>.lock`), and writeState's
 * rename goes over the target, leaving the link a link (a rename over the
 * link would replace it with a file, and the two names would then hold two
 * states). Throws for a link in a loop or one that cannot be followed; what
 * cannot be read at all (not there, no permission) is left to the monitor's
 * reads and writes to report.
 */
export async function stateFileTarget(path: string): Promise<string> {
  let at = path;
  for (let links = 0; links <= MAX_LINKS; links++) {
    let target: string;
    try {
      target = await readlink(at);
    } catch {
      // Not a link (EINVAL), nothing there (ENOENT), or not readable: the file itself.
      return at;
    }
    let folder: string;
    try {
      // The link's folder as the system follows it: a `..` in the link goes up from where it really is.
      folder = await realpath(dirname(at));
    } catch (err) {
      throw new Error(`cannot follow the symbolic link ${at} (the state file ${path}): ${osReason(err)}`);
    }
    at = resolve(folder, target);
  }
  throw new Error(`the state file ${path} is a symbolic link that leads through more than ${MAX_LINKS} links (a loop?)`);
}

/**
 * The state file at `path` as it stands and what it says was verified, its
 * checkpoints verified with `verifier`; undefined when there is none. Throws
 * when it cannot be read, is not a monitor state, or holds a note not signed
 * by `verifier`.
 */
export async function readState(path: string, verifier: Verifier): Promise<{ state: MonitorState; verified: Verified } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the state file ${path}: ${(err as Error).message}`);
  }
  let state: MonitorState;
  try {
    state = JSON.parse(text) as MonitorState;
  } catch {
    throw new Error(`the state file ${path} is not JSON; move it away to start over`);
  }
  const notState = new Error(`the state file ${path} is not a cairn monitor state`);
  // No verified checkpoint yet: a first walk unfinished, or a first round's newest checkpoint kept before its walk failed.
  if (!(state?.version === 1 || state?.version === 2 || state?.version === 3) || !(typeof state.checkpoint === 'string' || (state.checkpoint === null && (state.partial !== undefined || state.newest !== undefined)))) throw notState;
  const timestamp = state.sth_timestamp ?? undefined;
  if (timestamp !== undefined && !(Number.isSafeInteger(timestamp) && timestamp >= 0)) throw notState;
  const open = (note: string, what: string): Checkpoint => {
    try {
      return openCheckpoint(note, verifier).checkpoint;
    } catch (err) {
      throw new Error(`the state file ${path} holds ${what} that is not signed by ${verifier.name}: ${(err as Error).message}`);
    }
  };
  const checkpoint = state.checkpoint === null ? undefined : open(state.checkpoint, 'a checkpoint');
  let partial: WalkProgress | undefined;
  if (state.partial !== undefined) {
    const p = state.partial as Partial<NonNullable<MonitorState['partial']>> | null;
    if (p === null || typeof p !== 'object' || typeof p.checkpoint !== 'string') throw notState;
    const target = open(p.checkpoint, 'an unfinished walk\'s checkpoint');
    const checkedTo = p.checked_to;
    // The walk went on from the verified checkpoint, and a finished one would have replaced it.
    if (!(typeof checkedTo === 'number' && Number.isSafeInteger(checkedTo) && checkedTo >= (checkpoint?.treeSize ?? 0) && checkedTo < target.treeSize)) throw notState;
    partial = { checkpoint: target, note: p.checkpoint, checkedTo };
  }
  let newest: Verified['newest'];
  if (state.newest !== undefined) {
    const n = state.newest as Partial<NonNullable<MonitorState['newest']>> | null;
    if (n === null || typeof n !== 'object' || typeof n.checkpoint !== 'string') throw notState;
    const seen = open(n.checkpoint, 'a newest checkpoint');
    // It was shown to extend the checkpoints above before it was written.
    if (seen.treeSize < Math.max(checkpoint?.treeSize ?? 0, partial?.checkpoint.treeSize ?? 0)) throw notState;
    newest = { checkpoint: seen, note: n.checkpoint };
  }
  let sth: Checkpoint | undefined;
  if (state.sth_tree_size !== undefined || state.sth_root_hash !== undefined) {
    const size = state.sth_tree_size;
    let root: Uint8Array | undefined;
    try {
      root = typeof state.sth_root_hash === 'string' ? decodeBase64(state.sth_root_hash) : undefined;
    } catch {
      root = undefined;
    }
    if (!(Number.isSafeInteger(size) && size! >= 0) || root?.length !== 32 || timestamp === undefined) throw notState;
    sth = { origin: verifier.name, treeSize: size!, rootHash: root, extensions: [] };
  }
  return { state, verified: { checkpoint, sthTimestamp: timestamp, sth, partial, newest } };
}

/** How long a temporary state file must have been left unchanged before removeStaleTemps takes it for stale. */
const STALE_TEMP_MS = 10 * 60_000;

/** The temporary files this process is writing the state to, until renamed or removed (see removeStaleTemps). */
const writing = new Set<string>();

/**
 * Removes the temporary files writeState left beside the state file `path`
 * when its process was killed (kill -9, a crash, a power cut) between
 * creating one and renaming it over `path`: files of this folder named as
 * writeState names them for this very file, `<name>.<pid>.<random>.tmp`,
 * whose process is gone (or is this one, which is not writing it: a
 * restarted container's monitor often gets its old pid back). A file of a
 * process that still runs is left alone: it may be another monitor's write
 * in progress. So is one changed in the last {@link STALE_TEMP_MS}: a pid
 * says nothing of a process in another pid namespace (another container's
 * monitor writing through a shared volume), and a write takes milliseconds.
 * One dated more than that ahead of the clock is stale too: changed while
 * the clock ran ahead, it would otherwise stay until the clock caught up.
 * The pid must be one Linux can give (below 2^22) and the random part the 12
 * hex digits writeState makes, so that a file of the user's that only looks
 * alike is left too. Best effort: what cannot be listed or removed is left.
 */
export async function removeStaleTemps(path: string): Promise<void> {
  const folder = dirname(path);
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const match = /^([1-9][0-9]{0,6})\.[0-9a-f]{12}\.tmp$/.exec(name.slice(prefix.length));
    if (match === null) continue;
    const pid = Number(match[1]);
    if (pid >= PID_MAX_LIMIT) continue;
    const tmp = join(folder, name);
    if (pid === process.pid ? writing.has(tmp) : processRuns(pid)) continue;
    const changed = await stat(tmp).then((s) => s.mtimeMs, () => undefined);
    if (changed === undefined || Math.abs(Date.now() - changed) < STALE_TEMP_MS) continue;
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * The mode a state file is written with: only its owner may write it (or
 * read it): whoever can edit it can make the monitor skip entries or accept
 * an older signed tree head, since its fields other than the notes are
 * trusted as they stand (see MonitorState).
 */
const STATE_FILE_MODE = 0o600;

/**
 * Writes `state` to `path` atomically: a temporary file in the same folder,
 * fsync'd, then renamed over it. A new file gets {@link STATE_FILE_MODE}; one
 * that replaces a file keeps that file's owner bits (a state made read-only,
 * 0400, stays so: never wider than the operator left it) without its group
 * and other bits. Returns the replaced file's mode and the new one's when
 * the replaced one had such bits (an older cairn wrote 0644), for the caller
 * to say that it is closed now; else undefined. A temporary file left by a process killed before the
 * rename is removed by the next monitor's removeStaleTemps. `path` is the
 * file itself, never a symbolic link to it (see stateFileTarget): the rename
 * would put a file in the link's place.
 */
export async function writeState(path: string, state: MonitorState): Promise<{ readonly was: number; readonly now: number } | undefined> {
  // Not there (a first run): the mode of a new file. Not readable (EACCES on the folder): the rename will say so.
  const replaced = await stat(path).then((info) => info.mode % 0o1000, () => undefined);
  const tmp = join(dirname(path), `${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  writing.add(tmp);
  let written: number;
  try {
    written = await writeAndRename(tmp, path, state, replaced === undefined ? STATE_FILE_MODE : replaced & STATE_FILE_MODE);
  } finally {
    writing.delete(tmp);
  }
  // Said only when it took: a file system without Unix modes (vfat) shows its own, as open as before.
  return replaced !== undefined && replaced % 0o100 !== 0 && written % 0o100 === 0 ? { was: replaced, now: written } : undefined;
}

/** Writes `state` to `tmp` made with `mode`, renamed over `path`; returns the mode the file got, as the file system shows it. */
async function writeAndRename(tmp: string, path: string, state: MonitorState, mode: number): Promise<number> {
  const handle = await open(tmp, 'w', mode);
  let written: number;
  // Removed whatever fails once it exists (a full disk as it is written or
  // synced, the rename): removeStaleTemps skips this process's own, so a
  // monitor with --interval would leave one a failed round.
  try {
    try {
      await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`);
      await handle.sync();
      written = (await handle.stat()).mode % 0o1000;
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // Make the rename itself durable; not every platform can open a folder.
  await syncFolder(dirname(path)).catch(() => undefined); // best effort
  return written;
}
