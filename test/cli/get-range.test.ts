// cairn get <start>-<end>: a range of entries, every one verified against one
// checkpoint from entry bundles and tiles (one request per 256 entries), as
// JSON Lines. Run in-process against a real server of 600 entries (bundles
// 0 and 1 full, bundle 2 of 88), with a lying log made by editing its
// answers; signals come from an injected EventEmitter, except in the last
// test, which sends a real SIGINT to the real binary.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { getCommand } from '../../src/cli/get.js';
import type { Output } from '../../src/cli/client-common.js';
import { CairnClient } from '../../src/client/client.js';
import type { FetchLike } from '../../src/client/http.js';
import { leafHash } from '../../src/merkle/hash.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { openCheckpoint } from '../../src/note/checkpoint.js';
import { newVerifier } from '../../src/note/keys.js';
import { useCliServer } from '../helpers/cli-server.js';
import { vector } from '../helpers/keys.js';
import { CLI } from '../helpers/server-process.js';
import { busyFor60s, captureIo, editingFetch, hang, sleepUntilStopped } from './client-io.js';
import { startFakeLog } from './fake-log.js';

const enc = (s: string) => new TextEncoder().encode(s);
const t = useCliServer('cairn-get-range-', { origin: 'range.test/log' });

/** The log's 600 entries, of different lengths, one of them binary. */
const entries = Array.from({ length: 600 }, (_, i) => (i === 7 ? Uint8Array.of(0, 10, 255, 13) : enc(`entry ${i}${'.'.repeat(i % 5)}`)));

beforeAll(async () => {
  await new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey }).addBatch(entries);
});

interface Line {
  index: number;
  leaf_hash: string;
  entry: string;
}

/** Standard output as JSON Lines: every line whole (ending in a newline) and parsed. */
function lines(out: string): Line[] {
  if (out === '') return [];
  expect(out.endsWith('\n')).toBe(true);
  return out
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}

/** Each line is the entry the log was given at its index, with that entry's leaf hash; the indexes are `from` to `to` in order. */
function expectEntries(got: Line[], from: number, to: number): void {
  expect(got.map((l) => l.index)).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
  for (const l of got) {
    expect(Object.keys(l)).toEqual(['index', 'leaf_hash', 'entry']);
    expect([l.index, decodeBase64(l.entry)]).toEqual([l.index, entries[l.index]]);
    expect(l.leaf_hash).toBe(encodeBase64(leafHash(entries[l.index]!)));
  }
}

/** A fetch that passes every request through and keeps its path (below the base URL). */
function recording(): { fetch: FetchLike; paths: string[] } {
  const paths: string[] = [];
  return {
    paths,
    fetch: (url, init) => {
      paths.push(new URL(url).pathname.slice(1));
      return fetch(url, init);
    },
  };
}

test('a range across a bundle boundary is every entry as logged, in order, both ends included', async () => {
  const io = captureIo();
  expect(await getCommand([...t.common, '250-260'], io)).toBe(0);
  expectEntries(lines(io.out()), 250, 260);
  expect(io.err()).toMatch(/^verified entries 250 to 260 \(11 entries\) of range\.test\/log in the signed tree of size 600 \(root \S+\): every entry bundle checked against tiles authenticated by its root, in \d+ requests\n$/);

  // One entry as a range, and the partial last bundle.
  const one = captureIo();
  expect(await getCommand([...t.common, '7-7'], one)).toBe(0);
  expectEntries(lines(one.out()), 7, 7);
  const tail = captureIo();
  expect(await getCommand([...t.common, '590-599'], tail)).toBe(0);
  expectEntries(lines(tail.out()), 590, 599);
});

test('<start>- is the whole rest of the tree, about one request per 256 entries and none per entry', async () => {
  const { fetch: counting, paths } = recording();
  const io = captureIo({ fetch: counting });
  expect(await getCommand([...t.common, '0-'], io)).toBe(0);
  expectEntries(lines(io.out()), 0, 599);
  // The checkpoint, the three bundles once each, and the tiles that authenticate them.
  expect(paths.filter((p) => p.startsWith('tile/entries/')).sort()).toEqual(['tile/entries/000', 'tile/entries/001', 'tile/entries/002.p/88']);
  expect(paths.filter((p) => !p.startsWith('tile/'))).toEqual(['checkpoint']);
  expect(paths.length).toBeLessThanOrEqual(6);
  expect(io.err()).toContain(`in ${paths.length} requests`);
});

