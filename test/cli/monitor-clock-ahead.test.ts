// cairn monitor against a log whose signed tree head is dated more than 10
// minutes ahead of the monitor's clock (the log's clock ahead, the monitor's
// behind, or a hostile log dating its heads so): the `timestamp` alarm comes
// only once the round's other checks ran, so that a fork or a mismatch in
// that window is still reported as what it is. A round whose other checks
// pass keeps what it verified (the checkpoint, the entries walked) but not
// that head: a head the log signs once its clock is right again, dated
// earlier, is not a timestamp going back. The log is a fake on 127.0.0.1
// (port 0); the monitor's clock is the test's.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorCommand } from '../../src/cli/monitor.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { signTreeHead } from '../../src/note/sth.js';
import { testSigner, vector } from '../helpers/keys.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest, send, sendTile } from './fake-log.js';

const enc = (s: string) => new TextEncoder().encode(s);
const t = fakeLogEachTest(600, 'cairn-monitor-clock-ahead-');

let states = 0;
const freshState = () => join(t.dir, `state-${++states}.json`);
const readState = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

/** The monitor's clock. */
const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;

/**
 * The fake log serves its tiles and entry bundles too, computed from its
 * entries (a bundle in `tampered` holds another first entry), and dates its
 * signed tree heads `sthTime` (set by each test).
 */
let sthTime = NOW;
let tampered = new Set<number>();
beforeEach(() => {
  sthTime = NOW;
  tampered = new Set();
  t.fake.hook = async (path, _req, res) => {
    const entries = t.fake.entries;
    if (path === 'ct/v1/get-sth') {
      const head = await t.fake.head();
      send(res, 200, signTreeHead({ timestamp: sthTime, treeSize: head.treeSize, rootHash: head.rootHash }, testSigner));
      return true;
    }
    return sendTile(path, entries, res, (n, bundle) => {
      if (tampered.has(n)) bundle[0] = enc('tampered');
      return bundle;
    });
  };
});

async function monitor(statePath: string, extra: string[] = []) {
  const io = captureIo({ now: () => NOW });
  const code = await monitorCommand(['--url', t.fake.url, '--vkey', vector.verifier_key, '--state', statePath, '--once', '--json', ...extra], io);
  const events = io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, events };
}

const aheadMessage = /the signed tree head of size \d+ is dated \S+Z, more than 10 minutes ahead of this monitor's clock/;

test('a fork, or entries that do not match, in a log whose signed tree head is dated an hour ahead: alarmed as what they are (inconsistent, entry-mismatch), the timestamp named too; neither the head nor the walk is kept', async () => {
  const statePath = freshState();
  expect((await monitor(statePath)).events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 600, sth_timestamp: NOW })]);
  const verified = await readState(statePath);

  // Another history from entry 5 on, longer, signed an hour ahead.
  const genuine = t.fake.entries.slice();
  t.fake.entries = [...genuine.slice(0, 5), ...Array.from({ length: 695 }, (_, i) => enc(`fork${i}`))];
  sthTime = NOW + HOUR;
  const forked = await monitor(statePath);
  expect([forked.code, forked.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'inconsistent' })]]);
  const alarm = forked.events[0]!;
  expect(alarm.message).toMatch(/does not extend the tree of size 600/);
  expect(alarm.message).toMatch(new RegExp(`; besides, ${aheadMessage.source} \\(a timestamp alarm too\\)$`));
  expect(await readState(statePath)).toEqual(verified);

  // The same history grown, a bundle past the one verified not matching the signed root.
  t.fake.entries = [...genuine, ...Array.from({ length: 300 }, (_, i) => enc(`e${600 + i}`))];
  tampered.add(3);
  const mismatch = await monitor(statePath);
  expect([mismatch.code, mismatch.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'entry-mismatch', message: expect.stringMatching(aheadMessage) })]]);
  // Only the newest checkpoint, shown consistent before the walk, is kept (as in any round), and the head's size and root apart (sth_ahead): not the head as verified, not the walk.
  expect(await readState(statePath)).toEqual({ ...verified, version: 3, newest: expect.objectContaining({ tree_size: 900 }), sth_ahead: { tree_size: 900, root_hash: expect.any(String) } });
});

