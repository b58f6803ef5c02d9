// The fast routes (src/http/fast-routes.ts) answer exactly as the express
// routes do: the same request sent so that it misses the fast path (to an app
// of the same log built without it, or with a content type in capitals) gets
// the same status, headers and body. Access control, rate limits, errors and
// the body budget too.
import { once } from 'node:events';
import { IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { jest } from '@jest/globals';
import request from 'supertest';
import type { Express } from 'express';
import { AccessControl, hashToken } from '../../src/http/access.js';
import { createApp } from '../../src/http/app.js';
import { BodyBudget } from '../../src/http/body-budget.js';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { vector } from '../helpers/keys.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

const enc = (s: string) => new TextEncoder().encode(s);
const SUBMIT = 'submit-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';
const LIMITED = 'limited-token-0123456789abcdef';
let h: Harness;
let guarded: Harness;
let expressOnly: Express;

beforeAll(async () => {
  h = await openHarness();
  const entries = Array.from({ length: 300 }, (_, i) => encodeBase64(enc(`entry ${i}`)));
  expect((await request(h.app).post('/v1/batch').set('Content-Type', 'application/json').send(JSON.stringify({ entries }))).status).toBe(200);
  expressOnly = createApp({ log: h.log, verifierKey: vector.verifier_key, fastRoutes: false });
  const access = new AccessControl({
    tokens: [
      { name: 'submitter', role: 'submit', hash: hashToken(SUBMIT) },
      { name: 'reader', role: 'read', hash: hashToken(READER) },
      { name: 'limited', role: 'submit', hash: hashToken(LIMITED), rate: { limit: 2, periodMs: 3_600_000 } },
    ],
    publicReads: false,
  });
  guarded = await openHarness({}, { access, bodyBudget: new BodyBudget(1024 * 1024) });
});
afterAll(async () => {
  await h.close();
  await guarded.close();
});

/** Status, body and headers but the date: what must not depend on the path taken. */
function answer(res: request.Response): unknown {
  const headers = { ...(res.headers as Record<string, string>) };
  delete headers.date;
  return { status: res.status, text: res.text, headers };
}

/** The same GET through the fast path and through express alone (an app of the same log without the fast path). */
async function bothWays(path: string, query: string): Promise<[unknown, unknown]> {
  const fast = await request(h.app).get(`${path}?${query}`);
  const slow = await request(expressOnly).get(`${path}?${query}`);
  return [answer(fast), answer(slow)];
}

const byHash = (entry: string, treeSize: number) => `hash=${encodeURIComponent(encodeBase64(leafHash(enc(entry))))}&tree_size=${treeSize}`;

test('reads: the same answer both ways, for answers and for errors', async () => {
  const cases: [string, string][] = [
    ['/ct/v1/get-proof-by-hash', byHash('entry 7', 300)],
    ['/ct/v1/get-proof-by-hash', byHash('entry 299', 300)],
    ['/ct/v1/get-proof-by-hash', byHash('entry 299', 299)], // not in that tree: 404
    ['/ct/v1/get-proof-by-hash', byHash('no such entry', 300)],
    ['/ct/v1/get-proof-by-hash', byHash('entry 7', 301)], // beyond the tree: 400
    ['/ct/v1/get-proof-by-hash', 'hash=AAAA&tree_size=300'], // not 32 bytes
    ['/ct/v1/get-entry-and-proof', 'leaf_index=0&tree_size=300'],
    ['/ct/v1/get-entry-and-proof', 'leaf_index=0&tree_size=1'], // an empty audit path
    ['/ct/v1/get-entry-and-proof', 'leaf_index=299&tree_size=300'],
    ['/ct/v1/get-entry-and-proof', 'leaf_index=255&tree_size=256'],
    ['/ct/v1/get-entry-and-proof', 'leaf_index=300&tree_size=300'],
    ['/ct/v1/get-entry-and-proof', 'leaf_index=01&tree_size=300'], // not canonical
    ['/ct/v1/get-sth-consistency', 'first=1&second=300'],
    ['/ct/v1/get-sth-consistency', 'first=300&second=300'],
    ['/ct/v1/get-sth-consistency', 'first=0&second=300'],
    ['/ct/v1/get-sth-consistency', 'first=5&second=4'],
  ];
  for (const [path, query] of cases) {
    const [fast, slow] = await bothWays(path, query);
    expect({ path, query, ...(fast as object) }).toEqual({ path, query, ...(slow as object) });
  }
  // And the happy ones really are answers.
  const ok = await request(h.app).get(`/ct/v1/get-proof-by-hash?${byHash('entry 7', 300)}`);
  expect(ok.status).toBe(200);
  expect(ok.body.leaf_index).toBe(7);
});

test('POST /v1/entries: a duplicate is answered byte for byte the same both ways', async () => {
  const first = await request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.from('twice'));
  expect(first.status).toBe(201);
  const fast = await request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.from('twice'));
  const slow = await request(h.app).post('/v1/entries').set('Content-Type', 'Application/Octet-Stream').send(Buffer.from('twice'));
  expect(fast.status).toBe(200);
  expect(answer(fast)).toEqual(answer(slow));
  const empty = await request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.alloc(0));
  expect(empty.status).toBe(400);
  expect(empty.body.code).toBe('EMPTY_ENTRY');
  const large = await request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.alloc(65536, 1));
  expect(large.status).toBe(413);
});