test('--json makes the closing line on standard error a JSON object, with the fields its help lists and the checkpoint it names', async () => {
  const io = captureIo();
  expect(await getCommand([...t.common, '255-256', '--json'], io)).toBe(0);
  expectEntries(lines(io.out()), 255, 256);
  const summary = JSON.parse(io.err()) as Record<string, unknown>;
  expect(summary).toMatchObject({ entries: 2, start: 255, end: 256, tree_size: 600, origin: 'range.test/log' });
  const cp = openCheckpoint(summary.checkpoint as string, newVerifier(t.server.verifierKey)).checkpoint;
  expect([cp.treeSize, encodeBase64(cp.rootHash)]).toEqual([600, summary.root_hash]);
  const help = captureIo();
  expect(await getCommand(['--help'], help)).toBe(0);
  const listed = /as a JSON object \{([^}]*)\}/.exec(help.out().replace(/\s+/g, ' '))![1]!.split(/,\s*/);
  expect(listed.sort()).toEqual(Object.keys(summary).sort());
});

test('an <end> past the tree: the entries up to its last, then exit 3; a <start> past it: nothing, exit 3', async () => {
  const io = captureIo();
  expect(await getCommand([...t.common, '595-700'], io)).toBe(3);
  expectEntries(lines(io.out()), 595, 599);
  expect(io.err()).toMatch(/^verified entries 595 to 599 .*\ncairn get: entries 600 to 700 are not in the tree of the checkpoint range\.test\/log served, of tree size 600; a checkpoint does not show that it is the latest/);
  for (const [range, said] of [
    ['600-', 'no entry from 600 on is'],
    ['700-800', 'entries 700 to 800 are not'],
    ['600-600', 'entry 600 is not'],
  ] as const) {
    const past = captureIo();
    expect([range, await getCommand([...t.common, range], past)]).toEqual([range, 3]);
    expect(past.out()).toBe('');
    expect(past.err()).toBe(`cairn get: ${said} in the tree of the checkpoint range.test/log served, of tree size 600; a checkpoint does not show that it is the latest: it may be an old one, or one shown only to this reader\n`);
  }
});

/** `bundle` with the bytes of `from` (an entry's) replaced by `to`, of the same length. */
function replaced(bundle: Uint8Array, from: Uint8Array, to: Uint8Array): Uint8Array {
  const at = Buffer.from(bundle).indexOf(Buffer.from(from));
  expect(at).toBeGreaterThanOrEqual(0);
  const out = bundle.slice();
  out.set(to, at);
  return out;
}

test('a log that serves a forged entry in a bundle is caught (exit 1), and no line of that bundle is printed', async () => {
  for (const [index, bundle] of [
    [300, /\/tile\/entries\/001$/],
    [0, /\/tile\/entries\/000$/],
    [599, /\/tile\/entries\/002\.p\/88$/],
  ] as const) {
    const forged = enc(new TextDecoder().decode(entries[index]).replace('entry', 'ENTRY'));
    const io = captureIo({ fetch: editingFetch((url, body) => (bundle.test(url) ? replaced(body, entries[index]!, forged) : undefined)) });
    expect([index, await getCommand([...t.common, '0-599'], io)]).toEqual([index, 1]);
    const first = index - (index % 256);
    expect(io.err()).toMatch(new RegExp(`^cairn get: VERIFICATION FAILED \\(ENTRY_MISMATCH\\): tile/entries/\\S+: entry ${index} does not match its leaf hash in the authenticated tile tile/0/\\S+ \\(`));
    expect(io.err()).toContain(first === 0 ? '(no entry was printed)' : `(entries 0 to ${first - 1} were printed, each verified in the signed tree of size 600; 'cairn get ${first}-599' gets the rest)`);
    // What was printed is the bundles before the forged one, every line whole and as logged.
    if (first > 0) expectEntries(lines(io.out()), 0, first - 1);
    else expect(io.out()).toBe('');
  }
});

