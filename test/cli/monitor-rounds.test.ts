// cairn monitor against a log far ahead of it: one round walks at most
// --max-round-entries new entries, saves how far it got (never as a verified
// checkpoint) and the next round goes on from there; the newest heads are
// checked first every round, so a stale head, a fork or a shrink alarms at
// once however long the walk is; a signed size past what a tile reader can
// number is an alarm of its own. A stop in a round's walk ends the requests
// in flight and keeps what the walk checked without a gap, as a long walk also
// does every 256 bundles, for a monitor killed with SIGKILL; --once walks to the
// checkpoint it found first, however fast the log grows, while every round
// checks the newest heads against the newest ones seen before. The log is a real
// HTTP server on 127.0.0.1 (port 0) serving identical entries, so that every
// tile of any size is real.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { EventEmitter, once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MONITOR_USAGE, monitorCommand } from '../../src/cli/monitor.js';
import type { FetchLike } from '../../src/client/http.js';
import { encodeEntryBundle } from '../../src/merkle/bundle.js';
import { EMPTY_ROOT, leafHash, nodeHash } from '../../src/merkle/hash.js';
import { proveConsistency } from '../../src/merkle/proof.js';
import { splitStoredHashIndex } from '../../src/merkle/stored.js';
import { parseTilePath, tileWidth } from '../../src/merkle/tile.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { generateSignerKey, newSigner, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { signTreeHead } from '../../src/note/sth.js';
import { CLI } from '../helpers/server-process.js';
import { SERVER_CERT, SERVER_KEY } from '../helpers/tls-certs.js';
import { busyFor60s, captureIo, hang, sleepUntilStopped, type CapturedIo } from './client-io.js';

const enc = (s: string) => new TextEncoder().encode(s);
const ORIGIN = 'rounds.test/log';
const skey = generateSignerKey(ORIGIN);
const signer = newSigner(skey);
const vkey = verifierKeyFromSignerKey(skey);

/** The hashes of the perfect subtrees of 2^k copies of `entry`, k = 0..63. */
function perfectHashes(entry: Uint8Array): Uint8Array[] {
  const perfect = [leafHash(entry)];
  for (let k = 1; k < 64; k++) perfect.push(nodeHash(perfect[k - 1]!, perfect[k - 1]!));
  return perfect;
}

/** RFC 6962 §2.1: the root of `size` copies of one entry, from the perfect subtrees of the size's binary digits. */
function rootOf(perfect: readonly Uint8Array[], size: number): Uint8Array {
  let root: Uint8Array | undefined;
  for (let k = 0; k <= 53; k++) if (Math.floor(size / 2 ** k) % 2 === 1) root = root === undefined ? perfect[k]! : nodeHash(perfect[k]!, root);
  return root ?? EMPTY_ROOT;
}

/**
 * A log of `size` copies of `entry` on 127.0.0.1: its checkpoint, signed tree
 * head (of `sthSize`, default `size`, dated `timestamp()`), consistency
 * proofs, tiles and entry bundles. Every field may change between requests;
 * `answer` may replace any answer; `paths` records every request.
 */
interface UniformLog {
  url: string;
  size: number;
  sthSize: number | undefined;
  entry: Uint8Array;
  timestamp: () => number;
  answer: ((path: string) => { status: number; body: Uint8Array | string } | undefined) | undefined;
  /** Called before a request is answered. */
  onRequest: ((path: string) => void) | undefined;
  /** Requests for which it returns true are never answered (until close). */
  hold: ((path: string) => boolean) | undefined;
  readonly paths: string[];
  close(): Promise<void>;
}

async function uniformLog(size: number): Promise<UniformLog> {
  let server: Server | undefined;
  const log: UniformLog = {
    url: '',
    size,
    sthSize: undefined,
    entry: enc('x'),
    timestamp: () => Date.now(),
    answer: undefined,
    onRequest: undefined,
    hold: undefined,
    paths: [],
    close: () =>
      new Promise((resolve) => {
        server!.close(() => resolve());
        // A request the monitor gave up (stopped) may hold its connection open: it is not waited for.
        server!.closeAllConnections();
      }),
  };
  server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://log');
      const path = url.pathname.slice(1);
      log.paths.push(path + url.search);
      log.onRequest?.(path);
      if (log.hold?.(path) === true) return;
      const send = (status: number, body: Uint8Array | string, type = 'application/octet-stream') => {
        res.writeHead(status, { 'Content-Type': type });
        res.end(body);
      };
      const json = (status: number, value: unknown) => send(status, JSON.stringify(value), 'application/json');
      const replaced = log.answer?.(path);
      if (replaced !== undefined) return send(replaced.status, replaced.body);
      const perfect = perfectHashes(log.entry);
      if (path === 'checkpoint') return send(200, signCheckpoint({ origin: ORIGIN, treeSize: log.size, rootHash: rootOf(perfect, log.size), extensions: [] }, signer), 'text/plain; charset=utf-8');
      if (path === 'ct/v1/get-sth') {
        const treeSize = log.sthSize ?? log.size;
        return json(200, signTreeHead({ timestamp: log.timestamp(), treeSize, rootHash: rootOf(perfect, treeSize) }, signer));
      }
      if (path === 'ct/v1/get-sth-consistency') {
        const first = Number(url.searchParams.get('first'));
        const second = Number(url.searchParams.get('second'));
        if (!(first > 0 && first <= second && second <= Math.max(log.size, log.sthSize ?? 0))) return json(400, { error: 'out of range', code: 'BAD_REQUEST' });
        const reader = { readHashes: (ix: readonly number[]) => Promise.resolve(ix.map((i) => perfect[splitStoredHashIndex(i).level]!)) };
        return json(200, { consistency: (await proveConsistency(first, second, reader)).map(encodeBase64) });
      }
      if (path.startsWith('tile/')) {
        const tile = parseTilePath(path);
        if (tileWidth(Math.max(tile.level, 0), tile.n, log.size) < tile.width) return json(404, { error: 'not found', code: 'NOT_FOUND' });
        if (tile.level === -1) return send(200, encodeEntryBundle(Array.from({ length: tile.width }, () => log.entry)));
        const data = new Uint8Array(tile.width * 32);
        for (let i = 0; i < tile.width; i++) data.set(perfect[8 * tile.level]!, i * 32);
        return send(200, data);
      }
      return json(404, { error: 'not found', code: 'NOT_FOUND' });
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  log.url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  return log;
}

interface SavedState {
  version: number;
  checkpoint: string | null;
  tree_size: number;
  root_hash: string;
  sth_timestamp: number;
  sth_tree_size: number;
  partial?: { checkpoint: string; tree_size: number; root_hash: string; checked_to: number };
  newest?: { checkpoint: string; tree_size: number; root_hash: string };
}

let dir: string;
let stateCount = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-monitor-rounds-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What a first run that verified the newest heads (of `size`) but checked no entry keeps: that checkpoint as the newest seen, nothing as checked. */
async function expectOnlyNewest(path: string, size: number): Promise<void> {
  const kept = await readState(path);
  expect(kept).toMatchObject({ checkpoint: null, tree_size: 0, newest: { tree_size: size } });
  expect(kept).not.toHaveProperty('partial');
}

/** A new state file path, not yet written. */
const freshState = () => join(dir, `state-${++stateCount}.json`);
const readState = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as SavedState;
const readStateOrNull = async (path: string) => readState(path).catch(() => null);

async function monitor(log: UniformLog, statePath: string, extra: string[], io: CapturedIo = captureIo()) {
  const code = await monitorCommand(['--url', log.url, '--vkey', vkey, '--state', statePath, '--json', ...extra], io);
  const events = io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, events, io };
}

/** From now on the log answers 500 to each request whose path `down` is true of. */
function failWhere(log: UniformLog, down: (path: string) => boolean): void {
  log.answer = (path) => (down(path) ? { status: 500, body: '{"error":"down","code":"INTERNAL"}' } : undefined);
}

/** From now on the log answers its second checkpoint request 500: a run with rounds of 512 stops in its second round. */
function failSecondCheckpoint(log: UniformLog): void {
  let checkpoints = 0;
  failWhere(log, (path) => path === 'checkpoint' && ++checkpoints === 2);
}

