import type { Response } from 'express';
import { LogError, type LogErrorCode } from '../log/errors.js';
import { StoreUnavailableError } from '../storage/store.js';

/** The one table from stable error codes to HTTP statuses (CONTRACT §3). */
export const HTTP_STATUS: Readonly<Record<LogErrorCode, number>> = {
  MALFORMED_REQUEST: 400,
  INVALID_PARAMETER: 400,
  INVALID_JSON: 400,
  INVALID_BASE64: 400,
  EMPTY_ENTRY: 400,
  TOO_MANY_ENTRIES: 400,
  TREE_SIZE_TOO_LARGE: 400,
  ENTRY_TOO_LARGE: 413,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  EXPECTATION_FAILED: 417,
  RATE_LIMITED: 429,
  QUEUE_FULL: 503,
  STORAGE_FAILED: 503,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
};

/**
 * Turns any error into the contract's `{"error", "code"}` body. Domain errors
 * keep their code; a store that could not be opened again after a failed
 * write, or a read that failed for a shortage that passes or that the
 * operator is to lift (EMFILE: the open-file limit reached; ENOMEM: a table
 * file could not be mapped, the address-space limit reached; EFBIG: the
 * file-size limit), is STORAGE_FAILED (503, retry); an error express raised
 * itself with a 4xx status (it carries `status`) is MALFORMED_REQUEST;
 * anything else is a bug and answers 500 without details.
 */
export function toLogError(err: unknown): LogError {
  if (err instanceof LogError) return err;
  if (err instanceof StoreUnavailableError || isLimitShortage(shortageOf(err))) return storeUnavailable(err);
  const status = typeof err === 'object' && err !== null ? (err as { status?: unknown }).status : undefined;
  if (typeof status === 'number' && status >= 400 && status < 500) return new LogError('MALFORMED_REQUEST', 'the request could not be read');
  return new LogError('INTERNAL', 'internal error', { cause: err });
}

/** What a server can run out of, as {@link shortageOf} tells it. */
export type Shortage = 'files' | 'disk' | 'memory' | 'file-size';

/**
 * What `err` or one of its causes says the server ran out of: file
 * descriptors (EMFILE, or ENFILE for the whole system; LevelDB gives only
 * the text, "Too many open files"), disk space (ENOSPC), memory to map a
 * file into (ENOMEM, "Cannot allocate memory": under an address-space limit,
 * LevelDB's mmap of a table fails so), or room under the file-size limit
 * (EFBIG, "File too large": RLIMIT_FSIZE); undefined for any other error.
 */
export function shortageOf(err: unknown): Shortage | undefined {
  let at: unknown = err;
  // A bound on the chain: a cause may be made to point back at its error.
  for (let depth = 0; depth < 16 && typeof at === 'object' && at !== null; depth++) {
    const { code, message } = at as { code?: unknown; message?: unknown };
    const text = typeof message === 'string' ? message : '';
    if (code === 'EMFILE' || code === 'ENFILE' || /too many open files/i.test(text)) return 'files';
    if (code === 'ENOSPC' || /no space left on device/i.test(text)) return 'disk';
    if (code === 'ENOMEM' || /cannot allocate memory/i.test(text)) return 'memory';
    if (code === 'EFBIG' || /file too large/i.test(text)) return 'file-size';
    at = (at as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A shortage that fails reads too, and that a limit of the process's sets: not a full disk, which only writes meet. */
function isLimitShortage(shortage: Shortage | undefined): boolean {
  return shortage === 'files' || shortage === 'memory' || shortage === 'file-size';
}

/**
 * The answer while the store cannot be read or written: 503, retry. Its
 * message gives the cause when `cause` tells it (too many open files, a full
 * disk, memory, the file-size limit), else the likely ones.
 */
export function storeUnavailable(cause?: unknown): LogError {
  const message = {
    files: 'the store cannot be read or written: the server has too many open files (EMFILE); retry',
    disk: 'the store is unavailable after a failed write: the disk is full (ENOSPC); retry',
    memory: 'the store cannot be read or written: the server cannot map its files into memory (ENOMEM: its address-space limit, or memory, is used up); retry',
    'file-size': "the store cannot be written: a file would pass the server's file-size limit (EFBIG); retry",
    unknown: "the store is unavailable after a failed write (is the disk full, are too many files open, or is the server's file-size limit reached?); retry",
  }[shortageOf(cause) ?? 'unknown'];
  return new LogError('STORAGE_FAILED', message, { retryAfter: 5, cause });
}

/**
 * Why an address-space limit fails a server as its store grows, and what to
 * do instead: said where such a limit is met (a read, ENOMEM) and where it
 * is seen at start (serve's warning).
 */
export const ADDRESS_SPACE_ADVICE =
  'LevelDB maps up to about 8 GiB of table files into memory and V8 reserves about 1 GiB; remove that limit, and bound memory with a cgroup instead (MemoryMax= in systemd)';

/**
 * What the server ran out of, as `err` tells it (shortageOf), and what the
 * operator is to do about it, for a log line; undefined when it tells none.
 */
export function shortageAdvice(err: unknown): string | undefined {
  switch (shortageOf(err)) {
    case 'files':
      return 'the server has too many open files (EMFILE); raise its open-file limit (ulimit -n, or LimitNOFILE in systemd)';
    case 'disk':
      return 'the disk is full (ENOSPC); make room on it';
    case 'memory':
      return `the server could not map a store file into memory (ENOMEM), most likely for its address-space limit (ulimit -v, or LimitAS in systemd): ${ADDRESS_SPACE_ADVICE}`;
    case 'file-size':
      return "a store file would pass the server's file-size limit (EFBIG); raise or remove it (ulimit -f, or LimitFSIZE in systemd)";
    default:
      return undefined;
  }
}

/**
 * The log line's message for an error answered as `error`, when it is the
 * server's own to log: a bug (INTERNAL), or a request that failed for a
 * limit of the process's (file descriptors, address space, file size: the
 * operator is to raise or remove it); undefined for the rest, which either
 * are the client's or are logged where they arise (a failed round).
 */
export function serverFailure(err: unknown, error: LogError): string | undefined {
  if (error.code === 'INTERNAL') return 'internal error';
  if (err instanceof LogError || err instanceof StoreUnavailableError || !isLimitShortage(shortageOf(err))) return undefined;
  return `a request failed: ${shortageAdvice(err)!}`;
}

/**
 * The headers of an error answer besides those every answer has: never
 * cached, and when a retry may succeed `Retry-After`, which scripts in a
 * browser may read too (the Fetch standard hides it from them otherwise).
 */
export function errorHeaders(error: LogError): [string, string][] {
  const headers: [string, string][] = [['Cache-Control', 'no-store']];
  if (error.retryAfter !== undefined) headers.push(['Retry-After', String(error.retryAfter)], ['Access-Control-Expose-Headers', 'Retry-After']);
  return headers;
}

/** Per response answered by {@link sendError}, the code of its error. */
const answeredCodes = new WeakMap<Response, LogErrorCode>();

/** The code of the error `res` was answered with by {@link sendError}, for the request log and metrics; undefined if it was not. */
export function answeredCode(res: Response): LogErrorCode | undefined {
  return answeredCodes.get(res);
}

export function sendError(res: Response, error: LogError): void {
  answeredCodes.set(res, error.code);
  for (const [name, value] of errorHeaders(error)) res.setHeader(name, value);
  res.status(HTTP_STATUS[error.code]).json({ error: error.message, code: error.code });
}
