import { Log } from '../../src/log/log.js';
import { leafHash } from '../../src/merkle/hash.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { ReadBatch, type GetMany } from '../../src/storage/read-batch.js';
import { testSigner, testVerifier } from '../helpers/keys.js';
import { useTempDir } from '../helpers/temp-dir.js';

const key = (...bytes: number[]) => Uint8Array.from(bytes);

/** A getMany over `values` (keyed by the key's first byte) that records each call's keys. */
function recording(values: Map<number, Uint8Array>): GetMany & { calls: number[][] } {
  const calls: number[][] = [];
  const getMany = async (keys: Uint8Array[]) => {
    calls.push(keys.map((k) => k[0]!));
    return keys.map((k) => values.get(k[0]!));
  };
  return Object.assign(getMany, { calls });
}

test('reads asked for in one turn are made with one getMany, and each gets its own value', async () => {
  const getMany = recording(new Map([[1, key(10)], [2, key(20)], [3, key(30)]]));
  const batch = new ReadBatch(getMany);
  const first = [batch.get(key(3)), batch.get(key(1)), batch.get(key(9)), batch.get(key(3))];
  expect(getMany.calls).toEqual([]); // nothing is read before the turn ends
  expect(await Promise.all(first)).toEqual([key(30), key(10), undefined, key(30)]);
  expect(getMany.calls).toEqual([[3, 1, 9, 3]]);
  // The next turn's reads are the next batch.
  expect(await batch.get(key(2))).toEqual(key(20));
  expect(getMany.calls).toEqual([[3, 1, 9, 3], [2]]);
});

test('a read starts at once when the batch is full, and the rest wait for the end of the turn', async () => {
  const getMany = recording(new Map([[1, key(10)], [2, key(20)]]));
  const batch = new ReadBatch(getMany, 2);
  const reads = [1, 2, 1, 2, 1].map((k) => batch.get(key(k)));
  expect(getMany.calls).toEqual([[1, 2], [1, 2]]); // two full batches, before the turn ends
  expect(await Promise.all(reads)).toEqual([key(10), key(20), key(10), key(20), key(10)]);
  expect(getMany.calls).toEqual([[1, 2], [1, 2], [1]]);
  // Exactly full: nothing is left for the end of the turn.
  await Promise.all([batch.get(key(2)), batch.get(key(2))]);
  await new Promise((resolve) => setImmediate(resolve));
  expect(getMany.calls).toEqual([[1, 2], [1, 2], [1], [2, 2]]);
  expect(() => new ReadBatch(getMany, 0)).toThrow(RangeError);
});

test('a failed read fails every read of its batch and no other', async () => {
  let fail: 'reject' | 'throw' | 'short' | undefined = 'reject';
  const batch = new ReadBatch((keys) => {
    if (fail === 'throw') throw new Error('thrown');
    if (fail === 'reject') return Promise.reject(new Error('rejected'));
    if (fail === 'short') return Promise.resolve(keys.slice(1));
    return Promise.resolve(keys.map((k) => key(k[0]! + 1)));
  });
  for (const [mode, message] of [['reject', 'rejected'], ['throw', 'thrown'], ['short', 'getMany answered 1 values for 2 keys']] as const) {
    fail = mode;
    const reads = [batch.get(key(1)), batch.get(key(2))];
    for (const read of reads) await expect(read).rejects.toThrow(message);
  }
  fail = undefined;
  expect(await Promise.all([batch.get(key(1)), batch.get(key(2))])).toEqual([key(2), key(3)]);
});

const dir = useTempDir('cairn-read-batch-');

test("a proof's tile, an entry's chunk and a leaf lookup made in one turn share one LevelDB read", async () => {
  const entries = Array.from({ length: 600 }, (_, i) => new TextEncoder().encode(`entry ${i}`));
  const log = await Log.open({ store: await LevelStore.open(dir()), signer: testSigner, verifier: testVerifier });
  await log.submit(entries);
  await log.close();

  const store = await LevelStore.open(dir());
  try {
    const db = (store as unknown as { db: { getMany: GetMany } }).db;
    const getMany = db.getMany.bind(db);
    const calls: number[] = [];
    db.getMany = (keys) => {
      calls.push(keys.length);
      return getMany(keys);
    };
    const [tiles, entry, found] = await Promise.all([
      store.readTiles([{ level: 0, n: 0 }, { level: 0, n: 1 }]),
      store.readEntry(300),
      store.findLeafHashes([leafHash(entries[7]!), leafHash(new TextEncoder().encode('never logged'))]),
    ]);
    expect(calls).toEqual([5]);
    expect(tiles.map((t) => t?.width)).toEqual([256, 256]);
    expect(Buffer.from(tiles[1]!.hash(0, 44)!).equals(Buffer.from(leafHash(entries[300]!)))).toBe(true);
    expect(new TextDecoder().decode(entry)).toBe('entry 300');
    expect(found).toEqual([7, undefined]);
  } finally {
    await store.close();
  }
});
