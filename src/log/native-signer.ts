/**
 * A note {@link Signer} backed by Node's OpenSSL Ed25519 (RFC 8032 §5.1.6),
 * for the server's hot path: the same key strings and byte-identical
 * signatures as the pure `newSigner` of `src/note/keys.ts`, several times faster.
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { parseSignerKey, type Signer } from '../note/keys.js';

/** PKCS#8 (RFC 8410 §7) DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + seed.length);
  der.set(PKCS8_ED25519_PREFIX, 0);
  der.set(seed, PKCS8_ED25519_PREFIX.length);
  const key = createPrivateKey({ key: Buffer.from(der.buffer, der.byteOffset, der.byteLength), format: 'der', type: 'pkcs8' });
  der.fill(0); // the KeyObject holds its own copy of the seed
  return key;
}

/**
 * Returns an Ed25519 {@link Signer} for a signer key
 * (`PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`, CONTRACT §2) that signs
 * with node:crypto. Its name and key hash are those of `parseSignerKey`, and
 * the public key OpenSSL derives is checked against it once, here.
 *
 * @throws as `parseSignerKey`; Error if OpenSSL derives a different public key.
 */
export function newNativeSigner(skey: string): Signer {
  const { name, keyHash, seed, publicKey } = parseSignerKey(skey);
  const key = privateKeyFromSeed(seed);
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const derived = spki.subarray(spki.length - 32);
  if (!derived.equals(publicKey)) throw new Error('newNativeSigner: node:crypto derived a different public key');
  return {
    name,
    keyHash,
    sign(message: Uint8Array): Uint8Array {
      if (!(message instanceof Uint8Array)) throw new TypeError('sign: message must be a Uint8Array');
      // Copied out of the Buffer, so callers get a plain Uint8Array that shares no pool memory.
      return new Uint8Array(sign(null, message, key));
    },
  };
}
