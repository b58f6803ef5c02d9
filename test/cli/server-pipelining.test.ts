// The server as `cairn serve` starts it bounds what one connection can make
// it do by pipelining (src/http/pipelining.ts), on the express routes and the
// fast routes alike, without touching clients that send one request at a
// time; and it answers CONNECT as any other method it has no route for. A
// request refused past the bound never reaches the app: it is counted in
// cairn_refusals_total{code="QUEUE_FULL"} and warned of all the same.
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { MAX_REQUESTS_IN_PROGRESS } from '../../src/http/pipelining.js';
import { REFUSALS_MESSAGE } from '../../src/http/refusals.js';
import { capture, type Line } from '../helpers/log-lines.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';
import { RawConnection, type RawResponse } from '../helpers/raw-http.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-pipelining-');

let server: RunningServer;
let port: number;
let lines: Line[];
beforeEach(async () => {
  const captured = capture();
  lines = captured.lines;
  server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, logger: captured.logger });
  port = Number(new URL(server.url).port);
  for (const entry of ['one', 'two', 'three']) {
    const res = await fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: entry });
    expect(res.status).toBe(201);
  }
});
afterEach(() => server.close());

// /healthz goes through express, get-sth-consistency through the fast routes.
const PATHS = ['/healthz', '/ct/v1/get-sth-consistency?first=1&second=3'];
const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

test('200 pipelined requests written at once: the first 16 are answered, the next refused 503 QUEUE_FULL, and the connection closed', async () => {
  const expected = await Promise.all(PATHS.map(async (path) => (await fetch(`${server.url}${path}`)).text()));
  const conn = await RawConnection.open(port);
  try {
    conn.write(Array.from({ length: 200 }, (_, i) => get(PATHS[i % 2]!)).join(''));
    for (let i = 0; i < MAX_REQUESTS_IN_PROGRESS; i++) expect(await conn.next()).toMatchObject({ status: 200, body: expected[i % 2] });
    const refused = (await conn.next()) as RawResponse;
    expect(refused.status).toBe(503);
    expect(refused.headers['connection']).toBe('close');
    expect(refused.headers['retry-after']).toBe('1');
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'QUEUE_FULL' });
    expect(await conn.next()).toBe('closed');
  } finally {
    conn.destroy();
  }
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
});

test('a refused 17th request is counted in cairn_refusals_total{code="QUEUE_FULL"} and warned of at once; one more within the interval is warned of as the server stops', async () => {
  const metric = async () => (await (await fetch(`${server.url}/metrics`)).text()).split('\n').find((l) => l.startsWith('cairn_refusals_total{code="QUEUE_FULL"} '));
  expect(await metric()).toBe('cairn_refusals_total{code="QUEUE_FULL"} 0');
  const overflow = async () => {
    const conn = await RawConnection.open(port);
    try {
      conn.write(Array.from({ length: MAX_REQUESTS_IN_PROGRESS + 1 }, () => get(PATHS[0]!)).join(''));
      for (let i = 0; i < MAX_REQUESTS_IN_PROGRESS; i++) expect(await conn.next()).toMatchObject({ status: 200 });
      expect(await conn.next()).toMatchObject({ status: 503 });
    } finally {
      conn.destroy();
    }
  };
  const warnings = () => lines.filter((line) => line.msg === REFUSALS_MESSAGE);
  await overflow();
  expect(warnings()).toEqual([{ level: 'warn', msg: REFUSALS_MESSAGE, fields: { refused: 1, queue_full: 1, pipelined: 1, remote: '127.0.0.1' } }]);
  expect(await metric()).toBe('cairn_refusals_total{code="QUEUE_FULL"} 1');
  await overflow();
  expect(await metric()).toBe('cairn_refusals_total{code="QUEUE_FULL"} 2');
  expect(warnings()).toHaveLength(1);
  await server.close();
  expect(warnings().map((line) => line.fields)).toEqual([expect.anything(), expect.objectContaining({ refused: 1, queue_full: 1, pipelined: 1 })]);
});