/**
 * A first `--once` run verifies `log` (of 1300) into `statePath`; then the
 * log grows to 2000 with the requests `down` is true of failing, and a second
 * run ends in an error (exit 2). Resolves to the state the first run left.
 */
async function verifiedThenFailedGrowth(log: UniformLog, statePath: string, down: (path: string) => boolean): Promise<SavedState> {
  expect((await monitor(log, statePath, ['--once'])).code).toBe(0);
  const verified = await readState(statePath);
  log.size = 2000;
  failWhere(log, down);
  const failed = await monitor(log, statePath, ['--once']);
  expect([failed.code, failed.events.map((e) => e.event)]).toEqual([2, ['error']]);
  return verified;
}

/** A `--once` run over `log` (rounds of 512) that stops in its second round (exit 2), its log honest again after: the state it left, a walk unfinished at 512. */
async function leaveUnfinishedWalk(log: UniformLog, statePath: string): Promise<SavedState> {
  failSecondCheckpoint(log);
  expect((await monitor(log, statePath, ['--once', '--max-round-entries', '512'])).code).toBe(2);
  log.answer = undefined;
  return readState(statePath);
}

/** The entry bundles the log was asked for, grouped by round (a round starts with its checkpoint). */
function bundlesByRound(paths: readonly string[]): string[][] {
  const rounds: string[][] = [];
  for (const p of paths) {
    if (p === 'checkpoint') rounds.push([]);
    else if (p.startsWith('tile/entries/')) rounds.at(-1)!.push(p.slice('tile/entries/'.length));
  }
  return rounds;
}

test('a log further ahead than --max-round-entries is walked over rounds, back to back, each saving its progress; only the last moves the verified checkpoint', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    // What the state file holds as each round begins.
    const seen: (SavedState | null)[] = [];
    const snapshots: Promise<void>[] = [];
    log.onRequest = (path) => {
      if (path === 'checkpoint') snapshots.push(readStateOrNull(statePath).then((s) => void seen.push(s)));
    };
    const run = await monitor(log, statePath, ['--once', '--max-round-entries', '512']);
    await Promise.all(snapshots);
    expect(run.code).toBe(0);
    expect(run.events).toEqual([
      expect.objectContaining({ event: 'progress', tree_size: 1300, verified_tree_size: 0, checked_from: 0, checked_to: 512, remaining: 788, bundles: 2 }),
      expect.objectContaining({ event: 'progress', tree_size: 1300, verified_tree_size: 0, checked_from: 512, checked_to: 1024, remaining: 276, bundles: 2 }),
      expect.objectContaining({ event: 'verified', tree_size: 1300, grew: 1300, bundles: 2 }),
    ]);
    // Each entry bundle read once, in the round whose entries it holds, at its width in the tree of 1300.
    expect(bundlesByRound(log.paths)).toEqual([['000', '001'], ['002', '003'], ['004', '005.p/20']]);
    // Before the walk finished the state held no verified checkpoint, only how far the walk got.
    expect(seen.map((s) => s && { checkpoint: s.checkpoint, tree_size: s.tree_size, checked_to: s.partial?.checked_to, partial_size: s.partial?.tree_size })).toEqual([
      null,
      { checkpoint: null, tree_size: 0, checked_to: 512, partial_size: 1300 },
      { checkpoint: null, tree_size: 0, checked_to: 1024, partial_size: 1300 },
    ]);
    const done = await readState(statePath);
    expect(done).toMatchObject({ tree_size: 1300, root_hash: encodeBase64(rootOf(perfectHashes(enc('x')), 1300)), sth_tree_size: 1300 });
    expect(done.checkpoint).toMatch(/^rounds\.test\/log\n1300\n/);
    expect(done.partial).toBeUndefined();

    // Without --once: the log grew by 800; the rounds follow each other without waiting, and only then comes --interval.
    log.size = 2100;
    log.paths.length = 0;
    const controller = new AbortController();
    const io = captureIo({ signal: controller.signal, onSleep: () => controller.abort() });
    const watching = await monitor(log, statePath, ['--interval', '5', '--max-round-entries', '512'], io);
    expect(watching.code).toBe(0);
    expect(watching.events).toEqual([
      expect.objectContaining({ event: 'progress', tree_size: 2100, verified_tree_size: 1300, checked_from: 1300, checked_to: 1792 }),
      expect.objectContaining({ event: 'verified', tree_size: 2100, grew: 800 }),
      expect.objectContaining({ event: 'stopped', message: 'stopped while waiting for the next round' }),
    ]);
    expect(io.sleeps).toEqual([5000]);
    // The bundle the last verified tree ended in is read again, now full; the walk stops on a bundle boundary (1792 = 7 · 256).
    expect(bundlesByRound(log.paths)).toEqual([['005', '006'], ['007', '008.p/52']]);
    expect(await readState(statePath)).toMatchObject({ tree_size: 2100 });
  } finally {
    await log.close();
  }
});

test('the verified event of a round that went on from a saved walk says from which entry it checked (checked_from); one of a round that walked from the last verified checkpoint has none', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    const first = await monitor(log, statePath, ['--once', '--max-round-entries', '512']);
    expect(first.code).toBe(0);
    expect(first.events.map((e) => [e.event, e.checked_from])).toEqual([
      ['progress', 0],
      ['progress', 512],
      ['verified', 1024],
    ]);
    // The log grew by 200: walked from the last verified checkpoint, as a progress event's checked_from would say, so none.
    log.size = 1500;
    const grown = await monitor(log, statePath, ['--once', '--max-round-entries', '512']);
    expect(grown.events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 1500, grew: 200 })]);
    expect(grown.events[0]).not.toHaveProperty('checked_from');
    const same = await monitor(log, statePath, ['--once']);
    expect(same.events).toEqual([expect.objectContaining({ event: 'unchanged', tree_size: 1500 })]);
    expect(same.events[0]).not.toHaveProperty('checked_from');
    // A walk on from a verified checkpoint, left unfinished (the log failing its next round) and finished by the next run.
    log.size = 2600;
    failSecondCheckpoint(log);
    const unfinished = await monitor(log, statePath, ['--once', '--max-round-entries', '512']);
    expect(unfinished.events.map((e) => [e.event, e.checked_from, e.checked_to])).toEqual([
      ['progress', 1500, 1792],
      ['error', undefined, undefined],
    ]);
    log.answer = undefined;
    const finished = await monitor(log, statePath, ['--once']);
    expect(finished.events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 2600, grew: 1100, checked_from: 1792 })]);
  } finally {
    await log.close();
  }
});

test('progress is never taken for verification: a failed round keeps what was checked before it, a bad bundle alarms, a new run resumes where the last stopped', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    // The checkpoint fails in round 2: an error (2), and round 1's progress stays.
    failSecondCheckpoint(log);
    const failed = await monitor(log, statePath, ['--once', '--max-round-entries', '512']);
    expect([failed.code, failed.events.map((e) => e.event)]).toEqual([2, ['progress', 'error']]);
    const kept = await readState(statePath);
    expect(kept).toMatchObject({ checkpoint: null, tree_size: 0, partial: { tree_size: 1300, checked_to: 512 } });

    // A new run goes on from entry 512; bundle 003 does not match its tile: an alarm, and the progress stays at 512.
    log.answer = undefined;
    log.paths.length = 0;
    const original = log.entry;
    log.onRequest = (path) => {
      log.entry = path === 'tile/entries/003' ? enc('y') : original;
    };
    const bad = await monitor(log, statePath, ['--once', '--max-round-entries', '512']);
    expect([bad.code, bad.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'entry-mismatch' })]]);
    expect(bundlesByRound(log.paths)[0]).toContain('003');
    expect(bundlesByRound(log.paths)[0]).not.toContain('000');
    expect(await readState(statePath)).toEqual(kept);

    // The honest log again: entries 512 on, never 0 to 511 again.
    log.onRequest = undefined;
    log.entry = original;
    log.paths.length = 0;
    const resumed = await monitor(log, statePath, ['--once', '--max-round-entries', '512']);
    expect(resumed.code).toBe(0);
    expect(resumed.events).toEqual([
      expect.objectContaining({ event: 'progress', checked_from: 512, checked_to: 1024 }),
      expect.objectContaining({ event: 'verified', tree_size: 1300, grew: 1300 }),
    ]);
    expect(bundlesByRound(log.paths)).toEqual([['002', '003'], ['004', '005.p/20']]);
    expect(await readState(statePath)).toMatchObject({ tree_size: 1300 });
    expect((await readState(statePath)).partial).toBeUndefined();
  } finally {
    await log.close();
  }
});

