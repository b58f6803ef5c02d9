/**
 * Input that is not I-JSON (RFC 7493) or cannot be canonicalized by RFC 8785
 * (CONTRACT §1): invalid UTF-8, a syntax error, a duplicate key, a lone
 * surrogate, a number outside IEEE 754 double, or a value with no JSON form.
 *
 * Its `code` equals the log's `INVALID_JSON` code, so the HTTP layer can wrap
 * it as `new LogError(err.code, err.message, { cause: err })` without this
 * pure module depending on the log.
 */
export class JsonError extends Error {
  readonly code = 'INVALID_JSON' as const;
  /**
   * Where the problem was found: a UTF-16 code unit offset into the decoded
   * text (a byte offset for invalid UTF-8), or undefined when the problem is
   * in a JavaScript value rather than in text.
   */
  readonly position: number | undefined;

  constructor(message: string, position?: number) {
    super(message);
    this.name = 'JsonError';
    this.position = position;
  }
}
