// A tile or entry bundle answer that is not one at all (audit 20d F4): a
// chunked body cut off on a Connection: close connection, which node's fetch
// takes as whole, or a captive portal's HTML page with status 200. It is
// fetched once more; if it is still no tile the client fails with
// BAD_RESPONSE (operational) naming the path and the fault, never with
// TILE_MISMATCH or ENTRY_MISMATCH, which stay for well-formed answers that
// fail to authenticate. A real server on port 0 holds 300 entries of 9 bytes
// (bundle 000 full, 001.p/44; tiles 0/000, 0/001.p/44, 1/000.p/1); a relay on
// port 0 in front of it cuts chosen answers on the wire.
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { CairnClient } from '../../src/client/client.js';
import { ClientError } from '../../src/client/errors.js';
import type { FetchLike } from '../../src/client/http.js';
import type { Checkpoint } from '../../src/note/checkpoint.js';
import { useCliServer } from '../helpers/cli-server.js';

const enc = (s: string) => new TextEncoder().encode(s);
const entry = (i: number) => enc(`entry ${String(i).padStart(3, '0')}`); // 9 bytes each

const t = useCliServer('cairn-malformed-tiles-', { origin: 'malformed.test/log' });
let cp: Checkpoint;

beforeAll(async () => {
  await t.client.addBatch(Array.from({ length: 300 }, (_, i) => entry(i)));
  cp = (await t.client.getCheckpoint()).checkpoint;
});

/**
 * A relay on 127.0.0.1 (port 0) in front of the log: every answer goes out
 * with Connection: close, and the `nth` answer for a path that `cut` takes
 * is sent chunked and cut off after half its body, the connection then
 * closed cleanly (FIN), as a proxy or server that fails mid-answer does.
 * Keeps the paths asked, in order.
 */
