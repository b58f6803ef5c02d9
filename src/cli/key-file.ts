import { readFileSync } from 'node:fs';
import { link, lstat, open, readdir, readFile, readlink, realpath, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, parse, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { generateSignerKey, parseSignerKey, verifierKeyFromSignerKey } from '../note/keys.js';
import { fileKind, fileProblem, folderProblem, osReason, shellWord } from './os-error.js';
import { NON_PRINTING, quoteVisibly, showNonPrinting } from './visible-text.js';
import { syncFolder } from './sync-folder.js';

/** Thrown for a key file problem the operator must fix; the message says how. */
export class KeyFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyFileError';
  }
}

/** Random bytes in the name of {@link createKeyFile}'s temporary file (12 hex digits). */
const TEMP_RANDOM_BYTES = 6;

/**
 * A new path for {@link createKeyFile}'s temporary file for the key file
 * `path`: `.<key file name>.<12 random lowercase hex digits>.tmp`, in the
 * key file's folder (so that link() can put it in place).
 */
export function keyTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(TEMP_RANDOM_BYTES).toString('hex')}.tmp`);
}

/**
 * Whether `name` is the name {@link keyTempPath} gives a temporary file
 * for the key file `path`: `.<key file name>.<12 lowercase hex digits>.tmp`
 * (in the key file's folder). Nothing else is.
 */
export function isKeyTempName(path: string, name: string): boolean {
  const prefix = `.${basename(path)}.`;
  if (!name.startsWith(prefix) || !name.endsWith('.tmp')) return false;
  const random = name.slice(prefix.length, -'.tmp'.length);
  return random.length === 2 * TEMP_RANDOM_BYTES && /^[0-9a-f]+$/.test(random);
}

/** A leftover temporary key file (or the folder of the key) that could not be cleaned, and why. */
export interface KeyTempProblem {
  /** `list`: the key's folder could not be listed; `remove`: a temporary file could not be removed. */
  readonly kind: 'list' | 'remove';
  /** The folder, or the temporary file. */
  readonly path: string;
  /** The operating system's reason. */
  readonly reason: string;
}

/**
 * Removes the temporary files that {@link createKeyFile} leaves beside the
 * key file `path` when it is killed between making one and removing it: each
 * holds a complete private key (a different one, if it was killed before the
 * key file was linked into place), and they would otherwise pile up and go
 * into backups. Removes only regular files whose name
 * {@link isKeyTempName} matches, nothing else. Resolves to what it could not
 * remove, with why (the caller warns), and never throws.
 *
 * Call it only once the key file `path` exists: from then on no
 * createKeyFile for `path` can succeed (link() refuses to replace the key),
 * so every such file is garbage however recent it is, and removing one that
 * another process is still writing (a concurrent `cairn keygen --out` the
 * same path) only turns its sure failure into another failure, never costs
 * it a key. The files are unlinked, not overwritten first: they have mode
 * 0600 in the key file's own folder, as exposed as the key itself, and an
 * overwrite would not reach copies a file system or backup already holds.
 */
export async function removeStaleKeyTemps(path: string): Promise<KeyTempProblem[]> {
  const folder = dirname(path);
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (err) {
    return [{ kind: 'list', path: folder, reason: osReason(err) }];
  }
  const problems: KeyTempProblem[] = [];
  for (const entry of entries) {
    // isFile() does not follow symbolic links: a link of that name is not ours.
    if (!entry.isFile() || !isKeyTempName(path, entry.name)) continue;
    const file = join(folder, entry.name);
    try {
      await unlink(file);
    } catch (err) {
      // Gone meanwhile (another process cleaning too) is what was wanted.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problems.push({ kind: 'remove', path: file, reason: osReason(err) });
    }
  }
  return problems;
}

/**
 * Why `origin` may not name a key that Cairn makes (see NON_PRINTING in visible-text.ts),
 * in words that follow "it" (the origin), or undefined when it may. Only
 * the characters are judged here; the note-key rules (non-empty, no spaces,
 * no '+') are isValidKeyName's (src/note/keys.ts). Keys that others made are
 * read by the verifier's own rules there, not by these.
 */
export function newKeyOriginProblem(origin: string): string | undefined {
  const c = [...origin].find((ch) => ch !== ' ' && NON_PRINTING.test(ch));
  if (c === undefined) return undefined;
  const code = `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  return `holds ${code}, an invisible or non-printing character (a control, format, space, separator, filler, variation selector or unassigned one): a log's name must be visible text`;
}

