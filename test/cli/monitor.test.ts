// cairn monitor against real servers: a log that grows honestly, then the
// same key serving a different history (a fork) and a truncated one, plus
// tiles, bundles, signatures and signed tree heads changed in transit, and a
// log that refuses its consistency endpoint. Each must alarm: a line on
// stderr, a webhook POST, exit 1; the state's verified checkpoint must not
// move (a newer checkpoint verified and consistent before the walk is kept as
// the newest seen, nothing more). Last, a log of
// 2^48 identical entries, served from memory, whose tiles must be walked
// rather than listed.
import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { access, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { monitorCommand } from '../../src/cli/monitor.js';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { CairnClient } from '../../src/client/client.js';
import type { FetchLike } from '../../src/client/http.js';
import { encodeEntryBundle } from '../../src/merkle/bundle.js';
import { leafHash, nodeHash } from '../../src/merkle/hash.js';
import { parseTilePath } from '../../src/merkle/tile.js';
import { decodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { generateSignerKey, newSigner, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { signTreeHead, type TreeHead } from '../../src/note/sth.js';
import { flip } from '../client/helpers.js';
import { captureIo, editingFetch } from './client-io.js';

const enc = (s: string) => new TextEncoder().encode(s);
let dir: string;
let keyFile: string;
let vkey: string;
let statePath: string;
let webhook: Server;
let webhookUrl: string;
const posted: Record<string, unknown>[] = [];

async function start(name: string): Promise<{ server: RunningServer; client: CairnClient }> {
  // Its key made before the log: --new-log on the first start of `name` only (serve refuses it on a store that holds a log).
  const newLog = !existsSync(join(dir, name));
  const server = await startServer({ data: join(dir, name), key: keyFile, newLog, host: '127.0.0.1', port: 0 });
  return { server, client: new CairnClient({ baseUrl: server.url, verifierKey: server.verifierKey }) };
}

async function add(client: CairnClient, prefix: string, count: number, from = 0): Promise<void> {
  for (let i = from; i < from + count; i += 1000) {
    await client.addBatch(Array.from({ length: Math.min(1000, from + count - i) }, (_, j) => enc(`${prefix} ${i + j}`)));
  }
}

async function monitor(url: string, extra: string[] = [], io = captureIo()) {
  const code = await monitorCommand(['--url', url, '--vkey', vkey, '--state', statePath, '--once', '--json', '--webhook', webhookUrl, ...extra], io);
  const events = io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, events, io };
}

interface SavedState {
  tree_size: number;
  root_hash: string;
  checkpoint: string;
  sth_timestamp: number;
  sth_tree_size?: number;
  sth_root_hash?: string;
}
const state = async () => JSON.parse(await readFile(statePath, 'utf8')) as SavedState;

/** A fetch that answers what `answer` returns for a URL and sends the rest on to `next`. */
function answering(answer: (url: string) => Response | undefined, next: FetchLike = fetch): FetchLike {
  return async (url, init) => answer(url) ?? next(url, init);
}

/** The log's consistency endpoint answers `status`, as a forked log hiding its fork might. */
function refusingConsistency(status: 400 | 500, next?: FetchLike): FetchLike {
  const body = status === 500 ? { error: 'internal error', code: 'INTERNAL' } : { error: 'first is out of range', code: 'BAD_REQUEST' };
  return answering((url) => (url.includes('/ct/v1/get-sth-consistency') ? Response.json(body, { status }) : undefined), next);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-monitor-'));
  statePath = join(dir, 'monitor-state.json');
  // The first server makes the key; the others reuse it, as a rogue or rolled-back operator would.
  const first = await startServer({ data: join(dir, 'genuine'), host: '127.0.0.1', port: 0, origin: 'monitor.test/log' });
  keyFile = join(dir, 'genuine', 'log.key');
  vkey = first.verifierKey;
  await first.close();
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      posted.push(JSON.parse(body) as Record<string, unknown>);
      res.end('ok');
    });
  });
  webhook.listen(0, '127.0.0.1');
  await once(webhook, 'listening');
  const address = webhook.address();
  webhookUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/hook`;
});
afterAll(async () => {
  webhook.close();
  await rm(dir, { recursive: true, force: true });
});

test('an honest log: the first run checks it all, later runs check what is new, the state moves forward', async () => {
  const { server, client } = await start('genuine');
  try {
    await add(client, 'genuine', 10);
    const first = await monitor(server.url);
    expect(first.code).toBe(0);
    expect(first.events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 10, grew: 10, tiles: 1, bundles: 1 })]);
    expect((await state()).tree_size).toBe(10);

    await add(client, 'genuine', 600, 10);
    const second = await monitor(server.url);
    expect(second.code).toBe(0);
    // 10 → 610: tiles 0/000 (full), 0/001 (full), 0/002.p/98, 1/000.p/2 and the three bundles.
    expect(second.events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 610, grew: 600, tiles: 4, bundles: 3 })]);
    const third = await monitor(server.url);
    expect(third.events).toEqual([expect.objectContaining({ event: 'unchanged', tree_size: 610 })]);
    // Written atomically: no temporary files are left beside the state.
    expect((await readdir(dir)).filter((f) => f.startsWith('monitor-state'))).toEqual(['monitor-state.json']);
    expect(posted).toEqual([]);
  } finally {
    await server.close();
  }
});

test('the temporary files a monitor killed while writing its state left are removed at the next start: only those of this state file, of a process gone, left unchanged for 10 minutes (or dated more than that ahead: the clock ran ahead)', async () => {
  const folder = await mkdtemp(join(dir, 'temps-'));
  // A process that ran and is gone: its pid is free.
  const child = spawn(process.execPath, ['-e', '']);
  const [code] = (await once(child, 'exit')) as [number];
  expect(code).toBe(0);
  const gone = child.pid!;
  const stale = [`st.json.${gone}.0a1b2c3d4e5f.tmp`, `st.json.${process.pid}.a0b1c2d3e4f5.tmp`];
  const kept = [
    `st.json.${process.ppid}.b7c8d9e0f1a2.tmp`, // a process that runs: maybe another monitor's write in progress
    `other.json.${gone}.0a1b2c3d4e5f.tmp`, // another state file's
    `st.json.${gone}.0a1b2c3d4e5f.tmp.bak`,
    `st.json.${gone}.tmp`,
    `st.json.x${gone}.0a1b2c3d4e5f.tmp`,
    `xst.json.${gone}.0a1b2c3d4e5f.tmp`,
    `st.json.${gone}.0a1b2c.tmp`, // a random part other than the 12 hex digits writeState makes
    `st.json.${gone}.k3x9q7zk3x9q.tmp`,
    'st.json.20240101.0a1b2c3d4e5f.tmp', // no pid Linux gives: the user's own file
  ];
  const recent = `st.json.${gone}.fedcba987654.tmp`; // changed a minute ago: maybe a monitor of another pid namespace writing
  const old = new Date(Date.now() - 20 * 60_000);
  for (const name of [...stale, ...kept]) {
    await writeFile(join(folder, name), '{}');
    await utimes(join(folder, name), old, old);
  }
  await writeFile(join(folder, recent), '{}');
  const minuteAgo = new Date(Date.now() - 60_000);
  await utimes(join(folder, recent), minuteAgo, minuteAgo);
  // Changed while the clock ran a day ahead: as stale as one changed a day ago.
  const ahead = `st.json.${gone}.abcdef012345.tmp`;
  await writeFile(join(folder, ahead), '{}');
  const dayAhead = new Date(Date.now() + 86_400_000);
  await utimes(join(folder, ahead), dayAhead, dayAhead);
  // Dated a minute ahead: as recent as one changed a minute ago.
  const recentAhead = `st.json.${gone}.012345abcdef.tmp`;
  await writeFile(join(folder, recentAhead), '{}');
  const minuteAhead = new Date(Date.now() + 60_000);
  await utimes(join(folder, recentAhead), minuteAhead, minuteAhead);
  // Before the log is asked (it cannot be reached here: exit 2).
  expect(await monitorCommand(['--url', 'http://127.0.0.1:9', '--vkey', vkey, '--state', join(folder, 'st.json'), '--once'], captureIo())).toBe(2);
  expect((await readdir(folder)).sort()).toEqual([...kept, recent, recentAhead].sort());
});

test('the human line of a first run says it is one: there was no last checkpoint to be consistent with', async () => {
  const { server } = await start('genuine');
  try {
    const fresh = join(dir, 'first-run-state.json');
    const run = async () => {
      const io = captureIo();
      expect(await monitorCommand(['--url', server.url, '--vkey', vkey, '--state', fresh, '--once'], io)).toBe(0);
      return io.out();
    };
    const first = await run();
    expect(first).toMatch(/^\S+Z verified monitor\.test\/log at tree size 610, root \S+: first run \(no earlier checkpoint\), the whole log checked from its first entry; 4 tiles and 3 entry bundles authenticated\n$/);
    expect(first).not.toMatch(/last checkpoint/);
    expect(await run()).toMatch(/^\S+Z unchanged: monitor\.test\/log at tree size 610/);
  } finally {
    await server.close();
  }
});

test("the walk checks each entry bundle with verifyEntryBundle, not readEntryBundle, which would copy every entry it then drops into a buffer of its own", async () => {
  const { server } = await start('genuine');
  const reads = jest.spyOn(CairnClient.prototype, 'readEntryBundle');
  const checks = jest.spyOn(CairnClient.prototype, 'verifyEntryBundle');
  try {
    const io = captureIo();
    expect(await monitorCommand(['--url', server.url, '--vkey', vkey, '--state', join(dir, 'bundle-checks-state.json'), '--once'], io)).toBe(0);
    expect(io.out()).toMatch(/at tree size 610, .*; 4 tiles and 3 entry bundles authenticated\n$/);
    expect(reads).not.toHaveBeenCalled();
    expect(checks.mock.calls.map(([n]) => n).sort()).toEqual([0, 1, 2]);
    // Each resolved to its bundle's width in the tree of 610.
    expect(await Promise.all(checks.mock.results.map((r) => r.value))).toEqual(expect.arrayContaining([256, 256, 98]));
  } finally {
    reads.mockRestore();
    checks.mockRestore();
    await server.close();
  }
});

test('a log of one tile and one entry bundle: the human line says so in the singular', async () => {
  const { server, client } = await start('one-tile');
  try {
    await add(client, 'small', 3);
    const io = captureIo();
    expect(await monitorCommand(['--url', server.url, '--vkey', vkey, '--state', join(dir, 'one-tile-state.json'), '--once'], io)).toBe(0);
    expect(io.out()).toMatch(/^\S+Z verified monitor\.test\/log at tree size 3, root \S+: first run \(no earlier checkpoint\), the whole log checked from its first entry; 1 tile and 1 entry bundle authenticated\n$/);
  } finally {
    await server.close();
  }
});

test('a fork: the same key signs a different history of the same size, then a longer one', async () => {
  const before = await state();
  const { server, client } = await start('fork');
  try {
    await add(client, 'forged', 610);
    const same = await monitor(server.url);
    expect(same.code).toBe(1);
    expect(same.events).toEqual([expect.objectContaining({ event: 'alarm', kind: 'fork' })]);
    expect(same.io.err()).toBe('');
    expect(posted.at(-1)).toMatchObject({
      type: 'cairn.monitor.alarm',
      kind: 'fork',
      origin: 'monitor.test/log',
      url: server.url,
      last_verified: { tree_size: 610, root_hash: before.root_hash },
      observed: { tree_size: 610 },
    });
    expect((posted.at(-1)!.observed as { root_hash: string }).root_hash).not.toBe(before.root_hash);
    const sameRefusing = await monitor(server.url, [], captureIo({ fetch: refusingConsistency(500) }));
    expect([sameRefusing.code, sameRefusing.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'fork' })]]);

    await add(client, 'forged', 5, 610);
    // Refusing consistency proofs hides nothing: the authenticated tiles prove the fork.
    for (const status of [500, 400] as const) {
      const refusing = await monitor(server.url, [], captureIo({ fetch: refusingConsistency(status) }));
      expect([status, refusing.code, refusing.events]).toEqual([
        status,
        1,
        [expect.objectContaining({ event: 'alarm', kind: 'inconsistent', message: expect.stringMatching(/^the tree of size 615 .* does not extend the tree of size 610 .*\(proof from tiles\)$/) })],
      ]);
      expect(posted.at(-1)).toMatchObject({ kind: 'inconsistent', observed: { tree_size: 615 } });
    }
    const longer = await monitor(server.url);
    expect(longer.code).toBe(1);
    expect(longer.events).toEqual([expect.objectContaining({ event: 'alarm', kind: 'inconsistent' })]);
    expect(posted.at(-1)).toMatchObject({ kind: 'inconsistent', observed: { tree_size: 615 } });
    // Roots are named in base64, as in the state file and every other message.
    const forged = (posted.at(-1)!.observed as { root_hash: string }).root_hash;
    expect(longer.events[0]!.message).toBe(`the tree of size 615 (root ${forged}) does not extend the tree of size 610 (root ${before.root_hash}) (proof from tiles)`);
    expect(await state()).toEqual(before);

    // Human output: the alarm is a line on standard error.
    const io = captureIo();
    expect(await monitorCommand(['--url', server.url, '--vkey', vkey, '--state', statePath, '--once'], io)).toBe(1);
    expect(io.err()).toMatch(/^\S+Z ALARM inconsistent: the tree of size 615 .* does not extend the tree of size 610/);
  } finally {
    await server.close();
  }
});

test('a truncated log: the first entries again, but fewer', async () => {
  const before = await state();
  const { server, client } = await start('truncated');
  try {
    await add(client, 'genuine', 300);
    const run = await monitor(server.url);
    expect(run.code).toBe(1);
    expect(run.events).toEqual([expect.objectContaining({ event: 'alarm', kind: 'smaller-tree', message: expect.stringMatching(/shrank from 610 to 300/) })]);
    expect(posted.at(-1)).toMatchObject({ kind: 'smaller-tree', observed: { tree_size: 300 } });
    expect(await state()).toEqual(before);
  } finally {
    await server.close();
  }
});

test('tiles, bundles and signatures changed in transit; staleness; the genuine log passes again', async () => {
  const { server, client } = await start('genuine');
  try {
    await add(client, 'genuine', 158, 610); // 768: tile 0/002 becomes full, 1/000 grows to width 3
    const before = await state();
    // An honest log whose consistency endpoint fails: an error, not an alarm, and only after every tile check ran.
    const refused = await monitor(server.url, [], captureIo({ fetch: refusingConsistency(500) }));
    expect([refused.code, refused.events]).toEqual([2, [expect.objectContaining({ event: 'error', message: expect.stringMatching(/get-sth-consistency\?first=610&second=768: 500 INTERNAL/) })]]);
    // The verified checkpoint stays; the checkpoint of 768, shown by the tiles to extend it, is kept as the newest seen.
    const kept = await state();
    expect(kept).toEqual({ ...before, version: 2, newest: expect.objectContaining({ tree_size: 768 }), verified_at: expect.any(String) });
    const changedBundle = editingFetch((url, b) => (/\/tile\/entries\/002$/.test(url) ? flip(b, b.length - 1) : undefined));
    const changed = await monitor(server.url, [], captureIo({ fetch: refusingConsistency(500, changedBundle) }));
    expect([changed.code, changed.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'entry-mismatch' })]]);
    expect(await state()).toEqual(kept);

    const cases: [RegExp, (b: Uint8Array) => Uint8Array, string][] = [
      [/\/tile\/0\/002$/, (b) => flip(b, 32 * 200 + 3), 'tile-mismatch'],
      [/\/tile\/1\/000\.p\/3$/, (b) => flip(b, 40), 'tile-mismatch'],
      [/\/tile\/entries\/002$/, (b) => flip(b, b.length - 1), 'entry-mismatch'],
      [/\/checkpoint$/, (b) => enc(new TextDecoder().decode(b).replace(/(— \S+ .{20})(.)/, (_m, head: string, c: string) => `${head}${c === 'A' ? 'B' : 'A'}`)), 'bad-signature'],
      [/\/ct\/v1\/get-sth$/, (b) => enc(new TextDecoder().decode(b).replace(/"timestamp":(\d+)/, (_m, t: string) => `"timestamp":${Number(t) + 1}`)), 'bad-signature'],
    ];
    for (const [pattern, change, kind] of cases) {
      const io = captureIo({ fetch: editingFetch((url, body) => (pattern.test(url) ? change(body) : undefined)) });
      const run = await monitor(server.url, [], io);
      expect([pattern.source, run.code, run.events[0]?.kind]).toEqual([pattern.source, 1, kind]);
      expect(await state()).toEqual(kept);
    }
    // The log's consistency proof changed in transit (proofs are not signed).
    const changedProof = editingFetch((url, b) =>
      url.includes('/ct/v1/get-sth-consistency') ? enc(new TextDecoder().decode(b).replace(/"consistency":\["(.)/, (_m, c: string) => `"consistency":["${c === 'A' ? 'B' : 'A'}`)) : undefined,
    );
    // For a pair the tiles proved: no fork, an operational error that says so (exit 2, no alarm, nothing posted).
    const hooks = posted.length;
    const wrongProof = await monitor(server.url, [], captureIo({ fetch: changedProof }));
    expect([wrongProof.code, wrongProof.events]).toEqual([
      2,
      [
        expect.objectContaining({
          event: 'error',
          message: expect.stringMatching(
            /the log's consistency proof from tree size 610 \(root \S+\) to tree size 768 \(root \S+\) does not verify: .*; the tiles, authenticated against the tree of size 768, proved that it extends the tree of size 610: the log's consistency endpoint, or a cache in front of it, answers a wrong proof \(no fork\)/,
          ),
        }),
      ],
    ]);
    expect(posted.length).toBe(hooks);
    expect(await state()).toEqual(kept);
    // For a pair the tiles could not prove (a tile refused): still the alarm, in the proof's own words, not a fork's.
    const noTiles = answering((url) => (/\/tile\/1\/000\.p\/3$/.test(url) ? Response.json({ error: 'internal error', code: 'INTERNAL' }, { status: 500 }) : undefined), changedProof);
    const unproved = await monitor(server.url, [], captureIo({ fetch: noTiles }));
    expect([unproved.code, unproved.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'inconsistent', message: expect.stringMatching(/^the log's consistency proof from tree size 610 .* does not verify: either the second tree does not extend the first, or the proof is not for these sizes/) })]]);
    expect(await state()).toEqual(kept);
    const stale = await monitor(server.url, ['--max-age', '60'], captureIo({ now: () => Date.now() + 3_600_000 }));
    expect(stale.code).toBe(1);
    // The stale alarm is raised as soon as the signed tree head verifies, before the walk; the round still goes on.
    expect(stale.events.map((e) => e.event)).toEqual(['alarm', 'verified']);
    expect(stale.events[0]).toMatchObject({ kind: 'stale', message: expect.stringMatching(/signed tree head is \d+ s old/) });
    // The webhook's description of a stale alarm names the signed tree head's timestamp, as for every alarm about one.
    const staleHook = posted.find((p) => p.kind === 'stale') as { observed: { sth_timestamp?: number } } | undefined;
    expect(staleHook?.observed.sth_timestamp).toBe(stale.events[1]!.sth_timestamp);
    expect((await state()).tree_size).toBe(768); // the history itself checked out

    await add(client, 'genuine', 1, 768);
    const fresh = await monitor(server.url, ['--max-age', '600']);
    expect(fresh.code).toBe(0);
    expect(fresh.events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 769, grew: 1 })]);
  } finally {
    await server.close();
  }
});

