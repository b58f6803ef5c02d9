// PipelineLimit (src/http/pipelining.ts): one connection may have at most
// `max` requests in progress; past that it is not read, and a request read
// past it anyway is refused 503 with the connection closed after it.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { MAX_REQUESTS_IN_PROGRESS, PipelineLimit } from '../../src/http/pipelining.js';
import { RawConnection, type RawResponse } from '../helpers/raw-http.js';

const MAX = 16;

/** A server whose handler holds the answers to `/hold/…` until `release()`, and answers anything else at once. */
class Harness {
  readonly server: Server = createServer();
  readonly held: ServerResponse[] = [];
  /** Paths the handler was called for, in order. */
  readonly handled: string[] = [];
  /** Paths of the requests refused 503, as guard's onRefused was told of them. */
  readonly refused: string[] = [];
  /** Paths of every request node parsed (the server's 'request' events), refused ones too. */
  readonly parsed: string[] = [];
  /** The server's ends of the connections, in the order they opened. */
  readonly sockets: Socket[] = [];
  /** The answer to `/stream`, once its handler has written 4 MiB of it. */
  stream: ServerResponse | undefined;
  #holding = new Set<() => void>();
  port = 0;

  constructor() {
    const limit = new PipelineLimit(this.server, { max: MAX });
    this.server.on('request', (req: IncomingMessage) => this.parsed.push(req.url ?? ''));
    this.server.on('connection', (socket: Socket) => this.sockets.push(socket));
    this.server.on(
      'request',
      limit.guard((req: IncomingMessage, res: ServerResponse) => {
        this.handled.push(req.url ?? '');
        if (req.url === '/stream') {
          // More than the socket buffers: node stops reading this connection until it drains.
          const body = Buffer.alloc(4 * 1024 * 1024, 'a');
          res.writeHead(200, { 'Content-Length': String(body.length + 1) });
          res.write(body);
          this.stream = res;
        }
        if (req.url?.startsWith('/hold/') === true || req.url === '/stream') {
          this.held.push(res);
          for (const wake of this.#holding) wake();
          return;
        }
        res.end(`answer to ${req.url}`);
      }, (req: IncomingMessage) => this.refused.push(req.url ?? '')),
    );
  }

  async listen(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Resolves once `n` answers are held. */
  async holding(n: number): Promise<void> {
    while (this.held.length < n) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#holding.delete(wake);
          resolve();
        };
        this.#holding.add(wake);
      });
    }
  }

  /** Answers every held request with its own path (and `padding`). */
  release(padding = ''): void {
    for (const res of this.held.splice(0)) if (!res.writableEnded) res.end(`answer to ${res.req.url}${padding}`);
  }

  /** One request on a fresh connection, answered. */
  async ask(path: string): Promise<RawResponse | 'closed'> {
    const other = await RawConnection.open(this.port);
    try {
      other.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      return await other.next();
    } finally {
      other.destroy();
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

let h: Harness;
beforeEach(async () => {
  h = new Harness();
  await h.listen();
});
afterEach(() => h.close());

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
/** `n` pipelined GETs of `${prefix}0` … `${prefix}${n - 1}`. */
const gets = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => get(`${prefix}${i}`)).join('');

/** Writes `text` on `conn`, resolving once it is handed to the kernel (on loopback: in the server's receive buffer). */
function written(conn: RawConnection, text: string): Promise<void> {
  return new Promise((resolve, reject) => conn.socket.write(text, (err) => (err ? reject(err) : resolve())));
}

/**
 * A connection that pipelined one request more than the server takes in
 * progress, once the server holds `MAX` of them; `reset()` is the socket
 * error it got so far (a reset), if any.
 */
async function overflowing(): Promise<{ conn: RawConnection; reset: () => Error | undefined }> {
  const conn = await RawConnection.open(h.port);
  let reset: Error | undefined;
  conn.socket.on('error', (err) => (reset = err));
  conn.write(gets('/hold/', MAX + 1));
  await h.holding(MAX);
  return { conn, reset: () => reset };
}

test('the default bound is 16 requests in progress per connection', () => {
  expect(MAX_REQUESTS_IN_PROGRESS).toBe(16);
  expect(() => new PipelineLimit(createServer(), { max: 0 })).toThrow(RangeError);
});

test('200 pipelined requests never read: only `max` are handled, the next is refused 503 with Connection: close after the answers before it, and other connections are answered meanwhile', async () => {
  const conn = await RawConnection.open(h.port);
  try {
    conn.write(gets('/hold/', 200));
    await h.holding(MAX);
    // Another connection is answered while this one holds its `max`.
    const other = await h.ask('/other');
    expect(other).toMatchObject({ status: 200, body: 'answer to /other' });
    expect(h.handled.filter((p) => p.startsWith('/hold/'))).toEqual(Array.from({ length: MAX }, (_, i) => `/hold/${i}`));
    h.release();
    for (let i = 0; i < MAX; i++) expect(await conn.next()).toMatchObject({ status: 200, body: `answer to /hold/${i}` });
    const refused = await conn.next();
    expect(refused).not.toBe('closed');
    const { status, headers, body } = refused as RawResponse;
    expect(status).toBe(503);
    expect(headers['connection']).toBe('close');
    expect(headers['retry-after']).toBe('1');
    expect(headers['content-type']).toBe('application/json; charset=utf-8');
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(JSON.parse(body)).toEqual({ error: expect.stringContaining('at most 16 pipelined'), code: 'QUEUE_FULL' });
    // Nothing after the refusal: the connection is closed, and no other request was handled.
    expect(await conn.next()).toBe('closed');
    expect(h.handled.filter((p) => p.startsWith('/hold/'))).toHaveLength(MAX);
    // The refused one is told of (for the metrics and the log), once: not those after it, never answered.
    expect(h.refused).toEqual([`/hold/${MAX}`]);
  } finally {
    conn.destroy();
  }
});

test('a request sent while `max` are in progress is not read until one is done: it is answered, not refused', async () => {
  const conn = await RawConnection.open(h.port);
  try {
    conn.write(gets('/hold/', MAX));
    await h.holding(MAX);
    conn.write(get('/later'));
    // A round trip on another connection: the server has had its chance to read it meanwhile.
    expect(await h.ask('/other')).toMatchObject({ status: 200 });
    expect(h.handled).not.toContain('/later');
    h.release();
    for (let i = 0; i < MAX; i++) expect(await conn.next()).toMatchObject({ status: 200, body: `answer to /hold/${i}` });
    expect(await conn.next()).toMatchObject({ status: 200, body: 'answer to /later' });
    // Still open and served.
    conn.write(get('/last'));
    expect(await conn.next()).toMatchObject({ status: 200, body: 'answer to /last' });
    expect(h.refused).toEqual([]);
  } finally {
    conn.destroy();
  }
});

test('node reading again once an answer drains does not undo the bound', async () => {
  const conn = await RawConnection.open(h.port);
  try {
    conn.write([get('/stream'), ...Array.from({ length: MAX - 1 }, (_, i) => get(`/hold/${i}`))].join(''));
    await h.holding(MAX);
    conn.write(get('/later'));
    // The client reads what /stream has written so far: the socket drains, and node reads again.
    const drained = once(h.stream!, 'drain');
    conn.socket.resume();
    await drained;
    expect(await h.ask('/other')).toMatchObject({ status: 200 });
    expect(h.handled).not.toContain('/later');
    h.stream!.end('!');
    h.release();
    expect(await conn.next()).toMatchObject({ status: 200, body: `${'a'.repeat(4 * 1024 * 1024)}!` });
    for (let i = 0; i < MAX - 1; i++) expect(await conn.next()).toMatchObject({ status: 200, body: `answer to /hold/${i}` });
    expect(await conn.next()).toMatchObject({ status: 200, body: 'answer to /later' });
  } finally {
    conn.destroy();
  }
});

test('a client that keeps `max` requests in flight is never refused', async () => {
  const conn = await RawConnection.open(h.port);
  try {
    const total = 300;
    let sent = 0;
    for (; sent < MAX; sent++) conn.write(get(`/p/${sent}`));
    for (let i = 0; i < total; i++) {
      expect(await conn.next()).toMatchObject({ status: 200, body: `answer to /p/${i}` });
      if (sent < total) conn.write(get(`/p/${sent++}`));
    }
  } finally {
    conn.destroy();
  }
});

test('a connection that closes with requests in progress leaves the others unaffected', async () => {
  const conn = await RawConnection.open(h.port);
  conn.write(gets('/hold/', 200));
  await h.holding(MAX);
  conn.destroy();
  h.held.splice(0);
  // A new connection pipelining `max` is handled in full.
  const next = await RawConnection.open(h.port);
  try {
    next.write(gets('/hold/n', MAX));
    await h.holding(MAX);
    h.release();
    for (let i = 0; i < MAX; i++) expect(await next.next()).toMatchObject({ status: 200, body: `answer to /hold/n${i}` });
  } finally {
    next.destroy();
  }
});

test('a client that keeps sending after the refused request, and reads only once the server has shut its side, gets every answer before the refusal and the 503, then the end of the stream (no reset)', async () => {
  const { conn, reset } = await overflowing();
  try {
    const serverSide = h.sockets[0]!;
    // Sent while the server does not read this connection: unread when the 503 has been written.
    await written(conn, gets('/after/', 500));
    // 16 × 32 KiB: more than the client's receive window, so part is still in the server's send buffer when it shuts its side.
    const padding = '.'.repeat(32 * 1024);
    h.release(padding);
    await once(serverSide, 'finish');
    for (let i = 0; i < MAX; i++) expect(await conn.next()).toMatchObject({ status: 200, body: `answer to /hold/${i}${padding}` });
    expect(await conn.next()).toMatchObject({ status: 503, headers: expect.objectContaining({ connection: 'close' }) });
    expect(await conn.next()).toBe('closed');
    expect(reset()).toBeUndefined();
    // What it sent after the refusal was read and thrown away, not parsed into requests.
    expect(h.parsed.filter((p) => p.startsWith('/after/'))).toEqual([]);
    expect(h.handled.filter((p) => !p.startsWith('/hold/'))).toEqual([]);
  } finally {
    conn.destroy();
  }
});

test('after the refusal, what the client goes on sending is discarded until it closes its side: the server\'s close then is clean', async () => {
  const { conn, reset } = await overflowing();
  try {
    h.release();
    for (let i = 0; i < MAX; i++) expect(await conn.next()).toMatchObject({ status: 200 });
    expect(await conn.next()).toMatchObject({ status: 503 });
    // The 503 is read, the server has half-closed; the client still sends (it had pipelined more), then ends.
    await written(conn, gets('/late/', 5000));
    conn.socket.end();
    expect(await conn.closed()).toBe(true);
    expect(reset()).toBeUndefined();
    // The server read all of it, up to the client's end of the stream, and then closed.
    const serverSide = h.sockets[0]!;
    if (!serverSide.destroyed) await once(serverSide, 'close');
    expect(serverSide.bytesRead).toBe(conn.socket.bytesWritten);
    expect(h.parsed.filter((p) => p.startsWith('/late/'))).toEqual([]);
  } finally {
    conn.destroy();
  }
});
