// Conditional requests: the server sends no validators (no ETag, no
// Last-Modified), and answers every GET and HEAD in full whatever
// If-None-Match, If-Modified-Since, If-Match or If-Unmodified-Since it
// carries (spec/openapi.yaml, "Conditional requests"): never 304, never
// 412, on the fast routes and the express ones alike.
import request from 'supertest';
import type { Express } from 'express';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { expectResponseMatchesSpec, findOperation, specOperations } from '../helpers/openapi.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

const enc = (s: string) => new TextEncoder().encode(s);

let h: Harness;
let slow: Harness;
beforeAll(async () => {
  h = await openHarness();
  // The same log's routes without the fast path: every GET goes through express.
  slow = await openHarness({}, { fastRoutes: false });
  for (const log of [h.log, slow.log]) await log.submit(Array.from({ length: 300 }, (_, i) => enc(`conditional ${i}`)));
});
afterAll(async () => {
  await h.close();
  await slow.close();
});

/** A request that answers 200 for every GET operation of the spec, against a log of 300 entries. */
const READS = [
  '/ct/v1/get-sth',
  '/ct/v1/get-sth-consistency?first=1&second=300',
  `/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(encodeBase64(leafHash(enc('conditional 7'))))}&tree_size=300`,
  '/ct/v1/get-entries?start=0&end=9',
  '/ct/v1/get-entry-and-proof?leaf_index=7&tree_size=300',
  '/checkpoint',
  '/tile/0/000',
  '/tile/0/001.p/44',
  '/tile/entries/000',
  '/tile/entries/001.p/44',
  '/v1/log',
  '/healthz',
  '/metrics',
];

/** Every condition a cache or client could send, none of which may change the answer. */
const CONDITIONS: Record<string, string>[] = [
  { 'If-None-Match': '*' },
  { 'If-None-Match': '"abc", W/"def"' },
  { 'If-Modified-Since': new Date(Date.now() + 86_400_000).toUTCString() },
  { 'If-None-Match': '*', 'If-Modified-Since': new Date(Date.now() + 86_400_000).toUTCString() },
  { 'If-Match': '"abc"' },
  { 'If-Unmodified-Since': 'Thu, 01 Jan 1970 00:00:00 GMT' },
];

test('READS covers every GET operation of the spec', () => {
  const covered = new Set(READS.map((path) => findOperation('GET', path)?.operationId));
  const gets = specOperations().filter((op) => op.method === 'GET').map((op) => op.operationId);
  expect([...covered].sort()).toEqual([...gets].sort());
});

describe.each([
  ['the app', () => h.app],
  ['the app without its fast routes', () => slow.app],
] as [string, () => Express][])('%s', (_name, app) => {
  test.each(READS)('GET and HEAD %s answer 200 in full, with no validator, whatever conditions they carry', async (path) => {
    const plain = await request(app()).get(path).buffer(true);
    expect([path, plain.status]).toEqual([path, 200]);
    for (const conditions of CONDITIONS) {
      for (const method of ['get', 'head'] as const) {
        const res = await request(app())[method](path).set(conditions).buffer(true);
        expectResponseMatchesSpec(method, path, { status: res.status, headers: res.headers, body: res.body, text: res.text });
        expect([path, method, conditions, res.status]).toEqual([path, method, conditions, 200]);
        expect(res.headers.etag).toBeUndefined();
        expect(res.headers['last-modified']).toBeUndefined();
        expect(res.headers['content-type']).toBe(plain.headers['content-type']);
        if (method === 'head' || path === '/metrics') continue;
        // The same answer as without the conditions (the log does not change meanwhile).
        expect(Buffer.compare(Buffer.from(res.text ?? res.body), Buffer.from(plain.text ?? plain.body))).toBe(0);
      }
    }
  });
});
