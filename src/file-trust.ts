// Who may change a file or the folders on the way to it: its owner (trusted
// when it is this process's user or root, as sshd's StrictModes has it), who
// besides may write it, and the walk up every folder to / (symbolic links
// judged by their targets, and by the folders that hold them), with the
// words that say so and what to run. Serve's key file, data folder and store
// folder (src/cli) and its token file (src/http/access.ts) are all judged by
// these, so they live below both.
import { readFileSync } from 'node:fs';
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, parse, resolve, sep } from 'node:path';
import { userInfo } from 'node:os';
import { shellWord, showNonPrinting } from './non-printing.js';

/** Who besides a file's owner may write it, by its `mode`: 'group and others', 'its group' or 'others'; undefined for none. */
export function otherWriters(mode: number): string | undefined {
  const groupWrites = Math.floor(mode / 0o20) % 2 === 1;
  const othersWrite = Math.floor(mode / 0o2) % 2 === 1;
  return groupWrites && othersWrite ? 'group and others' : groupWrites ? 'its group' : othersWrite ? 'others' : undefined;
}

/** What {@link openFolderProblem} calls a file, and what others could do with it. */
export interface OpenFolderWords {
  /** The file, before its path: `the key file`. */
  readonly file: string;
  /** The file in the advice to move it: `the key`. */
  readonly moved: string;
  /** What another user could do, after "could", by whether the folder holds the file or is above it. */
  readonly risk: (holds: boolean) => string;
  /** What to check before changing anything, lower-case, after "Otherwise": `check that it is this log's key`. */
  readonly check: string;
}

/**
 * Why a folder on the way to the file `path` lets other users remove or
 * replace it, in `words`, or undefined: the first of {@link openFolderOnPath}
 * (the folders of {@link foldersLeadingTo}, the nearest first; symbolic
 * links judged by their targets, and by the folders that hold them). The
 * folder that holds the file (or the link named) may not belong to another
 * user (see ownerProblem; its owner may remove files in it, sticky bit or
 * not), nor may group or others write in it without the sticky bit (mode
 * 1000, which in a shared folder such as /tmp keeps them from removing or
 * renaming files they do not own); nor may any folder above it (sshd's
 * StrictModes walk): a user who may rename the folder or link in it that
 * leads to the file can put one of their own in its place. The advice is a
 * chmod go-w of an open folder (as root for root's), a chown of another
 * user's folder that holds the file, and moving the file out of another
 * user's folder above it (most often their home, which a chown would take
 * from them). A folder that cannot be looked at is left alone.
 */
export async function openFolderProblem(path: string, words: OpenFolderWords): Promise<string | undefined> {
  const open = await openFolderOnPath(path);
  if (open === undefined) return undefined;
  const { folder, holds, uid, mode, writers } = open;
  const subject = `${words.file} ${showNonPrinting(path)} is ${holds ? 'in' : 'under'} the folder ${showNonPrinting(folder)}, which`;
  const risk = words.risk(holds);
  if (writers === undefined) {
    // The folder of the file may be given to this user; one above it is most often another's home, kept from it.
    return ownerProblem(subject, folder, uid, `that user could ${risk}`, words.check, false, holds ? undefined : moveOutAdvice('it', folder));
  }
  const chmod = `chmod go-w ${shellWord(folder)}`;
  // Not this user's, yet trusted: root's (a packaged root:<service group> 0775, say), which only root can chmod.
  const fix = otherUserThanOwner(uid) === undefined ? `, then run: ${chmod}` : `; it belongs to ${ownerName(uid)}, so run as root: ${chmod}`;
  const check = `${words.check.charAt(0).toUpperCase()}${words.check.slice(1)}`;
  return (
    `${subject} ${writers} may write (mode ${(mode % 0o10000).toString(8)}, no sticky bit): ` +
    `another user could ${risk}. ${check}${fix} (or move ${words.moved} ${holds ? 'to' : 'out of it, to'} a folder that only its user may write)`
  );
}

/**
 * A folder on the way to a path (see {@link foldersLeadingTo}) that a user
 * other than this process's and root may change the contents of.
 */
export interface OpenFolder {
  /** The folder, with no symbolic links in it. */
  readonly folder: string;
  /** Whether it holds the path's last name, as given or once links are followed (else it is a folder above one that does, or holds a link on the way). */
  readonly holds: boolean;
  /** Its owner. */
  readonly uid: number;
  /** Its mode. */
  readonly mode: number;
  /** Who besides its owner may write in it (see otherWriters), when it has no sticky bit; undefined when its owner is another user (see foreignOwner), who may change it whatever its mode. */
  readonly writers: string | undefined;
}

