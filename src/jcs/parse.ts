import { showNonPrinting } from '../non-printing.js';
import { JsonError } from './json-error.js';

/**
 * The deepest nesting of arrays and objects accepted by {@link parseIJson}
 * and `canonicalizeValue`: a top-level `[]` is depth 1. Bounded so that a
 * hostile body cannot exhaust the call stack (RFC 8259 §9 allows the limit).
 */
export const MAX_JSON_DEPTH = 512;

/**
 * CONTRACT §1: a JSON entry may be sent as up to 1 MiB of JSON text, before
 * canonicalization (the server's limit on such a body, and `cairn add`'s on
 * a JSON Lines line).
 */
export const MAX_JSON_BODY = 1024 * 1024;

/** A JSON value as {@link parseIJson} returns it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** What a JSON value is, as its first character says (RFC 8259 §3). */
export type JsonKind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

/**
 * Bounds a caller puts on one document, so that a body can be refused as soon
 * as it is seen to exceed what the caller accepts, without the rest of it
 * being read or built: memory and time then follow what could be valid, not
 * what was sent.
 */
export interface ParseOptions {
  /**
   * The most values the document may hold, each scalar, array and object
   * counting one (the document itself included). The value past it throws a
   * {@link JsonLimitError} as it begins, at its position.
   */
  readonly maxValues?: number;
  /**
   * Called as each value begins, before any of it is read: `path` holds the
   * keys and array indexes leading to it (empty for the document), and
   * `kind` what its first character makes it. Whatever it throws ends the
   * parse and is thrown as it is. `path` is reused as the parse goes on:
   * copy it to keep it.
   */
  readonly onValue?: (path: readonly (string | number)[], kind: JsonKind) => void;
}

/**
 * A document that breaks a bound its caller set in {@link ParseOptions}:
 * well-formed or not past that point, it holds more than the caller accepts.
 * Not a {@link JsonError}: the input may be valid JSON, only too much of it.
 */
export class JsonLimitError extends Error {
  /** The bound that was broken. */
  readonly limit: number;
  /** The UTF-16 code unit offset of the first value past the bound. */
  readonly position: number;

  constructor(message: string, limit: number, position: number) {
    super(message);
    this.name = 'JsonLimitError';
    this.limit = limit;
    this.position = position;
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Matches a lone surrogate: with the `u` flag, paired surrogates form one code point. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Parses one I-JSON value (RFC 7493 over RFC 8259) from UTF-8 bytes, rejecting
 * everything CONTRACT §1 rejects with a {@link JsonError}: invalid UTF-8, a
 * byte order mark, duplicate object keys (compared after unescaping), lone
 * surrogates, numbers that overflow a double or underflow to zero from a
 * non-zero literal, integer literals (digits only: no fraction, no exponent)
 * beyond ±(2^53−1) whose ECMAScript form would denote another value, and
 * nesting deeper than {@link MAX_JSON_DEPTH}. A literal with a fraction or an
 * exponent is read as a double, rounded like any other (`9.9999999999999992e22`
 * is `1e+23`).
 * `options` may bound the document further ({@link ParseOptions}); the parse
 * stops at the first value that breaks a bound, whatever follows it.
 *
 * Like JSON.parse, a `"__proto__"` key becomes an own data property, never
 * the object's prototype.
 */
export function parseIJson(body: Uint8Array, options: ParseOptions = {}): JsonValue {
  if (!(body instanceof Uint8Array)) throw new TypeError('parseIJson: body must be a Uint8Array');
  checkOptions(options);
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) {
    throw new JsonError('JSON text must not start with a byte order mark (RFC 8259 §8.1)', 0);
  }
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    const at = firstInvalidUtf8Offset(body);
    throw new JsonError(`body is not valid UTF-8 (RFC 8259 §8.1): bad byte at offset ${at}`, at);
  }
  // Valid UTF-8 cannot encode a surrogate, so only escapes can produce one.
  return new Parser(text, options).parseDocument();
}

/**
 * Parses one I-JSON value from a JavaScript string with the same rules as
 * {@link parseIJson}; a string that could not have come from UTF-8 (one with
 * a raw lone surrogate) is rejected.
 */
