import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import { shellWord } from '../non-printing.js';
import { showNonPrinting } from './visible-text.js';

// shellWord lives in src/non-printing.ts, which src/file-trust.ts uses too.
export { shellWord };

/** `--name value` for a shell, or `--name=value` where the value begins with '-' (which parseArgs would take for an option). */
export function optionWords(name: string, value: string): string {
  return value.startsWith('-') ? shellWord(`${name}=${value}`) : `${name} ${shellWord(value)}`;
}

/**
 * The operating system's reason for a failed file-system or socket call, as
 * `CODE: words` (`ENOENT: no such file or directory`), without the paths node
 * puts in its message: a caller names the path the user gave, never a
 * temporary file it made on the way.
 */
export function osReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const known = typeof e.errno === 'number' ? getSystemErrorMap().get(e.errno) : undefined;
  if (known !== undefined) return `${e.code ?? known[0]}: ${known[1]}`;
  return e.code ?? (err instanceof Error ? err.message : String(err));
}

/**
 * What a file-system object is, in words for a message that expected
 * another kind (`a folder`, `a file`, `a FIFO (named pipe)`, ...), from its
 * stat (which follows symbolic links, so never a link).
 */
export function fileKind(info: { isFile(): boolean; isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (info.isDirectory()) return 'a folder';
  if (info.isFile()) return 'a file';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'neither a file nor a folder';
}

/**
 * Why a file could not be made in `folder`, in words, followed by the OS's
 * reason: the folder does not exist, is not a folder, or is not writable.
 */
export function folderProblem(folder: string, err: unknown): string {
  const reason = osReason(err);
  const shown = showNonPrinting(folder);
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return `the folder ${shown} does not exist (${reason}); make it first: mkdir -p ${shellWord(folder)}`;
    case 'ENOTDIR':
      return `${shown} is not a folder, or a part of its path is a file (${reason})`;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return `the folder ${shown} is not writable (${reason})`;
    default:
      return reason;
  }
}

/**
 * Why a file could not be read, in words that follow its path, then the OS's
 * reason: it does not exist, a part of its path is not a folder, or this
 * user may not read it.
 */
export function fileProblem(err: unknown): string {
  const reason = osReason(err);
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return `it does not exist (${reason})`;
    case 'ENOTDIR':
      return `a part of its path is a file, not a folder (${reason})`;
    case 'EACCES':
    case 'EPERM':
      return `this user may not read it, or may not enter a folder above it (${reason})`;
    default:
      return reason;
  }
}

/**
 * Why files cannot be made in `folder` (in the words of {@link folderProblem}),
 * or undefined when it is a folder this process may write to; for checking
 * where output goes before any work whose result would then be lost.
 */
export async function writableFolderProblem(folder: string): Promise<string | undefined> {
  try {
    if (!(await stat(folder)).isDirectory()) {
      return folderProblem(folder, Object.assign(new Error('not a directory'), { code: 'ENOTDIR', errno: -constants.errno.ENOTDIR }));
    }
    await access(folder, fsConstants.W_OK);
    return undefined;
  } catch (err) {
    return folderProblem(folder, err);
  }
}
