// Entry bundle encoding and Retry-After parsing: small pure pieces of the client.
import { encodeEntryBundle, firstMismatchedEntry, parseEntryBundle } from '../../src/merkle/bundle.js';
import { normalizeBaseUrl, parseRetryAfter } from '../../src/client/http.js';
import { leafHash } from '../../src/merkle/hash.js';

const enc = (s: string) => new TextEncoder().encode(s);

test('entry bundles: uint16 big-endian length || bytes, parsed strictly', () => {
  const entries = [enc('a'), new Uint8Array(300).fill(7), new Uint8Array(65535).fill(1)];
  const bundle = encodeEntryBundle(entries);
  expect(Array.from(bundle.subarray(0, 3))).toEqual([0, 1, 0x61]);
  expect(Array.from(bundle.subarray(3, 5))).toEqual([1, 44]); // 300 = 0x012c
  expect(parseEntryBundle(bundle, 3).map((e) => e.length)).toEqual([1, 300, 65535]);
  expect(parseEntryBundle(new Uint8Array(0))).toEqual([]);
  expect(() => parseEntryBundle(bundle, 2)).toThrow(/expected 2 entries, got 3/);
  expect(() => parseEntryBundle(bundle.subarray(0, bundle.length - 1))).toThrow(/truncated/);
  expect(() => parseEntryBundle(Uint8Array.of(0))).toThrow(/truncated length/);
  expect(() => parseEntryBundle(Uint8Array.of(0, 0))).toThrow(/empty/);
  expect(() => parseEntryBundle(encodeEntryBundle(Array.from({ length: 256 }, () => enc('x'))).slice(), 256)).not.toThrow();
  const tooMany = new Uint8Array(257 * 3).map((_, i) => (i % 3 === 1 ? 1 : i % 3 === 2 ? 0x78 : 0));
  expect(() => parseEntryBundle(tooMany)).toThrow(/more than 256/);
  expect(() => encodeEntryBundle([new Uint8Array(65536)])).toThrow(RangeError);
  expect(() => parseEntryBundle('x' as unknown as Uint8Array)).toThrow(TypeError);
});

test('firstMismatchedEntry compares leaf hashes with a tile row', () => {
  const entries = ['a', 'b', 'c'].map(enc);
  const tile = new Uint8Array(96);
  entries.forEach((e, i) => tile.set(leafHash(e), i * 32));
  expect(firstMismatchedEntry(entries, tile)).toBe(-1);
  expect(firstMismatchedEntry([entries[0]!, enc('B'), entries[2]!], tile)).toBe(1);
  expect(firstMismatchedEntry(entries.slice(0, 2), tile)).toBe(2);
  expect(firstMismatchedEntry(entries, tile.subarray(0, 64))).toBe(2);
});

test('Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  expect(parseRetryAfter('1', now)).toBe(1000);
  expect(parseRetryAfter(' 120 ', now)).toBe(120000);
  expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
  // A date in the past asks for no wait that can be trusted (a clock far ahead?): as none, so the usual backoff applies, not 0.
  expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBeUndefined();
  expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:00 GMT', now)).toBeUndefined();
  // An HTTP-date is measured against the answer's Date header where it has a valid one, not this machine's clock.
  expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now + 3_600_000, 'Thu, 01 Jan 2026 00:00:00 GMT')).toBe(5000);
  expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now - 3_600_000, 'Thu, 01 Jan 2026 00:00:00 GMT')).toBe(5000);
  expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now, 'Thu, 01 Jan 2026 00:00:10 GMT')).toBeUndefined();
  for (const date of [null, '', 'soon', '1767225600']) expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now, date)).toBe(5000);
  // Only IMF-fixdate is read (Date.parse alone takes 'a 5' for a day in 2001, and a date without a zone in this machine's).
  for (const date of ['a 5', 'Thu, 01 Jan 2026 00:00:00', '2026-01-01T00:00:00Z', 'Thursday, 01-Jan-26 00:00:00 GMT']) {
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now, date)).toBe(5000);
  }
  for (const value of ['a 5', 'Thu, 01 Jan 2026 00:00:05', '2026-01-01T00:00:05Z']) expect(parseRetryAfter(value, now)).toBeUndefined();
  expect(parseRetryAfter('7', now, 'Thu, 01 Jan 2026 00:00:10 GMT')).toBe(7000);
  for (const bad of [null, undefined, '', '-1', '1.5', 'soon', '1e3']) expect(parseRetryAfter(bad, now)).toBeUndefined();
  expect(normalizeBaseUrl('https://log.example/a/')).toBe('https://log.example/a');
  expect(() => normalizeBaseUrl('https://log.example/?x=1')).toThrow(RangeError);
});