export function parseIJsonText(text: string, options: ParseOptions = {}): JsonValue {
  if (typeof text !== 'string') throw new TypeError('parseIJsonText: text must be a string');
  checkOptions(options);
  const bad = LONE_SURROGATE.exec(text);
  if (bad !== null) throw new JsonError(`lone surrogate in JSON text (RFC 7493 §2.1)${where(text, bad.index)}`, bad.index);
  return new Parser(text, options).parseDocument();
}

function checkOptions(options: ParseOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { maxValues, onValue } = options;
  if (maxValues !== undefined && !(Number.isSafeInteger(maxValues) && maxValues >= 0)) {
    throw new RangeError('options.maxValues must be a non-negative safe integer');
  }
  if (onValue !== undefined && typeof onValue !== 'function') throw new TypeError('options.onValue must be a function');
}

/**
 * ` at line L, column C (character N)` for an error message, or ` at column C`
 * for a text of one line (a JSON Lines line, already named by its number).
 */
function where(text: string, pos: number): string {
  if (!text.includes('\n')) return ` at column ${pos + 1}`;
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < pos; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return ` at line ${line}, column ${pos - lineStart + 1} (character ${pos})`;
}

/**
 * `text` quoted for an error message, with what would not print (a no-break
 * space, a zero-width joiner, a C1 control) shown as an escape: JSON.stringify
 * leaves those as they are, and a message would then show nothing, or a plain
 * space, where the input is at fault.
 */
function quote(text: string): string {
  return showNonPrinting(JSON.stringify(text));
}

/** The offset of the first byte that breaks UTF-8 (RFC 3629 §4), or the length if none does. */
function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let need: number;
    let min: number;
    let max = 0xbf;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = b === 0xe0 ? 0xa0 : 0x80;
      if (b === 0xed) max = 0x9f; // no surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = b === 0xf0 ? 0x90 : 0x80;
      if (b === 0xf4) max = 0x8f; // nothing past U+10FFFF
    } else {
      return i;
    }
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      const lo = k === 1 ? min : 0x80;
      const hi = k === 1 ? max : 0xbf;
      if (c < lo || c > hi) return i;
    }
    i += need + 1;
  }
  return i;
}

/**
 * Sets an own enumerable member, as JSON.parse does: plain assignment of
 * `"__proto__"` would replace the prototype instead.
 */
export function setMember(target: { [key: string]: JsonValue }, key: string, value: JsonValue): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

const ESCAPES: Record<number, string> = {
  0x22: '"',
  0x5c: '\\',
  0x2f: '/',
  0x62: '\b',
  0x66: '\f',
  0x6e: '\n',
  0x72: '\r',
  0x74: '\t',
};

/** A decimal number reduced to `digits × 10^exp10` with no leading or trailing zeros. */
interface Decimal {
  digits: string;
  exp10: number;
}

/** Reduces a JSON or ECMAScript number literal (sign ignored) to a {@link Decimal}. */
function toDecimal(literal: string): Decimal {
  let s = literal.charCodeAt(0) === 0x2d ? literal.slice(1) : literal;
  let exp = 0;
  const e = s.search(/[eE]/);
  if (e !== -1) {
    exp = Number(s.slice(e + 1));
    s = s.slice(0, e);
  }
  const dot = s.indexOf('.');
  let digits = s;
  if (dot !== -1) {
    digits = s.slice(0, dot) + s.slice(dot + 1);
    exp -= s.length - dot - 1;
  }
  digits = digits.replace(/^0+/, '');
  const trimmed = digits.replace(/0+$/, '');
  exp += digits.length - trimmed.length;
  return { digits: trimmed, exp10: exp };
}

/** A recursive-descent RFC 8259 parser over one string, tracking its position for errors. */
class Parser {
  private pos = 0;
  /** Values begun so far. */
  private values = 0;
  private readonly maxValues: number;
  private readonly onValue: ((path: readonly (string | number)[], kind: JsonKind) => void) | undefined;
  /** The keys and indexes leading to the current value; kept only for `onValue`. */
  private readonly path: (string | number)[] = [];

  constructor(
    private readonly text: string,
    options: ParseOptions,
  ) {
    this.maxValues = options.maxValues ?? Infinity;
    this.onValue = options.onValue;
  }

