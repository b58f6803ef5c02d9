// Strict base64: Node's Buffer is the independent oracle for the alphabet and
// bit layout; canonicality is "decoding then re-encoding gives the input back".
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function randomBytes(n: number): Uint8Array {
  return new Uint8Array(nodeRandomBytes(n));
}

/** Buffer's decoder is lenient; a string is canonical iff it survives a Buffer round trip unchanged. */
function isCanonical(text: string): boolean {
  return Buffer.from(Buffer.from(text, 'base64')).toString('base64') === text;
}

test('round trips lengths 0..100 and agrees with Buffer', () => {
  for (let n = 0; n <= 100; n++) {
    for (let trial = 0; trial < 5; trial++) {
      const bytes = randomBytes(n);
      const text = encodeBase64(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      expect(text.length % 4).toBe(0);
      expect(decodeBase64(text)).toEqual(bytes);
    }
  }
});

test('every single byte value and every byte in every position', () => {
  for (let b = 0; b < 256; b++) {
    for (const bytes of [Uint8Array.of(b), Uint8Array.of(b, 255 - b), Uint8Array.of(7, b, 200)]) {
      const text = encodeBase64(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      expect(decodeBase64(text)).toEqual(bytes);
    }
  }
});

test('decodes into a fresh Uint8Array, encodes subarray views correctly', () => {
  const big = randomBytes(40);
  const view = big.subarray(3, 20);
  expect(encodeBase64(view)).toBe(Buffer.from(view).toString('base64'));
  const decoded = decodeBase64(encodeBase64(view));
  expect(Object.getPrototypeOf(decoded)).toBe(Uint8Array.prototype);
  expect(decoded.byteOffset).toBe(0);
  expect(decoded.buffer.byteLength).toBe(17);
});

test('empty string decodes to empty bytes', () => {
  expect(decodeBase64('')).toEqual(new Uint8Array(0));
  expect(encodeBase64(new Uint8Array(0))).toBe('');
});

test('exhaustive: every "XY==" and "XYZ=" is accepted exactly when canonical', () => {
  let accepted2 = 0;
  for (const x of ALPHABET) {
    for (const y of ALPHABET) {
      const two = `${x}${y}==`;
      if (isCanonical(two)) {
        accepted2++;
        expect(encodeBase64(decodeBase64(two))).toBe(two);
      } else {
        expect(() => decodeBase64(two)).toThrow(RangeError);
      }
    }
  }
  expect(accepted2).toBe(256); // one canonical spelling per byte value
  let accepted3 = 0;
  const mismatches: string[] = [];
  for (const x of ALPHABET) {
    for (const y of ALPHABET) {
      for (const z of ALPHABET) {
        const three = `${x}${y}${z}=`;
        let ok: boolean;
        try {
          ok = encodeBase64(decodeBase64(three)) === three;
        } catch (e) {
          if (!(e instanceof RangeError)) mismatches.push(`${three}: ${String(e)}`);
          ok = false;
        }
        if (ok !== isCanonical(three)) mismatches.push(three);
        if (ok) accepted3++;
      }
    }
  }
  expect(mismatches).toEqual([]);
  expect(accepted3).toBe(65536);
});

test.each([
  ['missing padding', 'QQ'],
  ['missing one pad', 'QQ='],
  ['missing padding (3 chars)', 'QUI'],
  ['extra padding', 'QQ==='],
  ['padding on a full group', 'QUJD='],
  ['padding group of four', 'QUJD===='],
  ['all padding', '===='],
  ['three pads', 'Q==='],
  ['padding in the middle', 'QQ==QUJD'],
  ['pad then data', 'Q=JD'],
  ['non-zero bits, one pad', 'QUJ='],
  ['non-zero bits, two pads', 'QR=='],
  ['non-zero bits, two pads (last)', 'Q/=='],
  ['leading space', ' QUJD'],
  ['trailing space', 'QUJD '],
  ['inner space', 'QU JD'],
  ['newline', 'QUJD\nQUJD'],
  ['trailing newline', 'QUJD\n'],
  ['tab', 'QU\tJD'],
  ['CR', 'QUJD\r'],
  ['URL alphabet -', 'QUJ-'],
  ['URL alphabet _', 'QUJ_'],
  ['dot', 'QUJ.'],
  ['NUL', 'QUJ\0'],
  ['non-ASCII letter', 'QUJé'],
  ['char whose low byte is A', 'QUJ\u0141'],
  ['fullwidth A', 'QUJ\uFF21'],
  ['length 1', 'Q'],
  ['length 5', 'QUJDR'],
  ['length 6', 'QUJDRE'],
])('rejects %s', (_label, text) => {
  expect(() => decodeBase64(text)).toThrow(RangeError);
});

test('wrong types throw TypeError', () => {
  for (const bad of [null, undefined, 42, ['QQ=='], Uint8Array.of(1)]) {
    expect(() => decodeBase64(bad as unknown as string)).toThrow(TypeError);
  }
  for (const bad of [null, undefined, 'abc', [1, 2, 3], new ArrayBuffer(3), new Uint16Array(2)]) {
    expect(() => encodeBase64(bad as unknown as Uint8Array)).toThrow(TypeError);
  }
});

test('large inputs round trip (beyond one string-building chunk)', () => {
  const bytes = randomBytes(100_003);
  const text = encodeBase64(bytes);
  expect(text).toBe(Buffer.from(bytes).toString('base64'));
  expect(decodeBase64(text)).toEqual(bytes);
});

test('round-trips many hash- and signature-sized values like Buffer does', () => {
  // Speed is measured by the benchmarks, not asserted here (no timed tests).
  for (let i = 0; i < 2000; i++) {
    const v = randomBytes(i % 2 === 0 ? 32 : 68);
    const text = encodeBase64(v);
    expect(text).toBe(Buffer.from(v).toString('base64'));
    expect(decodeBase64(text)).toEqual(v);
  }
});
