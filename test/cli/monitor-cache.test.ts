// cairn monitor behind a cache that keeps /checkpoint (a CDN's "cache
// everything" rule ignores the log's no-cache): a checkpoint smaller than the
// tree verified before, or than the signed tree head of the same round, is
// asked for again past the caches that honour no-cache. A cache that gives
// way passes; one that keeps an old checkpoint is a warning naming it, not an
// alarm, while the log's signed tree head is not smaller, and the checkpoint
// must still be the start of the tree verified (else a fork); the lag counts
// toward --max-age, across runs. A log whose signed tree head shrank too
// still alarms. The log is a fake on 127.0.0.1 (port 0), the cache a relay
// in front of it.
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MONITOR_USAGE, monitorCommand } from '../../src/cli/monitor.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { signTreeHead } from '../../src/note/sth.js';
import { testSigner, vector } from '../helpers/keys.js';
import { captureIo, type CapturedIo } from './client-io.js';
import { fakeLogEachTest, send, sendTile } from './fake-log.js';

const enc = (s: string) => new TextEncoder().encode(s);
const t = fakeLogEachTest(600, 'cairn-monitor-cache-');

let states = 0;
const freshState = () => join(t.dir, `state-${++states}.json`);
const readState = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

const relays: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((close) => close()));
});

/**
 * The fake log serves its tiles and entry bundles too, computed from its
 * entries, and dates its signed tree heads by `sthTime`, one ms later each.
 */
let sthTime = 1_700_000_000_000;
beforeEach(() => {
  t.fake.hook = async (path, _req, res) => {
    const entries = t.fake.entries;
    if (path === 'ct/v1/get-sth') {
      const head = await t.fake.head();
      send(res, 200, signTreeHead({ timestamp: ++sthTime, treeSize: head.treeSize, rootHash: head.rootHash }, testSigner));
      return true;
    }
    return sendTile(path, entries, res);
  };
});

/**
 * A cache on 127.0.0.1 (port 0) in front of the fake log: it answers
 * /checkpoint with `kept` (when set), a copy it kept, unless the request says
 * `Cache-Control: no-cache` and it honours that; all else it asks the log
 * for. Keeps the Cache-Control of each /checkpoint request.
 */
