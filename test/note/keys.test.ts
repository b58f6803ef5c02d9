// Note keys: the vector key from test/vectors/signed-note.json (made by Go's
// sumdb/note), node:crypto as an independent Ed25519 and SHA-256, and every
// kind of malformed key string.
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { encodeBase64 } from '../../src/note/base64.js';
import {
  formatKeyHash,
  generateSignerKey,
  isValidKeyName,
  keyHash,
  newSigner,
  newVerifier,
  parseSignerKey,
  parseVerifierKey,
  verifierKeyFromSignerKey,
} from '../../src/note/keys.js';

interface NoteVector {
  seed_hex: string;
  signer_key: string;
  verifier_key: string;
  key_hash_hex: string;
}
const vector = JSON.parse(
  readFileSync(new URL('../vectors/signed-note.json', import.meta.url), 'utf8'),
) as NoteVector;
const ORIGIN = 'example.com/log/test';
const seed = new Uint8Array(Buffer.from(vector.seed_hex, 'hex'));

/** Ed25519 public key of a seed, computed by OpenSSL (independent of noble). */
function nodePublicKey(s: Uint8Array): Uint8Array {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), s]);
  const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({
    format: 'der',
    type: 'spki',
  });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

/** Key hash computed with node:crypto, straight from the C2SP definition. */
function nodeKeyHash(name: string, pub: Uint8Array): number {
  const digest = createHash('sha256').update(name).update(Uint8Array.of(0x0a, 0x01)).update(pub).digest();
  return digest.readUInt32BE(0);
}

function b64(...parts: Uint8Array[]): string {
  return Buffer.concat(parts).toString('base64');
}

describe('the vector key', () => {
  test('generateSignerKey reproduces signer_key from seed_hex', () => {
    expect(generateSignerKey(ORIGIN, () => seed)).toBe(vector.signer_key);
  });

  test('verifierKeyFromSignerKey reproduces verifier_key', () => {
    expect(verifierKeyFromSignerKey(vector.signer_key)).toBe(vector.verifier_key);
  });

  test('keyHash reproduces key_hash_hex and matches node:crypto', () => {
    const pub = nodePublicKey(seed);
    expect(formatKeyHash(keyHash(ORIGIN, pub))).toBe(vector.key_hash_hex);
    expect(keyHash(ORIGIN, pub)).toBe(nodeKeyHash(ORIGIN, pub));
  });

  test('parseSignerKey and parseVerifierKey agree with OpenSSL', () => {
    const parsed = parseSignerKey(vector.signer_key);
    expect(parsed.name).toBe(ORIGIN);
    expect(parsed.keyHash).toBe(Number.parseInt(vector.key_hash_hex, 16));
    expect(parsed.seed).toEqual(seed);
    expect(parsed.publicKey).toEqual(nodePublicKey(seed));
    const v = parseVerifierKey(vector.verifier_key);
    expect(v).toEqual({ name: ORIGIN, keyHash: parsed.keyHash, publicKey: parsed.publicKey });
  });

  test('newSigner / newVerifier carry the name and hash, and signatures verify', () => {
    const signer = newSigner(vector.signer_key);
    const verifier = newVerifier(vector.verifier_key);
    expect(signer.name).toBe(ORIGIN);
    expect(verifier.name).toBe(ORIGIN);
    expect(signer.keyHash).toBe(0x981d986d);
    expect(verifier.keyHash).toBe(0x981d986d);
    const msg = new TextEncoder().encode('hello\n');
    const sig = signer.sign(msg);
    expect(sig).toHaveLength(64);
    expect(verifier.verify(msg, sig)).toBe(true);
  });
});

