// The server as `cairn serve` starts it bounds what one connection can make
// it do by pipelining (src/http/pipelining.ts), on the express routes and the
// fast routes alike, without touching clients that send one request at a
// time; and it answers CONNECT as any other method it has no route for.
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { MAX_REQUESTS_IN_PROGRESS } from '../../src/http/pipelining.js';
import { RawConnection, type RawResponse } from '../helpers/raw-http.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-pipelining-');

let server: RunningServer;
let port: number;
beforeEach(async () => {
  server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0 });
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