test('operational errors exit 2; without --once it keeps watching until stopped', async () => {
  const down = await monitor('http://127.0.0.1:9');
  expect(down.code).toBe(2);
  expect(down.events).toEqual([expect.objectContaining({ event: 'error' })]);
  // With --max-age, an unreachable log whose last verified signed tree head is older than that is stale: silence is an alarm.
  const verified = await state();
  const recent = await monitor('http://127.0.0.1:9', ['--max-age', '600']);
  expect([recent.code, recent.events.map((e) => e.event)]).toEqual([2, ['error']]);
  const silent = await monitor('http://127.0.0.1:9', ['--max-age', '60'], captureIo({ now: () => verified.sth_timestamp + 3_600_000 }));
  expect(silent.code).toBe(1);
  expect(silent.events.map((e) => e.event)).toEqual(['error', 'alarm']);
  expect(silent.events[1]).toMatchObject({
    kind: 'stale',
    message: expect.stringMatching(/^no newer signed tree head could be verified, and the last verified one is 3600 s old \(timestamp \S+; by this machine's clock, which may be ahead, or the log's behind\); --max-age is 60 s; the round failed: /),
    observed: { tree_size: verified.tree_size, root_hash: verified.root_hash, sth_timestamp: verified.sth_timestamp },
  });
  expect(await state()).toEqual(verified);
  expect(await monitorCommand(['--url', 'http://127.0.0.1:9', '--vkey', vkey], captureIo())).toBe(2);
  const help = captureIo();
  expect(await monitorCommand(['--help'], help)).toBe(0);
  expect(help.out()).toMatch(/Exit status:\n  0 .*\n  1  an alarm was raised\n  2 /);

  const { server, client } = await start('genuine');
  try {
    const controller = new AbortController();
    let rounds = 0;
    let growing: Promise<void> = Promise.resolve();
    const io = captureIo({
      signal: controller.signal,
      onSleep: () => {
        rounds++;
        if (rounds === 1) growing = add(client, 'genuine', 3, 769); // the log grows between rounds 1 and 2
        if (rounds === 3) controller.abort();
      },
    });
    const waitingIo = { ...io, sleep: async (ms: number) => { await io.sleep(ms); await growing; } };
    expect(await monitorCommand(['--url', server.url, '--vkey', vkey, '--state', statePath, '--interval', '1.5', '--json'], waitingIo)).toBe(0);
    expect(io.sleeps).toEqual([1500, 1500, 1500]);
    const events = io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { event: string; tree_size: number });
    expect(events.map((e) => e.event)).toEqual(['unchanged', 'verified', 'unchanged', 'stopped']);
    expect(events[1]!.tree_size).toBe(772);
  } finally {
    await server.close();
  }
});

