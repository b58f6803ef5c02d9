// Two promises of the note layer that no other test holds it to: verifiers
// follow RFC 8032 strictly (not ZIP 215), and openNote refuses a lookup that
// hands back a verifier for another key name, even one with the asked hash.
import { encodeBase64 } from '../../src/note/base64.js';
import { formatKeyHash, generateSignerKey, keyHash, newSigner, newVerifier, verifierKeyFromSignerKey, type Verifier } from '../../src/note/keys.js';
import { NoteError, openNote, signNote } from '../../src/note/note.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('RFC 8032 strict verification (zip215: false)', () => {
  // The identity point (0, 1) encodes as 01 00 … 00; with R = identity and
  // S = 0, [S]B = R + [k]A holds for every message under ZIP 215's cofactored
  // equation, so a lenient verifier would accept this "signature" of anything.
  const name = 'identity.test/key';
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const signature = new Uint8Array(64);
  signature[0] = 1;
  const vkey = `${name}+${formatKeyHash(keyHash(name, identity))}+${encodeBase64(Uint8Array.of(0x01, ...identity))}`;

  test('the identity point key parses (its key hash is right), so the refusal below is the signature check', () => {
    const verifier = newVerifier(vkey);
    expect(verifier.name).toBe(name);
    expect(verifier.keyHash).toBe(keyHash(name, identity));
  });

  test('the signature R = identity, S = 0 is refused for any message', () => {
    const verifier = newVerifier(vkey);
    for (const message of ['anything at all\n', '', 'identity.test/key\n1\nAAAA\n']) {
      expect([message, verifier.verify(enc(message), signature)]).toEqual([message, false]);
    }
  });

  test('a note carrying that signature does not open: INVALID_SIGNATURE', () => {
    const verifier = newVerifier(vkey);
    const sig = new Uint8Array(4 + 64);
    new DataView(sig.buffer).setUint32(0, verifier.keyHash, false);
    sig.set(signature, 4);
    const note = `hello, world\n\n\u2014 ${name} ${encodeBase64(sig)}\n`;
    let err: unknown;
    try {
      openNote(note, [verifier]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NoteError);
    expect((err as NoteError).code).toBe('INVALID_SIGNATURE');
  });
});

describe('openNote: a lookup must return the verifier of the asked key', () => {
  const skey = generateSignerKey('asked.test/key');
  const signer = newSigner(skey);
  const genuine = newVerifier(verifierKeyFromSignerKey(skey));
  const note = signNote('a note\n', [signer]);

  test('the genuine verifier through a lookup opens the note', () => {
    expect(openNote(note, (n, h) => (n === genuine.name && h === genuine.keyHash ? genuine : undefined)).sigs).toHaveLength(1);
  });

  test('a verifier of another name with the same key hash is a TypeError, even one that accepts everything', () => {
    const impostor: Verifier = { name: 'other.test/key', keyHash: genuine.keyHash, verify: () => true };
    expect(() => openNote(note, () => impostor)).toThrow(TypeError);
    expect(() => openNote(note, () => impostor)).toThrow(/verifier for a different key/);
    // The genuine one, renamed: the same public key and hash still do not make it the asked key.
    const renamed: Verifier = { name: 'other.test/key', keyHash: genuine.keyHash, verify: (m, s) => genuine.verify(m, s) };
    expect(() => openNote(note, () => renamed)).toThrow(TypeError);
  });

  test('a verifier of the asked name with another key hash is a TypeError too', () => {
    const impostor: Verifier = { name: genuine.name, keyHash: (genuine.keyHash + 1) % 2 ** 32, verify: () => true };
    expect(() => openNote(note, () => impostor)).toThrow(/verifier for a different key/);
  });
});
