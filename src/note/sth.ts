/**
 * RFC 6962 signed tree heads (§3.5 TreeHeadSignature, §4.3 get-sth JSON),
 * signed with Ed25519 as in RFC 9162 (TLS SignatureScheme ed25519 = 0x0807)
 * and wrapped in the TLS `DigitallySigned` struct (CONTRACT §2).
 */
import { decodeBase64, encodeBase64 } from './base64.js';
import type { Signer, Verifier } from './keys.js';

/** The numbers and root a signed tree head commits to. */
export interface TreeHead {
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  /** The number of leaves in the tree. */
  treeSize: number;
  /** The 32-byte RFC 6962 root hash. */
  rootHash: Uint8Array;
}

/** The RFC 6962 §4.3 get-sth response body. */
export interface SignedTreeHead {
  tree_size: number;
  timestamp: number;
  /** Standard base64 of the 32-byte root hash. */
  sha256_root_hash: string;
  /** Standard base64 of the DigitallySigned struct (see {@link encodeDigitallySigned}). */
  tree_head_signature: string;
}

/** Length of the serialized TreeHeadSignature: 1 + 1 + 8 + 8 + 32 bytes. */
export const TREE_HEAD_SIGNATURE_INPUT_LENGTH = 50;

/** TLS SignatureScheme ed25519 (RFC 8446 §4.2.3, used by RFC 9162 §4.10). */
const SCHEME_ED25519 = [0x08, 0x07] as const;
const ED25519_SIGNATURE_LENGTH = 64;
const STH_KEYS = ['sha256_root_hash', 'timestamp', 'tree_head_signature', 'tree_size'];

