/**
 * Errors of the client library, with a closed set of stable codes in two
 * groups: operational failures (the log could not be asked, or answered
 * something unusable) and verification failures (the log answered something
 * its signed checkpoint does not support: evidence of misbehaviour).
 */
export const CLIENT_ERROR_CODES = [
  // Operational: retrying later, or fixing the request, may help.
  'NETWORK', // the request could not be sent or timed out
  'HTTP_STATUS', // the log answered with an error status (see `status`, `serverCode`)
  'BAD_RESPONSE', // a 2xx answer that is not what CONTRACT §3 says (wrong shape, type or encoding)
  // Verification: the log's answers contradict what it signed.
  'BAD_SIGNATURE', // a checkpoint or tree head that does not verify with the log's key
  'INCONSISTENT', // two signed tree heads that are not one append-only history
  'BAD_PROOF', // an inclusion proof that does not lead to the signed root
  'TILE_MISMATCH', // a tile whose hashes do not lead to the signed root
  'ENTRY_MISMATCH', // entries whose leaf hashes differ from the authenticated tile
  'BAD_RECEIPT', // a receipt that does not prove its entry in its checkpoint (a bad checkpoint is BAD_SIGNATURE or BAD_RESPONSE)
] as const;

/** One of {@link CLIENT_ERROR_CODES}. */
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

const VERIFICATION_CODES: ReadonlySet<ClientErrorCode> = new Set<ClientErrorCode>([
  'BAD_SIGNATURE',
  'INCONSISTENT',
  'BAD_PROOF',
  'TILE_MISMATCH',
  'ENTRY_MISMATCH',
  'BAD_RECEIPT',
]);

/** Extra facts about a failed request. */
export interface ClientErrorDetails {
  /** The HTTP status of the answer, for HTTP_STATUS. */
  readonly status?: number;
  /** The stable `code` of the log's `{"error", "code"}` body (CONTRACT §3), when it sent one. */
  readonly serverCode?: string;
  /** Seconds the log asked to wait (`Retry-After`), when it did. */
  readonly retryAfter?: number;
  /** The URL asked. */
  readonly url?: string;
  readonly cause?: unknown;
}

/**
 * An error of the client library with a stable `code` (see
 * {@link CLIENT_ERROR_CODES}); `isVerificationFailure` tells evidence of a
 * misbehaving log apart from an operational failure.
 */
export class ClientError extends Error {
  readonly code: ClientErrorCode;
  readonly status: number | undefined;
  readonly serverCode: string | undefined;
  readonly retryAfter: number | undefined;
  readonly url: string | undefined;

  constructor(code: ClientErrorCode, message: string, details: ClientErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ClientError';
    this.code = code;
    this.status = details.status;
    this.serverCode = details.serverCode;
    this.retryAfter = details.retryAfter;
    this.url = details.url;
  }

  /** Whether this error is evidence that the log misbehaved (not an operational failure). */
  get isVerificationFailure(): boolean {
    return VERIFICATION_CODES.has(this.code);
  }
}

/** Whether `err` is a ClientError that is evidence of a misbehaving log. */
export function isVerificationFailure(err: unknown): err is ClientError {
  return err instanceof ClientError && err.isVerificationFailure;
}

/**
 * The characters a terminal may act on rather than show: C0 controls, DEL,
 * C1 controls (U+0080 to U+009F: ECMA-48 §5.2 gives them meanings, CSI among
 * them), and the bidirectional embeddings, overrides and isolates (U+202A to
 * U+202E, U+2066 to U+2069; Unicode UAX #9 §2), which make a line read as
 * something other than what it holds.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** The longest server-supplied text a message quotes by default, in UTF-16 code units. */
export const MAX_QUOTED_TEXT = 500;

/**
 * Whether `text` holds a character that a terminal may act on rather than
 * show (C0, DEL, C1, bidi embeddings, overrides and isolates), other than
 * those listed in `allowed` (for example "\t\n").
 */
export function hasUnsafeCharacter(text: string, allowed = ''): boolean {
  for (const m of text.matchAll(UNSAFE_CHARACTERS)) if (!allowed.includes(m[0])) return true;
  return false;
}

/**
 * `text` made safe to print: each character that a terminal may act on
 * (see {@link hasUnsafeCharacter}), other than those in `allowed`, written as
 * a visible `\uXXXX` escape, and the result cut to `maxLength` UTF-16 code
 * units (default {@link MAX_QUOTED_TEXT}), saying how much was cut. For text
 * that others wrote (a log's error body, a signed note's lines) quoted in a
 * message.
 */
export function escapeText(text: string, options: { readonly allowed?: string; readonly maxLength?: number } = {}): string {
  const allowed = options.allowed ?? '';
  const maxLength = options.maxLength ?? MAX_QUOTED_TEXT;
  const escaped = text.replace(UNSAFE_CHARACTERS, (c) => (allowed.includes(c) ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  if (escaped.length <= maxLength) return escaped;
  let cut = maxLength;
  // Neither an escape nor a surrogate pair is cut in two.
  const escapeStart = escaped.lastIndexOf('\\u', cut);
  if (escapeStart >= 0 && escapeStart > cut - 6 && escapeStart < cut && /^\\u[0-9a-f]{4}/.test(escaped.slice(escapeStart, escapeStart + 6))) cut = escapeStart;
  const last = escaped.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${escaped.slice(0, cut)}… (${escaped.length - cut} more characters)`;
}
