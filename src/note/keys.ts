/**
 * Ed25519 note keys in the text forms of C2SP signed-note and Go's
 * golang.org/x/mod/sumdb/note (CONTRACT §2):
 *
 *   signer key:   PRIVATE+KEY+<name>+<8 hex key hash>+<base64(0x01 || 32-byte seed)>
 *   verifier key: <name>+<8 hex key hash>+<base64(0x01 || 32-byte public key)>
 *
 * Parsing is strict: the key hash must be 8 lowercase hex digits and must
 * match the key, the algorithm byte must be 0x01 (Ed25519), and the base64
 * must be canonical.
 */
import * as ed from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { hasControlCharacter, isWellFormedText } from './text.js';

// @noble/ed25519 3 needs a synchronous SHA-512 for its sync sign/verify.
ed.hashes.sha512 = sha512;

/** The C2SP signed-note signature type byte for Ed25519. */
export const ALG_ED25519 = 0x01;

/** A key that signs notes (C2SP signed-note §Signatures): its name, its key hash, and a signing function. */
export interface Signer {
  /** The key name, e.g. the log's origin. */
  readonly name: string;
  /** The 32-bit key ID (see {@link keyHash}). */
  readonly keyHash: number;
  /** Returns the signature of `message` (64 bytes for Ed25519). */
  sign(message: Uint8Array): Uint8Array;
}

/** A key that checks note signatures (C2SP signed-note §Signatures). */
export interface Verifier {
  /** The key name. */
  readonly name: string;
  /** The 32-bit key ID (see {@link keyHash}). */
  readonly keyHash: number;
  /** Reports whether `signature` is a valid signature of `message` by this key; never throws on a bad signature. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** A parsed signer key (see {@link parseSignerKey}). */
export interface SignerKey {
  readonly name: string;
  readonly keyHash: number;
  /** The 32-byte Ed25519 seed (RFC 8032 §5.1.5 private key). */
  readonly seed: Uint8Array;
  /** The 32-byte Ed25519 public key derived from the seed. */
  readonly publicKey: Uint8Array;
}

/** A parsed verifier key (see {@link parseVerifierKey}). */
export interface VerifierKey {
  readonly name: string;
  readonly keyHash: number;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
}

const WHITE_SPACE = /\p{White_Space}/u;
const HASH_HEX = /^[0-9a-f]{8}$/;
const UTF8 = new TextEncoder();

/**
 * Reports whether `name` may be a key name (C2SP signed-note §Format): a
 * non-empty, well-formed string with no Unicode white space (the Unicode
 * White_Space property, as Go's unicode.IsSpace) and no `+`. Cairn also
 * refuses ASCII control characters, which could never appear in a note.
 */
export function isValidKeyName(name: unknown): name is string {
  if (typeof name !== 'string' || name.length === 0) return false;
  if (!isWellFormedText(name) || WHITE_SPACE.test(name) || name.includes('+')) return false;
  return !hasControlCharacter(name, false);
}

function checkName(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string') throw new TypeError(`${what}: key name must be a string`);
  if (!isValidKeyName(name)) throw new RangeError(`${what}: invalid key name ${JSON.stringify(name)}`);
}

function checkBytes(bytes: unknown, length: number, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (bytes.length !== length) throw new RangeError(`${what} must be ${length} bytes, got ${bytes.length}`);
}

/**
 * Returns the key ID of an Ed25519 key (C2SP signed-note §Ed25519 signatures):
 * the first 4 bytes, as a big-endian uint32, of
 * SHA-256(name || 0x0A || 0x01 || 32-byte public key).
 *
 * @throws TypeError / RangeError for an invalid name or a public key that is not 32 bytes.
 */
export function keyHash(name: string, publicKey: Uint8Array): number {
  checkName(name, 'keyHash');
  checkBytes(publicKey, 32, 'keyHash: public key');
  const nameBytes = UTF8.encode(name);
  const input = new Uint8Array(nameBytes.length + 2 + 32);
  input.set(nameBytes, 0);
  input[nameBytes.length] = 0x0a;
  input[nameBytes.length + 1] = ALG_ED25519;
  input.set(publicKey, nameBytes.length + 2);
  const digest = sha256(input);
  return new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0, false);
}

/** Formats a key hash as the 8 lowercase hex digits used in key strings. */
export function formatKeyHash(hash: number): string {
  if (!Number.isSafeInteger(hash) || hash < 0 || hash > 0xffffffff) {
    throw new RangeError('formatKeyHash: key hash must be a uint32');
  }
  return hash.toString(16).padStart(8, '0');
}

function withAlg(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + key.length);
  out[0] = ALG_ED25519;
  out.set(key, 1);
  return out;
}

/**
 * Splits `<name>+<hash>+<base64>` at its first two `+` (names never contain
 * `+`; base64 may) and checks each part; returns the raw 32-byte key.
 */
