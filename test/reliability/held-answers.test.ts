// A client that pipelines entry-bundle requests and never reads the answers
// cannot make the server hold them without bound: past AnswerBudget's bound
// (src/http/answer-budget.ts) a bundle is refused 503 QUEUE_FULL instead of
// held, and a connection whose answers go unread for the stall time
// (PipelineLimit, src/http/pipelining.ts) is closed, freeing them; a slow
// reader that makes progress is not cut, and a lost client frees its share.
// The stall checks run when the test says (no clock), on a log of full
// bundles of 16 MiB: more than loopback's socket buffers take, so an answer
// not read is never written out in full.
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { AnswerBudget } from '../../src/http/answer-budget.js';
import { createApp } from '../../src/http/app.js';
import { PipelineLimit } from '../../src/http/pipelining.js';
import { MAX_ENTRY_SIZE } from '../../src/log/log.js';
import { listenLocally, listenOn, type LocalServer } from '../helpers/local-server.js';
import { RawConnection, type RawResponse } from '../helpers/raw-http.js';
import { openHarness, type Harness } from './helpers.js';

/** A full bundle of entries of the largest size: 16 MiB. */
const BUNDLE_BYTES = 256 * (2 + MAX_ENTRY_SIZE);
const BUNDLE = '/tile/entries/000';
const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

/**
 * An AnswerBudget that tells when each read it let through has settled
 * (held, refused or failed); one read at a time, so that the requests of a
 * connection are held in their order.
 */
