// Fault injection (issue 6 "Faults"): a failed round answers 503 to its
// waiters, nothing of it is signed or served, and the log carries on once the
// fault clears; the store refuses split views and shrinking whatever its
// caller does; STH timestamps never go back, even with the clock.
import fc from 'fast-check';
import request from 'supertest';
import { leafHash } from '../../src/merkle/hash.js';
import { verifyConsistency } from '../../src/merkle/proof.js';
import { Log } from '../../src/log/log.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { openCheckpoint } from '../../src/note/checkpoint.js';
import { verifyTreeHead } from '../../src/note/sth.js';
import { StateConflictError, type LogState, type RoundWrite } from '../../src/storage/store.js';
import { checkLog } from '../helpers/check-log.js';
import { testSigner, testVerifier } from '../helpers/keys.js';
import { openHarness, type Harness } from './helpers.js';

const enc = (s: string) => new TextEncoder().encode(s);
let h: Harness;

afterEach(async () => {
  await h?.close();
});

const post = (entry: string) => request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.from(entry));
const b64hash = (entry: string) => encodeURIComponent(encodeBase64(leafHash(enc(entry))));

/** Resolves once `cond` holds (polling, bounded). */
async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

test('a failed round answers 503 with Retry-After to every waiter, serves nothing of it, and the next round succeeds', async () => {
  h = await openHarness();
  expect((await post('kept')).status).toBe(201);
  const before = await request(h.app).get('/checkpoint');
  const sthBefore = (await request(h.app).get('/ct/v1/get-sth')).body;

  // Round A (one waiter) is held at the disk while round B (five waiters) queues; both fail.
  const release = h.store.holdWrites();
  h.store.failNextWrites(2, 'before');
  const first = post('lost 0');
  const firstDone = first.then((r) => r);
  await waitFor(() => h.store.pendingWrites === 1);
  const rest = ['lost 1', 'lost 2', 'lost 3', 'lost 4', 'lost 5'].map((e) => post(e).then((r) => r));
  await waitFor(() => h.log.queueDepth === 5);
  release();
  const answers = await Promise.all([firstDone, ...rest]);
  for (const res of answers) {
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('STORAGE_FAILED');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  }
  expect(h.store.injectedWriteFaults).toBe(2);

  // Nothing of the failed rounds is signed, stored or served.
  expect((await request(h.app).get('/checkpoint')).text).toBe(before.text);
  expect((await request(h.app).get('/ct/v1/get-sth')).body).toEqual(sthBefore);
  expect(await h.store.findLeafHashes(['lost 0', 'lost 3'].map((e) => leafHash(enc(e))))).toEqual([undefined, undefined]);
  expect((await request(h.app).get(`/ct/v1/get-proof-by-hash?hash=${b64hash('lost 1')}&tree_size=1`)).status).toBe(404);
  expect((await request(h.app).get('/ct/v1/get-entries?start=1&end=5')).status).toBe(400);
  expect((await request(h.app).get('/tile/0/000.p/2')).status).toBe(404);
  expect((await request(h.app).get('/tile/entries/000.p/2')).status).toBe(404);

  // The fault is cleared: the same entries go in, at the next indexes.
  const again = await Promise.all(['lost 0', 'lost 1', 'lost 2', 'lost 3', 'lost 4', 'lost 5'].map(post));
  expect(again.map((r) => r.status)).toEqual([201, 201, 201, 201, 201, 201]);
  expect(again.map((r) => r.body.index as number).sort()).toEqual([1, 2, 3, 4, 5, 6]);
  await checkLog(h.log, testVerifier);
  const old = openCheckpoint(before.text, testVerifier).checkpoint;
  const proof = await h.log.consistencyProof(old.treeSize, h.log.latest().treeSize);
  expect(verifyConsistency(old.treeSize, h.log.latest().treeSize, old.rootHash, h.log.latest().rootHash, proof)).toBe(true);

  // And it survives a restart as answered.
  await h.restart();
  expect(h.log.latest().treeSize).toBe(7);
  await checkLog(h.log, testVerifier);
});

