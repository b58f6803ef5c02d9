// The pace rule of request bodies (src/http/read-body.ts) counts only time
// the server reads the connection: a body on a connection the server stopped
// reading (here PipelineLimit, src/http/pipelining.ts, with 2 requests in
// progress) is not given up for bytes the server did not read, and is given
// up once reading starts again and the client stays slow. Spans of 200 ms
// instead of 30 s.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BodyBudget } from '../../src/http/body-budget.js';
import { HTTP_STATUS } from '../../src/http/errors.js';
import { PipelineLimit } from '../../src/http/pipelining.js';
import { readBody } from '../../src/http/read-body.js';
import { LogError } from '../../src/log/errors.js';
import { RawConnection } from '../helpers/raw-http.js';

const IDLE_MS = 200;
/** 2,048 bytes in each span of 200 ms. */
const MIN_RATE = 10_240;
const TOTAL = 100_000;

let server: Server;
let port: number;
const budget = new BodyBudget(1024 * 1024);
/** Answers to `/held`, not given until the test says. */
const held: ServerResponse[] = [];
/** The upload's request, once its handler runs. */
let upload: IncomingMessage | undefined;
/** How the upload's readBody settled: 'read <bytes>' or the error's code. */
const settled: string[] = [];

beforeAll(async () => {
  server = createServer();
  const limit = new PipelineLimit(server, { max: 2 });
  server.on(
    'request',
    limit.guard((req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/held') {
        held.push(res);
        return;
      }
      upload = req;
      readBody(req, res, { limit: 1024 * 1024, tooLarge: 'BODY_TOO_LARGE', budget, idleMs: IDLE_MS, minRate: MIN_RATE, maxMs: 60_000 }).then(
        (body) => {
          settled.push(`read ${body.length}`);
          answer(res, 200, `read ${body.length}`);
        },
        (err: unknown) => {
          const error = err instanceof LogError ? err : new LogError('INTERNAL', String(err));
          settled.push(error.code);
          answer(res, HTTP_STATUS[error.code], error.code);
        },
      );
    }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterEach(() => {
  held.length = 0;
  settled.length = 0;
  upload = undefined;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** Answers with a Content-Length, which RawConnection reads the body by. */
function answer(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Length': String(Buffer.byteLength(text)) }).end(text);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `check()` holds (polled), or rejects after a few seconds. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting until ${what}`);
}

/**
 * A connection with `GET /held` and then an upload of TOTAL bytes in flight,
 * of which 1,100 are sent: the server stops reading it once the upload
 * arrives (2 requests in progress), and the upload waits there, much longer
 * than a span, with fewer bytes read than a span asks for.
 */
async function pausedUpload(): Promise<RawConnection> {
  const conn = await RawConnection.open(port);
  conn.socket.write(
    Buffer.concat([
      Buffer.from(`GET /held HTTP/1.1\r\nHost: x\r\n\r\nPOST /up HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${TOTAL}\r\n\r\n`, 'latin1'),
      Buffer.alloc(100, 1),
    ]),
  );
  await until(() => upload !== undefined && held.length === 1, 'both requests are in progress');
  expect(upload!.socket.isPaused()).toBe(true); // PipelineLimit stopped reading this connection
  conn.socket.write(Buffer.alloc(1000, 2)); // sent, but not read while the connection is paused
  await sleep(4 * IDLE_MS);
  expect(settled).toEqual([]); // not given up: the server was not reading
  expect(upload!.socket.isPaused()).toBe(true);
  return conn;
}

test('a body the server stopped reading is not given up; once reading starts again, a client that stays slow is', async () => {
  const conn = await pausedUpload();
  answer(held[0]!, 200, 'held answer'); // one request done: PipelineLimit reads the connection again
  await until(() => settled.length > 0, 'the upload settles');
  expect(settled).toEqual(['REQUEST_TIMEOUT']);
  expect(budget.inUse).toBe(0);
  const first = await conn.next();
  const second = await conn.next();
  expect(first !== 'closed' && [first.status, first.body]).toEqual([200, 'held answer']);
  expect(second !== 'closed' && [second.status, second.body, second.headers.connection]).toEqual([408, 'REQUEST_TIMEOUT', 'close']);
  conn.destroy();
});

test('a body the server stopped reading is read in full once reading starts again', async () => {
  const conn = await pausedUpload();
  answer(held[0]!, 200, 'held answer');
  await until(() => budget.inUse === 1100, 'the bytes sent so far are read');
  conn.socket.write(Buffer.alloc(TOTAL - 1100, 3));
  await until(() => settled.length > 0, 'the upload settles');
  expect(settled).toEqual([`read ${TOTAL}`]);
  const first = await conn.next();
  const second = await conn.next();
  expect(first !== 'closed' && first.status).toBe(200);
  expect(second !== 'closed' && [second.status, second.body]).toEqual([200, `read ${TOTAL}`]);
  conn.destroy();
});
