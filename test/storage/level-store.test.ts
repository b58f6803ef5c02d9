import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