test("a consistent log whose signed tree head is dated an hour ahead: timestamp, raised once the round's checks passed; the checkpoint and its entries are kept, the head is not, so that the log's next head, dated right, passes", async () => {
  const statePath = freshState();
  await monitor(statePath);
  const verified = await readState(statePath);
  expect(verified).toMatchObject({ tree_size: 600, sth_timestamp: NOW, sth_tree_size: 600 });

  t.fake.entries.push(...Array.from({ length: 100 }, (_, i) => enc(`e${600 + i}`)));
  sthTime = NOW + HOUR;
  const ahead = await monitor(statePath);
  expect(ahead.code).toBe(1);
  expect(ahead.events).toEqual([
    expect.objectContaining({ event: 'verified', tree_size: 700, grew: 100 }),
    expect.objectContaining({ event: 'alarm', kind: 'timestamp', message: expect.stringMatching(new RegExp(`^${aheadMessage.source}$`)), observed: expect.objectContaining({ tree_size: 700, sth_timestamp: NOW + HOUR }) }),
  ]);
  // The checkpoint of 700 is verified; the last verified signed tree head is still the one of 600.
  expect(await readState(statePath)).toMatchObject({ tree_size: 700, sth_timestamp: NOW, sth_tree_size: 600, sth_root_hash: verified.sth_root_hash });
  expect((await readState(statePath)).checkpoint).not.toBe(verified.checkpoint);

  // Still ahead: alarmed again, nothing walked again.
  const again = await monitor(statePath);
  expect([again.code, again.events.map((e) => [e.event, e.kind])]).toEqual([1, [['unchanged', undefined], ['alarm', 'timestamp']]]);

  // The log's clock set right: its next head is dated before the one an hour ahead, and passes.
  sthTime = NOW + 1;
  const right = await monitor(statePath);
  expect([right.code, right.events]).toEqual([0, [expect.objectContaining({ event: 'unchanged', tree_size: 700, sth_timestamp: NOW + 1 })]]);
  expect(await readState(statePath)).toMatchObject({ tree_size: 700, sth_timestamp: NOW + 1, sth_tree_size: 700 });
});

test('a first run against a log whose signed tree head is dated an hour ahead: the walk is kept (a partial one too), no signed tree head is; the next run goes on from there', async () => {
  const statePath = freshState();
  sthTime = NOW + HOUR;
  const first = await monitor(statePath, ['--max-round-entries', '256']);
  expect([first.code, first.events.map((e) => [e.event, e.kind])]).toEqual([1, [['progress', undefined], ['alarm', 'timestamp']]]);
  const partial = await readState(statePath);
  expect(partial).toMatchObject({ checkpoint: null, tree_size: 0, sth_timestamp: null, partial: { tree_size: 600, checked_to: 256 } });
  expect(partial).not.toHaveProperty('sth_tree_size');

  sthTime = NOW + 1;
  const next = await monitor(statePath);
  expect([next.code, next.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 600, checked_from: 256, sth_timestamp: NOW + 1 })]]);
});

test('a round that fails otherwise than by an alarm (the log refuses its entry bundles) still raises the timestamp alarm of a head dated an hour ahead, after the error', async () => {
  const statePath = freshState();
  sthTime = NOW + HOUR;
  const hook = t.fake.hook!;
  t.fake.hook = (path, req, res, body) => {
    if (!path.startsWith('tile/entries/')) return hook(path, req, res, body);
    send(res, 403, { error: 'forbidden', code: 'FORBIDDEN' });
    return true;
  };
  const run = await monitor(statePath);
  expect([run.code, run.events.map((e) => [e.event, e.kind])]).toEqual([1, [['error', undefined], ['alarm', 'timestamp']]]);
});

