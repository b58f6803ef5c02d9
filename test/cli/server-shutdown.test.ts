// Stopping the server (RunningServer.close, which SIGTERM calls): requests in
// progress get a grace period, then their connections are cut, so a stalled
// upload cannot keep a stopping server alive; the requests cut are logged as such.
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../src/cli/server.js';
import { REQUEST_MESSAGE } from '../../src/log/logger.js';
import type { LogStore } from '../../src/storage/store.js';
import { capture } from '../helpers/log-lines.js';
import { RawConnection } from '../helpers/raw-http.js';
import { passThroughStore } from '../helpers/store.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-shutdown-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('close() cuts an upload that stalls once the grace period is over, and what was logged stays', async () => {
  const server = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0, shutdownGraceMs: 200 });
  const added = await fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: 'before the stop' });
  expect(added.status).toBe(201);
  const url = new URL(server.url);
  // Headers and half of the body, then nothing more.
  const stalled = request({ host: url.hostname, port: url.port, path: '/v1/entries', method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': 100 } });
  const cut = new Promise<string>((resolve) => {
    stalled.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    stalled.on('response', (res) => resolve(`answered ${res.statusCode}`));
  });
  stalled.write(Buffer.alloc(50, 1));
  await new Promise((r) => setTimeout(r, 50));
  await server.close();
  expect(await cut).toBe('ECONNRESET');
  expect(server.log.latest().treeSize).toBe(1);
  const again = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0 });
  try {
    expect(again.log.latest().treeSize).toBe(1);
  } finally {
    await again.close();
  }
});

/** Resolves once `check()` holds (looked at every few ms), or rejects after 10 s with `what`. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never happened: ${what}`);
}

test('uploads close() cuts are logged as cut by the server at its stop, not as their clients gone, and not as a 400 never sent', async () => {
  const { lines, logger } = capture();
  const server = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0, shutdownGraceMs: 200, logger });
  const url = new URL(server.url);
  const arrived: string[] = [];
  server.server.on('request', (req) => arrived.push(String(req.headers['content-type'])));
  // Each declares 1,000 bytes and sends 10: the fast route (octet-stream) and an express one (JSON).
  for (const type of ['application/octet-stream', 'application/json']) {
    const client = connect(Number(url.port), '127.0.0.1');
    client.on('error', () => undefined);
    client.write(`POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: 1000\r\n\r\n"01234567"`);
  }
  await until(() => arrived.length === 2, 'both uploads at the server');
  await server.close();
  const requests = () => lines.filter((l) => l.msg === REQUEST_MESSAGE).map((l) => l.fields);
  await until(() => requests().length >= 2, 'a log line for each cut upload');
  expect(requests()).toEqual([
    { method: 'POST', route: '/v1/entries', status: 503, code: 'SHUTTING_DOWN', ms: expect.any(Number), cut_at_stop: true },
    { method: 'POST', route: '/v1/entries', status: 503, code: 'SHUTTING_DOWN', ms: expect.any(Number), cut_at_stop: true },
  ]);
});

/**
 * A store wrapper whose round writes, once `hold()` is called, wait until
 * `release()`; `reached` resolves when the first held one is made.
 */
function heldRounds() {
  let holding = false;
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
  return {
    hold: () => (holding = true),
    release,
    reached: reachedPromise,
    wrapStore: (inner: LogStore) =>
      passThroughStore(inner, {
        writeRound: async (round) => {
          if (holding) {
            reached();
            await released;
          }
          return inner.writeRound(round);
        },
      }),
  };
}