test('a fork, another history or a shrink seen while a walk is unfinished alarms at once, before any entry is walked', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    const unfinished = await leaveUnfinishedWalk(log, statePath);
    expect(unfinished.partial).toMatchObject({ tree_size: 1300, checked_to: 512 });

    const cases: [string, () => void, string][] = [
      ['another root for 1300', () => ((log.entry = enc('y')), (log.size = 1300)), 'fork'],
      ['a longer tree of another history', () => ((log.entry = enc('y')), (log.size = 1400)), 'inconsistent'],
      ['a smaller tree', () => ((log.entry = enc('x')), (log.size = 1000)), 'smaller-tree'],
    ];
    for (const [name, change, kind] of cases) {
      change();
      log.paths.length = 0;
      const run = await monitor(log, statePath, ['--once', '--max-round-entries', '512']);
      expect([name, run.code, run.events]).toEqual([name, 1, [expect.objectContaining({ event: 'alarm', kind })]]);
      expect([name, log.paths.filter((p) => p.startsWith('tile/entries/'))]).toEqual([name, []]);
      expect(await readState(statePath)).toEqual(unfinished);
    }

    // The walk's own checkpoint is held to as well: with no signed tree head kept (a state file written before
    // sth_tree_size existed), only it tells that another root for 1300 is a fork, and not a tree to walk on in.
    const { sth_tree_size: _size, sth_root_hash: _root, ...withoutSth } = unfinished as SavedState & { sth_root_hash?: string };
    await writeFile(statePath, JSON.stringify(withoutSth));
    log.entry = enc('y');
    log.size = 1300;
    log.paths.length = 0;
    const forked = await monitor(log, statePath, ['--once', '--max-round-entries', '512']);
    expect([forked.code, forked.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'fork', message: expect.stringMatching(/^two roots for tree size 1300/) })]]);
    expect(log.paths.filter((p) => p.startsWith('tile/entries/'))).toEqual([]);
    expect(await readState(statePath)).toEqual(withoutSth);
  } finally {
    await log.close();
  }
});

test('a stale signed tree head alarms as soon as it verifies, before the walk, whatever the walk then does', async () => {
  // The auditor's case: a log of 2^40 entries, its signed tree head two hours old, --max-age 5 s.
  const log = await uniformLog(2 ** 40);
  log.timestamp = () => Date.now() - 2 * 3600_000;
  try {
    const statePath = freshState();
    const controller = new AbortController();
    let outAtFirstTile: string | undefined;
    const io = captureIo({ signal: controller.signal });
    log.onRequest = (path) => {
      if (!path.startsWith('tile/') || outAtFirstTile !== undefined) return;
      outAtFirstTile = io.out();
      controller.abort(); // SIGTERM, in effect, as the walk begins
    };
    const run = await monitor(log, statePath, ['--once', '--max-age', '5'], io);
    // The alarm was out before the first tile was asked for; the walk, stopped, changes nothing of it.
    expect(outAtFirstTile).toMatch(/"event":"alarm","kind":"stale","message":"the newest signed tree head is 7\d{3} s old/);
    expect(run.code).toBe(1);
    expect(run.events.map((e) => [e.event, e.kind])).toEqual([
      ['alarm', 'stale'],
      ['stopped', undefined],
    ]);
    // The default bound: one round walks 2^20 entries of the 2^40.
    expect(run.events[1]!.message).toMatch(/^stopped after \d+ of \d+ tiles and bundles of the entries from 0 up to 1048576 of the tree of size 1099511627776$/);
    // What it checked of the walk is nothing: only the heads it verified are kept.
    await expectOnlyNewest(statePath, 2 ** 40);

    // Not stopped: the round walks its 512 entries and saves them; --once ends there, since it alarmed.
    log.onRequest = undefined;
    const bounded = await monitor(log, statePath, ['--once', '--max-age', '5', '--max-round-entries', '512']);
    expect(bounded.code).toBe(1);
    expect(bounded.events).toEqual([
      expect.objectContaining({ event: 'alarm', kind: 'stale' }),
      expect.objectContaining({ event: 'progress', tree_size: 2 ** 40, checked_from: 0, checked_to: 512, remaining: 2 ** 40 - 512 }),
    ]);
    expect(await readState(statePath)).toMatchObject({ checkpoint: null, tree_size: 0, partial: { tree_size: 2 ** 40, checked_to: 512 } });
  } finally {
    await log.close();
  }
});

test('a stale alarm on a log that grew since the last verified round says by how much, and that the log\'s clock may be behind or this machine\'s ahead; on one that did not grow it names the clocks in brief', async () => {
  // A log whose clock is an hour behind the monitor's: its signed tree heads are an hour old when signed.
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    const now = Date.now();
    let signed = now - 3_600_000;
    log.timestamp = () => signed;
    const run = async (then: 'verified' | 'unchanged' = 'verified') => {
      const done = await monitor(log, statePath, ['--once', '--max-age', '60'], captureIo({ now: () => now }));
      expect(done.code).toBe(1);
      expect(done.events.map((e) => [e.event, e.kind])).toEqual([
        ['alarm', 'stale'],
        [then, undefined],
      ]);
      return done.events[0]!.message;
    };
    const brief = (ts: number) =>
      `the newest signed tree head is 3600 s old (timestamp ${new Date(ts).toISOString()}; by this machine's clock, which may be ahead, or the log's behind); --max-age is 60 s`;
    // A first run: there is no last round to have grown since.
    expect(await run()).toBe(brief(signed));
    // The log grew, and signed its new head at its last timestamp + 1 (as Cairn does while its clock is behind).
    log.size = 1500;
    signed += 1;
    expect(await run()).toBe(
      `the newest signed tree head is 3600 s old (timestamp ${new Date(signed).toISOString()}); --max-age is 60 s; yet the tree grew by 200 leaves since the last verified round (from 1300 to 1500): the log's clock may be behind, or this machine's ahead`,
    );
    // Not grown since: the clocks in brief.
    expect(await run('unchanged')).toBe(brief(signed));
  } finally {
    await log.close();
  }
});

test('while the log cannot be reached, --max-age raises stale again every round, but POSTs it to the webhook once a run (a --once run from cron: every run); the help says so', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    expect((await monitor(log, statePath, ['--once'])).code).toBe(0);
    const verified = await readState(statePath);
    failWhere(log, () => true);
    const posted: string[] = [];
    const hook = 'http://hook.invalid/alarms';
    const fetching: FetchLike = (url, init) => (url === hook ? (posted.push(String(init?.body)), Promise.resolve(new Response('ok'))) : fetch(url, init));
    const now = () => verified.sth_timestamp + 3_600_000;
    // Three rounds, then stopped while waiting for the fourth.
    const controller = new AbortController();
    let waits = 0;
    const io = captureIo({ now, fetch: fetching, signal: controller.signal, onSleep: (ms) => ms === 30_000 && ++waits === 3 && controller.abort() });
    const watching = await monitor(log, statePath, ['--interval', '30', '--max-age', '60', '--webhook', hook], io);
    expect(watching.code).toBe(1);
    const round = [['error', undefined], ['alarm', 'stale']];
    expect(watching.events.map((e) => [e.event, e.kind])).toEqual([...round, ...round, ...round, ['stopped', undefined]]);
    expect(posted.map((body) => (JSON.parse(body) as { kind: string }).kind)).toEqual(['stale']);
    // A run of its own (--once) POSTs it again.
    const again = await monitor(log, statePath, ['--once', '--max-age', '60', '--webhook', hook], captureIo({ now, fetch: fetching }));
    expect([again.code, again.events.map((e) => e.event)]).toEqual([1, ['error', 'alarm']]);
    expect(posted).toHaveLength(2);
    expect(MONITOR_USAGE.replace(/\s+/g, ' ')).toContain('An alarm whose cause lasts is raised again every round (stale, say, while the log cannot be reached or its signed tree head stays old): a line or event each round, but a POST only the first time a run raises it');
    expect(MONITOR_USAGE.replace(/\s+/g, ' ')).toContain('also when the log cannot be reached and the last one verified is that old; raised every round while so (the webhook: once a run)');
  } finally {
    await log.close();
  }
});

