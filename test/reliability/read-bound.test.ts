// One small read cannot make the server build a huge answer: get-entries
// stops at MAX_GET_ENTRIES_BYTES of entries (CONTRACT §3 lets it return
// fewer than asked), across entry-bundle boundaries, in order.
import request from 'supertest';
import { MAX_GET_ENTRIES_BYTES } from '../../src/http/app.js';
import { decodeBase64 } from '../../src/note/base64.js';
import { openHarness, type Harness } from './helpers.js';

let h: Harness;
afterEach(async () => {
  await h.close();
});

const entry = (i: number, size: number) => {
  const e = new Uint8Array(size).fill(i % 251);
  e.set(new TextEncoder().encode(`entry ${i} `));
  return e;
};

test('get-entries of big entries answers at most MAX_GET_ENTRIES_BYTES of them, at least one, in order', async () => {
  h = await openHarness();
  const size = 60_000;
  for (let i = 0; i < 300; i += 50) await h.log.submit(Array.from({ length: 50 }, (_, k) => entry(i + k, size)));
  const res = await request(h.app).get('/ct/v1/get-entries?start=200&end=299');
  expect(res.status).toBe(200);
  const got = (res.body.entries as { leaf_input: string }[]).map((e) => decodeBase64(e.leaf_input));
  expect(got.length).toBe(Math.floor(MAX_GET_ENTRIES_BYTES / size));
  got.forEach((e, k) => expect(Buffer.from(e).equals(Buffer.from(entry(200 + k, size)))).toBe(true));
  expect(res.text.length).toBeLessThan(MAX_GET_ENTRIES_BYTES * 1.4 + 1000);
  // Whatever is asked, the first entry comes.
  const one = await request(h.app).get('/ct/v1/get-entries?start=299&end=299');
  expect(one.body.entries).toHaveLength(1);
});

test('small entries: up to 1000 across bundle boundaries, clamped at the tree end, with the same errors as before', async () => {
  h = await openHarness();
  await h.log.submit(Array.from({ length: 1000 }, (_, i) => entry(i, 20)));
  await h.log.submit(Array.from({ length: 300 }, (_, i) => entry(1000 + i, 20)));
  const all = await request(h.app).get('/ct/v1/get-entries?start=5&end=5000');
  expect(all.body.entries).toHaveLength(1000);
  const got = (all.body.entries as { leaf_input: string }[]).map((e) => Buffer.from(decodeBase64(e.leaf_input)));
  got.forEach((e, k) => expect(e.equals(Buffer.from(entry(5 + k, 20)))).toBe(true));
  const tail = await request(h.app).get('/ct/v1/get-entries?start=1250&end=1400');
  expect(tail.body.entries).toHaveLength(50);
  const cross = await request(h.app).get('/ct/v1/get-entries?start=250&end=520');
  expect(cross.body.entries).toHaveLength(271);
  for (const q of ['start=1300&end=1300', 'start=9&end=8', 'start=0']) {
    expect((await request(h.app).get(`/ct/v1/get-entries?${q}`)).status).toBe(400);
  }
});
