// RoundDedup: the in-round set of leaf hashes, keyed by their first 30 bits.
import { RoundDedup } from '../../src/log/round-dedup.js';
import { prng } from '../merkle/helpers.js';

function hashWith(prefix: number[], rest: number): Uint8Array {
  const h = new Uint8Array(32).fill(rest);
  h.set(prefix, 0);
  return h;
}

test('finds exactly the hashes added, also when their first 30 bits collide', () => {
  const dedup = new RoundDedup();
  const stored: Uint8Array[] = [];
  const add = (h: Uint8Array) => {
    expect(dedup.find(h, stored)).toBeUndefined();
    dedup.add(h, stored.length);
    stored.push(h);
  };
  const a = hashWith([1, 2, 3, 4, 5, 6], 7);
  const b = hashWith([1, 2, 3, 4, 5, 6], 8); // same prefix, another hash
  const c = hashWith([1, 2, 3, 4, 5, 6], 9);
  const d = hashWith([1, 2, 3, 4, 5, 7], 7); // the same first 30 bits too: bytes 0-2 and the top 6 bits of byte 3
  const e = hashWith([1, 2, 3, 5, 5, 6], 7); // differs only in byte 3's low 2 bits: the same prefix as well
  const f = hashWith([1, 2, 3, 8, 5, 6], 7); // another prefix
  add(a);
  add(b);
  add(c);
  add(d);
  add(e);
  add(f);
  expect(dedup.find(a.slice(), stored)).toBe(0);
  expect(dedup.find(b.slice(), stored)).toBe(1);
  expect(dedup.find(c.slice(), stored)).toBe(2);
  expect(dedup.find(d.slice(), stored)).toBe(3);
  expect(dedup.find(e.slice(), stored)).toBe(4);
  expect(dedup.find(f.slice(), stored)).toBe(5);
  expect(dedup.find(hashWith([1, 2, 3, 4, 5, 6], 10), stored)).toBeUndefined();
  expect(dedup.find(hashWith([9, 2, 3, 4, 5, 6], 7), stored)).toBeUndefined();
});

test('agrees with a Map of whole hashes on random rounds with repeats', () => {
  const random = prng(11);
  for (let round = 0; round < 20; round++) {
    const dedup = new RoundDedup();
    const stored: Uint8Array[] = [];
    const reference = new Map<string, number>();
    // A small alphabet in the first bytes makes prefix collisions common.
    for (let i = 0; i < 500; i++) {
      const h = new Uint8Array(32);
      for (let j = 0; j < 32; j++) h[j] = j < 6 ? Math.floor(random() * 2) : Math.floor(random() * 3);
      const key = Buffer.from(h).toString('hex');
      const found = dedup.find(h, stored);
      expect(found).toBe(reference.get(key));
      if (found === undefined) {
        dedup.add(h, stored.length);
        reference.set(key, stored.length);
        stored.push(h);
      }
    }
  }
});
