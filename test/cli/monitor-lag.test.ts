// cairn monitor where the log's checkpoint lags behind its signed tree head
// (a cache keeps /checkpoint), together with heads dated too far ahead of the
// monitor's clock and caches that keep get-sth too: what the state keeps of
// a far-ahead head (its size and root, so that a later fork or shrink of it
// alarms), how the lag is measured (from the tree the monitor holds, never
// dated by a far-ahead head), and get-sth asked for again past caches. The
// log is a fake on 127.0.0.1 (port 0); its /checkpoint may be pinned to an
// old one, as a cache that ignores no-cache would serve it.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorCommand } from '../../src/cli/monitor.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { signTreeHead } from '../../src/note/sth.js';
import { testSigner, vector } from '../helpers/keys.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest, send, sendTile } from './fake-log.js';

const enc = (s: string) => new TextEncoder().encode(s);
const t = fakeLogEachTest(300, 'cairn-monitor-lag-');
let states = 0;
const freshState = () => join(t.dir, `state-${++states}.json`);
const readState = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;
const more = (from: number, count: number, tag = 'e') => Array.from({ length: count }, (_, i) => enc(`${tag}${from + i}`));

/** get-sth's timestamp; /checkpoint pinned to `servedCheckpoint` when set (asked past caches or not); entry bundles from `withheldFrom` on answered 404. */
let sthTime = NOW;
let servedCheckpoint: string | undefined;
let withheldFrom: number | undefined;
beforeEach(() => {
  sthTime = NOW;
  servedCheckpoint = undefined;
  withheldFrom = undefined;
  t.fake.hook = async (path, _req, res) => {
    if (path === 'checkpoint' && servedCheckpoint !== undefined) {
      send(res, 200, servedCheckpoint, 'text/plain; charset=utf-8');
      return true;
    }
    if (path === 'ct/v1/get-sth') {
      const head = await t.fake.head();
      send(res, 200, signTreeHead({ timestamp: sthTime, treeSize: head.treeSize, rootHash: head.rootHash }, testSigner));
      return true;
    }
    const bundle = /^tile\/entries\/(\d+)/.exec(path);
    if (bundle !== null && withheldFrom !== undefined && Number(bundle[1]) * 256 >= withheldFrom) {
      send(res, 404, { error: 'not found', code: 'NOT_FOUND' });
      return true;
    }
    return sendTile(path, t.fake.entries, res);
  };
});

type Event = Record<string, unknown>;
async function monitor(statePath: string, extra: string[] = [], now = NOW): Promise<{ code: number; events: Event[] }> {
  const io = captureIo({ now: () => now });
  const code = await monitorCommand(['--url', t.fake.url, '--vkey', vector.verifier_key, '--state', statePath, '--once', '--json', ...extra], io);
  return { code, events: io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Event) };
}
const alarms = (events: Event[]) => events.filter((e) => e.event === 'alarm').map((e) => e.kind);

