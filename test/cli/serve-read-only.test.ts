// `cairn serve --read-only` (src/cli/read-only.ts): a retired log served
// without its private key. On a store a normal server made: every read is
// answered byte for byte as the normal server answered it, every write is
// 403 FORBIDDEN, nothing is signed (no re-signing however long it idles),
// no key file is needed or read, a verifier key that is not the log's is
// refused, and the store's lock is taken as serve takes it.
import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessOptionsProblem, startServer, type RunningServer } from '../../src/cli/server.js';
import { CairnClient } from '../../src/client/client.js';
import { Log } from '../../src/log/log.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { generateSignerKey, newSigner, newVerifier, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { leafHash } from '../../src/merkle/hash.js';
import { LevelStore } from '../../src/storage/level-store.js';
import type { LogStore } from '../../src/storage/store.js';
import { passThroughStore } from '../helpers/store.js';
import { runCli, startServerProcess } from '../helpers/server-process.js';

const enc = (s: string) => new TextEncoder().encode(s);
const ORIGIN = 'readonly.test/log';
/** 300 entries: a full level-0 tile and bundle, and a partial one of each. */
const SIZE = 300;

let dir: string;
let data: string;
let vkey: string;
/** What the normal server answered to each read, before it stopped. */
let before: Map<string, Answer>;

interface Answer {
  readonly status: number;
  readonly type: string | null;
  readonly cacheControl: string | null;
  readonly body: Buffer;
}

const READS = [
  '/checkpoint',
  '/ct/v1/get-sth',
  '/ct/v1/get-sth-consistency?first=5&second=300',
  `/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(encodeBase64(leafHash(enc('entry 7'))))}&tree_size=300`,
  '/ct/v1/get-entries?start=250&end=270',
  '/ct/v1/get-entry-and-proof?leaf_index=299&tree_size=300',
  '/tile/0/000',
  '/tile/0/001.p/44',
  '/tile/1/000.p/1',
  '/tile/entries/000',
  '/tile/entries/001.p/44',
  '/v1/log',
  '/healthz',
];

async function read(url: string, path: string): Promise<Answer> {
  const res = await fetch(url + path);
  return { status: res.status, type: res.headers.get('content-type'), cacheControl: res.headers.get('cache-control'), body: Buffer.from(await res.arrayBuffer()) };
}

async function readAll(url: string): Promise<Map<string, Answer>> {
  const out = new Map<string, Answer>();
  for (const path of READS) out.set(path, await read(url, path));
  return out;
}

function readOnlyServer(extra: { verifierKey?: string; wrapStore?: (store: LogStore) => LogStore } = {}): Promise<RunningServer> {
  return startServer({ data, host: '127.0.0.1', port: 0, readOnly: { verifierKey: extra.verifierKey ?? vkey }, ...(extra.wrapStore === undefined ? {} : { wrapStore: extra.wrapStore }) });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-read-only-'));
  data = join(dir, 'data');
  const server = await startServer({ data, host: '127.0.0.1', port: 0, origin: ORIGIN });
  vkey = server.verifierKey;
  try {
    const client = new CairnClient({ baseUrl: server.url, verifierKey: vkey });
    await client.addBatch(Array.from({ length: SIZE }, (_, i) => enc(`entry ${i}`)));
    before = await readAll(server.url);
  } finally {
    await server.close();
  }
  // The log's key goes offline: a read-only start must not need it.
  await rename(join(data, 'log.key'), join(dir, 'log.key.offline'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('every read is answered byte for byte as the normal server answered it, with no key file', async () => {
  const server = await readOnlyServer();
  try {
    expect(server.startup.readOnly).toBe(true);
    expect(server.log.readOnly).toBe(true);
    const after = await readAll(server.url);
    for (const path of READS) {
      expect({ path, ...after.get(path)! }).toEqual({ path, ...before.get(path)! });
      expect(after.get(path)!.status).toBe(200);
    }
    // The stored tree head is served as it is: the log has moved on from nothing.
    expect(JSON.parse(after.get('/ct/v1/get-sth')!.body.toString()).tree_size).toBe(SIZE);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
  } finally {
    await server.close();
  }
});

test('every write is 403 FORBIDDEN, saying the log is read-only, and nothing is logged', async () => {
  const server = await readOnlyServer();
  try {
    const writes: [string, RequestInit][] = [
      // The fast path's request (octet-stream with a length) and express's (JSON, chunked).
      ['/v1/entries', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: enc('a new entry') }],
      ['/v1/entries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' }],
      ['/v1/entries', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }],
      ['/v1/batch', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ entries: [encodeBase64(enc('b'))] }) }],
      ['/v1/batch', { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'not json' }],
    ];
    for (const [path, init] of writes) {
      const res = await fetch(server.url + path, init);
      expect({ path, status: res.status, type: res.headers.get('content-type') }).toEqual({ path, status: 403, type: 'application/json; charset=utf-8' });
      const body = (await res.json()) as { code: string; error: string };
      expect(body.code).toBe('FORBIDDEN');
      expect(body.error).toMatch(/read-only.*takes no entries/);
    }
    expect(server.log.latest().treeSize).toBe(SIZE);
    expect((await read(server.url, '/checkpoint')).body).toEqual(before.get('/checkpoint')!.body);
  } finally {
    await server.close();
  }
});

