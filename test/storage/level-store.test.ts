import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultStore, InjectedFault } from '../../src/storage/fault-store.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { StoreCorruptError, StoreLockedError } from '../../src/storage/store.js';
import { storeConformance } from './conformance.js';

storeConformance('LevelStore', {
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-store-'));
    return {
      store: await LevelStore.open(dir),
      reopen: () => LevelStore.open(dir),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

// With nothing armed, a FaultStore keeps the contract of the store it wraps.
storeConformance('FaultStore over LevelStore, nothing armed', {
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-store-'));
    return {
      store: new FaultStore(await LevelStore.open(dir)),
      reopen: async () => new FaultStore(await LevelStore.open(dir)),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

test('an armed read fault fails readEntry once, then it reads again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-store-'));
  const store = new FaultStore(await LevelStore.open(dir));
  try {
    const hash = new Uint8Array(32).fill(1);
    const state = { treeSize: 1, rootHash: hash, timestamp: 1, checkpoint: 'c', sth: { tree_size: 1, timestamp: 1, sha256_root_hash: 'x', tree_head_signature: 'y' }, rightEdge: [hash] };
    await store.writeRound({ entries: [Uint8Array.of(7, 8)], leafHashes: [hash], tiles: [], state });
    store.failNextReads(1);
    await expect(store.readEntry(0)).rejects.toBeInstanceOf(InjectedFault);
    expect(Array.from(await store.readEntry(0))).toEqual([7, 8]);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a second opener of the same folder gets StoreLockedError with a clear message', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-store-'));
  const first = await LevelStore.open(dir);
  try {
    const second = LevelStore.open(dir);
    await expect(second).rejects.toBeInstanceOf(StoreLockedError);
    await expect(LevelStore.open(dir)).rejects.toThrow(/in use by another Cairn process/);
  } finally {
    await first.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("a second opener is refused before LevelDB opens the folder, which would rename the first's info log to LOG.old", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-store-'));
  const first = await LevelStore.open(dir);
  try {
    const log = await stat(join(dir, 'LOG'));
    await expect(LevelStore.open(dir)).rejects.toBeInstanceOf(StoreLockedError);
    await expect(LevelStore.inUseOrWritten(dir)).resolves.toBe('another process holds its lock');
    expect((await stat(join(dir, 'LOG'))).ino).toBe(log.ino);
    await expect(stat(join(dir, 'LOG.old'))).rejects.toThrow(/ENOENT/);
  } finally {
    await first.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('an unreadable stored state fails the open and releases the lock', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-store-'));
  try {
    const store = await LevelStore.open(dir);
    await store.database.put(Uint8Array.of(0x53), new TextEncoder().encode('{"treeSize": 1, "trunc'));
    await store.close();
    await expect(LevelStore.open(dir)).rejects.toBeInstanceOf(StoreCorruptError);
    // Not StoreLockedError: the failed open closed the database again.
    await expect(LevelStore.open(dir)).rejects.toThrow(/stored state .* does not decode/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a full bundle with a chunk missing is refused as corrupt, not read short', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-store-'));
  const store = await LevelStore.open(dir);
  try {
    const entries = Array.from({ length: 300 }, (_, i) => Uint8Array.of(i % 256, Math.floor(i / 256), 9));
    const hash = (i: number) => new Uint8Array(32).fill(i % 256);
    const state = { treeSize: 300, rootHash: hash(1), timestamp: 1, checkpoint: 'c', sth: { tree_size: 300, timestamp: 1, sha256_root_hash: 'x', tree_head_signature: 'y' }, rightEdge: [hash(2)] };
    await store.writeRound({ entries, leafHashes: entries.map((_, i) => hash(i)), tiles: [], state });
    const whole = await store.readBundle(0);
    expect(whole.length).toBe(256 * 5);
    // Chunk 5 of bundle 0 ('C' and its number as a big-endian u64).
    await store.database.del(Uint8Array.of(0x43, 0, 0, 0, 0, 0, 0, 0, 5));
    await expect(store.readBundle(0)).rejects.toBeInstanceOf(StoreCorruptError);
    // The partial bundle is read with a range read and is unaffected.
    expect((await store.readBundle(1)).length).toBe(44 * 5);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
