// cairn add holds every checkpoint it verified to one history: each batch's
// checkpoint must extend the newest one before it (starting with the one it
// fetched up front), by a consistency proof when the tree grew. A log that
// answers from another tree, shrinks, or signs a second root for a size is
// caught (exit 1), and the receipts written before stay written. A proof the
// log does not give stops it (exit 2), keeping the receipts it has verified,
// and so does one that fails whose tiles cannot be read; one that fails where
// the log's tiles prove the extension is warned of, and the tiles stand for it.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addCommand, ADD_USAGE } from '../../src/cli/add.js';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { CairnClient } from '../../src/client/client.js';
import type { FetchLike } from '../../src/client/http.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { vector } from '../helpers/keys.js';
import { captureIo, editingFetch } from './client-io.js';
import { fakeLogEachTest, send } from './fake-log.js';

const enc = (s: string) => new TextEncoder().encode(s);
const t = fakeLogEachTest(600, 'cairn-add-consistency-');

/** Runs cairn add on JSON Lines `lines`, `batch` entries a request, receipts to a file; resolves to its status, stderr and receipt lines. */
async function add(lines: string[], batch: number) {
  const receipts = join(t.dir, `receipts-${Math.random().toString(36).slice(2)}.jsonl`);
  const io = captureIo({ stdin: `${lines.join('\n')}\n` });
  const status = await addCommand(['--url', t.fake.url, '--vkey', vector.verifier_key, '--json-lines', '--batch-size', String(batch), '--receipts', receipts], io);
  const written = (await readFile(receipts, 'utf8')).split('\n').filter((l) => l !== '');
  return { status, err: io.err(), written };
}

const consistencyRequests = () => t.fake.requests.filter((r) => r.startsWith('ct/v1/get-sth-consistency'));
const events = (n: number, tag = 'x') => Array.from({ length: n }, (_, i) => JSON.stringify({ tag, i }));

test('an honest log: one consistency proof per batch whose tree grew, none for a batch that left it as it was; the summary names the last checkpoint', async () => {
  const first = await add(events(5), 2);
  expect(first.status).toBe(0);
  expect(first.written).toHaveLength(5);
  expect(consistencyRequests()).toEqual(['ct/v1/get-sth-consistency?first=600&second=602', 'ct/v1/get-sth-consistency?first=602&second=604', 'ct/v1/get-sth-consistency?first=604&second=605']);
  const last = await t.fake.head();
  expect(first.err).toContain(`every receipt verified against ${last.origin} at tree size 605 (root ${encodeBase64(last.rootHash)})`);

  // The same entries again: every batch's checkpoint is the one fetched first, and nothing is asked.
  t.fake.requests.length = 0;
  const again = await add(events(5), 2);
  expect(again.status).toBe(0);
  expect(consistencyRequests()).toEqual([]);
  expect(t.fake.requests.filter((r) => r.startsWith('v1/batch'))).toHaveLength(3);
});

test('a batch answered from another tree (a signed size-1 tree of just the entry, after size 600) is exit 1, naming both sizes and roots', async () => {
  const shown = await t.fake.head();
  t.fake.hook = (path) => {
    // The log forgets its history just before it answers the batch.
    if (path === 'v1/batch') t.fake.entries = [];
    return false;
  };
  const r = await add(events(1), 1);
  const fork = await t.fake.head();
  expect(fork.treeSize).toBe(1);
  expect(r.status).toBe(1);
  expect(r.err).toContain('VERIFICATION FAILED (INCONSISTENT)');
  expect(r.err).toContain(`tree size 1 (root ${encodeBase64(fork.rootHash)})`);
  expect(r.err).toContain(`tree size 600 (root ${encodeBase64(shown.rootHash)})`);
  expect(r.err).not.toContain('every receipt verified');
  expect(r.err).toContain("(no receipts were written; the log's receipt for the 1 entry from <stdin>:1 on, under that checkpoint, was not written)");
  expect(r.written).toEqual([]);
});

