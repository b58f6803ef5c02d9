// The storage contract (src/storage/store.ts), checked against any backend.
import { HashTile } from '../../src/storage/hash-tile.js';
import { StateConflictError, type LogState, type LogStore } from '../../src/storage/store.js';
import { encodeEntryBundle as encodeBundle } from '../../src/merkle/bundle.js';
import { nodeHash } from '../../src/merkle/hash.js';

export interface StoreFactory {
  /** A new, empty store in a place of its own. */
  create(): Promise<{ store: LogStore; reopen: () => Promise<LogStore>; cleanup: () => Promise<void> }>;
}

const bytes = (...values: number[]) => Uint8Array.from(values);
const hash = (seed: number) => new Uint8Array(32).fill(seed);

function state(treeSize: number, root: number, timestamp: number): LogState {
  return {
    treeSize,
    rootHash: hash(root),
    timestamp,
    checkpoint: `origin\n${treeSize}\nroot${root}\n`,
    sth: { tree_size: treeSize, timestamp, sha256_root_hash: 'x', tree_head_signature: 'y' },
    rightEdge: [hash(root)],
  };
}

/** A tile whose bottom row is hash(seed), hash(seed+1), … and whose inner rows are the node hashes above them. */
function tileWith(level: number, n: number, width: number, seed: number): HashTile {
  const tile = new HashTile(level, n);
  let row: Uint8Array[] = Array.from({ length: width }, (_, p) => hash((seed + p) % 256));
  row.forEach((h, p) => tile.set(0, p, h));
  for (let r = 1; r < 8; r++) {
    row = Array.from({ length: Math.floor(row.length / 2) }, (_, p) => nodeHash(row[2 * p]!, row[2 * p + 1]!));
    row.forEach((h, p) => tile.set(r, p, h));
  }
  return tile;
}

/** Entry i of the readEntry tests: 1 to 300 bytes (so some lengths need both bytes of the prefix), unique per i. */
function entryAt(i: number): Uint8Array {
  const length = 1 + ((i * 37) % 300);
  return Uint8Array.from({ length }, (_, j) => (j === 0 ? i % 256 : j === 1 ? Math.floor(i / 256) % 256 : (i + 3 * j) % 256));
}

