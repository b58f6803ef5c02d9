// A stalled disk (a hung fsync: the store's write never returns) must be
// visible: the log tells which round is under way and for how long, /healthz
// answers 503 once that is past STALLED_HEALTH_MS, and answers at all, within
// HEALTH_WAIT_MS, when the store it waits for does not; the server puts the
// round's age in /metrics and warns of it in its log, also as it stops. The
// stall is a FaultStore whose writes the test holds; the log's monotonic
// clock is the test's, so that no assertion depends on real time.
import { join } from 'node:path';
import request from 'supertest';
import { startServer } from '../../src/cli/server.js';
import { createApp, HEALTH_WAIT_MS } from '../../src/http/app.js';
import { Log, type RoundProgress } from '../../src/log/log.js';
import { STALLED_HEALTH_MS, STALLED_ROUND_MS, STALLED_ROUND_MESSAGE, STALLED_ROUND_OVER_MESSAGE, STALLED_STOP_MESSAGE } from '../../src/log/stalled-rounds.js';
import { FaultStore } from '../../src/storage/fault-store.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { capture } from '../helpers/log-lines.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';
import { passThroughStore } from '../helpers/store.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { openHarness, type Harness } from './helpers.js';

const dir = useTempDir('cairn-stalled-disk-');
let h: Harness | undefined;
afterEach(async () => {
  h?.store.heal();
  await h?.close();
  h = undefined;
});

/** Resolves once `cond` holds (polling, bounded). */
async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

/** A harness whose log's monotonic clock the test moves (`clock.now += ms`). */
async function harnessWithClock(): Promise<{ h: Harness; clock: { now: number } }> {
  const clock = { now: 1_000_000 };
  const harness = await openHarness({ monotonic: () => clock.now });
  return { h: harness, clock };
}

const enc = (s: string) => new TextEncoder().encode(s);
const post = (app: Harness['app'], entry: string) => request(app).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.from(entry));

test('a round held at the disk is the round under way, writing, aged on the log\'s monotonic clock; it ends "committed" once the write returns', async () => {
  const opened = await harnessWithClock();
  h = opened.h;
  const { clock } = opened;
  expect(h.log.roundUnderWay()).toBeUndefined();
  expect(h.log.roundInProgressSeconds()).toBe(0);
  const release = h.store.holdWrites();
  const answer = post(h.app, 'held').then((r) => r);
  await waitFor(() => h!.store.pendingWrites === 1);
  const round = h.log.roundUnderWay()!;
  expect(round).toMatchObject({ since: 1_000_000, stage: 'writing', entries: 1, ended: undefined });
  clock.now += 12_345;
  expect(h.log.roundInProgressSeconds()).toBe(12.345);
  release();
  expect((await answer).status).toBe(201);
  expect(round.ended).toEqual({ at: 1_012_345, outcome: 'committed' });
  expect(h.log.roundUnderWay()).toBeUndefined();
  expect(h.log.roundInProgressSeconds()).toBe(0);
});

test('a round whose write fails ends "failed"', async () => {
  const opened = await harnessWithClock();
  h = opened.h;
  const release = h.store.holdWrites();
  h.store.failNextWrites(1);
  const answer = post(h.app, 'lost').then((r) => r);
  await waitFor(() => h!.store.pendingWrites === 1);
  const round = h.log.roundUnderWay()!;
  release();
  expect((await answer).status).toBe(503);
  expect(round.ended?.outcome).toBe('failed');
  expect(h.log.roundUnderWay()).toBeUndefined();
});

test('the round that waited behind a held one is aged from that one\'s end, not from when it was taken: the stall is not counted twice', async () => {
  const clock = { now: 1_000_000 };
  // One submission a round: the second is taken, and built, while the first is held at the disk.
  h = await openHarness({ monotonic: () => clock.now, maxRoundEntries: 1 });
  const release = h.store.holdWrites();
  const first = h.log.submit([enc('first')]);
  const second = h.log.submit([enc('second')]);
  await waitFor(() => h!.log.queueDepth === 0 && h!.store.pendingWrites === 1);
  const held = h.log.roundUnderWay()!;
  expect(held).toMatchObject({ since: 1_000_000, stage: 'writing', entries: 1 });
  clock.now += 60_000;
  expect(h.log.roundInProgressSeconds()).toBe(60);
  // The first write returns; the second is held in its turn.
  release();
  const releaseSecond = h.store.holdWrites();
  expect((await first).receipts[0]!.index).toBe(0);
  await waitFor(() => h!.store.pendingWrites === 1 && h!.log.roundUnderWay() !== held);
  const next: RoundProgress = h.log.roundUnderWay()!;
  expect(next).toMatchObject({ since: 1_060_000, stage: 'writing', entries: 1 });
  expect(h.log.roundInProgressSeconds()).toBe(0);
  releaseSecond();
  expect((await second).receipts[0]!.index).toBe(1);
});

