// cairn monitor behind a cache that keeps /checkpoint: when the checkpoint is
// still smaller than the tree the state holds, the signed tree head is asked
// for again past caches too, and the round goes on with that fresh one. The
// head served first is set aside, not forgotten: it must be the start of the
// tree the round goes on with, so that a fork or rollback the log signed in
// it is an alarm, not a warning. The log is a fake on 127.0.0.1 (port 0).
import { join } from 'node:path';
import { monitorCommand } from '../../src/cli/monitor.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { signTreeHead } from '../../src/note/sth.js';
import { testSigner, vector } from '../helpers/keys.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest, send, sendTile } from './fake-log.js';

const enc = (s: string) => new TextEncoder().encode(s);
const t = fakeLogEachTest(300, 'cairn-monitor-set-aside-');
const NOW = 1_800_000_000_000;
const more = (from: number, count: number, tag = 'e') => Array.from({ length: count }, (_, i) => enc(`${tag}${from + i}`));
type Event = Record<string, unknown>;

async function monitor(statePath: string, now: number): Promise<{ code: number; events: Event[] }> {
  const io = captureIo({ now: () => now });
  const code = await monitorCommand(['--url', t.fake.url, '--vkey', vector.verifier_key, '--state', statePath, '--once', '--json'], io);
  return { code, events: io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Event) };
}

/** The fake log with /checkpoint and the first get-sth (one not asked past caches) as `served` says, all else its own. */
function serve(served: { checkpoint?: string; sth?: string }, sthTime: () => number): void {
  t.fake.hook = async (path, req, res) => {
    if (path === 'checkpoint' && served.checkpoint !== undefined) {
      send(res, 200, served.checkpoint, 'text/plain; charset=utf-8');
      return true;
    }
    if (path === 'ct/v1/get-sth') {
      if (served.sth !== undefined && !/no-cache/.test(String(req.headers['cache-control'] ?? ''))) {
        send(res, 200, served.sth);
        return true;
      }
      const head = await t.fake.head();
      send(res, 200, signTreeHead({ timestamp: sthTime(), treeSize: head.treeSize, rootHash: head.rootHash }, testSigner));
      return true;
    }
    return sendTile(path, t.fake.entries, res);
  };
}

test('a head served first with another root for the tree held, set aside for one asked past caches, is an alarm', async () => {
  const statePath = join(t.dir, 'state.json');
  let sthTime = NOW;
  const served: { checkpoint?: string; sth?: string } = {};
  serve(served, () => sthTime);
  t.fake.entries.push(...more(300, 300));
  expect((await monitor(statePath, NOW)).code).toBe(0); // the state holds 600
  const genuine = t.fake.entries.slice();
  // A cache keeps the checkpoint of 300; the first get-sth is a head of 600 over another history (signed by the
  // log's key: a fork); past caches the log is honest, at 900.
  served.checkpoint = signCheckpoint(await t.fake.head(300), testSigner);
  t.fake.entries = [...genuine.slice(0, 300), ...more(300, 300, 'fork')];
  served.sth = JSON.stringify(signTreeHead({ timestamp: NOW + 1000, treeSize: 600, rootHash: (await t.fake.head()).rootHash }, testSigner));
  t.fake.entries = [...genuine, ...more(600, 300)];
  sthTime = NOW + 2000;
  const forked = await monitor(statePath, NOW + 3000);
  expect(forked.events.filter((e) => e.event === 'alarm').map((e) => e.kind)).toEqual(['inconsistent']);
  expect(forked.code).toBe(1);
});

test("a cache's older copy of the log's own head, set aside for one asked past caches, passes", async () => {
  const statePath = join(t.dir, 'state.json');
  let sthTime = NOW;
  const served: { checkpoint?: string; sth?: string } = {};
  serve(served, () => sthTime);
  t.fake.entries.push(...more(300, 300));
  expect((await monitor(statePath, NOW)).code).toBe(0);
  // The cache keeps the checkpoint of 300 and the log's own head of 600; the log grew to 900.
  served.checkpoint = signCheckpoint(await t.fake.head(300), testSigner);
  served.sth = JSON.stringify(signTreeHead({ timestamp: NOW + 1000, treeSize: 600, rootHash: (await t.fake.head()).rootHash }, testSigner));
  t.fake.entries.push(...more(600, 300));
  sthTime = NOW + 2000;
  const honest = await monitor(statePath, NOW + 3000);
  expect(honest.events.filter((e) => e.event === 'alarm')).toEqual([]);
  expect(honest.code).toBe(0);
});
