// RFC 6962 signed tree heads: the 50-byte TreeHeadSignature built here is
// checked against one built independently with Buffer.writeBigUInt64BE, and
// signatures against OpenSSL.
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { generateSignerKey, newSigner, newVerifier, parseVerifierKey, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import {
  decodeDigitallySigned,
  encodeDigitallySigned,
  signTreeHead,
  treeHeadSignatureInput,
  verifyTreeHead,
} from '../../src/note/sth.js';
import type { SignedTreeHead } from '../../src/note/sth.js';

const vector = JSON.parse(readFileSync(new URL('../vectors/signed-note.json', import.meta.url), 'utf8')) as {
  signer_key: string;
  verifier_key: string;
  sth: SignedTreeHead;
};
const signer = newSigner(vector.signer_key);
const verifier = newVerifier(vector.verifier_key);
const root = new Uint8Array(32).map((_, i) => i * 7 + 1);

/** RFC 6962 §3.5 TreeHeadSignature, built with BigInt writes (independent of the code under test). */
function referenceInput(timestamp: number, treeSize: number, rootHash: Uint8Array): Uint8Array {
  const b = Buffer.alloc(50);
  b[0] = 0;
  b[1] = 1;
  b.writeBigUInt64BE(BigInt(timestamp), 2);
  b.writeBigUInt64BE(BigInt(treeSize), 10);
  Buffer.from(rootHash).copy(b, 18);
  return new Uint8Array(b);
}

describe('treeHeadSignatureInput', () => {
  test.each([
    [0, 0],
    [1, 1],
    [1767225600000, 300],
    [2 ** 32 - 1, 2 ** 32],
    [2 ** 32 + 5, 2 ** 32 + 1],
    [2 ** 40 + 3, 2 ** 40 - 1],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1],
  ])('timestamp %d, size %d matches the BigInt reference', (timestamp, treeSize) => {
    const input = treeHeadSignatureInput({ timestamp, treeSize, rootHash: root });
    expect(input).toHaveLength(50);
    expect(input).toEqual(referenceInput(timestamp, treeSize, root));
  });

  test('rejects bad numbers and roots', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, Infinity]) {
      expect(() => treeHeadSignatureInput({ timestamp: bad, treeSize: 1, rootHash: root })).toThrow(RangeError);
      expect(() => treeHeadSignatureInput({ timestamp: 1, treeSize: bad, rootHash: root })).toThrow(RangeError);
    }
    expect(() => treeHeadSignatureInput({ timestamp: '1' as unknown as number, treeSize: 1, rootHash: root })).toThrow(TypeError);
    expect(() => treeHeadSignatureInput({ timestamp: 1, treeSize: 1, rootHash: root.subarray(0, 31) })).toThrow(RangeError);
    expect(() => treeHeadSignatureInput({ timestamp: 1, treeSize: 1, rootHash: new Uint8Array(33) })).toThrow(RangeError);
    expect(() => treeHeadSignatureInput({ timestamp: 1, treeSize: 1, rootHash: 'x' as unknown as Uint8Array })).toThrow(TypeError);
  });
});

describe('DigitallySigned', () => {
  const sig = new Uint8Array(64).map((_, i) => 255 - i);

  test('is 08 07 00 40 || signature and round trips', () => {
    const wrapped = encodeDigitallySigned(sig);
    expect(Buffer.from(wrapped.subarray(0, 4)).toString('hex')).toBe('08070040');
    expect(wrapped.subarray(4)).toEqual(sig);
    expect(decodeDigitallySigned(wrapped)).toEqual(sig);
  });

  test('encode wants exactly 64 bytes', () => {
    expect(() => encodeDigitallySigned(sig.subarray(0, 63))).toThrow(RangeError);
    expect(() => encodeDigitallySigned(new Uint8Array(65))).toThrow(RangeError);
    expect(() => encodeDigitallySigned([] as unknown as Uint8Array)).toThrow(TypeError);
  });

  test.each([
    ['ECDSA P-256 scheme', '04030040'],
    ['swapped scheme', '07080040'],
    ['length 63', '0807003f'],
    ['length 65', '08070041'],
    ['length 0x0140', '08070140'],
  ])('decode rejects %s', (_label, header) => {
    const bytes = new Uint8Array([...Buffer.from(header, 'hex'), ...sig]);
    expect(() => decodeDigitallySigned(bytes)).toThrow(RangeError);
  });

  test('decode rejects wrong total lengths', () => {
    const wrapped = encodeDigitallySigned(sig);
    expect(() => decodeDigitallySigned(wrapped.subarray(0, 67))).toThrow(RangeError);
    expect(() => decodeDigitallySigned(new Uint8Array([...wrapped, 0]))).toThrow(RangeError);
    expect(() => decodeDigitallySigned(new Uint8Array(0))).toThrow(RangeError);
    expect(() => decodeDigitallySigned('x' as unknown as Uint8Array)).toThrow(TypeError);
  });

  test('decode works on a view with an offset', () => {
    const big = new Uint8Array([9, 9, 9, ...encodeDigitallySigned(sig)]);
    expect(decodeDigitallySigned(big.subarray(3))).toEqual(sig);
  });
});