test('a webhook POST that failed is tried again when the alarm is raised again (the next round), and once one went through, not again', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    expect((await monitor(log, statePath, ['--once'])).code).toBe(0);
    const verified = await readState(statePath);
    failWhere(log, () => true);
    const hook = 'http://hook.invalid/alarms';
    let tries = 0;
    const posted: string[] = [];
    // The first POST meets a network that is down for a moment; the ones after it go through.
    const fetching: FetchLike = (url, init) => {
      if (url !== hook) return fetch(url, init);
      if (tries++ === 0) return Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }) }));
      posted.push(String(init?.body));
      return Promise.resolve(new Response('ok'));
    };
    const now = () => verified.sth_timestamp + 3_600_000;
    const controller = new AbortController();
    let waits = 0;
    const io = captureIo({ now, fetch: fetching, signal: controller.signal, onSleep: (ms) => ms === 30_000 && ++waits === 3 && controller.abort() });
    const watching = await monitor(log, statePath, ['--interval', '30', '--max-age', '60', '--webhook', hook], io);
    expect(watching.code).toBe(1);
    const round = [['error', undefined], ['alarm', 'stale']];
    expect(watching.events.map((e) => [e.event, e.kind])).toEqual([...round, ['error', undefined], ...round, ...round, ['stopped', undefined]]);
    expect(watching.events[2]!.message).toBe('webhook http://hook.invalid/… failed: fetch failed: connect ECONNREFUSED 10.0.0.1:443');
    expect(tries).toBe(2);
    expect(posted.map((body) => (JSON.parse(body) as { kind: string }).kind)).toEqual(['stale']);
  } finally {
    await log.close();
  }
});

test("a webhook that cannot be reached is reported with fetch's reason, not its bare \"fetch failed\": here an https:// one whose TLS certificate is not trusted", async () => {
  const log = await uniformLog(1300);
  // Its certificate is issued by the test certificate authority, which nothing here trusts: the POST never reaches it.
  const hooks = createHttpsServer({ key: SERVER_KEY, cert: SERVER_CERT }, (_req, res) => res.end('ok'));
  hooks.listen(0, '127.0.0.1');
  await once(hooks, 'listening');
  // A path that holds a secret, as many services' webhook URLs do: not in the message.
  const origin = `https://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
  const hook = `${origin}/alarms/s3cr3t?token=s3cr3t`;
  try {
    const statePath = freshState();
    expect((await monitor(log, statePath, ['--once'])).code).toBe(0);
    const verified = await readState(statePath);
    const stale = await monitor(log, statePath, ['--once', '--max-age', '60', '--webhook', hook], captureIo({ now: () => verified.sth_timestamp + 3_600_000 }));
    expect(stale.code).toBe(1);
    expect(stale.events.map((e) => [e.event, e.kind])).toEqual([['alarm', 'stale'], ['error', undefined], ['unchanged', undefined]]);
    expect(stale.events[1]!.message).toBe(
      `webhook ${origin}/… failed: fetch failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE: the server's TLS certificate is not trusted here (unable to verify the first certificate): ` +
        "if a private certificate authority issued it (a proxy's own, say), give that authority's certificate, as a PEM file, in NODE_EXTRA_CA_CERTS; " +
        'if a public one did, the server may not be sending its intermediate certificates',
    );
    expect(stale.io.err()).not.toContain('s3cr3t');
    expect(stale.io.out()).not.toContain('s3cr3t');
  } finally {
    hooks.closeAllConnections();
    await new Promise((resolve) => hooks.close(resolve));
    await log.close();
  }
});

test('a round that fails after a fresh signed tree head verified is stale by the last one a round passed with, and says so', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    const first = await monitor(log, statePath, ['--once']);
    expect(first.code).toBe(0);
    const verified = await readState(statePath);
    log.size = 1500;
    failWhere(log, (path) => path.startsWith('tile/entries/'));
    const io = captureIo({ now: () => verified.sth_timestamp + 3_600_000 });
    log.timestamp = () => verified.sth_timestamp + 3_600_000 - 1000; // fresh by the monitor's clock
    const run = await monitor(log, statePath, ['--once', '--max-age', '60'], io);
    expect(run.code).toBe(1);
    expect(run.events.map((e) => e.event)).toEqual(['error', 'alarm']);
    expect(run.events[1]).toMatchObject({
      kind: 'stale',
      message: expect.stringMatching(/^the round failed after verifying a newer signed tree head, and the last one a round passed with is 3600 s old .*--max-age is 60 s; the round failed: /),
    });
    // The checkpoint of 1500 is kept as the newest seen; the signed tree head kept stays the one a round passed with.
    expect(await readState(statePath)).toEqual({ ...verified, version: 2, newest: expect.objectContaining({ tree_size: 1500 }), verified_at: expect.any(String) });
  } finally {
    await log.close();
  }
});

test('a round that fails after a save of how far its walk got is stale by the signed tree head that save kept, not by the one the round began with', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    expect((await monitor(log, statePath, ['--once'])).code).toBe(0);
    const verified = await readState(statePath);
    // An hour later the log has grown by 300 bundles, its head fresh; its bundles from 290 on fail, after the walk saved at bundle 261 (256 from bundle 5).
    log.size = 1300 + 300 * 256;
    failWhere(log, (path) => /^tile\/entries\/(29\d|30\d)/.test(path));
    const now = verified.sth_timestamp + 3_600_000;
    log.timestamp = () => now - 1000;
    const run = await monitor(log, statePath, ['--once', '--max-age', '60'], captureIo({ now: () => now }));
    expect([run.code, run.events.map((e) => e.event)]).toEqual([2, ['error']]);
    const kept = await readState(statePath);
    expect(kept).toMatchObject({ tree_size: 1300, sth_timestamp: now - 1000, partial: { tree_size: 1300 + 300 * 256 } });
    expect(kept.partial!.checked_to).toBeGreaterThanOrEqual(261 * 256);
  } finally {
    await log.close();
  }
});

test('heads verified and shown consistent are kept before the walk: a walk that fails keeps them, and a later checkpoint smaller than them alarms', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    // The log grows to 2000, but its entry bundles fail: an error, the verified checkpoint stays at 1300, the newest one seen is kept.
    const verified = await verifiedThenFailedGrowth(log, statePath, (path) => path.startsWith('tile/entries/'));
    const kept = await readState(statePath);
    expect(kept).toMatchObject({ tree_size: 1300, checkpoint: verified.checkpoint, sth_tree_size: 1300, newest: { tree_size: 2000, root_hash: encodeBase64(rootOf(perfectHashes(enc('x')), 2000)) } });
    expect(kept.newest!.checkpoint).toMatch(/^rounds\.test\/log\n2000\n/);
    expect(kept).not.toHaveProperty('partial');

    // The log then shows 1600: above what was verified, below what it signed before. An alarm, and nothing moves.
    log.answer = undefined;
    log.size = 1600;
    log.paths.length = 0;
    const shrunk = await monitor(log, statePath, ['--once']);
    expect([shrunk.code, shrunk.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'smaller-tree' })]]);
    expect(log.paths.filter((p) => p.startsWith('tile/entries/'))).toEqual([]);
    expect(await readState(statePath)).toEqual(kept);

    // The log of 2000 again: the walk reaches it, and it becomes the verified checkpoint.
    log.size = 2000;
    const done = await monitor(log, statePath, ['--once']);
    expect([done.code, done.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 2000, grew: 700 })]]);
    expect(await readState(statePath)).toMatchObject({ tree_size: 2000, sth_tree_size: 2000 });
    expect(await readState(statePath)).not.toHaveProperty('newest');
  } finally {
    await log.close();
  }
});

