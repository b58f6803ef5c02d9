// StartupGate: requests that reach a server still starting wait for it, and
// are answered 503 if it cannot start.
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StartupGate } from '../../src/cli/startup-gate.js';

let server: Server;
let gate: StartupGate;
let port: number;

beforeEach(async () => {
  server = createServer();
  gate = new StartupGate(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Sends a request; resolves to the server's side of it once the server has it, and the client's answer (or error). */
async function send(path: string): Promise<{ serverSide: { req: IncomingMessage; res: ServerResponse }; answer: Promise<{ status: number; headers: IncomingMessage['headers']; body: string }>; cancel: () => void }> {
  const received = once(server, 'request') as Promise<[IncomingMessage, ServerResponse]>;
  const req = request({ host: '127.0.0.1', port, path, agent: false });
  const answer = new Promise<{ status: number; headers: IncomingMessage['headers']; body: string }>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
  });
  req.end();
  // The gate's listener was added first: once this one runs, the gate holds the request.
  const [serverReq, serverRes] = await received;
  return { serverSide: { req: serverReq, res: serverRes }, answer, cancel: () => req.destroy() };
}

test('requests wait for the handler, then it answers them in order, and later ones directly', async () => {
  const first = await send('/first');
  const second = await send('/second');
  const seen: string[] = [];
  gate.open((req, res) => {
    seen.push(req.url ?? '');
    res.end(`answered ${req.url}`);
  });
  expect(seen).toEqual(['/first', '/second']);
  expect((await first.answer).body).toBe('answered /first');
  expect((await second.answer).body).toBe('answered /second');
  const later = await send('/later');
  expect(await later.answer).toEqual(expect.objectContaining({ status: 200, body: 'answered /later' }));
});

test('a client that left while it waited is not handed on', async () => {
  const gone = await send('/gone');
  gone.answer.catch(() => undefined);
  const closed = once(gone.serverSide.res, 'close');
  gone.cancel();
  await closed;
  const staying = await send('/staying');
  const seen: string[] = [];
  gate.open((req, res) => {
    seen.push(req.url ?? '');
    res.end('ok');
  });
  expect(seen).toEqual(['/staying']);
  expect((await staying.answer).status).toBe(200);
});

test('a server that cannot start answers what waited, and anything later, 503 SHUTTING_DOWN as JSON, closing the connection', async () => {
  const waiting = await send('/v1/log');
  await gate.refuse();
  const answer = await waiting.answer;
  expect(answer.status).toBe(503);
  expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(answer.headers.connection).toBe('close');
  expect(JSON.parse(answer.body)).toEqual({ error: 'the server could not start', code: 'SHUTTING_DOWN' });
  const later = await send('/healthz');
  expect((await later.answer).status).toBe(503);
});