function checkUint53(n: unknown, what: string): asserts n is number {
  if (typeof n !== 'number') throw new TypeError(`${what} must be a number`);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a safe non-negative integer`);
}

/** Writes a safe integer as a big-endian uint64 through its two 32-bit halves (no bitwise operators: they truncate to 32 bits). */
function setUint64(view: DataView, offset: number, n: number): void {
  view.setUint32(offset, Math.floor(n / 2 ** 32), false);
  view.setUint32(offset + 4, n % 2 ** 32, false);
}

/**
 * Serializes the RFC 6962 §3.5 `TreeHeadSignature` that an STH signs:
 * version v1 (0), signature_type tree_hash (1), uint64 timestamp, uint64
 * tree_size and the 32-byte root hash, big-endian: 50 bytes.
 *
 * @throws TypeError / RangeError if timestamp or treeSize is not a safe
 * non-negative integer, or rootHash is not 32 bytes.
 */
export function treeHeadSignatureInput(head: TreeHead): Uint8Array {
  if (head === null || typeof head !== 'object') throw new TypeError('treeHeadSignatureInput: expected a tree head');
  const { timestamp, treeSize, rootHash } = head;
  checkUint53(timestamp, 'timestamp');
  checkUint53(treeSize, 'treeSize');
  if (!(rootHash instanceof Uint8Array)) throw new TypeError('rootHash must be a Uint8Array');
  if (rootHash.length !== 32) throw new RangeError('rootHash must be 32 bytes');
  const out = new Uint8Array(TREE_HEAD_SIGNATURE_INPUT_LENGTH);
  const view = new DataView(out.buffer);
  out[0] = 0; // Version v1
  out[1] = 1; // SignatureType tree_hash
  setUint64(view, 2, timestamp);
  setUint64(view, 10, treeSize);
  out.set(rootHash, 18);
  return out;
}

/**
 * Wraps a 64-byte Ed25519 signature in the TLS `DigitallySigned` struct
 * (RFC 5246 §4.7 as used by RFC 6962 §3.5, scheme 0x0807 from RFC 9162):
 * `0x08 0x07 || uint16 BE 64 || signature`, 68 bytes.
 *
 * @throws TypeError if not a Uint8Array; RangeError if not 64 bytes.
 */
export function encodeDigitallySigned(signature: Uint8Array): Uint8Array {
  if (!(signature instanceof Uint8Array)) throw new TypeError('encodeDigitallySigned: expected a Uint8Array');
  if (signature.length !== ED25519_SIGNATURE_LENGTH) throw new RangeError('encodeDigitallySigned: signature must be 64 bytes');
  const out = new Uint8Array(4 + ED25519_SIGNATURE_LENGTH);
  out[0] = SCHEME_ED25519[0];
  out[1] = SCHEME_ED25519[1];
  new DataView(out.buffer).setUint16(2, ED25519_SIGNATURE_LENGTH, false);
  out.set(signature, 4);
  return out;
}

/**
 * Unwraps an Ed25519 `DigitallySigned` struct (see {@link encodeDigitallySigned}),
 * accepting only exactly `0x08 0x07 0x00 0x40` followed by 64 bytes.
 *
 * @returns a copy of the 64-byte signature.
 * @throws TypeError if not a Uint8Array; RangeError for any other scheme, length or trailing data.
 */
export function decodeDigitallySigned(bytes: Uint8Array): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeDigitallySigned: expected a Uint8Array');
  if (bytes.length !== 4 + ED25519_SIGNATURE_LENGTH) throw new RangeError('decodeDigitallySigned: must be 68 bytes');
  if (bytes[0] !== SCHEME_ED25519[0] || bytes[1] !== SCHEME_ED25519[1]) {
    throw new RangeError('decodeDigitallySigned: signature scheme is not ed25519 (0x0807)');
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(2, false);
  if (length !== ED25519_SIGNATURE_LENGTH) throw new RangeError('decodeDigitallySigned: signature length is not 64');
  return bytes.slice(4);
}

/**
 * Signs a tree head and returns the RFC 6962 §4.3 get-sth JSON object, its
 * signature over {@link treeHeadSignatureInput} wrapped by
 * {@link encodeDigitallySigned}.
 *
 * @throws as {@link treeHeadSignatureInput}; RangeError if the signer does not return 64 bytes.
 */
export function signTreeHead(head: TreeHead, signer: Signer): SignedTreeHead {
  const input = treeHeadSignatureInput(head);
  if (signer === null || typeof signer !== 'object' || typeof signer.sign !== 'function') {
    throw new TypeError('signTreeHead: expected a Signer');
  }
  const signature = encodeDigitallySigned(signer.sign(input));
  return {
    tree_size: head.treeSize,
    timestamp: head.timestamp,
    sha256_root_hash: encodeBase64(head.rootHash),
    tree_head_signature: encodeBase64(signature),
  };
}

function isUint53(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && !Object.is(n, -0);
}

/**
 * A plain object from any realm: JSON parsed by fetch() in another realm (a
 * worker, a vm context, an iframe) has that realm's Object.prototype.
 */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

function decodeOrNull(text: unknown): Uint8Array | null {
  if (typeof text !== 'string') return null;
  try {
    return decodeBase64(text);
  } catch {
    return null;
  }
}

/**
 * Checks an RFC 6962 §4.3 get-sth object (for example straight from
 * `JSON.parse`) against the log's key. The object must have exactly the four
 * fields; sizes and timestamps must be safe non-negative integers, the root
 * canonical base64 of 32 bytes, the signature canonical base64 of an Ed25519
 * `DigitallySigned` struct that verifies over the RFC 6962 §3.5 input.
 *
 * @returns the verified tree head, or null if anything is wrong.
 */
export function verifyTreeHead(sth: unknown, verifier: Verifier): TreeHead | null {
  if (verifier === null || typeof verifier !== 'object' || typeof verifier.verify !== 'function') {
    throw new TypeError('verifyTreeHead: expected a Verifier');
  }
  if (!isPlainObject(sth)) return null;
  const keys = Object.keys(sth).sort();
  if (keys.length !== STH_KEYS.length || keys.some((k, i) => k !== STH_KEYS[i])) return null;
  const { tree_size: treeSize, timestamp, sha256_root_hash: rootText, tree_head_signature: sigText } = sth;
  if (!isUint53(treeSize) || !isUint53(timestamp)) return null;
  const rootHash = decodeOrNull(rootText);
  if (rootHash === null || rootHash.length !== 32) return null;
  const wrapped = decodeOrNull(sigText);
  if (wrapped === null) return null;
  let signature: Uint8Array;
  try {
    signature = decodeDigitallySigned(wrapped);
  } catch {
    return null;
  }
  const head: TreeHead = { timestamp, treeSize, rootHash };
  return verifier.verify(treeHeadSignatureInput(head), signature) ? head : null;
}
