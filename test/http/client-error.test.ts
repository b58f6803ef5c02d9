// Requests that are not valid HTTP/1.1 get the contract's JSON error body
// (src/http/client-error.ts) from a server set up as `cairn serve` sets it up.
import { once } from 'node:events';
import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import { Socket as NetSocket } from 'node:net';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import {
  answerClientErrors,
  answerConnect,
  answerExpectations,
  clientErrorReason,
  closeGently,
  refusedOutright,
  LINGER_MAX_BYTES,
  LINGER_MS,
  type ClientErrorReason,
} from '../../src/http/client-error.js';
import { leafHash } from '../../src/merkle/hash.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

let h: Harness;
let server: Server;
let port: number;
/** What answerClientErrors told of the errors it answered, on the shared server and the short-limited ones. */
let told: { reason: ClientErrorReason; remote: string | undefined }[] = [];
const tell = (reason: ClientErrorReason, remote: string | undefined) => told.push({ reason, remote });

beforeAll(async () => {
  h = await openHarness();
  server = h.app.listen(0, '127.0.0.1');
  answerClientErrors(server, tell);
  answerConnect(server);
  answerExpectations(server);
  await new Promise((r) => server.once('listening', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await h.close();
});

/** Sends raw bytes and resolves with everything the server wrote before it closed. */
function raw(bytes: string, to = port): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(to, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

/** Runs `body` against a server like the shared one whose node time limits are short (checked every 50 ms). */
async function withShortTimeLimits(body: (port: number) => Promise<void>): Promise<void> {
  const slow = createServer({ connectionsCheckingInterval: 50, headersTimeout: 300, requestTimeout: 400 }, h.app);
  answerClientErrors(slow, tell);
  slow.listen(0, '127.0.0.1');
  await new Promise((r) => slow.once('listening', r));
  try {
    await body((slow.address() as AddressInfo).port);
  } finally {
    await new Promise((r) => slow.close(r));
  }
}

test.each([
  ['a space in the request target', 'GET /ct/v1/get sth HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a negative Content-Length', 'POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: -1\r\n\r\n'],
  ['two Content-Lengths', 'POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx'],
  ['bad chunk framing', 'POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n'],
  ['headers over 16 KiB', `GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Long: ${'a'.repeat(20_000)}\r\n\r\n`],
  ['not HTTP at all', '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003\r\n\r\n'],
])('%s: 400 with a JSON error, and the connection closed', async (_name, bytes) => {
  const answer = await raw(bytes);
  const [head, body] = answer.split('\r\n\r\n');
  expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  expect(head).toMatch(/\r\nContent-Type: application\/json; charset=utf-8\r\n/);
  expect(head).toMatch(/\r\nConnection: close(\r\n|$)/);
  // The headers every answer carries.
  expect(head).toMatch(/\r\nX-Frame-Options: DENY\r\n/);
  expect(head).toMatch(/\r\nAccess-Control-Allow-Origin: \*\r\n/);
  expect(JSON.parse(body!)).toEqual({ error: expect.any(String), code: 'MALFORMED_REQUEST' });
});

test('a bad request pipelined behind a good one is answered after it: the good answer first, in full, then the 400, then the connection closed', async () => {
  // Two entries, so that the good request reads the store (its answer comes a turn later).
  for (const entry of ['pipelined-1', 'pipelined-2']) {
    const added = await fetch(`http://127.0.0.1:${port}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: entry });
    expect(added.status).toBeLessThan(300);
  }
  const answer = await raw('GET /ct/v1/get-entries?start=0&end=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /not valid HTTP/1.1\r\nHost: x\r\n\r\n');
  // Each answer's status line starts where the one before ends (after its Content-Length bytes).
  expect(answer.match(/HTTP\/1\.1 \d{3} [A-Za-z ]+\r\n/g)).toEqual(['HTTP/1.1 200 OK\r\n', 'HTTP/1.1 400 Bad Request\r\n']);
  expect(answer.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
  const first = answer.slice(0, answer.indexOf('HTTP/1.1 400'));
  const entries = JSON.parse(first.slice(first.indexOf('\r\n\r\n') + 4)) as { entries: unknown[] };
  expect(entries.entries).toHaveLength(2);
  expect(answer.endsWith('"code":"MALFORMED_REQUEST"}')).toBe(true);
});

test.each([
  ['/checkpoint', 'text/plain'],
  ['/ct/v1/get-sth', 'application/json'],
  ['/v1/log', 'application/json'],
])('a bad request pipelined behind a read answered at once (GET %s) is answered after it: its answer first, in full, then the 400, then the connection closed', async (path, type) => {
  // The read's answer is written in full before the bad request is parsed, yet node still holds it as the connection's answer.
  const answer = await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\nGET /not valid HTTP/1.1\r\nHost: x\r\n\r\n`);
  const all = answers(answer);
  expect(all.map(([head]) => head.slice(0, head.indexOf('\r\n')))).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 400 Bad Request']);
  const [firstHead, firstBody] = all[0]!;
  expect(firstHead).toMatch(new RegExp(`\r\nContent-Type: ${type.replace('/', '\\/')}`));
  expect(Buffer.byteLength(firstBody, 'latin1')).toBe(Number(/\r\nContent-Length: (\d+)\r\n/i.exec(firstHead)![1]));
  expect(all[1]![0]).toMatch(/\r\nConnection: close(\r\n|$)/);
  expect(JSON.parse(all[1]![1])).toEqual({ error: 'the request is not valid HTTP/1.1', code: 'MALFORMED_REQUEST' });
});

test.each(['/checkpoint', '/ct/v1/get-sth'])('a request (GET %s) answered at once, before its badly framed body is read, gets that answer and no second one', async (path) => {
  const answer = await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n`);
  const all = answers(answer);
  expect(all.map(([head]) => head.slice(0, head.indexOf('\r\n')))).toEqual(['HTTP/1.1 200 OK']);
  const [head, body] = all[0]!;
  expect(Buffer.byteLength(body, 'latin1')).toBe(Number(/\r\nContent-Length: (\d+)\r\n/i.exec(head)![1]));
});

test('a valid request on the same server is still answered', async () => {
  const answer = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
});

test('a request not received in full within node\'s time limits: 408 with a JSON error, and the connection closed', async () => {
  await withShortTimeLimits(async (slowPort) => {
    const answer = await raw('GET /checkpoint HTTP/1.1\r\nHost: x\r\n', slowPort);
    const [head, body] = answer.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(head).toMatch(/\r\nConnection: close(\r\n|$)/);
    expect(JSON.parse(body!)).toEqual({ error: expect.any(String), code: 'REQUEST_TIMEOUT' });
  });
});

describe('onError: each answered request told, with its reason and address (they reach neither the request log nor its metrics)', () => {
  beforeEach(() => {
    told = [];
  });

  test.each([
    ['not valid HTTP/1.1', 'bad_request', 'GET /ct/v1/get sth HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['not HTTP at all', 'bad_request', '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003\r\n\r\n'],
    ['headers over 16 KiB', 'headers_too_large', `GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Long: ${'a'.repeat(20_000)}\r\n\r\n`],
  ])('%s: told as %s', async (_name, reason, bytes) => {
    expect(await raw(bytes)).toMatch(/^HTTP\/1\.1 400 /);
    expect(told).toEqual([{ reason, remote: '127.0.0.1' }]);
  });

  test('a request whose headers stop coming, and a connection that sends nothing: request_timeout', async () => {
    await withShortTimeLimits(async (slowPort) => {
      expect(await raw('GET /checkpoint HTTP/1.1\r\nHost: x\r\n', slowPort)).toMatch(/^HTTP\/1\.1 408 /);
      expect(told).toEqual([{ reason: 'request_timeout', remote: '127.0.0.1' }]);
      expect(await raw('', slowPort)).toMatch(/^HTTP\/1\.1 408 /);
      expect(told.map((t) => t.reason)).toEqual(['request_timeout', 'request_timeout']);
    });
  });

  test('a valid request is not told', async () => {
    expect(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 /);
    expect(told).toEqual([]);
  });

  test('a connection the client reset (ECONNRESET) is closed and not told', () => {
    const fake = createServer();
    const seen: ClientErrorReason[] = [];
    answerClientErrors(fake, (reason) => seen.push(reason));
    let destroyed = false;
    const socket = { writable: true, remoteAddress: '192.0.2.9', destroy: () => void (destroyed = true) };
    fake.emit('clientError', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), socket);
    expect(destroyed).toBe(true);
    expect(seen).toEqual([]);
  });

  test('clientErrorReason: node\'s parser errors, its header overflow, its request timeout, anything else', () => {
    const reason = (code: string | undefined) => clientErrorReason(Object.assign(new Error(code), { code }));
    expect(reason('HPE_INVALID_METHOD')).toBe('bad_request');
    expect(reason('HPE_UNEXPECTED_CONTENT_LENGTH')).toBe('bad_request');
    expect(reason('HPE_HEADER_OVERFLOW')).toBe('headers_too_large');
    expect(reason('ERR_HTTP_REQUEST_TIMEOUT')).toBe('request_timeout');
    expect(reason('EPIPE')).toBe('other');
    expect(reason(undefined)).toBe('other');
  });
});

test('a request answered while its body still arrives gets no second, unasked-for answer when node then times it out', async () => {
  await withShortTimeLimits(async (slowPort) => {
    // Declared over the entry limit: refused (413) at once, while the body is still to come.
    const answer = await raw('POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 70000\r\n\r\nabc', slowPort);
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });
});

test('a bad request that follows, on the same connection, a body refused before it arrived gets its own 400, even when it comes in the same read as the end of that body', async () => {
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('latin1');
  let text = '';
  let sawFirst: () => void = () => undefined;
  const first = new Promise<void>((resolve) => (sawFirst = resolve));
  socket.on('data', (d: string) => {
    text += d;
    if (/^HTTP\/1\.1 413 [^]*\r\n\r\n\{[^]*\}/.test(text)) sawFirst();
  });
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  // Declared over the entry limit: refused (413) at once, before its body is sent.
  socket.write('POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 70000\r\n\r\n');
  await first;
  socket.write('a'.repeat(69_990));
  // The body's last bytes and the bad request in one small write: the server reads them together.
  socket.write(`${'a'.repeat(10)}GET /not valid HTTP/1.1\r\nHost: x\r\n\r\n`);
  await closed;
  const all = answers(text);
  expect(all.map(([head]) => head.slice(0, head.indexOf('\r\n')))).toEqual(['HTTP/1.1 413 Payload Too Large', 'HTTP/1.1 400 Bad Request']);
  expect(all[1]![0]).toMatch(/\r\nConnection: close(\r\n|$)/);
  expect(JSON.parse(all[1]![1])).toEqual({ error: 'the request is not valid HTTP/1.1', code: 'MALFORMED_REQUEST' });
});

/** The answers in `text`, split at each status line, as [head, body]. */
function answers(text: string): [string, string][] {
  return text
    .split(/(?=HTTP\/1\.1 \d{3} )/)
    .filter((part) => part !== '')
    .map((part) => {
      const at = part.indexOf('\r\n\r\n');
      return [part.slice(0, at), part.slice(at + 4)];
    });
}

test('CONNECT to a path: the app\'s 405 with its JSON error and Allow, and the connection closed', async () => {
  const all = answers(await raw('CONNECT /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
  expect(all).toHaveLength(1);
  const [head, body] = all[0]!;
  expect(head).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
  expect(head).toMatch(/\r\nAllow: GET, HEAD, OPTIONS\r\n/);
  expect(head).toMatch(/\r\nConnection: close(\r\n|$)/);
  expect(head).toMatch(/\r\nX-Frame-Options: DENY\r\n/);
  expect(JSON.parse(body)).toEqual({ error: expect.stringContaining('CONNECT'), code: 'METHOD_NOT_ALLOWED' });
});

test('CONNECT to an authority (as to a proxy): 405 with a JSON error and an empty Allow, and the connection closed', async () => {
  const all = answers(await raw('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'));
  expect(all).toHaveLength(1);
  const [head, body] = all[0]!;
  expect(head).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
  expect(head).toMatch(/\r\nAllow: \r\n/);
  expect(head).toMatch(/\r\nContent-Type: application\/json; charset=utf-8\r\n/);
  expect(head).toMatch(/\r\nConnection: close(\r\n|$)/);
  expect(JSON.parse(body)).toEqual({ error: expect.any(String), code: 'METHOD_NOT_ALLOWED' });
});

test('CONNECT after pipelined requests: their answers first, in order, then the 405, then the connection closed', async () => {
  const all = answers(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /ct/v1/get-sth HTTP/1.1\r\nHost: x\r\n\r\nCONNECT /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n'));
  expect(all.map(([head]) => head.slice(0, 12))).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 405']);
  expect(JSON.parse(all[0]![1])).toMatchObject({ status: 'ok' });
  expect(JSON.parse(all[1]![1])).toHaveProperty('sha256_root_hash');
  expect(JSON.parse(all[2]![1])).toMatchObject({ code: 'METHOD_NOT_ALLOWED' });
});

describe('a request asking to switch protocols (Connection: upgrade, Upgrade: …)', () => {
  const upgrade = (method: string, path: string, extra = '') => `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n${extra}\r\n`;
  const post = (entry: string) => `POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${entry.length}\r\n\r\n${entry}`;
  const logged = async (entry: string) => (await h.log.findLeaf(leafHash(new TextEncoder().encode(entry)))) !== undefined;

  beforeEach(() => {
    told = [];
  });

  test('without a body: answered as a request that does not ask, with Connection: close; what the client sent after it is not read, and the connection is closed', async () => {
    const entry = `pipelined behind an upgrade ${Date.now()}`;
    const all = answers(await raw(upgrade('GET', '/healthz') + post(entry)));
    expect(all).toHaveLength(1);
    const [head, body] = all[0]!;
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head).toMatch(/\r\nConnection: close(\r\n|$)/);
    expect(JSON.parse(body)).toMatchObject({ status: 'ok' });
    expect(await logged(entry)).toBe(false);
    expect(told).toEqual([]);
  });

  test('the body of a request sent behind it, in a later read, is not read as a request of its own', async () => {
    const socket = connect(port, '127.0.0.1');
    socket.setEncoding('latin1');
    socket.on('error', () => undefined);
    let text = '';
    let sawFirst: () => void = () => undefined;
    const first = new Promise<void>((resolve) => (sawFirst = resolve));
    socket.on('data', (d: string) => {
      text += d;
      if (/\r\n\r\n\{[^]*\}/.test(text)) sawFirst();
    });
    const closed = once(socket, 'close');
    await once(socket, 'connect');
    const smuggled = 'GET /v1/log?smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
    socket.write(upgrade('GET', '/healthz') + `POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${smuggled.length}\r\n\r\n`);
    await first;
    if (socket.writable) socket.write(smuggled);
    await closed;
    expect(answers(text).map(([head]) => head.slice(0, head.indexOf('\r\n')))).toEqual(['HTTP/1.1 200 OK']);
    expect(text).not.toMatch(/smuggled/);
  });

  test.each([
    ['a Content-Length', 'Content-Type: application/octet-stream\r\nContent-Length: 11\r\n', 'upgrade-cl1', 'upgrade-cl1'],
    ['chunked', 'Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n', 'b\r\nupgrade-ch1\r\n0\r\n\r\n', 'upgrade-ch1'],
  ])('with a body (%s, as curl --http2 -d and Java\'s HttpClient send): logged like any other, Connection: close, nothing told', async (_name, extra, body, entry) => {
    const all = answers(await raw(upgrade('POST', '/v1/entries', extra) + body));
    expect(all).toHaveLength(1);
    const [head, text] = all[0]!;
    expect(head).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
    expect(head).toMatch(/\r\nConnection: close(\r\n|$)/);
    expect(JSON.parse(text)).toHaveProperty('leaf_hash');
    expect(await logged(entry)).toBe(true);
    expect(told).toEqual([]);
  });

  test('a request that comes after it on its connection is refused outright, whenever it comes: never routed', () => {
    const socket = new NetSocket();
    const request = (headers: Record<string, string>) => {
      const req = new IncomingMessage(socket);
      req.httpVersionMajor = 1;
      req.httpVersionMinor = 1;
      req.headers = { host: 'x', ...headers };
      return { req, res: new ServerResponse(req) };
    };
    const first = request({ connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c' });
    expect(refusedOutright(first.req, first.res)).toBeUndefined();
    expect(first.res.shouldKeepAlive).toBe(false);
    const after = request({});
    expect(refusedOutright(after.req, after.res)).toMatchObject({ code: 'MALFORMED_REQUEST' });
    // Another connection is not touched.
    const other = new IncomingMessage(new NetSocket());
    other.httpVersionMajor = 1;
    other.httpVersionMinor = 1;
    other.headers = { host: 'x' };
    expect(refusedOutright(other, new ServerResponse(other))).toBeUndefined();
    socket.destroy();
  });

  test('after pipelined requests: their answers first, in order, then its own', async () => {
    const all = answers(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /ct/v1/get-sth HTTP/1.1\r\nHost: x\r\n\r\n' + upgrade('GET', '/v1/log')));
    expect(all.map(([head]) => head.slice(0, 12))).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(JSON.parse(all[1]![1])).toHaveProperty('sha256_root_hash');
    expect(JSON.parse(all[2]![1])).toHaveProperty('verifier_key');
    expect(all[2]![0]).toMatch(/\r\nConnection: close(\r\n|$)/);
  });
});

describe('a request after one that closes the connection (RFC 9112 §9.6) is not read: no answer, and not told as a bad request', () => {
  beforeEach(() => {
    told = [];
  });

  test.each([
    ['Connection: close', 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ['HTTP/1.0', 'GET /healthz HTTP/1.0\r\n\r\n'],
  ])('after %s', async (_name, first) => {
    const all = answers(await raw(`${first}GET /v1/log HTTP/1.1\r\nHost: x\r\n\r\n`));
    expect(all.map(([head]) => head.slice(0, 12))).toEqual(['HTTP/1.1 200']);
    expect(JSON.parse(all[0]![1])).toMatchObject({ status: 'ok' });
    expect(told).toEqual([]);
  });

  test('after a request answered later (it reads the store): its answer, in full, then the end of the stream', async () => {
    const all = answers(await raw('GET /ct/v1/get-entries?start=0&end=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /v1/log HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(all.map(([head]) => head.slice(0, 12))).toEqual(['HTTP/1.1 200']);
    expect((JSON.parse(all[0]![1]) as { entries: unknown[] }).entries).toHaveLength(1);
    expect(told).toEqual([]);
  });
});

test('an Expect other than 100-continue: the app\'s 417 EXPECTATION_FAILED, with the headers every answer carries', async () => {
  const all = answers(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: nope\r\nConnection: close\r\n\r\n'));
  expect(all).toHaveLength(1);
  const [head, body] = all[0]!;
  expect(head).toMatch(/^HTTP\/1\.1 417 Expectation Failed\r\n/);
  expect(head).toMatch(/\r\nX-Frame-Options: DENY\r\n/);
  expect(head).toMatch(/\r\nCache-Control: no-store\r\n/);
  expect(JSON.parse(body)).toEqual({ error: 'unsupported Expect "nope": only 100-continue is supported', code: 'EXPECTATION_FAILED' });
});

test('Expect: 100-continue on a request without a body: answered, and the connection kept for the request pipelined behind it', async () => {
  const all = answers(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\nGET /v1/log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
  expect(all.map(([head]) => head.slice(0, 12))).toEqual(['HTTP/1.1 100', 'HTTP/1.1 200', 'HTTP/1.1 200']);
  expect(JSON.parse(all[2]![1])).toHaveProperty('verifier_key');
});

describe('closeGently (RFC 9112 §9.6: close in stages)', () => {
  /**
   * A TCP server that writes `answer` on each connection and closes it with
   * closeGently(`limits`); resolves with a client connected to it (one that
   * may keep sending after the server's end of the stream) and the server's side.
   */
  async function gentleClose(limits: { ms?: number; maxBytes?: number }): Promise<{ client: Socket; serverSide: Socket; stop: () => Promise<void> }> {
    const tcp = createTcpServer({ allowHalfOpen: true });
    const accepted = new Promise<Socket>((resolve) =>
      tcp.once('connection', (socket: Socket) => {
        socket.write('answer');
        closeGently(socket, limits);
        resolve(socket);
      }),
    );
    tcp.listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    const client = connect({ port: (tcp.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    client.on('error', () => undefined);
    const serverSide = await accepted;
    return { client, serverSide, stop: () => new Promise((resolve) => tcp.close(() => resolve())) };
  }

  /** Resolves with what `client` read up to the server's end of the stream. */
  async function readToEnd(client: Socket): Promise<string> {
    let text = '';
    client.setEncoding('latin1');
    client.on('data', (d: string) => (text += d));
    await once(client, 'end');
    return text;
  }

  test('by default, the server reads for at most 2 s and at most 1 MiB', () => {
    expect(LINGER_MS).toBe(2000);
    expect(LINGER_MAX_BYTES).toBe(1024 * 1024);
  });

  test('the client reads the answer, then the end of the stream; what it sends then is read and thrown away; the server closes once the client has closed its side', async () => {
    const { client, serverSide, stop } = await gentleClose({ ms: 600_000, maxBytes: Infinity });
    try {
      expect(await readToEnd(client)).toBe('answer');
      // The server's side is shut, but it still reads.
      const sent = 300 * 1024;
      await new Promise<void>((resolve, reject) => client.write(Buffer.alloc(sent, 'x'), (err) => (err ? reject(err) : resolve())));
      expect(serverSide.destroyed).toBe(false);
      client.end();
      await once(serverSide, 'close');
      expect(serverSide.bytesRead).toBe(sent);
    } finally {
      client.destroy();
      await stop();
    }
  });

  test('a client that sends more than maxBytes after the answer is cut off without waiting for it', async () => {
    const { client, serverSide, stop } = await gentleClose({ ms: 600_000, maxBytes: 64 * 1024 });
    try {
      expect(await readToEnd(client)).toBe('answer');
      client.write(Buffer.alloc(1024 * 1024, 'x'));
      await once(serverSide, 'close');
      expect(serverSide.bytesRead).toBeGreaterThan(64 * 1024);
    } finally {
      client.destroy();
      await stop();
    }
  });

  test('a client that neither sends nor closes is closed after ms', async () => {
    const { client, serverSide, stop } = await gentleClose({ ms: 20, maxBytes: Infinity });
    try {
      expect(await readToEnd(client)).toBe('answer');
      await once(serverSide, 'close');
      expect(serverSide.bytesRead).toBe(0);
    } finally {
      client.destroy();
      await stop();
    }
  });
});
