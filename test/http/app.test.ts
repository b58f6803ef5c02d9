// Every route of CONTRACT §3 and its error paths, through supertest against
// createApp(...); every response is also checked against spec/openapi.yaml.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { Express } from 'express';
import { createApp, MAX_BATCH_BODY } from '../../src/http/app.js';
import { createMetrics } from '../../src/http/metrics.js';
import { leafHash } from '../../src/merkle/hash.js';
import { verifyConsistency, verifyInclusion } from '../../src/merkle/proof.js';
import { Log, MAX_BATCH_ENTRIES, MAX_ENTRY_SIZE } from '../../src/log/log.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { openCheckpoint } from '../../src/note/checkpoint.js';
import { verifyTreeHead } from '../../src/note/sth.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';
import { expectResponseMatchesSpec, findOperation, specErrorStatuses } from '../helpers/openapi.js';
import { HTTP_STATUS, toLogError } from '../../src/http/errors.js';
import { LogError } from '../../src/log/errors.js';

let dir: string;
let log: Log;
let app: Express;
const enc = (s: string) => new TextEncoder().encode(s);
const b64 = (s: string) => encodeBase64(enc(s));

type Res = request.Response;
/** Every response the tests look at goes through the spec first. */
function spec(method: string, path: string, res: Res): Res {
  expectResponseMatchesSpec(method, path, { status: res.status, headers: res.headers, body: res.body, text: res.text });
  return res;
}
const get = async (path: string) => spec('GET', path, await request(app).get(path));
const postRaw = async (path: string, type: string | undefined, body: string | Buffer) => {
  let req = request(app).post(path);
  if (type !== undefined) req = req.set('Content-Type', type);
  // Send bytes as they are: superagent would otherwise JSON-encode a Buffer sent as application/json.
  return spec('POST', path, await req.serialize((b: unknown) => b as string).send(body));
};
const postJson = (path: string, value: unknown) => postRaw(path, 'application/json', JSON.stringify(value));

function expectError(res: Res, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body.code).toBe(code);
  expect(typeof res.body.error).toBe('string');
}