describe('key names', () => {
  test.each(['example.com/log', 'a', 'é/ü', 'log\u{1F600}', 'a-b_c.d~e:f@g', 'x'.repeat(1000)])('accepts %j', (name) => {
    expect(isValidKeyName(name)).toBe(true);
  });

  test.each([
    '',
    ' a',
    'a ',
    'a b',
    'a\tb',
    'a\nb',
    'a\rb',
    'a\vb',
    'a\fb',
    'a\u0085b',
    'a\u00a0b',
    'a\u1680b',
    'a\u2003b',
    'a\u2028b',
    'a\u202fb',
    'a\u3000b',
    'a+b',
    '+',
    'a\u0000b',
    'a\u001bb',
    'a\ud800b',
    '\udc00',
  ])('rejects %j', (name) => {
    expect(isValidKeyName(name)).toBe(false);
    expect(() => generateSignerKey(name, () => seed)).toThrow(RangeError);
    expect(() => keyHash(name, nodePublicKey(seed))).toThrow(RangeError);
  });

  test('non-strings are not names', () => {
    for (const bad of [null, undefined, 1, ['a'], {}]) {
      expect(isValidKeyName(bad)).toBe(false);
      expect(() => generateSignerKey(bad as unknown as string)).toThrow(TypeError);
    }
  });
});

describe('generateSignerKey', () => {
  test('default randomness gives distinct keys that parse and sign', () => {
    const a = generateSignerKey('log.example/a');
    const b = generateSignerKey('log.example/a');
    expect(a).not.toBe(b);
    for (const skey of [a, b]) {
      const parsed = parseSignerKey(skey);
      expect(parsed.name).toBe('log.example/a');
      expect(parsed.publicKey).toEqual(nodePublicKey(parsed.seed));
      expect(parsed.keyHash).toBe(nodeKeyHash('log.example/a', parsed.publicKey));
      const v = newVerifier(verifierKeyFromSignerKey(skey));
      const msg = Uint8Array.of(1, 2, 3);
      expect(v.verify(msg, newSigner(skey).sign(msg))).toBe(true);
    }
  });

  test('asks for exactly 32 bytes and rejects a wrong-length result', () => {
    const asked: number[] = [];
    generateSignerKey('x', (n) => {
      asked.push(n);
      return new Uint8Array(n).fill(9);
    });
    expect(asked).toEqual([32]);
    expect(() => generateSignerKey('x', () => new Uint8Array(31))).toThrow(RangeError);
    expect(() => generateSignerKey('x', () => new Uint8Array(33))).toThrow(RangeError);
    expect(() => generateSignerKey('x', () => [1, 2] as unknown as Uint8Array)).toThrow(TypeError);
  });

  test('keys whose base64 contains "+" and "/" still split correctly', () => {
    let withPlus = 0;
    for (let i = 0; i < 200 && withPlus < 10; i++) {
      const s = new Uint8Array(randomBytes(32));
      const skey = generateSignerKey('plus.example/log', () => s);
      const vkey = verifierKeyFromSignerKey(skey);
      const key64 = skey.split('+').slice(4).join('+');
      if (!key64.includes('+') && !vkey.slice('plus.example/log+12345678+'.length).includes('+')) continue;
      withPlus++;
      expect(parseSignerKey(skey).seed).toEqual(s);
      expect(parseVerifierKey(vkey).publicKey).toEqual(nodePublicKey(s));
    }
    expect(withPlus).toBe(10);
  });
});

