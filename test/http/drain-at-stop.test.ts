// StopDrain on a bare node server: once the stop began, an answer that says
// Connection: close ends what its connection serves.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { StopDrain } from '../../src/http/drain-at-stop.js';
import { RawConnection } from '../helpers/raw-http.js';

let server: Server;

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('a request read after an answer that closes its connection is not served: that answer is the last', async () => {
  server = createServer();
  const drain = new StopDrain(server, { quietMs: 60_000 });
  const served: string[] = [];
  let slow!: ServerResponse;
  let headWritten!: () => void;
  const written = new Promise<void>((resolve) => (headWritten = resolve));
  server.on(
    'request',
    drain.guard((req, res) => {
      served.push(String(req.url));
      if (req.url === '/slow') {
        // Its head goes out at once, its body only when the test says.
        res.writeHead(200, { 'Content-Length': 4 });
        res.write('sl');
        slow = res;
        headWritten();
      } else {
        res.end('ok');
      }
    }),
  );
  let afterRead!: () => void;
  const after = new Promise<void>((resolve) => (afterRead = resolve));
  server.on('request', (req) => {
    if (req.url === '/after') afterRead();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const conn = await RawConnection.open((server.address() as AddressInfo).port);
  drain.begin();
  conn.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
  await written;
  conn.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
  // Read by the server (each request is told to every listener, this test's too).
  await after;
  slow.end('ow');
  expect(await conn.next()).toMatchObject({ status: 200, headers: { connection: 'close' }, body: 'slow' });
  expect(await conn.next()).toBe('closed');
  expect(served).toEqual(['/slow']);
});

test('of requests pipelined and all in progress as the stop begins, the answer to the last says Connection: close, the others keep-alive', async () => {
  server = createServer();
  const drain = new StopDrain(server, { quietMs: 60_000 });
  const held: ServerResponse[] = [];
  let bothReached!: () => void;
  const reached = new Promise<void>((resolve) => (bothReached = resolve));
  server.on(
    'request',
    drain.guard((_req, res) => {
      held.push(res);
      if (held.length === 2) bothReached();
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const conn = await RawConnection.open((server.address() as AddressInfo).port);
  conn.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n');
  await reached;
  drain.begin();
  held[0]!.end('one');
  expect(await conn.next()).toMatchObject({ status: 200, headers: { connection: 'keep-alive' }, body: 'one' });
  held[1]!.end('two');
  expect(await conn.next()).toMatchObject({ status: 200, headers: { connection: 'close' }, body: 'two' });
  expect(await conn.closed()).toBe(true);
});

test('once the stop began, a connection that stays quiet is closed, and one with a request in progress is not', async () => {
  server = createServer();
  const drain = new StopDrain(server, { quietMs: 10 });
  let held: ServerResponse | undefined;
  let reached!: () => void;
  const heldReached = new Promise<void>((resolve) => (reached = resolve));
  server.on(
    'request',
    drain.guard((_req, res) => {
      held = res;
      reached();
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const idle = await RawConnection.open(port);
  const busy = await RawConnection.open(port);
  busy.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await heldReached;
  drain.begin();
  expect(await idle.closed()).toBe(true);
  // The busy one is still open: its answer comes, and says Connection: close.
  held!.end('done');
  expect(await busy.next()).toMatchObject({ status: 200, headers: { connection: 'close' }, body: 'done' });
  expect(await busy.closed()).toBe(true);
});

test('quiet time before the stop counts: a connection idle that long is closed as the stop begins, one idle for less waits', async () => {
  server = createServer();
  let now = 0;
  const drain = new StopDrain(server, { quietMs: 60_000, now: () => now });
  server.on('request', drain.guard((_req, res) => res.end('ok')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const long = await RawConnection.open(port);
  long.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  expect(await long.next()).toMatchObject({ status: 200, headers: { connection: 'keep-alive' } });
  now = 60_000;
  const recent = await RawConnection.open(port);
  recent.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  expect(await recent.next()).toMatchObject({ status: 200, headers: { connection: 'keep-alive' } });
  // Both answers done at the server (its 'close' of each response comes a turn after the client has them).
  await new Promise((resolve) => setImmediate(resolve));
  now = 60_000 + 59_999;
  drain.begin();
  expect(await long.closed()).toBe(true);
  // The recent one is still open, and served.
  recent.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  expect(await recent.next()).toMatchObject({ status: 200, headers: { connection: 'close' } });
  expect(await recent.closed()).toBe(true);
});

test('a quiet connection with nothing unread or being written is closed outright at the stop, not left lingering for a client that keeps its side open', async () => {
  server = createServer();
  const drain = new StopDrain(server, { quietMs: 10 });
  server.on('request', drain.guard((_req, res) => res.end('ok')));
  let accepted!: Socket;
  server.on('connection', (socket: Socket) => (accepted = socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // A client that never closes its side: it does not end when the server ends.
  const client = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', () => undefined);
  let read = '';
  client.on('data', (d: Buffer) => (read += d.toString('latin1')));
  await once(client, 'connect');
  client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  while (!read.endsWith('ok')) await once(client, 'data');
  // Its answer done at the server (the response's 'close' comes a turn after the client has it).
  await new Promise((resolve) => setImmediate(resolve));
  drain.begin();
  await once(client, 'end');
  // The server's side was destroyed as it was shut, not lingering (closeGently's
  // 2 s) for a client that will not close: a stop is not held by it.
  expect(accepted.destroyed).toBe(true);
  expect(read).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*Connection: keep-alive\r\n[^]*ok$/);
  client.destroy();
});
