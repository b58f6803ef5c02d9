import { parse as parseQueryString, type ParsedUrlQuery } from 'node:querystring';
import { LogError } from '../log/errors.js';

/**
 * Parses a URL's query string as express's 'simple' parser does
 * (node:querystring), but with every pair: by default it stops at 1000, so a
 * parameter repeated, or one no route knows, after the 1000th pair would go
 * unseen instead of being refused (CONTRACT §3). A URL is at most node's 16 KiB
 * of header, so this is at most some 8,000 pairs.
 */
export function parseQuery(text: string): ParsedUrlQuery {
  return parseQueryString(text, '&', '=', { maxKeys: 0 });
}

/**
 * Canonical decimal: "0", or a non-zero digit then any number of digits. Its
 * length is not bounded here: a number too large is canonical all the same,
 * and is refused (or clamped) for its value, not its form. A URL is at most
 * node's 16 KiB of header, which bounds the text.
 */
const CANONICAL_DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/** Options of {@link parseCanonicalDecimal}. */
export interface DecimalOptions {
  /**
   * Whether a canonical number above 2^53−1 reads as 2^53−1 instead of being
   * refused: for a bound that is clamped anyway, such as get-entries' `end`
   * (CONTRACT §3 "E past the tree is clamped"), which CT clients send as
   * 2^63−1 or 2^64−1 to mean "to the end".
   */
  readonly saturate?: boolean;
}

/** Options of {@link queryNumber} and {@link queryString}. */
export interface QueryOptions extends DecimalOptions {
  /** Whether a missing parameter is an error (INVALID_PARAMETER) rather than `undefined`. */
  readonly required?: boolean;
}

/** A value quoted for an error message, cut short so a hostile URL or header is not echoed whole. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/**
 * Parses a canonical decimal number as CONTRACT §3 requires of every number
 * in a query string: digits only (no sign, space or exponent), no leading
 * zeros except "0" itself, and at most 2^53−1 (Number.MAX_SAFE_INTEGER),
 * unless `saturate`, which reads a larger one as 2^53−1. Anything else throws
 * LogError('INVALID_PARAMETER'), whose message says which rule was broken;
 * `name`, if given, is the parameter named in the message.
 */
export function parseCanonicalDecimal(text: string, name?: string, opts: DecimalOptions = {}): number {
  if (typeof text !== 'string') throw new TypeError('parseCanonicalDecimal: text must be a string');
  const what = name === undefined ? 'number' : `query parameter ${JSON.stringify(name)}`;
  if (!CANONICAL_DECIMAL.test(text)) {
    throw new LogError(
      'INVALID_PARAMETER',
      `${what} must be a canonical decimal integer (digits only, no sign, no leading zeros, no exponent); got ${quote(text)}`,
    );
  }
  // Any canonical text above 2^53−1 reads as a Number of at least 2^53 (or Infinity): never a safe integer.
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    if (opts.saturate === true) return Number.MAX_SAFE_INTEGER;
    throw new LogError('INVALID_PARAMETER', `${what} must be at most 2^53−1 (9007199254740991); got ${quote(text)}`);
  }
  return value;
}

/**
 * Reads one string query parameter (CONTRACT §3): a repeated parameter (which
 * express gives as an array) or a structured one is LogError('INVALID_PARAMETER'),
 * as is a missing one when `required`; otherwise a missing one is undefined.
 */
export function queryString(query: Record<string, unknown>, name: string, opts: QueryOptions & { required: true }): string;
export function queryString(query: Record<string, unknown>, name: string, opts?: QueryOptions): string | undefined;
export function queryString(query: Record<string, unknown>, name: string, opts: QueryOptions = {}): string | undefined {
  // Own properties only: "constructor" must not be found on the prototype.
  const value = Object.hasOwn(query, name) ? query[name] : undefined;
  if (value === undefined) {
    if (opts.required === true) throw new LogError('INVALID_PARAMETER', `missing required query parameter ${JSON.stringify(name)}`);
    return undefined;
  }
  if (Array.isArray(value)) throw new LogError('INVALID_PARAMETER', `query parameter ${JSON.stringify(name)} must not be repeated`);
  if (typeof value !== 'string') throw new LogError('INVALID_PARAMETER', `query parameter ${JSON.stringify(name)} must be a single plain value`);
  return value;
}

/**
 * Reads one query parameter as a canonical decimal number (CONTRACT §3), with
 * the rules of {@link queryString} and {@link parseCanonicalDecimal} (whose
 * `saturate` option it passes on).
 */
export function queryNumber(query: Record<string, unknown>, name: string, opts: QueryOptions & { required: true }): number;
export function queryNumber(query: Record<string, unknown>, name: string, opts?: QueryOptions): number | undefined;
export function queryNumber(query: Record<string, unknown>, name: string, opts: QueryOptions = {}): number | undefined {
  const text = queryString(query, name, opts);
  return text === undefined ? undefined : parseCanonicalDecimal(text, name, opts);
}
