// HttpTransport (src/client/http.ts) reads no more of an answer than it is
// willing to hold: a log (or anything posing as one) that answers without
// end gets a BAD_RESPONSE, not the client's memory. A GET whose connection
// breaks is sent again, a POST never; its signal ends every request and wait.
import { getEventListeners, once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ClientError } from '../../src/client/errors.js';
import { HttpTransport, networkReason, type FetchLike } from '../../src/client/http.js';
import { clientFailure } from '../helpers/scripted-log.js';
import { EXPIRED_CERT, SELF_SIGNED_CERT, SERVER_CERT, SERVER_KEY, TEST_CA_CERT } from '../helpers/tls-certs.js';

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

test('a request with a cache mode that fetch refuses (a TypeError) is sent once more without it; one without a mode is not sent again', async () => {
  const modes: (RequestCache | undefined)[] = [];
  const refusing: FetchLike = async (_url, init) => {
    modes.push(init?.cache);
    if (init?.cache !== undefined) throw new TypeError(`Unsupported cache mode: ${init.cache}`);
    return new Response('tile', { status: 200 });
  };
  const http = new HttpTransport(BASE, { fetch: refusing, maxRetries: 0 });
  expect(new TextDecoder().decode(await http.bytes('tile/0/000', 'application/octet-stream', 10, undefined, undefined, 'reload'))).toBe('tile');
  expect(modes).toEqual(['reload', undefined]);
  // Refused without the mode too: that failure is the error, after the two tries.
  modes.length = 0;
  const failing = new HttpTransport(BASE, { fetch: async (url, init) => (modes.push(init?.cache), Promise.reject(new TypeError('fetch failed'))), maxRetries: 0 });
  expect(await failing.request({ path: 'tile/0/000', cache: 'reload' }).catch((e: unknown) => (e as Error).message)).toBe(`GET ${BASE}/tile/0/000: fetch failed`);
  expect(modes).toEqual(['reload', undefined]);
  modes.length = 0;
  await failing.request({ path: 'tile/0/000' }).catch(() => undefined);
  expect(modes).toEqual([undefined]);
});

test("a network failure (Node's TypeError with a cause) of a request with a cache mode is tried again with the mode, not without it", async () => {
  const modes: (RequestCache | undefined)[] = [];
  let calls = 0;
  const flaky: FetchLike = async (_url, init) => {
    modes.push(init?.cache);
    calls += 1;
    if (calls === 1) throw new TypeError('fetch failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    return new Response('checkpoint', { status: 200 });
  };
  const http = new HttpTransport(BASE, { fetch: flaky, maxRetries: 1, retryBaseDelayMs: 1 });
  expect(new TextDecoder().decode(await http.bytes('checkpoint', 'text/plain', 100, undefined, undefined, 'reload'))).toBe('checkpoint');
  expect(modes).toEqual(['reload', 'reload']);
});

test('an https:// URL of a server that speaks plain HTTP says so, not in OpenSSL\'s words', async () => {
  // Answers what comes (a TLS hello) with a plain HTTP error, as an HTTP server does.
  const plain = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
  });
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  const port = (plain.address() as AddressInfo).port;
  try {
    const err = await clientFailure(new HttpTransport(`https://127.0.0.1:${port}`, { maxRetries: 0 }).request({ path: 'checkpoint' }));
    expect([err.code, err.message]).toEqual([
      'NETWORK',
      `GET https://127.0.0.1:${port}/checkpoint: fetch failed: ERR_SSL_WRONG_VERSION_NUMBER: the server does not speak TLS: if it serves plain HTTP, use an http:// URL`,
    ]);
  } finally {
    await new Promise((resolve) => plain.close(resolve));
  }
});

