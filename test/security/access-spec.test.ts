// The answers of access control (401, 403, 429) on every read route, through
// the real app, each checked against spec/openapi.yaml: the spec must list
// them where the server gives them, with their headers.
import request from 'supertest';
import { AccessControl, hashToken, type TokenRule } from '../../src/http/access.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

const TOKENS = { reader: 'spec-reader-aaaaaaaaaaaaaaaaaa', admin: 'spec-admin-bbbbbbbbbbbbbbbbbbb', limited: 'spec-limited-ccccccccccccccccc' };
const rules: TokenRule[] = [
  { name: 'reader', role: 'read', hash: hashToken(TOKENS.reader) },
  { name: 'admin', role: 'admin', hash: hashToken(TOKENS.admin) },
  // One request an hour, and the clock below never moves: spent once, then 429 everywhere.
  { name: 'limited', role: 'admin', hash: hashToken(TOKENS.limited), rate: { limit: 1, periodMs: 3_600_000 } },
];

const hash = encodeURIComponent('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=');
/** A request of the right shape for every read operation the spec has. */
const READS = [
  '/ct/v1/get-sth',
  '/ct/v1/get-sth-consistency?first=1&second=1',
  `/ct/v1/get-proof-by-hash?hash=${hash}&tree_size=1`,
  '/ct/v1/get-entries?start=0&end=0',
  '/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=1',
  '/checkpoint',
  '/tile/0/000',
  '/tile/0/000.p/1',
  '/tile/entries/000',
  '/tile/entries/000.p/1',
  '/v1/log',
];

let h: Harness;
beforeAll(async () => {
  h = await openHarness({}, { access: new AccessControl({ tokens: rules, publicReads: false, clock: () => 0 }) });
});
afterAll(async () => {
  await h.close();
});

async function call(method: 'get' | 'delete' | 'put', path: string, token?: string): Promise<request.Response> {
  const req = request(h.app)[method](path);
  const res = await (token === undefined ? req : req.set('Authorization', `Bearer ${token}`));
  expectResponseMatchesSpec(method, path, { status: res.status, headers: res.headers, body: res.body, text: res.text });
  return res;
}
const get = (path: string, token?: string) => call('get', path, token);

/** Requests the spec has no operation for: unknown paths, and known paths with a method they lack. */
const UNDOCUMENTED = [
  ['get', '/no-such-path'],
  ['get', '/tile/entries/x'],
  ['delete', '/checkpoint'],
  ['put', '/ct/v1/get-sth'],
] as const;

test('on a private log every read but /healthz is 401 without a token, with WWW-Authenticate, as the spec says', async () => {
  for (const path of [...READS, '/metrics']) {
    const res = await get(path);
    expect([path, res.status, res.body.code]).toEqual([path, 401, 'UNAUTHORIZED']);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="cairn"');
  }
  expect((await get('/healthz')).status).toBe(200);
});

test('an unknown token is 401 on every route, /healthz too', async () => {
  for (const path of [...READS, '/metrics', '/healthz']) {
    const res = await get(path, 'not-a-known-token');
    expect([path, res.status]).toEqual([path, 401]);
  }
});

test('on a private log an unknown path is 401 without a token; any undocumented request is 401 with an unknown token, and 404 / 405 with a known one', async () => {
  for (const [method, path] of UNDOCUMENTED) {
    const unknownPath = method === 'get';
    const bare = await call(method, path);
    expect([method, path, bare.status]).toEqual([method, path, unknownPath ? 401 : 405]);
    const stranger = await call(method, path, 'not-a-known-token');
    expect([method, path, stranger.status, stranger.body.code]).toEqual([method, path, 401, 'UNAUTHORIZED']);
    expect(stranger.headers['www-authenticate']).toBe('Bearer realm="cairn"');
    const known = await call(method, path, TOKENS.reader);
    expect([method, path, known.status]).toEqual([method, path, unknownPath ? 404 : 405]);
  }
});

test('/metrics is 403 for a token that is not admin, and 400 for an unknown query parameter, like /healthz', async () => {
  const res = await get('/metrics', TOKENS.reader);
  expect([res.status, res.body.code]).toEqual([403, 'FORBIDDEN']);
  expect((await get('/metrics', TOKENS.admin)).status).toBe(200);
  expect((await get('/metrics?x=1', TOKENS.admin)).status).toBe(400);
  expect((await get('/healthz?x=1')).status).toBe(400);
});

