/**
 * Strict standard base64 (RFC 4648 §4), the only base64 Cairn reads or writes
 * (CONTRACT §2, §3; C2SP signed-note "Conventions"). Decoding accepts exactly
 * the strings that encoding produces, so every byte string has one textual form
 * and a hash or signature cannot be smuggled past a comparison in a second
 * spelling.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const PAD = 0x3d; // '='

/** Character code → 6-bit value, or -1 for anything outside the standard alphabet. */
const DECODE = new Int16Array(128).fill(-1);
/** 6-bit value → character code. */
const ENCODE = new Uint8Array(64);
for (let i = 0; i < ALPHABET.length; i++) {
  const code = ALPHABET.charCodeAt(i);
  DECODE[code] = i;
  ENCODE[i] = code;
}

/** Strings are built from character codes in chunks to stay under the engine's argument limit. */
const CHUNK = 0x2000;

function codesToString(codes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < codes.length; i += CHUNK) {
    out += String.fromCharCode.apply(null, codes.subarray(i, i + CHUNK) as unknown as number[]);
  }
  return out;
}

/**
 * Encodes bytes as standard, padded base64 (RFC 4648 §4).
 *
 * @throws TypeError if `bytes` is not a Uint8Array.
 */
export function encodeBase64(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('encodeBase64: expected a Uint8Array');
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil(n / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 3 <= n; i += 3) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1]!;
    const b2 = bytes[i + 2]!;
    out[o++] = ENCODE[b0 >> 2]!;
    out[o++] = ENCODE[((b0 & 0x03) << 4) | (b1 >> 4)]!;
    out[o++] = ENCODE[((b1 & 0x0f) << 2) | (b2 >> 6)]!;
    out[o++] = ENCODE[b2 & 0x3f]!;
  }
  const rest = n - i;
  if (rest === 1) {
    const b0 = bytes[i]!;
    out[o++] = ENCODE[b0 >> 2]!;
    out[o++] = ENCODE[(b0 & 0x03) << 4]!;
    out[o++] = PAD;
    out[o++] = PAD;
  } else if (rest === 2) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1]!;
    out[o++] = ENCODE[b0 >> 2]!;
    out[o++] = ENCODE[((b0 & 0x03) << 4) | (b1 >> 4)]!;
    out[o++] = ENCODE[(b1 & 0x0f) << 2]!;
    out[o++] = PAD;
  }
  return codesToString(out);
}

function sextet(text: string, index: number): number {
  const code = text.charCodeAt(index);
  const value = code < 128 ? DECODE[code]! : -1;
  if (value < 0) {
    throw new RangeError(`decodeBase64: invalid character at offset ${index}`);
  }
  return value;
}

/**
 * Decodes canonical standard base64 (RFC 4648 §4): only `A-Z a-z 0-9 + /`,
 * a length that is a multiple of 4, `=` padding exactly where needed, and zero
 * unused bits in the last character (RFC 4648 §3.5). Whitespace, the URL-safe
 * alphabet and missing or extra padding are all rejected.
 *
 * @throws TypeError if `text` is not a string.
 * @throws RangeError if `text` is not canonical standard base64.
 */
export function decodeBase64(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('decodeBase64: expected a string');
  const len = text.length;
  if (len % 4 !== 0) throw new RangeError('decodeBase64: length is not a multiple of 4');
  if (len === 0) return new Uint8Array(0);

  let pad = 0;
  if (text.charCodeAt(len - 1) === PAD) pad = text.charCodeAt(len - 2) === PAD ? 2 : 1;
  const out = new Uint8Array((len / 4) * 3 - pad);
  const full = pad === 0 ? len : len - 4; // characters in groups without padding

  let o = 0;
  for (let i = 0; i < full; i += 4) {
    const v0 = sextet(text, i);
    const v1 = sextet(text, i + 1);
    const v2 = sextet(text, i + 2);
    const v3 = sextet(text, i + 3);
    out[o++] = (v0 << 2) | (v1 >> 4);
    out[o++] = ((v1 & 0x0f) << 4) | (v2 >> 2);
    out[o++] = ((v2 & 0x03) << 6) | v3;
  }
  if (pad === 1) {
    const v0 = sextet(text, full);
    const v1 = sextet(text, full + 1);
    const v2 = sextet(text, full + 2);
    if ((v2 & 0x03) !== 0) throw new RangeError('decodeBase64: non-zero padding bits');
    out[o++] = (v0 << 2) | (v1 >> 4);
    out[o++] = ((v1 & 0x0f) << 4) | (v2 >> 2);
  } else if (pad === 2) {
    const v0 = sextet(text, full);
    const v1 = sextet(text, full + 1);
    if ((v1 & 0x0f) !== 0) throw new RangeError('decodeBase64: non-zero padding bits');
    out[o++] = (v0 << 2) | (v1 >> 4);
  }
  return out;
}