test('signed tree heads against the last verified one: never smaller, never earlier, one tree per timestamp, not from the future', async () => {
  const { server } = await start('genuine');
  const signer = newSigner((await readFile(keyFile, 'utf8')).trim());
  const withTreeHead = (head: TreeHead) => captureIo({ fetch: answering((url) => (url.endsWith('/ct/v1/get-sth') ? Response.json(signTreeHead(head, signer)) : undefined)) });
  try {
    expect((await monitor(server.url)).code).toBe(0);
    const before = await state();
    expect(before).toMatchObject({ tree_size: 772, sth_tree_size: 772, sth_root_hash: before.root_hash });
    const t = before.sth_timestamp;
    const root = decodeBase64(before.root_hash);
    const now = Date.now();
    const cases: [string, TreeHead, string, RegExp][] = [
      ['earlier', { timestamp: t - 1, treeSize: 772, rootHash: root }, 'timestamp', /^the signed tree head's timestamp went back from \S+Z to \S+Z$/],
      ['smaller, with a later timestamp', { timestamp: now + 1000, treeSize: 300, rootHash: root }, 'smaller-tree', /^the signed tree head shrank from 772 to 300 leaves$/],
      ['the same timestamp, a larger tree', { timestamp: t, treeSize: 773, rootHash: root }, 'timestamp', /^two signed tree heads with the timestamp \S+Z: tree sizes 772 and 773$/],
      ['another root for the same size', { timestamp: now + 1000, treeSize: 772, rootHash: flip(root, 0) }, 'fork', /^two roots for tree size 772/],
      ['11 minutes ahead', { timestamp: now + 11 * 60_000, treeSize: 772, rootHash: root }, 'timestamp', /is dated \S+Z, more than 10 minutes ahead of this monitor's clock$/],
      ['in the year 275760', { timestamp: 8.64e15, treeSize: 772, rootHash: root }, 'timestamp', /is dated \+275760-09-13T00:00:00\.000Z, more than 10 minutes ahead/],
    ];
    for (const [name, head, kind, message] of cases) {
      const run = await monitor(server.url, [], withTreeHead(head));
      // A head from the future is alarmed on once the round's other checks passed (the tree is unchanged), and not kept.
      const fromTheFuture = head.timestamp > now + 10 * 60_000;
      const checked = fromTheFuture ? [expect.objectContaining({ event: 'unchanged', tree_size: 772 })] : [];
      expect([name, run.code, run.events]).toEqual([name, 1, [...checked, expect.objectContaining({ event: 'alarm', kind, message: expect.stringMatching(message) })]]);
      expect(await state()).toEqual(fromTheFuture ? { ...before, verified_at: expect.any(String) } : before);
    }
    expect(posted.at(-1)).toMatchObject({ kind: 'timestamp', observed: { tree_size: 772, checkpoint: null, sth_timestamp: 8.64e15 } });

    // The very same STH again is fine (an idle log re-signs only every few minutes).
    const again = await monitor(server.url, [], withTreeHead({ timestamp: t, treeSize: 772, rootHash: root }));
    expect([again.code, again.events]).toEqual([0, [expect.objectContaining({ event: 'unchanged', sth_timestamp: t })]]);
    expect(await state()).toMatchObject({ sth_timestamp: t, sth_tree_size: 772 });

    // A state file written before sth_tree_size: it loads, and its timestamp still counts.
    const { sth_tree_size: _size, sth_root_hash: _root, ...older } = before;
    await writeFile(statePath, JSON.stringify(older));
    const back = await monitor(server.url, [], withTreeHead({ timestamp: t - 1, treeSize: 772, rootHash: root }));
    expect([back.code, back.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'timestamp' })]]);
    expect((await monitor(server.url)).code).toBe(0);
    expect(await state()).toMatchObject({ sth_timestamp: t, sth_tree_size: 772, sth_root_hash: before.root_hash });

    // Up to 10 minutes ahead is accepted; from then on an earlier one is going back.
    const skewed = now + 9 * 60_000;
    expect((await monitor(server.url, [], withTreeHead({ timestamp: skewed, treeSize: 772, rootHash: root }))).code).toBe(0);
    expect(await state()).toMatchObject({ sth_timestamp: skewed });
    const honest = await monitor(server.url);
    expect([honest.code, honest.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'timestamp' })]]);
    await writeFile(statePath, JSON.stringify(before)); // back to the honest state for the next test
  } finally {
    await server.close();
  }
});