function splitKey(text: string, what: string): { name: string; hash: number; key: Uint8Array } {
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) throw new RangeError(`${what}: expected <name>+<hash>+<key>`);
  const name = text.slice(0, first);
  const hashHex = text.slice(first + 1, second);
  const key64 = text.slice(second + 1);
  if (!isValidKeyName(name)) throw new RangeError(`${what}: invalid key name`);
  if (!HASH_HEX.test(hashHex)) throw new RangeError(`${what}: key hash must be 8 lowercase hex digits`);
  let key: Uint8Array;
  try {
    key = decodeBase64(key64);
  } catch {
    throw new RangeError(`${what}: key is not canonical base64`);
  }
  if (key.length === 0) throw new RangeError(`${what}: empty key`);
  if (key[0] !== ALG_ED25519) throw new RangeError(`${what}: unknown algorithm byte ${key[0]}`);
  if (key.length !== 33) throw new RangeError(`${what}: Ed25519 key must be 32 bytes after the algorithm byte`);
  return { name, hash: Number.parseInt(hashHex, 16), key: key.slice(1) };
}

/**
 * Parses a signer key `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`
 * (Go's note.NewSigner format), deriving the Ed25519 public key and checking
 * that `<hash>` is its key hash.
 *
 * @throws TypeError if `skey` is not a string; RangeError if it is malformed or its hash does not match.
 */
export function parseSignerKey(skey: string): SignerKey {
  if (typeof skey !== 'string') throw new TypeError('parseSignerKey: expected a string');
  const prefix = 'PRIVATE+KEY+';
  if (!skey.startsWith(prefix)) throw new RangeError('parseSignerKey: missing PRIVATE+KEY+ prefix');
  const { name, hash, key: seed } = splitKey(skey.slice(prefix.length), 'parseSignerKey');
  const publicKey = ed.getPublicKey(seed);
  if (keyHash(name, publicKey) !== hash) throw new RangeError('parseSignerKey: key hash does not match the key');
  return { name, keyHash: hash, seed, publicKey };
}

/**
 * Parses a verifier key `<name>+<hash>+<base64(0x01 || public key)>` (Go's
 * note.NewVerifier format), checking that `<hash>` is its key hash.
 *
 * @throws TypeError if `vkey` is not a string; RangeError if it is malformed or its hash does not match.
 */
export function parseVerifierKey(vkey: string): VerifierKey {
  if (typeof vkey !== 'string') throw new TypeError('parseVerifierKey: expected a string');
  const { name, hash, key: publicKey } = splitKey(vkey, 'parseVerifierKey');
  if (keyHash(name, publicKey) !== hash) throw new RangeError('parseVerifierKey: key hash does not match the key');
  return { name, keyHash: hash, publicKey };
}

/**
 * Returns a new signer key for `origin` (Go's note.GenerateKey format):
 * `PRIVATE+KEY+<origin>+<hash>+<base64(0x01 || seed)>`, with a 32-byte seed
 * from `randomBytes` (default: `globalThis.crypto.getRandomValues`).
 *
 * @throws TypeError / RangeError for an invalid origin or a randomBytes result that is not 32 bytes.
 */
export function generateSignerKey(
  origin: string,
  randomBytes: (n: number) => Uint8Array = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
): string {
  checkName(origin, 'generateSignerKey');
  const seed = randomBytes(32);
  checkBytes(seed, 32, 'generateSignerKey: random seed');
  const hash = keyHash(origin, ed.getPublicKey(seed));
  return `PRIVATE+KEY+${origin}+${formatKeyHash(hash)}+${encodeBase64(withAlg(seed))}`;
}

/**
 * Returns the verifier key `<name>+<hash>+<base64(0x01 || public key)>` of a
 * signer key (Go's note.NewVerifier input).
 *
 * @throws as {@link parseSignerKey}.
 */
export function verifierKeyFromSignerKey(skey: string): string {
  const { name, keyHash: hash, publicKey } = parseSignerKey(skey);
  return `${name}+${formatKeyHash(hash)}+${encodeBase64(withAlg(publicKey))}`;
}

/**
 * Returns a synchronous Ed25519 {@link Signer} (RFC 8032 §5.1.6, via
 * @noble/ed25519) for a signer key.
 *
 * @throws as {@link parseSignerKey}.
 */
export function newSigner(skey: string): Signer {
  const { name, keyHash: hash, seed } = parseSignerKey(skey);
  return {
    name,
    keyHash: hash,
    sign(message: Uint8Array): Uint8Array {
      if (!(message instanceof Uint8Array)) throw new TypeError('sign: message must be a Uint8Array');
      return ed.sign(message, seed);
    },
  };
}

/**
 * Returns an Ed25519 {@link Verifier} for a verifier key. Verification follows
 * RFC 8032 §5.1.7 strictly (noble's `zip215: false`: canonical encodings,
 * S < L, no small-order public keys); a signature that is not 64 bytes is
 * simply invalid.
 *
 * @throws as {@link parseVerifierKey}.
 */
export function newVerifier(vkey: string): Verifier {
  const { name, keyHash: hash, publicKey } = parseVerifierKey(vkey);
  return {
    name,
    keyHash: hash,
    verify(message: Uint8Array, signature: Uint8Array): boolean {
      if (!(message instanceof Uint8Array) || !(signature instanceof Uint8Array)) {
        throw new TypeError('verify: message and signature must be Uint8Arrays');
      }
      if (signature.length !== 64) return false;
      try {
        return ed.verify(signature, message, publicKey, { zip215: false });
      } catch {
        return false;
      }
    },
  };
}