/**
 * The first folder of {@link foldersLeadingTo} `path` that belongs to
 * another user than this process's and root (see foreignOwner), or that
 * group or others may write and that has no sticky bit, or undefined. A
 * folder that cannot be looked at is left alone.
 */
export async function openFolderOnPath(path: string): Promise<OpenFolder | undefined> {
  for (const { folder, holds } of await foldersLeadingTo(path)) {
    const info = await stat(folder).catch(() => undefined);
    if (info === undefined) continue;
    if (foreignOwner(info.uid) !== undefined) return { folder, holds, uid: info.uid, mode: info.mode, writers: undefined };
    if (Math.floor(info.mode / 0o1000) % 2 === 1) continue;
    const writers = otherWriters(info.mode);
    if (writers !== undefined) return { folder, holds, uid: info.uid, mode: info.mode, writers };
  }
  return undefined;
}

/** Symbolic links followed at most in one path, as Linux does (MAXSYMLINKS) before it says ELOOP. */
const MAX_LINKS = 40;

/**
 * The folders whose owners, and whoever may write in them, could make
 * `path` lead to another file than it does, nearest first, each once and
 * with no symbolic links in it: the folder that holds the file `path`
 * leads to (realpath), and every folder above it up to the root; then, for
 * each symbolic link met on the way (in the path as given, or in a link's
 * target), the folder that holds the link and every folder above it.
 * `holds` marks the folder that holds the file, and the one that holds the
 * path's last name as given. Where a name on the way cannot be looked at,
 * the links met before it still count.
 */
export async function foldersLeadingTo(path: string): Promise<{ folder: string; holds: boolean }[]> {
  const absolute = resolve(path);
  const linkHolders: string[] = [];
  let names = absolute.split(sep).filter((name) => name !== '');
  let at = parse(absolute).root;
  let links = 0;
  while (names.length > 0) {
    const name = names.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      at = dirname(at);
      continue;
    }
    const next = join(at, name);
    const info = await lstat(next).catch(() => undefined);
    if (info === undefined || !info.isSymbolicLink()) {
      at = next;
      if (info === undefined) break;
      continue;
    }
    const target = await readlink(next).catch(() => undefined);
    links += 1;
    if (target === undefined || links > MAX_LINKS) break;
    linkHolders.push(at);
    names = [...target.split(sep).filter((part) => part !== ''), ...names];
    if (isAbsolute(target)) at = parse(target).root;
  }
  const real = await realpath(path).catch(() => undefined);
  const given = await realpath(dirname(path)).catch(() => undefined);
  const holders = new Set([real === undefined ? dirname(absolute) : dirname(real), ...(given === undefined ? [] : [given])]);
  // The folders that hold it first, then those above them, then the links'.
  const folders = new Map<string, boolean>([...holders].map((folder) => [folder, true]));
  for (const start of [...holders, ...linkHolders]) {
    for (let folder = start; ; folder = dirname(folder)) {
      if (!folders.has(folder)) folders.set(folder, false);
      if (dirname(folder) === folder) break;
    }
  }
  return [...folders].map(([folder, holds]) => ({ folder, holds }));
}

/**
 * Advice, after "then ", to move `what` out of `folder` (a folder above it
 * that another user has) into one that, like every folder above it,
 * belongs to this process's user or root and that no other user may write:
 * such a folder is most often another user's home, which a chown would take from them.
 */
export function moveOutAdvice(what: string, folder: string): string {
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : 0;
  const owners = euid === 0 ? 'root' : `${chownUser(euid)} or root`;
  return `move ${what} out of ${showNonPrinting(folder)}, into a folder that, like every folder above it, belongs to ${owners} and that no other user may write`;
}

/**
 * This process's effective user id when a file owned by `uid` is not to be
 * trusted by it (owned by neither that user nor root), else undefined; always
 * undefined where the platform has no user ids.
 */
export function foreignOwner(uid: number): number | undefined {
  if (typeof process.geteuid !== 'function') return undefined;
  const euid = process.geteuid();
  return uid === euid || uid === 0 ? undefined : euid;
}

/**
 * This process's user as chown takes it (its name where the system knows
 * it, else its uid) when a file owned by `owner` is not its own, else
 * undefined (also where the platform has no user ids): whether its mode can
 * be changed by this process, and if not, whom to give it to.
 */
export function otherUserThanOwner(owner: number): string | undefined {
  if (typeof process.geteuid !== 'function') return undefined;
  const euid = process.geteuid();
  if (owner === euid) return undefined;
  return chownUser(euid);
}

