// A LogStore for tests that passes every call through to a real one, except
// those a test replaces (to delay, fail or lie about a write); and a real
// LevelStore whose writes fail from now on.
import type { LevelStore } from '../../src/storage/level-store.js';
import type { LogStore } from '../../src/storage/store.js';

/** `inner` with the methods in `overrides` replaced; every other call passes through. */
export function passThroughStore(inner: LogStore, overrides: Partial<LogStore> = {}): LogStore {
  return {
    readState: () => inner.readState(),
    writeRound: (round) => inner.writeRound(round),
    findLeafHashes: (hashes) => inner.findLeafHashes(hashes),
    readTiles: (keys) => inner.readTiles(keys),
    readBundle: (n) => inner.readBundle(n),
    readEntry: (index) => inner.readEntry(index),
    readEntries: (start, count) => inner.readEntries(start, count),
    close: () => inner.close(),
    ...overrides,
  };
}

/** Makes every later batch write of `store`'s database fail, as a failing disk would. */
export function failBatchWrites(store: LevelStore): void {
  const db = store.database;
  const batch = db.batch.bind(db);
  db.batch = (() => {
    const real = batch();
    real.write = async () => {
      throw new Error('Input/output error');
    };
    return real;
  }) as typeof db.batch;
}