test('a signed tree head that was ahead of its checkpoint must be extended too', async () => {
  const genuine = await start('genuine');
  try {
    const old = await state();
    await add(genuine.client, 'genuine', 1, 772);
    // The checkpoint of 772 still served, the STH already at 773: both verified, both kept.
    const lagging = answering((url) => (url.endsWith('/checkpoint') ? new Response(old.checkpoint) : undefined));
    expect((await monitor(genuine.server.url, [], captureIo({ fetch: lagging }))).code).toBe(0);
    expect(await state()).toMatchObject({ tree_size: 772, sth_tree_size: 773 });
  } finally {
    await genuine.server.close();
  }
  // The same first 772 entries, another 773rd: it extends the last checkpoint, not the last STH.
  const before = await state();
  const { server, client } = await start('fork-after-772');
  try {
    await add(client, 'genuine', 772);
    await add(client, 'forged', 2, 772);
    const run = await monitor(server.url);
    expect([run.code, run.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'inconsistent', message: expect.stringMatching(/^the tree of size 774 .* does not extend the tree of size 773 /) })]]);
    expect(await state()).toEqual(before);
  } finally {
    await server.close();
  }
});

test('a URL that is not http(s) is named as the user gave it: --webhook, --url or CAIRN_URL', async () => {
  const cases: [string[], Record<string, string>, string][] = [
    [['--url', 'http://127.0.0.1:9', '--webhook', 'notaurl'], {}, '--webhook must be an http(s) URL, got "notaurl"'],
    [['--url', 'http://127.0.0.1:9', '--webhook', 'ftp://hooks.example/alarm'], {}, '--webhook must be an http(s) URL, got "ftp://hooks.example/alarm"'],
    [['--url', 'notaurl'], {}, '--url must be an http(s) URL, got "notaurl"'],
    [[], { CAIRN_URL: 'notaurl' }, 'CAIRN_URL must be an http(s) URL, got "notaurl"'],
  ];
  for (const [args, env, message] of cases) {
    const io = captureIo({ env });
    expect(await monitorCommand([...args, '--vkey', vkey, '--state', statePath, '--once'], io)).toBe(2);
    expect(io.err()).toBe(`cairn monitor: ${message}\nRun 'cairn monitor --help' for its options.\n`);
  }
});