export function storeConformance(name: string, factory: StoreFactory): void {
  describe(`LogStore conformance: ${name}`, () => {
    let store: LogStore;
    let reopen: () => Promise<LogStore>;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, reopen, cleanup } = await factory.create());
    });
    afterEach(async () => {
      await store.close().catch(() => undefined);
      await cleanup();
    });

    test('a new store has no state and finds nothing', async () => {
      expect(await store.readState()).toBeUndefined();
      expect(await store.findLeafHashes([hash(1)])).toEqual([undefined]);
      expect(await store.readTiles([{ level: 0, n: 0 }])).toEqual([undefined]);
      expect((await store.readBundle(0)).length).toBe(0);
    });

    test('a round is readable after writeRound and after reopening', async () => {
      const entries = [bytes(1), bytes(2, 2), bytes(3, 3, 3)];
      const tile = tileWith(0, 0, 3, 7);
      await store.writeRound({ entries, leafHashes: [hash(11), hash(12), hash(13)], tiles: [tile], state: state(3, 5, 1000) });
      for (const reopened of [false, true]) {
        if (reopened) {
          await store.close();
          store = await reopen();
        }
        const s = store;
        expect((await s.readState())?.treeSize).toBe(3);
        expect(Array.from((await s.readState())!.rootHash)).toEqual(Array.from(hash(5)));
        expect(await s.findLeafHashes([hash(13), hash(99), hash(11)])).toEqual([2, undefined, 0]);
        const [read] = await s.readTiles([{ level: 0, n: 0 }]);
        expect(read?.width).toBe(3);
        expect(Array.from(read!.bottomRow())).toEqual(Array.from(tile.bottomRow()));
        expect(Array.from(read!.hash(1, 0)!)).toEqual(Array.from(tile.hash(1, 0)!));
        expect(Array.from(await s.readBundle(0))).toEqual(Array.from(encodeBundle(entries)));
      }
    });

    test('bundles concatenate across rounds and split at 256 entries', async () => {
      const all: Uint8Array[] = [];
      let size = 0;
      let ts = 1;
      for (const count of [100, 200, 1, 300]) {
        const entries = Array.from({ length: count }, (_, i) => bytes((size + i) % 256, 1 + ((size + i) % 7)));
        all.push(...entries);
        size += count;
        await store.writeRound({
          entries,
          leafHashes: entries.map((_, i) => hash((size - count + i) % 256)),
          tiles: [],
          state: state(size, size % 256, ts++),
        });
      }
      expect(Array.from(await store.readBundle(0))).toEqual(Array.from(encodeBundle(all.slice(0, 256))));
      expect(Array.from(await store.readBundle(1))).toEqual(Array.from(encodeBundle(all.slice(256, 512))));
      expect(Array.from(await store.readBundle(2))).toEqual(Array.from(encodeBundle(all.slice(512))));
    });

    test('refuses to shrink, to fork a size, to skip entries or to go back in time, writing nothing', async () => {
      await store.writeRound({ entries: [bytes(1), bytes(2)], leafHashes: [hash(1), hash(2)], tiles: [], state: state(2, 9, 100) });
      const attempts = [
        { entries: [], leafHashes: [], tiles: [], state: state(1, 9, 200) }, // smaller
        { entries: [], leafHashes: [], tiles: [], state: state(2, 8, 200) }, // split view
        { entries: [bytes(3)], leafHashes: [hash(3)], tiles: [], state: state(4, 7, 200) }, // size mismatch
        { entries: [bytes(3)], leafHashes: [hash(3)], tiles: [], state: state(3, 7, 100) }, // timestamp not increasing
        { entries: [bytes(3)], leafHashes: [], tiles: [], state: state(3, 7, 200) }, // hashes missing
      ];
      for (const round of attempts) {
        await expect(store.writeRound(round)).rejects.toBeInstanceOf(StateConflictError);
      }
      expect((await store.readState())?.treeSize).toBe(2);
      expect(await store.findLeafHashes([hash(3)])).toEqual([undefined]);
      // The same size and root with a later timestamp (an STH re-sign) is fine.
      await store.writeRound({ entries: [], leafHashes: [], tiles: [], state: state(2, 9, 300) });
      expect((await store.readState())?.timestamp).toBe(300);
    });

    test('tiles grow by rewriting and keep their earlier hashes', async () => {
      await store.writeRound({ entries: [bytes(1)], leafHashes: [hash(1)], tiles: [tileWith(0, 0, 1, 3)], state: state(1, 1, 1) });
      const big = Array.from({ length: 255 }, (_, i) => bytes(i + 1, 0));
      await store.writeRound({ entries: big, leafHashes: big.map((_, i) => hash(i + 2)), tiles: [tileWith(0, 0, 256, 3)], state: state(256, 2, 2) });
      const [tile] = await store.readTiles([{ level: 0, n: 0 }]);
      expect(tile?.full).toBe(true);
      expect(Array.from(tile!.hash(0, 0)!)).toEqual(Array.from(hash(3)));
      const want = tileWith(0, 0, 256, 3);
      for (let r = 0; r < 8; r++) {
        for (let p = 0; p < 256 / 2 ** r; p++) expect(Buffer.from(tile!.hash(r, p)!).equals(Buffer.from(want.hash(r, p)!))).toBe(true);
      }
    });

    /** Writes rounds of entryAt(size), entryAt(size+1), …; returns the new size. */
    async function writeEntries(s: LogStore, from: number, counts: number[], ts: number): Promise<number> {
      let size = from;
      for (const count of counts) {
        const entries = Array.from({ length: count }, (_, i) => entryAt(size + i));
        size += count;
        await s.writeRound({ entries, leafHashes: entries.map((_, i) => hash((size - count + i) % 256)), tiles: [], state: state(size, size % 256, ts++) });
      }
      return size;
    }

    async function expectEntries(s: LogStore, size: number): Promise<void> {
      for (let i = 0; i < size; i++) {
        const got = await s.readEntry(i);
        if (!Buffer.from(got).equals(Buffer.from(entryAt(i)))) throw new Error(`readEntry(${i}) returned the wrong bytes`);
      }
      for (let n = 0; n * 256 < size; n++) {
        const want = encodeBundle(Array.from({ length: Math.min(256, size - n * 256) }, (_, i) => entryAt(n * 256 + i)));
        expect(Buffer.from(await s.readBundle(n)).equals(Buffer.from(want))).toBe(true);
      }
      await expect(s.readEntry(size)).rejects.toThrow(Error);
      // Ranges that start and end on either side of chunk (16) and bundle (256) boundaries.
      const starts = [0, 1, 15, 16, 17, 255, 256, 257, size - 1].filter((start) => start >= 0 && start < size);
      for (const start of starts) {
        for (const count of [1, 2, 16, 17, 240, 300, size - start]) {
          if (count < 1 || start + count > size) continue;
          const got = await s.readEntries(start, count);
          expect(got).toHaveLength(count);
          got.forEach((e, i) => {
            if (!Buffer.from(e).equals(Buffer.from(entryAt(start + i)))) throw new Error(`readEntries(${start}, ${count})[${i}] returned the wrong bytes`);
          });
        }
      }
      await expect(s.readEntries(size, 1)).rejects.toThrow(Error);
      if (size > 0) await expect(s.readEntries(size - 1, 2)).rejects.toThrow(/not stored/);
    }

    test('readEntry returns every entry after rounds of assorted sizes, before and after reopening', async () => {
      let size = 0;
      let ts = 1;
      for (const count of [1, 15, 16, 17, 255, 256, 300, 1, 33]) {
        size = await writeEntries(store, size, [count], ts++);
        await expectEntries(store, size);
      }
      expect(size).toBe(894);
      await store.close();
      store = await reopen();
      await expectEntries(store, size);
    });

    test('readEntry rejects indexes that are not stored, and bad indexes with RangeError', async () => {
      await expect(store.readEntry(0)).rejects.toThrow(Error);
      await writeEntries(store, 0, [20], 1);
      for (const index of [20, 21, 256, 2 ** 40, Number.MAX_SAFE_INTEGER]) await expect(store.readEntry(index)).rejects.toThrow(Error);
      for (const index of [-1, 1.5, NaN, 2 ** 53]) await expect(store.readEntry(index)).rejects.toBeInstanceOf(RangeError);
      for (const [start, count] of [[-1, 1], [1.5, 1], [0, 0], [0, -1], [0, 1.5], [0, NaN], [2 ** 53, 1]] as const) {
        await expect(store.readEntries(start, count)).rejects.toBeInstanceOf(RangeError);
      }
      for (const [start, count] of [[20, 1], [19, 2], [0, 21], [2 ** 40, 1]] as const) await expect(store.readEntries(start, count)).rejects.toThrow(/not stored/);
      // An entry handed out is the caller's: changing it changes nothing stored.
      const entry = await store.readEntry(19);
      entry.fill(0);
      expect(Buffer.from(await store.readEntry(19)).equals(Buffer.from(entryAt(19)))).toBe(true);
      await writeEntries(store, 20, [1], 2);
      expect(Buffer.from(await store.readEntry(19)).equals(Buffer.from(entryAt(19)))).toBe(true);
    });

    test('a partial group of entries keeps growing across reopens', async () => {
      let size = 0;
      let ts = 1;
      for (const counts of [[5], [7], [1, 2], [20], [3], [200, 30], [1]]) {
        size = await writeEntries(store, size, counts, ts);
        ts += counts.length;
        await store.close();
        store = await reopen();
        await expectEntries(store, size);
      }
      expect(size).toBe(269);
    });

    test('a round that is refused leaves the entries as they were', async () => {
      await writeEntries(store, 0, [5], 1);
      const entries = [entryAt(5), entryAt(6)];
      await expect(store.writeRound({ entries, leafHashes: [hash(5)], tiles: [], state: state(7, 1, 2) })).rejects.toBeInstanceOf(StateConflictError);
      await expect(store.readEntry(5)).rejects.toThrow(Error);
      const size = await writeEntries(store, 5, [3], 3);
      await expectEntries(store, size);
    });
  });
}
