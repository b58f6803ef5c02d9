// The benchmark's raw limit (scripts/bench/sequencing.ts): its rounds overlap
// hashing with the previous round's synced write, as Cairn's sequencer does,
// and it writes what it claims to (entry bundles and leaf-hash tiles).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeEntryBundle } from '../../src/merkle/bundle.js';
import { entryRange } from '../../scripts/bench/entries.js';
import { pipelineRounds, rawLimit, RAW_LIMIT_DEPTH, ROUND, type RawDepth } from '../../scripts/bench/sequencing.js';

/**
 * Runs `count` rounds whose writes resolve only when the test says so, and
 * records, each time a write resolves, how many rounds had been prepared by
 * then and how many writes were in flight at most.
 */
async function trace(depth: RawDepth, count: number): Promise<{ preparedWhenResolved: number[]; mostInFlight: number; order: number[] }> {
  let prepared = 0;
  let inFlight = 0;
  let mostInFlight = 0;
  const order: number[] = [];
  const pending: (() => void)[] = [];
  const preparedWhenResolved: number[] = [];
  const done = pipelineRounds(
    count,
    depth,
    (k) => {
      prepared++;
      return k;
    },
    (k) => {
      order.push(k);
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      return new Promise<void>((resolve) =>
        pending.push(() => {
          inFlight--;
          preparedWhenResolved.push(prepared);
          resolve();
        }),
      );
    },
  );
  let finished = false;
  void done.then(() => (finished = true));
  // Resolve the oldest write whenever the pipeline has stalled on it.
  while (!finished) {
    await new Promise((resolve) => setImmediate(resolve));
    pending.shift()?.();
  }
  return { preparedWhenResolved, mostInFlight, order };
}

test('depth 1 (the raw limit, like Cairn) hashes the next round while one write is in flight', async () => {
  expect(RAW_LIMIT_DEPTH).toBe(1);
  const t = await trace(1, 5);
  expect(t.order).toEqual([0, 1, 2, 3, 4]);
  // When round k's write resolves, round k+1 has been prepared already.
  expect(t.preparedWhenResolved).toEqual([2, 3, 4, 5, 5]);
  expect(t.mostInFlight).toBe(1);
});

test('depth 0 is serial and depth 2 keeps two writes in flight', async () => {
  const serial = await trace(0, 4);
  expect(serial.preparedWhenResolved).toEqual([1, 2, 3, 4]);
  expect(serial.mostInFlight).toBe(1);
  const deep = await trace(2, 5);
  expect(deep.order).toEqual([0, 1, 2, 3, 4]);
  expect(deep.preparedWhenResolved).toEqual([3, 4, 5, 5, 5]);
  expect(deep.mostInFlight).toBe(2);
});

test('a failed write rejects the whole run', async () => {
  await expect(pipelineRounds(3, 1, (k) => k, (k) => (k === 1 ? Promise.reject(new Error('disk full')) : Promise.resolve()))).rejects.toThrow('disk full');
});

test('rawLimit writes every entry bundle and leaf-hash tile of its rounds', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-raw-'));
  try {
    const count = 2 * ROUND + 300; // two full rounds and a short one
    const entries = entryRange(7, 0, count);
    const rate = await rawLimit(join(dir, 'db'), entries);
    expect(rate).toBeGreaterThan(0);
    const db = new Level<Buffer, Buffer>(join(dir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    try {
      const tiles = Math.ceil(count / 256);
      let seen = 0;
      for await (const [key, value] of db.iterator()) {
        const t = key.readUInt32BE(5);
        const part = entries.slice(t * 256, (t + 1) * 256);
        if (key[0] === 0x45) {
          expect(Buffer.from(value).equals(Buffer.from(encodeEntryBundle(part)))).toBe(true);
        } else {
          expect(key[0]).toBe(0x54);
          expect(Buffer.from(value).equals(Buffer.concat(part.map((e) => leafHash(e))))).toBe(true);
        }
        seen++;
      }
      expect(seen).toBe(2 * tiles);
    } finally {
      await db.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
