// Entry bundles gzip-encoded for clients that accept it (C2SP tlog-tiles:
// bundles SHOULD be compressed at the HTTP layer), read as raw bytes from a
// listening server so that no client library decodes them first; hash tiles
// and incompressible bundles go out as they are.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Request } from 'express';
import { createApp } from '../../src/http/app.js';
import { bundleEncoder, gzipWorthwhile } from '../../src/http/bundle-encoding.js';
import { encodeEntryBundle } from '../../src/merkle/bundle.js';
import { Log } from '../../src/log/log.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';

let dir: string;
let log: Log;
let server: Server;
let port: number;
/** Bundle 0: 256 JSON-like audit events, which compress; bundle 1: 20 random entries, which do not. */
const events = Array.from({ length: 256 }, (_, i) => Buffer.from(`{"actor":"alice@example.com","action":"login","outcome":"success","seq":${i}}`));
const noise = Array.from({ length: 20 }, () => randomBytes(100));

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** GET `path` with exactly `headers` (node:http adds no Accept-Encoding), returning the bytes as sent. */
async function rawGet(path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const req = httpRequest({ host: '127.0.0.1', port, path, headers });
  req.end();
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  const parts: Buffer[] = [];
  for await (const part of res) parts.push(part as Buffer);
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) };
}