test('nothing is written to the store: no round, no re-signed tree head; its state is as the normal server left it', async () => {
  const stateBefore = await (async () => {
    const store = await LevelStore.open(join(data, 'db'));
    try {
      return await store.readState();
    } finally {
      await store.close();
    }
  })();
  let writes = 0;
  const server = await readOnlyServer({ wrapStore: (inner) => passThroughStore(inner, { writeRound: (round) => (writes++, inner.writeRound(round)) }) });
  await fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: enc('refused') });
  await server.close();
  expect(writes).toBe(0);
  const store = await LevelStore.open(join(data, 'db'));
  try {
    expect(await store.readState()).toEqual(stateBefore);
  } finally {
    await store.close();
  }
});

test('a read-only log never re-signs, however long past the re-sign interval it idles; a signing one does', async () => {
  // Only the re-sign timer (setInterval) is faked: the store's reads run as ever.
  jest.useFakeTimers({ doNotFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask', 'Date', 'performance', 'hrtime'] });
  try {
    const farAhead = () => Date.now() + 3_600_000;
    // On a copy: the signing control moves the copy's tree head on.
    const copy = join(dir, 'resign-copy');
    await cp(join(data, 'db'), copy, { recursive: true });
    const opened = async (signing: boolean) => {
      const store = await LevelStore.open(copy, { keepLayout: !signing });
      let writes = 0;
      const counted = passThroughStore(store, { writeRound: (round) => (writes++, store.writeRound(round)) });
      // The signer is the log's own, read back only for the signing control.
      const signer = signing ? newSigner(await readOfflineKey()) : undefined;
      const log = await Log.open({ store: counted, verifier: newVerifier(vkey), clock: farAhead, resignIntervalMs: 1000, ...(signer === undefined ? {} : { signer }) });
      return { log, writes: () => writes };
    };
    // The control: a signing log on the same store, its clock an hour past its tree head, begins a re-sign at the timer's first tick.
    const signing = await opened(true);
    try {
      jest.advanceTimersByTime(10_000);
      expect(signing.log.roundUnderWay()).toBeDefined();
    } finally {
      await signing.log.close();
    }
    expect(signing.writes()).toBeGreaterThan(0);
    const readOnly = await opened(false);
    const head = readOnly.log.latest();
    try {
      jest.advanceTimersByTime(3_600_000);
      expect(readOnly.log.roundUnderWay()).toBeUndefined();
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      await readOnly.log.close();
    }
    expect(readOnly.writes()).toBe(0);
    expect(readOnly.log.latest()).toBe(head);
  } finally {
    jest.useRealTimers();
  }
});

/** The log's private key, kept offline by the suite (for the signing control only). */
async function readOfflineKey(): Promise<string> {
  return (await readFile(join(dir, 'log.key.offline'), 'utf8')).trim();
}

test('a verifier key that is not the log\'s is refused, and the store is left for the next start', async () => {
  const other = verifierKeyFromSignerKey(generateSignerKey('another.test/log'));
  await expect(readOnlyServer({ verifierKey: other })).rejects.toThrow(/does not verify with the verifier key from --vkey \(another\.test\/log, key ID [0-9a-f]{8}\).*holds the log "readonly\.test\/log"/);
  // Another key of the log's own name: told as such.
  const namesake = verifierKeyFromSignerKey(generateSignerKey(ORIGIN));
  await expect(readOnlyServer({ verifierKey: namesake })).rejects.toThrow(/another key of that name signed it/);
  // The refused starts let go of the store's lock.
  const server = await readOnlyServer();
  await server.close();
});

test('a data folder with no log is refused, and nothing is made in it', async () => {
  const empty = join(dir, 'empty');
  await mkdir(empty, { mode: 0o700 });
  await expect(startServer({ data: empty, host: '127.0.0.1', port: 0, readOnly: { verifierKey: vkey } })).rejects.toThrow(/no log to serve read-only/);
  expect(await readdir(empty)).toEqual([]);
});

test('it holds the store\'s lock as serve does: a second server on the data folder refuses to start', async () => {
  const server = await readOnlyServer();
  try {
    await expect(readOnlyServer()).rejects.toThrow(/in use by another Cairn process/);
  } finally {
    await server.close();
  }
});

test('with tokens, a write is 403 with a submit token or none, and a private log still needs a token to read', async () => {
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, `reader read ${sha('read-token')}\nwriter submit ${sha('submit-token')}\n`, { mode: 0o600 });
  const server = await startServer({ data, host: '127.0.0.1', port: 0, readOnly: { verifierKey: vkey }, tokens, privateReads: true });
  try {
    expect(server.accessSummary).toMatch(/^read-only \(writes refused, 403\), reads need a token/);
    const post = (token?: string) =>
      fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) }, body: enc('x') });
    for (const token of [undefined, 'read-token', 'submit-token']) expect({ token, status: (await post(token)).status }).toEqual({ token, status: 403 });
    expect((await fetch(`${server.url}/checkpoint`)).status).toBe(401);
    const res = await fetch(`${server.url}/checkpoint`, { headers: { authorization: 'Bearer read-token' } });
    expect(Buffer.from(await res.arrayBuffer())).toEqual(before.get('/checkpoint')!.body);
  } finally {
    await server.close();
  }
});

