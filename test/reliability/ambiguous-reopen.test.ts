// A round the disk wrote but reported failed (an fsync error), after which
// the store could not be opened again at once (the disk still failing): the
// store holds the round once it opens, later. The log takes it up then, as
// /healthz or the next round opens the store: /healthz says its size, and a
// retry of the entry is a duplicate at its index at once, not another 503
// (the store refusing rounds built on the size before it). And the leaf-hash
// filter, which holds the round's hashes already, stays on. A catch-up by
// /healthz runs beside the rounds: one they overtake is dropped.
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import request from 'supertest';
import { createApp } from '../../src/http/app.js';
import { createMetrics, type Metrics } from '../../src/http/metrics.js';
import { Log, type LogObserver } from '../../src/log/log.js';
import { FaultStore } from '../../src/storage/fault-store.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { checkLog } from '../helpers/check-log.js';
import { passThroughStore } from '../helpers/store.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dir = useTempDir('cairn-ambiguous-reopen-');

/**
 * Makes the next batch write of `store`'s database land, then fail as an
 * fsync error does, with the store's folder gone meanwhile (renamed to
 * `away`), so that opening the store again right after fails too.
 */
function landThenFail(store: LevelStore, path: string, away: string): void {
  const db = store.database;
  const batch = db.batch.bind(db);
  db.batch = (() => {
    const real = batch();
    const write = real.write.bind(real);
    real.write = (async (options: { sync?: boolean }) => {
      await write(options);
      await rename(path, away);
      throw new Error('IO error: fsync: Input/output error');
    }) as unknown as typeof real.write;
    return real;
  }) as typeof db.batch;
}

interface Opened {
  log: Log;
  store: LevelStore;
  path: string;
  away: string;
  failed: unknown[];
  filter: { ready: boolean }[];
  metrics: Metrics;
}

/** A log of 'first' and 'second' whose round of 'third' landed, reported failure, and left the store closed. */
async function afterAmbiguousWrite(): Promise<Opened> {
  const path = join(dir(), 'db');
  const away = `${path}.away`;
  const store = await LevelStore.open(path);
  const failed: unknown[] = [];
  const filter: { ready: boolean }[] = [];
  const metrics = createMetrics({ processMetrics: false });
  const observer: LogObserver = {
    ...metrics.observer,
    roundFailed: (err) => {
      metrics.observer.roundFailed?.(err);
      failed.push(err);
    },
    filterChanged: (state) => {
      metrics.observer.filterChanged?.(state);
      filter.push(state);
    },
  };
  const log = await Log.open({ store, signer: testSigner, verifier: testVerifier, observer });
  expect((await log.leafFilterState()).ready).toBe(true);
  await log.submit([enc('first')]);
  await log.submit([enc('second')]);
  landThenFail(store, path, away);
  // Logged all the same: the 503 says the entry may be, and that a retry is safe.
  await expect(log.submit([enc('third')])).rejects.toMatchObject({
    code: 'STORAGE_FAILED',
    message: 'the entries could not be made durable; they are not logged unless the disk wrote them before it reported the error; a retry is safe: it answers "duplicate": true if they were',
  });
  expect(failed.length).toBe(1);
  expect(store.available()).toBe(false);
  expect(log.latest().treeSize).toBe(2);
  return { log, store, path, away, failed, filter, metrics };
}

