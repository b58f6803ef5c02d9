// A store that cannot be opened again after a failed write (the disk still
// full, its files damaged meanwhile): every read and write, and /healthz,
// answer 503 STORAGE_FAILED with Retry-After, not 500 nor "ok"; once it can
// be opened, the next request (/healthz too) does so and everything logged is
// there.
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { jest } from '@jest/globals';
import { join } from 'node:path';
import request from 'supertest';
import { createApp } from '../../src/http/app.js';
import { Log } from '../../src/log/log.js';
import { leafHash } from '../../src/merkle/hash.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { StoreUnavailableError } from '../../src/storage/store.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';
import { useTempDir } from '../helpers/temp-dir.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dir = useTempDir('cairn-unavailable-');

/** Makes every later batch write of `store`'s database fail with `message`, as a failing disk would. */
function failBatchWrites(store: LevelStore, message: string): void {
  const db = store.database;
  const batch = db.batch.bind(db);
  db.batch = (() => {
    const real = batch();
    real.write = async () => {
      throw new Error(message);
    };
    return real;
  }) as typeof db.batch;
}

test('reads, writes and /healthz answer 503 while the store cannot be reopened after a failed write, and recover once it can', async () => {
  const path = join(dir(), 'db');
  const store = await LevelStore.open(path);
  const log = await Log.open({ store, signer: testSigner, verifier: testVerifier });
  const app = createApp({ log, verifierKey: vector.verifier_key });
  try {
    const entries = Array.from({ length: 300 }, (_, i) => enc(`entry ${i}`));
    await log.submit(entries);
    const current = await readFile(join(path, 'CURRENT'));
    // The next batch write fails, as on a full disk; the store's files are no longer openable meanwhile.
    failBatchWrites(store, 'No space left on device');
    await writeFile(join(path, 'CURRENT'), 'MANIFEST-999999\n');

    await expect(log.submit([enc('not logged')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    expect(store.available()).toBe(false);
    await expect(store.readTiles([{ level: 0, n: 0 }])).rejects.toBeInstanceOf(StoreUnavailableError);
    for (const path of ['/healthz', '/tile/0/000', '/ct/v1/get-entries?start=0&end=1', '/ct/v1/get-entry-and-proof?leaf_index=5&tree_size=300']) {
      const res = await request(app).get(path);
      expect([path, res.status, res.body.code, Number(res.headers['retry-after'])]).toEqual([path, 503, 'STORAGE_FAILED', 5]);
    }
    const add = await request(app).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.from('not logged either'));
    expect([add.status, add.body.code]).toEqual([503, 'STORAGE_FAILED']);

    // Health checks that come together, or many a second, all see the
    // store as unavailable, and try to open it at most once a second.
    // (Each try made slow, so that the polls come while one is under way.)
    const open = LevelStore.open.bind(LevelStore);
    const opens = jest.spyOn(LevelStore, 'open').mockImplementation(async (at) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return open(at);
    });
    const polls = await Promise.all(Array.from({ length: 8 }, () => request(app).get('/healthz')));
    for (let i = 0; i < 5; i++) polls.push(await request(app).get('/healthz'));
    expect(polls.map((res) => res.status)).toEqual(Array(13).fill(503));
    expect(opens.mock.calls.length).toBeLessThanOrEqual(1);
    opens.mockRestore();

    // The files are put right: /healthz alone, as a load balancer of an idle
    // server polls it, opens the store again (once a second has passed since
    // its last try).
    await writeFile(join(path, 'CURRENT'), current);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(store.available()).toBe(false);
    const health = await request(app).get('/healthz');
    expect([health.status, health.body]).toEqual([200, { status: 'ok', tree_size: 300 }]);
    expect(store.available()).toBe(true);
    expect((await request(app).get('/tile/0/000')).status).toBe(200);
    expect(await store.findLeafHashes([leafHash(entries[299]!), leafHash(enc('not logged'))])).toEqual([299, undefined]);
    const next = await log.submit([enc('after the fault')]);
    expect(next.receipts[0]!.index).toBe(300);
  } finally {
    await log.close();
  }
});

test('a store whose folder is gone after a failed write is not made anew when it is reopened: it stays unavailable until the folder is back', async () => {
  const path = join(dir(), 'db');
  const store = await LevelStore.open(path);
  const log = await Log.open({ store, signer: testSigner, verifier: testVerifier });
  try {
    await log.submit([enc('kept')]);
    failBatchWrites(store, 'Input/output error');
    // The folder goes away (a lost mount, a careless clean-up) while the store is open.
    await rename(path, `${path}.away`);

    await expect(log.submit([enc('not logged')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    expect(await log.storeRecovered()).toBe(false);
    expect(existsSync(path)).toBe(false);

    await rename(`${path}.away`, path);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // recover tries at most once a second
    expect(await log.storeRecovered()).toBe(true);
    expect(log.latest().treeSize).toBe(1);
    expect((await log.submit([enc('after')])).receipts[0]!.index).toBe(1);
  } finally {
    await log.close();
  }
});