/**
 * Writes a new signer key to `path` with mode 0600, refusing to overwrite an
 * existing file (CONTRACT §4 keygen), or to make one for an origin that
 * {@link newKeyOriginProblem} refuses. Returns the verifier key, and any
 * temporary key file left by an earlier, interrupted creation of `path` that
 * it could not remove (see {@link removeStaleKeyTemps}; the others it removes).
 */
export async function createKeyFile(path: string, origin: string): Promise<{ signerKey: string; verifierKey: string; leftoverTemps: KeyTempProblem[] }> {
  const problem = newKeyOriginProblem(origin);
  if (problem !== undefined) throw new KeyFileError(`refusing to make a key for the origin ${quoteVisibly(origin)}: it ${problem}`);
  const signerKey = generateSignerKey(origin);
  // The path as given, its line breaks and other non-printing characters shown as escapes.
  const shown = showNonPrinting(path);
  const refuse = () => new KeyFileError(`refusing to overwrite the existing key file ${shown}`);
  if (await stat(path).then(() => true, () => false)) throw refuse();
  // Write a temporary file in full, then link it into place: a crash leaves
  // either no key file or a complete one, never an empty one, and link()
  // fails rather than replace a key that appeared meanwhile. Errors name
  // `path`, never the temporary file, which the user has not heard of.
  const folder = dirname(path);
  const cannotWrite = (err: unknown) => new KeyFileError(`cannot write the key file ${shown}: ${folderProblem(folder, err)}`, { cause: err });
  const temp = keyTempPath(path);
  let handle;
  try {
    handle = await open(temp, 'wx', 0o600);
  } catch (err) {
    throw cannotWrite(err);
  }
  try {
    try {
      await handle.writeFile(`${signerKey}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(temp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw refuse();
    // Our temporary file was removed as stale by a process that made `path`
    // meanwhile (see removeStaleKeyTemps): that key stands.
    if (code === 'ENOENT' && (await stat(path).then(() => true, () => false))) throw refuse();
    throw cannotWrite(err);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await syncFolder(folder);
  const leftoverTemps = await removeStaleKeyTemps(path);
  return { signerKey, verifierKey: verifierKeyFromSignerKey(signerKey), leftoverTemps };
}

/**
 * Reads a signer key file. Refuses one that group or others may read or
 * write (the key signs the log's history), saying how to fix it. With
 * `checkOwner` (a server about to sign with it), it also refuses a file
 * whose owner is neither this process's effective user nor root (sshd's
 * StrictModes rule): that user could have put a key of their own in it, or
 * could change it later. Where the platform has no user ids (no
 * process.geteuid), owners are not checked. With `checkOwner` too, it
 * refuses a key whose folder, or a folder above it, lets other users
 * replace it (see keyFolderProblem).
 */
export async function readKeyFile(path: string, options: { checkOwner?: boolean } = {}): Promise<{ signerKey: string; verifierKey: string; origin: string }> {
  // The path as given, its line breaks and other non-printing characters shown as escapes.
  const shown = showNonPrinting(path);
  const cannotRead = (err: unknown) => new KeyFileError(`cannot read the key file ${shown}: ${fileProblem(err)}`, { cause: err });
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw cannotRead(err);
  }
  // A folder is the usual slip (--key given the data folder): say what it is, and what goes there.
  if (!info.isFile()) throw new KeyFileError(`the key file ${shown} is ${fileKind(info)}, not a file; give the path of a key file made by cairn keygen (cairn keygen --origin <origin> --out FILE)`);
  // Root's key (a packaged root:<service group> 0640, say), read by another
  // user: closed by root alone it could no longer be read, so root gives it to that user.
  const user = otherUserThanOwner(info.uid);
  if (info.mode % 0o100 !== 0) {
    const fix = user === undefined ? `run: chmod 600 ${shellWord(path)}` : chownAdvice(path, user, { owner: info.uid, chmod: '600' });
    throw new KeyFileError(`the key file ${shown} is accessible by group or others (mode ${(info.mode % 0o1000).toString(8)}); ${fix}`);
  }
  const stranger =
    options.checkOwner === true
      ? foreignOwnerProblem('the key file', path, info.uid, 'that user could have put a key of their own in it, or change it later', "check that it is this log's key")
      : undefined;
  if (stranger !== undefined) throw new KeyFileError(stranger);
  const openFolder = options.checkOwner === true ? await keyFolderProblem(path) : undefined;
  if (openFolder !== undefined) throw new KeyFileError(openFolder);
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Its folders were entered (stat found it): the file itself is closed to this user.
    if (user !== undefined && (code === 'EACCES' || code === 'EPERM')) {
      throw new KeyFileError(`cannot read the key file ${shown}: ${fileProblem(err)}; ${chownAdvice(path, user, { owner: info.uid })}`, { cause: err });
    }
    throw cannotRead(err);
  }
  let parsed;
  try {
    parsed = parseSignerKey(text);
  } catch {
    // Never echo the file's content: it is a private key.
    throw new KeyFileError(`${shown} does not hold a valid Ed25519 signer key (PRIVATE+KEY+<origin>+<hash>+<base64>)`);
  }
  return { signerKey: text, verifierKey: verifierKeyFromSignerKey(text), origin: parsed.name };
}

/** Who besides a file's owner may write it, by its `mode`: 'group and others', 'its group' or 'others'; undefined for none. */
export function otherWriters(mode: number): string | undefined {
  const groupWrites = Math.floor(mode / 0o20) % 2 === 1;
  const othersWrite = Math.floor(mode / 0o2) % 2 === 1;
  return groupWrites && othersWrite ? 'group and others' : groupWrites ? 'its group' : othersWrite ? 'others' : undefined;
}

/**
 * Why a folder on the way to the key file `path` lets other users remove or
 * replace the key (a key of their own, which the log would then sign with),
 * in words, or undefined; the folders are those of
 * {@link foldersLeadingTo}, the nearest first (symbolic links judged by
 * their targets, and by the folders that hold them). The folder that holds
 * the key (or the link named) may not belong to another user (see
 * foreignOwnerProblem; its owner may remove files in it, sticky bit or
 * not), nor may group or others write in it without the sticky bit (mode
 * 1000, which in a shared folder such as /tmp keeps them from removing or
 * renaming files they do not own); nor may any folder above it (sshd's
 * StrictModes walk): a user who may rename the folder or link in it that
 * leads to the key can put one of their own, with their key, in its place.
 * A folder that cannot be looked at is left alone (the key in it was read).
 */
async function keyFolderProblem(path: string): Promise<string | undefined> {
  const open = await openFolderOnPath(path);
  if (open === undefined) return undefined;
  const { folder, holds, uid, mode, writers } = open;
  const shown = showNonPrinting(folder);
  const subject = `the key file ${showNonPrinting(path)} is ${holds ? 'in' : 'under'} the folder ${shown}, which`;
  const risk = holds ? 'remove the key or put a key of their own in its place' : 'rename the folder or link in it that leads to the key, and put a key of their own in its place';
  if (writers === undefined) {
    // The folder of the key may be given to this user; one above it is most often another's home, kept from it.
    return ownerProblem(subject, folder, uid, `that user could ${risk}`, "check that it is this log's key", false, holds ? undefined : moveOutAdvice('it', folder));
  }
  const chmod = `chmod go-w ${shellWord(folder)}`;
  // Not this user's, yet trusted: root's (a packaged root:<service group> 0775, say), which only root can chmod.
  const fix = otherUserThanOwner(uid) === undefined ? `, then run: ${chmod}` : `; it belongs to ${ownerName(uid)}, so run as root: ${chmod}`;
  return (
    `${subject} ${writers} may write (mode ${(mode % 0o10000).toString(8)}, no sticky bit): ` +
    `another user could ${risk}. Check that it is this log's key${fix} (or move the key ${holds ? 'to' : 'out of it, to'} a folder that only its user may write)`
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