test('a state holding newest is written as version 2, which a cairn from before newest refuses rather than drop it; versions 1 to 3 are read, others refused', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    const plain = await verifiedThenFailedGrowth(log, statePath, (path) => path.startsWith('tile/entries/'));
    // Nothing new in the first run's: version 1, which every cairn reads; the failed one kept newest.
    expect(plain).toMatchObject({ version: 1, tree_size: 1300 });
    expect(plain).not.toHaveProperty('newest');
    const withNewest = await readState(statePath);
    expect(withNewest).toMatchObject({ version: 2, tree_size: 1300, newest: { tree_size: 2000 } });

    // Version 4 is refused before the log is asked, as anything else that is not a state this cairn knows.
    log.answer = undefined;
    log.paths.length = 0;
    await writeFile(statePath, JSON.stringify({ ...withNewest, version: 4 }));
    const refused = await monitor(log, statePath, ['--once']);
    expect([refused.code, refused.io.err()]).toEqual([2, `cairn monitor: the state file ${statePath} is not a cairn monitor state\n`]);
    expect(log.paths).toEqual([]);

    // Version 1 holding newest (as cairn wrote it before version 2) is read, and held to: 1600 alarms.
    await writeFile(statePath, JSON.stringify({ ...withNewest, version: 1 }));
    log.size = 1600;
    const shrunk = await monitor(log, statePath, ['--once']);
    expect([shrunk.code, shrunk.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'smaller-tree' })]]);
    // So is version 3 (a state holding sth_ahead or checkpoint_behind, see test/cli/monitor-lag.test.ts).
    await writeFile(statePath, JSON.stringify({ ...withNewest, version: 3 }));
    const shrunk3 = await monitor(log, statePath, ['--once']);
    expect([shrunk3.code, shrunk3.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'smaller-tree' })]]);

    // Version 2 is read; once the walk reaches newest, the state holds nothing new again and is version 1.
    await writeFile(statePath, JSON.stringify(withNewest));
    log.size = 2000;
    const done = await monitor(log, statePath, ['--once']);
    expect([done.code, done.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 2000, grew: 700 })]]);
    const after = await readState(statePath);
    expect(after).toMatchObject({ version: 1, tree_size: 2000 });
    expect(after).not.toHaveProperty('newest');

    // --once walking less far than the log grew keeps newest at the end too: version 2.
    log.onRequest = (path) => void (path === 'checkpoint' && (log.size += 300));
    expect((await monitor(log, statePath, ['--once', '--max-round-entries', '256'])).code).toBe(0);
    expect(await readState(statePath)).toMatchObject({ version: 2, tree_size: 2300, newest: { tree_size: 2600 } });
  } finally {
    await log.close();
  }
});

test('a first run whose walk fails keeps the newest checkpoint it verified, with no checkpoint as verified: the next run is held to it', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    failWhere(log, (path) => path.startsWith('tile/entries/'));
    expect((await monitor(log, statePath, ['--once'])).code).toBe(2);
    const kept = await readState(statePath);
    expect(kept).toMatchObject({ checkpoint: null, tree_size: 0, sth_timestamp: null, newest: { tree_size: 1300 } });
    expect(kept).not.toHaveProperty('partial');
    log.answer = undefined;
    log.size = 1000;
    const shrunk = await monitor(log, statePath, ['--once']);
    expect([shrunk.code, shrunk.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'smaller-tree' })]]);
    log.size = 1300;
    expect((await monitor(log, statePath, ['--once'])).events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 1300 })]);
  } finally {
    await log.close();
  }
});

test('a signed size past 2^52 leaves is an unverifiable alarm, raised before any tile is asked for, every round at --interval', async () => {
  const log = await uniformLog(2 ** 52 + 1);
  try {
    const statePath = freshState();
    const controller = new AbortController();
    const io = captureIo({ signal: controller.signal, onSleep: () => void (io.sleeps.length === 2 && controller.abort()) });
    const run = await monitor(log, statePath, ['--interval', '30'], io);
    expect(run.code).toBe(1);
    expect(run.events).toEqual([
      expect.objectContaining({ event: 'alarm', kind: 'unverifiable', message: expect.stringMatching(/^the log signed a checkpoint of 4503599627370497 leaves, past the 2\^52 \(4503599627370496\) /) }),
      expect.objectContaining({ event: 'alarm', kind: 'unverifiable' }),
      expect.objectContaining({ event: 'stopped', message: 'stopped while waiting for the next round' }),
    ]);
    expect(io.sleeps).toEqual([30_000, 30_000]);
    expect(log.paths.filter((p) => p.startsWith('tile/'))).toEqual([]);
    await expect(access(statePath)).rejects.toThrow(/ENOENT/);

    // The signed tree head alone past 2^52, its checkpoint small: the same.
    log.size = 1300;
    log.sthSize = 2 ** 52 + 1;
    log.paths.length = 0;
    const sthOnly = await monitor(log, statePath, ['--once']);
    expect([sthOnly.code, sthOnly.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'unverifiable', message: expect.stringMatching(/^the log signed a signed tree head of 4503599627370497 leaves/) })]]);
    expect(log.paths.filter((p) => p.startsWith('tile/'))).toEqual([]);
    // 2^52 itself can be read: its first round walks 256 entries (stopped as the second begins).
    log.size = 2 ** 52;
    log.sthSize = undefined;
    const stop = new AbortController();
    let checkpoints = 0;
    log.onRequest = (path) => void (path === 'checkpoint' && ++checkpoints === 2 && stop.abort());
    const largest = await monitor(log, statePath, ['--max-round-entries', '256'], captureIo({ signal: stop.signal }));
    expect(largest.code).toBe(0);
    expect(largest.events).toEqual([expect.objectContaining({ event: 'progress', checked_to: 256, remaining: 2 ** 52 - 256 }), expect.objectContaining({ event: 'stopped' })]);
    expect(await readState(statePath)).toMatchObject({ partial: { tree_size: 2 ** 52, checked_to: 256 } });
  } finally {
    await log.close();
  }
});

test('--max-round-entries takes a whole number of at least one bundle; the help tells of it, and of the saves of a walk, which come only while the round\'s other checks pass', async () => {
  for (const bad of ['255', '0', 'x', '1e6', '512.0', '9007199254740992']) {
    const io = captureIo();
    expect(await monitorCommand(['--url', 'http://127.0.0.1:9', '--vkey', vkey, '--state', freshState(), '--once', '--max-round-entries', bad], io)).toBe(2);
    expect(io.err()).toBe(`cairn monitor: --max-round-entries must be an integer from 256 to 9007199254740991, got ${JSON.stringify(bad)}\nRun 'cairn monitor --help' for its options.\n`);
  }
  const help = captureIo();
  expect(await monitorCommand(['--help'], help)).toBe(0);
  expect(help.out()).toMatch(/--max-round-entries N\n +new entries one round checks \(default 1048576, at least\n +256\)/);
  // A walk's saves every 256 bundles come only while the round's other checks pass: the help does not promise more.
  expect(help.out().replace(/\s+/g, ' ')).toContain(
    "A walk also saves how far it got every 256 entry bundles (65,536 entries), as a stop saves it: only while every other check of the round has passed. A monitor killed (kill -9, a crash) then loses at most that many bundles of the round's walk. A walk that fails on a request (the log unreachable, or refusing past its retries) saves how far it got the same way, and the next round goes on from there; a round where another check failed (a consistency proof the log could not serve, say) saves none of its walk",
  );
});

test('a state file whose unfinished walk does not hold together is refused before the log is asked', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    const good = await leaveUnfinishedWalk(log, statePath);
    const otherSigner = newSigner(generateSignerKey(ORIGIN));
    const forged = signCheckpoint({ origin: ORIGIN, treeSize: 1300, rootHash: rootOf(perfectHashes(enc('x')), 1300), extensions: [] }, otherSigner);
    const cases: [string, SavedState, RegExp][] = [
      ['checked past its tree', { ...good, partial: { ...good.partial!, checked_to: 1300 } }, /is not a cairn monitor state/],
      ['not a number', { ...good, partial: { ...good.partial!, checked_to: '512' as unknown as number } }, /is not a cairn monitor state/],
      ['no checkpoint and no walk', { ...good, partial: undefined }, /is not a cairn monitor state/],
      ['signed by another key', { ...good, partial: { ...good.partial!, checkpoint: forged } }, /holds an unfinished walk's checkpoint that is not signed by rounds\.test\/log/],
    ];
    for (const [name, bad, message] of cases) {
      await writeFile(statePath, JSON.stringify(bad));
      log.paths.length = 0;
      const run = await monitor(log, statePath, ['--once']);
      expect([name, run.code, run.io.err()]).toEqual([name, 2, expect.stringMatching(message)]);
      expect(log.paths).toEqual([]);
    }
    // And the checkpoint a walk stopped in must be ahead of the verified one: a walk from 0 with a verified 1300 is refused.
    await writeFile(statePath, JSON.stringify(good));
    expect((await monitor(log, statePath, ['--once'])).code).toBe(0);
    const verified = await readState(statePath);
    await writeFile(statePath, JSON.stringify({ ...verified, partial: { ...good.partial!, checked_to: 512 } }));
    const behind = await monitor(log, statePath, ['--once']);
    expect([behind.code, behind.io.err()]).toEqual([2, expect.stringMatching(/is not a cairn monitor state/)]);
  } finally {
    await log.close();
  }
});