function verifyReceipt(receipt: { index: number; leaf_hash: string; inclusion_proof: string[] }, checkpointNote: string, entry: Uint8Array) {
  const { checkpoint } = openCheckpoint(checkpointNote, testVerifier);
  expect(receipt.leaf_hash).toBe(encodeBase64(leafHash(entry)));
  const proof = receipt.inclusion_proof.map(decodeBase64);
  expect(verifyInclusion(leafHash(entry), receipt.index, checkpoint.treeSize, proof, checkpoint.rootHash)).toBe(true);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-http-'));
  const metrics = createMetrics({ processMetrics: false });
  log = await Log.open({ store: await LevelStore.open(dir), signer: testSigner, verifier: testVerifier, observer: metrics.observer });
  app = createApp({ log, verifierKey: vector.verifier_key, metrics });
});
afterAll(async () => {
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

describe('POST /v1/entries', () => {
  test('octet-stream: 201 with a verifiable receipt, then 200 duplicate', async () => {
    const res = await postRaw('/v1/entries', 'application/octet-stream', Buffer.from('first entry'));
    expect(res.status).toBe(201);
    expect(res.body.duplicate).toBe(false);
    verifyReceipt(res.body, res.body.checkpoint, enc('first entry'));
    const again = await postRaw('/v1/entries', 'application/octet-stream', Buffer.from('first entry'));
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ index: res.body.index, duplicate: true });
    verifyReceipt(again.body, again.body.checkpoint, enc('first entry'));
  });

  test('JSON is logged as its JCS bytes: key order and spacing do not matter, octet-stream of the same bytes is a duplicate', async () => {
    const a = await postRaw('/v1/entries', 'application/json', '{ "user": "ann", "action": "login", "n": 1.50 }');
    expect(a.status).toBe(201);
    const canonical = '{"action":"login","n":1.5,"user":"ann"}';
    verifyReceipt(a.body, a.body.checkpoint, enc(canonical));
    const b = await postRaw('/v1/entries', 'application/json; charset=utf-8', '{"n":15e-1,"user":"ann","action":"login"}');
    expect(b.status).toBe(200);
    expect(b.body.index).toBe(a.body.index);
    const c = await postRaw('/v1/entries', 'application/octet-stream', Buffer.from(canonical));
    expect(c.body).toMatchObject({ index: a.body.index, duplicate: true });
  });

  test.each([
    ['duplicate keys', '{"a":1,"a":2}'],
    ['escaped duplicate keys', '{"a":1,"\\u0061":2}'],
    ['a lone surrogate', '["\\ud800"]'],
    ['a number beyond double', '[1e400]'],
    ['an integer that would change', '[9007199254740993]'],
    ['a syntax error', '{"a":'],
    ['trailing garbage', '{} {}'],
  ])('JSON with %s is 400 INVALID_JSON', async (_what, body) => {
    expectError(await postRaw('/v1/entries', 'application/json', body), 400, 'INVALID_JSON');
  });

  test('invalid UTF-8 in JSON is 400 INVALID_JSON', async () => {
    expectError(await postRaw('/v1/entries', 'application/json', Buffer.from([0x22, 0xff, 0x22])), 400, 'INVALID_JSON');
  });

  test('more than one Content-Type is 400, whichever comes first (a proxy may have kept another than node does), on both write routes', async () => {
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      /** POSTs `body` with `types` as that many Content-Type header lines, as sent. */
      const post = (path: string, types: string[], body: string) =>
        new Promise<{ status: number; body: { error: string; code: string } }>((resolve, reject) => {
          const headers = ['Host', `127.0.0.1:${port}`, ...types.flatMap((t) => ['Content-Type', t]), 'Content-Length', String(Buffer.byteLength(body))];
          const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error: string; code: string } }));
          });
          req.on('error', reject);
          req.end(body);
        });
      const entry = '{"two":"content types"}';
      for (const types of [
        ['application/json', 'application/octet-stream'],
        ['application/octet-stream', 'application/json'], // the first is what the fast path takes
        ['application/json', 'application/json'],
      ]) {
        const res = await post('/v1/entries', types, entry);
        expect([types, res.status, res.body]).toEqual([
          types,
          400,
          { error: `2 Content-Type headers (${types.map((t) => JSON.stringify(t)).join(', ')}): send one, application/octet-stream or application/json`, code: 'MALFORMED_REQUEST' },
        ]);
      }
      const batch = await post('/v1/batch', ['application/json', 'text/plain'], JSON.stringify({ entries: [b64(entry)] }));
      expect([batch.status, batch.body.code]).toEqual([400, 'MALFORMED_REQUEST']);
      // Nothing of it was logged; one Content-Type is logged as ever.
      const one = await post('/v1/entries', ['application/octet-stream'], entry);
      expect(one.status).toBe(201);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('content types: missing, other, or another charset are 415', async () => {
    expectError(await postRaw('/v1/entries', undefined, Buffer.from('x')), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await postRaw('/v1/entries', 'text/plain', 'x'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await postRaw('/v1/entries', 'application/json; charset=latin1', '1'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('sizes: empty is 400, 65,535 bytes is fine, 65,536 is 413; JSON is limited on its canonical bytes and its body', async () => {
    expectError(await postRaw('/v1/entries', 'application/octet-stream', Buffer.alloc(0)), 400, 'EMPTY_ENTRY');
    const max = await postRaw('/v1/entries', 'application/octet-stream', Buffer.alloc(65535, 7));
    expect(max.status).toBe(201);
    expectError(await postRaw('/v1/entries', 'application/octet-stream', Buffer.alloc(65536, 7)), 413, 'ENTRY_TOO_LARGE');
    // 70,000 bytes of whitespace around a small value: fine, the canonical form is small.
    const spaced = await postRaw('/v1/entries', 'application/json', `${' '.repeat(70000)}{"spaced":true}`);
    expect(spaced.status).toBe(201);
    expectError(await postRaw('/v1/entries', 'application/json', JSON.stringify('x'.repeat(70000))), 413, 'ENTRY_TOO_LARGE');
    expectError(await postRaw('/v1/entries', 'application/json', `"${'y'.repeat(1024 * 1024)}"`), 413, 'BODY_TOO_LARGE');
  });
});

describe('POST /v1/batch', () => {
  test('answers receipts in input order against one checkpoint, dedup within the batch', async () => {
    const entries = ['batch 0', 'batch 1', 'batch 0', 'first entry'];
    const res = await postJson('/v1/batch', { entries: entries.map(b64) });
    expect(res.status).toBe(200);
    const r = res.body.receipts as { index: number; duplicate: boolean; leaf_hash: string; inclusion_proof: string[] }[];
    expect(r).toHaveLength(4);
    expect(r[2]!.index).toBe(r[0]!.index);
    expect(r.map((x) => x.duplicate)).toEqual([false, false, true, true]);
    r.forEach((receipt, i) => verifyReceipt(receipt, res.body.checkpoint, enc(entries[i]!)));
  });

  test('rejects malformed batches', async () => {
    expectError(await postJson('/v1/batch', { entries: [] }), 400, 'MALFORMED_REQUEST');
    expectError(await postJson('/v1/batch', { entries: 'x' }), 400, 'MALFORMED_REQUEST');
    expectError(await postJson('/v1/batch', ['x']), 400, 'MALFORMED_REQUEST');
    expectError(await postJson('/v1/batch', { entries: [b64('a')], extra: 1 }), 400, 'MALFORMED_REQUEST');
    expectError(await postJson('/v1/batch', { entries: [1] }), 400, 'MALFORMED_REQUEST');
    expectError(await postJson('/v1/batch', { entries: ['not base64!'] }), 400, 'INVALID_BASE64');
    expectError(await postJson('/v1/batch', { entries: ['YQ'] }), 400, 'INVALID_BASE64');
    expectError(await postJson('/v1/batch', { entries: [''] }), 400, 'EMPTY_ENTRY');
    expectError(await postJson('/v1/batch', { entries: [encodeBase64(new Uint8Array(65536))] }), 413, 'ENTRY_TOO_LARGE');
    expectError(await postJson('/v1/batch', { entries: Array.from({ length: 1001 }, (_, i) => b64(`e${i}`)) }), 400, 'TOO_MANY_ENTRIES');
    expectError(await postRaw('/v1/batch', 'application/json', '{"entries":["YQ=="],"entries":["Yg=="]}'), 400, 'INVALID_JSON');
    expectError(await postRaw('/v1/batch', 'application/octet-stream', Buffer.from('x')), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('a batch pretty-printed, with "/" escaped as "\\/", is taken like its compact form', async () => {
    const entries = [new Uint8Array([0xff, 0xff, 0xff, 0x3f]), enc('pretty one')]; // base64 "////Pw==", "cHJldHR5IG9uZQ=="
    const body = JSON.stringify({ entries: entries.map(encodeBase64) }, null, 2).replaceAll('/', '\\/');
    expect(body).toContain('\\/\\/');
    const res = await postRaw('/v1/batch', 'application/json', body);
    expect(res.status).toBe(200);
    (res.body.receipts as { index: number; duplicate: boolean; leaf_hash: string; inclusion_proof: string[] }[]).forEach((receipt, i) =>
      verifyReceipt(receipt, res.body.checkpoint, entries[i]!),
    );
  });

  test('the body limit fits 1000 largest entries as encoders commonly write them', () => {
    // Random bytes, so "/" is as frequent in their base64 as it usually is.
    const largest = Array.from({ length: MAX_BATCH_ENTRIES }, () => encodeBase64(randomBytes(MAX_ENTRY_SIZE)));
    const forms = [
      JSON.stringify({ entries: largest }),
      JSON.stringify({ entries: largest }, null, 2),
      JSON.stringify({ entries: largest }, null, '\t'),
      JSON.stringify({ batch: { entries: largest } }, null, 4).slice(0, -1), // indented one level deeper
      JSON.stringify({ entries: largest }, null, 2).replaceAll('/', '\\/'), // PHP's json_encode
    ];
    for (const form of forms) expect(form.length).toBeLessThanOrEqual(MAX_BATCH_BODY);
    // And not far past them: the limit bounds what one upload may hold.
    expect(MAX_BATCH_BODY).toBeLessThan(Math.max(...forms.map((f) => f.length)) * 1.15);
  });

  test('1000 entries are accepted in one batch', async () => {
    const res = await postJson('/v1/batch', { entries: Array.from({ length: 1000 }, (_, i) => b64(`bulk ${i}`)) });
    expect(res.status).toBe(200);
    expect(res.body.receipts).toHaveLength(1000);
  });
});

describe('RFC 6962 read API', () => {
  test('get-sth is signed and matches the checkpoint', async () => {
    const res = await get('/ct/v1/get-sth');
    expect(res.status).toBe(200);
    const sth = verifyTreeHead(res.body, testVerifier);
    expect(sth).not.toBeNull();
    const cp = await get('/checkpoint');
    const { checkpoint } = openCheckpoint(cp.text, testVerifier);
    expect(sth!.treeSize).toBe(checkpoint.treeSize);
    expect(encodeBase64(sth!.rootHash)).toBe(encodeBase64(checkpoint.rootHash));
  });

  test('get-sth-consistency proves growth and validates its parameters', async () => {
    const size = log.latest().treeSize;
    const first = 3;
    const res = await get(`/ct/v1/get-sth-consistency?first=${first}&second=${size}`);
    expect(res.status).toBe(200);
    const entries = (await get(`/ct/v1/get-entries?start=0&end=${first - 1}`)).body.entries as { leaf_input: string }[];
    const { CompactRange } = await import('../../src/merkle/range.js');
    const range = CompactRange.empty();
    for (const e of entries) range.append(leafHash(decodeBase64(e.leaf_input)));
    const proof = (res.body.consistency as string[]).map(decodeBase64);
    expect(verifyConsistency(first, size, range.root(), log.latest().rootHash, proof)).toBe(true);
    expect((await get(`/ct/v1/get-sth-consistency?first=${size}&second=${size}`)).body).toEqual({ consistency: [] });
    for (const q of [`first=0&second=${size}`, `first=5&second=4`, `first=1&second=${size + 1}`, 'first=1', 'second=2', 'first=01&second=2', 'first=1&second=2&first=1', 'first=1&second=2&x=1', 'first=-1&second=2', 'first=1e0&second=2']) {
      expect((await get(`/ct/v1/get-sth-consistency?${q}`)).status).toBe(400);
    }
  });

  test('get-proof-by-hash finds leaves, 404 for unknown ones, 400 for bad input', async () => {
    const size = log.latest().treeSize;
    const hash = leafHash(enc('batch 1'));
    const res = await get(`/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(encodeBase64(hash))}&tree_size=${size}`);
    expect(res.status).toBe(200);
    const proof = (res.body.audit_path as string[]).map(decodeBase64);
    expect(verifyInclusion(hash, res.body.leaf_index, size, proof, log.latest().rootHash)).toBe(true);
    expectError(await get(`/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(encodeBase64(leafHash(enc('never'))))}&tree_size=${size}`), 404, 'NOT_FOUND');
    // In the tree, but not in an earlier tree of size <= its index.
    expectError(await get(`/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(encodeBase64(hash))}&tree_size=${res.body.leaf_index}`), 404, 'NOT_FOUND');
    expectError(await get(`/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(encodeBase64(hash))}&tree_size=0`), 400, 'INVALID_PARAMETER');
    expectError(await get(`/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(encodeBase64(hash))}&tree_size=${size + 1}`), 400, 'TREE_SIZE_TOO_LARGE');
    expectError(await get(`/ct/v1/get-proof-by-hash?hash=abc&tree_size=1`), 400, 'INVALID_BASE64');
    expectError(await get(`/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(encodeBase64(new Uint8Array(31)))}&tree_size=1`), 400, 'INVALID_PARAMETER');
    expectError(await get(`/ct/v1/get-proof-by-hash?tree_size=1`), 400, 'INVALID_PARAMETER');
  });

  test('get-entries returns entries, clamps the end, and validates the range', async () => {
    const size = log.latest().treeSize;
    const res = await get('/ct/v1/get-entries?start=0&end=1');
    expect(res.body.entries).toEqual([
      { leaf_input: b64('first entry'), extra_data: '' },
      expect.objectContaining({ extra_data: '' }),
    ]);
    const clamped = await get(`/ct/v1/get-entries?start=${size - 2}&end=${size + 100}`);
    expect(clamped.body.entries).toHaveLength(2);
    const many = await get(`/ct/v1/get-entries?start=0&end=${size + 5000}`);
    expect(many.body.entries).toHaveLength(Math.min(1000, size));
    expectError(await get(`/ct/v1/get-entries?start=${size}&end=${size}`), 400, 'INVALID_PARAMETER');
    expectError(await get('/ct/v1/get-entries?start=2&end=1'), 400, 'INVALID_PARAMETER');
    expectError(await get('/ct/v1/get-entries?start=0'), 400, 'INVALID_PARAMETER');
  });

  test('get-entries clamps an end of any size (2^63−1 is a CT client\'s "to the end"); other numbers past 2^53−1 are 400 for their value', async () => {
    const size = log.latest().treeSize;
    const first = (await get(`/ct/v1/get-entries?start=0&end=${size - 1}`)).body.entries as unknown[];
    const last = (await get(`/ct/v1/get-entries?start=${size - 1}&end=${size - 1}`)).body.entries as unknown[];
    expect(last).toHaveLength(1);
    for (const end of ['9007199254740991', '9007199254740992', '9223372036854775807', '18446744073709551615', `1${'0'.repeat(300)}`]) {
      const res = await get(`/ct/v1/get-entries?start=0&end=${end}`);
      expect([end, res.status]).toEqual([end, 200]);
      expect(res.body.entries).toEqual(first);
      expect((await get(`/ct/v1/get-entries?start=${size - 1}&end=${end}`)).body.entries).toEqual(last);
    }
    const tooLarge = /must be at most 2\^53−1/;
    const past = await get(`/ct/v1/get-entries?start=${size}&end=9223372036854775807`);
    expectError(past, 400, 'INVALID_PARAMETER');
    expect(past.body.error).toMatch(/not below the tree size/);
    for (const end of ['09223372036854775807', '-1', '9223372036854775807e0']) {
      const res = await get(`/ct/v1/get-entries?start=0&end=${end}`);
      expectError(res, 400, 'INVALID_PARAMETER');
      expect(res.body.error).toMatch(/canonical decimal/);
    }
    const hash = encodeURIComponent(encodeBase64(leafHash(enc('first entry'))));
    for (const path of [
      '/ct/v1/get-entries?start=9223372036854775807&end=9223372036854775807',
      `/ct/v1/get-sth-consistency?first=1&second=9223372036854775807`,
      `/ct/v1/get-sth-consistency?first=18446744073709551615&second=${size}`,
      `/ct/v1/get-proof-by-hash?hash=${hash}&tree_size=9223372036854775807`,
      `/ct/v1/get-entry-and-proof?leaf_index=9223372036854775807&tree_size=${size}`,
      `/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=9007199254740992`,
    ]) {
      const res = await get(path);
      expectError(res, 400, 'INVALID_PARAMETER');
      expect([path, res.body.error]).toEqual([path, expect.stringMatching(tooLarge)]);
    }
  });

  test('get-entry-and-proof returns the entry with its audit path', async () => {
    const size = log.latest().treeSize;
    const res = await get(`/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=${size}`);
    expect(res.body.leaf_input).toBe(b64('first entry'));
    const proof = (res.body.audit_path as string[]).map(decodeBase64);
    expect(verifyInclusion(leafHash(enc('first entry')), 0, size, proof, log.latest().rootHash)).toBe(true);
    expectError(await get(`/ct/v1/get-entry-and-proof?leaf_index=${size}&tree_size=${size}`), 400, 'INVALID_PARAMETER');
    expectError(await get(`/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=0`), 400, 'INVALID_PARAMETER');
    expectError(await get(`/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=${size + 1}`), 400, 'TREE_SIZE_TOO_LARGE');
  });
});

describe('tiles and checkpoint', () => {
  test('/checkpoint is the signed note, text/plain, no-cache', async () => {
    const res = await get('/checkpoint');
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(openCheckpoint(res.text, testVerifier).checkpoint.treeSize).toBe(log.latest().treeSize);
  });

  test('full and partial hash tiles and entry bundles with their cache headers', async () => {
    const size = log.latest().treeSize;
    expect(size).toBeGreaterThan(512);
    const full = await request(app).get('/tile/0/000').buffer(true);
    spec('GET', '/tile/0/000', full);
    expect(full.status).toBe(200);
    expect(full.headers['content-type']).toBe('application/octet-stream');
    expect(full.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(full.body.length).toBe(256 * 32);
    const entries = (await get('/ct/v1/get-entries?start=0&end=255')).body.entries as { leaf_input: string }[];
    const expected = Buffer.concat(entries.map((e) => Buffer.from(leafHash(decodeBase64(e.leaf_input)))));
    expect(Buffer.compare(full.body, expected)).toBe(0);

    const partial = await request(app).get('/tile/0/000.p/5').buffer(true);
    expect(partial.headers['cache-control']).toBe('public, max-age=60');
    expect(Buffer.compare(partial.body, expected.subarray(0, 5 * 32))).toBe(0);

    const bundle = await request(app).get('/tile/entries/000').buffer(true);
    spec('GET', '/tile/entries/000', bundle);
    const parts: Buffer[] = [];
    for (const e of entries) {
      const bytes = Buffer.from(decodeBase64(e.leaf_input));
      parts.push(Buffer.from([Math.floor(bytes.length / 256), bytes.length % 256]), bytes);
    }
    expect(Buffer.compare(bundle.body, Buffer.concat(parts))).toBe(0);
    const bundle3 = await request(app).get('/tile/entries/000.p/3').buffer(true);
    expect(Buffer.compare(bundle3.body, Buffer.concat(parts.slice(0, 6)))).toBe(0);

    const level1 = await request(app).get('/tile/1/000.p/1').buffer(true);
    expect(level1.status).toBe(200);
    expect(level1.body.length).toBe(32);

    const lastN = Math.floor(size / 256);
    const lastW = size % 256;
    const name = String(lastN).padStart(3, '0');
    expect((await request(app).get(`/tile/0/${name}.p/${lastW}`)).status).toBe(200);
    expectError(await get(`/tile/0/${name}.p/${lastW + 1}`), 404, 'NOT_FOUND');
    expectError(await get(`/tile/0/${name}`), 404, 'NOT_FOUND');
    expectError(await get(`/tile/entries/${name}`), 404, 'NOT_FOUND');
  });

  test.each(['/tile/0/0', '/tile/0/000.p/0', '/tile/0/000.p/256', '/tile/0/x000/001', '/tile/0/000/', '/tile/a/000', '/tile/-1/000', '/tile/0/..%2F..%2Fetc%2Fpasswd', '/tile/../../etc/passwd', '/tile/0/000.p/05'])(
    'non-canonical tile path %s is 404',
    async (path) => {
      const res = await request(app).get(path);
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('NOT_FOUND');
      // Said for the client, without the name of the server's parser.
      expect(res.body.error).toMatch(/^not a canonical tile path: expected \/tile\/<L>\/<N>/);
      expect(res.body.error).not.toMatch(/parseTilePath|\b[a-z]+[A-Z][A-Za-z]*:/);
    },
  );
});

describe('other routes', () => {
  test('/v1/log, /healthz, /metrics', async () => {
    const info = await get('/v1/log');
    expect(info.body).toEqual({ origin: testSigner.name, verifier_key: vector.verifier_key, tree_size: log.latest().treeSize, version: expect.any(String) });
    const health = await get('/healthz');
    expect(health.body).toEqual({ status: 'ok', tree_size: log.latest().treeSize });
    const metrics = await get('/metrics');
    expect(metrics.text).toMatch(/cairn_entries_total\{result="new"\} [1-9]/);
    expect(metrics.text).toMatch(/^cairn_leaf_filter_ready 1$/m);
    expect(metrics.text).toMatch(/^cairn_leaf_filter_bytes [1-9][0-9]*$/m);
    expect(metrics.text).toMatch(/cairn_http_request_duration_seconds_bucket\{.*route="get-sth"/);
  });

  test('nothing can be changed or deleted: other methods are 405 with Allow', async () => {
    for (const [method, path] of [
      ['put', '/v1/entries'],
      ['delete', '/v1/entries'],
      ['patch', '/v1/batch'],
      ['delete', '/checkpoint'],
      ['put', '/tile/0/000'],
      ['post', '/ct/v1/get-sth'],
    ] as const) {
      const res = await request(app)[method](path);
      expectError(res, 405, 'METHOD_NOT_ALLOWED');
      expect(res.headers.allow).toBeDefined();
    }
  });

  test('OPTIONS answers the methods the spec gives each path, and what a CORS preflight needs, logging nothing', async () => {
    const size = log.latest().treeSize;
    const paths = ['/v1/entries', '/v1/batch', '/checkpoint', '/ct/v1/get-sth', '/ct/v1/get-sth-consistency', '/ct/v1/get-proof-by-hash', '/ct/v1/get-entries', '/ct/v1/get-entry-and-proof', '/tile/0/000', '/tile/1/000.p/1', '/tile/entries/000.p/3', '/v1/log', '/healthz', '/metrics'];
    for (const path of paths) {
      const methods = ['GET', 'POST'].filter((m) => findOperation(m, path) !== undefined);
      expect([path, methods.length]).toEqual([path, 1]);
      const allow = [...methods, ...(methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
      const res = await request(app)
        .options(path)
        .set('Origin', 'https://auditor.example')
        .set('Access-Control-Request-Method', methods[0]!)
        .set('Access-Control-Request-Headers', 'authorization, content-type');
      expect([path, res.status, res.headers.allow, res.headers['access-control-allow-methods']]).toEqual([path, 204, allow, allow]);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.headers['access-control-allow-headers']).toBe('Authorization, Content-Type, Content-Encoding');
      expect(Number(res.headers['access-control-max-age'])).toBeGreaterThan(0);
      expect(res.text).toBe('');
    }
    // A 405 names OPTIONS among what is allowed, and unknown paths stay 404.
    expect((await request(app).delete('/v1/entries')).headers.allow).toBe('POST, OPTIONS');
    expectError(await request(app).options('/v1/entries/0'), 404, 'NOT_FOUND');
    // Tile paths that are never served (not canonical) are 404 to OPTIONS as to GET; one past the tree may be served later.
    for (const path of ['/tile/foo', '/tile/0/000.p/0', '/tile/0/x000/001', '/tile/64/000']) {
      expectError(await request(app).get(path), 404, 'NOT_FOUND');
      expectError(await request(app).options(path), 404, 'NOT_FOUND');
    }
    expect((await request(app).options('/tile/0/x001/234')).status).toBe(204);
    expect(log.latest().treeSize).toBe(size);
  });

  test('the HTTP status table is the one the spec documents', () => {
    expect(HTTP_STATUS).toEqual(specErrorStatuses());
  });

  test('errors become LogErrors: their own kept, a 4xx express raised is MALFORMED_REQUEST, anything else INTERNAL', () => {
    const own = new LogError('NOT_FOUND', 'gone');
    expect(toLogError(own)).toBe(own);
    expect(toLogError(Object.assign(new Error('bad'), { status: 400 })).code).toBe('MALFORMED_REQUEST');
    expect(toLogError(Object.assign(new Error('worse'), { status: 500 })).code).toBe('INTERNAL');
    expect(toLogError(new TypeError('a bug')).code).toBe('INTERNAL');
    expect(toLogError('a string').code).toBe('INTERNAL');
  });

  test('unknown paths are 404 JSON; security headers are on every response', async () => {
    const res = await request(app).get('/etc/passwd');
    expectError(res, 404, 'NOT_FOUND');
    for (const r of [res, await request(app).get('/checkpoint')]) {
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(r.headers['content-security-policy']).toContain("default-src 'none'");
      expect(r.headers['x-powered-by']).toBeUndefined();
    }
    expectError(await get('/ct/v1/get-sth?x=1'), 400, 'INVALID_PARAMETER');
  });

  test('a route is its exact path: another letter case or a trailing slash is 404', async () => {
    const size = log.latest().treeSize;
    for (const path of ['/checkpoint/', '/CHECKPOINT', '/ct/v1/get-sth/', '/CT/V1/GET-STH', '/V1/LOG', '/HEALTHZ', '/healthz/', '/Metrics', '/v1/log//']) {
      const res = await request(app).get(path);
      expect([path, res.status, res.body.code]).toEqual([path, 404, 'NOT_FOUND']);
    }
    const consistency = await request(app).get(`/CT/V1/GET-STH-CONSISTENCY?first=1&second=${size}`);
    expectError(consistency, 404, 'NOT_FOUND');
    for (const path of ['/V1/ENTRIES', '/v1/entries/', '/v1/%65ntries']) {
      expectError(await request(app).post(path).set('Content-Type', 'application/octet-stream').send(Buffer.from(path)), 404, 'NOT_FOUND');
    }
    expectError(await request(app).post('/v1/batch/').set('Content-Type', 'application/json').send(JSON.stringify({ entries: [b64('slash')] })), 404, 'NOT_FOUND');
    expect(log.latest().treeSize).toBe(size);
  });

  test('a parameter repeated or unknown is 400 however many pairs come before it', async () => {
    const size = log.latest().treeSize;
    const filler = '&'.repeat(1000);
    for (const path of [
      `/ct/v1/get-sth-consistency?first=1&second=${size}${filler}&first=2`,
      `/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=${size}${filler}&tree_size=1`,
      `/ct/v1/get-entries?start=0&end=0${filler}&bogus=1`,
      `/ct/v1/get-sth?${filler}&x=1`,
      `/checkpoint?${filler}&x=1`,
    ]) {
      const res = await request(app).get(path);
      expect([path.replace(filler, '&…&'), res.status, res.body.code]).toEqual([path.replace(filler, '&…&'), 400, 'INVALID_PARAMETER']);
    }
    const hash = encodeURIComponent(encodeBase64(leafHash(enc('first entry'))));
    expectError(await request(app).get(`/ct/v1/get-proof-by-hash?hash=${hash}&tree_size=${size}${filler}&tree_size=1`), 400, 'INVALID_PARAMETER');
  });

  test('an unknown parameter is named in the error cut short: a name may be most of a 16 KiB URL', async () => {
    const name = 'n'.repeat(15_000);
    const res = await get(`/checkpoint?${name}=1`);
    expectError(res, 400, 'INVALID_PARAMETER');
    expect(res.body.error).toBe(`unknown query parameter "${'n'.repeat(40)}…"`);
    expect((await get('/checkpoint?bogus=1')).body.error).toBe('unknown query parameter "bogus"');
  });

  test('writes take no query parameters', async () => {
    const size = log.latest().treeSize;
    expectError(await request(app).post('/v1/entries?foo=1&foo=2').set('Content-Type', 'application/octet-stream').send(Buffer.from('query')), 400, 'INVALID_PARAMETER');
    expectError(await request(app).post('/v1/entries?x').set('Content-Type', 'application/octet-stream').send(Buffer.from('query')), 400, 'INVALID_PARAMETER');
    expectError(await request(app).post('/v1/batch?tree_size=abc').set('Content-Type', 'application/json').send(JSON.stringify({ entries: [b64('query')] })), 400, 'INVALID_PARAMETER');
    expect(log.latest().treeSize).toBe(size);
  });
});
