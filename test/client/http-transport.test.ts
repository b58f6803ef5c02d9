// HttpTransport (src/client/http.ts) reads no more of an answer than it is
// willing to hold: a log (or anything posing as one) that answers without
// end gets a BAD_RESPONSE, not the client's memory.
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ClientError } from '../../src/client/errors.js';
import { HttpTransport, networkReason, type FetchLike } from '../../src/client/http.js';
import { clientFailure } from '../helpers/scripted-log.js';

const BASE = 'http://log.example';

/** A body of `chunk`-byte pieces without end (or `total` bytes), counting what was pulled and whether it was cancelled. */
function streamed(chunk: number, total = Number.POSITIVE_INFINITY) {
  const seen = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const n = Math.min(chunk, total - seen.pulled);
      if (n <= 0) return controller.close();
      seen.pulled += n;
      controller.enqueue(new Uint8Array(n).fill(0x20));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { stream, seen };
}

function transport(answer: () => Response, maxResponseBytes?: number): HttpTransport {
  const fetch: FetchLike = async () => answer();
  return new HttpTransport(BASE, { fetch, maxRetries: 0, ...(maxResponseBytes === undefined ? {} : { maxResponseBytes }) });
}

test('an answer up to the limit is read whole, as bytes and as JSON', async () => {
  const json = JSON.stringify({ tree_size: 5, padding: 'x'.repeat(1000) });
  const size = new TextEncoder().encode(json).length;
  const t = transport(() => new Response(json, { status: 200 }), size);
  expect(await t.json({ path: 'ct/v1/get-sth' })).toEqual(JSON.parse(json));
  expect((await t.bytes('tile/0/000')).length).toBe(size);
});

test('an answer that streams past the limit is refused with BAD_RESPONSE, and the rest is not read', async () => {
  let seen = { pulled: 0, cancelled: false };
  const t = transport(() => {
    const s = streamed(16 * 1024);
    seen = s.seen;
    return new Response(s.stream, { status: 200 });
  }, 1024 * 1024);
  const err = await clientFailure(t.bytes('tile/0/000'));
  expect(err.code).toBe('BAD_RESPONSE');
  expect(err.message).toContain('1048576 bytes');
  expect(seen.cancelled).toBe(true);
  expect(seen.pulled).toBeLessThanOrEqual(1024 * 1024 + 3 * 16 * 1024);

  const again = await clientFailure(t.json({ path: 'ct/v1/get-entries?start=0&end=999' }));
  expect(again.code).toBe('BAD_RESPONSE');
});

test('an answer that declares more than the limit is refused before its body is read', async () => {
  let seen = { pulled: 0, cancelled: false };
  const t = transport(() => {
    const s = streamed(1024, 10_000);
    seen = s.seen;
    return new Response(s.stream, { status: 200, headers: { 'Content-Length': '10000' } });
  }, 4096);
  const err = await clientFailure(t.bytes('tile/0/000'));
  expect(err.code).toBe('BAD_RESPONSE');
  expect(err.message).toContain('declares 10000 bytes');
  expect(seen.pulled).toBeLessThan(10_000);
});

test('an error answer without end still gives the status, reading only the start of its body', async () => {
  let seen = { pulled: 0, cancelled: false };
  const t = transport(() => {
    const s = streamed(4096);
    seen = s.seen;
    return new Response(s.stream, { status: 500 });
  });
  const err = await clientFailure(t.json({ path: 'ct/v1/get-sth' }));
  expect(err.code).toBe('HTTP_STATUS');
  expect(err.status).toBe(500);
  expect(seen.cancelled).toBe(true);
  expect(seen.pulled).toBeLessThanOrEqual(64 * 1024 + 3 * 4096);
});

test('maxResponseBytes must be a positive safe integer', () => {
  const fetch: FetchLike = async () => new Response('');
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    expect(() => new HttpTransport(BASE, { fetch, maxResponseBytes: bad })).toThrow(RangeError);
  }
});

test('a refused connection says so, with the reason fetch keeps in its cause, not only "fetch failed"', async () => {
  // A port that was free a moment ago: nothing listens on it now.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const http = new HttpTransport(`http://127.0.0.1:${port}`, { maxRetries: 0 });
  const err = await http.request({ path: 'checkpoint' }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ClientError);
  expect((err as ClientError).code).toBe('NETWORK');
  expect((err as ClientError).message).toBe(`GET http://127.0.0.1:${port}/checkpoint: fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`);
});

test('a failure\'s code is given when its message lacks it, and an AggregateError speaks through the errors it holds', () => {
  const unknownHost = Object.assign(new Error('getaddrinfo failed for log.invalid'), { code: 'ENOTFOUND' });
  expect(networkReason(new TypeError('fetch failed', { cause: unknownHost }))).toBe('fetch failed: ENOTFOUND: getaddrinfo failed for log.invalid');
  const both = Object.assign(new AggregateError([new Error('connect ECONNREFUSED ::1:80'), new Error('connect ECONNREFUSED 127.0.0.1:80')], ''), { code: 'ECONNREFUSED' });
  expect(networkReason(new TypeError('fetch failed', { cause: both }))).toBe('fetch failed: connect ECONNREFUSED ::1:80; connect ECONNREFUSED 127.0.0.1:80');
  expect(networkReason(new TypeError('fetch failed'))).toBe('fetch failed');
});
