// The request Content-Encoding of spec/openapi.yaml (parameter ContentEncoding)
// and spec/formats.md against the server: the codings the spec lists are the
// ones the server decodes, on both writes, and every other is 415.
import { readFileSync } from 'node:fs';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import request from 'supertest';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { expectResponseMatchesSpec, loadSpec, resolveRef } from '../helpers/openapi.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

type Json = Record<string, unknown>;

const spec = loadSpec();
const formats = readFileSync(new URL('../../spec/formats.md', import.meta.url), 'utf8');
/** The spec's ContentEncoding header parameter. */
const parameter = () => resolveRef({ $ref: '#/components/parameters/ContentEncoding' });
/** The codings it lists. */
const codings = () => (parameter().schema as Json).enum as string[];

/** How to compress a body in each coding the server may be asked for. */
const ENCODERS: Record<string, (b: Buffer) => Buffer> = {
  gzip: gzipSync,
  'x-gzip': gzipSync,
  deflate: deflateSync,
  br: brotliCompressSync,
  identity: (b) => b,
};
/** Codings a client might send that are not in the list. */
const OTHERS = ['compress', 'x-compress', 'zstd', 'deflate-raw', 'gzip, gzip', 'gzip, identity', 'identity, gzip', 'gzip;q=1', '*'];

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h.close();
});

async function post(path: string, type: string, coding: string, body: Buffer): Promise<request.Response> {
  const res = await request(h.app).post(path).set('Content-Type', type).set('Content-Encoding', coding).serialize((b: unknown) => b as string).send(body);
  expectResponseMatchesSpec('POST', path, { status: res.status, headers: res.headers, body: res.body, text: res.text });
  return res;
}

test('both writes declare the optional Content-Encoding header', () => {
  expect(parameter()).toMatchObject({ name: 'Content-Encoding', in: 'header', required: false });
  for (const path of ['/v1/entries', '/v1/batch']) {
    const post = (spec.paths as Record<string, Json>)[path]!.post as Json;
    expect([path, post.parameters]).toEqual([path, [{ $ref: '#/components/parameters/ContentEncoding' }]]);
  }
  expect(Object.keys(ENCODERS).sort()).toEqual([...codings()].sort());
});

test.each(Object.keys(ENCODERS))('an entry and a batch sent with Content-Encoding: %s are logged as their decoded bytes', async (coding) => {
  for (const sent of [coding, coding.toUpperCase()]) {
    const entry = Buffer.from(`sent as ${sent}: ${'y'.repeat(500)}`);
    const one = await post('/v1/entries', 'application/octet-stream', sent, ENCODERS[coding]!(entry));
    expect([sent, one.status]).toEqual([sent, 201]);
    expect(one.body.leaf_hash).toBe(encodeBase64(leafHash(new Uint8Array(entry))));
    const batchEntry = Buffer.from(`batch ${sent}`);
    const batch = await post('/v1/batch', 'application/json', sent, ENCODERS[coding]!(Buffer.from(JSON.stringify({ entries: [batchEntry.toString('base64')] }))));
    expect([sent, batch.status]).toEqual([sent, 200]);
    expect(batch.body.receipts[0].leaf_hash).toBe(encodeBase64(leafHash(new Uint8Array(batchEntry))));
  }
});

test.each(OTHERS)('Content-Encoding: %s, which the spec does not list, is 415 UNSUPPORTED_MEDIA_TYPE on both writes', async (coding) => {
  const size = h.log.latest().treeSize;
  for (const [path, type, body] of [
    ['/v1/entries', 'application/octet-stream', gzipSync('other')],
    ['/v1/batch', 'application/json', gzipSync(JSON.stringify({ entries: ['b3RoZXI='] }))],
  ] as const) {
    const res = await post(path, type, coding, body);
    expect([path, res.status, res.body.code]).toEqual([path, 415, 'UNSUPPORTED_MEDIA_TYPE']);
  }
  expect(h.log.latest().treeSize).toBe(size);
});

test('a compressed body that does not decode is 400 MALFORMED_REQUEST, as the spec says', async () => {
  const res = await post('/v1/entries', 'application/octet-stream', 'gzip', Buffer.from('not gzip'));
  expect([res.status, res.body.code]).toEqual([400, 'MALFORMED_REQUEST']);
  expect(String(resolveRef({ $ref: '#/components/responses/BadRequest' }).description)).toMatch(/Content-Encoding/);
  expect(/^\| `MALFORMED_REQUEST` \|.*$/m.exec(formats)![0]).toContain('a compressed body that does not decode');
});

test('the 415 answer of the spec and the UNSUPPORTED_MEDIA_TYPE row of formats.md name every coding the server takes', () => {
  const response = String(resolveRef({ $ref: '#/components/responses/UnsupportedMediaType' }).description);
  const row = /^\| `UNSUPPORTED_MEDIA_TYPE` \|.*$/m.exec(formats)![0];
  for (const coding of codings()) {
    expect([coding, response]).toEqual([coding, expect.stringContaining(`\`${coding}\``)]);
    expect([coding, row]).toEqual([coding, expect.stringContaining(`\`${coding}\``)]);
  }
});