test('a log that forges an entry and its leaf hash in the level-0 tile too is caught by the tile above it (exit 1)', async () => {
  const index = 300;
  const forged = enc('ENTRY 300');
  expect(forged.length).toBe(entries[index]!.length);
  const io = captureIo({
    fetch: editingFetch((url, body) => {
      if (/\/tile\/entries\/001$/.test(url)) return replaced(body, entries[index]!, forged);
      if (/\/tile\/0\/001$/.test(url)) return replaced(body, leafHash(entries[index]!), leafHash(forged));
      return undefined;
    }),
  });
  expect(await getCommand([...t.common, '256-511'], io)).toBe(1);
  expect(io.out()).toBe('');
  expect(io.err()).toMatch(/^cairn get: VERIFICATION FAILED \(TILE_MISMATCH\): tile\/0\/001 does not match its parent tile tile\/1\/000\.p\/2 /);
});

test('a 404 for a bundle the checkpoint covers is the log failing (2), not "not in the log" (3)', async () => {
  const io = captureIo({
    fetch: (url, init) =>
      /\/tile\/entries\/001$/.test(url) ? Promise.resolve(new Response('{"error":"not found","code":"NOT_FOUND"}', { status: 404, headers: { 'Content-Type': 'application/json' } })) : fetch(url, init),
  });
  expect(await getCommand([...t.common, '0-'], io)).toBe(2);
  expect(io.err()).toMatch(/^cairn get: the log answered 404 for entry bundle 1 \(entries 256 to 511\), which its signed checkpoint of tree size 600 covers: .*\(entries 0 to 255 were printed, each verified in the signed tree of size 600; 'cairn get 256-' gets the rest\)\n$/);
  expectEntries(lines(io.out()), 0, 255);
});

test('bad ranges are refused with what is wrong, before the log is asked (exit 2)', async () => {
  for (const [args, message] of [
    [['5-3'], 'the range 5-3 is empty: its <end> is before its <start> (both are included: 3-5 is 3 entries)'],
    [['1..5'], 'write a range as <start>-<end>, both included (0-9 is ten entries), not "1..5"'],
    [['5', '6'], 'give one <index>, or one range <start>-<end> (both included): 2 arguments given'],
    [[], 'give one <index>, or a range <start>-<end> (both included)'],
    [['x-3'], '<start> of the range must be an integer from 0 to 9007199254740991, got "x"'],
    [['3-x'], '<end> of the range must be an integer from 0 to 9007199254740991, got "x"'],
    [['1-2-3'], '<end> of the range must be an integer from 0 to 9007199254740991, got "2-3"'],
    [['01-3'], '<start> of the range must be an integer from 0 to 9007199254740991, got "01"'],
    [['--', '-1'], 'a negative number is no index (the first entry is 0), not "-1"'],
    [['--', '-1-5'], 'a negative number is no index (the first entry is 0), not "-1-5"'],
    [['1-3', '--raw'], '--raw takes one <index>: the entries of a range would run together; a range is printed as JSON Lines, each entry in base64'],
    [['1-3', '--out', join(t.dir, 'x.bin')], '--out takes one <index>: a range is printed as JSON Lines on standard output'],
  ] as const) {
    const { fetch: counting, paths } = recording();
    const io = captureIo({ fetch: counting });
    expect([args, await getCommand([...t.common, ...args], io)]).toEqual([args, 2]);
    expect(io.err()).toBe(`cairn get: ${message}\nRun 'cairn get --help' for its options.\n`);
    expect(paths).toEqual([]);
  }
});

/** Calls `then` after the `count`th write to `out` was handed on. */
function afterWrites(out: Output, count: number, then: () => void): void {
  const write = out.write.bind(out);
  let left = count;
  (out as { write: Output['write'] }).write = (chunk, callback) =>
    write(chunk, (err) => {
      if (--left === 0) then();
      callback?.(err);
    });
}

test('SIGINT stops a range once the lines being written are out: whole lines, exit 2, the rest named; the listeners are gone', async () => {
  const signals = new EventEmitter();
  const io = captureIo({ signals });
  afterWrites(io.stdout, 1, () => signals.emit('SIGINT'));
  expect(await getCommand([...t.common, '100-'], io)).toBe(2);
  expectEntries(lines(io.out()), 100, 255);
  expect(io.err()).toBe(
    'cairn get: SIGINT: stopping after the entries being printed; a second SIGINT or SIGTERM, 1 s or more later, stops at once\n' +
      "cairn get: stopped by SIGINT: entries 100 to 255 were printed, each verified in the signed tree of size 600; 'cairn get 256-' gets the rest\n",
  );
  expect([signals.listenerCount('SIGINT'), signals.listenerCount('SIGTERM')]).toEqual([0, 0]);
});

