// test/vectors/signed-note.json (made with Go's sumdb/note): reproduce the key,
// the signed checkpoint and the RFC 6962 STH byte for byte from the seed and
// the tree of rfc6962-1100.json, with both the pure and the native signer.
import { readFileSync } from 'node:fs';
import { newNativeSigner } from '../../src/log/native-signer.js';
import { formatKeyHash, generateSignerKey, keyHash, newSigner, newVerifier, parseSignerKey, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { formatCheckpoint, openCheckpoint, signCheckpoint } from '../../src/note/checkpoint.js';
import { openNote, signNote } from '../../src/note/note.js';
import { signTreeHead, verifyTreeHead } from '../../src/note/sth.js';
import type { SignedTreeHead } from '../../src/note/sth.js';

const vector = JSON.parse(readFileSync(new URL('../vectors/signed-note.json', import.meta.url), 'utf8')) as {
  key_hash_hex: string;
  note: string;
  seed_hex: string;
  signer_key: string;
  verifier_key: string;
  sth: SignedTreeHead;
};
const tree = JSON.parse(readFileSync(new URL('../vectors/rfc6962-1100.json', import.meta.url), 'utf8')) as {
  roots: Record<string, string>;
};
const ORIGIN = 'example.com/log/test';
const seed = new Uint8Array(Buffer.from(vector.seed_hex, 'hex'));
const root300 = new Uint8Array(Buffer.from(tree.roots['300']!, 'hex'));
const checkpoint = { origin: ORIGIN, treeSize: 300, rootHash: root300, extensions: [] };

test('the key: signer key, verifier key and key hash from the seed', () => {
  const skey = generateSignerKey(ORIGIN, () => seed);
  expect(skey).toBe(vector.signer_key);
  expect(verifierKeyFromSignerKey(skey)).toBe(vector.verifier_key);
  expect(formatKeyHash(keyHash(ORIGIN, parseSignerKey(skey).publicKey))).toBe(vector.key_hash_hex);
});

describe.each([
  ['noble', () => newSigner(vector.signer_key)],
  ['native', () => newNativeSigner(vector.signer_key)],
])('with the %s signer', (_label, makeSigner) => {
  const signer = makeSigner();
  const verifier = newVerifier(vector.verifier_key);

  test('the checkpoint of 300 leaves signs to the vector note byte for byte', () => {
    const body = formatCheckpoint(checkpoint);
    expect(signNote(body, [signer])).toBe(vector.note);
    expect(signCheckpoint(checkpoint, signer)).toBe(vector.note);
  });

  test('the STH signs to the vector tree_head_signature byte for byte', () => {
    const sth = signTreeHead({ timestamp: vector.sth.timestamp, treeSize: vector.sth.tree_size, rootHash: root300 }, signer);
    expect(sth).toEqual(vector.sth);
    expect(vector.sth.sha256_root_hash).toBe(Buffer.from(root300).toString('base64'));
  });

  test('both open and verify', () => {
    expect(openNote(vector.note, [verifier]).text).toBe(formatCheckpoint(checkpoint));
    expect(openCheckpoint(vector.note, verifier).checkpoint).toEqual(checkpoint);
    expect(verifyTreeHead(vector.sth, verifier)).toEqual({
      timestamp: vector.sth.timestamp,
      treeSize: 300,
      rootHash: root300,
    });
  });
});
