// Access tokens (issue 6 "Access"): the token file, hashing, roles, rate
// limits and private reads, through createApp(...).
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import request from 'supertest';
import { AccessConfigError, AccessControl, hashToken, isLoopbackHost, parseTokenFile, readTokenFile, type TokenRule } from '../../src/http/access.js';
import { BodyBudget } from '../../src/http/body-budget.js';
import { jsonLogger } from '../../src/log/logger.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const TOKENS = { reader: 'r3ad-t0ken-aaaaaaaaaaaaaaaa', submitter: 's-token+/bbbbbbbbbbbbbbbbbb==', admin: 'admin.token_cccccccccccccccc', slow: 'slow~token-dddddddddddddddd' };
const rules: TokenRule[] = [
  { name: 'reader', role: 'read', hash: hashToken(TOKENS.reader) },
  { name: 'submitter', role: 'submit', hash: hashToken(TOKENS.submitter) },
  { name: 'admin', role: 'admin', hash: hashToken(TOKENS.admin) },
  { name: 'slow', role: 'submit', hash: hashToken(TOKENS.slow), rate: { limit: 3, periodMs: 60_000 } },
];

describe('token file', () => {
  test('hashToken is SHA-256 of the UTF-8 bytes in hex (as printf %s "$TOKEN" | sha256sum)', () => {
    for (const t of Object.values(TOKENS)) expect(hashToken(t)).toBe(hex(sha256(new TextEncoder().encode(t))));
    expect(hashToken('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  test('parses names, roles, hashes and rate limits; comments and blank lines are ignored', () => {
    const text = [
      '# tokens',
      '',
      `ci-runner submit ${hashToken('a').toUpperCase()} 600/min   # CI`,
      `ops\tadmin\t${hashToken('b')}`,
      `mirror read ${hashToken('c')} 5/s`,
      `bulk submit ${hashToken('d')} 100000/h`,
    ].join('\n');
    expect(parseTokenFile(text)).toEqual([
      { name: 'ci-runner', role: 'submit', hash: hashToken('a'), rate: { limit: 600, periodMs: 60_000 } },
      { name: 'ops', role: 'admin', hash: hashToken('b') },
      { name: 'mirror', role: 'read', hash: hashToken('c'), rate: { limit: 5, periodMs: 1000 } },
      { name: 'bulk', role: 'submit', hash: hashToken('d'), rate: { limit: 100000, periodMs: 3_600_000 } },
    ]);
  });

  test.each([
    ['a raw token instead of its hash', 'ci submit my-secret-token-value'],
    ['an unknown role', `ci owner ${hashToken('a')}`],
    ['a bad name', `c i submit ${hashToken('a')}`],
    ['a short hash', `ci submit ${hashToken('a').slice(2)}`],
    ['a bad rate', `ci submit ${hashToken('a')} 10/day`],
    ['a zero rate', `ci submit ${hashToken('a')} 0/s`],
    ['too many fields', `ci submit ${hashToken('a')} 1/s extra`],
    ['a name twice', `ci submit ${hashToken('a')}\nci read ${hashToken('b')}`],
    ['a hash twice', `ci submit ${hashToken('a')}\nci2 read ${hashToken('a')}`],
  ])('refuses %s, naming the line but never echoing it', (_what, text) => {
    let error: unknown;
    try {
      parseTokenFile(text, 'tokens.txt');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AccessConfigError);
    expect((error as Error).message).toMatch(/tokens\.txt line [12]/);
    expect((error as Error).message).not.toMatch(/my-secret-token-value/);
  });

  test("a hash pasted with sha256sum's trailing '-' is refused, saying to drop it (with or without a rate limit after it)", () => {
    const advice = `drop the '-' after the hash: sha256sum prints it after the hash of its standard input, and only the 64 hex digits go here (printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)`;
    for (const line of [`ci submit ${hashToken('a')}  -`, `ci submit ${hashToken('a')}  -  600/min`, `ci submit ${hashToken('a')} 600/min -`]) {
      expect(() => parseTokenFile(`# tokens\n${line}\n`, 'tokens.txt')).toThrow(new AccessConfigError(`tokens.txt line 2: ${advice}`));
    }
  });

  test('a token file group or others may write, or one with no tokens, is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-tokens-'));
    try {
      const path = join(dir, 'tokens');
      await writeFile(path, `ci submit ${hashToken('a')}\n`);
      for (const mode of [0o666, 0o620, 0o602]) {
        await chmod(path, mode);
        await expect(readTokenFile(path)).rejects.toThrow(/writable by group or others.*chmod go-w/);
      }
      for (const mode of [0o644, 0o600, 0o400]) {
        await chmod(path, mode);
        expect(await readTokenFile(path)).toHaveLength(1);
      }
      await writeFile(join(dir, 'empty'), '# nothing\n', { mode: 0o600 });
      await expect(readTokenFile(join(dir, 'empty'))).rejects.toThrow(/no tokens/);
      await expect(readTokenFile(join(dir, 'missing'))).rejects.toThrow(AccessConfigError);
      // A folder given for the file is called a folder, and the file described.
      await expect(readTokenFile(dir)).rejects.toThrow(new AccessConfigError(`the token file ${dir} is a folder; give the file itself, a text file with one '<name> <role> <sha256 of the token> [<limit>/<s|min|h>]' a line`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('loopback addresses are told apart from public ones', () => {
    // IPv4-mapped also as WHATWG URL writes it: new URL('http://[::ffff:127.0.0.1]/').hostname is [::ffff:7f00:1].
    const mapped = ['::ffff:7f00:1', '[::ffff:7f00:1]', '::ffff:7fff:ffff', '0:0:0:0:0:ffff:7f00:0001', new URL('http://[::ffff:127.0.0.1]/').hostname];
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', ...mapped]) expect([host, isLoopbackHost(host)]).toEqual([host, true]);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.0.2.1', 'example.com', '::ffff:10.0.0.1', '::ffff:a00:1', '::ffff:8000:1', '::7f00:1', '1::1', '::11', '128.0.0.1']) {
      expect(isLoopbackHost(host)).toBe(false);
    }
  });
});

describe('roles and rate limits over HTTP', () => {
  let h: Harness;
  let now = 1_000_000;
  const lines: string[] = [];

  beforeAll(async () => {
    const access = new AccessControl({ tokens: rules, clock: () => now });
    h = await openHarness({}, { access, logger: jsonLogger((line) => lines.push(line)) });
  });
  afterAll(async () => {
    await h.close();
  });

  const entry = (body: string, token?: string) => {
    const req = request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream');
    return (token === undefined ? req : req.set('Authorization', `Bearer ${token}`)).send(Buffer.from(body));
  };
  const batch = (n: number, tag: string, token?: string) => {
    const req = request(h.app).post('/v1/batch').set('Content-Type', 'application/json');
    const entries = Array.from({ length: n }, (_, i) => encodeBase64(new TextEncoder().encode(`${tag} ${i}`)));
    return (token === undefined ? req : req.set('Authorization', `Bearer ${token}`)).send(JSON.stringify({ entries }));
  };
  const get = (path: string, token?: string) => {
    const req = request(h.app).get(path);
    return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
  };

  test('writes need a submit or admin token: 401 without or with an unknown one, 403 for a read token', async () => {
    for (const res of [await entry('w0'), await batch(1, 'w0')]) {
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('UNAUTHORIZED');
      expect(res.headers['www-authenticate']).toBe('Bearer realm="cairn"');
      expect(res.headers['access-control-expose-headers']).toBe('WWW-Authenticate'); // readable by a script in a browser
    }
    for (const header of ['Bearer not-a-known-token', 'Basic dXNlcjpwYXNz', 'Bearer', `Bearer ${TOKENS.submitter} x`, `Bearer\t${TOKENS.submitter}`]) {
      const res = await request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').set('Authorization', header).send(Buffer.from('w1'));
      expect(res.status).toBe(401);
      expect(res.text).not.toContain(TOKENS.submitter);
    }
    const read = await entry('w2', TOKENS.reader);
    expect(read.status).toBe(403);
    expect(read.body.code).toBe('FORBIDDEN');
    expect(h.log.latest().treeSize).toBe(0);
    expect((await entry('w3', TOKENS.submitter)).status).toBe(201);
    expect((await entry('w4', TOKENS.admin)).status).toBe(201);
    expect((await batch(3, 'w5', TOKENS.submitter)).status).toBe(200);
    expect(h.log.latest().treeSize).toBe(5);
    // The scheme's name is case-insensitive (RFC 9110 §11.1); the token is not.
    const lower = await request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').set('Authorization', `bEARER ${TOKENS.submitter}`).send(Buffer.from('w6'));
    expect(lower.status).toBe(201);
    const flipped = await request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').set('Authorization', `Bearer ${TOKENS.submitter.toUpperCase()}`).send(Buffer.from('w7'));
    expect(flipped.status).toBe(401);
    expect(h.log.latest().treeSize).toBe(6);
  });

  test('another letter case or a trailing slash neither reaches a route nor skips the token check', async () => {
    const size = h.log.latest().treeSize;
    const writes = ['/V1/ENTRIES', '/v1/Entries', '/v1/entries/', '/v1/entries//', '/V1/BATCH', '/v1/batch/'];
    for (const path of writes) {
      const body = path.toLowerCase().includes('batch') ? JSON.stringify({ entries: [encodeBase64(new TextEncoder().encode(path))] }) : path;
      const type = path.toLowerCase().includes('batch') ? 'application/json' : 'application/octet-stream';
      const anonymous = await request(h.app).post(path).set('Content-Type', type).send(Buffer.from(body));
      expect([path, anonymous.status, anonymous.body.code]).toEqual([path, 401, 'UNAUTHORIZED']);
      const reader = await request(h.app).post(path).set('Content-Type', type).set('Authorization', `Bearer ${TOKENS.reader}`).send(Buffer.from(body));
      expect([path, reader.status]).toEqual([path, 403]);
      const submitter = await request(h.app).post(path).set('Content-Type', type).set('Authorization', `Bearer ${TOKENS.submitter}`).send(Buffer.from(body));
      expect([path, submitter.status, submitter.body.code]).toEqual([path, 404, 'NOT_FOUND']);
    }
    for (const path of ['/METRICS', '/Metrics', '/metrics/']) {
      expect([path, (await get(path)).status]).toEqual([path, 401]);
      expect([path, (await get(path, TOKENS.submitter)).status]).toEqual([path, 403]);
      const admin = await get(path, TOKENS.admin);
      expect([path, admin.status, admin.body.code]).toEqual([path, 404, 'NOT_FOUND']);
    }
    expect(h.log.latest().treeSize).toBe(size);
  });

  test('reads stay public; /metrics needs an admin token; other methods still get 405', async () => {
    expect((await get('/checkpoint')).status).toBe(200);
    expect((await get('/ct/v1/get-sth')).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/metrics')).status).toBe(401);
    expect((await get('/metrics', TOKENS.submitter)).status).toBe(403);
    expect((await get('/metrics', TOKENS.admin)).status).toBe(200);
    expect((await get('/checkpoint', 'wrong-token')).status).toBe(401);
    for (const method of ['put', 'patch', 'delete'] as const) {
      expect((await request(h.app)[method]('/v1/entries').set('Authorization', `Bearer ${TOKENS.admin}`)).status).toBe(405);
      expect((await request(h.app)[method]('/v1/entries')).status).toBe(405);
    }
  });

  test('a rate-limited token gets 429 with Retry-After past its limit, refills with time, and counts batch entries', async () => {
    const size = h.log.latest().treeSize;
    expect((await entry('r0', TOKENS.slow)).status).toBe(201);
    expect((await entry('r1', TOKENS.slow)).status).toBe(201);
    expect((await entry('r2', TOKENS.slow)).status).toBe(201);
    const limited = await entry('r3', TOKENS.slow);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBe(20); // one of 3 per minute
    expect(h.log.latest().treeSize).toBe(size + 3);
    // Other tokens are not affected.
    expect((await entry('r4', TOKENS.submitter)).status).toBe(201);
    now += 20_000;
    expect((await entry('r5', TOKENS.slow)).status).toBe(201);
    expect((await entry('r6', TOKENS.slow)).status).toBe(429);
    now += 60_000; // full again: 3
    // More than the token may ever submit at once: refused for good, for its one request only.
    const tooBig = await batch(4, 'r7', TOKENS.slow);
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.code).toBe('TOO_MANY_ENTRIES');
    expect(tooBig.body.error).toMatch(/more than the token slow may submit per period \(3\)/);
    expect(tooBig.headers['retry-after']).toBeUndefined();
    now += 60_000;
    expect((await batch(2, 'r8', TOKENS.slow)).status).toBe(200); // 1 + 1 more
    const rest = await batch(2, 'r9', TOKENS.slow); // 1 left: the batch needs 2
    expect(rest.status).toBe(429);
    expect(h.log.latest().treeSize).toBe(size + 1 + 4 + 2);
  });

  test('a batch refused on arrival (no unit left, its body unread) is told to wait for one unit; sent again it is read and told the wait for all of it, never more', async () => {
    now += 120_000; // full: 3 a minute
    expect((await batch(3, 'w0', TOKENS.slow)).status).toBe(200);
    // Its size is not known before its body is read: the wait is for one unit.
    const arrival = await batch(2, 'w1', TOKENS.slow);
    expect([arrival.status, arrival.headers['retry-after']]).toEqual([429, '20']);
    now += 20_000;
    // Read now, 2 entries: it waits for both (the unit taken on arrival is taken again when it comes back).
    const read = await batch(2, 'w1', TOKENS.slow);
    expect([read.status, read.headers['retry-after']]).toEqual([429, '40']);
    now += 40_000;
    expect((await batch(2, 'w1', TOKENS.slow)).status).toBe(200);
  });

  test('request logs name the token but never contain it', () => {
    const all = lines.join('');
    expect(all).toMatch(/"token":"submitter"/);
    for (const t of Object.values(TOKENS)) expect(all).not.toContain(t);
    expect(all).not.toMatch(/Bearer/);
  });
});

describe('private log and public writes', () => {
  test('a private log needs a token of any role to read; /healthz stays open', async () => {
    const h = await openHarness({}, { access: new AccessControl({ tokens: rules, publicReads: false }) });
    try {
      for (const path of ['/checkpoint', '/ct/v1/get-sth', '/tile/0/000.p/1', '/v1/log', '/no/such/path']) {
        const res = await request(h.app).get(path);
        expect(res.status).toBe(401);
        expect(res.body.code).toBe('UNAUTHORIZED');
      }
      expect((await request(h.app).get('/healthz')).status).toBe(200);
      // A browser's preflight never carries the token: it must pass all the same.
      const preflight = await request(h.app).options('/checkpoint').set('Origin', 'https://monitor.example').set('Access-Control-Request-Method', 'GET').set('Access-Control-Request-Headers', 'authorization');
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-headers']).toMatch(/\bAuthorization\b/);
      for (const token of [TOKENS.reader, TOKENS.submitter, TOKENS.admin]) {
        expect((await request(h.app).get('/checkpoint').set('Authorization', `Bearer ${token}`)).status).toBe(200);
      }
      expect(() => new AccessControl({ tokens: [], publicReads: false })).toThrow(AccessConfigError);
    } finally {
      await h.close();
    }
  });

  test('with public writes, anyone may write, but a wrong token is still refused', async () => {
    const h = await openHarness({}, { access: new AccessControl({ tokens: rules, publicWrites: true }) });
    try {
      const post = () => request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream');
      expect((await post().send(Buffer.from('anon'))).status).toBe(201);
      expect((await post().set('Authorization', 'Bearer nope').send(Buffer.from('anon 2'))).status).toBe(401);
      expect((await post().set('Authorization', `Bearer ${TOKENS.reader}`).send(Buffer.from('anon 3'))).status).toBe(201);
    } finally {
      await h.close();
    }
  });
});

test('a request that the upload bound refuses is charged once to its token, not twice', async () => {
  // The budget is all but taken by an upload under way, so 'entry' does not fit now.
  const budget = new BodyBudget(100);
  expect(budget.hold().tryAdd(98)).toBe(true);
  const h = await openHarness({}, { access: new AccessControl({ tokens: rules }), bodyBudget: budget });
  try {
    const post = () =>
      request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').set('Authorization', `Bearer ${TOKENS.slow}`).send(Buffer.from('entry'));
    // The slow token may make 3 requests a minute: each refused upload costs one of them.
    const busy = await post();
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.headers['access-control-expose-headers']).toBe('Retry-After');
    expect((await post()).status).toBe(503);
    expect((await post()).status).toBe(503);
    expect((await post()).status).toBe(429);
  } finally {
    await h.close();
  }
});

test('a batch refused for good (larger than the whole queue) costs its token only the unit charged when it arrived', async () => {
  const h = await openHarness({ maxQueueEntries: 2 }, { access: new AccessControl({ tokens: rules }) });
  try {
    const batch = (n: number, tag: string) =>
      request(h.app)
        .post('/v1/batch')
        .set('Content-Type', 'application/json')
        .set('Authorization', `Bearer ${TOKENS.slow}`)
        .send(JSON.stringify({ entries: Array.from({ length: n }, (_, i) => encodeBase64(new TextEncoder().encode(`${tag} ${i}`))) }));
    // The slow token may submit 3 entries a minute: each request costs one on arrival only.
    for (const tag of ['a', 'b']) {
      const res = await batch(3, tag);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('TOO_MANY_ENTRIES');
    }
    expect((await batch(1, 'c')).status).toBe(200); // the third unit of the minute
    expect((await batch(1, 'd')).status).toBe(429);
  } finally {
    await h.close();
  }
});

test('OPTIONS needs no token, and one sent with it is neither checked nor charged', async () => {
  const h = await openHarness({}, { access: new AccessControl({ tokens: rules, publicReads: false }) });
  try {
    for (let i = 0; i < 5; i++) {
      const res = await request(h.app).options('/v1/entries').set('Authorization', `Bearer ${TOKENS.slow}`);
      expect(res.status).toBe(204);
    }
    expect((await request(h.app).options('/checkpoint').set('Authorization', 'Bearer not-a-token')).status).toBe(204);
    // The slow token still has its 3 units.
    for (const body of ['o1', 'o2', 'o3']) {
      const res = await request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').set('Authorization', `Bearer ${TOKENS.slow}`).send(Buffer.from(body));
      expect(res.status).toBe(201);
    }
  } finally {
    await h.close();
  }
});

test('a refused request is logged under the route it asked for, and under its token when the token was recognised', async () => {
  const lines: string[] = [];
  const once = 'once-a-minute-eeeeeeeeeeeeeeee';
  const tokens = [...rules, { name: 'once', role: 'read' as const, hash: hashToken(once), rate: { limit: 1, periodMs: 60_000 } }];
  const h = await openHarness({}, { access: new AccessControl({ tokens, publicReads: false, clock: () => 0 }), logger: jsonLogger((line) => lines.push(line)) });
  try {
    await request(h.app).post('/v1/entries').set('Content-Type', 'application/octet-stream').set('Authorization', `Bearer ${TOKENS.submitter}`).send(Buffer.from('e'));
    const hash = encodeURIComponent(encodeBase64(sha256(new Uint8Array([0, 0x65]))));
    const asked: [string, string, string | undefined, number][] = [
      ['GET', '/checkpoint', undefined, 401],
      ['GET', '/checkpoint', 'not-a-known-token', 401],
      ['GET', `/ct/v1/get-proof-by-hash?hash=${hash}&tree_size=1`, undefined, 401], // a fast route's path
      ['GET', '/metrics', TOKENS.reader, 403],
      ['POST', '/v1/entries', TOKENS.reader, 403],
      ['GET', '/ct/v1/get-sth', once, 200],
      ['GET', '/ct/v1/get-sth', once, 429],
      ['GET', '/no/such/path', undefined, 401],
      ['POST', '/checkpoint', 'not-a-known-token', 401],
    ];
    lines.length = 0;
    for (const [method, path, token, status] of asked) {
      const req = method === 'GET' ? request(h.app).get(path) : request(h.app).post(path).set('Content-Type', 'application/octet-stream').send(Buffer.from('x'));
      const res = await (token === undefined ? req : req.set('Authorization', `Bearer ${token}`));
      expect([method, path, res.status]).toEqual([method, path, status]);
    }
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    expect(logged.map(({ method, route, status, token }) => ({ method, route, status, token }))).toEqual([
      { method: 'GET', route: '/checkpoint', status: 401, token: undefined },
      { method: 'GET', route: '/checkpoint', status: 401, token: undefined },
      { method: 'GET', route: 'get-proof-by-hash', status: 401, token: undefined },
      { method: 'GET', route: '/metrics', status: 403, token: 'reader' },
      { method: 'POST', route: '/v1/entries', status: 403, token: 'reader' },
      { method: 'GET', route: 'get-sth', status: 200, token: 'once' },
      { method: 'GET', route: 'get-sth', status: 429, token: 'once' },
      { method: 'GET', route: 'not-found', status: 401, token: undefined },
      { method: 'POST', route: 'method-not-allowed', status: 401, token: undefined },
    ]);
    const all = lines.join('');
    for (const t of [...Object.values(TOKENS), once, 'not-a-known-token']) expect(all).not.toContain(t);
  } finally {
    await h.close();
  }
});