// A submit whose body has arrived but whose round is still being written
// when the grace is over: its connection is cut, its receipt never sent, but
// the round still commits (log.close waits for it), so its entry is durable
// and the request is logged as what it would have been, 201, cut at the stop.
describe.each([
  ['the fast route', 'application/octet-stream', 'entry cut at the stop', 'entry cut at the stop'],
  ['the express route', 'application/json', '{"b": 2, "a": 1}', '{"a":1,"b":2}'],
])('a submit (%s) whose round commits after close() cut its connection', (_, type, body, entry) => {
  test('is logged 201 cut_at_stop, and its entry is in the log after a restart', async () => {
    const { lines, logger } = capture();
    const rounds = heldRounds();
    const server = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0, shutdownGraceMs: 200, logger, wrapStore: rounds.wrapStore });
    rounds.hold();
    const url = new URL(server.url);
    const client = connect(Number(url.port), '127.0.0.1');
    let received = '';
    client.setEncoding('latin1');
    client.on('data', (d: string) => (received += d));
    const closed = new Promise<string>((resolve) => {
      client.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      client.on('close', () => resolve('closed'));
    });
    client.write(`POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await rounds.reached;
    const closing = server.close();
    // Cut once the grace is over, the round still held: no answer came.
    await closed;
    expect(received).toBe('');
    const requests = () => lines.filter((l) => l.msg === REQUEST_MESSAGE).map((l) => l.fields);
    expect(requests()).toEqual([]);
    rounds.release();
    await closing;
    await until(() => requests().length >= 1, 'a log line for the submit');
    expect(requests()).toEqual([{ method: 'POST', route: '/v1/entries', status: 201, ms: expect.any(Number), cut_at_stop: true }]);
    const again = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0 });
    try {
      expect(again.log.latest().treeSize).toBe(1);
      expect(Buffer.from(await again.log.entry(0)).toString()).toBe(entry);
    } finally {
      await again.close();
    }
  });
});

/** A raw POST of `entry` to /v1/entries. */
function post(entry: string): string {
  return `POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${Buffer.byteLength(entry)}\r\n\r\n${entry}`;
}

// Keep-alive connections at a stop: an answer sent once close() began says
// Connection: close, so a client sends nothing more on that connection, and
// a request that arrives on one before it closes is answered, not cut. Before,
// answers went on saying keep-alive through the grace, and its cut ended
// the requests then in progress: clients saw EOF for entries that were logged.
describe('close() with keep-alive connections', () => {
  test('an answer in progress when close() begins says Connection: close, and its connection closes after it', async () => {
    const rounds = heldRounds();
    const server = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0, shutdownGraceMs: 60_000, wrapStore: rounds.wrapStore });
    rounds.hold();
    const conn = await RawConnection.open(Number(new URL(server.url).port));
    conn.write(post('in progress at the stop'));
    await rounds.reached;
    const closing = server.close();
    rounds.release();
    const answer = await conn.next();
    expect(answer).toMatchObject({ status: 201, headers: { connection: 'close' } });
    expect(await conn.closed()).toBe(true);
    await closing;
  });

  test('a request sent on an idle keep-alive connection after close() began is answered with Connection: close, and its entry logged', async () => {
    const server = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0, shutdownGraceMs: 60_000, stopQuietMs: 60_000 });
    const answered = new Promise<void>((resolve) => server.server.once('request', (_req, res) => res.once('close', () => resolve())));
    const conn = await RawConnection.open(Number(new URL(server.url).port));
    conn.write('GET /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await conn.next()).toMatchObject({ status: 200, headers: { connection: 'keep-alive' } });
    // Idle at the server, its answer done, when the stop begins.
    await answered;
    const closing = server.close();
    conn.write(post('sent after the stop began'));
    const answer = await conn.next();
    expect(answer).toMatchObject({ status: 201, headers: { connection: 'close' } });
    expect(await conn.closed()).toBe(true);
    await closing;
    const again = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0 });
    try {
      expect(again.log.latest().treeSize).toBe(1);
      expect(Buffer.from(await again.log.entry(0)).toString()).toBe('sent after the stop began');
    } finally {
      await again.close();
    }
  });

  test('requests pipelined behind one in progress at the stop are all answered, the last with Connection: close', async () => {
    const rounds = heldRounds();
    const server = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0, shutdownGraceMs: 60_000, wrapStore: rounds.wrapStore });
    const arrived: string[] = [];
    server.server.on('request', (req) => arrived.push(String(req.url)));
    rounds.hold();
    const conn = await RawConnection.open(Number(new URL(server.url).port));
    conn.write(post('first'));
    await rounds.reached;
    const closing = server.close();
    conn.write('GET /v1/log HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => arrived.length === 2, 'the pipelined request at the server');
    rounds.release();
    expect(await conn.next()).toMatchObject({ status: 201, headers: { connection: 'keep-alive' } });
    expect(await conn.next()).toMatchObject({ status: 200, headers: { connection: 'close' } });
    expect(await conn.closed()).toBe(true);
    await closing;
  });
});