test('the human lines of an unfinished walk say how far it got and what stays verified', async () => {
  const log = await uniformLog(600);
  try {
    const statePath = freshState();
    const io = captureIo();
    expect(await monitorCommand(['--url', log.url, '--vkey', vkey, '--state', statePath, '--once', '--max-round-entries', '256'], io)).toBe(0);
    const lines = io.out().split('\n').filter((l) => l !== '');
    expect(lines).toEqual([
      expect.stringMatching(/^\S+Z checking rounds\.test\/log at tree size 600, root \S+: first run \(no earlier checkpoint\), walked from the first entry; entries 0 to 255 checked \(\d+ tiles and 1 entry bundle authenticated\), 344 left for the next rounds \(--max-round-entries 256\); no checkpoint is kept as verified before the walk is done$/),
      expect.stringMatching(/; entries 256 to 511 checked .*, 88 left for the next rounds/),
      expect.stringMatching(/^\S+Z verified rounds\.test\/log at tree size 600, root \S+: first run \(no earlier checkpoint\), entries 512 to 599 checked this round \(1 tile and 1 entry bundle authenticated\); the entries before 512 were checked by earlier rounds, as the state file records$/),
    ]);
    log.size = 1000;
    const grown = captureIo();
    expect(await monitorCommand(['--url', log.url, '--vkey', vkey, '--state', statePath, '--once', '--max-round-entries', '256'], grown)).toBe(0);
    expect(grown.out()).toMatch(/^\S+Z checking rounds\.test\/log at tree size 1000, root \S+: consistent with the last checkpoint; entries 600 to 767 checked .*, 232 left for the next rounds \(--max-round-entries 256\); the verified checkpoint stays at tree size 600 until it is done\n/);
  } finally {
    await log.close();
  }
});

test('a round that goes on from a state file says from which entry it checked, not that the whole log was checked: the state file is trusted as it stands', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    const left = await leaveUnfinishedWalk(log, statePath);
    expect(left.partial?.checked_to).toBe(512);
    // An edited checked_to carries no signature to check: the walk goes on from it, and the line says so.
    await writeFile(statePath, JSON.stringify({ ...left, partial: { ...left.partial!, checked_to: 1024 } }));
    log.paths.length = 0;
    const first = captureIo();
    expect(await monitorCommand(['--url', log.url, '--vkey', vkey, '--state', statePath, '--once'], first)).toBe(0);
    expect(bundlesByRound(log.paths)).toEqual([['004', '005.p/20']]);
    expect(first.out()).toMatch(
      /^\S+Z verified rounds\.test\/log at tree size 1300, root \S+: first run \(no earlier checkpoint\), entries 1024 to 1299 checked this round \(\d+ tiles and 2 entry bundles authenticated\); the entries before 1024 were checked by earlier rounds, as the state file records\n$/,
    );
    expect(first.out()).not.toMatch(/whole log/);
    // The same for a log that grew past a verified checkpoint.
    log.size = 2600;
    await leaveUnfinishedWalk(log, statePath);
    const grown = captureIo();
    expect(await monitorCommand(['--url', log.url, '--vkey', vkey, '--state', statePath, '--once'], grown)).toBe(0);
    expect(grown.out()).toMatch(
      /^\S+Z verified rounds\.test\/log at tree size 2600 \(\+1300\), root \S+: consistent with the last checkpoint; entries 1792 to 2599 checked this round \(\d+ tiles and \d+ entry bundles authenticated\); the entries before 1792 were checked by earlier rounds, as the state file records\n$/,
    );
  } finally {
    await log.close();
  }
});

const pathOf = (url: string) => new URL(url).pathname.slice(1);

/**
 * A fetch under which bundles 2 to 10 never come: of the 8 checks in flight
 * (bundles 0 to 7), only those of bundles 0 and 1 end, each then taking the
 * next bundle; once both did, `stop` is sent on `signals`.
 */
function hangFromBundle2(signals: EventEmitter, stop: 'SIGINT' | 'SIGTERM'): (url: string, init?: RequestInit) => Promise<Response> {
  let later = 0;
  return (url, init) => {
    const path = pathOf(url);
    if (!/^tile\/entries\/0(0[2-9]|10)/.test(path)) return fetch(url, init);
    if (/^tile\/entries\/0(0[89]|10)/.test(path) && ++later === 2) signals.emit(stop);
    return hang(init);
  };
}

test('--once: a checkpoint smaller than the one an earlier round of the same run verified is an alarm, though it extends what was walked', async () => {
  const log = await uniformLog(1300);
  try {
    // The signed tree head stays at 1300: only the checkpoints move, to 2500 in round 2 and back to 1900 after.
    log.sthSize = 1300;
    const sizes = [1300, 2500];
    let checkpoints = 0;
    log.onRequest = (path) => {
      if (path === 'checkpoint') log.size = sizes[checkpoints++] ?? 1900;
    };
    const run = await monitor(log, freshState(), ['--once', '--max-round-entries', '256']);
    expect(run.code).toBe(1);
    expect(run.events.filter((e) => e.event === 'alarm')).toEqual([expect.objectContaining({ kind: 'smaller-tree' })]);
  } finally {
    await log.close();
  }
});

test('--once walks to the checkpoint its first round found, however fast the log grows meanwhile, and says how far the log got', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    // The log grows by 600 entries before each round after the first: faster than rounds of 256 walk.
    // (It stops after 20 rounds, so that a run walking on to each newest checkpoint ends too, if much later.)
    let checkpoints = 0;
    log.onRequest = (path) => {
      if (path === 'checkpoint' && ++checkpoints > 1 && checkpoints <= 20) log.size += 600;
    };
    const run = await monitor(log, statePath, ['--once', '--max-round-entries', '256']);
    expect(run.code).toBe(0);
    expect(run.events).toEqual([
      expect.objectContaining({ event: 'progress', tree_size: 1300, checked_to: 256 }),
      expect.objectContaining({ event: 'progress', tree_size: 1300, checked_to: 512, newest_tree_size: 1900 }),
      expect.objectContaining({ event: 'progress', tree_size: 1300, checked_to: 768, newest_tree_size: 2500 }),
      expect.objectContaining({ event: 'progress', tree_size: 1300, checked_to: 1024, newest_tree_size: 3100 }),
      expect.objectContaining({ event: 'progress', tree_size: 1300, checked_to: 1280, newest_tree_size: 3700 }),
      expect.objectContaining({ event: 'verified', tree_size: 1300, grew: 1300, newest_tree_size: 4300, unchecked: 3000 }),
    ]);
    expect(run.events[0]).not.toHaveProperty('newest_tree_size');
    // Every bundle at its width in the tree of 1300, the checkpoint the walk set out for.
    expect(bundlesByRound(log.paths)).toEqual([['000'], ['001'], ['002'], ['003'], ['004'], ['005.p/20']]);
    // That checkpoint is the verified one; the newest checkpoint and signed tree head, consistent with it, are kept too.
    const state = await readState(statePath);
    expect(state).toMatchObject({ tree_size: 1300, sth_tree_size: 4300, newest: { tree_size: 4300 } });
    expect(state.newest!.checkpoint).toMatch(/^rounds\.test\/log\n4300\n/);
    expect(state).not.toHaveProperty('partial');

    // In human words: the size checked, and how far the log got. The next run sets out for the log of 4300 + 300.
    log.onRequest = (path) => {
      if (path === 'checkpoint') log.size += 300;
    };
    const io = captureIo();
    expect(await monitorCommand(['--url', log.url, '--vkey', vkey, '--state', statePath, '--once', '--max-round-entries', '2560'], io)).toBe(0);
    const lines = io.out().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\S+Z checking rounds\.test\/log at tree size 4600, .*; entries 1300 to 3839 checked .*until it is done$/);
    expect(lines[1]).toMatch(
      /^\S+Z verified rounds\.test\/log at tree size 4600 \(\+3300\), root \S+: consistent with the last checkpoint; entries 3840 to 4599 checked this round \(.*\); the entries before 3840 were checked by earlier rounds, as the state file records; the log is at tree size 4900 now \(that checkpoint verified and consistent with this one; --once walks up to the one it found first, so the 300 entries the log signed past it \(up to tree size 4900\) are left for the next run\)$/,
    );
    expect(await readState(statePath)).toMatchObject({ tree_size: 4600, newest: { tree_size: 4900 } });
  } finally {
    await log.close();
  }
});

