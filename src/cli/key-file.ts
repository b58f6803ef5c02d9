import { link, lstat, open, readdir, readFile, readlink, stat, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chownAdvice, foreignOwnerProblem, joinAsGiven, openFolderProblem, otherUserThanOwner, type SharedFolderFinding } from '../file-trust.js';
import { generateSignerKey, parseSignerKey, parseVerifierKey, verifierKeyFromSignerKey } from '../note/keys.js';
import { fileKind, fileProblem, folderProblem, osReason, shellWord } from './os-error.js';
import { NON_PRINTING, quoteVisibly, showNonPrinting } from './visible-text.js';
import { syncFolder } from '../sync-folder.js';

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
  return joinAsGiven(dirname(path), `.${basename(path)}.${randomBytes(TEMP_RANDOM_BYTES).toString('hex')}.tmp`);
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
    const file = joinAsGiven(folder, entry.name);
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
 * `the key file PATH is a symbolic link to TARGET, which does not exist`
 * when `path` is a symbolic link that leads nowhere (stat says ENOENT of
 * it, lstat finds the link), its path and target shown with their
 * non-printing characters escaped; else undefined.
 */
export async function danglingLinkProblem(path: string): Promise<string | undefined> {
  const info = await lstat(path).catch(() => undefined);
  if (info === undefined || !info.isSymbolicLink()) return undefined;
  if (await stat(path).then(() => true, () => false)) return undefined;
  const target = await readlink(path).catch(() => undefined);
  if (target === undefined) return undefined;
  return `the key file ${showNonPrinting(path)} is a symbolic link to ${showNonPrinting(target)}, which does not exist`;
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
  // A link that leads nowhere is no key file to overwrite; nor is a key made through it (link() would not follow it).
  const dangling = await danglingLinkProblem(path);
  if (dangling !== undefined) throw new KeyFileError(`${dangling}: no key is made through a link; give the path it leads to, or remove the link`);
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
 * replace it (see keyFolderProblem), and tells `onSharedFolder` of a
 * folder above it that a group may write (for a start-up warning: see
 * sharedFolderWarnings).
 */
export async function readKeyFile(path: string, options: { checkOwner?: boolean; onSharedFolder?: (found: SharedFolderFinding) => void } = {}): Promise<{ signerKey: string; verifierKey: string; origin: string }> {
  // The path as given, its line breaks and other non-printing characters shown as escapes.
  const shown = showNonPrinting(path);
  const cannotRead = (err: unknown) => new KeyFileError(`cannot read the key file ${shown}: ${fileProblem(err)}`, { cause: err });
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    const dangling = await danglingLinkProblem(path);
    if (dangling !== undefined) throw new KeyFileError(`${dangling}: put the key file there, or give the key file's own path`, { cause: err });
    throw cannotRead(err);
  }
  // A folder is the usual slip (--key given the data folder): say what it is, and what goes there.
  if (!info.isFile()) throw new KeyFileError(`the key file ${shown} is ${fileKind(info)}, not a file; give the path of a key file made by cairn keygen (cairn keygen --origin <origin> --out FILE)`);
  // Root's key (a packaged root:<service group> 0640, say), read by another
  // user: closed by root alone it could no longer be read, so root gives it to that user.
  const user = otherUserThanOwner(info.uid);
  // A verifier key given for the key (it is public, often 0644): said before any advice to close it.
  const publicKey = info.size <= MAX_VERIFIER_KEY_BYTES ? await verifierKeyProblem(path) : undefined;
  if (publicKey !== undefined) throw new KeyFileError(publicKey);
  if (info.mode % 0o100 !== 0) {
    const fix = user === undefined ? `run: chmod 600 ${shellWord(path)}` : chownAdvice(path, user, { owner: info.uid, chmod: '600' });
    throw new KeyFileError(`the key file ${shown} is accessible by group or others (mode ${(info.mode % 0o1000).toString(8)}); ${fix}`);
  }
  const stranger =
    options.checkOwner === true
      ? foreignOwnerProblem('the key file', path, info.uid, 'that user could have put a key of their own in it, or change it later', "check that it is this log's key")
      : undefined;
  if (stranger !== undefined) throw new KeyFileError(stranger);
  const openFolder = options.checkOwner === true ? await keyFolderProblem(path, options.onSharedFolder) : undefined;
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

/** The most bytes a file is read for {@link verifierKeyProblem}: far more than any verifier key with a line break. */
const MAX_VERIFIER_KEY_BYTES = 4096;

/**
 * `PATH holds a verifier key …` when the file `path` holds a verifier key
 * (the public half, `<origin>+<hash>+<base64>`, which keygen prints) rather
 * than a signer key; else undefined, also when it cannot be read. Its text
 * is not shown: what else the file holds is not known.
 */
async function verifierKeyProblem(path: string): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').then((t) => t.trim(), () => undefined);
  if (text === undefined || text.startsWith('PRIVATE+KEY+')) return undefined;
  try {
    parseVerifierKey(text);
  } catch {
    return undefined;
  }
  return (
    `${showNonPrinting(path)} holds a verifier key (the public half of a key, which keygen prints and monitors use), not a signer key: ` +
    'give the private key file that cairn keygen --out wrote (PRIVATE+KEY+<origin>+<hash>+<base64>)'
  );
}

/**
 * Why a folder on the way to the key file `path` lets other users remove or
 * replace the key (a key of their own, which the log would then sign with),
 * in words, or undefined: see openFolderProblem of src/file-trust.ts, which
 * walks every folder up to / (sshd's StrictModes walk), symbolic links
 * judged by their targets and by the folders that hold them.
 */
async function keyFolderProblem(path: string, onSharedFolder?: (found: SharedFolderFinding) => void): Promise<string | undefined> {
  const words = {
    file: 'the key file',
    moved: 'the key',
    risk: (holds: boolean) => (holds ? 'remove the key or put a key of their own in its place' : 'rename the folder or link in it that leads to the key, and put a key of their own in its place'),
    check: "check that it is this log's key",
    holderIsOwn: true,
  };
  return openFolderProblem(path, words, onSharedFolder);
}
