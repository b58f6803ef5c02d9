// LevelStore.recover, which /healthz calls: after a failed write it tries to
// open the store again at most once a second, and that second is measured on
// a monotonic clock, so a step of the system clock back during the outage
// does not stop the retries for the size of the step. The clocks are spied
// on; nothing waits for real time.
import { createHash } from 'node:crypto';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { LevelStore } from '../../src/storage/level-store.js';
import type { LogState } from '../../src/storage/store.js';
import { failBatchWrites } from '../helpers/store.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { spyOnClocks } from '../helpers/spied-clocks.js';

const tempDir = useTempDir('cairn-recover-');
const hash = (i: number) => createHash('sha256').update(String(i)).digest();

function stateOf(size: number): LogState {
  return { treeSize: size, rootHash: hash(-size), timestamp: size, checkpoint: `checkpoint ${size}`, sth: { tree_size: size, timestamp: size, sha256_root_hash: 'x', tree_head_signature: 'y' }, rightEdge: [hash(-size)] };
}

async function writeEntry(store: LevelStore, size: number): Promise<void> {
  const entries = [new Uint8Array([1 + size])];
  await store.writeRound({ entries, leafHashes: [hash(size)], tiles: [], state: stateOf(size + 1) });
}

afterEach(() => {
  jest.restoreAllMocks();
});

test('a step of the clock back during an outage does not hold off the next try to open the store: the throttle runs on a monotonic clock', async () => {
  const path = join(tempDir(), 'db');
  const store = await LevelStore.open(path);
  try {
    await writeEntry(store, 0);
    failBatchWrites(store);
    await rename(path, `${path}.away`); // the folder goes away: opening it again fails
    await expect(writeEntry(store, 1)).rejects.toThrow();
    expect(store.available()).toBe(false);

    const clocks = spyOnClocks({ wall: Date.now(), mono: performance.now() });

    expect(await store.recover()).toBe(false); // tried, and failed: the next try is a second away
    await rename(`${path}.away`, path);
    expect(await store.recover()).toBe(false); // within that second: not tried

    clocks.wall -= 3_600_000; // the system clock steps back an hour
    clocks.mono += 1001; // while a second passes
    expect(await store.recover()).toBe(true);
    expect(store.available()).toBe(true);
    expect((await store.readState())?.treeSize).toBe(1);
  } finally {
    jest.restoreAllMocks();
    await store.close();
  }
});
