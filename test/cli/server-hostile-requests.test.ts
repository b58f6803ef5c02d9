// Requests node would answer itself, or read wrongly, from a server as
// `cairn serve` starts it (src/cli/server.ts, src/http/client-error.ts): an
// HTTP/1.1 request without Host, an Expect other than 100-continue, a request
// asking to switch protocols, and a request pipelined after one that closes
// the connection. Each is answered as every other request is (a JSON error
// with the headers every answer carries, logged and counted), or, for the
// last, not read at all.
import { once } from 'node:events';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { REQUEST_MESSAGE } from '../../src/log/logger.js';
import { leafHash } from '../../src/merkle/hash.js';
import { capture, type Line } from '../helpers/log-lines.js';
import { exchange } from '../helpers/raw-http.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-hostile-requests-');

let server: RunningServer;
let lines: Line[];
beforeEach(async () => {
  const captured = capture();
  lines = captured.lines;
  server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, logger: captured.logger });
});
afterEach(() => server.close());

/** Sends `bytes` on a connection of its own; resolves with what the server wrote before it closed. */
const raw = (bytes: string) => exchange(server.url, bytes);

/** The answers in `text`, split at each status line, as [head, body]. */
function answers(text: string): [string, string][] {
  return text
    .split(/(?=HTTP\/1\.[01] \d{3} )/)
    .filter((part) => part !== '')
    .map((part) => {
      const at = part.indexOf('\r\n\r\n');
      return [part.slice(0, at), part.slice(at + 4)];
    });
}

/** The lines of the server's /metrics. */
const metricLines = async () => (await (await fetch(`${server.url}/metrics`)).text()).split('\n');

/** Whether `entry` is logged. */
const logged = async (entry: string) => (await server.log.findLeaf(leafHash(new TextEncoder().encode(entry)))) !== undefined;

/** Checks `answer` is one JSON error of `status` and `code` with the headers every answer carries. */
function expectJsonError(answer: string, status: number, code: string): void {
  const all = answers(answer);
  expect(all).toHaveLength(1);
  const [head, body] = all[0]!;
  expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  expect(head).toMatch(/\r\nContent-Type: application\/json; charset=utf-8\r\n/);
  expect(head).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/);
  expect(head).toMatch(/\r\nCache-Control: no-store\r\n/);
  expect(JSON.parse(body)).toEqual({ error: expect.any(String), code });
}

test.each([
  ['GET /checkpoint (express)', 'GET /checkpoint HTTP/1.1\r\nConnection: close\r\n\r\n', 'no-host read'],
  ['POST /v1/entries (the fast path)', 'POST /v1/entries HTTP/1.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 12\r\nConnection: close\r\n\r\nno-host post', 'no-host post'],
])('an HTTP/1.1 request without Host, %s: 400 MALFORMED_REQUEST as a JSON error, logged and counted; nothing logged', async (_name, bytes, entry) => {
  expectJsonError(await raw(bytes), 400, 'MALFORMED_REQUEST');
  expect(await logged(entry)).toBe(false);
  expect(lines.filter((l) => l.msg === REQUEST_MESSAGE).map((l) => l.fields.status)).toEqual([400]);
  expect(await metricLines()).toContainEqual(expect.stringMatching(/^cairn_http_request_duration_seconds_count\{method="(GET|POST)",route="unmatched",status="400"\} 1$/));
});

test('an HTTP/1.0 request without Host is answered as before', async () => {
  const all = answers(await raw('GET /v1/log HTTP/1.0\r\n\r\n'));
  expect(all.map(([head]) => head.slice(0, 12))).toEqual(['HTTP/1.1 200']);
});

test.each([
  ['GET /checkpoint (express)', 'GET /checkpoint HTTP/1.1\r\nHost: x\r\nExpect: nope\r\nConnection: close\r\n\r\n', 'expect read'],
  ['POST /v1/entries (the fast path)', 'POST /v1/entries HTTP/1.1\r\nHost: x\r\nExpect: nope\r\nContent-Type: application/octet-stream\r\nContent-Length: 11\r\nConnection: close\r\n\r\nexpect post', 'expect post'],
])('an Expect other than 100-continue, %s: 417 EXPECTATION_FAILED as a JSON error, logged and counted; nothing logged', async (_name, bytes, entry) => {
  expectJsonError(await raw(bytes), 417, 'EXPECTATION_FAILED');
  expect(await logged(entry)).toBe(false);
  expect(lines.filter((l) => l.msg === REQUEST_MESSAGE).map((l) => l.fields.status)).toEqual([417]);
  expect(await metricLines()).toContainEqual(expect.stringMatching(/^cairn_http_request_duration_seconds_count\{method="(GET|POST)",route="unmatched",status="417"\} 1$/));
});