test('without --url or CAIRN_URL the monitor watches http://127.0.0.1:8080, as the other client commands do; its help says so', async () => {
  const asked: string[] = [];
  const io = captureIo({
    fetch: async (url) => {
      asked.push(url);
      throw new Error('connect ECONNREFUSED');
    },
  });
  expect(await monitorCommand(['--vkey', vkey, '--state', join(dir, 'default-url-state.json'), '--once'], io)).toBe(2);
  expect(asked[0]).toBe('http://127.0.0.1:8080/checkpoint');
  expect(io.err()).toMatch(/error: GET http:\/\/127\.0\.0\.1:8080\/checkpoint: connect ECONNREFUSED/);
  const help = captureIo();
  expect(await monitorCommand(['--help'], help)).toBe(0);
  expect(help.out()).toMatch(/^usage: cairn monitor --vkey KEY --state FILE \[options\]\n/);
  expect(help.out()).toMatch(/--url URL +the log \(CAIRN_URL; default http:\/\/127\.0\.0\.1:8080\)/);
});

test('a --state in a folder that does not exist is refused (2) before the log is asked', async () => {
  const asked: string[] = [];
  const missing = join(dir, 'no-such-folder');
  const io = captureIo({
    fetch: async (url, init) => {
      asked.push(url);
      return fetch(url, init);
    },
  });
  expect(await monitorCommand(['--url', 'http://127.0.0.1:9', '--vkey', vkey, '--state', join(missing, 'state.json'), '--once'], io)).toBe(2);
  expect(io.err()).toBe(`cairn monitor: cannot keep the state file ${join(missing, 'state.json')}: the folder ${missing} does not exist (ENOENT: no such file or directory); make it first: mkdir -p ${missing}\n`);
  expect(asked).toEqual([]);
  // A file where the folder should be.
  await writeFile(join(dir, 'a-file'), 'x');
  const under = captureIo({ fetch: async (url) => (asked.push(url), new Response('')) });
  expect(await monitorCommand(['--url', 'http://127.0.0.1:9', '--vkey', vkey, '--state', join(dir, 'a-file', 'state.json'), '--once'], under)).toBe(2);
  expect(under.err()).toMatch(/is not a folder, or a part of its path is a file \(ENOTDIR: not a directory\)/);
  expect(asked).toEqual([]);
});