function spec(path: string, res: RawResponse): void {
  expectResponseMatchesSpec('GET', path, { status: res.status, headers: res.headers as Record<string, unknown>, body: res.body, text: '' });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-bundle-encoding-'));
  log = await Log.open({ store: await LevelStore.open(dir), signer: testSigner, verifier: testVerifier });
  await log.submit([...events, ...noise]);
  server = createApp({ log, verifierKey: vector.verifier_key }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

describe('GET /tile/entries', () => {
  test('a client that accepts gzip gets the bundle gzip-encoded, and it decodes to the bundle', async () => {
    const expected = Buffer.from(encodeEntryBundle(events));
    for (const accept of ['gzip', 'gzip, deflate, br', 'identity;q=0.5, gzip', 'br;q=1, gzip;q=0.8']) {
      const res = await rawGet('/tile/entries/000', { 'Accept-Encoding': accept });
      spec('/tile/entries/000', res);
      expect(res.status).toBe(200);
      expect(res.headers['content-encoding']).toBe('gzip');
      expect(res.headers.vary).toBe('Accept-Encoding');
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(Number(res.headers['content-length'])).toBe(res.body.length);
      expect(res.body.length).toBeLessThan(expected.length / 4);
      expect(gunzipSync(res.body).equals(expected)).toBe(true);
    }
  });

  test('without Accept-Encoding, or with gzip refused or less wanted, the bundle goes out as it is', async () => {
    const expected = Buffer.from(encodeEntryBundle(events));
    const asked: Record<string, string>[] = [{}, { 'Accept-Encoding': 'identity' }, { 'Accept-Encoding': 'gzip;q=0' }, { 'Accept-Encoding': 'br' }, { 'Accept-Encoding': 'gzip;q=0.5, identity' }];
    for (const headers of asked) {
      const res = await rawGet('/tile/entries/000', headers);
      spec('/tile/entries/000', res);
      expect(res.headers['content-encoding']).toBeUndefined();
      expect(res.headers.vary).toBe('Accept-Encoding');
      expect(res.body.equals(expected)).toBe(true);
    }
  });

  test('a bundle that gzip would not shrink (random entries) goes out as it is; a partial bundle that shrinks is encoded too', async () => {
    const random = await rawGet('/tile/entries/001.p/20', { 'Accept-Encoding': 'gzip' });
    spec('/tile/entries/001.p/20', random);
    expect(random.status).toBe(200);
    expect(random.headers['content-encoding']).toBeUndefined();
    expect(random.body.equals(Buffer.from(encodeEntryBundle(noise)))).toBe(true);

    const partial = await rawGet('/tile/entries/000.p/100', { 'Accept-Encoding': 'gzip' });
    spec('/tile/entries/000.p/100', partial);
    expect(partial.headers['content-encoding']).toBe('gzip');
    expect(partial.headers['cache-control']).toBe('public, max-age=60');
    expect(gunzipSync(partial.body).equals(Buffer.from(encodeEntryBundle(events.slice(0, 100))))).toBe(true);
  });

  test('hash tiles are never encoded and do not vary', async () => {
    const plain = await rawGet('/tile/0/000');
    const asked = await rawGet('/tile/0/000', { 'Accept-Encoding': 'gzip' });
    spec('/tile/0/000', asked);
    expect(asked.headers['content-encoding']).toBeUndefined();
    expect(asked.headers.vary).toBeUndefined();
    expect(asked.body.length).toBe(256 * 32);
    expect(asked.body.equals(plain.body)).toBe(true);
  });

  // Last here: it grows the log.
  test('a partial bundle judged not worth gzipping is not remembered: once full and compressible, it goes out gzipped', async () => {
    expect((await rawGet('/tile/entries/001.p/20', { 'Accept-Encoding': 'gzip' })).headers['content-encoding']).toBeUndefined();
    const rest = Array.from({ length: 236 }, (_, i) => Buffer.from(`{"actor":"bob@example.com","action":"logout","outcome":"success","seq":${i}}`));
    await log.submit(rest);
    const full = await rawGet('/tile/entries/001', { 'Accept-Encoding': 'gzip' });
    spec('/tile/entries/001', full);
    expect(full.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(full.body).equals(Buffer.from(encodeEntryBundle([...noise, ...rest])))).toBe(true);
  });
});

describe('bundleEncoder', () => {
  const accepting = { acceptsEncodings: () => 'gzip' } as unknown as Request;
  const body = Buffer.from(encodeEntryBundle(events));

  test('compresses at most `limit` bundles at once; the rest go out as they are', async () => {
    const encode = bundleEncoder(1);
    const [first, second] = await Promise.all([encode(accepting, body), encode(accepting, body)]);
    expect(first!.gzip).toBe(true);
    expect(gunzipSync(first!.body).equals(body)).toBe(true);
    expect(second).toEqual({ body, gzip: false });
    // The slot is free again once the first is done.
    expect((await encode(accepting, body)).gzip).toBe(true);
    expect(await bundleEncoder(0)(accepting, body)).toEqual({ body, gzip: false });
  });

  /** gzip itself, counting how often it is run. */
  function countingGzip(): { calls: number; compress: (body: Buffer) => Promise<Buffer> } {
    const counter = { calls: 0, compress: async (b: Buffer) => (counter.calls++, gzipSync(b)) };
    return counter;
  }

  test('a large bundle of random entries goes out as it is without a full gzip being run; a compressible one is still gzipped', async () => {
    // 256 random entries of 8 KiB (2 MiB, sampled) and of 300 bytes (77 KiB, just past what is gzipped unsampled).
    for (const size of [8192, 300]) {
      const random = Buffer.from(encodeEntryBundle(Array.from({ length: 256 }, () => randomBytes(size))));
      const counter = countingGzip();
      expect(await bundleEncoder(2, counter.compress)(accepting, random)).toEqual({ body: random, gzip: false });
      expect(counter.calls).toBe(0);
    }
    // A small bundle is gzipped unsampled: of random entries (25.5 KiB), the gzip is run and, not smaller, not used.
    const small = Buffer.from(encodeEntryBundle(Array.from({ length: 256 }, () => randomBytes(100))));
    const counter = countingGzip();
    expect(await bundleEncoder(2, counter.compress)(accepting, small)).toEqual({ body: small, gzip: false });
    expect(counter.calls).toBe(1);
    // Compressible entries: alone; after 250 random ones (the sample's last slice sees them); and one random
    // 10 KB entry 256 times, which only a window as long as gzip's sees repeat.
    const large = Array.from({ length: 256 }, (_, i) => Buffer.from(`{"seq":${i},"note":"${'cairn '.repeat(1300)}"}`));
    const mixed = Buffer.from(encodeEntryBundle([...Array.from({ length: 250 }, () => randomBytes(100)), ...large.slice(0, 6)]));
    const blob = randomBytes(10_000);
    const repeated = Buffer.from(encodeEntryBundle(Array.from({ length: 256 }, () => blob)));
    for (const compressible of [body, Buffer.from(encodeEntryBundle(large)), mixed, repeated]) {
      const counter = countingGzip();
      const encoded = await bundleEncoder(2, counter.compress)(accepting, compressible);
      expect(encoded.gzip).toBe(true);
      expect(encoded.body.length).toBeLessThan(compressible.length);
      expect(gunzipSync(encoded.body).equals(compressible)).toBe(true);
      expect(counter.calls).toBe(1);
    }
  });

  describe('a full bundle\'s verdict is remembered by its index', () => {
    /** 256 random entries of 100 bytes (25.5 KiB): gzipped unsampled, and not smaller. */
    const random = (): Buffer => Buffer.from(encodeEntryBundle(Array.from({ length: 256 }, () => randomBytes(100))));

    test('a full bundle that gzip does not shrink is gzipped once, then goes out as it is', async () => {
      const counter = countingGzip();
      const encode = bundleEncoder(2, counter.compress);
      const bundle = random();
      for (let i = 0; i < 3; i++) expect(await encode(accepting, bundle, 7)).toEqual({ body: bundle, gzip: false });
      expect(counter.calls).toBe(1);
      // Another bundle is judged on its own.
      expect(await encode(accepting, bundle, 8)).toEqual({ body: bundle, gzip: false });
      expect(counter.calls).toBe(2);
      // A client that does not accept gzip still gets identity, and is no verdict.
      const refusing = { acceptsEncodings: () => 'identity' } as unknown as Request;
      expect(await encode(refusing, body, 9)).toEqual({ body, gzip: false });
      expect((await encode(accepting, body, 9)).gzip).toBe(true);
    });

    test('a partial bundle (no index) is judged on every request', async () => {
      const counter = countingGzip();
      const encode = bundleEncoder(2, counter.compress);
      const bundle = random();
      for (let i = 0; i < 3; i++) expect(await encode(accepting, bundle)).toEqual({ body: bundle, gzip: false });
      expect(counter.calls).toBe(3);
    });

    test('a full bundle that gzip shrinks goes out gzipped on every request', async () => {
      const counter = countingGzip();
      const encode = bundleEncoder(2, counter.compress);
      for (let i = 0; i < 3; i++) {
        const encoded = await encode(accepting, body, 0);
        expect(encoded.gzip).toBe(true);
        expect(encoded.body.equals(gzipSync(body))).toBe(true);
      }
      expect(counter.calls).toBe(3);
    });

    test('a bundle that goes out as it is for the limit is not judged by it', async () => {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const encode = bundleEncoder(1, async (b) => (await held, gzipSync(b)));
      const first = encode(accepting, body, 5);
      // The only slot is taken: bundle 0 goes out as it is, which is not its verdict.
      expect(await encode(accepting, body, 0)).toEqual({ body, gzip: false });
      release();
      expect((await first).gzip).toBe(true);
      expect((await encode(accepting, body, 0)).gzip).toBe(true);
    });

    test('at most `remembered` verdicts are kept, the oldest forgotten first; 0 keeps none', async () => {
      const counter = countingGzip();
      const encode = bundleEncoder(2, counter.compress, 2);
      const bundles = [random(), random(), random()];
      for (const [n, bundle] of bundles.entries()) await encode(accepting, bundle, n);
      expect(counter.calls).toBe(3);
      // Bundles 1 and 2 are remembered; 0 was forgotten when 2 was judged.
      await encode(accepting, bundles[2]!, 2);
      await encode(accepting, bundles[1]!, 1);
      expect(counter.calls).toBe(3);
      await encode(accepting, bundles[0]!, 0);
      expect(counter.calls).toBe(4);
      // Judging 0 again forgot 1, the oldest left.
      await encode(accepting, bundles[2]!, 2);
      expect(counter.calls).toBe(4);
      await encode(accepting, bundles[1]!, 1);
      expect(counter.calls).toBe(5);

      const none = countingGzip();
      const forgetful = bundleEncoder(2, none.compress, 0);
      for (let i = 0; i < 2; i++) await forgetful(accepting, bundles[0]!, 0);
      expect(none.calls).toBe(2);
    });
  });

  test('a gzip that does not make the bundle smaller is not used', async () => {
    const encode = bundleEncoder(2, async (b) => Buffer.concat([b, Buffer.alloc(1)]));
    expect(await encode(accepting, body)).toEqual({ body, gzip: false });
  });

  test('gzipWorthwhile: up to 64 KiB, always (gzip is as cheap as a sample); past it, random bytes are not worth it, repeated text is', () => {
    for (const size of [0, 1, 100, 65536]) expect(gzipWorthwhile(randomBytes(size))).toBe(true);
    for (const size of [65537, 98304, 1 << 20]) expect(gzipWorthwhile(randomBytes(size))).toBe(false);
    for (const size of [65537, 98304, 1 << 20]) expect(gzipWorthwhile(Buffer.alloc(size, 'transparency log '))).toBe(true);
    // Repetition 10 KB apart, within gzip's 32 KiB window.
    const blob = randomBytes(10_000);
    expect(gzipWorthwhile(Buffer.concat(Array.from({ length: 20 }, () => blob)))).toBe(true);
  });

  test('a limit or a number of verdicts kept that is not a safe non-negative integer is refused', () => {
    for (const limit of [-1, 1.5, Number.NaN]) expect(() => bundleEncoder(limit)).toThrow(RangeError);
    for (const remembered of [-1, 1.5, Number.NaN]) expect(() => bundleEncoder(2, undefined, remembered)).toThrow(RangeError);
  });
});