test('/healthz opens the store again and the log takes up the round on it: /healthz says its size, and the retry is a duplicate at its index at once', async () => {
  const { log, path, away, failed, filter, metrics } = await afterAmbiguousWrite();
  const app = createApp({ log, verifierKey: vector.verifier_key, metrics });
  try {
    expect((await request(app).get('/healthz')).status).toBe(503); // the folder is still away
    // A round meanwhile, which the store cannot be opened for, writes nothing: the landed one is still taken up below.
    await expect(log.submit([enc('meanwhile')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    await rename(away, path);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // /healthz tries at most once a second
    const health = await request(app).get('/healthz');
    expect([health.status, health.body]).toEqual([200, { status: 'ok', tree_size: 3 }]);
    expect(log.latest().treeSize).toBe(3);
    // Dashboards see that size too, before any round commits.
    expect((await request(app).get('/metrics')).text).toMatch(/^cairn_tree_size 3$/m);

    const retry = await request(app).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.from('third'));
    expect([retry.status, retry.body.index, retry.body.duplicate]).toEqual([200, 2, true]);
    const next = await log.submit([enc('fourth')]);
    expect(next.receipts[0]!.index).toBe(3);
    expect(failed.length).toBe(2);
    // The filter holds the round's hashes already: it stays on.
    expect((await log.leafFilterState()).ready).toBe(true);
    expect(filter.some((state) => !state.ready)).toBe(false);
    await checkLog(log, testVerifier);
  } finally {
    await log.close();
  }
});

test('when a round opens the store again instead, the rounds built on the size before are built again on the store’s: the retry is a duplicate, a new entry logged, no 503', async () => {
  const { log, path, away, failed, filter } = await afterAmbiguousWrite();
  try {
    // A health check while the folder is away: its failed try holds off the
    // next for a second, so it is the round below that opens the store.
    expect(await log.storeRecovered()).toBe(false);
    await rename(away, path);
    // The second submission's round is built while the first's is written, and both are built again, in their order.
    const [retry, later] = await Promise.all([log.submit([enc('third'), enc('fourth')]), log.submit([enc('fifth')])]);
    expect(retry.receipts.map((r) => [r.index, r.duplicate])).toEqual([
      [2, true],
      [3, false],
    ]);
    expect([later.receipts[0]!.index, later.receipts[0]!.duplicate]).toEqual([4, false]);
    expect(log.latest().treeSize).toBe(5);
    // Only the ambiguous round failed; the store's refusals of the stale rounds were not answered.
    expect(failed.length).toBe(1);
    expect((await log.leafFilterState()).ready).toBe(true);
    expect(filter.some((state) => !state.ready)).toBe(false);
    await checkLog(log, testVerifier);
  } finally {
    await log.close();
  }
});

test('a new entry alone, which the filter rules out (no lookup opens the store: the write does), is logged after the landed round', async () => {
  const { log, path, away, failed } = await afterAmbiguousWrite();
  try {
    expect(await log.storeRecovered()).toBe(false);
    await rename(away, path);
    const fresh = await log.submit([enc('fourth')]);
    expect([fresh.receipts[0]!.index, fresh.treeSize]).toEqual([3, 4]);
    expect(failed.length).toBe(1);
    const again = await log.submit([enc('third')]);
    expect([again.receipts[0]!.index, again.receipts[0]!.duplicate]).toEqual([2, true]);
    await checkLog(log, testVerifier);
  } finally {
    await log.close();
  }
});

test('a duplicate-only round that landed, with the clock behind, found by the next round opening the store: that round is signed again past the stored timestamp', async () => {
  const path = join(dir(), 'db');
  const away = `${path}.away`;
  const store = await LevelStore.open(path);
  let now = 20_000_000;
  const failed: unknown[] = [];
  const log = await Log.open({ store, signer: testSigner, verifier: testVerifier, clock: () => now++, observer: { roundFailed: (err) => failed.push(err) } });
  try {
    await log.submit([enc('first')]);
    const before = log.latest();
    now -= 3_600_000; // the clock steps back an hour: rounds sign the last timestamp + 1
    landThenFail(store, path, away);
    await expect(log.submit([enc('first')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    expect(await log.storeRecovered()).toBe(false); // holds off the next try: the round below opens the store
    await rename(away, path);
    // The same tree on the disk, signed at the last timestamp + 1, which the next round signs too: refused, then signed past it.
    const next = await log.submit([enc('second')]);
    expect([next.receipts[0]!.index, next.treeSize]).toEqual([1, 2]);
    expect(log.latest().timestamp).toBe(before.timestamp + 2);
    expect(failed.length).toBe(1);
    await checkLog(log, testVerifier);
  } finally {
    await log.close();
  }
});

test('a catch-up by /healthz that the log overtakes (a round committed while it read the store) leaves the log where it is', async () => {
  const shared = await LevelStore.open(join(dir(), 'db'));
  const live = await Log.open({ store: shared, signer: testSigner, verifier: testVerifier });
  const faults = new FaultStore(shared);
  let hold: Promise<void> | undefined;
  let release = () => {};
  // The next tile read after `hold` is set waits for release().
  const store = passThroughStore(faults, {
    readTiles: async (keys) => {
      const held = hold;
      hold = undefined;
      if (held !== undefined) await held;
      return faults.readTiles(keys);
    },
  });
  const stale = await Log.open({ store, signer: testSigner, verifier: testVerifier });
  try {
    await stale.leafFilterState();
    faults.failNextWrites(1, 'before');
    await expect(stale.submit([enc('never written')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    await live.submit([enc('written by the live one')]); // another sequencer: a wiring bug, but it shows the race
    hold = new Promise((resolve) => (release = resolve));
    const health = stale.storeRecovered(); // reads the store's state of size 1, then waits in its tile read
    // The next round is refused, and its own reload takes up size 1; the one after commits size 2.
    await expect(stale.submit([enc('stale 1')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    expect((await stale.submit([enc('stale 2')])).treeSize).toBe(2);
    release();
    expect(await health).toBe(true);
    expect(stale.latest().treeSize).toBe(2);
    expect((await stale.submit([enc('stale 3')])).treeSize).toBe(3);
    await checkLog(stale, testVerifier);
  } finally {
    await stale.close().catch(() => undefined);
    await live.close().catch(() => undefined);
  }
});
