// Who may change a file or the folders on the way to it: its owner (trusted
// when it is this process's user or root, as sshd's StrictModes has it), who
// besides may write it, and the walk up every folder to / (symbolic links
// judged by their targets, and by the folders that hold them), with the
// words that say so and what to run. Serve's key file, data folder and store
// folder (src/cli) and its token file (src/http/access.ts) are all judged by
// these, so they live below both.
import { readFileSync } from 'node:fs';
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, parse, sep } from 'node:path';
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
  /**
   * Whether the folder that holds the path is the file's own folder, held to
   * the strict rule (the key file's, the token file's), or, like every
   * folder above, to the rule of {@link openFolderOnPath}'s `above` (the data
   * folder's, whose own folder is itself, judged by checkDataFolder).
   */
  readonly holderIsOwn: boolean;
}

/**
 * Why a folder on the way to the file `path` lets other users remove or
 * replace it, in `words`, or undefined: the first of {@link openFolderOnPath}
 * (the folders of {@link foldersLeadingTo}, the nearest first; symbolic
 * links judged by their targets, and by the folders that hold them). The
 * folder that holds the file (or the link named), where it is the file's own
 * (`words.holderIsOwn`), may not belong to another user (see ownerProblem;
 * its owner may remove files in it, sticky bit or not), nor may group or
 * others write in it without the sticky bit (mode 1000, which in a shared
 * folder such as /tmp keeps them from removing or renaming files they do
 * not own). A folder above it (sshd's StrictModes walk) may not belong to
 * another user, nor may others write in it without the sticky bit: a user
 * who may rename the folder or link in it that leads to the file can put one
 * of their own in its place. One above that its group may write passes:
 * silently where that group is its owner's private group (see
 * isPrivateGroup), else told to `onSharedFolder` (a Kubernetes fsGroup
 * volume, a shared project folder), for sharedFolderWarnings to word with
 * the other files found under it. The advice is a chmod go-w of
 * an open folder (as root for root's), a chown of another user's folder
 * that holds the file, and moving the file out of another user's folder
 * above it (most often their home, which a chown would take from them). A
 * folder that cannot be looked at is left alone.
 */
export async function openFolderProblem(path: string, words: OpenFolderWords, onSharedFolder?: (found: SharedFolderFinding) => void): Promise<string | undefined> {
  const walk = await openFolderOnPath(path, { holderIsOwn: words.holderIsOwn });
  const { open } = walk;
  if (open === undefined) {
    for (const shared of walk.shared) onSharedFolder?.({ path, words, shared });
    return undefined;
  }
  const { folder, holds, uid, mode, writers } = open;
  const subject = `${words.file} ${showNonPrinting(path)} is ${holds ? 'in' : 'under'} the folder ${showNonPrinting(folder)}, which`;
  const risk = words.risk(holds);
  if (writers === undefined) {
    // The folder of the file may be given to this user; one above it is most often another's home, kept from it.
    return ownerProblem(subject, folder, uid, `that user could ${risk}`, words.check, false, holds && words.holderIsOwn ? undefined : moveOutAdvice(words.moved, folder));
  }
  const chmod = `chmod go-w ${shellWord(folder)}`;
  // Not this user's, yet trusted: root's (a packaged root:<service group> 0775, say), which only root can chmod.
  const fix = otherUserThanOwner(uid) === undefined ? `, then run: ${chmod}` : `; it belongs to ${ownerName(uid)}, so run as root: ${chmod}`;
  const check = `${words.check.charAt(0).toUpperCase()}${words.check.slice(1)}`;
  return (
    `${subject} ${writers} may write (mode ${(mode % 0o10000).toString(8)}, no sticky bit): ` +
    `another user could ${risk}. ${check}${fix} (or move ${words.moved} ${holds && words.holderIsOwn ? 'to' : 'out of it, to'} a folder that only its user may write)`
  );
}

/** A folder that openFolderProblem found on the way to the file `path` (spoken of in `words`) and that a group other than its owner's private one may write. */
export interface SharedFolderFinding {
  /** The file, as given. */
  readonly path: string;
  /** How the warning speaks of the file. */
  readonly words: OpenFolderWords;
  /** The folder, and whether it holds the file or is above it. */
  readonly shared: SharedFolder;
}

/**
 * The start-up warnings of `findings` (see openFolderProblem): one for each
 * folder, in the order first found, naming every file in or under it. A
 * folder above both the key file and the data folder, say, is one warning
 * with one chmod, not one for each file; a file found under it twice is
 * named once.
 */