async function cuttingRelay(cut: (path: string, nth: number) => boolean) {
  const asked: string[] = [];
  const sockets = new Set<Socket>();
  const relay = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = head.split(' ', 2)[1]!;
      head = '';
      asked.push(path);
      const nth = asked.filter((p) => p === path).length;
      void (async () => {
        const res = await fetch(`${t.server.url}${path}`);
        const body = Buffer.from(await res.arrayBuffer());
        const type = res.headers.get('Content-Type') ?? 'application/octet-stream';
        if (res.ok && cut(path, nth)) {
          const half = body.subarray(0, Math.floor(body.length / 2));
          // One write, then FIN: the cut answer always arrives the same way, however busy the machine.
          const head = `HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${half.length.toString(16)}\r\n`;
          socket.end(Buffer.concat([Buffer.from(head, 'latin1'), half, Buffer.from('\r\n')]));
          return;
        }
        socket.write(`HTTP/1.1 ${res.status} X\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
        socket.end(body);
      })();
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    asked,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => relay.close(resolve));
    },
  };
}

/**
 * A cache on 127.0.0.1 (port 0) in front of the log, as a CDN is: it keeps
 * the first answer for each tile path, cut to half its body (a cut-off
 * answer the CDN took as whole, sent with a Content-Length of what it kept),
 * and serves what it kept again unless the request says `Cache-Control:
 * no-cache` or `Pragma: no-cache`, when it asks the log again and keeps that.
 * Keeps each request's path and headers, in order.
 */
async function cachingRelay() {
  const asked: { path: string; headers: IncomingHttpHeaders }[] = [];
  const kept = new Map<string, Buffer>();
  const relay = createHttpServer((req, res) => {
    const path = req.url!;
    asked.push({ path, headers: req.headers });
    void (async () => {
      const noCache = /\bno-cache\b/.test(String(req.headers['cache-control'] ?? '')) || /\bno-cache\b/.test(String(req.headers.pragma ?? ''));
      let body = TILES.test(path) && !noCache ? kept.get(path) : undefined;
      if (body === undefined) {
        const answer = await fetch(`${t.server.url}${path}`);
        body = Buffer.from(await answer.arrayBuffer());
        if (!answer.ok) {
          res.writeHead(answer.status, { 'Content-Type': answer.headers.get('Content-Type') ?? 'text/plain' }).end(body);
          return;
        }
        if (TILES.test(path)) {
          if (!kept.has(path)) body = body.subarray(0, Math.floor(body.length / 2));
          kept.set(path, body);
        }
      }
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }).end(body);
    })();
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    asked,
    close: () => {
      relay.closeAllConnections();
      return new Promise((resolve) => relay.close(resolve));
    },
  };
}

/** A client of the log through `f`, or through the relay at `url`. */
const clientOf = (options: { url?: string; fetch?: FetchLike }) => new CairnClient({ baseUrl: options.url ?? t.server.url, verifierKey: t.server.verifierKey, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) });

/** The ClientError `p` rejects with. */
async function failure(p: Promise<unknown>): Promise<ClientError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClientError);
  return err as ClientError;
}

const TILES = /^\/tile\//;

test('a hash tile or entry bundle cut off once (chunked, Connection: close: fetch takes it as whole) is fetched again, and verifies', async () => {
  const relay = await cuttingRelay((path, nth) => TILES.test(path) && nth === 1);
  try {
    const c = clientOf({ url: relay.url });
    expect((await c.proveIndexFromTiles(257, cp)).index).toBe(257);
    expect((await c.readEntryBundle(0, cp)).length).toBe(256);
    expect((await c.readEntryBundle(1, cp)).length).toBe(44);
    const range: number[] = [];
    for await (const group of c.readEntryRange(cp, 0, 299)) range.push(group.entries.length);
    expect(range).toEqual([256, 44]);
    // Each tile and bundle was cut the first time it was asked for, and asked again.
    const tiles = relay.asked.filter((p) => TILES.test(p));
    for (const path of ['/tile/0/001.p/44', '/tile/1/000.p/1', '/tile/entries/000', '/tile/entries/001.p/44']) {
      expect([path, tiles.filter((p) => p === path).length >= 2]).toEqual([path, true]);
    }
  } finally {
    await relay.close();
  }
});

test('a tile or bundle a cache kept cut off is fetched again past the cache (Cache-Control: no-cache, Pragma: no-cache), and verifies; the first request asks for no such thing', async () => {
  const relay = await cachingRelay();
  try {
    const c = clientOf({ url: relay.url });
    expect((await c.proveIndexFromTiles(257, cp)).index).toBe(257);
    expect((await c.readEntryBundle(1, cp)).length).toBe(44);
    const range: number[] = [];
    for await (const group of c.readEntryRange(cp, 0, 299)) range.push(group.entries.length);
    expect(range).toEqual([256, 44]);
    for (const path of ['/tile/0/001.p/44', '/tile/1/000.p/1', '/tile/entries/000', '/tile/entries/001.p/44']) {
      const [first, again] = relay.asked.filter((r) => r.path === path);
      expect([path, first?.headers['cache-control'], first?.headers.pragma]).toEqual([path, undefined, undefined]);
      expect([path, again?.headers['cache-control'], again?.headers.pragma]).toEqual([path, 'no-cache', 'no-cache']);
    }
  } finally {
    await relay.close();
  }
});

/**
 * A fetch of the log whose first answer for each tile path that `cut` takes
 * is cut to half its body; `refetch` stands for fetch when a request has a
 * cache mode (the refetch of a malformed answer). Keeps each tile request's
 * cache mode.
 */
function cuttingFetch(refetch: FetchLike, cut = TILES) {
  const modes: { path: string; cache: RequestCache | undefined }[] = [];
  const f: FetchLike = async (url, init) => {
    const path = new URL(url).pathname;
    if (!TILES.test(path)) return fetch(url, init);
    modes.push({ path, cache: init?.cache });
    if (init?.cache !== undefined) return refetch(url, init);
    const res = await fetch(url, init);
    if (!cut.test(path) || modes.filter((m) => m.path === path).length > 1) return res;
    const body = new Uint8Array(await res.arrayBuffer());
    return new Response(body.subarray(0, Math.floor(body.length / 2)), { status: 200, headers: { 'Content-Type': 'application/octet-stream' } });
  };
  return { fetch: f, modes };
}

test('a fetch that refuses the cache mode (a TypeError, as Cloudflare Workers\' does) is asked for the refetch once more without it, and the tile verifies', async () => {
  const strict = cuttingFetch((url, init) => Promise.reject(new TypeError(`Unsupported cache mode: ${String(init?.cache)}`)));
  const c = clientOf({ fetch: strict.fetch });
  expect((await c.proveIndexFromTiles(257, cp)).index).toBe(257);
  // Each tile: asked plainly (cut off), then with 'reload' (refused), then once more without a mode.
  const asked = strict.modes.filter((m) => m.path === '/tile/1/000.p/1').map((m) => m.cache);
  expect(asked).toEqual([undefined, 'reload', undefined]);
});

test('a refetch that fails otherwise (a timeout) keeps the first answer\'s fault in its message', async () => {
  const BUNDLE = /^\/tile\/entries\/001\.p\/44$/;
  const timingOut = cuttingFetch(() => Promise.reject(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), BUNDLE);
  const err = await failure(clientOf({ fetch: timingOut.fetch }).readEntryBundle(1, cp));
  expect([err.code, err.message]).toEqual([
    'NETWORK',
    `GET ${t.server.url}/tile/entries/001.p/44: timed out after 30000 ms (refetched past caches after its first answer: the answer is not a bundle of 44 entries: expected 44 entries, got 22)`,
  ]);
  // A fetch that refuses the mode, then fails without it too: the first fault is kept as well.
  let tries = 0;
  const refusing = cuttingFetch(() => {
    tries++;
    return Promise.reject(new TypeError('Unsupported cache mode: reload'));
  }, BUNDLE);
  const refused = clientOf({
    fetch: async (url, init) => {
      if (tries > 0 && init?.cache === undefined && url.includes('/tile/')) return Response.json({ error: 'gone', code: 'INTERNAL' }, { status: 500 });
      return refusing.fetch(url, init);
    },
  });
  const second = await failure(refused.readEntryBundle(1, cp));
  expect([second.code, second.message]).toEqual(['HTTP_STATUS', expect.stringMatching(/\/tile\/entries\/001\.p\/44: 500 INTERNAL: gone \(refetched past caches after its first answer: the answer is not a bundle of 44 entries: expected 44 entries, got 22\)$/)]);
});

test('cut off every time: BAD_RESPONSE naming the path and what was wrong, asked twice, not a verification failure', async () => {
  const relay = await cuttingRelay((path) => TILES.test(path));
  try {
    const c = clientOf({ url: relay.url });
    const tile = await failure(c.proveIndexFromTiles(257, cp));
    expect([tile.code, tile.isVerificationFailure, tile.message]).toEqual([
      'BAD_RESPONSE',
      false,
      expect.stringMatching(/\/tile\/(0\/001\.p\/44|1\/000\.p\/1): the answer is \d+ bytes, not the \d+ of a tile of \d+ hashes \(fetched twice, the same both times\)$/),
    ]);
    const bundle = await failure(c.readEntryBundle(0, cp));
    expect([bundle.code, bundle.message]).toEqual(['BAD_RESPONSE', expect.stringMatching(/\/tile\/(entries\/000|0\/000|1\/000\.p\/1): /)]);
  } finally {
    await relay.close();
  }
  // A relay of its own for the range: the calls above fail at their first fault and may leave requests
  // in flight, which a shared relay would count among the range's asks.
  const own = await cuttingRelay((path) => TILES.test(path));
  try {
    const groups: number[] = [];
    const range = await failure(
      (async () => {
        for await (const group of clientOf({ url: own.url }).readEntryRange(cp, 0, 255)) groups.push(group.entries.length);
      })(),
    );
    expect([range.code, groups]).toEqual(['BAD_RESPONSE', []]);
    // The path it names was asked twice; none more often (others may have been stopped after one, once the range failed).
    const named = /\/tile\/\S+(?=:)/.exec(range.message)![0];
    expect(own.asked.filter((p) => p === named).length).toBe(2);
    expect(Math.max(...[...new Set(own.asked)].map((path) => own.asked.filter((p) => p === path).length))).toBe(2);
  } finally {
    await own.close();
  }
});

test('an entry bundle cut off every time names the entry it ends in', async () => {
  const relay = await cuttingRelay((path) => path === '/tile/entries/001.p/44');
  try {
    // 44 entries of 11 bytes: half is 242 bytes, 22 entries.
    const err = await failure(clientOf({ url: relay.url }).readEntryBundle(1, cp));
    expect([err.code, err.message]).toEqual([
      'BAD_RESPONSE',
      `${relay.url}/tile/entries/001.p/44: the answer is not a bundle of 44 entries: expected 44 entries, got 22 (fetched twice, the same both times)`,
    ]);
  } finally {
    await relay.close();
  }
});

test('an HTML page with status 200 (a captive portal, a site\'s fallback page) for a tile or bundle: BAD_RESPONSE naming its type', async () => {
  let pages = 0;
  const portal: FetchLike = async (url, init) => {
    if (!url.includes('/tile/')) return fetch(url, init);
    pages++;
    return new Response('<html><body>Please log in to the captive portal</body></html>\n', { headers: { 'Content-Type': 'text/html; charset=utf-8' } });
  };
  const c = clientOf({ fetch: portal });
  for (const call of [() => c.proveIndexFromTiles(5, cp), () => c.readEntryBundle(1, cp), () => c.getEntryFromTiles(5, cp), () => c.readTile({ level: 0, n: 1, width: 44 })]) {
    pages = 0;
    const err = await failure(call());
    expect([err.code, err.isVerificationFailure, err.message]).toEqual([
      'BAD_RESPONSE',
      false,
      expect.stringMatching(/\/tile\/\S+: the answer (is \d+ bytes, not the \d+ of a tile of \d+ hashes|is not a bundle of \d+ entries: .*|is longer than the \d+ bytes this client reads); its Content-Type is text\/html \(fetched twice, the same both times\)$/),
    ]);
    // The first tile's page, and the page again: then it fails (others may be in flight).
    expect(pages).toBeGreaterThanOrEqual(2);
  }
  // A page the first time, the tile the second: it verifies.
  const once = new Set<string>();
  const portalOnce: FetchLike = async (url, init) => {
    if (!url.includes('/tile/') || once.has(url)) return fetch(url, init);
    once.add(url);
    return new Response('<html>captive portal</html>', { headers: { 'Content-Type': 'text/html' } });
  };
  expect((await clientOf({ fetch: portalOnce }).getEntryFromTiles(258, cp)).entry).toEqual(entry(258));
});

test('a tile or bundle served without a Content-Type is taken as it is, and verified', async () => {
  const untyped: FetchLike = async (url, init) => {
    const res = await fetch(url, init);
    if (!url.includes('/tile/')) return res;
    return new Response(new Uint8Array(await res.arrayBuffer()) as unknown as BodyInit, { status: res.status });
  };
  const c = clientOf({ fetch: untyped });
  expect((await c.getEntryFromTiles(258, cp)).entry).toEqual(entry(258));
  expect((await c.readTile({ level: 0, n: 1, width: 44 })).length).toBe(44 * 32);
});

test('the Content-Type refuses nothing: tiles served as binary/octet-stream (S3), with the header twice, or even as text/html are taken, and verified', async () => {
  for (const types of [['binary/octet-stream'], ['application/octet-stream', 'application/octet-stream'], ['text/html; charset=utf-8']]) {
    let typed = 0;
    const retyped: FetchLike = async (url, init) => {
      const res = await fetch(url, init);
      if (!url.includes('/tile/')) return res;
      const headers = new Headers();
      for (const type of types) headers.append('Content-Type', type);
      typed++;
      return new Response(new Uint8Array(await res.arrayBuffer()) as unknown as BodyInit, { status: res.status, headers });
    };
    const c = clientOf({ fetch: retyped });
    expect([types, (await c.getEntryFromTiles(258, cp)).entry]).toEqual([types, entry(258)]);
    expect([types, (await c.proveIndexFromTiles(5, cp)).index]).toEqual([types, 5]);
    expect([types, (await c.readEntryBundle(0, cp)).length]).toEqual([types, 256]);
    expect(typed).toBeGreaterThan(0);
  }
  // A wrong answer of the right form under such a type still fails to authenticate.
  const wrong: FetchLike = async (url, init) => {
    const res = await fetch(url, init);
    if (!url.endsWith('/tile/0/001.p/44')) return res;
    const body = new Uint8Array(await res.arrayBuffer());
    body[0]! ^= 1;
    return new Response(body as unknown as BodyInit, { status: res.status, headers: { 'Content-Type': 'binary/octet-stream' } });
  };
  const err = await failure(clientOf({ fetch: wrong }).getEntryFromTiles(258, cp));
  expect([err.code, err.isVerificationFailure]).toEqual(['TILE_MISMATCH', true]);
});
