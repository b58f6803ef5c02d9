// The storage contract (src/storage/store.ts), checked against any backend.
import { HashTile } from '../../src/storage/hash-tile.js';
import { StateConflictError, type LogState, type LogStore } from '../../src/storage/store.js';
import { encodeEntryBundle as encodeBundle } from '../../src/merkle/bundle.js';

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

function tileWith(level: number, n: number, width: number, seed: number): HashTile {
  const tile = new HashTile(level, n);
  for (let p = 0; p < width; p++) tile.set(0, p, hash((seed + p) % 256));
  for (let r = 1; r < 8; r++) for (let p = 0; p < Math.floor(width / 2 ** r); p++) tile.set(r, p, hash((seed + 100 * r + p) % 256));
  return tile;
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
      expect(Array.from(tile!.hash(7, 1)!)).toEqual(Array.from(hash((3 + 700 + 1) % 256)));
    });
  });
}