test('a write that landed but reported failure: 503, then the log resumes from the disk and the retry is a duplicate', async () => {
  h = await openHarness();
  await post('a');
  h.store.failNextWrites(1, 'after');
  const failed = await post('b');
  expect(failed.status).toBe(503);
  expect(failed.body.code).toBe('STORAGE_FAILED');
  // The log re-reads the stored state (right after answering): the round is there, signed and consistent.
  await waitFor(() => h.log.latest().treeSize === 2);
  await checkLog(h.log, testVerifier);
  const retry = await post('b');
  expect(retry.status).toBe(200);
  expect(retry.body).toMatchObject({ index: 1, duplicate: true });
  expect((await post('c')).body.index).toBe(2);
  await checkLog(h.log, testVerifier);
});

test('a failed dedup lookup fails its round only', async () => {
  // Without the leaf-hash filter every hash is looked up (with it, a new hash
  // usually is not: see the duplicate case below).
  h = await openHarness({ leafFilterBytes: 0 });
  h.store.failNextReads(1);
  const res = await post('x');
  expect(res.status).toBe(503);
  expect(res.body.code).toBe('STORAGE_FAILED');
  expect(h.log.latest().treeSize).toBe(0);
  expect((await post('x')).status).toBe(201);
  await checkLog(h.log, testVerifier);
});

test('with the leaf-hash filter, a failed lookup of a maybe-logged hash fails its round only', async () => {
  h = await openHarness();
  expect((await post('x')).status).toBe(201);
  h.store.failNextReads(1);
  const res = await post('x');
  expect(res.status).toBe(503);
  expect(res.body.code).toBe('STORAGE_FAILED');
  const again = await post('x');
  expect(again.status).toBe(200);
  expect(again.body).toMatchObject({ index: 0, duplicate: true });
  await checkLog(h.log, testVerifier);
});

test('a batch in a failed round fails whole: no receipt for part of it', async () => {
  h = await openHarness();
  h.store.failNextWrites(1);
  const entries = Array.from({ length: 50 }, (_, i) => encodeBase64(enc(`batch ${i}`)));
  const res = await request(h.app).post('/v1/batch').set('Content-Type', 'application/json').send(JSON.stringify({ entries }));
  expect(res.status).toBe(503);
  expect(res.body.receipts).toBeUndefined();
  expect(h.log.latest().treeSize).toBe(0);
  const ok = await request(h.app).post('/v1/batch').set('Content-Type', 'application/json').send(JSON.stringify({ entries }));
  expect(ok.status).toBe(200);
  expect(ok.body.receipts.map((r: { index: number }) => r.index)).toEqual(Array.from({ length: 50 }, (_, i) => i));
});