test('--once: a checkpoint smaller than the newest one a run before saw is an alarm, though it extends what that run walked', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    // The signed tree head stays at 1300: only the checkpoints move, to 2500 from round 2 of the first run on.
    log.sthSize = 1300;
    let checkpoints = 0;
    log.onRequest = (path) => {
      if (path === 'checkpoint' && ++checkpoints > 1) log.size = 2500;
    };
    const first = await monitor(log, statePath, ['--once', '--max-round-entries', '256']);
    expect(first.code).toBe(0);
    expect(first.events.at(-1)).toMatchObject({ event: 'verified', tree_size: 1300, newest_tree_size: 2500 });
    expect(await readState(statePath)).toMatchObject({ tree_size: 1300, newest: { tree_size: 2500 } });

    // The next run finds 1900, which extends 1300 but not 2500.
    log.onRequest = undefined;
    log.size = 1900;
    const second = await monitor(log, statePath, ['--once']);
    expect(second.code).toBe(1);
    expect(second.events).toEqual([expect.objectContaining({ event: 'alarm', kind: 'smaller-tree' })]);
    // Nothing moved.
    expect(await readState(statePath)).toMatchObject({ tree_size: 1300, newest: { tree_size: 2500 } });
  } finally {
    await log.close();
  }
});

test('--once: another root for the size of the newest checkpoint an earlier round saw is a fork, though the walk has not reached it', async () => {
  const log = await uniformLog(1300);
  try {
    log.sthSize = 1300;
    // Round 1 finds 1300, round 2 finds 2500, round 3 a checkpoint of 2500 with another root.
    const forked = signCheckpoint({ origin: ORIGIN, treeSize: 2500, rootHash: rootOf(perfectHashes(enc('y')), 2500), extensions: [] }, signer);
    let checkpoints = 0;
    log.answer = (path) => {
      if (path !== 'checkpoint') return undefined;
      if (++checkpoints === 2) log.size = 2500;
      return checkpoints > 2 ? { status: 200, body: forked } : undefined;
    };
    const run = await monitor(log, freshState(), ['--once', '--max-round-entries', '256']);
    expect(run.code).toBe(1);
    expect(run.events).toEqual([
      expect.objectContaining({ event: 'progress', tree_size: 1300, checked_to: 256 }),
      expect.objectContaining({ event: 'progress', tree_size: 1300, checked_to: 512, newest_tree_size: 2500 }),
      expect.objectContaining({ event: 'alarm', kind: 'fork' }),
    ]);
  } finally {
    await log.close();
  }
});

test('a long walk saves how far it got every 256 bundles: a monitor killed with SIGKILL mid-walk is gone on from there by the next run, which takes over its lock', async () => {
  // 300 bundles; from bundle 280 on the log never answers, so the walk sticks there, past its first save.
  const log = await uniformLog(300 * 256);
  try {
    const statePath = freshState();
    log.hold = (path) => /^tile\/entries\/(2[89]\d|300)/.test(path);
    const child = spawn(process.execPath, [CLI, 'monitor', '--url', log.url, '--vkey', vkey, '--state', statePath, '--once', '--json'], { stdio: 'ignore' });
    let running = true;
    const exited = once(child, 'exit').finally(() => (running = false));
    try {
      // Waits for the save the walk makes on its own, with no stop (for at most half the test's
      // timeout, so that the child is killed and the assertions below tell what went wrong).
      for (let waited = 0; running && waited < 30_000 && (await readStateOrNull(statePath))?.partial === undefined; waited += 20) await delay(20);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const saved = await readState(statePath);
    // At least the first 256 bundles, and never an entry not checked: bundles from 280 on never came.
    expect(saved).toMatchObject({ checkpoint: null, tree_size: 0, partial: { tree_size: 300 * 256 } });
    expect(saved.partial!.checked_to % 256).toBe(0);
    expect(saved.partial!.checked_to).toBeGreaterThanOrEqual(256 * 256);
    expect(saved.partial!.checked_to).toBeLessThanOrEqual(280 * 256);
    // The killed monitor's lock is left, with its pid (on Linux, its start time and the boot id too), which is gone now.
    expect(await readFile(`${statePath}.lock`, 'utf8')).toMatch(new RegExp(`^${child.pid}${process.platform === 'linux' ? ' [0-9]+ [0-9a-f-]{36}' : ''}\n$`));

    // The next run takes the lock over and goes on from the saved entry, never from 0.
    log.hold = undefined;
    log.paths.length = 0;
    const next = await monitor(log, statePath, ['--once']);
    expect([next.code, next.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 300 * 256, bundles: 300 - saved.partial!.checked_to / 256 })]]);
    const asked = bundlesByRound(log.paths)[0]!.map(Number).sort((a, b) => a - b);
    expect(asked[0]).toBe(saved.partial!.checked_to / 256);
    await expect(access(`${statePath}.lock`)).rejects.toThrow(/ENOENT/);

    // A walk of all 300 bundles at once saves on its way too, and its end's save comes last: the checkpoint verified, no walk left.
    const whole = freshState();
    expect((await monitor(log, whole, ['--once'])).code).toBe(0);
    const done = await readState(whole);
    expect(done).toMatchObject({ tree_size: 300 * 256 });
    expect(done).not.toHaveProperty('partial');
  } finally {
    await log.close();
  }
});

test('a newest checkpoint whose consistency could be shown neither from tiles nor from the log\'s endpoint is not kept', async () => {
  const log = await uniformLog(1300);
  try {
    const statePath = freshState();
    // The log grows to 2000, but neither its hash tiles nor its consistency endpoint answer.
    const verified = await verifiedThenFailedGrowth(log, statePath, (path) => /^tile\/\d/.test(path) || path === 'ct/v1/get-sth-consistency');
    expect(log.paths).toContainEqual(expect.stringMatching(/^ct\/v1\/get-sth-consistency\?first=1300&second=2000$/));
    expect(await readState(statePath)).toEqual(verified);
  } finally {
    await log.close();
  }
});

/** Classifies a state about to be written: how far a walk got, what a round verified, or only the newest checkpoint seen. */
const writeKind = (state: Readonly<Record<string, unknown>>) => (state.partial !== undefined ? 'walk' : state.checkpoint !== null ? 'round' : 'newest');

/** A fetch that hands the log's answers over from memory, their bodies read, after `before` (per path) resolves, and tells `after` once answered. */
function answeringFromMemory(before: (path: string) => Promise<void> | undefined, after: (path: string) => void, edit: (path: string, body: Uint8Array) => Uint8Array = (_, b) => b): (url: string, init?: RequestInit) => Promise<Response> {
  return async (url, init) => {
    const path = pathOf(url);
    const res = await fetch(url, init);
    const body = edit(path, new Uint8Array(await res.arrayBuffer()));
    await before(path);
    setImmediate(() => after(path));
    return new Response(body as unknown as BodyInit, { status: res.status, headers: res.headers });
  };
}

