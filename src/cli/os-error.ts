import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import { NON_PRINTING, showNonPrinting } from './visible-text.js';

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

const NON_PRINTING_ALL = new RegExp(NON_PRINTING.source, 'gu');

/**
 * `text` as one word for a POSIX shell: as it is when that is safe, else
 * single-quoted; one holding a character that would not print (see
 * showNonPrinting: a line break, a bidi override) is written `$'…'` with
 * each such character as the three-digit octal escapes (`\nnn`) of its
 * UTF-8 bytes, so that the command shown can neither start a line of its
 * own nor reorder the text around it, and still names the same path when
 * pasted into bash, zsh, ksh, busybox sh or a POSIX.1-2024 sh. `'` and `\`
 * are octal escapes too, so that a shell without `$'…'` (dash before
 * 0.5.13, Debian's /bin/sh) reads `$` and one single-quoted string: a wrong
 * path, never a command. Three digits end an escape in every one of those
 * shells, whatever follows (`\xHH` followed by a hex digit does not).
 */
export function shellWord(text: string): string {
  if (/^[A-Za-z0-9_./:@%+=,-]+$/.test(text)) return text;
  if (showNonPrinting(text) === text) return `'${text.replace(/'/g, "'\\''")}'`;
  const octal = (c: string) => [...Buffer.from(c, 'utf8')].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
  const escaped = text.replace(/[\\']/g, octal).replace(NON_PRINTING_ALL, (c) => (c === ' ' ? c : octal(c)));
  return `$'${escaped}'`;
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
