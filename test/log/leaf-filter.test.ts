import { createHash } from 'node:crypto';
import { LeafFilter } from '../../src/log/leaf-filter.js';

/** Distinct SHA-256 values, like leaf hashes. */
const hashOf = (tag: string, i: number) => new Uint8Array(createHash('sha256').update(`${tag} ${i}`).digest());

test('every hash added is reported as maybe present, across many layers', () => {
  const filter = new LeafFilter({ capacity: 1000, maxBytes: 1 << 20 });
  const added = Array.from({ length: 40_000 }, (_, i) => hashOf('in', i));
  for (const h of added) filter.add(h);
  for (const h of added) expect(filter.mightContain(h)).toBe(true);
  // Layers of 1000, 2000, 4000 … entries (2^14, 2^15 … bits): 40,000 needs six of them.
  expect(filter.bytes).toBe((2 ** 14 / 8) * (1 + 2 + 4 + 8 + 16 + 32));
});

test('hashes never added are mostly ruled out (about 1% false positives per layer)', () => {
  const filter = new LeafFilter({ capacity: 50_000, maxBytes: 1 << 20 });
  for (let i = 0; i < 50_000; i++) filter.add(hashOf('in', i));
  let falsePositives = 0;
  for (let i = 0; i < 50_000; i++) if (filter.mightContain(hashOf('out', i))) falsePositives++;
  expect(falsePositives / 50_000).toBeLessThan(0.02);
  expect(falsePositives).toBeGreaterThan(0); // a Bloom filter, not a set: the test would notice one that says no to everything
});

test('a hash can be added from a row of hashes at an offset', () => {
  const row = new Uint8Array(32 * 3);
  for (let i = 0; i < 3; i++) row.set(hashOf('row', i), 32 * i);
  const filter = new LeafFilter({ capacity: 10, maxBytes: 1024 });
  filter.add(row, 64);
  expect(filter.mightContain(hashOf('row', 2))).toBe(true);
  expect(() => filter.add(row, 65)).toThrow(TypeError);
  expect(() => filter.mightContain(new Uint8Array(7))).toThrow(TypeError);
});

test('ready only once filled, and never again after giving up on its memory budget', () => {
  const filter = new LeafFilter({ capacity: 100, maxBytes: 400 }); // 128 bytes a layer of 100 (2^10 bits), then 256: the third does not fit
  expect(filter.ready).toBe(false);
  filter.markFilled();
  expect(filter.ready).toBe(true);
  for (let i = 0; i < 300; i++) filter.add(hashOf('in', i));
  expect(filter.ready).toBe(true);
  expect(filter.abandoned).toBe(false);
  filter.add(hashOf('in', 300)); // would need a layer of 400 entries (500 bytes)
  expect(filter.ready).toBe(false);
  expect(filter.abandoned).toBe(true);
  expect(filter.bytes).toBe(0);
  expect(filter.mightContain(hashOf('never', 1))).toBe(true);
  filter.markFilled();
  expect(filter.ready).toBe(false);

  const abandoned = new LeafFilter({ capacity: 100, maxBytes: 400 });
  abandoned.markFilled();
  abandoned.add(hashOf('in', 1));
  expect(abandoned.abandoned).toBe(false);
  abandoned.abandon();
  expect(abandoned.abandoned).toBe(true);
  expect(abandoned.ready).toBe(false);
  expect(abandoned.bytes).toBe(0);
  expect(abandoned.mightContain(hashOf('never', 2))).toBe(true);
});

test('options are checked', () => {
  expect(() => new LeafFilter({ capacity: 0, maxBytes: 10 })).toThrow(RangeError);
  expect(() => new LeafFilter({ capacity: 1.5, maxBytes: 10 })).toThrow(RangeError);
  expect(() => new LeafFilter({ capacity: 10, maxBytes: -1 })).toThrow(RangeError);
  const none = new LeafFilter({ capacity: 10, maxBytes: 0 });
  none.markFilled();
  expect(none.ready).toBe(false);
});