test('a SIGTERM right after the SIGINT (npm run passes Ctrl-C on as well) is the same stop: the range stops the same way, the process is not ended', async () => {
  const kills: string[] = [];
  const signals = Object.assign(new EventEmitter(), { kill: (signal: string) => void kills.push(signal) });
  const io = captureIo({ signals });
  afterWrites(io.stdout, 1, () => {
    signals.emit('SIGINT');
    signals.emit('SIGTERM');
  });
  expect(await getCommand([...t.common, '100-'], io)).toBe(2);
  expectEntries(lines(io.out()), 100, 255);
  expect(io.err()).toBe(
    'cairn get: SIGINT: stopping after the entries being printed; a second SIGINT or SIGTERM, 1 s or more later, stops at once\n' +
      "cairn get: stopped by SIGINT: entries 100 to 255 were printed, each verified in the signed tree of size 600; 'cairn get 256-' gets the rest\n",
  );
  expect(kills).toEqual([]);
});

test('SIGTERM while a bundle is awaited from a log that does not answer ends the range at once (exit 2, nothing printed)', async () => {
  const signals = new EventEmitter();
  let held = 0;
  // Bundle 1 never comes; the stop must cut its request short, or this test never ends.
  const stalling: FetchLike = (url, init) => {
    if (!/\/tile\/entries\/001$/.test(url)) return fetch(url, init);
    held++;
    setImmediate(() => signals.emit('SIGTERM'));
    return hang(init);
  };
  const io = captureIo({ signals, fetch: stalling });
  expect(await getCommand([...t.common, '300-400'], io)).toBe(2);
  expect(held).toBe(1);
  expect(io.out()).toBe('');
  expect(io.err()).toMatch(/\ncairn get: stopped by SIGTERM: no entry was printed\n$/);
});

test('SIGINT during the wait a 503 asked for (Retry-After 60) ends the range at once, without asking again (exit 2)', async () => {
  const signals = new EventEmitter();
  let asked = 0;
  const busy: FetchLike = (url, init) => {
    if (!/\/tile\/entries\/001$/.test(url)) return fetch(url, init);
    asked++;
    return Promise.resolve(busyFor60s());
  };
  const base = captureIo({ signals, fetch: busy });
  // The wait ends only when its signal aborts: none ends by time here.
  const sleeps: number[] = [];
  const io = { ...base, sleep: sleepUntilStopped(signals, (ms) => sleeps.push(ms)) };
  expect(await getCommand([...t.common, '300-400'], io)).toBe(2);
  expect([asked, sleeps]).toEqual([1, [60_000]]);
  expect(base.out()).toBe('');
  expect(base.err()).toMatch(/\ncairn get: stopped by SIGINT: no entry was printed\n$/);
  expect([signals.listenerCount('SIGINT'), signals.listenerCount('SIGTERM')]).toEqual([0, 0]);
});

test('standard output that closes (EPIPE) ends a range with exit 2 after whole lines, saying what was printed', async () => {
  const io = captureIo({ stdoutError: Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }), failStdoutAfter: 1 });
  expect(await getCommand([...t.common, '0-'], io)).toBe(2);
  expectEntries(lines(io.out()), 0, 255);
  expect(io.err()).toMatch(/^cairn get: cannot write to standard output: .*EPIPE.*\(entries 0 to 255 were printed, each verified in the signed tree of size 600; 'cairn get 256-' gets the rest\)\n$/);
});

test('the real binary: SIGINT ends a range whose tiles the log never sends, promptly, with exit 2', async () => {
  const fake = await startFakeLog(600);
  const held: { destroy(): void }[] = [];
  let asked: () => void = () => undefined;
  const tileAsked = new Promise<void>((resolve) => (asked = resolve));
  fake.hook = (path, _req, res) => {
    if (!path.startsWith('tile/')) return false;
    held.push(res);
    asked();
    return true;
  };
  try {
    const child = spawn(process.execPath, [CLI, 'get', '0-', '--url', fake.url, '--vkey', vector.verifier_key], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // An early exit (the range refused, say) fails below instead of waiting for the test's timeout.
    await Promise.race([tileAsked, exited]);
    child.kill('SIGINT');
    expect(await exited).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/cairn get: SIGINT: stopping .*\ncairn get: stopped by SIGINT: no entry was printed\n$/);
  } finally {
    for (const res of held) res.destroy();
    await fake.close();
  }
});