test('a stale sequencer cannot fork the log: the store refuses its second root for a size, and it resumes from the disk', async () => {
  h = await openHarness();
  // Two sequencers on one store (a wiring bug): both start from size 0.
  const stale = await Log.open({ store: h.store, signer: testSigner, verifier: testVerifier });
  await h.log.submit([enc('from the live log')]);
  await expect(stale.submit([enc('from the stale one')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
  // The stale one reloads the stored state, and extends it instead of forking it.
  await waitFor(() => stale.latest().treeSize === 1);
  expect(stale.latest().checkpoint).toBe(h.log.latest().checkpoint);
  const next = await stale.submit([enc('from the stale one')]);
  expect(next.receipts[0]!.index).toBe(1);
  const state = (await h.store.readState())!;
  expect(state.treeSize).toBe(2);
});

test('STH timestamps strictly increase when the clock goes back, across restarts too', async () => {
  let now = 2_000_000_000_000;
  const clock = () => now;
  h = await openHarness({ clock });
  const stamps: number[] = [];
  const sth = async () => {
    const res = await request(h.app).get('/ct/v1/get-sth');
    const head = verifyTreeHead(res.body, testVerifier);
    expect(head).not.toBeNull();
    stamps.push(head!.timestamp);
  };
  await sth();
  for (const step of [-3_600_000, 1, -86_400_000, 0, 0, 5]) {
    now += step;
    await post(`at ${now} ${stamps.length}`);
    await sth();
  }
  await h.restart({ clock });
  now -= 7 * 86_400_000;
  await sth();
  await post('after restart, a week earlier');
  await sth();
  for (let i = 1; i < stamps.length; i++) {
    // Unchanged only when nothing was signed in between (the read after a restart).
    expect(stamps[i]!).toBeGreaterThanOrEqual(stamps[i - 1]!);
  }
  expect(new Set(stamps).size).toBe(stamps.length - 1);
});

describe('the store refuses split views, shrinking and time going back, whatever the caller sends', () => {
  const hash = (seed: number) => new Uint8Array(32).fill(seed);
  function round(base: LogState, size: number, root: number, timestamp: number, entries: number): RoundWrite {
    const state: LogState = { ...base, treeSize: size, rootHash: hash(root), timestamp };
    const es = Array.from({ length: entries }, (_, i) => enc(`forged ${i}`));
    return { entries: es, leafHashes: es.map(leafHash), tiles: [], state };
  }

  test('random forged rounds are refused and change nothing', async () => {
    h = await openHarness();
    await h.log.submit(Array.from({ length: 10 }, (_, i) => enc(`real ${i}`)));
    const stored = (await h.store.readState())!;
    const bundle = await h.store.readBundle(0);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          // A smaller size, with any root and any entry count.
          fc.record({ size: fc.nat(9), root: fc.nat(255), ts: fc.integer({ min: 1, max: 2 ** 45 }), entries: fc.nat(3) }),
          // The same size with another root (a split view), whatever the timestamp.
          fc.record({ size: fc.constant(10), root: fc.nat(255), ts: fc.integer({ min: 1, max: 2 ** 45 }), entries: fc.constant(0) }),
          // Growth whose timestamp does not increase.
          fc.record({ size: fc.integer({ min: 11, max: 13 }), root: fc.nat(255), ts: fc.integer({ min: 0, max: stored.timestamp }), entries: fc.nat(3) }),
          // Growth whose size does not match the entries given.
          fc.record({ size: fc.integer({ min: 11, max: 20 }), root: fc.nat(255), ts: fc.constant(stored.timestamp + 1), entries: fc.nat(9) }),
        ),
        async ({ size, root, ts, entries }) => {
          const r = round(stored, size, root, ts, entries);
          const equalRoot = size === 10 && Buffer.from(hash(root)).equals(Buffer.from(stored.rootHash));
          const fine = size === 10 + entries && ts > stored.timestamp && (size !== 10 || equalRoot);
          fc.pre(!fine);
          await expect(h.store.writeRound(r)).rejects.toBeInstanceOf(StateConflictError);
          const now = (await h.store.readState())!;
          expect(now.treeSize).toBe(10);
          expect(Buffer.from(now.rootHash).equals(Buffer.from(stored.rootHash))).toBe(true);
          expect(now.timestamp).toBe(stored.timestamp);
        },
      ),
      { numRuns: 150 },
    );
    expect(Buffer.from(await h.store.readBundle(0)).equals(Buffer.from(bundle))).toBe(true);
    expect(await h.store.findLeafHashes([leafHash(enc('forged 0'))])).toEqual([undefined]);
    await h.restart();
    expect(h.log.latest().treeSize).toBe(10);
    await checkLog(h.log, testVerifier);
  });
});

test('a checkpoint in a receipt from a failed round never exists: every answered receipt verifies after the fault', async () => {
  h = await openHarness();
  const receipts: { body: { index: number; checkpoint: string; inclusion_proof: string[] }; entry: string }[] = [];
  for (let i = 0; i < 30; i++) {
    if (i % 7 === 3) h.store.failNextWrites(1, i % 2 === 0 ? 'before' : 'after');
    const entry = `mixed ${i}`;
    const res = await post(entry);
    if (res.status === 201 || res.status === 200) receipts.push({ body: res.body, entry });
    else expect(res.status).toBe(503);
  }
  expect(receipts.length).toBeGreaterThan(20);
  const head = h.log.latest();
  for (const { body, entry } of receipts) {
    const { checkpoint } = openCheckpoint(body.checkpoint, testVerifier);
    expect(checkpoint.treeSize).toBeLessThanOrEqual(head.treeSize);
    const proof = await h.log.consistencyProof(checkpoint.treeSize, head.treeSize);
    expect(verifyConsistency(checkpoint.treeSize, head.treeSize, checkpoint.rootHash, head.rootHash, proof)).toBe(true);
    const [found] = await h.store.findLeafHashes([leafHash(enc(entry))]);
    expect(found).toBe(body.index);
    expect(body.inclusion_proof.map(decodeBase64).every((p) => p.length === 32)).toBe(true);
  }
  await checkLog(h.log, testVerifier);
});
