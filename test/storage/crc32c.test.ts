// CRC-32C against published check values: the CRC catalogue's check value
// and RFC 3720 §B.4's (also LevelDB's util/crc32c_test.cc).
import { crc32c, maskCrc } from '../../src/storage/crc32c.js';

const ascii = (s: string) => new TextEncoder().encode(s);

test('the check value of "123456789" and the RFC 3720 §B.4 values', () => {
  expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
  expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  const iscsiRead = Uint8Array.from([
    0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14, 0, 0, 0, 0x18, 0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0,
  ]);
  expect(crc32c(iscsiRead)).toBe(0xd9963a56);
  expect(crc32c(new Uint8Array(0))).toBe(0);
});

test('a range of the bytes is the CRC of those bytes alone; a range outside them is a RangeError', () => {
  const padded = ascii('xx123456789yyy');
  expect(crc32c(padded, 2, 11)).toBe(0xe3069283);
  expect(() => crc32c(padded, 3, 2)).toThrow(RangeError);
  expect(() => crc32c(padded, 0, 15)).toThrow(RangeError);
  expect(() => crc32c(padded, -1)).toThrow(RangeError);
  expect(() => crc32c('123' as unknown as Uint8Array)).toThrow(TypeError);
});

test('maskCrc rotates right by 15 bits and adds 0xa282ead8, modulo 2^32', () => {
  // By hand: 0xe3069283 rotated right by 15 is 0x2507c60d; plus 0xa282ead8 is 0xc78ab0e5.
  expect(maskCrc(0xe3069283)).toBe(0xc78ab0e5);
  // A sum past 2^32 wraps: 0xffffffff rotated is itself, and 0xffffffff + 0xa282ead8 = 0x1a282ead7.
  expect(maskCrc(0xffffffff)).toBe(0xa282ead7);
  expect(maskCrc(0)).toBe(0xa282ead8);
});
