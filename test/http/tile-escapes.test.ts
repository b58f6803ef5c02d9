// Tile paths whose index N is sent as one escaped path parameter, as every
// client generated from spec/openapi.yaml sends it (`x001/000` as
// `x001%2F000`): the server reads them as the canonical path, the spec's
// x-cairn-path-pattern takes exactly the escaped paths the server serves,
// and nothing else is decoded.
import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/http/app.js';
import { createMetrics } from '../../src/http/metrics.js';
import type { Log } from '../../src/log/log.js';
import { vector } from '../helpers/keys.js';
import { expectResponseMatchesSpec, findOperation } from '../helpers/openapi.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

/** Level-0 tiles and entry bundles the log below is moved up by: its first ones are x001/000. */
const SHIFT = 1000;

/**
 * A log whose tile routes serve level-0 tile and entry bundle n as `log`'s
 * n - SHIFT (so that its first ones, full, are x001/000), and every other
 * hash tile as `log` does: N = x001/000 is the first index with a "/"
 * inside it, which a real log reaches only at 256,000 entries (seconds to
 * log). Past `log`'s tree, the answer is the real log's "no such tile";
 * below SHIFT, where it keeps nothing, an error (500), so that a path read
 * as another index than the one sent is never taken for the same tile.
 * Everything else is `log`'s own.
 */
function shifted(log: Log): Log {
  const below = (n: number) => new Error(`this test's log keeps no tile or bundle ${n} below ${SHIFT}`);
  const tile = async (level: number, n: number, width: number): Promise<Uint8Array> => {
    if (level !== 0) return log.tile(level, n, width);
    if (n < SHIFT) throw below(n);
    return log.tile(0, n - SHIFT, width);
  };
  const bundle = async (n: number, width: number): Promise<Uint8Array> => {
    if (n < SHIFT) throw below(n);
    return log.bundle(n - SHIFT, width);
  };
  return new Proxy(log, {
    get(target, key) {
      if (key === 'tile') return tile;
      if (key === 'bundle') return bundle;
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

let h: Harness;
let app: Express;
beforeAll(async () => {
  h = await openHarness();
  // 256 entries: tile 0/x001/000 and bundle x001/000 are full, and x001/001 and on are past the tree.
  const enc = new TextEncoder();
  await h.log.submit(Array.from({ length: 256 }, (_, i) => enc.encode(`escape ${i}`)));
  app = createApp({ log: shifted(h.log), verifierKey: vector.verifier_key, metrics: createMetrics({ processMetrics: false }) });
});
afterAll(async () => {
  await h.close();
});

async function get(path: string): Promise<request.Response> {
  const res = await request(app).get(path).buffer(true);
  expectResponseMatchesSpec('GET', path, { status: res.status, headers: res.headers, body: res.body, text: res.text });
  return res;
}

/** How a generated client (openapi-fetch, openapi-generator) writes a path parameter into a path. */
const asParameter = (n: string) => encodeURIComponent(n);

test.each([
  ['/tile/0/{N}', 'getHashTile'],
  ['/tile/0/{N}.p/7', 'getPartialHashTile'],
  ['/tile/entries/{N}', 'getEntryBundle'],
  ['/tile/entries/{N}.p/7', 'getPartialEntryBundle'],
])('%s with N = x001/000 escaped as a generated client sends it is the same tile as the canonical path', async (template, operationId) => {
  const canonical = template.replace('{N}', 'x001/000');
  const want = await get(canonical);
  expect([canonical, want.status]).toEqual([canonical, 200]);
  for (const path of [template.replace('{N}', asParameter('x001/000')), template.replace('{N}', 'x001%2f000')]) {
    expect(findOperation('GET', path)?.operationId).toBe(operationId);
    const res = await get(path);
    expect([path, res.status]).toEqual([path, 200]);
    expect(Buffer.compare(res.body as Buffer, want.body as Buffer)).toBe(0);
    expect(res.headers['cache-control']).toBe(want.headers['cache-control']);
    expect(res.headers['content-type']).toBe(want.headers['content-type']);
  }
});

test('an escaped N past the tree is "not in this tree", not "not a canonical tile path", so a client knows to wait for it', async () => {
  for (const path of ['/tile/0/x002%2F000', '/tile/entries/x001%2Fx234%2F067', '/tile/0/x002%2f000.p/1']) {
    const res = await get(path);
    expect([path, res.status, res.body.code]).toEqual([path, 404, 'NOT_FOUND']);
    expect(res.body.error).toMatch(/^no such (tile|entry bundle) in this tree$/);
  }
});

// Each path: whether the spec's pattern and the server take it as a tile path.
const CASES: [string, boolean][] = [
  ['/tile/0/x001/000', true],
  ['/tile/0/x001%2F000', true],
  ['/tile/0/x001%2f000', true],
  ['/tile/3/x001%2Fx234/067', true],
  ['/tile/3/x001/x234%2F067.p/9', true],
  ['/tile/entries/x001%2Fx234%2f067.p/255', true],
  // An escaped slash that is not inside N.
  ['/tile/0%2Fx001/000', false],
  ['/tile/0%2F000', false],
  ['/tile/0/000.p%2F5', false],
  ['/tile/0/x001%2F000.p%2F5', false],
  ['/tile/entries%2F000', false],
  // Escaped, but not canonical once read.
  ['/tile/0/x000%2F001', false],
  ['/tile/0/001%2F234', false],
  ['/tile/0/x001%2F', false],
  ['/tile/0/%2Fx001/000', false],
  ['/tile/0/x001%2F%2F000', false],
  // Any other escape is refused, as before.
  ['/tile/0/%30%30%30', false],
  ['/tile/0/x001%2F%30%30%30', false],
  ['/tile/0/x001%252F000', false],
  ['/tile/0/x001%5C000', false],
  ['/tile/0/x001%2F..%2F000', false],
  ['/tile/0/..%2F..%2Fetc%2Fpasswd', false],
  ['/tile/entries/x001%2F000%00', false],
];

test.each(CASES)('%s: the spec routes it to a tile operation exactly when the server reads it as a tile path (%s)', async (path, tile) => {
  expect(findOperation('GET', path) !== undefined).toBe(tile);
  const res = await get(path);
  if (tile) {
    expect(String(res.body.error)).not.toMatch(/^not a canonical tile path/);
  } else {
    expect([res.status, res.body.code]).toEqual([404, 'NOT_FOUND']);
    expect(res.body.error).toMatch(/^not a canonical tile path: .*\(the \/ inside N may be sent as %2F\)$/);
  }
  // OPTIONS agrees: 404 for a path never served, 204 for one that is or may be.
  const options = await request(app).options(path);
  expect([path, options.status]).toEqual([path, tile ? 204 : 404]);
});