test('a verifier key that is neither a key nor a file is named as the user gave it: --vkey or CAIRN_VKEY', async () => {
  const cases: [string[], Record<string, string>, string][] = [
    [['--vkey', 'nokey'], {}, '--vkey "nokey" is neither a verifier key (<origin>+<hash>+<base64>) nor a readable file'],
    [[], { CAIRN_VKEY: 'nokey' }, 'CAIRN_VKEY "nokey" is neither a verifier key (<origin>+<hash>+<base64>) nor a readable file'],
  ];
  for (const [args, env, message] of cases) {
    const io = captureIo({ env });
    expect(await monitorCommand(['--url', 'http://127.0.0.1:9', ...args, '--state', statePath, '--once'], io)).toBe(2);
    expect(io.err()).toBe(`cairn monitor: ${message}\nRun 'cairn monitor --help' for its options.\n`);
  }
});

/**
 * A log of `treeSize` copies of one entry, answered from memory: with every
 * leaf the same, the hash of a perfect subtree of 2^k leaves is one value per
 * k, so the root and every tile of a tree far too large to store are real.
 */
function identicalLog(origin: string, treeSize: number, entry: Uint8Array): { verifierKey: string; fetch: FetchLike; paths: string[] } {
  const skey = generateSignerKey(origin);
  const signer = newSigner(skey);
  const perfect = [leafHash(entry)];
  for (let k = 1; k <= 53; k++) perfect.push(nodeHash(perfect[k - 1]!, perfect[k - 1]!));
  // RFC 6962 §2.1: the perfect subtrees of the size's binary digits, the largest leftmost.
  let root: Uint8Array | undefined;
  for (let k = 0; k <= 52; k++) if (Math.floor(treeSize / 2 ** k) % 2 === 1) root = root === undefined ? perfect[k]! : nodeHash(perfect[k]!, root);
  const rootHash = root!;
  const paths: string[] = [];
  const fetchFromMemory: FetchLike = async (url) => {
    const path = new URL(url).pathname.slice(1);
    paths.push(path);
    if (path === 'checkpoint') return new Response(signCheckpoint({ origin, treeSize, rootHash, extensions: [] }, signer));
    if (path === 'ct/v1/get-sth') return Response.json(signTreeHead({ timestamp: Date.now(), treeSize, rootHash }, signer));
    if (path.startsWith('tile/')) {
      const tile = parseTilePath(path);
      if (tile.level === -1) return new Response(encodeEntryBundle(Array.from({ length: tile.width }, () => entry)) as unknown as BodyInit);
      const data = new Uint8Array(tile.width * 32);
      for (let i = 0; i < tile.width; i++) data.set(perfect[8 * tile.level]!, i * 32);
      return new Response(data as unknown as BodyInit);
    }
    return Response.json({ error: 'not found', code: 'NOT_FOUND' }, { status: 404 });
  };
  return { verifierKey: verifierKeyFromSignerKey(skey), fetch: fetchFromMemory, paths };
}

