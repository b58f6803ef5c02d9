// The node:crypto signer must be a drop-in for the pure noble signer.
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { newNativeSigner } from '../../src/log/native-signer.js';
import { generateSignerKey, newSigner, newVerifier, verifierKeyFromSignerKey } from '../../src/note/keys.js';

const vector = JSON.parse(readFileSync(new URL('../vectors/signed-note.json', import.meta.url), 'utf8')) as {
  signer_key: string;
  verifier_key: string;
};

test('same name and key hash as newSigner', () => {
  const native = newNativeSigner(vector.signer_key);
  const noble = newSigner(vector.signer_key);
  expect(native.name).toBe(noble.name);
  expect(native.keyHash).toBe(noble.keyHash);
});

test('byte-identical signatures on 200 random messages, for the vector key and fresh keys', () => {
  const keys = [vector.signer_key, generateSignerKey('a.example/log'), generateSignerKey('b.example/log')];
  for (const skey of keys) {
    const native = newNativeSigner(skey);
    const noble = newSigner(skey);
    const verifier = newVerifier(verifierKeyFromSignerKey(skey));
    for (let i = 0; i < 200; i++) {
      const msg = new Uint8Array(randomBytes(i === 0 ? 0 : randomInt(1, 2048)));
      const sig = native.sign(msg);
      expect(sig).toEqual(noble.sign(msg));
      if (i % 20 === 0) expect(verifier.verify(msg, sig)).toBe(true);
    }
  }
});

test('returns a plain 64-byte Uint8Array, not a Buffer', () => {
  const sig = newNativeSigner(vector.signer_key).sign(Uint8Array.of(1, 2, 3));
  expect(Object.getPrototypeOf(sig)).toBe(Uint8Array.prototype);
  expect(sig).toHaveLength(64);
  expect(sig.byteOffset).toBe(0);
  expect(sig.buffer.byteLength).toBe(64);
});

test('signs a view with an offset as its own bytes', () => {
  const native = newNativeSigner(vector.signer_key);
  const big = new Uint8Array(randomBytes(100));
  expect(native.sign(big.subarray(10, 50))).toEqual(newSigner(vector.signer_key).sign(big.slice(10, 50)));
});

test('rejects malformed keys like parseSignerKey, and non-byte messages', () => {
  expect(() => newNativeSigner(vector.verifier_key)).toThrow(RangeError);
  expect(() => newNativeSigner(vector.signer_key.replace('+981d986d+', '+981d986e+'))).toThrow(RangeError);
  expect(() => newNativeSigner(42 as unknown as string)).toThrow(TypeError);
  expect(() => newNativeSigner(vector.signer_key).sign('x' as unknown as Uint8Array)).toThrow(TypeError);
});