/** What a GET of `/checkpoint` from an https server on 127.0.0.1 with certificate `cert` fails with, as a NETWORK error's message. */
async function certificateFailure(cert: string): Promise<string> {
  const server = createHttpsServer({ key: SERVER_KEY, cert }, (_req, res) => res.end('checkpoint'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  try {
    const err = await clientFailure(new HttpTransport(`https://localhost:${port}`, { maxRetries: 0 }).request({ path: 'checkpoint' }));
    expect(err.code).toBe('NETWORK');
    return err.message.replace(`https://localhost:${port}/`, 'https://localhost:PORT/');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

test('an https:// log whose TLS certificate is not trusted here says so and what to do, not in OpenSSL\'s words alone', async () => {
  // Issued by the test certificate authority, which this process does not trust.
  expect(await certificateFailure(SERVER_CERT)).toBe(
    'GET https://localhost:PORT/checkpoint: fetch failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE: the server\'s TLS certificate is not trusted here (unable to verify the first certificate): ' +
      "if a private certificate authority issued it (a proxy's own, say), give that authority's certificate, as a PEM file, in NODE_EXTRA_CA_CERTS; " +
      'if a public one did, the server may not be sending its intermediate certificates',
  );
  expect(await certificateFailure(SERVER_CERT + TEST_CA_CERT)).toMatch(/: SELF_SIGNED_CERT_IN_CHAIN: the server's TLS certificate is not trusted here \(self-signed certificate in certificate chain\): if a private certificate authority/);
  expect(await certificateFailure(SELF_SIGNED_CERT)).toBe(
    'GET https://localhost:PORT/checkpoint: fetch failed: DEPTH_ZERO_SELF_SIGNED_CERT: the server\'s TLS certificate is self-signed, so not trusted here (self-signed certificate): to trust it, give it, as a PEM file, in NODE_EXTRA_CA_CERTS',
  );
  expect(await certificateFailure(EXPIRED_CERT)).toBe(
    "GET https://localhost:PORT/checkpoint: fetch failed: CERT_HAS_EXPIRED: the server's TLS certificate has expired (certificate has expired), or this machine's clock is wrong",
  );
});

test("a TLS certificate for another host, or not valid yet, is named as the server's TLS certificate", () => {
  // Node's errors for them, as fetch's cause (a trusted authority's certificate is needed to meet the first, the clock to meet the second).
  const otherHost = Object.assign(new Error("Hostname/IP does not match certificate's altnames: Host: localhost. is not in the cert's altnames: DNS:log.example.com"), {
    code: 'ERR_TLS_CERT_ALTNAME_INVALID',
  });
  expect(networkReason(new TypeError('fetch failed', { cause: otherHost }))).toBe(
    "fetch failed: ERR_TLS_CERT_ALTNAME_INVALID: the server's TLS certificate is not for the host in the URL (Hostname/IP does not match certificate's altnames: Host: localhost. is not in the cert's altnames: DNS:log.example.com): use a host name the certificate names",
  );
  const early = Object.assign(new Error('certificate is not yet valid'), { code: 'CERT_NOT_YET_VALID' });
  expect(networkReason(new TypeError('fetch failed', { cause: early }))).toBe(
    "fetch failed: CERT_NOT_YET_VALID: the server's TLS certificate is not valid yet (certificate is not yet valid), or this machine's clock is wrong",
  );
});

test('a failure\'s code is given when its message lacks it, and an AggregateError speaks through the errors it holds', () => {
  const unknownHost = Object.assign(new Error('getaddrinfo failed for log.invalid'), { code: 'ENOTFOUND' });
  expect(networkReason(new TypeError('fetch failed', { cause: unknownHost }))).toBe('fetch failed: ENOTFOUND: getaddrinfo failed for log.invalid');
  const both = Object.assign(new AggregateError([new Error('connect ECONNREFUSED ::1:80'), new Error('connect ECONNREFUSED 127.0.0.1:80')], ''), { code: 'ECONNREFUSED' });
  expect(networkReason(new TypeError('fetch failed', { cause: both }))).toBe('fetch failed: connect ECONNREFUSED ::1:80; connect ECONNREFUSED 127.0.0.1:80');
  expect(networkReason(new TypeError('fetch failed'))).toBe('fetch failed');
});

/**
 * A log on 127.0.0.1 (port 0) that breaks the connection of the requests
 * `breaks` names (by their order, from 1), the way `how` says, and answers
 * the others `{"ok":true}`; it counts the requests it got.
 */
async function breakingLog(breaks: (nth: number) => 'close' | 'reset' | 'cut-body' | 'short-body' | undefined) {
  const server = createServer((socket) => {
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const nth = ++log.requests;
      log.methods.push(head.slice(0, head.indexOf(' ')));
      head = '';
      const how = breaks(nth);
      if (how === 'close') return void socket.end();
      if (how === 'reset') return void socket.resetAndDestroy();
      const body = '{"ok":true}';
      if (how === 'cut-body') {
        // The headers and the start of the body, then the connection is reset.
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 3)}`, () => socket.resetAndDestroy());
        return;
      }
      if (how === 'short-body') {
        // The start of the body, then the connection is closed (FIN, no reset) short of its Content-Length.
        socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 3)}`);
        return;
      }
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const log = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: 0,
    methods: [] as string[],
    close: () => new Promise((resolve) => server.close(resolve)),
  };
  return log;
}

describe('a GET whose connection breaks', () => {
  test('is sent again, closed or reset before its answer or in the middle of it, after the exponential wait', async () => {
    const ways = ['close', 'reset', 'cut-body', 'short-body'] as const;
    const log = await breakingLog((nth) => ways[nth - 1]);
    try {
      const waits: number[] = [];
      const http = new HttpTransport(log.url, { maxRetries: 4, sleep: async (ms) => void waits.push(ms) });
      expect(await http.json({ path: 'ct/v1/get-sth' })).toEqual({ ok: true });
      expect([log.requests, waits]).toEqual([5, [500, 1000, 2000, 4000]]);
    } finally {
      await log.close();
    }
  });

  test('is sent again at most maxRetries times, and then says so', async () => {
    const log = await breakingLog(() => 'close');
    try {
      const http = new HttpTransport(log.url, { maxRetries: 2, sleep: async () => undefined });
      const err = await clientFailure(http.bytes('tile/0/000'));
      expect(err.code).toBe('NETWORK');
      expect(err.message).toBe(`GET ${log.url}/tile/0/000: fetch failed: UND_ERR_SOCKET: other side closed (after 2 retries)`);
      expect(log.requests).toBe(3);
    } finally {
      await log.close();
    }
  });

  test('is not sent again once the waits would pass maxRetryTotalMs', async () => {
    const log = await breakingLog(() => 'reset');
    try {
      const waits: number[] = [];
      const http = new HttpTransport(log.url, { maxRetries: 5, maxRetryTotalMs: 1600, sleep: async (ms) => void waits.push(ms) });
      expect((await clientFailure(http.json({ path: 'checkpoint' }))).code).toBe('NETWORK');
      // 500 + 1000 fit in 1.6 s; 2000 more would not.
      expect([log.requests, waits]).toEqual([3, [500, 1000]]);
    } finally {
      await log.close();
    }
  });
});

test('a POST whose connection breaks is never sent again: the log may have taken it', async () => {
  for (const how of ['close', 'reset', 'cut-body', 'short-body'] as const) {
    const log = await breakingLog(() => how);
    try {
      const waits: number[] = [];
      const http = new HttpTransport(log.url, { maxRetries: 5, sleep: async (ms) => void waits.push(ms) });
      const err = await clientFailure(http.json({ method: 'POST', path: 'v1/add', body: 'x', contentType: 'application/octet-stream' }));
      expect([how, err.code, log.methods, waits]).toEqual([how, 'NETWORK', ['POST'], []]);
    } finally {
      await log.close();
    }
  }
});

/** A fetch whose answers ({} with 200) wait until the test calls the functions in `held`, one per request. */
function heldAnswers(): { fetch: FetchLike; held: (() => void)[] } {
  const held: (() => void)[] = [];
  return { fetch: () => new Promise((resolve) => held.push(() => resolve(new Response('{}')))), held };
}

describe('the transport\'s signal', () => {
  test('aborts a request in flight that the log never answers, with its reason, and no request is sent after it', async () => {
    let asked = 0;
    const controller = new AbortController();
    // Answers nothing until its request is aborted; the stop comes once the request is sent.
    const fetch: FetchLike = (_url, init) => {
      asked++;
      const signal = init!.signal!;
      queueMicrotask(() => controller.abort());
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
    };
    const http = new HttpTransport(BASE, { fetch, maxRetries: 5, signal: controller.signal });
    const err = await http.bytes('tile/entries/000').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe('AbortError');
    await expect(http.json({ path: 'checkpoint' })).rejects.toMatchObject({ name: 'AbortError' });
    expect(asked).toBe(1);
  });

  test('is listened to once for the transport\'s life, not once per request in flight', async () => {
    const controller = new AbortController();
    const { fetch, held } = heldAnswers();
    const http = new HttpTransport(BASE, { fetch, signal: controller.signal });
    const requests = Array.from({ length: 20 }, () => http.json({ path: 'checkpoint' }));
    await new Promise((resolve) => setImmediate(resolve));
    expect([held.length, getEventListeners(controller.signal, 'abort').length]).toEqual([20, 1]);
    for (const answer of held) answer();
    await Promise.all(requests);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
  });

  test("a request's own signal, shared by requests in flight, is listened to once, and aborts each of them with its reason", async () => {
    const own = new AbortController();
    const fetch: FetchLike = (_url, init) => new Promise((_resolve, reject) => init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason as Error)));
    const http = new HttpTransport(BASE, { fetch });
    const requests = Array.from({ length: 12 }, () => http.json({ path: 'checkpoint', signal: own.signal }).catch((e: unknown) => e));
    await new Promise((resolve) => setImmediate(resolve));
    expect(getEventListeners(own.signal, 'abort')).toHaveLength(1);
    const reason = new Error('range over');
    own.abort(reason);
    expect(await Promise.all(requests)).toEqual(Array.from({ length: 12 }, () => reason));
    expect(getEventListeners(own.signal, 'abort')).toHaveLength(0);
  });

  test('a request signal that outlives its requests holds no listener once they are done', async () => {
    const own = new AbortController();
    const { fetch, held } = heldAnswers();
    const http = new HttpTransport(BASE, { fetch });
    const requests = Array.from({ length: 3 }, () => http.json({ path: 'checkpoint', signal: own.signal }));
    await new Promise((resolve) => setImmediate(resolve));
    expect([held.length, getEventListeners(own.signal, 'abort').length]).toEqual([3, 1]);
    for (const answer of held) answer();
    await Promise.all(requests);
    expect(getEventListeners(own.signal, 'abort')).toHaveLength(0);
  });

  test('ends the wait before a retry that a Retry-After of 60 s asks for, whether or not the sleep heeds it', async () => {
    for (const heeds of [true, false]) {
      const controller = new AbortController();
      let asked = 0;
      const fetch: FetchLike = async () => (asked++, new Response('{"error":"busy","code":"BUSY"}', { status: 503, headers: { 'Retry-After': '60' } }));
      const waits: number[] = [];
      // A sleep that ends only when its signal aborts (or never, when it does not heed it): no wait ever ends by time here.
      const sleep = (ms: number, signal?: AbortSignal) => {
        waits.push(ms);
        controller.abort();
        return new Promise<void>((resolve) => {
          if (heeds) signal?.addEventListener('abort', () => resolve());
        });
      };
      const http = new HttpTransport(BASE, { fetch, sleep, signal: controller.signal });
      await expect(http.bytes('tile/entries/000')).rejects.toMatchObject({ name: 'AbortError' });
      expect([heeds, asked, waits]).toEqual([heeds, 1, [60_000]]);
    }
  });
});

describe("a proxy's HTTP-date Retry-After, read by a client whose clock is off", () => {
  const sent = Date.parse('2026-11-29T12:00:00Z');
  /** A 503 sent at `sent` asking for a retry 5 s later, with its Date header or without, then a 200. */
  function proxy(withDate: boolean) {
    let asked = 0;
    const fetch: FetchLike = async () => {
      if (asked++ > 0) return new Response('{}', { status: 200 });
      const headers: Record<string, string> = { 'Retry-After': new Date(sent + 5000).toUTCString() };
      if (withDate) headers['Date'] = new Date(sent).toUTCString();
      return new Response('<html>busy</html>', { status: 503, headers });
    };
    return fetch;
  }

  test('waits the 5 s the date asks for, measured against the answer\'s Date header, whether the client\'s clock is an hour ahead or behind', async () => {
    for (const skew of [3_600_000, -3_600_000]) {
      const waits: number[] = [];
      const http = new HttpTransport(BASE, { fetch: proxy(true), now: () => sent + skew, sleep: async (ms) => void waits.push(ms) });
      expect(await http.json({ path: 'checkpoint' })).toEqual({});
      expect([skew, waits]).toEqual([skew, [5000]]);
    }
  });

  test('without a Date header, a date that is past by the client\'s clock is no wait at all: the usual backoff applies', async () => {
    const waits: number[] = [];
    const http = new HttpTransport(BASE, { fetch: proxy(false), now: () => sent + 3_600_000, retryBaseDelayMs: 500, sleep: async (ms) => void waits.push(ms) });
    expect(await http.json({ path: 'checkpoint' })).toEqual({});
    expect(waits).toEqual([500]);
  });
});
