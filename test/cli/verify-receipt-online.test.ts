// cairn verify-receipt --url: after the offline checks, the log's latest
// checkpoint must extend the receipt's tree. Real servers in-process: a
// primary, and a copy of its store taken before the receipt's entry was
// logged (a replica that lagged), run as the log after a failover; the
// receipt still verifies offline, and only the log's latest checkpoint shows
// that its tree is gone.
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer, type ServerConfig } from '../../src/cli/server.js';
import { checkReceiptTrees, ReceiptTrees } from '../../src/cli/receipt-consistency.js';
import { VERIFY_RECEIPT_USAGE, verifyReceiptCommand } from '../../src/cli/verify-receipt.js';
import { CairnClient } from '../../src/client/client.js';
import type { FetchLike } from '../../src/client/http.js';
import { hashToken } from '../../src/http/access.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { captureIo, editingFetch } from './client-io.js';

const enc = (s: string) => new TextEncoder().encode(s);
const ORIGIN = 'online.test/log';
const READER = 'reader-secret-token-0123456789';

let dir: string;
let keyFile: string;
let vkey: string;
/** The primary, running: 20 early entries, then LATE at leaf 20 (size 21), then 3 more. */
let primary: RunningServer;
/** Receipts (JSON Lines as cairn add writes them) of LATE and of early entry 3, from the primary. */
let lateReceipts: string;
let earlyReceipts: string;
/** The receipt of LATE, and the checkpoint the primary signed for it. */
let lateNote: string;
const others: RunningServer[] = [];
/** The closers of the relays the tests start. */
const relays: (() => Promise<void>)[] = [];

/** Starts a server on data folder `name` under the primary's key, with `extra` config. */
async function serve(name: string, extra: Partial<ServerConfig> = {}): Promise<RunningServer> {
  // Its key made before the log: --new-log on the first start of `name` only (serve refuses it on a store that holds a log).
  const newLog = !existsSync(join(dir, name));
  const server = await startServer({ data: join(dir, name), key: keyFile, newLog, host: '127.0.0.1', port: 0, ...extra });
  others.push(server);
  return server;
}

const clientOf = (server: RunningServer) => new CairnClient({ baseUrl: server.url, verifierKey: vkey });

/** The log after a failover to the replica that lagged: the copy taken before LATE, with `more` other entries since. */
async function replicaWith(more: number): Promise<RunningServer> {
  const name = `replica-${others.length}`;
  await cp(join(dir, 'lagged'), join(dir, name), { recursive: true });
  const server = await serve(name);
  if (more > 0) await clientOf(server).addBatch(Array.from({ length: more }, (_, i) => enc(`after failover ${i}`)));
  return server;
}

/** cairn verify-receipt of `receipts` for entry file `entry` with `args`; its status and output. */
async function verify(receipts: string, entry: string, args: string[], options: Parameters<typeof captureIo>[0] = {}) {
  const io = captureIo(options);
  const code = await verifyReceiptCommand([receipts, '--entry', join(dir, entry), '--vkey', vkey, ...args], io);
  return { code, out: io.out(), err: io.err() };
}

