/**
 * Domain errors of the log, with a closed set of stable codes (CONTRACT §3:
 * every error body is `{"error", "code"}`). The HTTP layer maps each code to a
 * status in one table (`src/http/errors.ts`); nothing below `http/` knows
 * about statuses.
 */
export const LOG_ERROR_CODES = [
  'MALFORMED_REQUEST', // a query, path or body that does not parse
  'INVALID_PARAMETER', // a query number that is not canonical decimal, or out of range
  'INVALID_JSON', // a JSON body that is not I-JSON (duplicate keys, lone surrogates, ...)
  'INVALID_BASE64', // base64 that is not canonical standard base64
  'EMPTY_ENTRY', // an entry of zero bytes
  'ENTRY_TOO_LARGE', // an entry (after canonicalization) over 65,535 bytes
  'BODY_TOO_LARGE', // a request body over the route's limit, or over all the server holds at once
  'TOO_MANY_ENTRIES', // a batch of more than 1000 entries, than the whole queue holds, or than its token may submit per period
  'UNSUPPORTED_MEDIA_TYPE', // a missing or unsupported Content-Type
  'REQUEST_TIMEOUT', // a request, or its body, that stopped arriving
  'EXPECTATION_FAILED', // an Expect header other than 100-continue
  'TREE_SIZE_TOO_LARGE', // a tree size beyond the current tree
  'NOT_FOUND', // no such route, tile, entry or leaf
  'METHOD_NOT_ALLOWED', // the log is append-only: nothing can be changed or deleted
  'UNAUTHORIZED', // a missing or unknown access token
  'FORBIDDEN', // a token whose role does not allow this; or a write to a read-only log
  'RATE_LIMITED', // a token past its rate limit
  'QUEUE_FULL', // at one of the server's bounds (entries waiting to be sequenced, bodies being received, requests in progress on a connection, large answers held); retry after a moment
  'STORAGE_FAILED', // the round holding this entry could not be made durable; or the store is unavailable after a failed write
  'SHUTTING_DOWN', // the log is closing
  'INTERNAL', // a bug: never expected
] as const;

export type LogErrorCode = (typeof LOG_ERROR_CODES)[number];

/** An error a client can act on, with a stable machine-readable code. */
export class LogError extends Error {
  readonly code: LogErrorCode;
  /** Seconds after which a retry may succeed (QUEUE_FULL, STORAGE_FAILED). */
  readonly retryAfter: number | undefined;

  constructor(code: LogErrorCode, message: string, options: { retryAfter?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LogError';
    this.code = code;
    this.retryAfter = options.retryAfter;
  }
}