describe('signTreeHead / verifyTreeHead', () => {
  const head = { timestamp: 1700000000123, treeSize: 2 ** 33 + 17, rootHash: root };
  const sth = signTreeHead(head, signer);

  test('produces the JSON shape and verifies; OpenSSL agrees', () => {
    expect(Object.keys(sth).sort()).toEqual(['sha256_root_hash', 'timestamp', 'tree_head_signature', 'tree_size']);
    expect(sth.tree_size).toBe(head.treeSize);
    expect(sth.timestamp).toBe(head.timestamp);
    expect(sth.sha256_root_hash).toBe(Buffer.from(root).toString('base64'));
    expect(verifyTreeHead(sth, verifier)).toEqual(head);
    expect(verifyTreeHead(JSON.parse(JSON.stringify(sth)), verifier)).toEqual(head);

    const wrapped = Buffer.from(sth.tree_head_signature, 'base64');
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), parseVerifierKey(vector.verifier_key).publicKey]);
    const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    expect(nodeVerify(null, referenceInput(head.timestamp, head.treeSize, root), pub, wrapped.subarray(4))).toBe(true);
  });

  test('any change to a field fails', () => {
    const mutations: Record<string, unknown>[] = [
      { tree_size: sth.tree_size + 1 },
      { tree_size: sth.tree_size - 1 },
      { timestamp: sth.timestamp + 1 },
      { sha256_root_hash: Buffer.from(root.map((b, i) => (i === 31 ? b ^ 1 : b))).toString('base64') },
    ];
    for (const m of mutations) expect(verifyTreeHead({ ...sth, ...m }, verifier)).toBeNull();
    const wrapped = Buffer.from(sth.tree_head_signature, 'base64');
    for (let bit = 0; bit < wrapped.length * 8; bit++) {
      const bad = Buffer.from(wrapped);
      bad[Math.floor(bit / 8)]! ^= 1 << bit % 8;
      expect(verifyTreeHead({ ...sth, tree_head_signature: bad.toString('base64') }, verifier)).toBeNull();
    }
  });

  test('another key fails', () => {
    const other = newVerifier(verifierKeyFromSignerKey(generateSignerKey('example.com/log/test')));
    expect(verifyTreeHead(sth, other)).toBeNull();
  });

  test.each<[string, unknown]>([
    ['null', null],
    ['an array', []],
    ['a string', 'sth'],
    ['missing tree_size', (({ tree_size: _, ...rest }) => rest)(signTreeHead(head, signer))],
    ['an extra field', { ...signTreeHead(head, signer), extra: 1 }],
    ['tree_size as a string', { ...signTreeHead(head, signer), tree_size: String(head.treeSize) }],
    ['timestamp as a string', { ...signTreeHead(head, signer), timestamp: String(head.timestamp) }],
    ['negative size', { ...signTreeHead(head, signer), tree_size: -1 }],
    ['negative zero size', { ...signTreeHead({ ...head, treeSize: 0 }, signer), tree_size: -0 }],
    ['fractional timestamp', { ...signTreeHead(head, signer), timestamp: head.timestamp + 0.5 }],
    ['unsafe size', { ...signTreeHead(head, signer), tree_size: 2 ** 53 }],
    ['root of 31 bytes', { ...signTreeHead(head, signer), sha256_root_hash: Buffer.alloc(31).toString('base64') }],
    ['unpadded root', { ...signTreeHead(head, signer), sha256_root_hash: Buffer.from(root).toString('base64').replace(/=$/, '') }],
    ['raw 64-byte signature', { ...signTreeHead(head, signer), tree_head_signature: Buffer.alloc(64).toString('base64') }],
    ['signature not base64', { ...signTreeHead(head, signer), tree_head_signature: 'not base64!' }],
    ['signature as bytes', { ...signTreeHead(head, signer), tree_head_signature: [1, 2, 3] }],
    ['a class instance', Object.assign(new (class Sth {})(), signTreeHead(head, signer))],
  ])('rejects %s', (_label, value) => {
    expect(verifyTreeHead(value, verifier)).toBeNull();
  });

  test('signTreeHead validates its input', () => {
    expect(() => signTreeHead({ ...head, treeSize: -1 }, signer)).toThrow(RangeError);
    expect(() => signTreeHead(head, { name: 'x', keyHash: 0, sign: () => new Uint8Array(63) })).toThrow(RangeError);
  });
});