test('a client that keeps sending after the refused 17th request, and reads late, gets the 15 answers, the receipt of the entry it posted 16th, and the 503, then the end of the stream (no reset)', async () => {
  // An entry of 32 KiB: 15 bundles holding it (480 KiB) are more than the
  // client's receive window, so part is still in the server's send buffer
  // when it shuts its side.
  const big = Buffer.alloc(32 * 1024, 'b');
  expect((await fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: big })).status).toBe(201);
  const bundle = Buffer.from(await (await fetch(`${server.url}/tile/entries/000.p/4`)).arrayBuffer()).toString('latin1');
  const shut = new Promise<void>((resolve) => server.server.once('connection', (socket: Socket) => socket.once('finish', resolve)));
  let requests = 0;
  const refused = new Promise<void>((resolve) => server.server.on('request', () => ++requests === 17 && resolve()));
  const conn = await RawConnection.open(port);
  let reset: Error | undefined;
  conn.socket.on('error', (err) => (reset = err));
  try {
    const body = 'posted 16th';
    const post = `POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    conn.write([...Array.from({ length: 15 }, () => get('/tile/entries/000.p/4')), post, get('/tile/entries/000.p/4')].join(''));
    // A pipelining client goes on sending: this arrives once the 17th is refused, so the server has not read it.
    await refused;
    await new Promise<void>((resolve, reject) => conn.socket.write(Array.from({ length: 100 }, () => get('/healthz')).join(''), (err) => (err ? reject(err) : resolve())));
    await shut;
    for (let i = 0; i < 15; i++) expect(await conn.next()).toMatchObject({ status: 200, body: bundle });
    const receipt = (await conn.next()) as RawResponse;
    expect(receipt.status).toBe(201);
    expect(JSON.parse(receipt.body)).toMatchObject({ index: 4, duplicate: false });
    expect(await conn.next()).toMatchObject({ status: 503, headers: expect.objectContaining({ connection: 'close' }) });
    expect(await conn.next()).toBe('closed');
    expect(reset).toBeUndefined();
  } finally {
    conn.destroy();
  }
  const again = await fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: 'posted 16th' });
  expect(await again.json()).toMatchObject({ index: 4, duplicate: true });
});

test.each(['/metrics', '/checkpoint', '/v1/log', '/tile/entries/000.p/3'])('the refusal of a 17th pipelined GET %s is the 503 QUEUE_FULL the spec declares for it', async (path) => {
  const conn = await RawConnection.open(port);
  try {
    conn.write([...Array.from({ length: MAX_REQUESTS_IN_PROGRESS }, () => get('/healthz')), get(path)].join(''));
    for (let i = 0; i < MAX_REQUESTS_IN_PROGRESS; i++) expect(await conn.next()).toMatchObject({ status: 200 });
    const refused = (await conn.next()) as RawResponse;
    expect(refused.status).toBe(503);
    expectResponseMatchesSpec('GET', path, { status: refused.status, headers: refused.headers, body: JSON.parse(refused.body), text: refused.body });
  } finally {
    conn.destroy();
  }
});

test('hundreds of sequential requests on one keep-alive connection are all answered', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let connections = 0;
  server.server.on('connection', () => connections++);
  try {
    for (let i = 0; i < 400; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: PATHS[i % 2], agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
    }
  } finally {
    agent.destroy();
  }
  expect(connections).toBe(1);
});

test('CONNECT to a path is answered 405 with the JSON error and the Allow of other methods, and the connection closed', async () => {
  const conn = await RawConnection.open(port);
  try {
    conn.write('CONNECT /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const answer = (await conn.next()) as RawResponse;
    expect(answer.status).toBe(405);
    expect(answer.headers['allow']).toBe('GET, HEAD, OPTIONS');
    expect(answer.headers['connection']).toBe('close');
    expect(JSON.parse(answer.body)).toEqual({ error: expect.any(String), code: 'METHOD_NOT_ALLOWED' });
    expect(await conn.next()).toBe('closed');
  } finally {
    conn.destroy();
  }
});