class WatchedBudget extends AnswerBudget {
  settled = 0;
  constructor(limit: number) {
    super(limit, { maxReads: 1 });
  }
  #wake: (() => void) | undefined;
  override async reading<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await super.reading(read);
    } finally {
      this.settled += 1;
      this.#wake?.();
    }
  }
  /** Resolves once `n` reads have settled. */
  async settledAt(n: number): Promise<void> {
    while (this.settled < n) await new Promise<void>((resolve) => (this.#wake = resolve));
  }
}

let h: Harness;
/** What the app logged (the request lines among them). */
const requests: Record<string, unknown>[] = [];
let budget: WatchedBudget;
let local: LocalServer;
let port: number;
/** The server's ends of the connections, in the order they opened. */
let sockets: Socket[];
/** Runs one round of stall checks (none while no connection has requests in progress). */
let tick: () => void;
let stalled: number;
/** How many times the stall checks were started, and whether they run now. */
let starts: number;
let checking: () => boolean;
/** What the PipelineLimit is told when it asks whether to close a stalled connection. */
let mayClose: boolean;
let expected: Buffer;

beforeAll(async () => {
  // Room for two bundles, not three.
  budget = new WatchedBudget(Math.floor(2.5 * BUNDLE_BYTES));
  const logged = (message: string, fields?: Record<string, unknown>) => requests.push({ message, ...fields });
  h = await openHarness({}, { answerBudget: budget, logger: { info: logged, warn: logged, error: logged } });
  const entries = Array.from({ length: 256 }, (_, i) => new Uint8Array(MAX_ENTRY_SIZE).fill(i));
  await h.log.submit(entries);
  expected = Buffer.concat(entries.map((e) => Buffer.concat([Buffer.from([e.length >> 8, e.length & 0xff]), e])));
  expect(expected.length).toBe(BUNDLE_BYTES);
});
afterAll(() => h.close());

beforeEach(async () => {
  let check: (() => void) | undefined;
  tick = () => check?.();
  checking = () => check !== undefined;
  starts = 0;
  stalled = 0;
  mayClose = true;
  sockets = [];
  const server = createServer();
  const limit = new PipelineLimit(server, {
    every: (run) => {
      starts += 1;
      check = run;
      return () => (check = undefined);
    },
    closeStalled: () => mayClose,
    onStalled: () => (stalled += 1),
  });
  server.on('connection', (socket: Socket) => sockets.push(socket));
  server.on('request', limit.guard(h.app));
  local = await listenOn(server);
  port = local.port;
});
afterEach(() => local.close());

/** Resolves once `socket` has closed and what closing it sets off has run. */
async function closed(socket: Socket): Promise<void> {
  // Not events.once: the socket may emit 'error' first (a reset), which would reject it.
  if (!socket.destroyed) await new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

/** Resolves once nothing is held (the server learns that its last answer was handed to the kernel after the client may have read it). */
async function released(): Promise<void> {
  while (budget.inUse > 0) await new Promise((resolve) => setImmediate(resolve));
}

/** A connection that pipelined `n` bundle requests, once the server has read (and held or refused) all of them. */
async function pipelined(n: number): Promise<RawConnection> {
  const before = budget.settled;
  const conn = await RawConnection.open(port);
  conn.write(Array.from({ length: n }, () => get(BUNDLE)).join(''));
  await budget.settledAt(before + n);
  return conn;
}

test('past the bound a bundle is refused 503 QUEUE_FULL with Retry-After, not held; once the answers are read, bundles are held again', async () => {
  const conn = await pipelined(4);
  try {
    expect(budget.inUse).toBe(2 * BUNDLE_BYTES);
    // Another client is refused too while the bound is full.
    const other = await RawConnection.open(port);
    other.write(get(BUNDLE));
    const busy = (await other.next()) as RawResponse;
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(busy.body)).toEqual({ error: expect.stringContaining('large answers'), code: 'QUEUE_FULL' });
    other.destroy();
    for (let i = 0; i < 2; i++) {
      const answer = (await conn.next()) as RawResponse;
      expect(answer.status).toBe(200);
      expect(Buffer.from(answer.body, 'latin1').equals(expected)).toBe(true);
    }
    for (let i = 0; i < 2; i++) expect(await conn.next()).toMatchObject({ status: 503, headers: expect.objectContaining({ 'retry-after': '1' }) });
    await released();
    // The same connection, kept alive, is served again.
    conn.write(get(BUNDLE));
    const again = (await conn.next()) as RawResponse;
    expect(again.status).toBe(200);
    expect(again.body.length).toBe(BUNDLE_BYTES);
    expect(stalled).toBe(0);
  } finally {
    conn.destroy();
  }
});

test('a bundle larger than the whole bound is served when nothing else is held', async () => {
  const small = new WatchedBudget(1000);
  const alone = await listenLocally(createApp({ log: h.log, verifierKey: 'unused', answerBudget: small }));
  const conn = await RawConnection.open(alone.port);
  try {
    conn.write(get(BUNDLE) + get(BUNDLE));
    await small.settledAt(2);
    expect(small.inUse).toBe(BUNDLE_BYTES);
    expect(await conn.next()).toMatchObject({ status: 200, headers: expect.objectContaining({ 'content-length': String(BUNDLE_BYTES) }) });
    expect(await conn.next()).toMatchObject({ status: 503 });
    conn.write(get(BUNDLE));
    expect(await conn.next()).toMatchObject({ status: 200 });
  } finally {
    conn.destroy();
    await alone.close();
  }
});

test('a client that never reads is disconnected after the stall time, and what its answers held is freed', async () => {
  const conn = await pipelined(3);
  const serverSide = sockets[0]!;
  try {
    expect(budget.inUse).toBe(2 * BUNDLE_BYTES);
    // The first check only notes where the connection stands: four more find no progress.
    for (let i = 0; i < 4; i++) tick();
    expect(serverSide.destroyed).toBe(false);
    // Until the socket buffers are full the server still writes; from then on nothing moves.
    for (let i = 0; !serverSide.destroyed; i++) {
      // 10 s: a kernel whose socket buffers take a whole 16 MiB answer (net.ipv4.tcp_wmem raised past 16 MiB) never stalls.
      if (i === 2000) throw new Error('the connection was never found stalled: do the socket buffers (net.ipv4.tcp_wmem) take a whole 16 MiB answer?');
      tick();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await closed(serverSide);
    expect(stalled).toBe(1);
    expect(budget.inUse).toBe(0);
    expect(await conn.closed()).toBe(true);
  } finally {
    conn.destroy();
  }
});

test('a slow client that keeps reading is not cut, however many checks pass, and gets every answer whole', async () => {
  const conn = await pipelined(2);
  const serverSide = sockets[0]!;
  const sent = () => serverSide.bytesWritten - serverSide.writableLength;
  // Over and over, until both answers are written: three checks without progress, then the client reads until the
  // server has written more (the kernel tells the server only once a good part of the client's receive buffer is
  // free: some MiB), then a check. Both answers are held until then.
  let rounds = 0;
  while (budget.inUse > 0) {
    for (let i = 0; i < 3; i++) tick();
    const before = sent();
    conn.socket.resume();
    while (sent() === before && budget.inUse > 0) await new Promise((resolve) => setImmediate(resolve));
    conn.socket.pause();
    tick();
    rounds++;
  }
  // Each round is a stall time's worth of checks; and the server saw progress within each answer (written in one
  // write, an answer would be seen progressing only once written out in full: one round each).
  expect(rounds).toBeGreaterThanOrEqual(3);
  expect(serverSide.destroyed).toBe(false);
  expect(stalled).toBe(0);
  try {
    // RawConnection's own reader saw every byte too.
    for (let i = 0; i < 2; i++) {
      const answer = (await conn.next()) as RawResponse;
      expect(answer.status).toBe(200);
      expect(Buffer.from(answer.body, 'latin1').equals(expected)).toBe(true);
    }
  } finally {
    conn.destroy();
  }
});

test('a client lost with answers held frees them all, those queued behind the first (which node never closes) too', async () => {
  const conn = await pipelined(2);
  expect(budget.inUse).toBe(2 * BUNDLE_BYTES);
  conn.destroy();
  await closed(sockets[0]!);
  expect(budget.inUse).toBe(0);
  expect(stalled).toBe(0);
});

test('the stall checks start with a connection\'s first request and stop at the first check that finds no connection open: a request adds nothing to start or stop', async () => {
  const conn = await RawConnection.open(port);
  try {
    expect(checking()).toBe(false);
    for (let i = 0; i < 3; i++) {
      conn.write(get('/checkpoint'));
      expect(await conn.next()).toMatchObject({ status: 200 });
    }
    expect([starts, checking()]).toEqual([1, true]);
    // An idle connection is still open: the checks go on (and find nothing to close).
    tick();
    expect([checking(), stalled]).toEqual([true, 0]);
  } finally {
    conn.destroy();
  }
  await closed(sockets[0]!);
  tick();
  expect(checking()).toBe(false);
  const again = await RawConnection.open(port);
  try {
    again.write(get('/checkpoint'));
    expect(await again.next()).toMatchObject({ status: 200 });
    expect([starts, checking()]).toEqual([2, true]);
  } finally {
    again.destroy();
  }
});

test('a client that goes away in the middle of a large answer: the request is logged once, as client_gone, and its share freed', async () => {
  const conn = await RawConnection.open(port);
  const before = requests.length;
  conn.write(get(BUNDLE));
  // Read about 1 MB of the 16 MiB answer, then hang up.
  let got = 0;
  conn.socket.on('data', (d: Buffer) => (got += d.length));
  conn.socket.resume();
  while (got < 1_000_000) await new Promise((resolve) => setImmediate(resolve));
  conn.destroy();
  await closed(sockets[0]!);
  await released();
  while (requests.length === before) await new Promise((resolve) => setTimeout(resolve, 5));
  const lines = requests.slice(before).filter((l) => l.message === 'request');
  expect(lines).toEqual([expect.objectContaining({ client_gone: true })]);
});

test('a stalled connection that closeStalled spares (the server: one whose answers keep nobody waiting) is not closed, however many checks pass', async () => {
  mayClose = false;
  const conn = await pipelined(2);
  const serverSide = sockets[0]!;
  try {
    // Long past the point where the test above finds it stalled: its buffers are full after a few hundred turns.
    for (let i = 0; i < 400; i++) {
      tick();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect([serverSide.destroyed, stalled]).toEqual([false, 0]);
    expect(budget.inUse).toBe(2 * BUNDLE_BYTES);
    // Once closing is allowed, the next stall time closes it.
    mayClose = true;
    for (let i = 0; i < 8 && !serverSide.destroyed; i++) tick();
    await closed(serverSide);
    expect(stalled).toBe(1);
    await released();
  } finally {
    conn.destroy();
  }
});
