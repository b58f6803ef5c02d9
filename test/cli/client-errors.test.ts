// Requests answered before they reach the app (src/http/client-error.ts: not
// HTTP/1.1, headers too large, too slow) are in neither the request log nor
// the request metrics: the server counts them in
// cairn_client_errors_total{reason} and logs them, the first at once, then at
// most one line per interval with the count and the latest address.
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { ClientErrorLog, CLIENT_ERRORS_MESSAGE } from '../../src/cli/client-errors.js';
import { startServer } from '../../src/cli/server.js';
import { capture, manualTime } from '../helpers/log-lines.js';
import { exchange } from '../helpers/raw-http.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-client-errors-');

/** The lines of the server's /metrics. */
const metricLines = async (url: string) => (await (await fetch(`${url}/metrics`)).text()).split('\n');

/** A counter like cairn_client_errors_total, in a registry of its own. */
function counter(): { counter: Counter<'reason'>; text: () => Promise<string> } {
  const registry = new Registry();
  const c = new Counter({ name: 'client_errors_total', help: 'test', labelNames: ['reason'] as const, registers: [registry] });
  return { counter: c, text: () => registry.metrics() };
}

test('the first is logged at once as a warning with its reason and address; those within the interval in one line after it, by reason', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const errors = new ClientErrorLog(logger, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  errors.seen('bad_request', '192.0.2.1');
  expect(lines).toEqual([{ level: 'warn', msg: CLIENT_ERRORS_MESSAGE, fields: { requests: 1, reasons: { bad_request: 1 }, remote: '192.0.2.1' } }]);
  time.advance(1000);
  errors.seen('request_timeout', '192.0.2.2');
  errors.seen('request_timeout', '192.0.2.3');
  errors.seen('headers_too_large');
  expect(lines).toHaveLength(1);
  time.advance(8999);
  expect(lines).toHaveLength(1);
  time.advance(1);
  expect(lines[1]).toEqual({ level: 'warn', msg: CLIENT_ERRORS_MESSAGE, fields: { requests: 3, reasons: { request_timeout: 2, headers_too_large: 1 }, seconds: 10 } });
  // Nothing more: no line, no timer.
  time.advance(60_000);
  expect(lines).toHaveLength(2);
  expect(time.pending()).toBe(0);
});

test('flush logs what is pending at once (the server stops); with nothing pending it logs nothing', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const errors = new ClientErrorLog(logger, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  errors.flush();
  expect(lines).toEqual([]);
  errors.seen('other');
  time.advance(2000);
  errors.seen('bad_request', '192.0.2.4');
  errors.flush();
  expect(lines.map((line) => line.fields)).toEqual([{ requests: 1, reasons: { other: 1 } }, { requests: 1, reasons: { bad_request: 1 }, seconds: 2, remote: '192.0.2.4' }]);
  expect(time.pending()).toBe(0);
});

test('those seen before the counter is given are counted in it then, and each after as it is seen', async () => {
  const { logger } = capture();
  const errors = new ClientErrorLog(logger);
  errors.seen('request_timeout');
  errors.seen('request_timeout');
  const { counter: c, text } = counter();
  errors.countInto(c);
  expect(await text()).toMatch(/^client_errors_total\{reason="request_timeout"\} 2$/m);
  errors.seen('bad_request');
  errors.seen('request_timeout');
  expect(await text()).toMatch(/^client_errors_total\{reason="request_timeout"\} 3$/m);
  expect(await text()).toMatch(/^client_errors_total\{reason="bad_request"\} 1$/m);
});

test('a served log lists every reason at 0 from the start, counts a request that is not HTTP/1.1 and one with headers too large, and logs them', async () => {
  const { lines, logger } = capture();
  const server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, logger });
  try {
    const fresh = await metricLines(server.url);
    for (const reason of ['bad_request', 'headers_too_large', 'request_timeout', 'other']) {
      expect(fresh).toContain(`cairn_client_errors_total{reason="${reason}"} 0`);
    }
    expect(await exchange(server.url, 'GET /ct/v1/get sth HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await exchange(server.url, `GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Long: ${'a'.repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    const counted = await metricLines(server.url);
    expect(counted).toContain('cairn_client_errors_total{reason="bad_request"} 1');
    expect(counted).toContain('cairn_client_errors_total{reason="headers_too_large"} 1');
    expect(counted).toContain('cairn_client_errors_total{reason="request_timeout"} 0');
  } finally {
    await server.close();
  }
  // The first at once; the second, within 10 s of it, as the server stops.
  expect(lines.filter((line) => line.msg === CLIENT_ERRORS_MESSAGE)).toEqual([
    { level: 'warn', msg: CLIENT_ERRORS_MESSAGE, fields: { requests: 1, reasons: { bad_request: 1 }, remote: '127.0.0.1' } },
    { level: 'warn', msg: CLIENT_ERRORS_MESSAGE, fields: { requests: 1, reasons: { headers_too_large: 1 }, seconds: expect.any(Number), remote: '127.0.0.1' } },
  ]);
});

test('a client that sends part of its headers and stalls is answered 408 once the header timeout is over, counted as request_timeout, and logged', async () => {
  const { lines, logger } = capture();
  const server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, logger, headersTimeoutMs: 200 });
  try {
    const answer = await exchange(server.url, 'GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Half: ');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(answer.split('\r\n\r\n')[1]!)).toEqual({ error: 'the request was not received in full in the time allowed', code: 'REQUEST_TIMEOUT' });
    const metrics = await metricLines(server.url);
    expect(metrics).toContain('cairn_client_errors_total{reason="request_timeout"} 1');
    expect(metrics).toContain('cairn_client_errors_total{reason="bad_request"} 0');
  } finally {
    await server.close();
  }
  expect(lines.filter((line) => line.msg === CLIENT_ERRORS_MESSAGE)).toEqual([
    { level: 'warn', msg: CLIENT_ERRORS_MESSAGE, fields: { requests: 1, reasons: { request_timeout: 1 }, remote: '127.0.0.1' } },
  ]);
});

test('by default a client has node\'s 60 s to send its headers; a header timeout out of range is refused before the server listens', async () => {
  const server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0 });
  try {
    expect(server.server.headersTimeout).toBe(60_000);
  } finally {
    await server.close();
  }
  for (const headersTimeoutMs of [0, 1.5, 300_001]) {
    await expect(startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, headersTimeoutMs })).rejects.toThrow(RangeError);
  }
});