test('a token past its rate limit is 429 with Retry-After on every read route, /metrics and /healthz', async () => {
  expect((await get('/checkpoint', TOKENS.limited)).status).toBe(200);
  for (const path of [...READS, '/metrics', '/healthz']) {
    const res = await get(path, TOKENS.limited);
    expect([path, res.status, res.body.code]).toEqual([path, 429, 'RATE_LIMITED']);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  }
});

test('a token past its rate limit is 429 on unknown paths and methods too', async () => {
  for (const [method, path] of UNDOCUMENTED) {
    const res = await call(method, path, TOKENS.limited);
    expect([method, path, res.status, res.body.code]).toEqual([method, path, 429, 'RATE_LIMITED']);
  }
});

test('on a private log tiles and bundles are cached privately only, so no shared cache hands them on', async () => {
  // 256 entries at least: tile 0/000 and bundle 000 are full.
  await h.log.submit(Array.from({ length: 256 }, (_, i) => new TextEncoder().encode(`private ${i}`)));
  for (const path of ['/tile/0/000', '/tile/entries/000']) {
    const res = await get(path, TOKENS.reader);
    expect([path, res.status, res.headers['cache-control']]).toEqual([path, 200, 'private, max-age=31536000, immutable']);
  }
  const res = await get('/tile/0/000.p/1', TOKENS.reader);
  expect([res.status, res.headers['cache-control']]).toEqual([200, 'private, max-age=60']);
});

test('a batch of more entries than its token may submit per period is 400 TOO_MANY_ENTRIES without Retry-After, costs only its request, and logs nothing; one past what is left now is 429, and passes after its Retry-After', async () => {
  const token = 'spec-batcher-ddddddddddddddddd';
  let now = 0;
  const tokens: TokenRule[] = [{ name: 'batcher', role: 'submit', hash: hashToken(token), rate: { limit: 10, periodMs: 60_000 } }];
  const w = await openHarness({}, { access: new AccessControl({ tokens, clock: () => now }) });
  try {
    const batch = async (n: number, tag: string) => {
      const entries = Array.from({ length: n }, (_, i) => Buffer.from(`${tag} ${i}`).toString('base64'));
      const res = await request(w.app).post('/v1/batch').set('Content-Type', 'application/json').set('Authorization', `Bearer ${token}`).send(JSON.stringify({ entries }));
      expectResponseMatchesSpec('POST', '/v1/batch', { status: res.status, headers: res.headers, body: res.body, text: res.text });
      return res;
    };
    // Refused for good, however long one waits: no Retry-After, and sending it again is refused the same way.
    for (const tag of ['a', 'b']) {
      const tooMany = await batch(20, tag);
      expect([tooMany.status, tooMany.body.code]).toEqual([400, 'TOO_MANY_ENTRIES']);
      expect(tooMany.body.error).toMatch(/20 entries are more than the token batcher may submit per period \(10\)/);
      expect(tooMany.headers['retry-after']).toBeUndefined();
    }
    expect(w.log.latest().treeSize).toBe(0);
    // Each refused request cost its one unit, none of its 20 entries: 8 are left.
    expect((await batch(8, 'c')).status).toBe(200);
    const spent = await batch(1, 'd');
    expect([spent.status, spent.body.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(spent.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // A batch of exactly the limit passes once the bucket is full again.
    now += 60_000;
    expect((await batch(10, 'e')).status).toBe(200);
    expect(w.log.latest().treeSize).toBe(18);
    // A batch past what is left now is 429, and sent again after its Retry-After it passes
    // (its first unit, taken on arrival, is taken again then: the wait counts it).
    now += 60_000;
    expect((await batch(6, 'f')).status).toBe(200);
    const wait = await batch(6, 'g');
    expect([wait.status, wait.body.code]).toEqual([429, 'RATE_LIMITED']);
    now += Number(wait.headers['retry-after']) * 1000;
    expect((await batch(6, 'g')).status).toBe(200);
    expect(w.log.latest().treeSize).toBe(30);
  } finally {
    await w.close();
  }
});