test('a save of how far the walk got that is slow to land still lands before the round\'s own save: the state ends at the checkpoint verified', async () => {
  // 256 bundles from 0: the save of how far the walk got comes with the last bundle, right before the walk ends.
  const log = await uniformLog(256 * 256);
  try {
    const statePath = freshState();
    const writes: string[] = [];
    // The walk's save is held until every bundle was answered and the checks had many turns of the
    // event loop to end the walk; or until the round's own save is asked for, which must not come before.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let answered = 0;
    const io = captureIo({
      fetch: answeringFromMemory(
        () => undefined,
        async (path) => {
          if (!path.startsWith('tile/entries/') || ++answered < 256) return;
          for (let i = 0; i < 50; i++) await new Promise(setImmediate);
          release();
        },
      ),
    });
    // What the round's own save found: whether the walk's save was still held, and whether it had landed.
    let atRound: { released: boolean; landed: boolean } | undefined;
    let released = false;
    void held.then(() => (released = true));
    const hooks = {
      beforeWrite: async (state: Readonly<Record<string, unknown>>) => {
        const kind = writeKind(state);
        writes.push(kind);
        if (kind === 'walk') await held;
        if (kind === 'round') {
          atRound = { released, landed: (await readState(statePath)).partial !== undefined };
          release();
        }
      },
    };
    const code = await monitorCommand(['--url', log.url, '--vkey', vkey, '--state', statePath, '--once', '--json'], io, hooks);
    expect([code, writes, atRound]).toEqual([0, ['newest', 'walk', 'round'], { released: true, landed: true }]);
    const done = await readState(statePath);
    expect(done).toMatchObject({ tree_size: 256 * 256 });
    expect(done).not.toHaveProperty('partial');
  } finally {
    await log.close();
  }
});

test('a check in flight that ends after another one failed saves nothing, though it completes 256 bundles checked from the start', async () => {
  const log = await uniformLog(270 * 256);
  try {
    const statePath = freshState();
    const writes: string[] = [];
    // Bundle 255's answer waits until bundle 260 failed (its entries changed); the others come as they are asked for.
    const answered = new Set<string>();
    let release255!: () => void;
    const bundle255 = new Promise<void>((resolve) => (release255 = resolve));
    let ended255!: () => void;
    const after255 = new Promise<void>((resolve) => (ended255 = resolve));
    const waitForOthers = async () => {
      for (let i = 0; i < 1000 && !Array.from({ length: 260 }, (_, n) => n).every((n) => n === 255 || answered.has(`tile/entries/${String(n).padStart(3, '0')}`)); i++) await new Promise(setImmediate);
    };
    const io = captureIo({
      fetch: answeringFromMemory(
        (path) => (path === 'tile/entries/255' ? bundle255 : path === 'tile/entries/260' ? waitForOthers() : undefined),
        (path) => {
          answered.add(path);
          if (path === 'tile/entries/260') setImmediate(release255);
          if (path === 'tile/entries/255') setImmediate(ended255);
        },
        (path, body) => (path === 'tile/entries/260' ? body.map((b, i) => (i === body.length - 1 ? b ^ 1 : b)) : body),
      ),
    });
    const code = await monitorCommand(['--url', log.url, '--vkey', vkey, '--state', statePath, '--once', '--json'], io, { beforeWrite: async (state) => void writes.push(writeKind(state)) });
    await after255;
    await new Promise(setImmediate);
    expect(code).toBe(1);
    expect(io.out()).toMatch(/"kind":"entry-mismatch"/);
    expect(writes).toEqual(['newest']);
    await expectOnlyNewest(statePath, 270 * 256);
  } finally {
    await log.close();
  }
});

describe('a stop during a round', () => {
  test('while a 503 asks to wait 60 s before a retry: the wait ends at once, and the run is stopped (exit 2 under --once), not failed', async () => {
    const log = await uniformLog(2600);
    try {
      const signals = new EventEmitter();
      const busy: string[] = [];
      const base = captureIo({
        signals,
        fetch: async (url, init) => {
          if (pathOf(url) !== 'tile/entries/001') return fetch(url, init);
          busy.push(pathOf(url));
          return busyFor60s();
        },
      });
      // SIGINT comes during the wait, which only the stop can end: none ends by time here.
      const sleeps: number[] = [];
      const io: CapturedIo = { ...base, sleep: sleepUntilStopped(signals, (ms) => sleeps.push(ms)) };
      const run = await monitor(log, freshState(), ['--once'], io);
      expect(run.code).toBe(2);
      expect(run.events).toEqual([expect.objectContaining({ event: 'stopped', message: expect.stringMatching(/^stopped after \d+ of 23 tiles and bundles of the entries from 0 up to 2600 of the tree of size 2600$/) })]);
      // Asked once, waited for once, never asked again.
      expect([busy, sleeps]).toEqual([['tile/entries/001'], [60_000]]);
      expect([signals.listenerCount('SIGINT'), signals.listenerCount('SIGTERM')]).toEqual([0, 0]);
    } finally {
      await log.close();
    }
  });

  test('once the walk has handed out its every tile, with checks still in flight: nothing they did not finish is taken as checked', async () => {
    // 600 entries: three bundles and one tile above, fewer than the 8 checks, which thus find the walk handed out at once.
    const log = await uniformLog(600);
    try {
      const statePath = freshState();
      const signals = new EventEmitter();
      const base = captureIo({
        signals,
        fetch: async (url, init) => {
          const path = pathOf(url);
          if (path === 'tile/entries/000') return hang(init);
          if (path === 'tile/entries/001') return busyFor60s();
          return fetch(url, init);
        },
      });
      const io: CapturedIo = { ...base, sleep: sleepUntilStopped(signals) };
      const run = await monitor(log, statePath, ['--once'], io);
      expect(run.code).toBe(2);
      expect(run.events).toEqual([expect.objectContaining({ event: 'stopped', message: expect.stringMatching(/^stopped after [0-3] of 7 tiles and bundles of the entries from 0 up to 600 of the tree of size 600$/), saved: false })]);
      await expectOnlyNewest(statePath, 600);
    } finally {
      await log.close();
    }
  });

  test('while requests hang: they end at once, and the entries before the first bundle not checked are saved as the walk\'s progress', async () => {
    const log = await uniformLog(2600);
    try {
      const statePath = freshState();
      const signals = new EventEmitter();
      const io = captureIo({ signals, fetch: hangFromBundle2(signals, 'SIGINT') });
      const run = await monitor(log, statePath, ['--once'], io);
      expect(run.code).toBe(2);
      expect(run.events).toEqual([
        expect.objectContaining({ event: 'stopped', message: expect.stringMatching(/^stopped after \d+ of 23 tiles and bundles of the entries from 0 up to 2600 of the tree of size 2600$/), verified_tree_size: 0, tree_size: 2600, checked_to: 512, saved: true }),
      ]);
      const saved = await readState(statePath);
      expect(saved).toMatchObject({ checkpoint: null, tree_size: 0, sth_tree_size: 2600, partial: { tree_size: 2600, checked_to: 512 } });
      // The next run goes on from there and finishes.
      log.paths.length = 0;
      const next = await monitor(log, statePath, ['--once']);
      expect(next.code).toBe(0);
      expect(next.events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 2600, bundles: 9 })]);
      expect(bundlesByRound(log.paths).map((r) => r.sort())).toEqual([['002', '003', '004', '005', '006', '007', '008', '009', '010.p/40']]);
    } finally {
      await log.close();
    }
  });

  test('the same in human words, without --once (exit 0): the line says what is saved', async () => {
    const log = await uniformLog(2600);
    try {
      const signals = new EventEmitter();
      const io = captureIo({ signals, fetch: hangFromBundle2(signals, 'SIGTERM') });
      expect(await monitorCommand(['--url', log.url, '--vkey', vkey, '--state', freshState()], io)).toBe(0);
      expect(io.err()).toMatch(
        /^\S+Z stopped after \d+ of 23 tiles and bundles of the entries from 0 up to 2600 of the tree of size 2600; what it checked is saved: the state is at tree size 0, with the entries up to 512 checked against the tree of size 2600\n$/,
      );
    } finally {
      await log.close();
    }
  });

  test('nothing is saved when the first bundle was not checked, however many after it were: the saved walk has no gaps', async () => {
    const log = await uniformLog(2600);
    try {
      const statePath = freshState();
      const signals = new EventEmitter();
      const io = captureIo({
        signals,
        fetch: (url, init) => {
          const path = pathOf(url);
          if (path === 'tile/entries/000') return hang(init);
          // Bundle 8 is asked for once the check of one of bundles 1 to 7 ended.
          if (path === 'tile/entries/008') signals.emit('SIGINT');
          return fetch(url, init);
        },
      });
      const run = await monitor(log, statePath, ['--once'], io);
      expect(run.code).toBe(2);
      expect(run.events).toEqual([expect.objectContaining({ event: 'stopped', verified_tree_size: 0, saved: false })]);
      await expectOnlyNewest(statePath, 2600);
    } finally {
      await log.close();
    }
  });
});
