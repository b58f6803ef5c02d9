// The Cache-Control of every successful read (spec/openapi.yaml, "Caching"),
// on a public log and on a private one, through the fast path (fast-routes.ts
// answers canonical proof requests first) and through express alone (an app
// of the same log built without it): answers that never change for their
// URL may be kept for good, the moving heads and a get-entries range clamped
// at the tree's end must be revalidated, and on a private log every one says
// `private`, so that no shared cache hands what a token was needed for to a
// caller without one. Each answer is also checked against the spec.
import request from 'supertest';
import type { Express } from 'express';
import { AccessControl, hashToken } from '../../src/http/access.js';
import { createApp } from '../../src/http/app.js';
import { createMetrics } from '../../src/http/metrics.js';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { vector } from '../helpers/keys.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

const READER = 'caching-reader-0123456789abcdef';
/** Entries 0..69 are 65,000 bytes each: a get-entries range over them is cut short by the answer's byte bound (4 MiB). */
const BIG = 70;
/** The tree's size: more than 1000, so that a range's first 1000 entries can lie inside it. */
const SIZE = 1100;

const entry = (i: number) => (i < BIG ? Buffer.alloc(65_000, i) : Buffer.from(`entry ${i}`));
const byHash = (i: number, treeSize: number) => `hash=${encodeURIComponent(encodeBase64(leafHash(entry(i))))}&tree_size=${treeSize}`;

let h: Harness;
const apps: Record<'public' | 'private', { fast: Express; express: Express }> = {} as never;

beforeAll(async () => {
  h = await openHarness();
  for (let from = 0; from < SIZE; from += 100) await h.log.submit(Array.from({ length: 100 }, (_, j) => entry(from + j)));
  expect(h.log.latest().treeSize).toBe(SIZE);
  const access = () => new AccessControl({ tokens: [{ name: 'reader', role: 'read', hash: hashToken(READER) }], publicReads: false });
  const app = (fastRoutes: boolean, withAccess: boolean) =>
    createApp({ log: h.log, verifierKey: vector.verifier_key, metrics: createMetrics({ processMetrics: false }), fastRoutes, ...(withAccess ? { access: access() } : {}) });
  apps.public = { fast: app(true, false), express: app(false, false) };
  apps.private = { fast: app(true, true), express: app(false, true) };
}, 60_000);
afterAll(async () => {
  await h.close();
});

type Kind = 'fixed' | 'changing' | 'short' | 'no-store';
const EXPECTED: Record<'public' | 'private', Record<Kind, string>> = {
  public: { fixed: 'public, max-age=31536000, immutable', changing: 'no-cache', short: 'public, max-age=60', 'no-store': 'no-store' },
  private: { fixed: 'private, max-age=31536000, immutable', changing: 'private, no-cache', short: 'private, max-age=60', 'no-store': 'no-store' },
};

/** Every read route, with what its answer's Cache-Control must be. */
const READS: [string, Kind][] = [
  ['/ct/v1/get-sth', 'changing'],
  ['/checkpoint', 'changing'],
  ['/v1/log', 'changing'],
  ['/ct/v1/get-sth-consistency?first=1&second=1100', 'fixed'],
  ['/ct/v1/get-sth-consistency?first=7&second=7', 'fixed'],
  [`/ct/v1/get-proof-by-hash?${byHash(80, 1100)}`, 'fixed'],
  [`/ct/v1/get-proof-by-hash?${byHash(80, 81)}`, 'fixed'],
  ['/ct/v1/get-entry-and-proof?leaf_index=80&tree_size=1100', 'fixed'],
  ['/ct/v1/get-entry-and-proof?leaf_index=1099&tree_size=1100', 'fixed'],
  ['/ct/v1/get-entries?start=80&end=89', 'fixed'],
  ['/ct/v1/get-entries?start=1090&end=1099', 'fixed'], // up to the last entry, not past it
  ['/ct/v1/get-entries?start=90&end=9223372036854775807', 'fixed'], // its first 1000 entries end at 1089
  ['/ct/v1/get-entries?start=1090&end=1100', 'changing'], // clamped at the tree's end
  ['/ct/v1/get-entries?start=100&end=9223372036854775807', 'fixed'], // its first 1000 entries end at 1099, the last
  ['/ct/v1/get-entries?start=101&end=9223372036854775807', 'changing'], // the 1000th would be 1100, past the tree
  ['/tile/0/000', 'fixed'],
  ['/tile/0/004.p/76', 'short'],
  ['/tile/entries/000', 'fixed'],
  ['/tile/entries/004.p/76', 'short'],
  ['/healthz', 'no-store'],
];

describe.each(['public', 'private'] as const)('on a %s log', (scope) => {
  describe.each(['fast', 'express'] as const)('through %s', (way) => {
    it.each(READS)('%s', async (path, kind) => {
      const req = request(apps[scope][way]).get(path);
      const res = await (scope === 'private' ? req.set('Authorization', `Bearer ${READER}`) : req);
      expectResponseMatchesSpec('GET', path, { status: res.status, headers: res.headers, body: res.body, text: res.text });
      expect([res.status, res.headers['cache-control']]).toEqual([200, EXPECTED[scope][kind]]);
    });
  });

  it('a get-entries range inside the tree but cut short by the answer byte bound is fixed: the same entries always cut it at the same place', async () => {
    for (const way of ['fast', 'express'] as const) {
      const req = request(apps[scope][way]).get('/ct/v1/get-entries?start=0&end=99');
      const res = await (scope === 'private' ? req.set('Authorization', `Bearer ${READER}`) : req);
      expect(res.status).toBe(200);
      expect(res.body.entries.length).toBeLessThan(BIG);
      expect(res.headers['cache-control']).toBe(EXPECTED[scope].fixed);
    }
  });
});

test('errors say no-store, also for a request the fast path would have answered', async () => {
  for (const [path, status] of [
    ['/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=1101', 400],
    [`/ct/v1/get-proof-by-hash?${byHash(80, 80)}`, 404],
    ['/ct/v1/get-entries?start=1100&end=1100', 400],
  ] as const) {
    const res = await request(apps.public.fast).get(path);
    expect([path, res.status, res.headers['cache-control']]).toEqual([path, status, 'no-store']);
  }
});
