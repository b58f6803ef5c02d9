import { bundleEntry, encodeEntryBundle, parseEntryBundle } from '../../src/merkle/bundle.js';
import { prng } from './helpers.js';

test('bundleEntry finds every entry that parseEntryBundle splits out', () => {
  const next = prng(11);
  for (const count of [1, 2, 17, 256]) {
    const entries = Array.from({ length: count }, (_, i) => new Uint8Array(1 + (next() % 300)).fill(i % 256));
    const bundle = encodeEntryBundle(entries);
    const parsed = parseEntryBundle(bundle);
    for (let i = 0; i < count; i++) {
      const got = bundleEntry(bundle, i);
      expect(Buffer.from(got).equals(Buffer.from(parsed[i]!))).toBe(true);
      expect(got.buffer).toBe(bundle.buffer); // a view, not a copy
    }
  }
});

test('bundleEntry rejects positions past the end and bundles that do not parse up to them', () => {
  const bundle = encodeEntryBundle([Uint8Array.of(1, 2), Uint8Array.of(3)]);
  expect(() => bundleEntry(bundle, 2)).toThrow(/ends before entry 2/);
  expect(() => bundleEntry(bundle, 256)).toThrow(RangeError);
  expect(() => bundleEntry(bundle, -1)).toThrow(RangeError);
  expect(() => bundleEntry(bundle, 0.5)).toThrow(RangeError);
  expect(() => bundleEntry(Uint8Array.of(0, 5, 1), 0)).toThrow(/truncated/);
  expect(() => bundleEntry(Uint8Array.of(0, 0, 0, 1, 9), 1)).toThrow(/empty/);
  expect(() => bundleEntry(Uint8Array.of(0), 0)).toThrow(/ends before entry 0/);
  expect(() => bundleEntry([0, 1, 5] as unknown as Uint8Array, 0)).toThrow(TypeError);
});
