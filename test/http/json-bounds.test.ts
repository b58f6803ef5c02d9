// JSON bodies are refused as soon as they are seen to exceed what their route
// can accept (CONTRACT §1, §3): a batch at its 1001st element or first
// non-string, a JSON entry at its 32,769th value. Each oversized body below
// ends in a syntax error the parser would only reach by reading all of it:
// being refused for its size instead shows that it stopped where it should.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/http/app.js';
import { Log } from '../../src/log/log.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';

let dir: string;
let log: Log;
let app: Express;
const b64 = (s: string) => encodeBase64(new TextEncoder().encode(s));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-json-bounds-'));
  log = await Log.open({ store: await LevelStore.open(dir), signer: testSigner, verifier: testVerifier });
  app = createApp({ log, verifierKey: vector.verifier_key });
});
afterAll(async () => {
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

async function postJson(path: string, body: string): Promise<request.Response> {
  const res = await request(app)
    .post(path)
    .set('Content-Type', 'application/json')
    .serialize((b: unknown) => b as string)
    .send(body);
  expectResponseMatchesSpec('POST', path, { status: res.status, headers: res.headers, body: res.body, text: res.text });
  return res;
}

function expectError(res: request.Response, status: number, code: string, message: RegExp): void {
  expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
  expect(res.body.error).toMatch(message);
}

describe('POST /v1/batch', () => {
  test('1001 tiny strings: 400 TOO_MANY_ENTRIES, saying more than 1000', async () => {
    const body = JSON.stringify({ entries: Array.from({ length: 1001 }, (_, i) => b64(`t${i}`)) });
    expectError(await postJson('/v1/batch', body), 400, 'TOO_MANY_ENTRIES', /at most 1000 entries; this one holds more/);
  });

  test('10^6 strings: refused at the 1001st, never reaching the end', async () => {
    const body = '{"entries":[' + '"YQ==",'.repeat(1_000_000) + 'garbage';
    expectError(await postJson('/v1/batch', body), 400, 'TOO_MANY_ENTRIES', /at most 1000 entries; this one holds more/);
  });

  test('10^6 [0] elements: refused at the first, as not a string', async () => {
    const body = '{"entries":[' + '[0],'.repeat(1_000_000) + '[0]]}';
    expectError(await postJson('/v1/batch', body), 400, 'MALFORMED_REQUEST', /^entries\[0\] must be a base64 string$/);
    const late = '{"entries":["YQ==",' + '{},'.repeat(1_000_000) + 'garbage';
    expectError(await postJson('/v1/batch', late), 400, 'MALFORMED_REQUEST', /^entries\[1\] must be a base64 string$/);
  });

  test('any other shape is refused where it begins', async () => {
    const big = '[0],'.repeat(1_000_000) + 'garbage';
    expectError(await postJson('/v1/batch', '[' + big), 400, 'MALFORMED_REQUEST', /must be a JSON object/);
    expectError(await postJson('/v1/batch', '{"other":[' + big), 400, 'MALFORMED_REQUEST', /^unknown field "other"$/);
    expectError(await postJson('/v1/batch', '{"entries":{"a":[' + big), 400, 'MALFORMED_REQUEST', /"entries" must be an array/);
    expectError(await postJson('/v1/batch', '{"entries":["YQ=="],"entries":[' + big), 400, 'INVALID_JSON', /duplicate key "entries"/);
    expectError(await postJson('/v1/batch', '{"entries":[]}'), 400, 'MALFORMED_REQUEST', /at least one entry/);
    expectError(await postJson('/v1/batch', '{}'), 400, 'MALFORMED_REQUEST', /"entries" must be an array/);
  });

  test('a string longer than the base64 of 65,535 bytes is 413 before it is decoded, valid base64 or not', async () => {
    expectError(await postJson('/v1/batch', JSON.stringify({ entries: ['!'.repeat(87381)] })), 413, 'ENTRY_TOO_LARGE', /^entries\[0\] is longer than 87380/);
    const largest = encodeBase64(new Uint8Array(65535).fill(1));
    expect(largest).toHaveLength(87380);
    const res = await postJson('/v1/batch', JSON.stringify({ entries: [largest] }));
    expect(res.status).toBe(200);
  });

  test('a valid batch of 1000 entries is still taken', async () => {
    const res = await postJson('/v1/batch', JSON.stringify({ entries: Array.from({ length: 1000 }, (_, i) => b64(`bound ${i}`)) }, null, 2));
    expect(res.status).toBe(200);
    expect(res.body.receipts).toHaveLength(1000);
  });
});

describe('POST /v1/entries (JSON)', () => {
  // Canonically each value takes a byte and each but the outermost a separator
  // too: V values take at least 2V − 1 bytes, so 65,535 bytes hold 32,768.
  const zeros = (n: number) => Array.from({ length: n }, () => '0');

  test('an entry of exactly 32,768 values (canonically 65,535 bytes) is taken, also pretty-printed', async () => {
    const compact = '[' + zeros(32767).join(',') + ']';
    expect(compact).toHaveLength(65535);
    const res = await postJson('/v1/entries', compact);
    expect(res.status).toBe(201);
    const pretty = '[\n  ' + zeros(32767).join(',\n  ') + '\n]';
    const again = await postJson('/v1/entries', pretty);
    expect({ status: again.status, index: again.body.index, duplicate: again.body.duplicate }).toEqual({ status: 200, index: res.body.index, duplicate: true });
  });

  test('the 32,769th value is 413 ENTRY_TOO_LARGE, without the rest being read', async () => {
    const body = '[' + zeros(32768).join(',') + ',garbage';
    expectError(await postJson('/v1/entries', body), 413, 'ENTRY_TOO_LARGE', /more than 32768 values/);
  });

  test('1 MiB of [0] elements is 413 ENTRY_TOO_LARGE, without the rest being read', async () => {
    const body = '[' + '[0],'.repeat(262_000) + 'garbage';
    expect(body.length).toBeLessThanOrEqual(1024 * 1024);
    expectError(await postJson('/v1/entries', body), 413, 'ENTRY_TOO_LARGE', /more than 32768 values/);
  });

  test('a syntax error before the bound is still 400 INVALID_JSON', async () => {
    expectError(await postJson('/v1/entries', '[' + zeros(100).join(',') + ',]'), 400, 'INVALID_JSON', /unexpected character/);
  });
});
