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
  RATE_LIMITED: 429,
  QUEUE_FULL: 503,
  STORAGE_FAILED: 503,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
};

/**
 * Turns any error into the contract's `{"error", "code"}` body. Domain errors
 * keep their code; a store that could not be opened again after a failed
 * write, or a read that failed for want of file descriptors (EMFILE: the
 * open-file limit reached, which passes), is STORAGE_FAILED (503, retry); an
 * error express raised itself with a 4xx status (it carries `status`) is
 * MALFORMED_REQUEST; anything else is a bug and answers 500 without details.
 */
export function toLogError(err: unknown): LogError {
  if (err instanceof LogError) return err;
  if (err instanceof StoreUnavailableError || shortageOf(err) === 'files') return storeUnavailable(err);
  const status = typeof err === 'object' && err !== null ? (err as { status?: unknown }).status : undefined;
  if (typeof status === 'number' && status >= 400 && status < 500) return new LogError('MALFORMED_REQUEST', 'the request could not be read');
  return new LogError('INTERNAL', 'internal error', { cause: err });
}

/**
 * What `err` or one of its causes says the server ran out of: file
 * descriptors (EMFILE, or ENFILE for the whole system; LevelDB gives only
 * the text, "Too many open files"), or disk space (ENOSPC); undefined for
 * any other error.
 */
export function shortageOf(err: unknown): 'files' | 'disk' | undefined {
  let at: unknown = err;
  // A bound on the chain: a cause may be made to point back at its error.
  for (let depth = 0; depth < 16 && typeof at === 'object' && at !== null; depth++) {
    const { code, message } = at as { code?: unknown; message?: unknown };
    const text = typeof message === 'string' ? message : '';
    if (code === 'EMFILE' || code === 'ENFILE' || /too many open files/i.test(text)) return 'files';
    if (code === 'ENOSPC' || /no space left on device/i.test(text)) return 'disk';
    at = (at as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The answer while the store cannot be read or written: 503, retry. Its
 * message gives the cause when `cause` tells it (too many open files, a full
 * disk), else both likely ones.
 */
export function storeUnavailable(cause?: unknown): LogError {
  const shortage = shortageOf(cause);
  const message =
    shortage === 'files'
      ? 'the store cannot be read or written: the server has too many open files (EMFILE); retry'
      : shortage === 'disk'
        ? 'the store is unavailable after a failed write: the disk is full (ENOSPC); retry'
        : 'the store is unavailable after a failed write (is the disk full, or are too many files open?); retry';
  return new LogError('STORAGE_FAILED', message, { retryAfter: 5, cause });
}

/**
 * The log line's message for an error answered as `error`, when it is the
 * server's own to log: a bug (INTERNAL), or a request that failed for want
 * of file descriptors (the operator is to raise the open-file limit);
 * undefined for the rest, which either are the client's or are logged
 * where they arise (a failed round).
 */
export function serverFailure(err: unknown, error: LogError): string | undefined {
  if (error.code === 'INTERNAL') return 'internal error';
  if (!(err instanceof LogError) && !(err instanceof StoreUnavailableError) && shortageOf(err) === 'files') {
    return 'a request failed: the server has too many open files (EMFILE); raise its open-file limit (ulimit -n, or LimitNOFILE in systemd)';
  }
  return undefined;
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

export function sendError(res: Response, error: LogError): void {
  for (const [name, value] of errorHeaders(error)) res.setHeader(name, value);
  res.status(HTTP_STATUS[error.code]).json({ error: error.message, code: error.code });
}
