import canonicalize from 'canonicalize';
import { JsonError } from './json-error.js';
import { MAX_JSON_DEPTH, parseIJson, setMember, type JsonValue } from './parse.js';

export { JsonError } from './json-error.js';

const LONE_SURROGATE = /\p{Surrogate}/u;
const encoder = new TextEncoder();

/**
 * Returns the RFC 8785 (JCS) canonical UTF-8 bytes of a JSON body, the bytes
 * Cairn logs for a JSON submission (CONTRACT §1): keys sorted by UTF-16 code
 * units, no whitespace, ECMAScript number form, minimal string escapes.
 *
 * The body must be one I-JSON value (RFC 7493), checked by {@link parseIJson}:
 * anything else throws a {@link JsonError} whose message says what and where.
 */
export function canonicalizeJson(body: Uint8Array): Uint8Array {
  return serialize(parseIJson(body));
}

/**
 * Returns the RFC 8785 (JCS) canonical UTF-8 bytes of a JavaScript value, for
 * clients that hold the value rather than its text (CONTRACT §1).
 *
 * Only what has an exact I-JSON form is accepted; anything else throws a
 * {@link JsonError} naming the offending place (`$["a"][2]`): non-finite numbers,
 * `undefined` (also as an object member, which JSON.stringify would silently
 * drop), bigints, symbols, functions, lone surrogates, sparse arrays, objects
 * that are not plain (Date, Map, class instances, boxed primitives), symbol
 * keys, cycles and nesting deeper than {@link MAX_JSON_DEPTH}.
 */
export function canonicalizeValue(value: unknown): Uint8Array {
  return serialize(copyPlain(value, '$', 0, new Set()));
}

function serialize(value: JsonValue): Uint8Array {
  const text = canonicalize(value);
  // Unreachable for a validated value; guards against a silent empty entry.
  if (typeof text !== 'string') throw new JsonError('value has no JSON representation');
  return encoder.encode(text);
}

/**
 * Validates `value` and copies it into fresh arrays and plain objects,
 * so that getters, prototypes and later mutation cannot make the serialized
 * form differ from what was checked.
 */
function copyPlain(value: unknown, path: string, depth: number, ancestors: Set<object>): JsonValue {
  switch (typeof value) {
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new JsonError(`${path}: ${String(value)} has no JSON form (RFC 8785 §3.2.2.3)`);
      return value;
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new JsonError(`${path}: string has a lone surrogate (RFC 7493 §2.1)`);
      return value;
    case 'object':
      break;
    default:
      throw new JsonError(`${path}: a ${typeof value} has no JSON form`);
  }
  if (value === null) return null;
  if (depth + 1 > MAX_JSON_DEPTH) throw new JsonError(`${path}: nesting deeper than ${MAX_JSON_DEPTH} levels`);
  if (ancestors.has(value)) throw new JsonError(`${path}: circular reference`);
  ancestors.add(value);
  let out: JsonValue;
  if (Array.isArray(value)) {
    const items: JsonValue[] = new Array<JsonValue>(value.length);
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) throw new JsonError(`${path}[${i}]: sparse array hole has no JSON form`);
      items[i] = copyPlain(value[i], `${path}[${i}]`, depth + 1, ancestors);
    }
    out = items;
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      throw new JsonError(`${path}: ${typeof name === 'string' ? name : 'object'} is not a plain object`);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) throw new JsonError(`${path}: symbol keys have no JSON form`);
    const members: { [key: string]: JsonValue } = {};
    for (const key of Object.keys(value)) {
      const sub = `${path}[${JSON.stringify(key)}]`;
      if (LONE_SURROGATE.test(key)) throw new JsonError(`${sub}: key has a lone surrogate (RFC 7493 §2.1)`);
      setMember(members, key, copyPlain((value as Record<string, unknown>)[key], sub, depth + 1, ancestors));
    }
    out = members;
  }
  ancestors.delete(value);
  return out;
}