test('a tree that shrinks between batches is exit 1, and the receipts of the batches before stay written', async () => {
  let batches = 0;
  t.fake.hook = (path) => {
    if (path === 'v1/batch' && ++batches === 2) t.fake.entries = t.fake.entries.slice(0, 500);
    return false;
  };
  const r = await add(events(4), 2);
  expect(r.status).toBe(1);
  expect(r.err).toMatch(/checkpoint of tree size 502 \(root \S+\) for this batch does not extend its checkpoint of tree size 602 \(root \S+\) verified before: the tree shrank/);
  expect(r.err).toContain("(the 2 entries before <stdin>:3 were logged and their receipts written; the log's receipts for the 2 entries from <stdin>:3 on, under that checkpoint, were not written)\n");
  expect(r.written).toHaveLength(2);
});

test('a second root for the same size (a batch of entries already logged, after the history was rewritten) is exit 1, with no request for a proof', async () => {
  const lines = [JSON.stringify({ a: 1 }), JSON.stringify({ a: 2 }), JSON.stringify({ a: 1 })];
  let batches = 0;
  t.fake.hook = (path) => {
    if (path === 'v1/batch' && ++batches === 2) t.fake.entries[0] = enc('rewritten');
    return false;
  };
  const r = await add(lines, 2);
  expect(r.status).toBe(1);
  expect(r.err).toMatch(/VERIFICATION FAILED \(INCONSISTENT\): the log's checkpoint of tree size 602 \(root (\S+)\) for this batch does not extend its checkpoint of tree size 602 \(root (?!\1)\S+\) verified before: two roots for tree size 602/);
  expect(r.written).toHaveLength(2);
  expect(consistencyRequests()).toEqual(['ct/v1/get-sth-consistency?first=600&second=602']);
});

test("a consistency proof that does not verify, from a log whose tiles cannot be read to check it again (this one serves none), proves nothing either way: exit 2, that batch's receipts written", async () => {
  t.fake.hook = (path, _req, res) => {
    if (!path.startsWith('ct/v1/get-sth-consistency')) return false;
    send(res, 200, { consistency: [encodeBase64(new Uint8Array(32)), encodeBase64(new Uint8Array(32).fill(1))] });
    return true;
  };
  const bad = await add(events(3), 1);
  expect(bad.status).toBe(2);
  expect(bad.err).toMatch(
    /^cairn add: the log's checkpoint of tree size 601 \(root \S+\) for this batch could not be proved to extend its checkpoint of tree size 600 \(root \S+\) verified before: the log's consistency proof from tree size 600 \(root \S+\) to tree size 601 \(root \S+\) does not verify: .* \(its tiles, to check it again, could not be read: GET \S+\/tile\/\S+: 404 .*\) \(the 1 entry through <stdin>:1 was logged and its receipt written, each verified against its batch's signed checkpoint; nothing after <stdin>:1 was sent\)\n$/,
  );
  expect(bad.err).not.toContain('VERIFICATION FAILED');
  expect(bad.written.map((l) => (JSON.parse(l) as { index: number }).index)).toEqual([600]);
  expect(t.fake.requests.filter((p) => p.startsWith('v1/batch'))).toHaveLength(1);
});

/** Answers the `nth` consistency request (from 1) and every one after it with `status`. */
const refuseConsistency = (nth: number, status: number) => {
  let seen = 0;
  t.fake.hook = (path, _req, res) => {
    if (!path.startsWith('ct/v1/get-sth-consistency') || ++seen < nth) return false;
    send(res, status, { error: 'injected', code: status === 500 ? 'INTERNAL' : 'BAD_REQUEST' });
    return true;
  };
};

test("a consistency proof the log will not give (500) is exit 2 after that batch's receipts, verified against its checkpoint, are written; nothing more is sent", async () => {
  refuseConsistency(1, 500);
  const r = await add(events(3), 1);
  expect(r.status).toBe(2);
  expect(r.err).toMatch(
    /^cairn add: the log's checkpoint of tree size 601 \(root \S+\) for this batch could not be proved to extend its checkpoint of tree size 600 \(root \S+\) verified before: GET \S+get-sth-consistency\S+: 500 INTERNAL: injected \(the 1 entry through <stdin>:1 was logged and its receipt written, each verified against its batch's signed checkpoint; nothing after <stdin>:1 was sent\)\n$/,
  );
  // The receipt of the one entry logged, under the log's checkpoint of size 601.
  expect(r.written).toHaveLength(1);
  const receipt = JSON.parse(r.written[0]!) as { index: number; checkpoint: string; duplicate: boolean };
  expect(receipt.index).toBe(600);
  expect(receipt.duplicate).toBe(false);
  expect(receipt.checkpoint.split('\n')[1]).toBe('601');
  expect(t.fake.requests.filter((p) => p.startsWith('v1/batch'))).toHaveLength(1);
  expect(t.fake.entries).toHaveLength(601);
});

test('a consistency proof refused for a later batch keeps every receipt up to that batch, and says how many', async () => {
  refuseConsistency(2, 400);
  const r = await add(events(5), 2);
  expect(r.status).toBe(2);
  expect(r.err).toMatch(/could not be proved to extend its checkpoint of tree size 602 .*400 BAD_REQUEST: injected \(the 4 entries through <stdin>:4 were logged and their receipts written, each verified against its batch's signed checkpoint; nothing after <stdin>:4 was sent\)\n$/);
  expect(r.written.map((l) => (JSON.parse(l) as { index: number }).index)).toEqual([600, 601, 602, 603]);
  expect(t.fake.requests.filter((p) => p.startsWith('v1/batch'))).toHaveLength(2);
});

test('a consistency proof request that times out stops cairn add (exit 2) with the --timeout hint, after that batch\'s receipts are written', async () => {
  const receipts = join(t.dir, 'receipts-timeout.jsonl');
  const timingOut: FetchLike = (url, init) =>
    url.includes('/ct/v1/get-sth-consistency') ? Promise.reject(new DOMException('The operation was aborted due to timeout', 'TimeoutError')) : fetch(url, init);
  const io = captureIo({ stdin: `${events(2).join('\n')}\n`, fetch: timingOut });
  const status = await addCommand(['--url', t.fake.url, '--vkey', vector.verifier_key, '--json-lines', '--batch-size', '1', '--timeout', '9', '--receipts', receipts], io);
  expect(status).toBe(2);
  expect(io.err()).toMatch(
    /^cairn add: the log's checkpoint of tree size 601 \(root \S+\) for this batch could not be proved to extend its checkpoint of tree size 600 \(root \S+\) verified before: GET \S+get-sth-consistency\S+: timed out after 9000 ms \(the 1 entry through <stdin>:1 was logged and its receipt written, each verified against its batch's signed checkpoint; nothing after <stdin>:1 was sent\); for a log slow to answer, give a --timeout of more than 9 s\n$/,
  );
  expect((await readFile(receipts, 'utf8')).split('\n').filter((l) => l !== '')).toHaveLength(1);
});

test('ADD_USAGE says that the consistency proof is a request charged to the token, once per batch whose tree grew', () => {
  expect(ADD_USAGE).toMatch(/one\s+more\s+request\s+per\s+batch\s+whose\s+tree\s+grew,\s+charged\s+to\s+CAIRN_TOKEN's\s+rate\s+limit/);
  expect(ADD_USAGE).toMatch(/--batch-size 1 that is twice\s+the\s+requests/);
  expect(ADD_USAGE).toMatch(/stops cairn add \(exit 2\) after that\s+batch's receipts,\s+each\s+verified\s+against\s+its\s+signed\s+checkpoint,\s+are\s+written/);
});

test('ADD_USAGE says that tiles proving the extension stand for a failed proof, with a warning even under --quiet', () => {
  expect(ADD_USAGE).toMatch(/tiles that prove it extends\s+\(the proof was\s+another pair's, as from a cache that ignores the query\)\s+stand\s+for the proof/);
  expect(ADD_USAGE).toMatch(/cairn add carries on, warns once\s+on\s+standard\s+error \(also with --quiet\)/);
  expect(ADD_USAGE).toMatch(/"extended_by_tiles" with\s+--json/);
  expect(ADD_USAGE).not.toMatch(/treated as a\s+proof the log does not give/);
});

test('ADD_USAGE says that the tile requests of a proof from tiles are charged too, and that tiles that cannot be read stop cairn add as a proof not given does', () => {
  expect(ADD_USAGE).toMatch(/Where tiles stand for a\s+failed proof, the tile requests that proof takes are charged too/);
  expect(ADD_USAGE).toMatch(/or a failed one whose tiles cannot be read\s+\(the\s+same\), proves nothing either way: it stops cairn add \(exit 2\)/);
  expect(ADD_USAGE).not.toMatch(/or that cannot\s+be read, are exit 1/);
});

test('ADD_USAGE says that each batch\'s checkpoint must extend the ones before', () => {
  expect(ADD_USAGE).toMatch(/consistency proof/);
  expect(ADD_USAGE).toMatch(/smaller tree, or of the\s+same size with another root/);
});

describe('a consistency proof from the log that fails is checked again from its tiles', () => {
  let dir: string;
  let keyFile: string;
  let vkey: string;
  const servers: RunningServer[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-add-tiles-'));
    const first = await startServer({ data: join(dir, 'genuine'), host: '127.0.0.1', port: 0, origin: 'add-tiles.test/log' });
    keyFile = join(dir, 'genuine', 'log.key');
    vkey = first.verifierKey;
    await first.close();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A log under the one key, in `name`, holding 5 entries `prefix 0` ... `prefix 4`. */
  const logOf = async (name: string, prefix: string) => {
    const server = await startServer({ data: join(dir, name), key: keyFile, newLog: true, host: '127.0.0.1', port: 0 });
    servers.push(server);
    await new CairnClient({ baseUrl: server.url, verifierKey: vkey }).addBatch(Array.from({ length: 5 }, (_, i) => enc(`${prefix} ${i}`)));
    return server;
  };
  /** Runs cairn add on `n` JSON events (default one) against `url` through `fetch`, with `args`, receipts to a file. */
  const addThrough = async (url: string, fetch: FetchLike, n = 1, args: string[] = []) => {
    const receipts = join(dir, `receipts-${Math.random().toString(36).slice(2)}.jsonl`);
    const io = captureIo({ stdin: Array.from({ length: n }, () => `${JSON.stringify({ tiles: Math.random() })}\n`).join(''), fetch });
    const status = await addCommand(['--url', url, '--vkey', vkey, '--json-lines', '--receipts', receipts, ...args], io);
    const written = (await readFile(receipts, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
    return { status, err: io.err(), written };
  };
  // The log's proof changed in transit, as a cache answering another pair's proof would serve one that fails.
  const changedProof = editingFetch((url, b) =>
    url.includes('/ct/v1/get-sth-consistency') ? enc(new TextDecoder().decode(b).replace(/"consistency":\["(.)/, (_m, c: string) => `"consistency":["${c === 'A' ? 'B' : 'A'}`)) : undefined,
  );
  const tileRequests: string[] = [];
  const counting = (next: FetchLike): FetchLike => (url, init) => {
    if (url.includes('/tile/')) tileRequests.push(url);
    return next(url, init);
  };

  test("tiles that prove the tree extends stand for the proof: cairn add carries on to exit 0, warning once that the log's proof failed, and the summary counts those batches", async () => {
    const log = await logOf('honest', 'honest');
    tileRequests.length = 0;
    const r = await addThrough(log.url, counting(changedProof), 3, ['--batch-size', '1']);
    expect(r.status).toBe(0);
    expect(r.written).toHaveLength(3);
    expect(tileRequests.length).toBeGreaterThan(0);
    const lines = r.err.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^cairn add: warning: the log's consistency proof for a batch's checkpoint of tree size 6 \(root \S+\) did not verify \(the log's consistency proof from tree size 5 .* does not verify: .*\), but its tiles, authenticated against that checkpoint, proved that it extends its checkpoint of tree size 5 \(root \S+\) verified before: .* no fork; carrying on, with the tiles standing for any proof of the log's that fails \(said once\)$/,
    );
    expect(lines[1]).toMatch(/^logged 3 entries \(3 new, 0 already in the log before this run\) in 3 requests; every receipt verified against add-tiles\.test\/log at tree size 8 \(root \S+\), each batch's checkpoint proved to extend the one before \(3 by the log's tiles, its consistency proof having failed\); receipts in /);
    expect(r.err).not.toContain('VERIFICATION FAILED');

    // With --quiet the warning is still shown; with --json the summary counts those batches.
    const quiet = await addThrough(log.url, changedProof, 2, ['--batch-size', '1', '--quiet']);
    expect(quiet.status).toBe(0);
    expect(quiet.err).toMatch(/^cairn add: warning: the log's consistency proof for a batch's checkpoint of tree size 9 .*\(said once\)\n$/);
    const json = await addThrough(log.url, changedProof, 2, ['--json']);
    expect(json.status).toBe(0);
    expect(JSON.parse(json.err.trim().split('\n').pop()!)).toMatchObject({ entries: 2, new: 2, tree_size: 12, extended_by_tiles: 1 });
  });

  test('an honest log: the summary counts no batch extended by tiles', async () => {
    const log = await logOf('plain', 'plain');
    const r = await addThrough(log.url, fetch, 1, ['--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.err.trim())).toMatchObject({ entries: 1, extended_by_tiles: 0 });
  });

  test('tiles that cannot be read prove nothing either way: exit 2 as for a proof not given, the receipt written and nothing more sent', async () => {
    const log = await logOf('unreadable', 'unreadable');
    const noTiles: FetchLike = (url, init) => (url.includes('/tile/') ? Promise.resolve(Response.json({ error: 'internal error', code: 'INTERNAL' }, { status: 500 })) : changedProof(url, init));
    const r = await addThrough(log.url, noTiles, 2, ['--batch-size', '1']);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(
      /^cairn add: the log's checkpoint of tree size 6 \(root \S+\) for this batch could not be proved to extend its checkpoint of tree size 5 \(root \S+\) verified before: the log's consistency proof .* does not verify: .* \(its tiles, to check it again, could not be read: GET \S+\/tile\/\S+: 500 INTERNAL: internal error\) \(the 1 entry through <stdin>:1 was logged and its receipt written, each verified against its batch's signed checkpoint; nothing after <stdin>:1 was sent\)\n$/,
    );
    expect(r.written).toHaveLength(1);
    expect((JSON.parse(r.written[0]!) as { checkpoint: string }).checkpoint.split('\n')[1]).toBe('6');
  });

  test('tiles whose request times out: exit 2 with the --timeout hint, the receipt written', async () => {
    const log = await logOf('slow-tiles', 'slow-tiles');
    const timingOut: FetchLike = (url, init) => (url.includes('/tile/') ? Promise.reject(new DOMException('The operation was aborted due to timeout', 'TimeoutError')) : changedProof(url, init));
    const r = await addThrough(log.url, timingOut, 1, ['--timeout', '9']);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(
      /^cairn add: the log's checkpoint of tree size 6 .* \(its tiles, to check it again, could not be read: GET \S+\/tile\/\S+: timed out after 9000 ms\) \(the 1 entry through <stdin>:1 was logged and its receipt written, each verified against its batch's signed checkpoint; nothing after <stdin>:1 was sent\); for a log slow to answer, give a --timeout of more than 9 s\n$/,
    );
    expect(r.written).toHaveLength(1);
  });

  test('tiles that do not match the checkpoint: exit 1 as the failed proof is, saying so (they were read)', async () => {
    const log = await logOf('mismatched', 'mismatched');
    // Every tile flipped in its first byte: the right length, but not what the signed root commits to.
    const flipped: FetchLike = async (url, init) => {
      const res = await changedProof(url, init);
      if (!url.includes('/tile/') || res.status !== 200) return res;
      const body = new Uint8Array(await res.arrayBuffer());
      body[0] = (body[0] ?? 0) ^ 1;
      return new Response(body, { status: 200, headers: { 'Content-Type': 'application/octet-stream' } });
    };
    const r = await addThrough(log.url, flipped);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/VERIFICATION FAILED \(INCONSISTENT\): .* could not be proved to extend .* \(its tiles, to check it again, did not match that checkpoint: /);
    expect(r.written).toEqual([]);
  });

  test('tiles that show the tree does not extend (the batch answered by another history under the key): exit 1, the receipt not written', async () => {
    const [genuine, forked] = [await logOf('shown', 'genuine'), await logOf('forked', 'forked')];
    // The first checkpoint from the genuine log, everything after it from the forked one.
    let first = true;
    const fork: FetchLike = (url, init) => {
      if (first && url.endsWith('/checkpoint')) {
        first = false;
        return fetch(url, init);
      }
      return fetch(url.replace(genuine.url, forked.url), init);
    };
    const r = await addThrough(genuine.url, fork);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/VERIFICATION FAILED \(INCONSISTENT\): the log's checkpoint of tree size 6 \(root \S+\) for this batch does not extend its checkpoint of tree size 5 \(root \S+\) verified before: the tree of size 6 .* does not extend the tree of size 5 .* \(proof from tiles\)/);
    expect(r.written).toEqual([]);
  });
});