test('/healthz answers 503 STORAGE_FAILED once a round has been under way for STALLED_HEALTH_MS (not at STALLED_ROUND_MS, when it is warned of: a slow disk), at once, and 200 again once it is written', async () => {
  const opened = await harnessWithClock();
  h = opened.h;
  const { clock } = opened;
  const release = h.store.holdWrites();
  const answer = post(h.app, 'held').then((r) => r);
  await waitFor(() => h!.store.pendingWrites === 1);
  clock.now += STALLED_ROUND_MS;
  expect((await request(h.app).get('/healthz')).status).toBe(200);
  clock.now += STALLED_HEALTH_MS - STALLED_ROUND_MS - 1;
  expect((await request(h.app).get('/healthz')).status).toBe(200);
  clock.now += 1;
  const stalled = await request(h.app).get('/healthz');
  expect(stalled.status).toBe(503);
  expect(stalled.body).toEqual({
    code: 'STORAGE_FAILED',
    error: 'a round has been under way for 60 s and the store has not finished it (a stalled disk: a hung fsync, a frozen or unreachable file system?); writes wait for it; retry',
  });
  expect(stalled.headers['retry-after']).toBe('5');
  release();
  expect((await answer).status).toBe(201);
  expect((await request(h.app).get('/healthz')).body).toEqual({ status: 'ok', tree_size: 1 });
});

test('/healthz answers 503 within HEALTH_WAIT_MS when the store it waits for (a reopening on a stalled disk) never answers', async () => {
  const level = await LevelStore.open(join(dir(), 'db'));
  let asked = false;
  // A reopening after a failed write that hangs in the frozen file system.
  const store = passThroughStore(level, {
    recover: () => {
      asked = true;
      return new Promise<boolean>(() => undefined);
    },
  });
  const log = await Log.open({ store, signer: testSigner, verifier: testVerifier });
  try {
    const app = createApp({ log, verifierKey: vector.verifier_key });
    const res = await request(app).get('/healthz');
    expect(asked).toBe(true);
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      code: 'STORAGE_FAILED',
      error: `the store did not answer within ${HEALTH_WAIT_MS / 1000} s: it is being opened again after a failed write (or read), and that has not finished (a stalled disk?); retry`,
    });
  } finally {
    await log.close();
  }
});

test('the server puts the age of a held round in /metrics, warns of it in its log, and again as it stops, which waits for it; its end is told', async () => {
  const { lines, logger } = capture();
  let faults: FaultStore | undefined;
  const server = await startServer({
    data: join(dir(), 'data'),
    host: '127.0.0.1',
    port: 0,
    logger,
    stalledRoundMs: 1,
    wrapStore: (store) => (faults = new FaultStore(store)),
  });
  const metric = async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return Number(/^cairn_round_in_progress_seconds (\S+)$/m.exec(text)?.[1]);
  };
  let closing: Promise<void> | undefined;
  let release = faults!.holdWrites();
  try {
    expect(await metric()).toBe(0);
    const answer = fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: 'held' });
    await waitFor(() => faults!.pendingWrites === 1);
    expect(await metric()).toBeGreaterThan(0);
    await waitFor(() => lines.some((l) => l.msg === STALLED_ROUND_MESSAGE));
    expect(lines.find((l) => l.msg === STALLED_ROUND_MESSAGE)).toMatchObject({ level: 'warn', fields: { stage: 'writing', entries: 1, queued: 0 } });
    release();
    expect((await answer).status).toBe(201);
    await waitFor(() => lines.some((l) => l.msg === STALLED_ROUND_OVER_MESSAGE));
    expect(lines.find((l) => l.msg === STALLED_ROUND_OVER_MESSAGE)).toMatchObject({ level: 'info', fields: { outcome: 'committed' } });
    expect(await metric()).toBe(0);

    // Held again, then the server stops: it says at once that it waits for the round.
    release = faults!.holdWrites();
    const second = fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: 'held at the stop' }).catch(() => undefined);
    await waitFor(() => faults!.pendingWrites === 1);
    await waitFor(() => lines.filter((l) => l.msg === STALLED_ROUND_MESSAGE).length === 2);
    let closed = false;
    closing = server.close().then(() => void (closed = true));
    expect(lines.filter((l) => l.msg === STALLED_STOP_MESSAGE)).toHaveLength(1);
    expect(closed).toBe(false);
    release();
    await closing;
    await second;
    expect(lines.filter((l) => l.msg === STALLED_ROUND_OVER_MESSAGE)).toHaveLength(2);
  } finally {
    release();
    await (closing ?? server.close());
  }
});