describe('malformed signer keys', () => {
  const pub = nodePublicKey(seed);
  const hashHex = vector.key_hash_hex;
  const good = `PRIVATE+KEY+${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), seed)}`;

  test('the hand-built key is the vector key (so the mutations below start from a valid key)', () => {
    expect(good).toBe(vector.signer_key);
  });

  test.each([
    ['no prefix', `${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), seed)}`],
    ['lowercase prefix', `private+key+${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), seed)}`],
    ['PRIVATE only', `PRIVATE+${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), seed)}`],
    ['wrong hash', `PRIVATE+KEY+${ORIGIN}+${(Number.parseInt(hashHex, 16) ^ 1).toString(16).padStart(8, '0')}+${b64(Uint8Array.of(1), seed)}`],
    ['uppercase hash', `PRIVATE+KEY+${ORIGIN}+${hashHex.toUpperCase()}+${b64(Uint8Array.of(1), seed)}`],
    ['7-digit hash', `PRIVATE+KEY+${ORIGIN}+${hashHex.slice(1)}+${b64(Uint8Array.of(1), seed)}`],
    ['9-digit hash', `PRIVATE+KEY+${ORIGIN}+0${hashHex}+${b64(Uint8Array.of(1), seed)}`],
    ['non-hex hash', `PRIVATE+KEY+${ORIGIN}+981d986g+${b64(Uint8Array.of(1), seed)}`],
    ['hash with sign', `PRIVATE+KEY+${ORIGIN}+-81d986d+${b64(Uint8Array.of(1), seed)}`],
    ['algorithm byte 0x02', `PRIVATE+KEY+${ORIGIN}+${hashHex}+${b64(Uint8Array.of(2), seed)}`],
    ['algorithm byte 0x00', `PRIVATE+KEY+${ORIGIN}+${hashHex}+${b64(Uint8Array.of(0), seed)}`],
    ['no algorithm byte', `PRIVATE+KEY+${ORIGIN}+${hashHex}+${b64(seed)}`],
    ['31-byte seed', `PRIVATE+KEY+${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), seed.subarray(0, 31))}`],
    ['33-byte seed', `PRIVATE+KEY+${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), seed, Uint8Array.of(0))}`],
    ['empty key', `PRIVATE+KEY+${ORIGIN}+${hashHex}+`],
    ['extra padding', `PRIVATE+KEY+${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), seed)}====`],
    ['base64 with inner space', `PRIVATE+KEY+${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), seed).replace(/^(.{8})/, '$1 ')}`],
    ['URL-safe base64', `PRIVATE+KEY+${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), seed).replace(/\//g, '_')}`],
    ['trailing newline', `${good}\n`],
    ['leading space', ` ${good}`],
    ['name with space', `PRIVATE+KEY+example.com/log test+${hashHex}+${b64(Uint8Array.of(1), seed)}`],
    ['empty name', `PRIVATE+KEY++${hashHex}+${b64(Uint8Array.of(1), seed)}`],
    ['missing hash', `PRIVATE+KEY+${ORIGIN}+${b64(Uint8Array.of(1), seed)}`],
    ['a verifier key', vector.verifier_key],
    ['empty string', ''],
  ])('%s', (_label, skey) => {
    expect(() => parseSignerKey(skey)).toThrow(RangeError);
    expect(() => newSigner(skey)).toThrow(RangeError);
    expect(() => verifierKeyFromSignerKey(skey)).toThrow(RangeError);
  });

  test('the key hash must match the name too', () => {
    const other = `PRIVATE+KEY+example.com/log/other+${hashHex}+${b64(Uint8Array.of(1), seed)}`;
    expect(() => parseSignerKey(other)).toThrow(RangeError);
    const fixed = `PRIVATE+KEY+example.com/log/other+${formatKeyHash(nodeKeyHash('example.com/log/other', pub))}+${b64(Uint8Array.of(1), seed)}`;
    expect(parseSignerKey(fixed).name).toBe('example.com/log/other');
  });

  test('non-strings throw TypeError', () => {
    for (const bad of [null, undefined, 7, Uint8Array.of(1)]) {
      expect(() => parseSignerKey(bad as unknown as string)).toThrow(TypeError);
      expect(() => parseVerifierKey(bad as unknown as string)).toThrow(TypeError);
      expect(() => newVerifier(bad as unknown as string)).toThrow(TypeError);
    }
  });
});

