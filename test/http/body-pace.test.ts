// How long a request body may hold its share of the upload budget
// (src/http/read-body.ts, src/http/body-budget.ts): a body must keep coming
// at a minimum rate, arrive within a total time, and a compressed one holds
// only the bytes it sent until it is all there. readBody is served here on a
// bare node server, with spans of a fraction of a second instead of 30 s.
import { createHash, randomBytes } from 'node:crypto';
import { Agent, createServer, request as httpRequest, type ClientRequest, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants as zlibConstants, createGzip, gzipSync } from 'node:zlib';
import { BodyBudget } from '../../src/http/body-budget.js';
import { HTTP_STATUS } from '../../src/http/errors.js';
import { readBody, type ReadBodyOptions } from '../../src/http/read-body.js';
import { LogError } from '../../src/log/errors.js';

interface Answer {
  status: number;
  body: string;
  /** The server said it closes the connection. */
  closed: boolean;
}

let server: Server;
let port: number;
/** What the server reads the next bodies with; each test sets its own. */
let options: ReadBodyOptions;
/** Bodies read on `/keep`, whose answers are held until the test gives them: what the budget held once each was read. */
const kept: { res: ServerResponse; length: number; inUse: number }[] = [];

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  server = createServer((req, res) => {
    readBody(req, res, options).then(
      (body) => req.url === '/keep' ? kept.push({ res, length: body.length, inUse: options.budget.inUse }) : res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ length: body.length, sha256: sha256(body) })),
      (err: unknown) => {
        const error = err instanceof LogError ? err : new LogError('INTERNAL', String(err));
        res.writeHead(HTTP_STATUS[error.code], { 'Content-Type': 'application/json' }).end(JSON.stringify({ code: error.code, error: error.message }));
      },
    );
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  port = (server.address() as AddressInfo).port;
});
afterEach(() => {
  for (const { res } of kept.splice(0)) res.end();
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** Starts a POST with `headers`; the body is written by the caller through `req`. */
function open(headers: Record<string, string | number>, path = '/'): { req: ClientRequest; answer: Promise<Answer>; answered: () => boolean } {
  let done = false;
  // Keep-alive, so that a closed connection is the server's choice.
  const agent = new Agent({ keepAlive: true });
  let req!: ClientRequest;
  const answer = new Promise<Answer>((resolve, reject) => {
    req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        done = true;
        resolve({ status: res.statusCode ?? 0, body: text, closed: res.headers.connection === 'close' });
        agent.destroy();
      });
    });
    req.on('error', (err) => (done ? undefined : reject(err)));
    req.flushHeaders();
  });
  return { req, answer, answered: () => done };
}