test('with access control: writes need a submit token, reads a token, and each request is charged once', async () => {
  const post = (token: string | undefined, body: string) => {
    let req = request(guarded.app).post('/v1/entries').set('Content-Type', 'application/octet-stream');
    if (token !== undefined) req = req.set('Authorization', `Bearer ${token}`);
    return req.send(Buffer.from(body));
  };
  expect((await post(undefined, 'a')).status).toBe(401);
  expect((await post(READER, 'a')).status).toBe(403);
  const written = await post(SUBMIT, 'a');
  expect(written.status).toBe(201);
  // Two units an hour: two writes pass, the third is refused.
  expect((await post(LIMITED, 'b')).status).toBe(201);
  expect((await post(LIMITED, 'c')).status).toBe(201);
  const refused = await post(LIMITED, 'd');
  expect(refused.status).toBe(429);
  expect(refused.headers['retry-after']).toBeDefined();

  const query = byHash('a', 1);
  expect((await request(guarded.app).get(`/ct/v1/get-proof-by-hash?${query}`)).status).toBe(401);
  const read = await request(guarded.app).get(`/ct/v1/get-proof-by-hash?${query}`).set('Authorization', `Bearer ${READER}`);
  expect(read.status).toBe(200);
  expect(read.body.leaf_index).toBe(0);
});

test('a read refused for its token costs no lookup, and a read the fast path hands to express is charged once', async () => {
  const access = new AccessControl({
    tokens: [{ name: 'twice', role: 'read', hash: hashToken(LIMITED), rate: { limit: 2, periodMs: 3_600_000 } }],
    publicReads: false,
  });
  const g = await openHarness({}, { access });
  try {
    await g.log.submit([enc('a')]);
    const findLeaf = jest.spyOn(g.log, 'findLeaf');
    const inclusionProof = jest.spyOn(g.log, 'inclusionProof');
    const consistencyProof = jest.spyOn(g.log, 'consistencyProof');
    const get = (path: string, token?: string) => {
      const req = request(g.app).get(path);
      return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
    };
    const reads = [`/ct/v1/get-proof-by-hash?${byHash('a', 1)}`, '/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=1', '/ct/v1/get-sth-consistency?first=1&second=1'];
    // Without a token, or with an unknown one: 401 before the log is asked
    // anything, so the answer's timing cannot tell what the log holds.
    for (const path of reads) {
      for (const token of [undefined, 'not-a-token']) expect([path, token, (await get(path, token)).status]).toEqual([path, token, 401]);
    }
    expect([findLeaf.mock.calls.length, inclusionProof.mock.calls.length, consistencyProof.mock.calls.length]).toEqual([0, 0, 0]);
    // A hash the log does not hold: the fast path hands the request to
    // express, which answers 404 without charging the token again.
    expect((await get(`/ct/v1/get-proof-by-hash?${byHash('not logged', 1)}`, LIMITED)).status).toBe(404);
    expect((await get(reads[0]!, LIMITED)).status).toBe(200);
    // Both units spent: refused before any lookup.
    const calls = findLeaf.mock.calls.length;
    expect((await get(reads[0]!, LIMITED)).status).toBe(429);
    expect(findLeaf.mock.calls.length).toBe(calls);
  } finally {
    await g.close();
  }
});