test('a signed tree of 2^48 + 12,345 leaves: its 2^40 new tiles are walked, not listed, and stopping ends the round, keeping the entries it checked', async () => {
  const size = 2 ** 48 + 12_345;
  const log = identicalLog('huge.test/log', size, enc('one entry, again and again'));
  const controller = new AbortController();
  const tileFetches = () => log.paths.filter((p) => p.startsWith('tile/')).length;
  const io = captureIo({
    signal: controller.signal,
    fetch: async (url, init) => {
      if (tileFetches() >= 40) controller.abort(); // SIGINT, in effect, after 40 tiles and bundles
      return log.fetch(url, init);
    },
  });
  const hugeState = join(dir, 'huge-state.json');
  // No bound on the round (the default is 2^20 entries, see monitor-rounds.test.ts): the whole walk is one round.
  expect(await monitorCommand(['--url', 'http://huge.test', '--vkey', log.verifierKey, '--state', hugeState, '--json', '--max-round-entries', String(Number.MAX_SAFE_INTEGER)], io)).toBe(0);
  const events = io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { event: string; message: string; checked_to: number });
  expect(events).toEqual([expect.objectContaining({ event: 'stopped', verified_tree_size: 0, tree_size: size, saved: true })]);
  const [, done, total] = /^stopped after (\d+) of (\d+) tiles and bundles of the entries from 0 up to 281474976723001 of the tree of size 281474976723001$/.exec(events[0]!.message) ?? [];
  // The round knew its length (2^40 level-0 tiles, each with its bundle) without listing it, and had begun.
  expect(Number(total)).toBeGreaterThan(2 * 2 ** 40);
  expect(Number(done)).toBeGreaterThan(0);
  expect(log.paths).toContain('tile/entries/000');
  expect(tileFetches()).toBeLessThan(100);
  // The first bundles, checked before the stop, are kept as an unfinished walk; the checkpoint is not.
  const checkedTo = events[0]!.checked_to;
  expect(checkedTo % 256).toBe(0);
  expect(checkedTo).toBeGreaterThan(0);
  expect(JSON.parse(await readFile(hugeState, 'utf8'))).toMatchObject({ checkpoint: null, tree_size: 0, partial: { tree_size: size, checked_to: checkedTo } });

  // The auditor's 2^53 − 1: an alarm (unverifiable), since no tile reader can number its hashes, raised before any tile is asked for.
  const largest = identicalLog('huge.test/log', Number.MAX_SAFE_INTEGER, enc('one entry, again and again'));
  const stop = new AbortController();
  const largestIo = captureIo({
    signal: stop.signal,
    fetch: async (url, init) => {
      if (largest.paths.length >= 40) stop.abort();
      return largest.fetch(url, init);
    },
  });
  const largestState = join(dir, 'largest-state.json');
  expect(await monitorCommand(['--url', 'http://huge.test', '--vkey', largest.verifierKey, '--state', largestState, '--json', '--once'], largestIo)).toBe(1);
  const ended = largestIo.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { event: string; message: string });
  expect(ended).toEqual([expect.objectContaining({ event: 'alarm', kind: 'unverifiable', message: expect.stringMatching(/^the log signed a checkpoint of 9007199254740991 leaves, past the 2\^52 /) })]);
  expect(largest.paths).toEqual(['checkpoint', 'ct/v1/get-sth']);
  await expect(access(largestState)).rejects.toThrow(/ENOENT/);
});