  parseDocument(): JsonValue {
    this.skipWhitespace();
    const value = this.parseValue(0);
    this.skipWhitespace();
    if (this.pos < this.text.length) this.fail(`unexpected character ${this.charAt(this.pos)} after the JSON value`);
    return value;
  }

  private fail(message: string, at = this.pos): never {
    throw new JsonError(message + where(this.text, at), at);
  }

  /** The character at `at`, quoted for a message (see quote): a whole code point, not half of a surrogate pair. */
  private charAt(at: number): string {
    return quote(String.fromCodePoint(this.text.codePointAt(at)!));
  }

  /** Fails at `at`, where `expected` was due: at the end of the text, or naming the character found there. */
  private unexpected(expected: string, inside: 'an array' | 'an object', at: number): never {
    if (Number.isNaN(this.text.charCodeAt(at))) this.fail(`unexpected end of JSON input in ${inside}`, at);
    return this.fail(`unexpected character ${this.charAt(at)} (expected ${expected})`, at);
  }

  private skipWhitespace(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.pos = p;
  }

  private parseValue(depth: number): JsonValue {
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x7b: // {
        this.begin('object');
        return this.parseObject(depth + 1);
      case 0x5b: // [
        this.begin('array');
        return this.parseArray(depth + 1);
      case 0x22: // "
        this.begin('string');
        return this.parseString();
      case 0x74: // t
        this.begin('boolean');
        return this.parseLiteral('true', true);
      case 0x66: // f
        this.begin('boolean');
        return this.parseLiteral('false', false);
      case 0x6e: // n
        this.begin('null');
        return this.parseLiteral('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
          this.begin('number');
          return this.parseNumber();
        }
        if (Number.isNaN(c)) this.fail('unexpected end of JSON input');
        return this.fail(`unexpected character ${this.charAt(this.pos)}`);
    }
  }

  /** Counts a value about to be read against the caller's bounds, before any of it is read. */
  private begin(kind: JsonKind): void {
    this.values++;
    if (this.values > this.maxValues) {
      throw new JsonLimitError(`more than ${this.maxValues} JSON values${where(this.text, this.pos)}`, this.maxValues, this.pos);
    }
    if (this.onValue !== undefined) this.onValue(this.path, kind);
  }

  private parseLiteral<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail(`invalid literal (expected ${word})`);
    this.pos += word.length;
    return value;
  }

  private enter(depth: number): void {
    if (depth > MAX_JSON_DEPTH) this.fail(`nesting deeper than ${MAX_JSON_DEPTH} levels`);
  }

  private parseArray(depth: number): JsonValue[] {
    this.enter(depth);
    this.pos++; // [
    const out: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return out;
    }
    const tracked = this.onValue !== undefined;
    if (tracked) this.path.push(0);
    for (;;) {
      this.skipWhitespace();
      if (tracked) this.path[this.path.length - 1] = out.length;
      out.push(this.parseValue(depth));
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x5d) {
        if (tracked) this.path.pop();
        return out;
      }
      this.unexpected("',' or ']' in an array", 'an array', this.pos - 1);
    }
  }

  private parseObject(depth: number): { [key: string]: JsonValue } {
    this.enter(depth);
    this.pos++; // {
    const out: { [key: string]: JsonValue } = {};
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      const keyAt = this.pos;
      if (this.text.charCodeAt(keyAt) !== 0x22) this.unexpected('a string key in an object', 'an object', keyAt);
      const key = this.parseString();
      if (Object.hasOwn(out, key)) this.fail(`duplicate key ${quote(key)} (RFC 7493 §2.3)`, keyAt);
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos) !== 0x3a) this.unexpected("':' after an object key", 'an object', this.pos);
      this.pos++;
      this.skipWhitespace();
      if (this.onValue === undefined) {
        setMember(out, key, this.parseValue(depth));
      } else {
        this.path.push(key);
        setMember(out, key, this.parseValue(depth));
        this.path.pop();
      }
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x7d) return out;
      this.unexpected("',' or '}' in an object", 'an object', this.pos - 1);
    }
  }

  private parseString(): string {
    const t = this.text;
    const start = this.pos;
    let p = start + 1;
    // Fast path: no escapes, so the string is a slice of well-formed text.
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x22) {
        this.pos = p + 1;
        return t.slice(start + 1, p);
      }
      if (c === 0x5c) break;
      if (c < 0x20) this.badStringChar(c, p);
      if (Number.isNaN(c)) this.fail('unterminated string', start);
      p++;
    }
    let out = t.slice(start + 1, p);
    let surrogateEscape = false;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x22) break;
      if (Number.isNaN(c)) this.fail('unterminated string', start);
      if (c < 0x20) this.badStringChar(c, p);
      if (c !== 0x5c) {
        // Copy a run of ordinary characters at once.
        let q = p + 1;
        for (;;) {
          const d = t.charCodeAt(q);
          if (d === 0x22 || d === 0x5c || d < 0x20 || Number.isNaN(d)) break;
          q++;
        }
        out += t.slice(p, q);
        p = q;
        continue;
      }
      const e = t.charCodeAt(p + 1);
      if (e === 0x75) {
        const hex = t.slice(p + 2, p + 6);
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) this.fail('invalid \\u escape (expected four hex digits)', p);
        const unit = parseInt(hex, 16);
        if (unit >= 0xd800 && unit <= 0xdfff) surrogateEscape = true;
        out += String.fromCharCode(unit);
        p += 6;
      } else {
        const ch = ESCAPES[e];
        if (ch === undefined) this.fail('invalid escape in a string', p);
        out += ch;
        p += 2;
      }
    }
    if (surrogateEscape) {
      const bad = LONE_SURROGATE.exec(out);
      if (bad !== null) this.fail('lone surrogate in a string (RFC 7493 §2.1)', start);
    }
    this.pos = p + 1;
    return out;
  }

  private badStringChar(c: number, at: number): void {
    if (c < 0x20) this.fail(`unescaped control character U+${c.toString(16).padStart(4, '0').toUpperCase()} in a string`, at);
  }

  private parseNumber(): number {
    const t = this.text;
    const start = this.pos;
    let p = start;
    let nonZeroDigit = false;
    // No fraction or exponent: the literals CONTRACT §1 holds to their exact value.
    let pureInteger = true;
    if (t.charCodeAt(p) === 0x2d) p++;
    let c = t.charCodeAt(p);
    if (c === 0x30) {
      p++;
    } else if (c >= 0x31 && c <= 0x39) {
      nonZeroDigit = true;
      do p++;
      while ((c = t.charCodeAt(p)) >= 0x30 && c <= 0x39);
    } else {
      this.fail('invalid number (expected a digit)', p);
    }
    if (t.charCodeAt(p) === 0x2e) {
      p++;
      const fracStart = p;
      while ((c = t.charCodeAt(p)) >= 0x30 && c <= 0x39) {
        if (c !== 0x30) nonZeroDigit = true;
        p++;
      }
      if (p === fracStart) this.fail('invalid number (expected a digit after the decimal point)', p);
      pureInteger = false;
    }
    c = t.charCodeAt(p);
    if (c === 0x65 || c === 0x45) {
      p++;
      c = t.charCodeAt(p);
      if (c === 0x2b || c === 0x2d) p++;
      const expStart = p;
      while ((c = t.charCodeAt(p)) >= 0x30 && c <= 0x39) p++;
      if (p === expStart) this.fail('invalid number (expected a digit in the exponent)', p);
      pureInteger = false;
    }
    const literal = t.slice(start, p);
    const value = Number(literal);
    if (!Number.isFinite(value)) this.fail(`number ${literal} is too large for an IEEE 754 double (RFC 7493 §2.2)`, start);
    if (value === 0 && nonZeroDigit) this.fail(`number ${literal} underflows to zero in an IEEE 754 double (RFC 7493 §2.2)`, start);
    if (pureInteger && Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      const exact = toDecimal(literal);
      const shown = toDecimal(String(value));
      if (shown.digits !== exact.digits || shown.exp10 !== exact.exp10) {
        this.fail(`integer ${literal} is beyond ±(2^53−1) and would be logged as ${String(value)}, another number (RFC 7493 §2.2)`, start);
      }
    }
    this.pos = p;
    return value;
  }
}