test('the fast path answers what it can and hands everything else to express, untouched', async () => {
  const { withFastRoutes } = await import('../../src/http/fast-routes.js');
  const { silentLogger } = await import('../../src/log/logger.js');
  const handed: string[] = [];
  // A stand-in for express: records what it is given and answers 599.
  const app = ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => app.handle(req, res)) as unknown as import('express').Express & {
    handle: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
  };
  app.handle = (req, res) => {
    handed.push(`${req.method} ${req.url}`);
    res.statusCode = 599;
    res.end();
  };
  withFastRoutes(app, {
    log: h.log,
    logger: silentLogger,
    budget: new BodyBudget(1024 * 1024),
    headers: { 'X-Test': 'yes' },
    cacheControl: 'private, max-age=7',
  });
  const fast = await request(app).get(`/ct/v1/get-proof-by-hash?${byHash('entry 3', 300)}`);
  expect(fast.status).toBe(200);
  expect(fast.headers['x-test']).toBe('yes');
  expect(fast.headers['cache-control']).toBe('private, max-age=7');
  expect((await request(app).get('/ct/v1/get-sth-consistency?first=2&second=300')).status).toBe(200);
  expect((await request(app).get('/ct/v1/get-entry-and-proof?leaf_index=3&tree_size=300')).status).toBe(200);
  const added = await request(app).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.from('fast one'));
  expect(added.status).toBe(201);
  expect(handed).toEqual([]);
  const slow = [
    request(app).get(`/ct/v1/get-proof-by-hash?${byHash('entry 3', 300)}&extra=1`),
    request(app).get('/ct/v1/get-sth-consistency?first=2&second=300&second=300'),
    request(app).get('/ct/v1/get-entry-and-proof?leaf_index=300&tree_size=300'),
    request(app).post('/v1/entries').set('Content-Type', 'application/json').send('{"a":1}'),
    request(app).post('/v1/entries?x=1').set('Content-Type', 'application/octet-stream').send(Buffer.from('x')),
    request(app).get('/checkpoint'),
  ];
  for (const res of await Promise.all(slow)) expect(res.status).toBe(599);
  expect(handed).toHaveLength(slow.length);
});

test('pipelined requests on one connection are answered in order, fast and slow routes mixed', async () => {
  // The fast routes write their answers in batches (response-batch.ts); the
  // answers of one connection must still leave in the order asked.
  const server = h.app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const paths = [
      `/ct/v1/get-entry-and-proof?leaf_index=3&tree_size=300`,
      `/ct/v1/get-sth-consistency?first=5&second=300`,
      `/ct/v1/get-sth`, // express
      `/ct/v1/get-proof-by-hash?${byHash('entry 9', 300)}`,
      `/ct/v1/get-entry-and-proof?leaf_index=300&tree_size=300`, // an error: express words it
      `/ct/v1/get-entry-and-proof?leaf_index=4&tree_size=300`,
    ];
    const expected: string[] = [];
    for (const path of paths) expected.push((await request(h.app).get(path)).text);
    const socket = connect(port, '127.0.0.1');
    const bodies: string[] = [];
    let rest = '';
    const all = new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        rest += chunk.toString('latin1');
        for (;;) {
          const headEnd = rest.indexOf('\r\n\r\n');
          if (headEnd < 0) break;
          const length = Number(/\r\ncontent-length: (\d+)/i.exec(rest.slice(0, headEnd))![1]);
          if (rest.length < headEnd + 4 + length) break;
          bodies.push(rest.slice(headEnd + 4, headEnd + 4 + length));
          rest = rest.slice(headEnd + 4 + length);
        }
        if (bodies.length === paths.length) resolve();
      });
    });
    socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`).join(''));
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([all, timeout]);
    socket.destroy();
    expect(bodies).toEqual(expected);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test("a write's Content-Types are counted in its raw headers, fast path and express alike: no per-request object of req.headersDistinct (half a microsecond a write)", async () => {
  const descriptor = Object.getOwnPropertyDescriptor(IncomingMessage.prototype, 'headersDistinct')!;
  let built = 0;
  const counting = (req: IncomingMessage, res: ServerResponse) => {
    Object.defineProperty(req, 'headersDistinct', {
      get() {
        built++;
        return descriptor.get!.call(req);
      },
    });
    h.app(req, res);
  };
  const fast = await request(counting).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.from('counted raw'));
  const json = await request(counting).post('/v1/entries').set('Content-Type', 'application/json').send('{"counted":"raw"}');
  const twice = await request(counting).post('/v1/entries').set('Content-Type', 'application/octet-stream').send(Buffer.from('counted raw'));
  expect([fast.status, json.status, twice.status]).toEqual([201, 201, 200]);
  expect(built).toBe(0);
});