describe('a signed tree head dated too far ahead, larger than the lagging checkpoint', () => {
  let statePath: string;
  let genuine: Uint8Array[];
  beforeEach(async () => {
    statePath = freshState();
    expect((await monitor(statePath)).code).toBe(0);
    genuine = t.fake.entries.slice();
    servedCheckpoint = signCheckpoint(await t.fake.head(300), testSigner);
    t.fake.entries = [...genuine, ...more(300, 300)];
    sthTime = NOW + HOUR;
    const r = await monitor(statePath);
    expect(r.code).toBe(1);
    expect(alarms(r.events)).toEqual(['timestamp']);
    const state = await readState(statePath);
    // Its timestamp is not kept as the last verified one; its size and root are, apart.
    // Written as version 3, which a cairn from before sth_ahead (it reads 1 and 2) refuses rather than write it back without it.
    expect(state).toMatchObject({ version: 3, tree_size: 300, sth_tree_size: 300, sth_timestamp: NOW, sth_ahead: { tree_size: 600, root_hash: expect.any(String) } });
    // Dated too far ahead, it dates no lag.
    expect(state.checkpoint_behind).toBeUndefined();
    const warning = r.events.find((e) => e.event === 'warning');
    expect(warning).toMatchObject({ served_tree_size: 300, sth_tree_size: 600, message: expect.stringContaining('the lag is counted from the next one dated right') });
    expect(warning?.behind_since).toBeUndefined();
  });

  test('a later head dated right with another root for its size: fork', async () => {
    t.fake.entries = [...genuine, ...more(300, 300, 'fork')];
    sthTime = NOW + 1;
    const r = await monitor(statePath);
    expect(r.code).toBe(1);
    expect(alarms(r.events)).toEqual(['fork']);
    expect(r.events.find((e) => e.event === 'alarm')?.message).toMatch(/^two roots for tree size 600 in signed tree heads: .* \(the signed tree head an earlier round saw dated too far ahead/);
  });

  test('a later head dated right, smaller: smaller-tree', async () => {
    t.fake.entries = t.fake.entries.slice(0, 450);
    sthTime = NOW + 1;
    const r = await monitor(statePath);
    expect(r.code).toBe(1);
    expect(alarms(r.events)).toEqual(['smaller-tree']);
  });

  test('a later head dated right that does not extend it: inconsistent', async () => {
    t.fake.entries = [...genuine, ...more(300, 300, 'fork'), ...more(600, 300)];
    sthTime = NOW + 1;
    const r = await monitor(statePath);
    expect(r.code).toBe(1);
    expect(alarms(r.events)).toEqual(['inconsistent']);
  });

  test('a later head dated right, larger and consistent, passes and replaces it', async () => {
    t.fake.entries.push(...more(600, 300));
    servedCheckpoint = undefined;
    sthTime = NOW + 1;
    const r = await monitor(statePath);
    expect(r.code).toBe(0);
    const state = await readState(statePath);
    expect(state).toMatchObject({ version: 1, tree_size: 900, sth_tree_size: 900, sth_timestamp: NOW + 1 });
    expect(state.sth_ahead).toBeUndefined();
  });
});

test('a cache keeping an older checkpoint than the tree the monitor holds, the log idle: no lag counted, however long (--max-age)', async () => {
  const statePath = freshState();
  t.fake.entries.push(...more(300, 300));
  expect((await monitor(statePath)).code).toBe(0);
  servedCheckpoint = signCheckpoint(await t.fake.head(300), testSigner);
  sthTime = NOW + 1;
  let r = await monitor(statePath, ['--max-age', '300'], NOW + 2);
  expect(r.code).toBe(0);
  expect(r.events.find((e) => e.event === 'warning')?.behind_since).toBeUndefined();
  // The idle log re-signs; the monitor holds the tree of its head: nothing is unchecked.
  sthTime = NOW + 400_000;
  r = await monitor(statePath, ['--max-age', '300'], NOW + 400_001);
  expect(r.code).toBe(0);
  expect(alarms(r.events)).toEqual([]);
  expect((await readState(statePath)).checkpoint_behind).toBeUndefined();
  // It grows past the tree held: the lag counts from this head, not from the first one past the checkpoint served.
  t.fake.entries.push(...more(600, 300));
  sthTime = NOW + 400_002;
  r = await monitor(statePath, ['--max-age', '300'], NOW + 400_003);
  expect(r.code).toBe(0);
  expect(r.events.find((e) => e.event === 'warning')).toMatchObject({ served_tree_size: 300, tree_size: 600, sth_tree_size: 900, behind_since: { sth_tree_size: 900, sth_timestamp: NOW + 400_002 } });
  expect(await readState(statePath)).toMatchObject({ version: 3, checkpoint_behind: { sth_tree_size: 900, sth_timestamp: NOW + 400_002 } });
});

test("a round no longer behind, whose walk then fails, does not keep an earlier round's lag (the newest checkpoint kept before the walk)", async () => {
  const statePath = freshState();
  servedCheckpoint = signCheckpoint(await t.fake.head(300), testSigner);
  t.fake.entries.push(...more(300, 300));
  sthTime = NOW + 1;
  expect((await monitor(statePath)).code).toBe(0);
  expect(await readState(statePath)).toMatchObject({ version: 3, checkpoint_behind: { sth_tree_size: 600, sth_timestamp: NOW + 1 } });
  // The cache gives way; the log grew; its bundles past 300 are withheld: the walk fails before it saves.
  servedCheckpoint = undefined;
  t.fake.entries.push(...more(600, 300));
  withheldFrom = 256;
  sthTime = NOW + 2;
  const r = await monitor(statePath);
  expect(r.code).toBe(2);
  const state = await readState(statePath);
  // Kept before the walk: newest without the lag, version 2.
  expect(state).toMatchObject({ version: 2, tree_size: 300, newest: { tree_size: 900 } });
  expect(state.checkpoint_behind).toBeUndefined();
});

describe('the checkpoint still smaller than the tree held: get-sth asked for again past the caches', () => {
  let statePath: string;
  let oldHead: string;
  beforeEach(async () => {
    statePath = freshState();
    t.fake.entries.push(...more(300, 300));
    expect((await monitor(statePath)).code).toBe(0);
    oldHead = JSON.stringify(signTreeHead({ timestamp: NOW, treeSize: 600, rootHash: (await t.fake.head()).rootHash }, testSigner));
    servedCheckpoint = signCheckpoint(await t.fake.head(300), testSigner);
  });

  test('a cache replaying the old head over a log rolled back: the log\'s own head, smaller, alarms', async () => {
    const asked: (string | undefined)[] = [];
    const hook = t.fake.hook!;
    t.fake.hook = async (path, req, res, body) => {
      if (path === 'ct/v1/get-sth') {
        const cacheControl = req.headers['cache-control'];
        asked.push(cacheControl);
        // The cache keeps get-sth unless asked past it.
        if (!/\bno-cache\b/.test(String(cacheControl ?? ''))) {
          send(res, 200, oldHead);
          return true;
        }
      }
      return hook(path, req, res, body);
    };
    t.fake.entries = t.fake.entries.slice(0, 300);
    sthTime = NOW + 60_000;
    const r = await monitor(statePath, [], NOW + 60_000);
    expect(asked).toEqual([undefined, 'no-cache']);
    expect(r.code).toBe(1);
    expect(alarms(r.events)).toEqual(['smaller-tree']);
  });

  test('the very head last verified, past the caches too: a warning that the log signed nothing newer since', async () => {
    const hook = t.fake.hook!;
    t.fake.hook = async (path, req, res, body) => {
      if (path === 'ct/v1/get-sth') {
        send(res, 200, oldHead);
        return true;
      }
      return hook(path, req, res, body);
    };
    const r = await monitor(statePath, [], NOW + 60_000);
    expect(r.code).toBe(0);
    const message = String(r.events.find((e) => e.event === 'warning')?.message);
    expect(message).toContain('is the one last verified, of size 600');
    expect(message).toContain('the log signed nothing newer since');
    expect(message).not.toContain('no rollback');
  });
});

test.each([
  ['sth_ahead', { tree_size: 'x', root_hash: 'AAAA' }],
  ['sth_ahead', { tree_size: 600, root_hash: 'not base64 of 32 bytes' }],
  ['checkpoint_behind', { sth_tree_size: -1, sth_timestamp: NOW }],
  ['checkpoint_behind', 'soon'],
] as const)('a state file whose %s is malformed (%j) is refused at start, as a malformed sth_* field is, before the log is asked', async (field, value) => {
  const statePath = freshState();
  expect((await monitor(statePath)).code).toBe(0);
  await writeFile(statePath, JSON.stringify({ ...(await readState(statePath)), [field]: value }));
  const asked = t.fake.requests.length;
  const io = captureIo({ now: () => NOW });
  const code = await monitorCommand(['--url', t.fake.url, '--vkey', vector.verifier_key, '--state', statePath, '--once'], io);
  expect([code, io.err()]).toEqual([2, `cairn monitor: the state file ${statePath} is not a cairn monitor state (its ${field} is malformed)\n`]);
  expect(t.fake.requests.length).toBe(asked);
});

test('--once exits 0 while the checkpoint lags behind the signed tree head, and its last line says how many entries it left unchecked (unchecked with --json); none once the lag is over', async () => {
  const statePath = freshState();
  expect((await monitor(statePath)).code).toBe(0);
  servedCheckpoint = signCheckpoint(await t.fake.head(300), testSigner);
  t.fake.entries.push(...more(300, 300));
  sthTime = NOW + 1;
  const lag = await monitor(statePath);
  expect([lag.code, lag.events.map((e) => e.event)]).toEqual([0, ['warning', 'unchanged']]);
  expect(lag.events[1]).toMatchObject({ tree_size: 300, sth_tree_size: 600, unchecked: 300 });

  const io = captureIo({ now: () => NOW });
  expect(await monitorCommand(['--url', t.fake.url, '--vkey', vector.verifier_key, '--state', statePath, '--once'], io)).toBe(0);
  expect(io.out()).toMatch(/unchanged: \S+ at tree size 300, root \S+; 300 entries the log signed past it \(up to tree size 600\) left unchecked\n$/);

  servedCheckpoint = undefined;
  sthTime = NOW + 2;
  const caughtUp = await monitor(statePath);
  expect([caughtUp.code, caughtUp.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 600, grew: 300 })]]);
  expect(caughtUp.events[0]).not.toHaveProperty('unchecked');
});
