// Request bodies (src/http/read-body.ts, src/http/body-budget.ts): content
// codings, limits judged on the declared length before a byte is read, and
// the budget charged with what has arrived.
import { once } from 'node:events';
import { Agent, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { MAX_BATCH_BODY } from '../../src/http/app.js';
import { BodyBudget } from '../../src/http/body-budget.js';
import { MAX_JSON_BODY } from '../../src/jcs/parse.js';
import { MAX_ENTRY_SIZE } from '../../src/log/log.js';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

interface Answer {
  status: number;
  body: string;
}

let h: Harness;
let server: Server;
let port: number;
const budget = new BodyBudget(4 * 1024 * 1024);

beforeAll(async () => {
  h = await openHarness({}, { bodyBudget: budget });
  server = h.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await h.close();
});

function post(path: string, headers: Record<string, string | number>, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: text });
        req.destroy();
      });
    });
    req.on('error', reject);
    // Without a body, only the headers go: the answer must not wait for the rest.
    if (body === undefined) req.flushHeaders();
    else req.end(body);
  });
}

const code = (a: Answer) => (JSON.parse(a.body) as { code: string }).code;

describe('a declared length over the route\'s limit is refused before a byte of the body is sent', () => {
  test.each([
    ['/v1/entries', 'application/octet-stream', MAX_ENTRY_SIZE + 1, 'ENTRY_TOO_LARGE'],
    ['/v1/entries', 'application/octet-stream', 1_000_000_000, 'ENTRY_TOO_LARGE'],
    ['/v1/entries', 'application/json', MAX_JSON_BODY + 1, 'BODY_TOO_LARGE'],
    ['/v1/batch', 'application/json', MAX_BATCH_BODY + 1, 'BODY_TOO_LARGE'],
  ])('%s %s, %d bytes: 413 %s', async (path, type, length, expected) => {
    const answer = await post(path, { 'Content-Type': type, 'Content-Length': length });
    expect(answer.status).toBe(413);
    expect(code(answer)).toBe(expected);
  });

  test('and the same limit holds for bytes that arrive without a declared length', async () => {
    const answer = await post('/v1/entries', { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' }, Buffer.alloc(MAX_ENTRY_SIZE + 1, 7));
    expect(answer.status).toBe(413);
    expect(code(answer)).toBe('ENTRY_TOO_LARGE');
  });
});

describe('a body past the whole upload budget is too large for this server, not "retry shortly"', () => {
  const over = budget.limit + 1; // 4 MiB + 1: within /v1/batch's limit
  test('declared: 413 before a byte is sent, naming the server\'s bound', async () => {
    expect(over).toBeLessThan(MAX_BATCH_BODY);
    const answer = await post('/v1/batch', { 'Content-Type': 'application/json', 'Content-Length': over });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({
      code: 'BODY_TOO_LARGE',
      error: `the request body declares ${over} bytes; this server holds at most ${budget.limit} bytes of request bodies at once`,
    });
  });

  test('undeclared: 413 once more than the budget has arrived', async () => {
    const answer = await post('/v1/batch', { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }, Buffer.alloc(over, 0x20));
    expect(answer.status).toBe(413);
    expect(code(answer)).toBe('BODY_TOO_LARGE');
  });

  test('a body that fits the budget but not what is free now is still 503 with Retry-After', async () => {
    const taken = budget.hold();
    try {
      expect(taken.tryAdd(budget.limit - 10)).toBe(true);
      const answer = await post('/v1/batch', { 'Content-Type': 'application/json', 'Content-Length': 11 });
      expect(answer.status).toBe(503);
      expect(code(answer)).toBe('QUEUE_FULL');
    } finally {
      taken.release();
    }
  });
});

describe('content codings', () => {
  test.each([
    ['gzip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
    ['GZip', gzipSync],
  ])('an entry sent as %s is logged as its decoded bytes', async (coding, encode) => {
    const entry = Buffer.from(`an entry sent as ${coding}: ${'x'.repeat(2000)}`);
    const answer = await post('/v1/entries', { 'Content-Type': 'application/octet-stream', 'Content-Encoding': coding }, encode(entry));
    expect(answer.status).toBe(201);
    const receipt = JSON.parse(answer.body) as { leaf_hash: string; index: number };
    expect(receipt.leaf_hash).toBe(encodeBase64(leafHash(new Uint8Array(entry))));
    expect(Buffer.from(await h.log.entry(receipt.index))).toEqual(entry);
  });

  test('a batch may come compressed too', async () => {
    const entries = ['one', 'two'].map((s) => encodeBase64(new TextEncoder().encode(`compressed batch ${s}`)));
    const answer = await post('/v1/batch', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, gzipSync(JSON.stringify({ entries })));
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as { receipts: unknown[] }).receipts).toHaveLength(2);
  });

  test('another coding is 415; a body that does not decode is 400; nothing is logged', async () => {
    const size = h.log.latest().treeSize;
    const compress = await post('/v1/entries', { 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'compress' }, Buffer.from('x'));
    expect([compress.status, code(compress)]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const twice = await post('/v1/entries', { 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip, gzip' }, gzipSync(gzipSync('x')));
    expect([twice.status, code(twice)]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const broken = await post('/v1/entries', { 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' }, Buffer.from('not gzip at all'));
    expect([broken.status, code(broken)]).toEqual([400, 'MALFORMED_REQUEST']);
    const truncated = gzipSync(Buffer.alloc(5000, 1)).subarray(0, 40);
    const cut = await post('/v1/batch', { 'Content-Type': 'application/json', 'Content-Encoding': 'deflate' }, truncated);
    expect([cut.status, code(cut)]).toEqual([400, 'MALFORMED_REQUEST']);
    expect(h.log.latest().treeSize).toBe(size);
  });

  test('a compressed batch holds only its compressed bytes while it arrives: it does not shut out other writers', async () => {
    // 4,000,000 bytes decoded, a few KB gzipped: with a 4 MiB budget, charging what it
    // decodes to while it arrives would leave no room for the 480,000-byte batch below.
    const entry = encodeBase64(new TextEncoder().encode('held compressed'));
    const json = JSON.stringify({ entries: [entry] });
    const decoded = Buffer.from(' '.repeat(4_000_000 - json.length) + json);
    const gz = gzipSync(decoded);
    const cut = gz.length - 8; // all but the gzip trailer
    let answer: Promise<Answer> | undefined;
    const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/batch', method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Content-Length': gz.length } }, (res) => {
      answer = new Promise((resolve) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
    });
    const answered = new Promise<void>((resolve) => req.on('response', () => resolve()));
    req.write(gz.subarray(0, cut));
    for (let i = 0; i < 500 && budget.inUse < cut; i++) await new Promise((r) => setTimeout(r, 10));
    expect(budget.inUse).toBe(cut);
    const other = Buffer.from(JSON.stringify({ entries: Array.from({ length: 6 }, (_, i) => encodeBase64(new Uint8Array(60_000).fill(i))) }));
    expect(other.length + decoded.length).toBeGreaterThan(budget.limit);
    const beside = await post('/v1/batch', { 'Content-Type': 'application/json', 'Content-Length': other.length }, other);
    expect(beside.status).toBe(200);
    req.end(gz.subarray(cut));
    await answered;
    const done = await answer!;
    expect(done.status).toBe(200);
    expect((JSON.parse(done.body) as { receipts: unknown[] }).receipts).toHaveLength(1);
  });

  test('every byte held is given back once the answers are done', async () => {
    for (let i = 0; i < 100 && budget.inUse > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(budget.inUse).toBe(0);
    expect(budget.peak).toBeGreaterThan(0);
  });
});

describe('transfer codings: node takes off only chunked, so any other is refused before the body is read', () => {
  /** Sends `head` and a chunked `body` on a connection of its own, and resolves with the first answer. */
  function chunked(head: string, body: Buffer): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(head);
        socket.write(Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]));
      });
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (text += d));
      socket.on('error', reject);
      socket.on('close', () => {
        const at = text.indexOf('\r\n\r\n');
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: text.slice(at + 4) });
      });
    });
  }
  const head = (path: string, type: string, transfer: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nTransfer-Encoding: ${transfer}\r\nConnection: close\r\n\r\n`;

  test.each([
    ['/v1/entries', 'application/octet-stream', 'gzip, chunked', (tag: string) => gzipSync(`te entry ${tag}`)],
    ['/v1/entries', 'application/octet-stream', 'deflate,chunked', (tag: string) => deflateSync(`te entry ${tag}`)],
    ['/v1/entries', 'application/octet-stream', 'identity, chunked', (tag: string) => Buffer.from(`te entry ${tag}`)],
    ['/v1/entries', 'application/json', 'gzip, chunked', (tag: string) => gzipSync(JSON.stringify({ te: tag }))],
    ['/v1/batch', 'application/json', 'gzip, chunked', (tag: string) => gzipSync(JSON.stringify({ entries: [encodeBase64(new TextEncoder().encode(`te entry ${tag}`))] }))],
  ])('%s (%s) sent with Transfer-Encoding: %s: 400 MALFORMED_REQUEST, nothing logged', async (path, type, transfer, body) => {
    const size = h.log.latest().treeSize;
    const answer = await chunked(head(path, type, transfer), body(`${path} ${type} ${transfer}`));
    expect([answer.status, code(answer)]).toEqual([400, 'MALFORMED_REQUEST']);
    expect((JSON.parse(answer.body) as { error: string }).error).toContain('Transfer-Encoding');
    expect(h.log.latest().treeSize).toBe(size);
  });

  test.each(['chunked', 'Chunked', ' CHUNKED '])('Transfer-Encoding: "%s" alone is read as before', async (transfer) => {
    const entry = Buffer.from(`chunked entry as "${transfer}" ${Date.now()}`);
    const answer = await chunked(head('/v1/entries', 'application/octet-stream', transfer), entry);
    expect(answer.status).toBe(201);
    expect(Buffer.from(await h.log.entry((JSON.parse(answer.body) as { index: number }).index))).toEqual(entry);
  });
});

describe('BodyBudget', () => {
  test('a hold takes bytes while they fit, and gives back all it took once', () => {
    const b = new BodyBudget(100);
    const first = b.hold();
    const second = b.hold();
    expect(first.tryAdd(60)).toBe(true);
    expect(second.tryAdd(41)).toBe(false);
    expect(second.tryAdd(40)).toBe(true);
    expect([b.inUse, b.available]).toEqual([100, 0]);
    expect(first.tryAdd(0)).toBe(true);
    expect(first.tryAdd(1)).toBe(false);
    first.release();
    first.release();
    expect([b.inUse, b.available, b.peak]).toEqual([40, 60, 100]);
    expect(first.tryAdd(1)).toBe(false); // a released hold takes nothing more
    second.release();
    expect(b.inUse).toBe(0);
  });

  test('rejects sizes that are not non-negative safe integers', () => {
    expect(() => new BodyBudget(0)).toThrow(RangeError);
    expect(() => new BodyBudget(1.5)).toThrow(RangeError);
    const hold = new BodyBudget(10).hold();
    for (const bad of [-1, 0.5, Number.NaN, 2 ** 53]) expect(() => hold.tryAdd(bad)).toThrow(RangeError);
  });
});

describe('a body that stops arriving is given up: 408, the connection closed, its bytes given back', () => {
  const IDLE_MS = 1000;
  const idleBudget = new BodyBudget(1024 * 1024);
  let idleHarness: Harness;
  let idleServer: Server;
  let idlePort: number;

  beforeAll(async () => {
    idleHarness = await openHarness({}, { bodyBudget: idleBudget, bodyIdleMs: IDLE_MS });
    idleServer = idleHarness.app.listen(0, '127.0.0.1');
    await new Promise((r) => idleServer.once('listening', r));
    idlePort = (idleServer.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => idleServer.close(r));
    await idleHarness.close();
  });

  /** Sends the request head and `parts` of its body `gapMs` apart; resolves with the answer and whether the server closed the connection. */
  function upload(path: string, headers: Record<string, string | number>, parts: Buffer[], gapMs: number): Promise<Answer & { closed: boolean }> {
    return new Promise((resolve, reject) => {
      let answer: Answer | undefined;
      // Keep-alive, so that a closed connection is the server's choice.
      const agent = new Agent({ keepAlive: true });
      const req = httpRequest({ host: '127.0.0.1', port: idlePort, path, method: 'POST', agent, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          answer = { status: res.statusCode ?? 0, body: text };
          // The server closes a connection it gave up on: the socket then ends.
          const closed = res.headers.connection === 'close';
          resolve({ ...answer, closed });
          agent.destroy();
        });
      });
      req.on('error', (err) => (answer === undefined ? reject(err) : undefined));
      req.flushHeaders();
      parts.forEach((part, i) => setTimeout(() => answer === undefined && req.write(part), gapMs * (i + 1)));
    });
  }

  test.each([
    ['/v1/entries', 'application/octet-stream'], // the fast path
    ['/v1/batch', 'application/json'], // express
  ])('%s: part of the body, then nothing', async (path, type) => {
    const size = idleHarness.log.latest().treeSize;
    const answer = await upload(path, { 'Content-Type': type, 'Content-Length': 1000 }, [Buffer.from('{"entries":["')], 50);
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body)).toEqual({ code: 'REQUEST_TIMEOUT', error: 'fewer than 1024 bytes of the request body arrived in 1 s; it was given up' });
    expect(answer.closed).toBe(true);
    expect(idleHarness.log.latest().treeSize).toBe(size);
    for (let i = 0; i < 100 && idleBudget.inUse > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(idleBudget.inUse).toBe(0);
  });

  describe('a body nothing reads (a GET\'s, or one refused before it is read) is held to the same pace after the answer', () => {
    /** What stops the connections a test left trickling (one that failed, its connection never closed). */
    const stops = new Set<() => void>();
    afterEach(() => {
      for (const stop of stops) stop();
      stops.clear();
    });

    /**
     * Opens a connection, sends `head`, reads the answer, then sends a byte
     * of the body every IDLE_MS / 4 (250 bytes a second, below the 1 KiB/s
     * asked); resolves with the answers once the server closes the connection.
     */
    async function trickle(head: string): Promise<string> {
      const socket: Socket = connect(idlePort, '127.0.0.1');
      socket.setEncoding('latin1');
      socket.on('error', () => undefined);
      let text = '';
      let answered: () => void = () => undefined;
      const first = new Promise<void>((resolve) => (answered = resolve));
      socket.on('data', (d: string) => {
        text += d;
        if (/\r\n\r\n\{[^]*\}|\r\n\r\n[^{]/.test(text)) answered();
      });
      const closed = once(socket, 'close');
      await once(socket, 'connect');
      socket.write(head);
      await first;
      const drip = setInterval(() => socket.writable && socket.write('x'), IDLE_MS / 4);
      const stop = () => {
        clearInterval(drip);
        socket.destroy();
      };
      stops.add(stop);
      await closed;
      stop();
      return text;
    }

    test.each([
      ['a GET with a Content-Length', 'GET /ct/v1/get-sth HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n', 200],
      ['an entry declared too large (413)', 'POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n', 413],
      ['an entry of another type (415)', 'POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n', 415],
    ])('%s: answered, then the connection closed once the rest stalls', async (_name, head, status) => {
      const text = await trickle(head);
      expect(text.match(/HTTP\/1\.1 \d{3}/g)).toEqual([`HTTP/1.1 ${status}`]);
    });

    test('a body dropped at a good pace keeps the connection: the request after it is answered', async () => {
      const socket: Socket = connect(idlePort, '127.0.0.1');
      socket.setEncoding('latin1');
      let text = '';
      socket.on('data', (d: string) => (text += d));
      const closed = once(socket, 'close');
      await once(socket, 'connect');
      socket.write('GET /ct/v1/get-sth HTTP/1.1\r\nHost: x\r\nContent-Length: 8000\r\n\r\n');
      // 2,000 bytes every IDLE_MS / 2 (4 KB/s, four times the pace asked), over two spans.
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, IDLE_MS / 2));
        socket.write('x'.repeat(2000));
      }
      socket.write('GET /v1/log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await closed;
      expect(text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
      expect(text).toMatch(/"verifier_key"/);
    });
  });

  test('a slow body that keeps its pace (1 KiB/s by default) is read in full, however many spans it takes', async () => {
    const entries = Array.from({ length: 8 }, (_, i) => encodeBase64(new TextEncoder().encode(`slow but steady ${i} ${'x'.repeat(1000)}`)));
    const body = Buffer.from(JSON.stringify({ entries }));
    // 8 parts of some 1,400 bytes, 250 ms apart: about 2 s in all, twice the span of 1 s.
    const parts = Array.from({ length: 8 }, (_, i) => body.subarray(Math.floor((i * body.length) / 8), Math.floor(((i + 1) * body.length) / 8)));
    expect(parts.every((part) => part.length > 1024)).toBe(true);
    const answer = await upload('/v1/batch', { 'Content-Type': 'application/json', 'Content-Length': body.length }, parts, IDLE_MS / 4);
    expect(answer.status).toBe(200);
    expect(answer.closed).toBe(false);
  });
});