/** A fetch that passes through and keeps every URL asked (below the base URL) and the Authorization sent with it. */
function recording(next: FetchLike = fetch): { fetch: FetchLike; asked: string[]; tokens: (string | null)[] } {
  const asked: string[] = [];
  const tokens: (string | null)[] = [];
  return {
    asked,
    tokens,
    fetch: (url, init) => {
      asked.push(new URL(url).pathname + new URL(url).search);
      tokens.push(new Headers(init?.headers).get('authorization'));
      return next(url, init);
    },
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-verify-online-'));
  const first = await startServer({ data: join(dir, 'primary'), host: '127.0.0.1', port: 0, origin: ORIGIN });
  keyFile = join(dir, 'primary', 'log.key');
  vkey = first.verifierKey;
  await clientOf(first).addBatch(Array.from({ length: 20 }, (_, i) => enc(`early ${i}`)));
  const early = await clientOf(first).addEntry(enc('early 3'));
  await first.close();
  // The replica, copied while the primary was stopped: it has the 20 early entries and no more.
  await cp(join(dir, 'primary'), join(dir, 'lagged'), { recursive: true });
  primary = await serve('primary');
  const late = await clientOf(primary).addEntry(enc('late receipt'));
  await clientOf(primary).addBatch([enc('later 1'), enc('later 2'), enc('later 3')]);
  lateNote = late.receipt.checkpoint;
  expect(late.receipt.index).toBe(20);
  lateReceipts = join(dir, 'late.jsonl');
  earlyReceipts = join(dir, 'early.jsonl');
  await writeFile(lateReceipts, `${JSON.stringify(late.receipt)}\n`);
  await writeFile(earlyReceipts, `${JSON.stringify(early.receipt)}\n`);
  await writeFile(join(dir, 'late'), 'late receipt');
  await writeFile(join(dir, 'early3'), 'early 3');
  await writeFile(join(dir, 'twice'), 'sent twice');
});
afterAll(async () => {
  for (const close of relays.splice(0)) await close();
  for (const s of others.splice(0)) await s.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

test('after a failover to a replica that lagged, a receipt that verifies offline fails online (1): the log no longer extends its tree, shown by a proof from tiles, with both signed checkpoints', async () => {
  const replica = await replicaWith(5);
  const latest = await clientOf(replica).getCheckpoint();
  expect(latest.checkpoint.treeSize).toBe(25);
  // Offline the receipt is as valid as ever.
  expect(await verify(lateReceipts, 'late', [])).toMatchObject({ code: 0, out: expect.stringMatching(/^valid: the entry is leaf 20 of online\.test\/log in the signed tree of size 21 /) });

  const r = await verify(lateReceipts, 'late', ['--url', replica.url]);
  expect(r.code).toBe(1);
  expect(r.err).toBe('');
  const [first, ...rest] = r.out.split('\n');
  expect(first).toMatch(
    new RegExp(
      `^INVALID: the receipt \\(${lateReceipts.replace(/[.]/g, '\\.')}:1\\) proves the entry is leaf 20 of online\\.test/log in the signed tree of size 21, but the log no longer extends the receipt's tree \\(a fork or a rollback: .*\\): the tree of size 25 \\(root ${encodeBase64(latest.checkpoint.rootHash).replace(/[+/]/g, '\\$&')}\\) does not extend the tree of size 21 .*\\(proof from tiles\\)$`,
    ),
  );
  // What shows it: the tiles, not the two notes alone (printed whole, as signed).
  expect(rest.join('\n')).toBe(
    `Shown by the log's tiles (${replica.url}/tile/), authenticated against the log's latest checkpoint below, which anyone with the key can fetch again and check; the two checkpoints alone do not show it.\n` +
      `The receipt's checkpoint (${lateReceipts}:1), signed by ${ORIGIN}:\n${lateNote}The log's latest checkpoint (${replica.url}/checkpoint), signed by ${ORIGIN}:\n${latest.note}`,
  );
  expect(r.out).not.toMatch(/Evidence/);

  const json = await verify(lateReceipts, 'late', ['--url', replica.url, '--json']);
  expect(json.code).toBe(1);
  const parsed = JSON.parse(json.out) as { valid: boolean; reason: string; consistency: Record<string, unknown> };
  expect(parsed).toMatchObject({ valid: false, reason: expect.stringMatching(/but the log no longer extends the receipt's tree/) });
  expect(parsed.consistency).toEqual({
    consistent: false,
    reason: expect.stringMatching(/^the log no longer extends the receipt's tree .*does not extend the tree of size 21/),
    shown_by: 'tiles',
    receipt: { tree_size: 21, root_hash: expect.any(String), checkpoint: lateNote },
    log: { tree_size: 25, root_hash: encodeBase64(latest.checkpoint.rootHash), checkpoint: latest.note },
  });
});

/**
 * A CDN on 127.0.0.1 (port 0) in front of the log at `origin`: it answers
 * /checkpoint with `stale`, a copy it kept, unless the request says
 * `Cache-Control: no-cache` and it honours that, when it asks the log; all
 * else it asks the log for. Keeps the Cache-Control of each /checkpoint request.
 */
async function cdn(origin: string, stale: string, honoursNoCache: boolean) {
  const asked: (string | undefined)[] = [];
  const relay = createHttpServer((req, res) => {
    const path = req.url!;
    const noCache = /\bno-cache\b/.test(String(req.headers['cache-control'] ?? ''));
    if (path === '/checkpoint') asked.push(req.headers['cache-control']);
    void (async () => {
      if (path === '/checkpoint' && !(noCache && honoursNoCache)) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(stale);
        return;
      }
      const answer = await fetch(`${origin}${path}`);
      res.writeHead(answer.status, { 'Content-Type': answer.headers.get('Content-Type') ?? 'application/octet-stream' }).end(Buffer.from(await answer.arrayBuffer()));
    })();
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const close = () => {
    relay.closeAllConnections();
    return new Promise<void>((resolve) => relay.close(() => resolve()));
  };
  relays.push(close);
  return { url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`, asked };
}

/** A fetch that takes /checkpoint from the log at `checkpoint` and tiles from the one at `tiles`, whatever URL it is given. */
const routed = (checkpoint: string, tiles: string): FetchLike => (url, init) => {
  const path = new URL(url).pathname;
  if (path === '/checkpoint') return fetch(`${checkpoint}${path}`, init);
  return fetch(path.startsWith('/tile/') ? `${tiles}${path}` : url, init);
};

test('a /checkpoint smaller than the receipt\'s tree is asked for again past caches: a CDN\'s old copy gives way to the log\'s own (0); a CDN that keeps it is exit 2, the log behind the receipt, as tiles of the receipt\'s tree show', async () => {
  const stale = (await clientOf(await replicaWith(0)).getCheckpoint()).note;
  const honouring = await cdn(primary.url, stale, true);
  const r = await verify(lateReceipts, 'late', ['--url', honouring.url]);
  expect(r).toMatchObject({ code: 0, err: '', out: expect.stringMatching(/\nconsistent: the log's latest checkpoint, of tree size 24 /) });
  expect(honouring.asked).toEqual([undefined, 'no-cache']);

  const keeping = await cdn(primary.url, stale, false);
  const k = await verify(lateReceipts, 'late', ['--url', keeping.url, '--json']);
  expect(k).toMatchObject({ code: 2, out: '' });
  expect(k.err).toMatch(
    new RegExp(
      `^cairn verify-receipt: the log's latest checkpoint, of tree size 20 \\(root \\S+\\), is behind the receipt's tree of size 21 \\(${lateReceipts.replace(/[.]/g, '\\.')}:1\\), though asked for twice, the second time past the caches that honour no-cache; ` +
        `tiles authenticated against the receipt's checkpoint show that the receipt's tree extends it, so it is an old checkpoint \\(kept by a cache that ignores no-cache\\), or the log rolled back to it .*Ask again later`,
    ),
  );
  expect(keeping.asked).toEqual([undefined, 'no-cache']);
});

test('a log that rolled back to a smaller tree never passes: exit 2 while it is behind the receipt (its tiles of the receipt\'s tree gone), 1 once it grows past it; another root for the receipt\'s size is 1', async () => {
  const smaller = await replicaWith(0);
  const s = await verify(lateReceipts, 'late', ['--url', smaller.url]);
  expect(s).toMatchObject({ code: 2, out: '' });
  expect(s.err).toMatch(/is behind the receipt's tree of size 21 .*; whether the receipt's tree of size 21 extends it could not be checked, as the tiles of that tree could not be read \(.*404.*\): it is an old checkpoint .*, or the log rolled back to it/);
  await clientOf(smaller).addBatch(Array.from({ length: 3 }, (_, i) => enc(`after rollback ${i}`)));
  const grown = await verify(lateReceipts, 'late', ['--url', smaller.url]);
  expect(grown.code).toBe(1);
  expect(grown.out).toMatch(/^INVALID: .*but the log no longer extends the receipt's tree .*: the tree of size 23 .* does not extend the tree of size 21 /);

  const same = await replicaWith(1);
  const f = await verify(lateReceipts, 'late', ['--url', same.url, '--json']);
  expect(f.code).toBe(1);
  expect(JSON.parse(f.out)).toMatchObject({ valid: false, consistency: { consistent: false, reason: expect.stringMatching(/two roots for tree size 21: .* \(a fork\)$/), shown_by: 'checkpoints', log: { tree_size: 21 } } });
  // Two roots at one size: the two signed checkpoints are the evidence, by themselves.
  const text = await verify(lateReceipts, 'late', ['--url', same.url]);
  expect(text.out).toContain(
    `\nEvidence, two checkpoints signed by ${ORIGIN} with different roots for tree size 21:\nThe receipt's checkpoint (${lateReceipts}:1):\n${lateNote}The log's latest checkpoint (${same.url}/checkpoint):\n${(await clientOf(same).getCheckpoint()).note}`,
  );
});

test('a smaller /checkpoint that the tiles of the receipt\'s tree show is not its start, or tiles that do not match the receipt\'s checkpoint, is a fork (1)', async () => {
  // Another history under the same key, of 5 entries; the tiles still served are the primary's.
  const other = await serve(`other-history-${others.length}`);
  await clientOf(other).addBatch(Array.from({ length: 5 }, (_, i) => enc(`other history ${i}`)));
  const f = await verify(lateReceipts, 'late', ['--url', primary.url, '--json'], { fetch: routed(other.url, primary.url) });
  expect(f.code).toBe(1);
  expect(JSON.parse(f.out)).toMatchObject({
    valid: false,
    consistency: {
      consistent: false,
      reason: expect.stringMatching(/^the log no longer extends the receipt's tree \(a fork: .*\): its latest checkpoint, of tree size 5, is smaller, and tiles authenticated against the receipt's checkpoint show that it is not the start of the receipt's tree: the tree of size 21 .* does not extend the tree of size 5 /),
      shown_by: 'tiles',
      log: { tree_size: 5 },
    },
  });
  const text = await verify(lateReceipts, 'late', ['--url', primary.url], { fetch: routed(other.url, primary.url) });
  expect(text.out).toMatch(/\nShown by the log's tiles \(\S+\/tile\/\), authenticated against the receipt's checkpoint below, .*the two checkpoints alone do not show it\.\nThe receipt's checkpoint /);
  expect(text.out).not.toMatch(/Evidence/);
  // The lagged tree, a true start of the receipt's, with tiles of another tree of size 21.
  const lagged = await replicaWith(0);
  const forked = await replicaWith(1);
  const m = await verify(lateReceipts, 'late', ['--url', primary.url], { fetch: routed(lagged.url, forked.url) });
  expect(m.code).toBe(1);
  expect(m.out).toMatch(/^INVALID: .*but the log's tiles contradict the receipt's checkpoint, which it signed \(TILE_MISMATCH\), and its latest checkpoint, of tree size 20, is smaller than the receipt's tree: /);
});

test('a log that still extends the receipt\'s tree passes (0), saying how it was shown: from tiles, or the same tree', async () => {
  const r = await verify(lateReceipts, 'late', ['--url', primary.url]);
  expect(r).toMatchObject({ code: 0, err: '' });
  const latest = (await clientOf(primary).getCheckpoint()).checkpoint;
  expect(r.out).toBe(
    `valid: the entry is leaf 20 of online.test/log in the signed tree of size 21 (root ${lateNote.split('\n')[2]!})\n` +
      `consistent: the log's latest checkpoint, of tree size 24 (root ${encodeBase64(latest.rootHash)}, signature verified), extends the receipt's tree of size 21: a consistency proof computed from tiles authenticated against it\n`,
  );
  // An early entry, in the tree the replica kept, is still there after the failover.
  const replica = await replicaWith(5);
  const json = await verify(earlyReceipts, 'early3', ['--url', replica.url, '--json']);
  expect(json.code).toBe(0);
  expect(JSON.parse(json.out)).toMatchObject({ valid: true, index: 3, tree_size: 20, consistency: { consistent: true, log: { tree_size: 25 }, trees: [{ tree_size: 20, proof: 'tiles' }] } });
  // The log at the receipt's own tree: nothing to prove.
  const lagged = await replicaWith(0);
  expect((await verify(earlyReceipts, 'early3', ['--url', lagged.url])).out).toMatch(/\nconsistent: the log's latest checkpoint, of tree size 20 .*extends the receipt's tree of size 20: it is the same tree\n$/);
});

test('a URL of another log (its checkpoint not signed by --vkey) fails (1) as every client command fails it, naming both origins; the receipt\'s checkpoint is shown, the log\'s is null', async () => {
  const stranger = await startServer({ data: join(dir, 'stranger'), host: '127.0.0.1', port: 0, origin: 'stranger.test/log' });
  others.push(stranger);
  const r = await verify(lateReceipts, 'late', ['--url', stranger.url, '--json']);
  expect(r.code).toBe(1);
  expect(JSON.parse(r.out)).toMatchObject({
    valid: false,
    consistency: { consistent: false, reason: expect.stringMatching(/^the log's latest checkpoint does not verify: .*this log's origin is stranger\.test\/log, the key is for online\.test\/log/), shown_by: 'signature', receipt: { tree_size: 21, checkpoint: lateNote }, log: null },
  });
  const text = await verify(lateReceipts, 'late', ['--url', stranger.url]);
  expect(text.out).toMatch(/^INVALID: .*\nThe receipt's checkpoint \(.*late\.jsonl:1\), signed by online\.test\/log:\nonline\.test\/log\n21\n/);
});

test('a log that cannot be asked is not "invalid": unreachable, or answering an error, is exit 2 with nothing on standard output', async () => {
  // Refused as fetch refuses a port nothing listens on (not a closed server's port, which another test's server may take).
  const asked: string[] = [];
  const refused: FetchLike = (url) => {
    asked.push(url);
    return Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) }));
  };
  const r = await verify(lateReceipts, 'late', ['--url', 'http://127.0.0.1:9'], { fetch: refused });
  expect(r).toMatchObject({ code: 2, out: '' });
  expect(r.err).toBe('cairn verify-receipt: GET http://127.0.0.1:9/checkpoint: fetch failed: connect ECONNREFUSED 127.0.0.1:9\n');
  expect(asked).toEqual(['http://127.0.0.1:9/checkpoint']);
  // A log that answers 500 to everything, even after its retries.
  const broken: FetchLike = () => Promise.resolve(new Response('{"error":"boom","code":"INTERNAL"}', { status: 500, headers: { 'Content-Type': 'application/json' } }));
  const b = await verify(lateReceipts, 'late', ['--url', primary.url, '--json'], { fetch: broken });
  expect(b).toMatchObject({ code: 2, out: '' });
  expect(b.err).toMatch(/^cairn verify-receipt: .*500/);
});

test('tiles that cannot be read: the log\'s consistency proof is used instead (0 when it verifies); when it fails (unsigned, it shows no fork by itself, as cairn add takes it) or cannot be had, exit 2 naming both failures', async () => {
  const noTiles = (next: FetchLike = fetch): FetchLike => (url, init) =>
    url.includes('/tile/') ? Promise.resolve(new Response('{"error":"not found","code":"NOT_FOUND"}', { status: 404, headers: { 'Content-Type': 'application/json' } })) : next(url, init);
  const honest = await verify(lateReceipts, 'late', ['--url', primary.url, '--json'], { fetch: noTiles() });
  expect(honest.code).toBe(0);
  expect(JSON.parse(honest.out)).toMatchObject({ consistency: { consistent: true, trees: [{ tree_size: 21, proof: 'log' }] } });

  const replica = await replicaWith(5);
  const forked = await verify(lateReceipts, 'late', ['--url', replica.url, '--json'], { fetch: noTiles() });
  expect(forked).toMatchObject({ code: 2, out: '' });
  expect(forked.err).toMatch(
    /^cairn verify-receipt: could not check that the log's latest tree, of size 25, extends the receipt's tree of size 21: its tiles could not be read \(.*404.*\), and its consistency proof, which is not signed, does not verify \(the log's consistency proof from tree size 21 .*\): that shows no fork by itself\n$/,
  );
  // An honest log behind a cache that answers another pair's proof, whatever the query: the same.
  const cached = await (await fetch(`${primary.url}/ct/v1/get-sth-consistency?first=3&second=24`)).text();
  const wrongProof = noTiles((url, init) => (url.includes('get-sth-consistency') ? Promise.resolve(new Response(cached, { status: 200, headers: { 'Content-Type': 'application/json' } })) : fetch(url, init)));
  const honestCached = await verify(lateReceipts, 'late', ['--url', primary.url], { fetch: wrongProof });
  expect(honestCached).toMatchObject({ code: 2, out: '' });
  expect(honestCached.err).toMatch(/its tiles could not be read \(.*404.*\), and its consistency proof, which is not signed, does not verify/);

  const nothing = noTiles((url, init) => (url.includes('get-sth-consistency') ? Promise.resolve(new Response('oops', { status: 500 })) : fetch(url, init)));
  const neither = await verify(lateReceipts, 'late', ['--url', primary.url], { fetch: nothing });
  expect(neither).toMatchObject({ code: 2, out: '' });
  expect(neither.err).toMatch(/^cairn verify-receipt: could not check that the log's latest tree, of size 24, extends the receipt's tree of size 21: its tiles could not be read \(.*404.*\), nor its consistency proof \(.*500.*\)\n$/);
});

test('a receipt that fails offline fails (1) before the log is asked at all', async () => {
  const receipt = JSON.parse(await readFile(lateReceipts, 'utf8')) as { index: number };
  const changed = join(dir, 'changed.json');
  await writeFile(changed, JSON.stringify({ ...receipt, index: receipt.index - 1 }));
  const rec = recording();
  const r = await verify(changed, 'late', ['--url', primary.url], { fetch: rec.fetch });
  expect(r).toMatchObject({ code: 1, out: expect.stringMatching(/^INVALID: the inclusion proof does not lead/), err: '' });
  expect(rec.asked).toEqual([]);
  // The wrong entry for the receipts, with --json: the same, and no "consistency".
  const wrong = await verify(lateReceipts, 'early3', ['--url', primary.url, '--json'], { fetch: rec.fetch });
  expect(wrong.code).toBe(1);
  expect(Object.keys(JSON.parse(wrong.out))).toEqual(['valid', 'reason']);
  expect(rec.asked).toEqual([]);
});

test('JSON Lines of many receipts for the entry: every one that proves it is checked, each distinct tree once, with one fetch of the checkpoint', async () => {
  // The same entry sent again later is answered with a receipt under a later checkpoint (duplicate).
  const log = await serve('twice-log');
  const c = clientOf(log);
  const a = await c.addEntry(enc('sent twice'));
  await c.addBatch([enc('between 1'), enc('between 2')]);
  const b = await c.addEntry(enc('sent twice'));
  await c.addBatch([enc('after 1')]);
  expect(b.receipt.duplicate).toBe(true);
  const line = (r: object) => `${JSON.stringify(r)}\n`;
  const other = (await c.addEntry(enc('another'))).receipt;
  await writeFile(join(dir, 'many.jsonl'), [a, b, a, other, a, b].map((x) => line('receipt' in x ? x.receipt : x)).join(''));
  await writeFile(join(dir, 'once.jsonl'), [a, b].map((x) => line(x.receipt)).join(''));
  const many = recording();
  const r = await verify(join(dir, 'many.jsonl'), 'twice', ['--url', log.url, '--json'], { fetch: many.fetch });
  expect(r.code).toBe(0);
  expect(JSON.parse(r.out)).toMatchObject({ valid: true, index: 0, tree_size: 1, consistency: { consistent: true, log: { tree_size: 5 }, trees: [{ tree_size: 1 }, { tree_size: 3 }] } });
  expect(many.asked.filter((p) => p === '/checkpoint')).toHaveLength(1);
  // Five lines for the entry cost what its two distinct trees do.
  const once = recording();
  expect((await verify(join(dir, 'once.jsonl'), 'twice', ['--url', log.url], { fetch: once.fetch })).code).toBe(0);
  expect([...many.asked].sort()).toEqual([...once.asked].sort());
  expect((await verify(join(dir, 'once.jsonl'), 'twice', ['--url', log.url])).out).toMatch(/\nconsistent: .* extends the 2 trees of the receipts that prove the entry \(sizes 1, 3\): a consistency proof computed from tiles/);
  // The trees share one tile reader against the log's checkpoint: each tile is read once, for both.
  const tiles = many.asked.filter((p) => p.startsWith('/tile/'));
  expect(tiles).toEqual(['/tile/0/000.p/5']);

  // Checked directly: a tile reader lets go of its tiles after tilesPerReader of them, and the next reads them again.
  const client = clientOf(log);
  const trees = new ReceiptTrees();
  for (const [i, r] of [a, b].entries()) trees.add({ ...client.openCheckpoint(r.receipt.checkpoint), where: `r${i}`, index: 0 });
  const counted = (limit?: number) => {
    const rec = recording();
    const c = new CairnClient({ baseUrl: log.url, verifierKey: vkey, fetch: rec.fetch });
    return { rec, check: checkReceiptTrees(c, trees.list(), limit === undefined ? {} : { tilesPerReader: limit }) };
  };
  const shared = counted();
  expect(await shared.check).toMatchObject({ consistent: true, sources: ['tiles', 'tiles'] });
  expect(shared.rec.asked.filter((p) => p.startsWith('/tile/'))).toEqual(['/tile/0/000.p/5']);
  const bounded = counted(1);
  expect(await bounded.check).toMatchObject({ consistent: true, sources: ['tiles', 'tiles'] });
  expect(bounded.rec.asked.filter((p) => p.startsWith('/tile/'))).toEqual(['/tile/0/000.p/5', '/tile/0/000.p/5']);
});

test('of JSON Lines, a later receipt whose tree the log dropped fails (1), though an earlier receipt for the entry is in a tree the log still extends', async () => {
  // The entry logged at leaf 0, then sent again: the duplicate's receipt is under the checkpoint of size 3.
  const first = await serve('dropped');
  const a = await clientOf(first).addEntry(enc('sent twice'));
  await first.close();
  await cp(join(dir, 'dropped'), join(dir, 'dropped-lag'), { recursive: true });
  const again = await serve('dropped');
  await clientOf(again).addBatch([enc('between 1'), enc('between 2')]);
  const b = await clientOf(again).addEntry(enc('sent twice'));
  expect([a.receipt.index, b.receipt.index, b.checkpoint.treeSize]).toEqual([0, 0, 3]);
  // The failover: the copy with the entry alone, and other entries after it.
  const lagged = await serve('dropped-lag');
  await clientOf(lagged).addBatch([enc('other 1'), enc('other 2'), enc('other 3')]);
  const file = join(dir, 'dropped.jsonl');
  await writeFile(file, `${JSON.stringify(a.receipt)}\n${JSON.stringify(b.receipt)}\n`);
  // Offline the first receipt is enough; online the second's tree is gone from the log.
  expect((await verify(file, 'twice', [])).code).toBe(0);
  const r = await verify(file, 'twice', ['--url', lagged.url]);
  expect(r.code).toBe(1);
  expect(r.out).toMatch(new RegExp(`^INVALID: the receipt \\(${file.replace(/[.]/g, '\\.')}:2\\) proves the entry is leaf 0 of online\\.test/log in the signed tree of size 3, but the log no longer extends the receipt's tree`));
  expect(r.out).toContain(`The receipt's checkpoint (${file}:2), signed by ${ORIGIN}:\n${b.receipt.checkpoint}The log's latest checkpoint`);
});

test('CAIRN_URL alone asks no log (offline, as before); --online takes the URL from it, and CAIRN_TOKEN goes with every request', async () => {
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, `viewer read ${hashToken(READER)}\n`, { mode: 0o600 });
  await cp(join(dir, 'lagged'), join(dir, 'private'), { recursive: true });
  const closed = await serve('private', { tokens, privateReads: true });
  const env = { CAIRN_URL: closed.url, CAIRN_TOKEN: READER };
  const offline = recording();
  const plain = await verify(lateReceipts, 'late', []);
  expect(await verify(lateReceipts, 'late', [], { env, fetch: offline.fetch })).toEqual(plain);
  expect(offline.asked).toEqual([]);

  const online = recording();
  const r = await verify(earlyReceipts, 'early3', ['--online'], { env, fetch: online.fetch });
  expect(r).toMatchObject({ code: 0, out: expect.stringMatching(/\nconsistent: the log's latest checkpoint, of tree size 20 .*: it is the same tree\n$/) });
  expect(online.asked[0]).toBe('/checkpoint');
  expect(new Set(online.tokens)).toEqual(new Set([`Bearer ${READER}`]));
  // Without the token the log refuses, which is no verdict on the receipt (2), and says where a token goes.
  const refused = await verify(earlyReceipts, 'early3', ['--online'], { env: { CAIRN_URL: closed.url } });
  expect(refused).toMatchObject({ code: 2, out: '' });
  expect(refused.err).toMatch(/401.*put it in the environment variable CAIRN_TOKEN/);
  // --url and --online together is a usage error.
  expect((await verify(lateReceipts, 'late', ['--online', '--url', primary.url], { env })).code).toBe(2);
});

test('the help says offline is the default, how --url checks the log, and that a log that cannot be asked is exit 2, not 1', () => {
  // Its words, wherever the lines break.
  const help = VERIFY_RECEIPT_USAGE.replace(/\s+/g, ' ');
  expect(help).toContain('by default offline, without asking the log');
  expect(VERIFY_RECEIPT_USAGE).toMatch(/--url URL +also check that the log at URL still extends/);
  expect(VERIFY_RECEIPT_USAGE).toMatch(/--online +the same with the log's URL from CAIRN_URL/);
  expect(VERIFY_RECEIPT_USAGE).toMatch(/\n {2}2 {2}usage or operational error: .*\n.*with --url also the log unreachable/);
  expect(help).toContain("the log's own proof endpoint only when its tiles cannot be read: that proof is not signed, so one that fails then shows no fork by itself, exit 2");
  expect(help).toContain(
    "A latest checkpoint smaller than the receipt's tree is asked for again, past the caches that honour no-cache (a CDN's old copy); still smaller, tiles authenticated against the receipt's checkpoint must show that the receipt's tree extends it, else it is a fork. " +
      "If they do, or cannot be read, the log is behind the receipt: an old checkpoint or a rollback, which only a later tree past the receipt's tells apart (exit 2: ask again later; never 0).",
  );
  expect(help).toMatch(/ 2 usage or operational error: .* or its latest checkpoint behind the receipt's tree/);
  expect(help).toContain("A fork fails (1), printing both signed checkpoints, the receipt's and the log's, and what shows it: those two alone for another root at the same size, else the log's tiles");
  expect(help).not.toContain('as evidence');
  expect(help).toContain('{consistent: false, reason, shown_by, receipt, log}');
  expect(help).toContain('each distinct tree once, the tiles they need read once for all; what is kept then grows with those distinct trees alone (a signed checkpoint each), not with the lines');
  // The retries are of the log's answers: said only of --url and --online.
  expect(VERIFY_RECEIPT_USAGE).toMatch(/\n\nWith --url or --online, when the log is asked:\nAn answer of 429 or 503 /);
  expect(VERIFY_RECEIPT_USAGE.match(/An answer of 429/g)).toHaveLength(1);
});
