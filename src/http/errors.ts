import type { Response } from 'express';
import { LogError, type LogErrorCode } from '../log/errors.js';

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
  RATE_LIMITED: 429,
  QUEUE_FULL: 503,
  STORAGE_FAILED: 503,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
};

/** Body-parser failures (they carry `type`) as LogErrors. */
function fromBodyParser(err: { type?: unknown; status?: unknown }, tooLarge: LogErrorCode): LogError | undefined {
  switch (err.type) {
    case 'entity.too.large':
      return new LogError(tooLarge, 'the request body is too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new LogError('UNSUPPORTED_MEDIA_TYPE', 'unsupported content encoding or charset');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
    case 'entity.verify.failed':
      return new LogError('MALFORMED_REQUEST', 'the request body could not be read');
    default:
      return typeof err.status === 'number' && err.status >= 400 && err.status < 500
        ? new LogError('MALFORMED_REQUEST', 'the request could not be read')
        : undefined;
  }
}

/**
 * Turns any error into the contract's `{"error", "code"}` body. Domain errors
 * keep their code; body-parser errors become 4xx; anything else is a bug and
 * answers 500 without details.
 */
export function toLogError(err: unknown, tooLarge: LogErrorCode = 'BODY_TOO_LARGE'): LogError {
  if (err instanceof LogError) return err;
  if (typeof err === 'object' && err !== null) {
    const mapped = fromBodyParser(err as { type?: unknown; status?: unknown }, tooLarge);
    if (mapped !== undefined) return mapped;
  }
  return new LogError('INTERNAL', 'internal error', { cause: err });
}

export function sendError(res: Response, error: LogError): void {
  const status = HTTP_STATUS[error.code];
  if (error.retryAfter !== undefined) res.setHeader('Retry-After', String(error.retryAfter));
  res.setHeader('Cache-Control', 'no-store');
  res.status(status).json({ error: error.message, code: error.code });
}
