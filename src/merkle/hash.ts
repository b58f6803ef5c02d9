/**
 * SHA-256 and the RFC 6962 §2.1 leaf and node hashes.
 *
 * In Node the digest comes from the native `node:crypto` module, found at run
 * time through `process.getBuiltinModule` (Node >= 20.16) so that this module
 * stays importable in browsers; elsewhere it falls back to @noble/hashes.
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { checkHash } from './check.js';

/** The size in bytes of every hash in the tree (SHA-256, RFC 6962 §2.1). */
export const HASH_SIZE = 32;

type Digest = (data: Uint8Array) => Uint8Array;

interface NodeCryptoLike {
  hash?: (algorithm: string, data: Uint8Array, outputEncoding: 'latin1') => string;
  createHash?: (algorithm: string) => { update(data: Uint8Array): { digest(): Uint8Array } };
}

/** SHA-256 of "abc" (FIPS 180-2 appendix B.1), to check a native backend before trusting it. */
const ABC_DIGEST = [
  0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3,
  0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
];

function asView(b: Uint8Array): Uint8Array {
  // A Buffer is a Uint8Array subclass; hand out a plain view of the same bytes.
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

// Native digests are handed out as 32-byte views into a shared slab rather
// than one ArrayBuffer each: a log computes two or more hashes per entry, and
// allocating (and collecting) an ArrayBuffer per hash cost more than the
// hashing. node:crypto returns the digest as a latin1 string, copied in here.
// Each result is its own 32 bytes (later calls never touch them); only the
// underlying ArrayBuffer is shared, so use byteOffset with `.buffer`, and
// copy a hash (`.slice()`) before transferring its buffer (postMessage,
// structuredClone with `transfer`): that detaches the slab under every hash
// cut from it. The slab's next user then starts a new one (a detached view's
// byteLength is 0), so the hashing itself never breaks; the public client
// API copies what it returns (see ownBytes in src/client/tile-reader.ts).
const SLAB_SIZE = 8192;
let slab = new Uint8Array(SLAB_SIZE);
let slabUsed = SLAB_SIZE;

function fromLatin1(digest: string): Uint8Array {
  if (digest.length !== HASH_SIZE) throw new Error(`sha256: node:crypto returned ${digest.length} bytes`);
  if (slabUsed + HASH_SIZE > SLAB_SIZE || slab.byteLength === 0) {
    slab = new Uint8Array(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + HASH_SIZE);
  slabUsed += HASH_SIZE;
  for (let i = 0; i < HASH_SIZE; i++) out[i] = digest.charCodeAt(i);
  return out;
}

function findNativeSha256(): Digest | undefined {
  let mod: unknown;
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    mod = proc?.getBuiltinModule?.('node:crypto');
  } catch {
    return undefined;
  }
  if (typeof mod !== 'object' || mod === null) return undefined;
  const crypto = mod as NodeCryptoLike;
  let digest: Digest | undefined;
  const { hash, createHash } = crypto;
  if (typeof hash === 'function') {
    digest = (data) => fromLatin1(hash('sha256', data, 'latin1'));
  } else if (typeof createHash === 'function') {
    digest = (data) => asView(createHash('sha256').update(data).digest());
  }
  if (digest === undefined) return undefined;
  try {
    const got = digest(new TextEncoder().encode('abc'));
    if (got.length !== HASH_SIZE || got.some((b, i) => b !== ABC_DIGEST[i])) return undefined;
  } catch {
    return undefined;
  }
  return digest;
}

/** SHA-256 from @noble/hashes: the portable implementation, used where `node:crypto` is absent. */
export const sha256Portable: Digest = (data) => {
  if (!(data instanceof Uint8Array)) throw new TypeError('sha256: data must be a Uint8Array');
  return nobleSha256(data);
};

const native = findNativeSha256();

/**
 * SHA-256 from Node's native `node:crypto`, or undefined where it is not available
 * (exported so tests can check both implementations agree).
 */
export const sha256Native: Digest | undefined =
  native === undefined
    ? undefined
    : (data) => {
        if (!(data instanceof Uint8Array)) throw new TypeError('sha256: data must be a Uint8Array');
        return native(data);
      };

/** Which SHA-256 implementation `sha256`, `leafHash` and `nodeHash` use. */
export const SHA256_BACKEND: 'node:crypto' | '@noble/hashes' = native === undefined ? '@noble/hashes' : 'node:crypto';

const digest: Digest = native ?? nobleSha256;

/**
 * Returns the SHA-256 digest (FIPS 180-4; the hash of RFC 6962 §2.1) of `data`
 * as a new 32-byte Uint8Array (under Node, a view into a shared slab: its
 * 32 bytes are its own, its `.buffer` is not, so copy it with `.slice()`
 * before transferring that buffer). Throws TypeError if `data` is not a
 * Uint8Array.
 */
export function sha256(data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError('sha256: data must be a Uint8Array');
  return digest(data);
}

// Scratch buffers: the digest is computed synchronously and returns fresh
// memory, so one buffer per kind of input avoids an allocation per hash.
// The leaf buffer grows to fit the largest entry seen, up to 64 KiB (CONTRACT
// §1: entries are at most 65,535 bytes); anything larger gets its own buffer.
const LEAF_SCRATCH_MAX = 65_536;
let leafScratch = new Uint8Array(1024);
const nodeScratch = new Uint8Array(1 + 2 * HASH_SIZE);
nodeScratch[0] = 0x01;

/**
 * Returns the RFC 6962 §2.1 leaf hash SHA-256(0x00 || entry) of one log entry
 * (its buffer may be shared, as {@link sha256}'s). Throws TypeError if `entry` is not a Uint8Array.
 */
export function leafHash(entry: Uint8Array): Uint8Array {
  if (!(entry instanceof Uint8Array)) throw new TypeError('leafHash: entry must be a Uint8Array');
  const size = entry.length + 1;
  if (size > leafScratch.length) {
    if (size > LEAF_SCRATCH_MAX) {
      const input = new Uint8Array(size);
      input.set(entry, 1);
      return digest(input);
    }
    leafScratch = new Uint8Array(Math.min(LEAF_SCRATCH_MAX, Math.max(size, 2 * leafScratch.length)));
  }
  leafScratch[0] = 0x00;
  leafScratch.set(entry, 1);
  return digest(leafScratch.subarray(0, size));
}

/**
 * Returns the RFC 6962 §2.1 interior node hash SHA-256(0x01 || left || right)
 * (its buffer may be shared, as {@link sha256}'s). Throws TypeError for a non-Uint8Array and RangeError for a hash that is not 32 bytes.
 */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  checkHash(left, 'nodeHash: left');
  checkHash(right, 'nodeHash: right');
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_SIZE);
  return digest(nodeScratch);
}

/**
 * The root of the empty tree, SHA-256 of the empty string (RFC 6962 §2.1:
 * MTH({}) = SHA-256()), e3b0c442…b855. Shared: do not modify it.
 */
export const EMPTY_ROOT: Uint8Array = digest(new Uint8Array(0)).slice();