/**
 * The user `uid` as chown takes it: its name where the system knows it (this
 * process's own user from the system's user database, another from
 * /etc/passwd), else its uid; a name reads better than a number in advice
 * (`chown -R root …`, not `chown -R 0 …`) and names the same user.
 */
export function chownUser(uid: number): string {
  return userName(uid) ?? String(uid);
}

/** The name of user `uid` (see {@link chownUser}), or undefined where it cannot be found. */
function userName(uid: number): string | undefined {
  if (typeof process.geteuid === 'function' && uid === process.geteuid()) {
    try {
      return userInfo().username;
    } catch {
      // No entry for this process's user: look in /etc/passwd all the same.
    }
  }
  let text: string;
  try {
    text = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  const name = text
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields.length >= 3 && fields[2] === String(uid))?.[0];
  return name === undefined || name === '' ? undefined : name;
}

/**
 * Why `what` at `path`, owned by `uid`, is not to be trusted, when another
 * user than this process's or root owns it (see {@link foreignOwner}), else
 * undefined: `risk` says what that user could do, and `check` (in words
 * that follow "Otherwise") what to check before the chown the message gives
 * (`-R` for a folder, when `recursive`). The owner is named where the system
 * knows the name, and running serve as that user comes first: the files are
 * most often a service user's, started by hand as root, and a chown to root
 * would keep that service's next start from using them.
 */
export function foreignOwnerProblem(what: string, path: string, uid: number, risk: string, check: string, recursive = false): string | undefined {
  return ownerProblem(`${what} ${showNonPrinting(path)}`, path, uid, risk, check, recursive);
}

/**
 * {@link foreignOwnerProblem}'s words, about `path`, with `subject` (the
 * words before "belongs to another user") given whole: the key's folder is
 * named after the key (`the key file K is in the folder F, which`). With
 * `fix`, that follows "Otherwise `check`, then " instead of the chown, and
 * the chown goes unmentioned (a folder above the key or the data folder,
 * most often another user's home: see moveOutAdvice).
 */
export function ownerProblem(subject: string, path: string, uid: number, risk: string, check: string, recursive = false, fix?: string): string | undefined {
  const stranger = foreignOwner(uid);
  if (stranger === undefined) return undefined;
  const owner = ownerName(uid);
  const self = stranger === 0 ? 'not to root, which this runs as' : `not to the user this runs as (${ownerName(stranger)}) or root`;
  const name = userName(uid);
  const who = name ?? `uid ${uid}`;
  const user = chownUser(stranger);
  return (
    `${subject} belongs to another user, ${owner}, ${self}: ${risk}. ` +
    `If ${who} runs this log (a service's user, say), run serve as ${who} (e.g. sudo -u ${shellWord(name ?? `#${uid}`)} cairn serve …)` +
    (fix === undefined
      ? `: a chown to ${user} would stop ${who}'s starts from using it. Otherwise ${check}, then run: chown ${recursive ? '-R ' : ''}${shellWord(user)} ${shellWord(path)}`
      : `. Otherwise ${check}, then ${fix}`)
  );
}

/**
 * What to run as root to give `path` to this process's user `user` (see
 * {@link otherUserThanOwner}), when this user cannot fix it alone:
 * `run as root: chown USER PATH`, with `-R` for a folder and the files in it
 * (`recursive`), then `&& chmod MODE PATH` when it must also be closed
 * (`chmod`, as chmod takes it). With `owner`, it begins with whom the path
 * belongs to (`it belongs to root: `). The user and path are shell words
 * (see shellWord), which bash reads back as the same text when pasted. The
 * one wording of this advice, for the key file, the data folder and the
 * store's folder.
 */
export function chownAdvice(path: string, user: string, options: { owner?: number; recursive?: boolean; chmod?: string } = {}): string {
  const word = shellWord(path);
  const belongs = options.owner === undefined ? '' : `it belongs to ${ownerName(options.owner)}: `;
  const close = options.chmod === undefined ? '' : ` && chmod ${options.chmod} ${word}`;
  return `${belongs}run as root: chown ${options.recursive === true ? '-R ' : ''}${shellWord(user)} ${word}${close}`;
}

/** The owner `uid` in words: root, its name and uid where its name is known (`cairn (uid 999)`), else its uid. */
export function ownerName(uid: number): string {
  if (uid === 0) return 'root';
  const name = userName(uid);
  return name === undefined ? `uid ${uid}` : `${name} (uid ${uid})`;
}