/** Resolves once `check()` holds (polled), or rejects after a few seconds. */
/** Sends `body` 2,000 bytes every 50 ms (about 40 KB/s, far above the floor), then ends it. */
async function sendPaced(req: ClientRequest, body: Uint8Array): Promise<void> {
  for (let at = 0; at < body.length; at += 2000) {
    req.write(body.subarray(at, at + 2000));
    await sleep(50);
  }
  req.end();
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting until ${what}`);
}

const code = (a: Answer) => (JSON.parse(a.body) as { code: string }).code;
const message = (a: Answer) => (JSON.parse(a.body) as { error: string }).error;

describe('a body that comes slower than the floor is given up, and its share of the budget given back at once', () => {
  test('a gzip body kept open by empty deflate blocks: given up after the first span, holding only its compressed bytes meanwhile', async () => {
    const budget = new BodyBudget(1024 * 1024);
    options = { limit: 1024 * 1024, tooLarge: 'BODY_TOO_LARGE', budget, idleMs: 500, minRate: 1024, maxMs: 60_000 };
    const decoded = 900_000;
    const { req, answer, answered } = open({ 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Transfer-Encoding': 'chunked' });
    const gzip = createGzip({ level: 9 });
    let wire = 0;
    gzip.on('data', (d: Buffer) => {
      wire += d.length;
      req.write(d);
    });
    gzip.write(Buffer.alloc(decoded, 0x20));
    await new Promise<void>((r) => gzip.flush(zlibConstants.Z_SYNC_FLUSH, () => r()));
    expect(wire).toBeLessThan(4096); // what 900,000 decoded bytes cost on the wire
    await until(() => budget.inUse === wire, 'all compressed bytes sent so far have arrived');
    // Charged what it sent, not the 900,000 bytes it will decode to.
    expect(budget.inUse).toBeLessThan(4096);
    // Then an empty deflate block (5 bytes that decode to nothing) every 100 ms, for up to 3 s.
    for (let i = 0; i < 30 && !answered(); i++) {
      req.write(Buffer.from([0, 0, 0, 0xff, 0xff]));
      await sleep(100);
    }
    if (!answered()) gzip.end(); // a complete body, which the server would then accept
    const a = await answer;
    expect([a.status, code(a)]).toEqual([408, 'REQUEST_TIMEOUT']);
    expect(message(a)).toBe('fewer than 512 bytes of the request body arrived in 0.5 s; it was given up');
    expect(a.closed).toBe(true);
    await until(() => budget.inUse === 0, 'its share is given back');
    gzip.destroy();
  });

  test('a plain body that sent a lot, then trickles a byte at a time: given up, and a request it shut out is then admitted', async () => {
    const budget = new BodyBudget(64 * 1024);
    options = { limit: 1024 * 1024, tooLarge: 'BODY_TOO_LARGE', budget, idleMs: 500, minRate: 1024, maxMs: 60_000 };
    const total = 60_000;
    const first = 40_000;
    const slow = open({ 'Content-Type': 'application/octet-stream', 'Content-Length': total });
    slow.req.write(Buffer.alloc(first, 1));
    await until(() => budget.inUse === first, 'the first 40,000 bytes have arrived');
    // Meanwhile a body that needs more than is left free is refused.
    const before = open({ 'Content-Type': 'application/octet-stream', 'Content-Length': 30_000 });
    before.req.end(Buffer.alloc(30_000, 2));
    expect([(await before.answer).status, code(await before.answer)]).toEqual([503, 'QUEUE_FULL']);
    // One byte every 100 ms (10 bytes/s, the floor is 1024); for at most 40 bytes, then all the rest at once.
    let sent = first;
    for (let i = 0; i < 40 && !slow.answered(); i++) {
      slow.req.write(Buffer.alloc(1, 3));
      sent += 1;
      await sleep(100);
    }
    if (!slow.answered()) slow.req.end(Buffer.alloc(total - sent, 4)); // a complete body, which the server would then accept
    const a = await slow.answer;
    expect([a.status, code(a)]).toEqual([408, 'REQUEST_TIMEOUT']);
    expect(a.closed).toBe(true);
    await until(() => budget.inUse === 0, 'its share is given back');
    const after = open({ 'Content-Type': 'application/octet-stream', 'Content-Length': 30_000 });
    after.req.end(Buffer.alloc(30_000, 2));
    const b = await after.answer;
    expect(b.status).toBe(200);
    expect(JSON.parse(b.body)).toEqual({ length: 30_000, sha256: sha256(Buffer.alloc(30_000, 2)) });
  });
});

describe('a body that keeps its pace is read in full', () => {
  test('plain, over many spans', async () => {
    const budget = new BodyBudget(1024 * 1024);
    options = { limit: 1024 * 1024, tooLarge: 'BODY_TOO_LARGE', budget, idleMs: 200, minRate: 1024, maxMs: 60_000 };
    const body = randomBytes(40_000);
    const { req, answer } = open({ 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
    // 1 s in all: five spans of 200 ms.
    await sendPaced(req, body);
    const a = await answer;
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toEqual({ length: body.length, sha256: sha256(body) });
    expect(a.closed).toBe(false);
    expect(budget.inUse).toBe(0);
  });

  test('compressed, over many spans: its compressed bytes are its progress', async () => {
    const budget = new BodyBudget(1024 * 1024);
    options = { limit: 1024 * 1024, tooLarge: 'BODY_TOO_LARGE', budget, idleMs: 200, minRate: 1024, maxMs: 60_000 };
    const decoded = Buffer.from(randomBytes(30_000).toString('base64'));
    const body = gzipSync(decoded);
    const { req, answer } = open({ 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip', 'Content-Length': body.length });
    await sendPaced(req, body);
    const a = await answer;
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toEqual({ length: decoded.length, sha256: sha256(decoded) });
  });
});

test('a body that keeps its pace but takes longer than the total limit is given up, and its share given back', async () => {
  const budget = new BodyBudget(1024 * 1024);
  options = { limit: 1024 * 1024, tooLarge: 'BODY_TOO_LARGE', budget, idleMs: 200, minRate: 1024, maxMs: 800 };
  const total = 400_000;
  const { req, answer, answered } = open({ 'Content-Type': 'application/octet-stream', 'Content-Length': total });
  // 2,000 bytes every 50 ms, well above the floor; for at most 5 s, then all the rest at once.
  let sent = 0;
  for (let i = 0; i < 100 && !answered(); i++) {
    req.write(Buffer.alloc(2000, 5));
    sent += 2000;
    await sleep(50);
  }
  if (!answered()) req.end(Buffer.alloc(total - sent, 6)); // a complete body, which the server would then accept
  const a = await answer;
  expect([a.status, code(a)]).toEqual([408, 'REQUEST_TIMEOUT']);
  expect(message(a)).toBe('the request body took more than 0.8 s to arrive; it was given up');
  expect(a.closed).toBe(true);
  await until(() => budget.inUse === 0, 'its share is given back');
});

describe('a compressed body is judged decoded once it is all there', () => {
  test('its decoded bytes are charged: 503 if they do not fit beside others, 413 past the whole budget or if they and its compressed bytes never could', async () => {
    const budget = new BodyBudget(100 * 1024);
    options = { limit: 1024 * 1024, tooLarge: 'BODY_TOO_LARGE', budget, idleMs: 5000, minRate: 1024, maxMs: 60_000 };
    const other = budget.hold();
    expect(other.tryAdd(50 * 1024)).toBe(true);
    const busy = open({ 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' });
    busy.req.end(gzipSync(Buffer.alloc(60 * 1024, 7)));
    const a = await busy.answer;
    expect([a.status, code(a)]).toEqual([503, 'QUEUE_FULL']);
    expect(budget.inUse).toBe(50 * 1024);
    other.release();
    const large = open({ 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' });
    large.req.end(gzipSync(Buffer.alloc(100 * 1024 + 1, 7)));
    const b = await large.answer;
    expect([b.status, code(b)]).toEqual([413, 'BODY_TOO_LARGE']);
    // Decoding to exactly the budget, beside its compressed bytes, which the decoder holds until it has read them.
    const exact = open({ 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' });
    exact.req.end(gzipSync(Buffer.alloc(100 * 1024, 7)));
    const c = await exact.answer;
    expect([c.status, code(c)]).toEqual([413, 'BODY_TOO_LARGE']);
    expect(message(c)).toBe(
      `the request body needs more than ${100 * 1024} bytes while it is decoded (what it decoded to so far, and its gzip bytes not yet decoded); this server holds at most ${100 * 1024} bytes of request bodies at once`,
    );
    const fits = open({ 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' });
    fits.req.end(gzipSync(Buffer.alloc(99 * 1024, 7)));
    expect((await fits.answer).status).toBe(200);
    await until(() => budget.inUse === 0, 'every share is given back');
  });

  test('while it decodes, it is charged its decoded bytes and the compressed ones not yet decoded', async () => {
    const budget = new BodyBudget(1024 * 1024);
    options = { limit: 1024 * 1024, tooLarge: 'BODY_TOO_LARGE', budget, idleMs: 5000, minRate: 1024, maxMs: 60_000 };
    const decoded = Buffer.alloc(500_000, 7);
    const wire = gzipSync(decoded);
    const a = open({ 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip', 'Content-Length': wire.length });
    a.req.end(wire);
    expect((await a.answer).status).toBe(200);
    // Never less than what was held: all it decoded to, and the compressed bytes still in the decoder then.
    expect(budget.peak).toBeGreaterThan(decoded.length);
    expect(budget.peak).toBeLessThanOrEqual(decoded.length + wire.length);
  });

  test('each compressed chunk is given back once decoded: a body that does not compress fits if what it decodes to does', async () => {
    const budget = new BodyBudget(1024 * 1024);
    options = { limit: 1024 * 1024, tooLarge: 'BODY_TOO_LARGE', budget, idleMs: 5000, minRate: 1024, maxMs: 60_000 };
    const decoded = randomBytes(600_000);
    const wire = gzipSync(decoded);
    // Both at once would not fit.
    expect(decoded.length + wire.length).toBeGreaterThan(budget.limit);
    const a = open({ 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip', 'Content-Length': wire.length });
    a.req.end(wire);
    const answer = await a.answer;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ length: decoded.length, sha256: sha256(decoded) });
    expect(budget.peak).toBeLessThanOrEqual(budget.limit);
    await until(() => budget.inUse === 0, 'its share is given back');
  });
});

describe('a body gives its share back once it has been read, not once its answer is done', () => {
  test.each([
    ['plain', {}, (b: Buffer) => b],
    ['gzip', { 'Content-Encoding': 'gzip' }, (b: Buffer) => gzipSync(b)],
  ])('%s: read, its answer held (as behind answers a client never reads), another body as large is admitted', async (_name, coding, encode) => {
    const budget = new BodyBudget(64 * 1024);
    options = { limit: 1024 * 1024, tooLarge: 'BODY_TOO_LARGE', budget, idleMs: 5000, minRate: 1024, maxMs: 60_000 };
    const body = Buffer.alloc(60_000, 9);
    const wire = encode(body);
    const first = open({ 'Content-Type': 'application/octet-stream', 'Content-Length': wire.length, ...coding }, '/keep');
    first.req.end(wire);
    first.answer.catch(() => undefined); // awaited at the end, unless the test fails first
    await until(() => kept.length === 1, 'the first body is read');
    expect([kept[0]!.length, kept[0]!.inUse]).toEqual([body.length, 0]);
    expect(budget.peak).toBeGreaterThanOrEqual(body.length); // it was charged while it was read
    const second = open({ 'Content-Type': 'application/octet-stream', 'Content-Length': wire.length, ...coding });
    second.req.end(wire);
    const b = await second.answer;
    expect(b.status).toBe(200);
    expect(JSON.parse(b.body)).toEqual({ length: body.length, sha256: sha256(body) });
    expect(first.answered()).toBe(false);
    kept.splice(0)[0]!.res.end();
    expect((await first.answer).status).toBe(200);
  });
});

test('BodyHold.giveBack returns part of what a hold took, and no more than it holds; a released hold gives nothing back', () => {
  const b = new BodyBudget(100);
  const hold = b.hold();
  expect(hold.tryAdd(70)).toBe(true);
  hold.giveBack(30);
  expect([b.inUse, b.available]).toEqual([40, 60]);
  expect(() => hold.giveBack(41)).toThrow(RangeError);
  expect(() => hold.giveBack(-1)).toThrow(RangeError);
  expect(() => hold.giveBack(0.5)).toThrow(RangeError);
  hold.release();
  expect(b.inUse).toBe(0);
  hold.giveBack(10); // the response closed while the body was being decoded: nothing left to give back
  expect(b.inUse).toBe(0);
});
