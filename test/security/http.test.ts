// Security headers on every response, and no route that changes or deletes
// history (issue 6 "Hostile input", "Access").
import request from 'supertest';
import { AccessControl, hashToken } from '../../src/http/access.js';
import { BodyBudget } from '../../src/http/body-budget.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

const ADMIN = 'admin-token-0123456789abcdef';
const LIMITED = 'limited-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';
let h: Harness;
let now = 5_000_000;

beforeAll(async () => {
  const access = new AccessControl({
    tokens: [
      { name: 'admin', role: 'admin', hash: hashToken(ADMIN) },
      { name: 'reader', role: 'read', hash: hashToken(READER) },
      { name: 'limited', role: 'submit', hash: hashToken(LIMITED), rate: { limit: 1, periodMs: 3_600_000 } },
    ],
    clock: () => now,
  });
  h = await openHarness({}, { access, bodyBudget: new BodyBudget(1024 * 1024) });
  const entries = Array.from({ length: 300 }, (_, i) => encodeBase64(new TextEncoder().encode(`seed ${i}`)));
  const res = await request(h.app).post('/v1/batch').set('Authorization', `Bearer ${ADMIN}`).set('Content-Type', 'application/json').send(JSON.stringify({ entries }));
  expect(res.status).toBe(200);
});
afterAll(async () => {
  await h.close();
});

const GET_PATHS = [
  '/checkpoint',
  '/ct/v1/get-sth',
  '/ct/v1/get-sth-consistency?first=1&second=300',
  `/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(encodeBase64(new Uint8Array(32)))}&tree_size=1`,
  '/ct/v1/get-entries?start=0&end=3',
  '/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=300',
  '/tile/0/000',
  '/tile/0/001.p/44',
  '/tile/1/000.p/1',
  '/tile/entries/000',
  '/tile/entries/001.p/44',
  '/v1/log',
  '/healthz',
  '/metrics',
];
const POST_PATHS = ['/v1/entries', '/v1/batch'];
const OTHER_PATHS = ['/', '/tile/0/x001/000', '/ct/v1/add-chain', '/v1', '/v1/entries/0', '/checkpoint/1', '/%2e%2e/etc/passwd', '/tile/../db'];

function expectSecurityHeaders(res: request.Response, what: string): void {
  const headers = res.headers as Record<string, string | undefined>;
  const missing = [
    ['x-content-type-options', 'nosniff'],
    ['x-frame-options', 'DENY'],
    ['content-security-policy', "default-src 'none'; frame-ancestors 'none'"],
    ['referrer-policy', 'no-referrer'],
  ].filter(([name, value]) => headers[name!] !== value);
  expect({ what, missing }).toEqual({ what, missing: [] });
  expect({ what, poweredBy: headers['x-powered-by'] }).toEqual({ what, poweredBy: undefined });
}

test('every response carries the security headers, whatever its status', async () => {
  const responses: [string, request.Response][] = [];
  const auth = `Bearer ${ADMIN}`;
  for (const path of [...GET_PATHS, ...OTHER_PATHS]) {
    responses.push([`GET ${path}`, await request(h.app).get(path).set('Authorization', auth)]);
    responses.push([`HEAD ${path}`, await request(h.app).head(path).set('Authorization', auth)]);
  }
  const post = (path: string, type: string, body: string | Buffer, token = ADMIN) =>
    request(h.app).post(path).set('Authorization', `Bearer ${token}`).set('Content-Type', type).send(body);
  responses.push(['201', await post('/v1/entries', 'application/octet-stream', Buffer.from('new one'))]);
  responses.push(['200 duplicate', await post('/v1/entries', 'application/octet-stream', Buffer.from('new one'))]);
  responses.push(['400', await post('/v1/entries', 'application/json', '{"a":1,"a":2}')]);
  responses.push(['401', await request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.from('x'))]);
  responses.push(['403', await post('/v1/entries', 'application/octet-stream', Buffer.from('x'), READER)]);
  responses.push(['413', await post('/v1/entries', 'application/octet-stream', Buffer.alloc(70_000, 1))]);
  responses.push(['415', await post('/v1/entries', 'text/plain', 'x')]);
  responses.push(['429 first', await post('/v1/entries', 'application/octet-stream', Buffer.from('limited 1'), LIMITED)]);
  responses.push(['429', await post('/v1/entries', 'application/octet-stream', Buffer.from('limited 2'), LIMITED)]);
  // 503 from the upload bound: a declared body bigger than what is left of the 1 MiB budget.
  const big = JSON.stringify({ entries: Array.from({ length: 20 }, () => encodeBase64(new Uint8Array(60_000))) });
  responses.push(['503 upload bound', await post('/v1/batch', 'application/json', big)]);
  h.store.failNextWrites(1);
  responses.push(['503 storage', await post('/v1/entries', 'application/octet-stream', Buffer.from('fails'))]);
  for (const method of ['put', 'patch', 'delete', 'options'] as const) {
    responses.push([`${method} 405`, await request(h.app)[method]('/v1/entries').set('Authorization', auth)]);
  }
  const statuses = new Set(responses.map(([, r]) => r.status));
  for (const s of [200, 201, 400, 401, 403, 404, 405, 413, 415, 429, 503]) expect({ s, seen: statuses.has(s) }).toEqual({ s, seen: true });
  for (const [what, res] of responses) expectSecurityHeaders(res, what);
  // Errors are never cached.
  for (const [what, res] of responses.filter(([, r]) => r.status >= 400)) expect({ what, cc: res.headers['cache-control'] }).toEqual({ what, cc: 'no-store' });
});

test('no method changes or deletes history: PUT, PATCH and DELETE on every path are 404 or 405, even for an admin', async () => {
  const before = (await request(h.app).get('/checkpoint')).text;
  const size = h.log.latest().treeSize;
  for (const path of [...GET_PATHS, ...POST_PATHS, ...OTHER_PATHS]) {
    for (const method of ['put', 'patch', 'delete'] as const) {
      for (const token of [undefined, ADMIN]) {
        let req = request(h.app)[method](path).set('Content-Type', 'application/octet-stream');
        if (token !== undefined) req = req.set('Authorization', `Bearer ${token}`);
        const res = await req.send(Buffer.from('overwrite'));
        expect({ method, path, refused: [404, 405].includes(res.status) }).toEqual({ method, path, refused: true });
        expect(res.body.code).toMatch(/^(NOT_FOUND|METHOD_NOT_ALLOWED)$/);
        if (res.status === 405) expect(res.headers.allow).not.toMatch(/PUT|PATCH|DELETE/);
      }
    }
  }
  // POST on read routes is 405 too.
  for (const path of GET_PATHS) {
    const res = await request(h.app).post(path.split('?')[0]!).set('Authorization', `Bearer ${ADMIN}`).set('Content-Type', 'application/octet-stream').send(Buffer.from('x'));
    expect({ path, refused: [404, 405].includes(res.status) }).toEqual({ path, refused: true });
  }
  expect(h.log.latest().treeSize).toBe(size);
  expect((await request(h.app).get('/checkpoint')).text).toBe(before);
});
