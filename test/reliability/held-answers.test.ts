// A client that pipelines entry-bundle requests and never reads the answers
// cannot make the server hold them without bound, nor keep others from being
// served: one connection holds one large answer at a time and one client two
// (AnswerBudget, src/http/answer-budget.ts), past its bound a bundle is
// refused 503 QUEUE_FULL instead of held, and a connection whose answers go
// unread for the stall time (PipelineLimit, src/http/pipelining.ts) is
// closed, freeing them; a client that reads its pipelined answers gets them
// all, a slow reader that makes progress is not cut for stalling, nor for how
// long its answer is held unless that keeps others waiting past its limit
// (AnswerBudget.heldTooLong, wired as the server does), and a lost client
// frees its share and what waited. The stall checks run when the test says,
// and the budget's clock reads what the test sets (no clock), on a log of full bundles of 16 MiB under the server's own bound
// (64 MiB: three of them fit): more than loopback's socket buffers take, so
// an answer not read is never written out in full. Each connection is a
// client of its own, unless a test names its client (all come from
// 127.0.0.1).
import { createServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AnswerBudget, DEFAULT_MAX_ANSWER_BYTES, MIN_ANSWER_READ_RATE } from '../../src/http/answer-budget.js';
import { createApp } from '../../src/http/app.js';
import { PipelineLimit, STALL_MS } from '../../src/http/pipelining.js';
import { MAX_ENTRY_SIZE } from '../../src/log/log.js';
import { listenLocally, listenOn, type LocalServer } from '../helpers/local-server.js';
import { RawConnection, type RawResponse } from '../helpers/raw-http.js';
import { openHarness, type Harness } from './helpers.js';

/** A full bundle of entries of the largest size: 16 MiB. */
const BUNDLE_BYTES = 256 * (2 + MAX_ENTRY_SIZE);
const BUNDLE = '/tile/entries/000';
const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

/** What the budget's clock reads (ms): it moves only when a test moves it. */
let clock = 0;
const HOUR = 3_600_000;

/** The client of a connection by its port on this side, where a test names it. */
const clientNames = new Map<number, string>();

/**
 * An AnswerBudget that tells when each read it let through has settled
 * (held, refused or failed, or given up waiting); its clients are the
 * connections, but for those {@link clientNames} names.
 */