test('a read-only log takes no writes: any host without tokens, but not with --public-writes', () => {
  expect(accessOptionsProblem('0.0.0.0', { tokens: false, publicWrites: false, privateReads: false, readOnly: true })).toBeUndefined();
  expect(accessOptionsProblem('0.0.0.0', { tokens: false, publicWrites: false, privateReads: false })).toMatch(/refusing to listen/);
  expect(accessOptionsProblem('127.0.0.1', { tokens: false, publicWrites: true, privateReads: false, readOnly: true })).toMatch(/--read-only and --public-writes/);
});

describe('cairn serve --read-only', () => {
  test('serves from CAIRN_READ_ONLY and CAIRN_VKEY (a file), with no key file, says so, and refuses writes', async () => {
    const vkeyFile = join(dir, 'log.vkey');
    await writeFile(vkeyFile, `${vkey}\n`);
    // A file where the key was that is no key at all: read, it would stop the start.
    await writeFile(join(data, 'log.key'), 'not a key\n', { mode: 0o644 });
    try {
      const server = await startServerProcess(['--data', data], { CAIRN_READ_ONLY: '1', CAIRN_VKEY: vkeyFile, CAIRN_KEY: undefined });
      try {
        const out = server.stdout();
        expect(out).toMatch(/^read-only: serving that tree head for good/m);
        expect(out).toContain(`verifier key: ${vkey}\n`);
        expect(out).not.toMatch(/key file:/);
        expect(out).toMatch(/access: read-only \(writes refused, 403\)/);
        expect((await read(server.url, '/ct/v1/get-sth')).body).toEqual(before.get('/ct/v1/get-sth')!.body);
        const res = await fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: enc('x') });
        expect(res.status).toBe(403);
      } finally {
        expect(await server.stop()).toBe(0);
      }
    } finally {
      await rm(join(data, 'log.key'));
    }
  });

  test.each([
    [['--read-only'], {}, /--vkey is required/],
    [['--read-only', '--vkey', 'KEY', '--key', 'k'], {}, /--read-only reads no private key: leave out --key/],
    [['--read-only', '--vkey', 'KEY'], { CAIRN_KEY: 'k' }, /leave out CAIRN_KEY/],
    [['--read-only', '--vkey', 'KEY', '--max-queue', '5'], {}, /--max-queue bounds writes/],
    [['--read-only', '--vkey', 'KEY', '--public-writes'], {}, /--read-only and --public-writes do not go together/],
    [['--read-only', '--vkey', 'KEY', '--origin', 'other.test/log'], {}, /not the origin given/],
    [['--vkey', 'KEY'], {}, /--vkey goes with --read-only/],
    [['--read-only', '--vkey', 'KEY', '--new-log'], {}, /--new-log \(or CAIRN_NEW_LOG\) begins a new log, which a read-only server never does/],
    [['--read-only', '--vkey', 'KEY'], { CAIRN_NEW_LOG: 'true' }, /--new-log \(or CAIRN_NEW_LOG\) begins a new log, which a read-only server never does/],
    [[], { CAIRN_READ_ONLY: 'maybe' }, /CAIRN_READ_ONLY must be 1, true or yes/],
  ] as const)('usage error (exit 2): %j %j', async (args, env, message) => {
    const { code, stderr } = await runCli(['serve', '--data', data, '--port', '0', ...args.map((a) => (a === 'KEY' ? vkey : a))], { CAIRN_KEY: undefined, CAIRN_VKEY: undefined, CAIRN_READ_ONLY: undefined, CAIRN_ORIGIN: undefined, CAIRN_NEW_LOG: undefined, ...env });
    expect(stderr).toMatch(message);
    expect(code).toBe(2);
  });
});
