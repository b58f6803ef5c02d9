// HttpTransport's timeout grows with a request's body when given
// uploadBytesPerSecond: timeoutMs, plus the time the body takes to send at
// that rate, so a large upload over a slow link is not cut off by a timeout
// meant for a small request. AbortSignal.timeout is stubbed: it records the
// delay asked for and gives a signal already timed out, and the fetch here
// fails with the reason of the signal it was given, so each request fails at
// once with the timer the transport made; the message says how long it was.
import { afterEach, beforeEach, jest } from '@jest/globals';
import { ClientError } from '../../src/client/errors.js';
import { HttpTransport, type FetchLike } from '../../src/client/http.js';

const BASE = 'http://log.example';

/** The delays given to AbortSignal.timeout, in order. */
let delays: number[];
beforeEach(() => {
  delays = [];
  jest.spyOn(AbortSignal, 'timeout').mockImplementation((ms: number) => {
    delays.push(ms);
    const controller = new AbortController();
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    return controller.signal;
  });
});
afterEach(() => {
  jest.restoreAllMocks();
});

/** A fetch that fails as its signal says: with the stub's, as a passed timeout does. */
const timingOut: FetchLike = (_url, init) => Promise.reject(init?.signal?.aborted === true ? (init.signal.reason as Error) : new Error('fetch given no timed-out signal'));

async function failure(promise: Promise<unknown>): Promise<ClientError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ClientError) return err;
    throw err;
  }
  throw new Error('resolved');
}

test('a request with a body gets timeoutMs and its upload time at uploadBytesPerSecond; one without, timeoutMs alone', async () => {
  const t = new HttpTransport(BASE, { fetch: timingOut, timeoutMs: 2000, uploadBytesPerSecond: 1000, maxRetries: 0 });
  const post = await failure(t.json({ method: 'POST', path: 'v1/batch', body: 'x'.repeat(4500), contentType: 'application/json' }));
  expect([post.code, post.message]).toEqual(['NETWORK', `POST ${BASE}/v1/batch: timed out after 6500 ms`]);
  const bytes = await failure(t.json({ method: 'POST', path: 'v1/entries', body: new Uint8Array(1), contentType: 'application/octet-stream' }));
  expect(bytes.message).toBe(`POST ${BASE}/v1/entries: timed out after 2001 ms`);
  const get = await failure(t.json({ path: 'checkpoint' }));
  expect(get.message).toBe(`GET ${BASE}/checkpoint: timed out after 2000 ms`);
  expect(delays).toEqual([6500, 2001, 2000]);
});

test('without uploadBytesPerSecond the timeout is timeoutMs (default 30 s) whatever the body', async () => {
  const t = new HttpTransport(BASE, { fetch: timingOut, maxRetries: 0 });
  const post = await failure(t.json({ method: 'POST', path: 'v1/batch', body: 'x'.repeat(1_000_000), contentType: 'application/json' }));
  expect(post.message).toBe(`POST ${BASE}/v1/batch: timed out after 30000 ms`);
  expect(delays).toEqual([30000]);
});

test('uploadBytesPerSecond must be positive and finite', () => {
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    expect(() => new HttpTransport(BASE, { uploadBytesPerSecond: bad, fetch: timingOut })).toThrow(new RangeError('uploadBytesPerSecond must be positive and finite'));
  }
});