export function sharedFolderWarnings(findings: readonly SharedFolderFinding[]): string[] {
  const byFolder = new Map<string, SharedFolderFinding[]>();
  for (const found of findings) {
    const files = byFolder.get(found.shared.folder) ?? [];
    if (!files.some((f) => f.path === found.path && f.words.file === found.words.file)) files.push(found);
    byFolder.set(found.shared.folder, files);
  }
  return [...byFolder.values()].map(sharedFolderWarning);
}

/** `items` as a list in words: `a`, `a and b`, `a, b and c`. */
function listed(items: readonly string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)!}`;
}

/** The start-up warning of one folder that `files` (at least one) are in or under (see sharedFolderWarnings). */
function sharedFolderWarning(files: readonly SharedFolderFinding[]): string {
  const { folder, uid, gid, mode } = files[0]!.shared;
  const group = groupEntry(gid);
  const members = group === undefined ? [] : group.members;
  const named = group === undefined ? `with gid ${gid} (not listed in /etc/group)` : `${showNonPrinting(group.name)} (gid ${gid})`;
  const who = members.length === 0 ? 'its members' : `its members (${members.map((m) => showNonPrinting(m)).join(', ')}) and any user whose primary group it is`;
  const chmod = `chmod g-w ${shellWord(folder)}`;
  const fix = otherUserThanOwner(uid) === undefined ? `run: ${chmod}` : `run as root: ${chmod}`;
  const names = (some: readonly SharedFolderFinding[]) => listed(some.map((f) => `${f.words.file} ${showNonPrinting(f.path)}`));
  const verb = (some: readonly SharedFolderFinding[]) => (some.length === 1 ? 'is' : 'are');
  const held = files.filter((f) => f.shared.holds);
  const under = files.filter((f) => !f.shared.holds);
  // "A is in the folder F", "A and B are under the folder F", or "A is in, and B and C under, the folder F";
  // what each could do, and what to move, in the same order.
  const ordered = [...held, ...under];
  const subject =
    held.length === 0 || under.length === 0
      ? `${names(ordered)} ${verb(ordered)} ${under.length === 0 ? 'in' : 'under'} the folder ${showNonPrinting(folder)}`
      : `${names(held)} ${verb(held)} in, and ${names(under)} under, the folder ${showNonPrinting(folder)}`;
  const risks = ordered.map((f) => f.words.risk(f.shared.holds)).join('; or ');
  return (
    `${subject}, which belongs to ${ownerName(uid)} and which the group ${named} may write too (mode ${(mode % 0o10000).toString(8)}): ` +
    `${who} could ${risks}. If every one of them may, leave it; else ${fix} (or move ${listed(ordered.map((f) => f.words.moved))} out of it, to a folder that only its user may write)`
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

/** A folder above a path's own folder that its group may write, a group that is not its owner's private group (see isPrivateGroup). */
export interface SharedFolder {
  /** The folder, with no symbolic links in it. */
  readonly folder: string;
  /** Whether it holds the path's last name (see OpenFolder). */
  readonly holds: boolean;
  /** Its owner. */
  readonly uid: number;
  /** Its group. */
  readonly gid: number;
  /** Its mode. */
  readonly mode: number;
}

/**
 * The folders of {@link foldersLeadingTo} `path`, judged as sshd's
 * StrictModes walk does, with a rule for group-writable folders stricter than Debian's (see isPrivateGroup):
 * `open`, the first folder that belongs to another user than this
 * process's and root (see foreignOwner), or that others may write and that
 * has no sticky bit, or, where it holds the path and `holderIsOwn` (the
 * path's own folder), that its group may write without the sticky bit; and
 * `shared`, the folders before it that its group may write without the
 * sticky bit, where that group is not the owner's private group (see
 * isPrivateGroup): a checkout made under umask 002 (0775, the user's
 * private group) passes, a Kubernetes fsGroup volume (2775 root:<fsGroup>)
 * is shared. A folder that cannot be looked at is left alone.
 */
export async function openFolderOnPath(path: string, options: { holderIsOwn: boolean }): Promise<{ open: OpenFolder | undefined; shared: SharedFolder[] }> {
  const shared: SharedFolder[] = [];
  for (const { folder, holds } of await foldersLeadingTo(path)) {
    const info = await stat(folder).catch(() => undefined);
    if (info === undefined) continue;
    const { uid, gid, mode } = info;
    if (foreignOwner(uid) !== undefined) return { open: { folder, holds, uid, mode, writers: undefined }, shared };
    if (Math.floor(mode / 0o1000) % 2 === 1) continue;
    const writers = otherWriters(mode);
    if (writers === undefined) continue;
    if (writers !== 'its group' || (holds && options.holderIsOwn)) return { open: { folder, holds, uid, mode, writers }, shared };
    if (!isPrivateGroup(uid, gid)) shared.push({ folder, holds, uid, gid, mode });
  }
  return { open: undefined, shared };
}

/** One line of /etc/group: its name, gid and the members it lists. */
export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** One line of /etc/passwd: the user's name, uid and primary gid. */
export interface UserEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** The lines of /etc/passwd and /etc/group as read once by this process, or undefined where either cannot be read. */
let accounts: { users: UserEntry[]; groups: GroupEntry[] } | undefined | null = null;

/** /etc/passwd and /etc/group, read once (see parseAccounts), or undefined where either cannot be read. */
function systemAccounts(): { users: UserEntry[]; groups: GroupEntry[] } | undefined {
  if (accounts === null) {
    try {
      accounts = parseAccounts(readFileSync('/etc/passwd', 'utf8'), readFileSync('/etc/group', 'utf8'));
    } catch {
      accounts = undefined;
    }
  }
  return accounts;
}

/** The users of `passwd` and the groups of `group` (the files' formats, passwd(5) and group(5)); lines that are not entries are skipped. */
export function parseAccounts(passwd: string, group: string): { users: UserEntry[]; groups: GroupEntry[] } {
  const id = (field: string | undefined) => (field !== undefined && /^[0-9]{1,10}$/.test(field) ? Number(field) : undefined);
  const users: UserEntry[] = [];
  for (const line of passwd.split('\n')) {
    const [name = '', , uid, gid] = line.split(':');
    const u = id(uid);
    const g = id(gid);
    if (name !== '' && u !== undefined && g !== undefined) users.push({ name, uid: u, gid: g });
  }
  const groups: GroupEntry[] = [];
  for (const line of group.split('\n')) {
    const [name = '', , gid, members = ''] = line.split(':');
    const g = id(gid);
    if (name !== '' && g !== undefined) groups.push({ name, gid: g, members: members.split(',').filter((m) => m !== '') });
  }
  return { users, groups };
}

/** The group `gid` of /etc/group, where it lists it once. */
function groupEntry(gid: number): GroupEntry | undefined {
  const found = systemAccounts()?.groups.filter((g) => g.gid === gid) ?? [];
  return found.length === 1 ? found[0] : undefined;
}

/**
 * Whether the group `gid` of a folder owned by `uid` is that owner's
 * private group (user private groups, as Debian, Ubuntu and Fedora make one
 * for every user, with umask 002), which lets nobody else write: the owner's
 * primary group, named as the owner, listed once, with no member but the
 * owner, and no other user's primary group. That is stricter than Debian's
 * sshd (secure_permissions of its user-group-modes patch), which lets a
 * group-writable file or folder pass where the group's one member, as a
 * primary group or listed in /etc/group, is its owner, whatever the group's
 * name: here the group must also be named as the owner and be the owner's
 * primary group. `given` stands in for /etc/passwd and
 * /etc/group (see parseAccounts) in tests, null for files that cannot be
 * read; where they cannot be read, no group is private (and the folder is
 * warned of).
 */
export function isPrivateGroup(uid: number, gid: number, given?: { users: UserEntry[]; groups: GroupEntry[] } | null): boolean {
  const accounts = given === undefined ? systemAccounts() : given;
  if (accounts === undefined || accounts === null) return false;
  const owners = accounts.users.filter((u) => u.uid === uid);
  const groups = accounts.groups.filter((g) => g.gid === gid);
  const owner = owners[0];
  const group = groups[0];
  if (owner === undefined || group === undefined || groups.length !== 1) return false;
  if (owners.some((u) => u.gid !== gid) || group.name !== owner.name) return false;
  if (group.members.some((m) => m !== owner.name)) return false;
  return accounts.users.every((u) => u.gid !== gid || u.uid === uid);
}

/** Symbolic links followed at most in one path, as Linux does (MAXSYMLINKS) before it says ELOOP. */
export const MAX_LINKS = 40;

/**
 * `path` made absolute as the kernel takes it: a relative one from
 * process.cwd() (which has no symbolic links in it), its '.' and empty names
 * dropped, and its '..' kept, where path.resolve would drop them with the
 * name before: the kernel takes '..' after following that name, so
 * `open/link/../key` is the key beside the link's target, not `open/key`.
 */
export function pathAsGiven(path: string): string {
  const absolute = isAbsolute(path) ? path : `${process.cwd()}${sep}${path}`;
  const names = absolute.split(sep).filter((name) => name !== '' && name !== '.');
  return `${parse(absolute).root}${names.join(sep)}`;
}

/**
 * `path` by its realpath (absolute, with no symbolic link or '..' in it)
 * where it exists, as the start-up lines name files; else as given (see
 * pathAsGiven), its '..' kept.
 */
export async function realOrAsGiven(path: string): Promise<string> {
  return realpath(path).catch(() => pathAsGiven(path));
}

/**
 * `names` put after the folder `folder`, as path.join does but with its '..'
 * kept (see pathAsGiven): the path the kernel takes them to, where
 * path.join would drop a '..' with the name before it, so that
 * `link/../data` and `db` is `link/../data/db`, the store beside the link's
 * target, not `data/db` beside the link. '.' and empty names are dropped;
 * a relative folder stays relative.
 */
export function joinAsGiven(folder: string, ...names: string[]): string {
  const kept = [folder, ...names].flatMap((path) => path.split(sep)).filter((name) => name !== '' && name !== '.');
  const joined = `${parse(folder).root}${kept.join(sep)}`;
  return joined === '' ? '.' : joined;
}

/**
 * The folders whose owners, and whoever may write in them, could make
 * `path` lead to another file than it does, nearest first, each once and
 * with no symbolic links in it: the folder that holds the file `path`
 * leads to, and every folder above it up to the root; then, for each
 * symbolic link met on the way (in the path as given, or in a link's
 * target), the folder that holds the link and every folder above it. The
 * path is walked as given (see pathAsGiven), name by name, as the kernel
 * does: a link is followed where it is met, and a '..' goes up from where
 * that left it. `holds` marks the folder that holds the file, and the one
 * that holds the path's last name as given. Where a name on the way cannot
 * be looked at, the links met before it still count.
 */
export async function foldersLeadingTo(path: string): Promise<{ folder: string; holds: boolean }[]> {
  const absolute = pathAsGiven(path);
  const linkHolders: string[] = [];
  let names = absolute.split(sep).filter((name) => name !== '');
  let at = parse(absolute).root;
  let links = 0;
  // Where the path's own last name is (the folder that holds it), once the walk gets there.
  let givenHolder: string | undefined;
  // Whether `at` is the folder that holds the file, once the walk stops (else a folder above it, where a name could not be looked at).
  let holdsFile = false;
  for (;;) {
    if (names.length === 0) {
      // The file itself, with no link in its path: its realpath.
      holdsFile = true;
      at = dirname(at);
      break;
    }
    const name = names.shift()!;
    if (names.length === 0 && name !== '..') givenHolder ??= at;
    if (name === '.') continue;
    if (name === '..') {
      at = dirname(at);
      continue;
    }
    const next = join(at, name);
    const info = await lstat(next).catch(() => undefined);
    if (info === undefined) {
      holdsFile = names.length === 0;
      break;
    }
    if (!info.isSymbolicLink()) {
      at = next;
      continue;
    }
    const target = await readlink(next).catch(() => undefined);
    links += 1;
    if (target === undefined || links > MAX_LINKS) break;
    linkHolders.push(at);
    names = [...target.split(sep).filter((part) => part !== ''), ...names];
    if (isAbsolute(target)) at = parse(target).root;
  }
  // The folders that hold it first, then those above them, then the links'.
  const holders = [...(holdsFile ? [at] : []), ...(givenHolder === undefined ? [] : [givenHolder])];
  const folders = new Map<string, boolean>(holders.map((folder) => [folder, true]));
  for (const start of [...holders, at, ...linkHolders]) {
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
 * (`-R` for a folder, when `recursive`; as root, which alone may give a
 * file away, where this process is not root). The owner is named where the system
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
      ? `: a chown to ${user} would stop ${who}'s starts from using it. Otherwise ${check}, then run${stranger === 0 ? '' : ' as root'}: chown ${recursive ? '-R ' : ''}${shellWord(user)} ${shellWord(path)}`
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