describe('malformed verifier keys', () => {
  const pub = nodePublicKey(seed);
  const hashHex = vector.key_hash_hex;

  test('the hand-built key is the vector key', () => {
    expect(`${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), pub)}`).toBe(vector.verifier_key);
  });

  test.each([
    ['wrong hash', `${ORIGIN}+981d986e+${b64(Uint8Array.of(1), pub)}`],
    ['uppercase hash', `${ORIGIN}+${hashHex.toUpperCase()}+${b64(Uint8Array.of(1), pub)}`],
    ['short hash', `${ORIGIN}+${hashHex.slice(0, 7)}+${b64(Uint8Array.of(1), pub)}`],
    ['algorithm byte 0x02', `${ORIGIN}+${hashHex}+${b64(Uint8Array.of(2), pub)}`],
    ['no algorithm byte', `${ORIGIN}+${hashHex}+${b64(pub)}`],
    ['31-byte key', `${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), pub.subarray(0, 31))}`],
    ['33-byte key', `${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), pub, Uint8Array.of(0))}`],
    ['empty key', `${ORIGIN}+${hashHex}+`],
    ['bad base64', `${ORIGIN}+${hashHex}+${b64(Uint8Array.of(1), pub)} `],
    ['name with space', `example.com/log test+${hashHex}+${b64(Uint8Array.of(1), pub)}`],
    ['name with NBSP', `example.com/log\u00a0test+${hashHex}+${b64(Uint8Array.of(1), pub)}`],
    ['empty name', `+${hashHex}+${b64(Uint8Array.of(1), pub)}`],
    ['only a name', ORIGIN],
    ['a signer key', vector.signer_key],
  ])('%s', (_label, vkey) => {
    expect(() => parseVerifierKey(vkey)).toThrow(RangeError);
    expect(() => newVerifier(vkey)).toThrow(RangeError);
  });
});

describe('signing and verifying', () => {
  const signer = newSigner(vector.signer_key);
  const verifier = newVerifier(vector.verifier_key);
  const msg = new TextEncoder().encode('example.com/log/test\n1\nAAAA\n');

  test('signatures are deterministic (RFC 8032) and verify', () => {
    const sig = signer.sign(msg);
    expect(signer.sign(msg)).toEqual(sig);
    expect(verifier.verify(msg, sig)).toBe(true);
  });

  test('any one flipped bit in the signature or message fails', () => {
    const sig = signer.sign(msg);
    for (let bit = 0; bit < sig.length * 8; bit++) {
      const bad = Uint8Array.from(sig);
      bad[Math.floor(bit / 8)]! ^= 1 << bit % 8;
      expect(verifier.verify(msg, bad)).toBe(false);
    }
    for (let bit = 0; bit < msg.length * 8; bit += 7) {
      const bad = Uint8Array.from(msg);
      bad[Math.floor(bit / 8)]! ^= 1 << bit % 8;
      expect(verifier.verify(bad, sig)).toBe(false);
    }
  });

  test('signatures of the wrong length are invalid, not errors', () => {
    const sig = signer.sign(msg);
    expect(verifier.verify(msg, sig.subarray(0, 63))).toBe(false);
    expect(verifier.verify(msg, new Uint8Array(65))).toBe(false);
    expect(verifier.verify(msg, new Uint8Array(0))).toBe(false);
  });

  test('a signature by another key fails', () => {
    const other = newSigner(generateSignerKey(ORIGIN));
    expect(verifier.verify(msg, other.sign(msg))).toBe(false);
  });

  test('non-byte arguments throw TypeError', () => {
    expect(() => signer.sign('text' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => verifier.verify('text' as unknown as Uint8Array, new Uint8Array(64))).toThrow(TypeError);
    expect(() => verifier.verify(msg, [1] as unknown as Uint8Array)).toThrow(TypeError);
  });

  test('the signature matches OpenSSL Ed25519', async () => {
    const { sign } = await import('node:crypto');
    const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    expect(encodeBase64(signer.sign(msg))).toBe(sign(null, msg, key).toString('base64'));
  });
});

describe('formatKeyHash', () => {
  test('pads to 8 lowercase hex digits and rejects non-uint32', () => {
    expect(formatKeyHash(0)).toBe('00000000');
    expect(formatKeyHash(0xabc)).toBe('00000abc');
    expect(formatKeyHash(0xffffffff)).toBe('ffffffff');
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) expect(() => formatKeyHash(bad)).toThrow(RangeError);
  });
});
