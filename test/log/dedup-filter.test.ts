// The leaf-hash filter lets a round skip the store lookups of hashes that
// cannot be logged; dedup must stay exact before, during and after it is
// filled, when it is off, when filling it fails (and once it is filled again
// later), and after a round the disk wrote but reported failed (kept on: it
// holds that round's hashes).
import { join } from 'node:path';
import { Log, type LogOptions } from '../../src/log/log.js';
import { FaultStore } from '../../src/storage/fault-store.js';
import { LevelStore } from '../../src/storage/level-store.js';
import type { HashTile } from '../../src/storage/hash-tile.js';
import type { LogStore, LogState, RoundWrite } from '../../src/storage/store.js';
import { checkLog } from '../helpers/check-log.js';
import { testSigner, testVerifier } from '../helpers/keys.js';
import { passThroughStore } from '../helpers/store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const enc = (s: string) => new TextEncoder().encode(s);
const entries = (tag: string, from: number, count: number) => Array.from({ length: count }, (_, i) => enc(`${tag} ${from + i}`));

/** A store that counts the hashes it is asked to look up, and can slow or fail the leaf filter's tile read. */
class Watching implements LogStore {
  asked = 0;
  firstTileRead: 'normal' | 'slow' | 'fail' = 'normal';
  private fillReads = 0;
  constructor(private readonly inner: LogStore) {}
  readState(): Promise<LogState | undefined> {
    return this.inner.readState();
  }
  writeRound(round: RoundWrite): Promise<void> {
    return this.inner.writeRound(round);
  }
  findLeafHashes(hashes: readonly Uint8Array[]): Promise<(number | undefined)[]> {
    this.asked += hashes.length;
    return this.inner.findLeafHashes(hashes);
  }
  async readTiles(keys: readonly { level: number; n: number }[]): Promise<(HashTile | undefined)[]> {
    // The filter's read: all three level-0 tiles of the 700 entries at once.
    const filling = keys.length === 3 && keys.every((k, i) => k.level === 0 && k.n === i);
    if (filling && this.fillReads++ === 0) {
      if (this.firstTileRead === 'fail') throw new Error('injected tile read failure');
      if (this.firstTileRead === 'slow') await new Promise((resolve) => setTimeout(resolve, 300));
    }
    return this.inner.readTiles(keys);
  }
  readEntry(index: number): Promise<Uint8Array> {
    return this.inner.readEntry(index);
  }
  readBundle(n: number): Promise<Uint8Array> {
    return this.inner.readBundle(n);
  }
  readEntries(start: number, count: number): Promise<Uint8Array[]> {
    return this.inner.readEntries(start, count);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const dir = useTempDir('cairn-filter-');
beforeEach(async () => {
  // 700 entries logged by an earlier run of the log.
  const log = await Log.open({ store: await LevelStore.open(dir()), signer: testSigner, verifier: testVerifier });
  await log.submit(entries('old', 0, 400));
  await log.submit(entries('old', 400, 300));
  await log.close();
});

async function reopen(store: LogStore, extra: Partial<LogOptions> = {}): Promise<Log> {
  return Log.open({ store, signer: testSigner, verifier: testVerifier, ...extra });
}

/** Submits `batch` and checks each receipt's index and duplicate flag against `expected` (undefined: new). */
async function expectIndexes(log: Log, batch: Uint8Array[], expected: (number | undefined)[]): Promise<void> {
  const { receipts } = await log.submit(batch);
  receipts.forEach((r, i) => {
    const want = expected[i];
    expect({ i, duplicate: r.duplicate, index: want === undefined ? 'new' : r.index }).toEqual({ i, duplicate: want !== undefined, index: want === undefined ? 'new' : want });
  });
}

test('once filled, a round asks the store only about hashes that may be logged, and still finds every old one', async () => {
  const store = new Watching(await LevelStore.open(dir()));
  const log = await reopen(store);
  try {
    expect(await log.leafFilterState()).toEqual({ ready: true, bytes: expect.any(Number) });
    store.asked = 0;
    const batch = [...entries('new', 0, 500), enc('old 3'), enc('old 699'), enc('old 256')];
    await expectIndexes(log, batch, [...new Array<undefined>(500), 3, 699, 256]);
    // The three old ones, and the few new ones the filter cannot rule out.
    expect(store.asked).toBeGreaterThanOrEqual(3);
    expect(store.asked).toBeLessThan(3 + 50);
    // What this run logged is in the filter too.
    await expectIndexes(log, [enc('new 0'), enc('new 499')], [700, 1199]);
    expect(await log.findLeaf(new Uint8Array(32))).toBeUndefined();
  } finally {
    await log.close();
  }
});

test('rounds while the filter is being filled look up every hash, and their hashes end up in it', async () => {
  const store = new Watching(await LevelStore.open(dir()));
  store.firstTileRead = 'slow';
  const log = await reopen(store);
  try {
    store.asked = 0;
    await expectIndexes(log, [enc('old 5'), enc('during 1'), enc('during 1')], [5, undefined, 700]);
    expect(store.asked).toBe(2); // distinct hashes of the round, all looked up
    expect((await log.leafFilterState()).ready).toBe(true);
    store.asked = 0;
    await expectIndexes(log, [enc('during 1'), enc('old 6')], [700, 6]);
    expect(store.asked).toBeGreaterThanOrEqual(2);
  } finally {
    await log.close();
  }
});

test('with no memory for the filter, or when filling it fails, every hash is looked up and dedup is unchanged', async () => {
  for (const setup of ['off', 'fail'] as const) {
    const store = new Watching(await LevelStore.open(dir()));
    const failures: unknown[] = [];
    if (setup === 'fail') store.firstTileRead = 'fail';
    const told: { ready: boolean; bytes: number }[] = [];
    const observer = { filterFailed: (err: unknown) => failures.push(err), filterChanged: (state: { ready: boolean; bytes: number }) => told.push(state) };
    const log = await reopen(store, setup === 'off' ? { leafFilterBytes: 0, observer } : { observer });
    try {
      expect((await log.leafFilterState()).ready).toBe(false);
      expect(failures.length).toBe(setup === 'fail' ? 1 : 0);
      expect(told.at(-1)?.ready).toBe(false);
      store.asked = 0;
      const fresh = `${setup} fresh`;
      await expectIndexes(log, [enc('old 1'), enc(fresh), enc('old 2')], [1, undefined, 2]);
      expect(store.asked).toBe(3);
    } finally {
      await log.close();
    }
  }
});

test('a sequencer that finds the store written by another stops trusting its filter, and says so', async () => {
  const shared = await LevelStore.open(dir());
  const live = await Log.open({ store: shared, signer: testSigner, verifier: testVerifier });
  const told: { ready: boolean; bytes: number }[] = [];
  const stale = await Log.open({ store: shared, signer: testSigner, verifier: testVerifier, observer: { filterChanged: (state) => told.push(state) } });
  try {
    expect((await stale.leafFilterState()).ready).toBe(true);
    expect(told).toEqual([{ ready: true, bytes: expect.any(Number) }]);
    expect(told[0]!.bytes).toBeGreaterThan(0);
    await live.submit([enc('written by the live one')]);
    // The stale one's round conflicts with the stored state; it reloads it.
    await expect(stale.submit([enc('stale 1')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    expect((await stale.leafFilterState()).ready).toBe(false);
    expect(told.at(-1)).toEqual({ ready: false, bytes: expect.any(Number) });
    // Its filter never saw the live one's entry: dedup must ask the store.
    await expectIndexes(stale, [enc('written by the live one')], [700]);
  } finally {
    await stale.close().catch(() => undefined);
    await live.close().catch(() => undefined);
  }
});

test('a round the disk wrote but reported failed is taken up with the filter on: it holds the round’s hashes already', async () => {
  const store = new FaultStore(await LevelStore.open(dir()));
  const told: { ready: boolean; bytes: number }[] = [];
  const log = await Log.open({ store, signer: testSigner, verifier: testVerifier, observer: { filterChanged: (state) => told.push(state) } });
  try {
    expect((await log.leafFilterState()).ready).toBe(true);
    store.failNextWrites(1, 'after');
    await expect(log.submit([enc('landed 1'), enc('landed 2')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    // (A round after the reload.)
    await expectIndexes(log, [enc('landed 2'), enc('after 1'), enc('old 9')], [701, undefined, 9]);
    expect(log.latest().treeSize).toBe(703);
    expect((await log.leafFilterState()).ready).toBe(true);
    expect(told.every((state) => state.ready)).toBe(true);
  } finally {
    await log.close();
  }
});

test('a store another sequencer grew to the size of a round that failed, with other entries, is not taken for that round: the filter is abandoned', async () => {
  const shared = await LevelStore.open(dir());
  const live = await Log.open({ store: shared, signer: testSigner, verifier: testVerifier });
  const told: { ready: boolean; bytes: number }[] = [];
  const store = new FaultStore(shared);
  const stale = await Log.open({ store, signer: testSigner, verifier: testVerifier, observer: { filterChanged: (state) => told.push(state) } });
  try {
    expect((await stale.leafFilterState()).ready).toBe(true);
    store.failNextWrites(1, 'before');
    await expect(stale.submit([enc('never written')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    await live.submit([enc('written by the live one')]); // size 701, as the failed round's, another root
    // The stale one's next round conflicts with the stored state; it reloads it.
    await expect(stale.submit([enc('stale 1')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    // (A round after the reload.)
    await expectIndexes(stale, [enc('written by the live one'), enc('never written')], [700, undefined]);
    expect(stale.latest().treeSize).toBe(702);
    expect((await stale.leafFilterState()).ready).toBe(false);
    expect(told.at(-1)).toEqual({ ready: false, bytes: expect.any(Number) });
    await checkLog(stale, testVerifier);
  } finally {
    await stale.close().catch(() => undefined);
    await live.close().catch(() => undefined);
  }
});

/** Where a store call stops, once armed, until the test lets it go on; `reached` resolves when a call got there. */
class Hold {
  private armed = false;
  private arrive!: () => void;
  private go!: () => void;
  readonly reached = new Promise<void>((resolve) => (this.arrive = resolve));
  private readonly gate = new Promise<void>((resolve) => (this.go = resolve));
  arm(): void {
    this.armed = true;
  }
  /** Whether the call was held. */
  async pass(): Promise<boolean> {
    if (!this.armed) return false;
    this.armed = false;
    this.arrive();
    await this.gate;
    return true;
  }
  release(): void {
    this.go();
  }
}

test('a reload that read the store while a round landed, and loaded its tree while the round’s write failed, takes that round up with the filter on', async () => {
  const inner = await LevelStore.open(dir());
  let failNextWrite = false;
  const failure = new Hold(); // the write of round B: landed, its failure not yet reported
  const tiles = new Hold(); // the tree's load in the reload /healthz started
  const state = new Hold(); // the state read of the reload round B's failure starts
  const store = passThroughStore(inner, {
    writeRound: async (round) => {
      if (failNextWrite) {
        failNextWrite = false;
        throw new Error('injected write failure, nothing written');
      }
      await inner.writeRound(round);
      if (await failure.pass()) throw new Error('injected fsync failure after the data landed');
    },
    readTiles: async (keys) => {
      await tiles.pass();
      return inner.readTiles(keys);
    },
    readState: async () => {
      await state.pass();
      return inner.readState();
    },
  });
  const told: { ready: boolean; bytes: number }[] = [];
  const adopted: number[] = [];
  const log = await Log.open({
    store,
    signer: testSigner,
    verifier: testVerifier,
    observer: { filterChanged: (s) => told.push(s), storeStateAdopted: ({ treeSize }) => adopted.push(treeSize) },
  });
  try {
    expect((await log.leafFilterState()).ready).toBe(true);
    // Round A fails with nothing written: it is the log's unconfirmed round, so /healthz reloads.
    failNextWrite = true;
    await expect(log.submit([enc('a 1')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    // Round B lands on disk; its write has not reported yet.
    failure.arm();
    const b = log.submit([enc('b 1'), enc('b 2')]);
    await failure.reached;
    // /healthz's reload reads B's state (A's is not it), and stops loading B's tree.
    tiles.arm();
    const healthz = log.storeRecovered();
    await tiles.reached;
    // B's write now fails: its handler sets it as unconfirmed and reloads, stopped at its state read.
    state.arm();
    failure.release();
    await expect(b).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    await state.reached;
    // /healthz's reload goes on with the tree it loaded: it is round B's.
    tiles.release();
    expect(await healthz).toBe(true);
    state.release();
    expect(log.latest().treeSize).toBe(702);
    expect(adopted).toEqual([702]);
    expect((await log.leafFilterState()).ready).toBe(true);
    expect(told.every((s) => s.ready)).toBe(true);
    await expectIndexes(log, [enc('b 2'), enc('after b'), enc('old 7')], [701, undefined, 7]);
    expect(told.every((s) => s.ready)).toBe(true);
    await checkLog(log, testVerifier);
  } finally {
    await log.close();
  }
});

/** The store with the leaf filter's fill (its read of the three level-0 tiles of the 700 entries) failing `failures` times, as with too many open files. */
function failingFill(inner: LogStore, failures: number): { store: LogStore; fillReads: () => number } {
  let reads = 0;
  const store = passThroughStore(inner, {
    readTiles: async (keys) => {
      if (keys.length === 3 && keys.every((k, i) => k.level === 0 && k.n === i) && reads++ < failures) {
        throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
      }
      return inner.readTiles(keys);
    },
  });
  return { store, fillReads: () => reads };
}

test('a fill of the filter that failed is tried again once a round is committed or the store found available, 30 s after it failed at the soonest, and then the filter is ready', async () => {
  for (const after of ['round', 'healthz'] as const) {
    const { store, fillReads } = failingFill(await LevelStore.open(dir()), 1);
    let now = 0;
    const failures: unknown[] = [];
    const told: { ready: boolean; bytes: number }[] = [];
    const log = await reopen(store, {
      monotonic: () => now,
      observer: { filterFailed: (err) => failures.push(err), filterChanged: (state) => told.push(state) },
    });
    try {
      const size = log.latest().treeSize; // 700, and the 4 the first pass logged
      expect((await log.leafFilterState()).ready).toBe(false);
      expect(failures).toEqual([expect.objectContaining({ code: 'EMFILE' })]);
      expect(told.at(-1)?.ready).toBe(false);
      // Too soon: not tried again.
      now = 29_999;
      await expectIndexes(log, [enc(`${after} soon`), enc('old 4')], [undefined, 4]);
      expect(await log.storeRecovered()).toBe(true);
      expect((await log.leafFilterState()).ready).toBe(false);
      expect(fillReads()).toBe(1);
      now = 30_000;
      if (after === 'round') await expectIndexes(log, [enc(`${after} later`)], [undefined]);
      else expect(await log.storeRecovered()).toBe(true);
      expect((await log.leafFilterState()).ready).toBe(true);
      expect(fillReads()).toBe(2);
      expect(failures).toHaveLength(1);
      expect(told.at(-1)).toEqual({ ready: true, bytes: expect.any(Number) });
      // Filled: old entries and this run's are still found.
      await expectIndexes(log, [enc('old 0'), enc('old 699'), enc(`${after} soon`), enc(`${after} new`)], [0, 699, size, undefined]);
      // and no more tries.
      now = 1_000_000;
      await expectIndexes(log, [enc(`${after} last`)], [undefined]);
      expect(fillReads()).toBe(2);
    } finally {
      await log.close();
    }
  }
});

test('a fill that failed part of the way is taken up from the tile it stopped at, and the filter then rules out no logged hash', async () => {
  const inner = await LevelStore.open(dir());
  const fills: number[][] = [];
  const store = passThroughStore(inner, {
    readTiles: async (keys) => {
      const read = await inner.readTiles(keys);
      if (!keys.every((k) => k.level === 0)) return read;
      fills.push(keys.map((k) => k.n));
      // The first fill gets tile 0 but not tile 1 (as if the store lost it for a moment).
      return fills.length === 1 ? read.map((tile, i) => (i === 1 ? undefined : tile)) : read;
    },
  });
  let now = 0;
  const log = await reopen(store, { monotonic: () => now });
  try {
    expect((await log.leafFilterState()).ready).toBe(false);
    now = 30_000;
    await expectIndexes(log, [enc('new 1')], [undefined]);
    expect((await log.leafFilterState()).ready).toBe(true);
    expect(fills.slice(0, 2)).toEqual([
      [0, 1, 2],
      [1, 2],
    ]);
    const old = entries('old', 0, 700);
    await expectIndexes(log, old, [...old.keys()]);
  } finally {
    await log.close();
  }
});

test('a filter given up for its memory is not filled, nor filled again after a failed fill', async () => {
  const { store, fillReads } = failingFill(await LevelStore.open(dir()), 1);
  let now = 0;
  const told: { ready: boolean; bytes: number }[] = [];
  // Too little memory for even the first layer: given up at once, so no tile is read for it.
  const log = await reopen(store, { monotonic: () => now, leafFilterBytes: 1024, observer: { filterChanged: (state) => told.push(state) } });
  try {
    expect(await log.leafFilterState()).toEqual({ ready: false, bytes: 0 });
    expect(fillReads()).toBe(0);
    now = 1_000_000;
    await expectIndexes(log, [enc('new 1'), enc('old 3')], [undefined, 3]);
    expect(await log.storeRecovered()).toBe(true);
    expect(await log.leafFilterState()).toEqual({ ready: false, bytes: 0 });
    expect(fillReads()).toBe(0);
    expect(told.every((state) => !state.ready)).toBe(true);
  } finally {
    await log.close();
  }
});

test('a fill that keeps failing is tried again ever less often (30 s, then twice as long each time, up to 30 min), told again only when its message changes or it got further, and ready once it succeeds', async () => {
  const inner = await LevelStore.open(dir());
  let mode: 'emfile' | 'eio' | 'lose tile 1' | 'ok' = 'emfile';
  let reads = 0;
  const store = passThroughStore(inner, {
    readTiles: async (keys) => {
      // The fill's reads: the level-0 tiles of the 700 entries from where it stopped.
      if (keys.length < 2 || !keys.every((k) => k.level === 0) || keys.at(-1)!.n !== 2) return inner.readTiles(keys);
      reads++;
      if (mode === 'emfile') throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
      if (mode === 'eio') throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
      const read = await inner.readTiles(keys);
      return mode === 'lose tile 1' ? read.map((tile, i) => (keys[i]!.n === 1 ? undefined : tile)) : read;
    },
  });
  let now = 0;
  let round = 0;
  const failures: string[] = [];
  const log = await reopen(store, { monotonic: () => now, observer: { filterFailed: (err) => failures.push((err as Error).message) } });
  /** A round committed at `at` ms (which may try the fill again), then the filter's readiness once that try is over. */
  const roundAt = async (at: number): Promise<boolean> => {
    now = at;
    await expectIndexes(log, [enc(`round ${round++}`)], [undefined]);
    return (await log.leafFilterState()).ready;
  };
  try {
    expect((await log.leafFilterState()).ready).toBe(false);
    expect(reads).toBe(1);
    // Each wait, from the failure before: one ms short of it is too soon.
    let failedAt = 0;
    for (const wait of [30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_800_000, 1_800_000, 1_800_000]) {
      expect(await roundAt(failedAt + wait - 1)).toBe(false);
      expect(await log.storeRecovered()).toBe(true);
      expect((await log.leafFilterState()).ready).toBe(false);
      const before = reads;
      expect(await roundAt(failedAt + wait)).toBe(false);
      expect(reads).toBe(before + 1);
      failedAt += wait;
    }
    // Ten failed fills with one message: told once.
    expect(reads).toBe(10);
    expect(failures).toEqual(['EMFILE: too many open files']);
    // Another message is told, and the wait keeps growing (it is at its cap).
    mode = 'eio';
    expect(await roundAt(failedAt + 1_800_000)).toBe(false);
    failedAt += 1_800_000;
    expect(failures).toEqual(['EMFILE: too many open files', 'EIO: i/o error, read']);
    // A fill that got further (tile 0 added, tile 1 lost) is told, and the wait is 30 s again.
    mode = 'lose tile 1';
    expect(await roundAt(failedAt + 1_800_000)).toBe(false);
    failedAt += 1_800_000;
    expect(failures).toHaveLength(3);
    expect(failures[2]).toMatch(/level-0 tile 1 is missing or short/);
    expect(await roundAt(failedAt + 30_000)).toBe(false);
    failedAt += 30_000;
    expect(failures).toHaveLength(3);
    expect(reads).toBe(13);
    mode = 'ok';
    expect(await roundAt(failedAt + 59_999)).toBe(false);
    expect(await roundAt(failedAt + 60_000)).toBe(true);
    expect(reads).toBe(14);
    expect(failures).toHaveLength(3);
    const old = entries('old', 0, 700);
    await expectIndexes(log, old, [...old.keys()]);
  } finally {
    await log.close();
  }
});

test('a fill stops reading tiles once the filter is given up', async () => {
  // A log of 5,000 entries: 20 level-0 tiles, two turns of the fill (16 tiles, then 4).
  const log0 = await Log.open({ store: await LevelStore.open(join(dir(), 'big')), signer: testSigner, verifier: testVerifier });
  await log0.submit(entries('big', 0, 5000));
  await log0.close();
  const shared = await LevelStore.open(join(dir(), 'big'));
  const read: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const live = await Log.open({ store: shared, signer: testSigner, verifier: testVerifier });
  const stale = await Log.open({
    store: passThroughStore(shared, {
      readTiles: async (keys) => {
        if (keys.length < 2 || !keys.every((k) => k.level === 0)) return shared.readTiles(keys);
        // The fill's turns; the first waits until the filter has been given up.
        read.push(...keys.map((k) => k.n));
        if (read.length === keys.length) await gate;
        return shared.readTiles(keys);
      },
    }),
    signer: testSigner,
    verifier: testVerifier,
  });
  try {
    // Another writer: the stale one's round conflicts, it reloads and gives up its filter.
    await live.submit([enc('written by the live one')]);
    await expect(stale.submit([enc('stale 1')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    release();
    expect(await stale.leafFilterState()).toEqual({ ready: false, bytes: 0 });
    expect(read).toEqual([...Array(16).keys()]);
  } finally {
    await stale.close();
    await live.close();
  }
});
