// The store opens LevelDB with MAX_OPEN_FILES table files: the number that
// storeFileDescriptors, and with it the server's connection cap
// (connectionLimit of src/cli/server.ts), counts on.
import { jest } from '@jest/globals';
import { join } from 'node:path';

const real = await import('level');

/** The options of each Level made, in order. */
const made: Record<string, unknown>[] = [];

jest.unstable_mockModule('level', () => ({
  ...real,
  Level: class extends real.Level<Uint8Array, Uint8Array> {
    constructor(location: string, options?: Record<string, unknown>) {
      super(location, options);
      made.push({ ...options });
    }
  },
}));

const { LevelStore, MAX_OPEN_FILES } = await import('../../src/storage/level-store.js');
const { useTempDir } = await import('../helpers/temp-dir.js');

const dir = useTempDir('cairn-level-options-');

test('a store is opened with maxOpenFiles: MAX_OPEN_FILES, on first start and after', async () => {
  const path = join(dir(), 'db');
  for (let start = 0; start < 2; start++) {
    const store = await LevelStore.open(path);
    await store.close();
  }
  const stores = made.filter((options) => 'maxFileSize' in options);
  expect(stores.map((options) => options.maxOpenFiles)).toEqual([MAX_OPEN_FILES, MAX_OPEN_FILES]);
});
