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
 * write is STORAGE_FAILED (503, retry); an error express raised itself with a
 * 4xx status (it carries `status`) is MALFORMED_REQUEST; anything else is a
 * bug and answers 500 without details.
 */
export function toLogError(err: unknown): LogError {
  if (err instanceof LogError) return err;
  if (err instanceof StoreUnavailableError) return storeUnavailable(err);
  const status = typeof err === 'object' && err !== null ? (err as { status?: unknown }).status : undefined;
  if (typeof status === 'number' && status >= 400 && status < 500) return new LogError('MALFORMED_REQUEST', 'the request could not be read');
  return new LogError('INTERNAL', 'internal error', { cause: err });
}

/** The answer while the store cannot be read or written: 503, retry. */
export function storeUnavailable(cause?: unknown): LogError {
  return new LogError('STORAGE_FAILED', 'the store is unavailable after a failed write (is the disk full?); retry', { retryAfter: 5, cause });
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