test("a round whose consistency proofs cannot be fetched keeps the size and root of its signed tree head dated an hour ahead all the same: a later head dated right, smaller than it, is a smaller-tree alarm", async () => {
  const statePath = freshState();
  await monitor(statePath);
  const verified = await readState(statePath);

  // The log grows, dates its head an hour ahead, and refuses its tiles and its consistency endpoint.
  const genuine = t.fake.entries.slice();
  t.fake.entries.push(...Array.from({ length: 100 }, (_, i) => enc(`e${600 + i}`)));
  const root700 = (await t.fake.head()).rootHash;
  sthTime = NOW + HOUR;
  const hook = t.fake.hook!;
  const refusing: typeof hook = (path, req, res, body) => {
    if (!path.startsWith('tile/') && path !== 'ct/v1/get-sth-consistency') return hook(path, req, res, body);
    send(res, 403, { error: 'forbidden', code: 'FORBIDDEN' });
    return true;
  };
  t.fake.hook = refusing;
  const failed = await monitor(statePath);
  expect([failed.code, failed.events.map((e) => [e.event, e.kind])]).toEqual([1, [['error', undefined], ['alarm', 'timestamp']]]);
  // Nothing else is kept of the round: its checkpoint was not shown to extend the one verified. Version 3,
  // so that a monitor from before sth_ahead refuses the file instead of writing it back without it.
  expect(verified.version).toBeLessThan(3);
  expect(await readState(statePath)).toEqual({ ...verified, version: 3, sth_ahead: { tree_size: 700, root_hash: Buffer.from(root700).toString('base64') }, verified_at: expect.any(String) });

  // The log rolled back to 650 entries of the same history, its clock set right, serving again.
  t.fake.hook = hook;
  t.fake.entries = [...genuine, ...t.fake.entries.slice(600, 650)];
  sthTime = NOW + 1;
  const rolledBack = await monitor(statePath);
  expect([rolledBack.code, rolledBack.events]).toEqual([
    1,
    [expect.objectContaining({ event: 'alarm', kind: 'smaller-tree', message: expect.stringMatching(/^the signed tree head shrank from 700 leaves \(the signed tree head an earlier round saw dated too far ahead of this monitor's clock\) to 650$/) })],
  ]);
});

test('a kept head dated too far ahead is not replaced by a larger one that a round could not show to extend it (its proofs refused): a later head that extends the larger one but not the kept one is still an alarm', async () => {
  const statePath = freshState();
  await monitor(statePath);
  const hook = t.fake.hook!;
  // The log grows to 700, dates its head an hour ahead, and its checkpoint lags at 600: the head is kept apart, past the checkpoint verified.
  const genuine = [...t.fake.entries, ...Array.from({ length: 100 }, (_, i) => enc(`e${600 + i}`))];
  t.fake.entries = genuine.slice();
  sthTime = NOW + HOUR;
  const checkpoint600 = signCheckpoint(await t.fake.head(600), testSigner);
  t.fake.hook = (path, req, res, body) => {
    if (path !== 'checkpoint') return hook(path, req, res, body);
    send(res, 200, checkpoint600, 'text/plain; charset=utf-8');
    return true;
  };
  expect((await monitor(statePath)).code).toBe(1);
  const kept = await readState(statePath);
  expect(kept).toMatchObject({ tree_size: 600, sth_ahead: { tree_size: 700 } });

  // Another history from entry 650 on, of 800 entries, its proofs refused: the kept head stays.
  t.fake.entries = [...genuine.slice(0, 650), ...Array.from({ length: 150 }, (_, i) => enc(`fork${i}`))];
  t.fake.hook = (path, req, res, body) => {
    if (!path.startsWith('tile/') && path !== 'ct/v1/get-sth-consistency') return hook(path, req, res, body);
    send(res, 403, { error: 'forbidden', code: 'FORBIDDEN' });
    return true;
  };
  const failed = await monitor(statePath);
  expect([failed.code, failed.events.map((e) => [e.event, e.kind])]).toEqual([1, [['error', undefined], ['alarm', 'timestamp']]]);
  expect(await readState(statePath)).toEqual(kept);

  // That history grown, dated right, served again: it extends the checkpoint verified, not the head kept.
  t.fake.hook = hook;
  t.fake.entries.push(...Array.from({ length: 50 }, (_, i) => enc(`fork${150 + i}`)));
  sthTime = NOW + 1;
  const forked = await monitor(statePath);
  expect([forked.code, forked.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'inconsistent', message: expect.stringMatching(/does not extend the tree of size 700/) })]]);
});
