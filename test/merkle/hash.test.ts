import { jest } from '@jest/globals';
import {
  EMPTY_ROOT,
  HASH_SIZE,
  SHA256_BACKEND,
  leafHash,
  nodeHash,
  sha256,
  sha256Native,
  sha256Portable,
} from '../../src/merkle/hash.js';
import { type TreeVectors, hex, loadJson, prng, refLeafHash, refNodeHash, refSha256, unhex, utf8 } from './helpers.js';

const small = loadJson<TreeVectors>('rfc6962-small.json');

function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

describe('sha256', () => {
  test('known answers (FIPS 180-2 B.1, empty string)', () => {
    expect(hex(sha256(utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex(sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(HASH_SIZE).toBe(32);
  });

  test('EMPTY_ROOT is SHA-256 of the empty string (RFC 6962 §2.1)', () => {
    expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(EMPTY_ROOT)).toBe(small.roots['0']);
  });

  test('uses node:crypto under Node and returns plain Uint8Arrays', () => {
    expect(SHA256_BACKEND).toBe('node:crypto');
    expect(sha256Native).toBeDefined();
    const h = sha256(utf8('x'));
    expect(Object.getPrototypeOf(h)).toBe(Uint8Array.prototype);
    expect(h.length).toBe(32);
  });

  test('a hash whose buffer was transferred away does not break the hashes after it', () => {
    // Hashes under Node share a slab (see fromLatin1); transferring one's buffer detaches the slab under it.
    const first = leafHash(utf8('x'));
    const sibling = nodeHash(first, first);
    structuredClone(first.buffer, { transfer: [first.buffer] });
    expect(first.length).toBe(0);
    expect(sibling.length).toBe(0);
    for (let i = 0; i < 3; i++) {
      expect(hex(sha256(utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
      expect(hex(leafHash(utf8('x')))).toBe(hex(refLeafHash(utf8('x'))));
    }
  });

  test('native and portable implementations agree on many lengths', () => {
    const rand = prng(1);
    for (const n of [0, 1, 31, 32, 33, 55, 56, 63, 64, 65, 119, 120, 1000, 65_535, 65_536, 70_000]) {
      const data = randomBytes(rand, n);
      const want = hex(refSha256(data));
      expect(hex(sha256Portable(data))).toBe(want);
      expect(hex(sha256Native!(data))).toBe(want);
      expect(hex(sha256(data))).toBe(want);
    }
  });

  test('rejects non-Uint8Array input with TypeError', () => {
    for (const bad of ['abc', [1, 2], null, undefined, 5, new ArrayBuffer(4), new Uint16Array(2)]) {
      expect(() => sha256(bad as unknown as Uint8Array)).toThrow(TypeError);
      expect(() => sha256Portable(bad as unknown as Uint8Array)).toThrow(TypeError);
      expect(() => sha256Native!(bad as unknown as Uint8Array)).toThrow(TypeError);
      expect(() => leafHash(bad as unknown as Uint8Array)).toThrow(TypeError);
    }
  });
});

describe('leafHash and nodeHash', () => {
  test('leaf hashes of the CT reference leaves match the vectors', () => {
    const leafHashes = new Set(small.inclusion.map((v) => v.leaf_hash));
    const ours = small.leaves_hex.map((l) => hex(leafHash(unhex(l))));
    for (const h of leafHashes) expect(ours).toContain(h);
    // The empty leaf: SHA-256(0x00), RFC 6962 test data.
    expect(ours[0]).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
  });

  test('leafHash = SHA-256(0x00 || entry), nodeHash = SHA-256(0x01 || l || r)', () => {
    const rand = prng(2);
    for (const n of [0, 1, 2, 100, 1023, 1024, 4096, 65_535, 65_536, 100_000]) {
      const entry = randomBytes(rand, n);
      expect(hex(leafHash(entry))).toBe(hex(refLeafHash(entry)));
    }
    for (let i = 0; i < 50; i++) {
      const l = randomBytes(rand, 32);
      const r = randomBytes(rand, 32);
      expect(hex(nodeHash(l, r))).toBe(hex(refNodeHash(l, r)));
    }
  });

  test('results are independent of the scratch buffers and of later calls', () => {
    const a = leafHash(utf8('first'));
    const aHex = hex(a);
    const b = leafHash(utf8('second, longer than the first'));
    leafHash(new Uint8Array(5000));
    expect(hex(a)).toBe(aHex);
    expect(hex(b)).toBe(hex(refLeafHash(utf8('second, longer than the first'))));
    const n1 = nodeHash(a, b);
    const n1Hex = hex(n1);
    nodeHash(b, a);
    expect(hex(n1)).toBe(n1Hex);
    // Inputs are not modified.
    expect(hex(a)).toBe(aHex);
  });

  test('nodeHash accepts a view into a larger buffer', () => {
    const big = new Uint8Array(100).map((_, i) => i);
    const l = big.subarray(3, 35);
    const r = big.subarray(40, 72);
    expect(hex(nodeHash(l, r))).toBe(hex(refNodeHash(l.slice(), r.slice())));
  });

  test('nodeHash rejects wrong types (TypeError) and lengths (RangeError)', () => {
    const ok = new Uint8Array(32);
    for (const n of [0, 31, 33, 64]) {
      expect(() => nodeHash(new Uint8Array(n), ok)).toThrow(RangeError);
      expect(() => nodeHash(ok, new Uint8Array(n))).toThrow(RangeError);
    }
    expect(() => nodeHash('x'.repeat(32) as unknown as Uint8Array, ok)).toThrow(TypeError);
    expect(() => nodeHash(ok, Array.from(ok) as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('without node:crypto (browser path)', () => {
  test('falls back to @noble/hashes and computes the same hashes', async () => {
    const proc = globalThis.process as unknown as { getBuiltinModule?: unknown };
    const saved = proc.getBuiltinModule;
    let mod: typeof import('../../src/merkle/hash.js') | undefined;
    try {
      proc.getBuiltinModule = undefined;
      await jest.isolateModulesAsync(async () => {
        mod = await import('../../src/merkle/hash.js');
      });
    } finally {
      proc.getBuiltinModule = saved;
    }
    expect(mod).toBeDefined();
    expect(mod!.SHA256_BACKEND).toBe('@noble/hashes');
    expect(mod!.sha256Native).toBeUndefined();
    const entry = utf8('entry 42');
    expect(hex(mod!.leafHash(entry))).toBe(hex(leafHash(entry)));
    const l = leafHash(utf8('l'));
    const r = leafHash(utf8('r'));
    expect(hex(mod!.nodeHash(l, r))).toBe(hex(nodeHash(l, r)));
    expect(hex(mod!.EMPTY_ROOT)).toBe(hex(EMPTY_ROOT));
  });
});