test('Expect: 100-continue on a body to be read: 100 Continue, then, once the body is sent, the answer', async () => {
  const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  let sawContinue: () => void = () => undefined;
  const continued = new Promise<void>((resolve) => (sawContinue = resolve));
  socket.on('data', (d: string) => {
    text += d;
    if (text.includes('\r\n\r\n')) sawContinue();
  });
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  socket.write('POST /v1/entries HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/octet-stream\r\nContent-Length: 8\r\nConnection: close\r\n\r\n');
  await continued;
  expect(text).toBe('HTTP/1.1 100 Continue\r\n\r\n');
  socket.write('continue');
  await closed;
  expect(answers(text).map(([head]) => head.slice(0, 12))).toEqual(['HTTP/1.1 100', 'HTTP/1.1 201']);
  expect(await logged('continue')).toBe(true);
});

test.each([
  ['another type (415)', 'text/plain', 1000, 415],
  ['a declared length over the limit (413)', 'application/octet-stream', 1_000_000, 413],
])('Expect: 100-continue on a body refused before it is read, %s: the refusal without 100 Continue, and the connection closed', async (_name, type, length, status) => {
  // Only the head: the client waits for 100 Continue before it sends the body.
  const all = answers(await raw(`POST /v1/entries HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\n\r\n`));
  expect(all.map(([head]) => head.slice(0, 12))).toEqual([`HTTP/1.1 ${status}`]);
  expect(all[0]![0]).toMatch(/\r\nConnection: close(\r\n|$)/);
});

test('an upload refused on its headers while its client waits for 100 Continue, the client then breaking the body off: in the request log once, counted as no bad request', async () => {
  const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write('POST /v1/entries HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n');
  while (!text.includes('\r\n\r\n{')) await once(socket, 'data');
  // As curl does on a refusal: a part of the body, then the connection ended mid-body.
  socket.end('x'.repeat(100));
  await once(socket, 'close');
  expect(answers(text).map(([head]) => head.slice(0, 12))).toEqual(['HTTP/1.1 415']);
  expect(lines.filter((l) => l.msg === REQUEST_MESSAGE).map((l) => [l.fields.route, l.fields.status])).toEqual([['/v1/entries', 415]]);
  expect((await metricLines()).filter((l) => l.startsWith('cairn_client_errors_total{reason="bad_request"}'))).toEqual(['cairn_client_errors_total{reason="bad_request"} 0']);
});

test('a request asking to switch protocols (curl --http2 over http): answered as one that does not ask, with Connection: close, and the request behind it not read', async () => {
  const all = answers(
    await raw(
      'GET /v1/log HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n' +
        'POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 6\r\n\r\nbehind',
    ),
  );
  expect(all).toHaveLength(1);
  expect(all[0]![0]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(all[0]![0]).toMatch(/\r\nConnection: close(\r\n|$)/);
  expect(JSON.parse(all[0]![1])).toHaveProperty('verifier_key');
  expect(await logged('behind')).toBe(false);
  expect(lines.filter((l) => l.msg === REQUEST_MESSAGE).map((l) => [l.fields.route, l.fields.status])).toEqual([['/v1/log', 200]]);
});

test('a request asking to switch protocols with a body (curl --http2 -d, Java\'s HttpClient): logged like any other, with Connection: close, counted as no bad request', async () => {
  const all = answers(await raw('POST /v1/entries HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Type: application/octet-stream\r\nContent-Length: 7\r\n\r\nupgrade'));
  expect(all).toHaveLength(1);
  expect(all[0]![0]).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
  expect(all[0]![0]).toMatch(/\r\nConnection: close(\r\n|$)/);
  expect(await logged('upgrade')).toBe(true);
  expect(lines.filter((l) => l.msg === REQUEST_MESSAGE).map((l) => [l.fields.route, l.fields.status])).toEqual([['/v1/entries', 201]]);
  expect((await metricLines()).filter((l) => l.startsWith('cairn_client_errors_total{reason="bad_request"}'))).toEqual(['cairn_client_errors_total{reason="bad_request"} 0']);
});

test('a request pipelined after Connection: close or HTTP/1.0 is not read: only the first is answered, and nothing is counted as a bad request', async () => {
  for (const first of ['GET /checkpoint HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'GET /checkpoint HTTP/1.0\r\n\r\n']) {
    const all = answers(await raw(`${first}GET /v1/log HTTP/1.1\r\nHost: x\r\n\r\n`));
    expect(all.map(([head]) => head.slice(0, 12))).toEqual(['HTTP/1.1 200']);
  }
  expect(await metricLines()).toContain('cairn_client_errors_total{reason="bad_request"} 0');
});
