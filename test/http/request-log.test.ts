// Every request gets exactly one request log line and one observation in the
// request histogram, on the express routes and on the fast routes alike, also
// when the client is gone before its answer: an entry logged for a client
// that did not wait for its receipt is still a 201, and an upload cut short
// still a 400; one the server cut as it stopped is a 503 cut_at_stop, never
// answered. An error answer's line has its `code` (the JSON body's), which
// tells apart the 503s of a bound (QUEUE_FULL), the store (STORAGE_FAILED)
// and a stop (SHUTTING_DOWN). A real server on 127.0.0.1, raw sockets as the
// clients.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/http/app.js';
import { connectionCutter } from '../../src/http/cut-at-stop.js';
import { createMetrics, type Metrics } from '../../src/http/metrics.js';
import { Log } from '../../src/log/log.js';
import { jsonLogger, REQUEST_MESSAGE } from '../../src/log/logger.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';
import { listenLocally, type LocalServer } from '../helpers/local-server.js';
import { passThroughStore } from '../helpers/store.js';

type Line = { level: string; msg: string; method: string; route: string; status: number; code?: string; client_gone?: boolean; cut_at_stop?: boolean };

let dir: string;
let log: Log;
let metrics: Metrics;
let logger: ReturnType<typeof jsonLogger>;
let local: LocalServer;
let port: number;
const lines: Line[] = [];
/** Server-side sockets, to see when the server has seen a client go. */
const serverSockets: Socket[] = [];
/** While set, every round waits at the store until the test lets it go. */
let hold: { reached: () => void; released: Promise<void> } | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-request-log-'));
  const inner = await LevelStore.open(dir);
  const store = passThroughStore(inner, {
    writeRound: async (round) => {
      if (hold !== undefined) {
        hold.reached();
        await hold.released;
      }
      return inner.writeRound(round);
    },
  });
  metrics = createMetrics({ processMetrics: false });
  log = await Log.open({ store, signer: testSigner, verifier: testVerifier, observer: metrics.observer });
  logger = jsonLogger((line) => {
    const parsed = JSON.parse(line) as Line;
    if (parsed.msg === REQUEST_MESSAGE) lines.push(parsed);
  });
  local = await listenLocally(createApp({ log, verifierKey: vector.verifier_key, metrics, logger }));
  local.server.on('connection', (socket) => serverSockets.push(socket));
  port = local.port;
});
afterAll(async () => {
  await local.close();
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Resolves once `check()` holds (looked at every few ms), or rejects after 10 s with `what`. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never happened: ${what}`);
}

/** Observations of the request histogram with these labels. */
async function observed(method: string, route: string, status: number): Promise<number> {
  const { values } = await metrics.httpDuration.get();
  const sample = values.find(
    (v) => v.metricName === 'cairn_http_request_duration_seconds_count' && v.labels.method === method && v.labels.route === route && v.labels.status === String(status),
  );
  return sample?.value ?? 0;
}

function post(path: string, type: string, body: string, declared = Buffer.byteLength(body)): string {
  return `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${declared}\r\n\r\n${body}`;
}

/** Opens a connection, sends `text`, and resolves once the server has taken the connection and a request on it. */
async function send(text: string): Promise<{ client: Socket; serverSide: Socket }> {
  const known = serverSockets.length;
  const requested = once(local.server, 'request');
  const client = connect(port, '127.0.0.1');
  client.on('error', () => undefined);
  await once(client, 'connect');
  client.write(text);
  await requested;
  const serverSide = serverSockets[known]!;
  return { client, serverSide };
}

/** Resolves once `socket` is closed (an error on the way, such as a body cut short, is the server's to handle). */
async function closed(socket: Socket): Promise<void> {
  if (!socket.destroyed) await new Promise((resolve) => socket.once('close', resolve));
}

/** Closes the client's side and waits until the server has seen it. */
async function leave(client: Socket, serverSide: Socket): Promise<void> {
  client.destroy();
  await closed(serverSide);
  await turn();
}

/**
 * Sends `text`, whose entries go into a round; the client leaves while that
 * round is being written, which is then let finish. Resolves to the request's
 * log lines, once there is one.
 */
async function abandonWhileWritten(text: string): Promise<Line[]> {
  let reached = () => {};
  let release = () => {};
  const atStore = new Promise<void>((resolve) => (reached = resolve));
  hold = { reached, released: new Promise<void>((resolve) => (release = resolve)) };
  const before = lines.length;
  const { client, serverSide } = await send(text);
  await atStore;
  await leave(client, serverSide);
  hold = undefined;
  release();
  await until(() => lines.length > before, 'a log line for the abandoned request');
  // Anything more would come in the turns right after.
  for (let i = 0; i < 5; i++) await turn();
  return lines.slice(before);
}

const entries = (n: number, tag: string) => Array.from({ length: n }, (_, i) => encodeBase64(Buffer.from(`${tag} ${i}`)));

test.each([
  ['express route: a batch whose client left before the answer is logged, observed and counted once, as the 200 it was', '/v1/batch', 'application/json', JSON.stringify({ entries: entries(50, 'batch') }), 200, 50],
  ['express route: a JSON entry whose client left before its receipt is logged and observed once, as a 201', '/v1/entries', 'application/json', '{"json":"entry"}', 201, 1],
  ['fast route: an octet-stream entry whose client left before its receipt is logged and observed once, as a 201', '/v1/entries', 'application/octet-stream', 'a raw entry', 201, 1],
])('%s', async (_name, route, type, body, status, added) => {
  const size = log.latest().treeSize;
  const observedBefore = await observed('POST', route, status);
  const got = await abandonWhileWritten(post(route, type, body));
  expect(log.latest().treeSize).toBe(size + added);
  expect(got).toEqual([expect.objectContaining({ method: 'POST', route, status, client_gone: true })]);
  expect(await observed('POST', route, status)).toBe(observedBefore + 1);
});

test.each([
  ['express route (JSON)', 'application/json'],
  ['fast route (octet-stream)', 'application/octet-stream'],
])('%s: an upload cut short is logged and observed once, as a 400', async (_name, type) => {
  const observedBefore = await observed('POST', '/v1/entries', 400);
  const before = lines.length;
  // 10 of the 1,000 bytes it declares.
  const { client, serverSide } = await send(post('/v1/entries', type, '"0123456"', 1000));
  await leave(client, serverSide);
  await until(() => lines.length > before, 'a log line for the cut upload');
  for (let i = 0; i < 5; i++) await turn();
  expect(lines.slice(before)).toEqual([expect.objectContaining({ method: 'POST', route: '/v1/entries', status: 400, code: 'MALFORMED_REQUEST', client_gone: true })]);
  expect(await observed('POST', '/v1/entries', 400)).toBe(observedBefore + 1);
});

test('uploads whose connections the server cuts as it stops are logged and observed as 503s cut_at_stop, not as 400s of clients gone', async () => {
  // A server of their own, cut as serve's close() cuts its connections once its grace is over.
  const own = await listenLocally(createApp({ log, verifierKey: vector.verifier_key, metrics, logger }));
  const cut = connectionCutter(own.server);
  try {
    const counts = await Promise.all([observed('POST', '/v1/entries', 400), observed('POST', '/v1/entries', 503)]);
    const before = lines.length;
    let arrived = 0;
    own.server.on('request', () => (arrived += 1));
    for (const type of ['application/octet-stream', 'application/json']) {
      const client = connect(own.port, '127.0.0.1');
      client.on('error', () => undefined);
      // 10 of the 1,000 bytes it declares.
      client.write(post('/v1/entries', type, '"0123456"', 1000));
    }
    await until(() => arrived === 2, 'both uploads at the server');
    cut();
    await until(() => lines.length >= before + 2, 'a log line for each cut upload');
    for (let i = 0; i < 5; i++) await turn();
    expect(lines.slice(before).map((l) => [l.method, l.route, l.status, l.code, l.cut_at_stop, l.client_gone])).toEqual([
      ['POST', '/v1/entries', 503, 'SHUTTING_DOWN', true, undefined],
      ['POST', '/v1/entries', 503, 'SHUTTING_DOWN', true, undefined],
    ]);
    expect(await Promise.all([observed('POST', '/v1/entries', 400), observed('POST', '/v1/entries', 503)])).toEqual([counts[0], counts[1]! + 2]);
  } finally {
    await own.close();
  }
});

test('requests answered normally get one line each, without client_gone, and one observation each', async () => {
  const before = lines.length;
  const counts = await Promise.all([observed('GET', '/checkpoint', 200), observed('POST', '/v1/entries', 201), observed('GET', 'not-found', 404)]);
  const { client, serverSide } = await send(
    'GET /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n' +
      post('/v1/entries', 'application/json', '{"normal":1}') +
      post('/v1/entries', 'application/octet-stream', 'normal 2') +
      'GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /checkpoint HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  // The server closes the connection after the last answer: every answer was written by then.
  client.resume();
  await once(client, 'close');
  await closed(serverSide);
  for (let i = 0; i < 5; i++) await turn();
  // Only an error answer's line has a code.
  expect(lines.slice(before).map((l) => [l.method, l.route, l.status, l.code, l.client_gone])).toEqual([
    ['GET', '/checkpoint', 200, undefined, undefined],
    ['POST', '/v1/entries', 201, undefined, undefined],
    ['POST', '/v1/entries', 201, undefined, undefined],
    ['GET', 'not-found', 404, 'NOT_FOUND', undefined],
    ['GET', '/checkpoint', 200, undefined, undefined],
  ]);
  expect(await Promise.all([observed('GET', '/checkpoint', 200), observed('POST', '/v1/entries', 201), observed('GET', 'not-found', 404)])).toEqual([
    counts[0]! + 2,
    counts[1]! + 2,
    counts[2]! + 1,
  ]);
});
