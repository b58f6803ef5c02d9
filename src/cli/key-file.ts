import { link, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateSignerKey, parseSignerKey, verifierKeyFromSignerKey } from '../note/keys.js';
import { fileProblem, folderProblem } from './os-error.js';

/** Thrown for a key file problem the operator must fix; the message says how. */
export class KeyFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyFileError';
  }
}

/**
 * Writes a new signer key to `path` with mode 0600, refusing to overwrite an
 * existing file (CONTRACT §4 keygen). Returns the verifier key.
 */
export async function createKeyFile(path: string, origin: string): Promise<{ signerKey: string; verifierKey: string }> {
  const signerKey = generateSignerKey(origin);
  if (await stat(path).then(() => true, () => false)) throw new KeyFileError(`refusing to overwrite the existing key file ${path}`);
  // Write a temporary file in full, then link it into place: a crash leaves
  // either no key file or a complete one, never an empty one, and link()
  // fails rather than replace a key that appeared meanwhile. Errors name
  // `path`, never the temporary file, which the user has not heard of.
  const folder = dirname(path);
  const cannotWrite = (err: unknown) => new KeyFileError(`cannot write the key file ${path}: ${folderProblem(folder, err)}`, { cause: err });
  const temp = join(folder, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
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
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileError(`refusing to overwrite the existing key file ${path}`);
    throw cannotWrite(err);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  const dir = await open(folder, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return { signerKey, verifierKey: verifierKeyFromSignerKey(signerKey) };
}

/**
 * Reads a signer key file. Refuses one that group or others may read or
 * write (the key signs the log's history), saying how to fix it.
 */
export async function readKeyFile(path: string): Promise<{ signerKey: string; verifierKey: string; origin: string }> {
  const cannotRead = (err: unknown) => new KeyFileError(`cannot read the key file ${path}: ${fileProblem(err)}`, { cause: err });
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw cannotRead(err);
  }
  if (!info.isFile()) throw new KeyFileError(`${path} is not a file`);
  if (info.mode % 0o100 !== 0) {
    throw new KeyFileError(`the key file ${path} is accessible by group or others (mode ${(info.mode % 0o1000).toString(8)}); run: chmod 600 ${path}`);
  }
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw cannotRead(err);
  }
  let parsed;
  try {
    parsed = parseSignerKey(text);
  } catch {
    // Never echo the file's content: it is a private key.
    throw new KeyFileError(`${path} does not hold a valid Ed25519 signer key (PRIVATE+KEY+<origin>+<hash>+<base64>)`);
  }
  return { signerKey: text, verifierKey: verifierKeyFromSignerKey(text), origin: parsed.name };
}