async function cache(kept: string, honoursNoCache: boolean) {
  const asked: (string | undefined)[] = [];
  const relay = createServer((req, res) => {
    const path = req.url!;
    const noCache = /\bno-cache\b/.test(String(req.headers['cache-control'] ?? ''));
    if (path === '/checkpoint') asked.push(req.headers['cache-control']);
    void (async () => {
      if (path === '/checkpoint' && !(noCache && honoursNoCache)) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(kept);
        return;
      }
      const answer = await fetch(`${t.fake.url}${path}`);
      res.writeHead(answer.status, { 'Content-Type': answer.headers.get('Content-Type') ?? 'application/octet-stream' }).end(Buffer.from(await answer.arrayBuffer()));
    })();
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  relays.push(() => {
    relay.closeAllConnections();
    return new Promise<void>((resolve) => relay.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`, asked };
}

async function monitor(url: string, statePath: string, extra: string[] = [], io: CapturedIo = captureIo()) {
  const code = await monitorCommand(['--url', url, '--vkey', vector.verifier_key, '--state', statePath, '--once', '--json', ...extra], io);
  const events = io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, events, io };
}

/** The fake log's signed checkpoint of its first `size` entries. */
const checkpointOf = async (size: number) => signCheckpoint(await t.fake.head(size), testSigner);

test('a checkpoint smaller than the tree verified before, from a cache: one that honours no-cache gives way (0); one that keeps it is a warning naming the cache, not an alarm, the signed tree head not being smaller (0)', async () => {
  const statePath = freshState();
  expect((await monitor(t.fake.url, statePath)).events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 600 })]);
  const verified = await readState(statePath);
  const old = await checkpointOf(300);

  // A cache that honours no-cache: the log's own checkpoint, asked for the second time past it.
  const honouring = await cache(old, true);
  const fresh = await monitor(honouring.url, statePath);
  expect([fresh.code, fresh.events]).toEqual([0, [expect.objectContaining({ event: 'unchanged', tree_size: 600 })]]);
  expect(fresh.events[0]).not.toHaveProperty('sth_tree_size');
  expect(honouring.asked).toEqual([undefined, 'no-cache']);

  // One that keeps it: the old checkpoint, the start of the tree verified, while the signed tree head is at 600.
  const keeping = await cache(old, false);
  const kept = await monitor(keeping.url, statePath);
  expect(kept.code).toBe(0);
  expect(kept.events).toEqual([
    expect.objectContaining({ event: 'warning', served_tree_size: 300, tree_size: 600, sth_tree_size: 600, message: expect.stringMatching(/^the log serves a checkpoint of tree size 300, though asked for again past the caches that honour no-cache, smaller than the tree of size 600 verified before, whose start it is; its signed tree head, of size 600, is not smaller.*A cache in front of the log most likely keeps \/checkpoint/) }),
    expect.objectContaining({ event: 'unchanged', tree_size: 600, sth_tree_size: 600 }),
  ]);
  expect(keeping.asked).toEqual([undefined, 'no-cache']);
  expect(await readState(statePath)).toMatchObject({ checkpoint: verified.checkpoint, tree_size: 600 });

  // In human words: a warning on standard error, no ALARM.
  const io = captureIo();
  expect(await monitorCommand(['--url', keeping.url, '--vkey', vector.verifier_key, '--state', statePath, '--once'], io)).toBe(0);
  expect(io.err()).toMatch(/^\S+Z warning: the log serves a checkpoint of tree size 300, .*keeps \/checkpoint \(one that ignores its no-cache, as a CDN's "cache everything" rule does\): purge \/checkpoint, or let it through uncached\n$/);
  expect(io.out()).toMatch(/^\S+Z unchanged: \S+ at tree size 600, root \S+\n$/);
});

test('a smaller checkpoint kept by a cache that is not the start of the tree verified is a fork; with the signed tree head smaller too it is a rollback: smaller-tree, saying so', async () => {
  const statePath = freshState();
  expect((await monitor(t.fake.url, statePath)).code).toBe(0);

  // Another history of 300 entries, validly signed, kept by a cache while the log's signed tree head is at 600.
  const forked = signCheckpoint({ ...(await t.fake.head(300)), rootHash: new Uint8Array(32).fill(7) }, testSigner);
  const keeping = await cache(forked, false);
  const fork = await monitor(keeping.url, statePath);
  expect(fork.code).toBe(1);
  expect(fork.events).toEqual([
    expect.objectContaining({ event: 'alarm', kind: 'fork', message: expect.stringMatching(/^the log serves a checkpoint of tree size 300 \(root \S+\), though asked for again past the caches that honour no-cache, smaller than the tree of size 600 \(root \S+\) verified before, and it is not that tree's start: two roots for tree size 300 \(a fork\)/) }),
  ]);

  // The log itself rolled back to its first 300 entries: checkpoint and signed tree head, fetched past no cache at all.
  t.fake.entries = t.fake.entries.slice(0, 300);
  const rolledBack = await monitor(t.fake.url, statePath);
  expect([rolledBack.code, rolledBack.events]).toEqual([
    1,
    [expect.objectContaining({ event: 'alarm', kind: 'smaller-tree', message: "the signed tree head shrank from 600 to 300 leaves" })],
  ]);
  // With a signed tree head kept from before it (a state file written before sth_tree_size existed), the checkpoint alarms.
  const { sth_tree_size: _size, sth_root_hash: _root, ...older } = await readState(statePath);
  await writeFile(statePath, JSON.stringify(older));
  const shrunk = await monitor(t.fake.url, statePath);
  expect([shrunk.code, shrunk.events]).toEqual([
    1,
    [expect.objectContaining({ event: 'alarm', kind: 'smaller-tree', message: "the tree shrank from 600 to 300 leaves (the log's checkpoint, asked for again past the caches that honour no-cache; its signed tree head, of size 300, is smaller than 600 too)" })],
  ]);
});

test('a checkpoint behind the signed tree head of its round, from a cache that keeps it: a warning naming both sizes, sth_tree_size in the event, the lag counting toward --max-age across runs; a cache that gives way walks on', async () => {
  const statePath = freshState();
  t.fake.entries = t.fake.entries.slice(0, 300);
  expect((await monitor(t.fake.url, statePath)).events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 300 })]);
  const old = await checkpointOf(300);
  t.fake.entries.push(...Array.from({ length: 300 }, (_, i) => enc(`e${300 + i}`)));
  const keeping = await cache(old, false);

  // The first run that sees the lag: a warning, the state unchanged but for when the lag began.
  const firstLag = sthTime + 1;
  const lag = await monitor(keeping.url, statePath, ['--max-age', '300'], captureIo({ now: () => firstLag + 1000 }));
  expect(lag.code).toBe(0);
  expect(lag.events).toEqual([
    expect.objectContaining({
      event: 'warning',
      served_tree_size: 300,
      tree_size: 300,
      sth_tree_size: 600,
      message: expect.stringMatching(/^the log's checkpoint, of tree size 300, though asked for again past the caches that honour no-cache, is behind its signed tree head, of tree size 600: no entry past 300 can be checked until the log serves a checkpoint that reaches it, --max-age counts the lag as staleness\. A cache in front of the log most likely keeps \/checkpoint/),
    }),
    expect.objectContaining({ event: 'unchanged', tree_size: 300, sth_tree_size: 600 }),
  ]);
  expect(keeping.asked).toEqual([undefined, 'no-cache']);
  expect(await readState(statePath)).toMatchObject({ tree_size: 300, sth_tree_size: 600, checkpoint_behind: { sth_tree_size: 600, sth_timestamp: firstLag } });

  // The log grows on; a later run, 301 s after the lag began by the first signed tree head past 300, while each head is fresh: stale.
  t.fake.entries.push(enc('e600'));
  sthTime = firstLag + 300_000;
  const stale = await monitor(keeping.url, statePath, ['--max-age', '300'], captureIo({ now: () => firstLag + 301_000 }));
  expect(stale.code).toBe(1);
  expect(stale.events).toEqual([
    expect.objectContaining({
      event: 'alarm',
      kind: 'stale',
      message: expect.stringMatching(/^the log's checkpoint, of tree size 300, though asked for again past the caches that honour no-cache, has been behind its signed tree head for 301 s: since the one of size 600, dated \S+, and is of size 601 now; --max-age is 300 s\. The entries that signed tree head shows past the checkpoints this monitor holds cannot be checked until the log serves a checkpoint that reaches them: a cache in front of the log most likely keeps \/checkpoint/),
    }),
    expect.objectContaining({ event: 'warning', sth_tree_size: 601, behind_since: { sth_tree_size: 600, sth_timestamp: firstLag } }),
    expect.objectContaining({ event: 'unchanged', tree_size: 300, sth_tree_size: 601 }),
  ]);
  expect(await readState(statePath)).toMatchObject({ sth_tree_size: 601, checkpoint_behind: { sth_tree_size: 600, sth_timestamp: firstLag } });

  // A cache that gives way: the entries past 300 are walked, and the lag is over.
  const honouring = await cache(old, true);
  const walked = await monitor(honouring.url, statePath, ['--max-age', '300'], captureIo({ now: () => sthTime + 1000 }));
  expect([walked.code, walked.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 601, grew: 301 })]]);
  expect(walked.events[0]).not.toHaveProperty('sth_tree_size');
  expect(await readState(statePath)).not.toHaveProperty('checkpoint_behind');
});

test('the help says what a checkpoint smaller than the tree verified or the signed tree head does', () => {
  const help = MONITOR_USAGE.replace(/\s+/g, ' ');
  expect(help).toContain('A checkpoint smaller than the last verified tree or than the signed tree head of its round is asked for again, past the caches that honour no-cache');
  expect(help).toContain('counts toward --max-age');
});