class WatchedBudget extends AnswerBudget {
  settled = 0;
  constructor(limit: number) {
    super(limit, { clientOf: (socket) => clientNames.get(socket.remotePort ?? 0) ?? `port ${socket.remotePort}`, now: () => clock });
  }
  #wake: (() => void) | undefined;
  override async reading<T>(res: ServerResponse, read: () => Promise<T>): Promise<T> {
    try {
      return await super.reading(res, read);
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
/** Connections closed for an answer held too long while it kept others waiting. */
let overdue: number;
/** How many times the stall checks were started, and whether they run now. */
let starts: number;
let checking: () => boolean;
/** What the PipelineLimit is told when it asks whether to close a stalled connection. */
let mayClose: boolean;
let expected: Buffer;

beforeAll(async () => {
  // Room for three bundles, not four.
  budget = new WatchedBudget(DEFAULT_MAX_ANSWER_BYTES);
  expect(Math.floor(DEFAULT_MAX_ANSWER_BYTES / BUNDLE_BYTES)).toBe(3);
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
  overdue = 0;
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
    // As the server wires it.
    closeOverdue: (socket) => budget.heldTooLong(socket, STALL_MS),
    onOverdue: () => (overdue += 1),
  });
  server.on('connection', (socket: Socket) => sockets.push(socket));
  server.on('request', limit.guard(h.app));
  local = await listenOn(server);
  port = local.port;
});
afterEach(async () => {
  await local.close();
  clientNames.clear();
  // Whatever a test left: nothing held, waiting, or known of its clients.
  await until(() => budget.inUse === 0 && budget.waiting === 0 && budget.clients === 0);
});

/**
 * Resolves once `done()` holds, looking again after each turn of the event
 * loop; throws if it does not within 20 s (far more than any step here
 * needs: so that a test that fails does not spin on for ever).
 */
async function until(done: () => boolean): Promise<void> {
  const start = performance.now();
  for (let turns = 1; !done(); turns++) {
    if (turns % 1000 === 0 && performance.now() - start > 20_000) throw new Error(`still waiting after 20 s for: ${done.toString()}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Resolves once `socket` has closed and what closing it sets off has run. */
async function closed(socket: Socket): Promise<void> {
  // Not events.once: the socket may emit 'error' first (a reset), which would reject it.
  if (!socket.destroyed) await new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

/** Resolves once nothing is held (the server learns that its last answer was handed to the kernel after the client may have read it). */
async function released(): Promise<void> {
  await until(() => budget.inUse === 0);
}

/** A connection of client `client` (by default, one of its own). */
async function open(client?: string): Promise<RawConnection> {
  const conn = await RawConnection.open(port);
  if (client !== undefined) clientNames.set(conn.socket.localPort!, client);
  return conn;
}

/**
 * A connection (of client `client`) that pipelined `n` bundle requests,
 * once the server has read (and held or refused) the first and the others
 * wait their turn; or, as it did before they had to, read all of them (for
 * the tests to fail on what they check, not here).
 */
async function pipelined(n: number, client?: string): Promise<RawConnection> {
  const conn = await open(client);
  await asked(conn, n);
  return conn;
}

/** Sends `n` bundle requests on `conn`, and resolves once the server has read the first and the others wait (or it read all). */
async function asked(conn: RawConnection, n: number): Promise<void> {
  const [settled, waiting] = [budget.settled, budget.waiting];
  conn.write(Array.from({ length: n }, () => get(BUNDLE)).join(''));
  await until(() => (budget.settled === settled + 1 && budget.waiting === waiting + n - 1) || budget.settled === settled + n);
}

/** Sends a bundle request on `conn` of a client whose turns are all taken, and resolves once it waits (or, as before, was read). */
async function waits(conn: RawConnection): Promise<void> {
  const [settled, waiting] = [budget.settled, budget.waiting];
  conn.write(get(BUNDLE));
  await until(() => budget.waiting === waiting + 1 || budget.settled === settled + 1);
}

/** Lets `conn` read until the server has handed the kernel more of the answer on `serverSide` (or all of it), then stops it reading. */
async function progress(conn: RawConnection, serverSide: Socket): Promise<void> {
  const sent = () => serverSide.bytesWritten - serverSide.writableLength;
  const before = sent();
  conn.socket.resume();
  await until(() => sent() !== before || serverSide.writableLength === 0);
  conn.socket.pause();
}

/** Reads the next answer of `conn`: a whole full bundle. */
async function bundle(conn: RawConnection): Promise<void> {
  const answer = (await conn.next()) as RawResponse;
  expect(answer.status).toBe(200);
  expect(Buffer.from(answer.body, 'latin1').equals(expected)).toBe(true);
}

test('one connection holds one large answer at a time: a client that pipelines 4 full bundles and reads none holds one, and another client is served', async () => {
  const staller = await pipelined(4);
  try {
    // Before, the staller held three (all the bound takes), and this was 503 until its connection was closed 60 to 75 s later.
    const other = await open();
    other.write(get(BUNDLE));
    await bundle(other);
    other.destroy();
    expect([budget.inUse, budget.waiting]).toEqual([BUNDLE_BYTES, 3]);
  } finally {
    staller.destroy();
  }
});

test('a client that pipelines bundle requests and reads the answers gets every one, 200 and in order, however many would not fit at once', async () => {
  const widths = [256, 255, 254, 253, 252, 251];
  // What earlier tests' connections held is given back when they close.
  while (budget.inUse > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  budget.resetPeak();
  const conn = await open();
  try {
    conn.write(widths.map((w) => get(w === 256 ? BUNDLE : `${BUNDLE}.p/${w}`)).join(''));
    for (const w of widths) {
      const answer = (await conn.next()) as RawResponse;
      expect(answer.status).toBe(200);
      expect(Buffer.from(answer.body, 'latin1').equals(expected.subarray(0, w * (2 + MAX_ENTRY_SIZE)))).toBe(true);
    }
    // One answer held at a time.
    expect(budget.peak).toBeLessThanOrEqual(BUNDLE_BYTES);
  } finally {
    conn.destroy();
  }
});

test('one client holds at most two large answers at once, over all its connections: another client is served, and its third waits its turn, unread', async () => {
  const stallers = [await pipelined(1, 'staller'), await pipelined(1, 'staller'), await open('staller')];
  try {
    await waits(stallers[2]!);
    // Before, the staller's third was held too, and this was 503.
    const other = await open();
    other.write(get(BUNDLE));
    await bundle(other);
    other.destroy();
    expect([budget.inUse, budget.waiting]).toEqual([2 * BUNDLE_BYTES, 1]);
    // Once the staller reads one of its answers, its third is read, and served.
    await bundle(stallers[0]!);
    await bundle(stallers[2]!);
    expect(budget.waiting).toBe(0);
  } finally {
    for (const conn of stallers) conn.destroy();
  }
});

test('past the bound a bundle is refused 503 QUEUE_FULL with Retry-After, not held; once the answers are read, bundles are held again', async () => {
  const holders = [await pipelined(1), await pipelined(1), await pipelined(1)];
  try {
    expect(budget.inUse).toBe(3 * BUNDLE_BYTES);
    const other = await open();
    other.write(get(BUNDLE));
    const busy = (await other.next()) as RawResponse;
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(busy.body)).toEqual({ error: expect.stringContaining('large answers'), code: 'QUEUE_FULL' });
    for (const conn of holders) await bundle(conn);
    await released();
    // The same connection, kept alive, is served again.
    other.write(get(BUNDLE));
    await bundle(other);
    other.destroy();
    expect(stalled).toBe(0);
  } finally {
    for (const conn of holders) conn.destroy();
  }
});

test('a bundle larger than the whole bound is served when nothing else is held', async () => {
  const small = new AnswerBudget(1000);
  const alone = await listenLocally(createApp({ log: h.log, verifierKey: 'unused', answerBudget: small }));
  const [first, second] = [await RawConnection.open(alone.port), await RawConnection.open(alone.port)];
  try {
    first.write(get(BUNDLE));
    await until(() => small.inUse === BUNDLE_BYTES);
    second.write(get(BUNDLE));
    expect(await second.next()).toMatchObject({ status: 503 });
    expect(await first.next()).toMatchObject({ status: 200, headers: expect.objectContaining({ 'content-length': String(BUNDLE_BYTES) }) });
    await until(() => small.inUse === 0);
    second.write(get(BUNDLE));
    expect(await second.next()).toMatchObject({ status: 200 });
  } finally {
    first.destroy();
    second.destroy();
    await alone.close();
  }
});

test('a client that never reads is disconnected after the stall time, and what its answers held is freed', async () => {
  const conn = await pipelined(3);
  const serverSide = sockets[0]!;
  try {
    expect([budget.inUse, budget.waiting]).toEqual([BUNDLE_BYTES, 2]);
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
    expect([budget.inUse, budget.waiting, budget.clients]).toEqual([0, 0, 0]);
    expect(await conn.closed()).toBe(true);
  } finally {
    conn.destroy();
  }
});

test('a slow client that keeps reading is not cut, however many checks pass, and gets every answer whole', async () => {
  const settled = budget.settled;
  const conn = await pipelined(2);
  const serverSide = sockets[0]!;
  const sent = () => serverSide.bytesWritten - serverSide.writableLength;
  const done = () => budget.settled === settled + 2 && budget.inUse === 0;
  // Over and over, until both answers are written: three checks without progress, then the client reads until the
  // server has written more (the kernel tells the server only once a good part of the client's receive buffer is
  // free: some MiB), then a check. Each answer is held until then, the second read once the first is written.
  let rounds = 0;
  while (!done()) {
    for (let i = 0; i < 3; i++) tick();
    const before = sent();
    conn.socket.resume();
    while (sent() === before && !done()) await new Promise((resolve) => setImmediate(resolve));
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

test('a client lost with an answer held and others waiting (which node never closes) frees its share, and what waited gives up unread', async () => {
  const conn = await pipelined(4);
  expect([budget.inUse, budget.waiting, budget.clients]).toEqual([BUNDLE_BYTES, 3, 1]);
  const settled = budget.settled;
  conn.destroy();
  await closed(sockets[0]!);
  expect([budget.inUse, budget.waiting, budget.clients]).toEqual([0, 0, 0]);
  // The three that waited gave up without a read (each settles as refused), and nothing was logged as read for them.
  expect(budget.settled).toBe(settled + 3);
  expect(stalled).toBe(0);
});

test('a client lost while one of its connections waits for its client\'s turn: nothing is left waiting, and its turns pass on', async () => {
  const holders = [await pipelined(1, 'a'), await pipelined(1, 'a')];
  const waiter = await open('a');
  await waits(waiter);
  expect(budget.waiting).toBe(1);
  waiter.destroy();
  await closed(sockets[2]!);
  expect([budget.inUse, budget.waiting, budget.clients]).toEqual([2 * BUNDLE_BYTES, 0, 1]);
  // Another connection of the same client waits, and is served once one of the two is read.
  const next = await open('a');
  try {
    await waits(next);
    expect(budget.waiting).toBe(1);
    await bundle(holders[0]!);
    await bundle(next);
  } finally {
    for (const conn of [...holders, next]) conn.destroy();
  }
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
    expect([budget.inUse, budget.waiting]).toEqual([BUNDLE_BYTES, 1]);
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

test('a slow client that keeps reading is not cut for how long its answer is held while nobody waits, even hours past its limit, and gets it whole', async () => {
  clock += 10 * HOUR;
  const conn = await pipelined(1);
  const serverSide = sockets[0]!;
  try {
    expect(budget.inUse).toBe(BUNDLE_BYTES);
    clock += HOUR;
    for (let i = 0; i < 3; i++) {
      tick();
      await progress(conn, serverSide);
    }
    tick();
    expect([serverSide.destroyed, stalled, overdue]).toEqual([false, 0, 0]);
    await bundle(conn);
  } finally {
    conn.destroy();
  }
});

test('a slow client that keeps reading, while others are refused, is cut at the first check past its limit (the stall time plus its size at MIN_ANSWER_READ_RATE), not before; the others are then served', async () => {
  // Only this rule may cut here: the two that read nothing would otherwise be cut for stalling.
  mayClose = false;
  clock += 10 * HOUR;
  const start = clock;
  const limit = STALL_MS + (BUNDLE_BYTES / MIN_ANSWER_READ_RATE) * 1000;
  const slow = await pipelined(1);
  const slowSide = sockets[0]!;
  // Two more, held 100 s later, fill the bound: a third is refused.
  clock += 100_000;
  const holders = [await pipelined(1), await pipelined(1)];
  const other = await open();
  try {
    other.write(get(BUNDLE));
    expect(await other.next()).toMatchObject({ status: 503 });
    clock = start + limit;
    // The one refused asks again, as Retry-After: 1 tells it: refused again, it keeps the rule's condition fresh.
    other.write(get(BUNDLE));
    expect(await other.next()).toMatchObject({ status: 503 });
    tick();
    await progress(slow, slowSide);
    tick();
    expect([slowSide.destroyed, overdue]).toEqual([false, 0]);
    // Past its limit: closed, however much the kernel just took of it.
    clock += 1;
    await progress(slow, slowSide);
    tick();
    expect(overdue).toBe(1);
    await closed(slowSide);
    expect(await slow.closed()).toBe(true);
    // The others, held 100 s less, are not; and what the slow one held is served to the one refused.
    expect(sockets.filter((socket) => socket.destroyed)).toEqual([slowSide]);
    expect(budget.inUse).toBe(2 * BUNDLE_BYTES);
    other.write(get(BUNDLE));
    await bundle(other);
    tick();
    expect([overdue, stalled]).toEqual([1, 0]);
  } finally {
    for (const conn of [slow, ...holders, other]) conn.destroy();
  }
});
