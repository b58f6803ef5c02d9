// Byte comparisons the verifiers rest on: bytesEqual must refuse arrays of
// different lengths (a prefix is not equal), and firstMismatchedEntry must
// compare every one of a leaf hash's 32 bytes, the last included.
import { encodeEntryBundle, firstMismatchedEntry, parseEntryBundle } from '../../src/merkle/bundle.js';
import { bytesEqual } from '../../src/merkle/check.js';
import { leafHash } from '../../src/merkle/hash.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('bytesEqual', () => {
  // The last byte is not 0, so a comparison that reads past the shorter array sees a difference only by length.
  const a = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

  test('a 31-byte prefix is not equal to the 32 bytes it was cut from, in either order', () => {
    expect(bytesEqual(a, a.subarray(0, 31))).toBe(false);
    expect(bytesEqual(a.subarray(0, 31), a)).toBe(false);
  });

  test('the empty array equals only the empty array', () => {
    expect(bytesEqual(new Uint8Array(0), a)).toBe(false);
    expect(bytesEqual(a, new Uint8Array(0))).toBe(false);
    expect(bytesEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });

  test('equal bytes are equal, whatever the buffers; one changed byte is not', () => {
    expect(bytesEqual(a, a.slice())).toBe(true);
    for (const i of [0, 15, 31]) {
      const b = a.slice();
      b[i] = b[i]! ^ 0x80;
      expect([i, bytesEqual(a, b)]).toEqual([i, false]);
    }
  });
});

describe('firstMismatchedEntry compares all 32 bytes of each leaf hash', () => {
  const entries = [enc('entry zero'), enc('entry one'), enc('entry two')];
  const tile = new Uint8Array(entries.length * 32);
  entries.forEach((e, i) => tile.set(leafHash(e), i * 32));
  const bundle = parseEntryBundle(encodeEntryBundle(entries), entries.length);

  test('the genuine tile matches', () => {
    expect(firstMismatchedEntry(bundle, tile)).toBe(-1);
  });

  for (const position of [0, 1, 2]) {
    for (const byte of [0, 30, 31]) {
      test(`byte ${byte} of hash ${position} flipped: entry ${position} is named`, () => {
        const changed = tile.slice();
        const at = position * 32 + byte;
        changed[at] = changed[at]! ^ 0x01;
        expect(firstMismatchedEntry(bundle, changed)).toBe(position);
      });
    }
  }
});
