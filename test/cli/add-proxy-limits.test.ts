// cairn add behind a proxy whose body limit is less than a full batch (nginx's
// client_max_body_size is 1 MiB by default; a batch may be 11 MB): the proxy's
// 413 (its HTML page, not the log's JSON) has the batch sent again in halves,
// a warning said once, down to one entry, which is then a clear error; the
// log's own 413 BODY_TOO_LARGE halves batches as its TOO_MANY_ENTRIES does.
// Receipts stay in input order, whether or not the proxy passed the refused
// request on. Against a fake log with a proxy's hook, and a real one.
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { addCommand, MAX_BATCH_BODY_BYTES, PROXY_BODY_LIMIT } from '../../src/cli/add.js';
import { canonicalizeJson } from '../../src/jcs/canonical.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { vector } from '../helpers/keys.js';
import { openHarness } from '../reliability/helpers.js';
import { enc, hashOf, receiptsOf, stdinOf } from './add-lines.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest, send } from './fake-log.js';

const t = fakeLogEachTest(600, 'cairn-add-proxy-');

/** nginx 1.22's 413 page, as it sends it. */
const NGINX_413 =
  '<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n' +
  '<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n';

/** `n` JSON events of 1017 canonical bytes each: a batch of k of them is a body of 13 + 1359 k bytes. */
const events = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify({ t: tag, i: 10 + i, pad: 'p'.repeat(1000 - tag.length - 7) }));
/** The length of a batch body of entries of these lengths: {"entries":[...]}, each a quoted base64 string. */
const bodyBytes = (lengths: number[]) => 14 + lengths.length - 1 + lengths.reduce((sum, l) => sum + 2 + 4 * Math.ceil(l / 3), 0);
const entriesIn = (body: Uint8Array) => (JSON.parse(new TextDecoder().decode(body)) as { entries: string[] }).entries;

/**
 * Puts a proxy in front of the fake log that answers a batch body of more
 * than `limit` bytes with nginx's 413 page: refused before it is passed on,
 * as nginx does, or (`passedOn`) once the log took its entries. Returns the
 * entries per batch request, in order.
 */
function proxyLimit(limit: number, passedOn = false): number[] {
  const sizes: number[] = [];
  t.fake.hook = (path, _req, res, body) => {
    if (path !== 'v1/batch') return false;
    sizes.push(entriesIn(body).length);
    if (body.length <= limit) return false;
    if (passedOn) {
      const known = new Set(t.fake.entries.map((e) => encodeBase64(e)));
      for (const e of entriesIn(body)) {
        if (!known.has(e)) t.fake.entries.push(decodeBase64(e));
        known.add(e);
      }
    }
    send(res, 413, NGINX_413, 'text/html');
    return true;
  };
  return sizes;
}

const warning = (entries: number, bytes: number, size: number) =>
  `cairn add: warning: a proxy in front of the log refused a request of ${entries} entries (${bytes} bytes) as too large (413, an answer not the log's), ` +
  `so the entries go in smaller requests: batches of ${size}, halved again while it refuses them; to send full batches, raise its body limit ` +
  `(nginx: client_max_body_size ${PROXY_BODY_LIMIT}; its default is 1m), or give a --batch-size it takes (said once)\n`;

test("a proxy's 413 has the batch sent again in halves until one is taken, later batches of that size, with a warning once (also with --quiet); receipts in input order", async () => {
  const lines = events(20, 'halves');
  const sizes = proxyLimit(8000);
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--quiet'], io)).toBe(0);
  // 20 entries are 27,193 bytes, 10 are 13,603, 5 are 6,808.
  expect(sizes).toEqual([20, 10, 5, 5, 5, 5]);
  expect([20, 10, 5].map((n) => bodyBytes(Array.from({ length: n }, () => 1017)))).toEqual([27_193, 13_603, 6_808]);
  expect(io.err()).toBe(warning(20, 27_193, 10));
  const receipts = receiptsOf(io.out());
  expect(receipts.map((r) => [r.index, r.leaf_hash, r.duplicate])).toEqual(lines.map((l, i) => [600 + i, hashOf(l), false]));
});

test('a proxy that passed the refused request on, the log taking it: the halves sent again come back as duplicates, receipts in input order, counted as new', async () => {
  const lines = events(20, 'passed');
  const sizes = proxyLimit(8000, true);
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--json'], io)).toBe(0);
  expect(sizes).toEqual([20, 10, 5, 5, 5, 5]);
  expect(t.fake.entries).toHaveLength(620);
  expect(receiptsOf(io.out()).map((r) => [r.index, r.leaf_hash, r.duplicate])).toEqual(lines.map((l, i) => [600 + i, hashOf(l), true]));
  const [warned, summary] = io.err().split('\n');
  expect(`${warned}\n`).toBe(warning(20, 27_193, 10));
  expect(JSON.parse(summary!)).toMatchObject({ entries: 20, new: 20, duplicates: 0, requests: 6, tree_size: 620 });
});

test('one entry alone that the proxy refuses: exit 2 naming its body limit and --batch-size, the receipts before it written, nothing said to be maybe logged', async () => {
  const lines = [...events(3, 'small'), JSON.stringify({ big: 'b'.repeat(5000) }), ...events(2, 'after')];
  const big = canonicalizeJson(enc(lines[3]!)).length;
  const sizes = proxyLimit(4500);
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--quiet'], io)).toBe(2);
  // 6 entries refused, then 3 taken (4,090 bytes), then the big one and 2 more refused, then the big one alone.
  expect(sizes).toEqual([6, 3, 3, 1]);
  expect(io.err()).toBe(
    warning(6, bodyBytes([1017, 1017, 1017, big, 1017, 1017]), 3) +
      `cairn add: POST ${t.fake.url}/v1/batch: 413: an HTML page, not the log's: 413 Request Entity Too Large; ` +
      `a proxy in front of the log refuses even one entry, <stdin>:4, in a request of ${bodyBytes([big])} bytes, as too large: ` +
      `raise its body limit (nginx: client_max_body_size; ${PROXY_BODY_LIMIT} takes cairn add's full batches), since no --batch-size sends less ` +
      '(the 3 entries before <stdin>:4 were logged and their receipts written; <stdin>:4 and the lines after it were not logged: feed the lines from <stdin>:4 on to cairn add again (it cannot read them twice itself))\n',
  );
  expect(receiptsOf(io.out()).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 3).map(hashOf));
  expect(t.fake.entries).toHaveLength(603);

  // Given --batch-size 1 from the start: the same error, without a warning.
  const one = captureIo({ stdin: stdinOf(lines.slice(3)) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '1', '--quiet'], one)).toBe(2);
  expect(one.err()).toMatch(/^cairn add: POST \S+: 413: an HTML page, not the log's: 413 Request Entity Too Large; a proxy in front of the log refuses even one entry, <stdin>:1, in a request of \d+ bytes, as too large: raise its body limit/);
  expect(one.err()).not.toMatch(/warning|may have been logged/);
});

test("the log's own 413 BODY_TOO_LARGE (more bytes than its queue holds) halves batches as its TOO_MANY_ENTRIES does, with no word of a proxy", async () => {
  const h = await openHarness({ maxQueueBytes: 6000 });
  const http: Server = createServer(h.app);
  try {
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const lines = events(20, 'queue');
    const io = captureIo({ stdin: stdinOf(lines) });
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    expect(await addCommand(['--url', url, '--vkey', vector.verifier_key, '--json-lines', '--json'], io)).toBe(0);
    expect(receiptsOf(io.out()).map((r) => [r.index, r.leaf_hash])).toEqual(lines.map((l, i) => [i, hashOf(l)]));
    const err = io.err().split('\n');
    expect(err.slice(0, 2)).toEqual([
      'cairn add: the log refuses 20 entries in one request (BODY_TOO_LARGE); sending batches of 10',
      'cairn add: the log refuses 10 entries in one request (BODY_TOO_LARGE); sending batches of 5',
    ]);
    expect(JSON.parse(err[2]!)).toMatchObject({ entries: 20, new: 20, requests: 6, tree_size: 20 });
    expect(h.log.latest().treeSize).toBe(20);
  } finally {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    await h.close();
  }
});

test(`the largest batch body is MAX_BATCH_BODY_BYTES (${MAX_BATCH_BODY_BYTES}), within the ${PROXY_BODY_LIMIT} the warning asks of nginx: 1000 entries of 8386 bytes go in one request of about that`, async () => {
  expect(PROXY_BODY_LIMIT).toBe('12m');
  expect(MAX_BATCH_BODY_BYTES).toBe(11_190_489);
  expect(MAX_BATCH_BODY_BYTES).toBeLessThanOrEqual(12 * 2 ** 20);
  // 1000 FILEs (one entry each) of 8386 bytes, one more than a multiple of 3: the most base64 padding the 8 MiB of a batch allows.
  const files = await Promise.all(
    Array.from({ length: 1000 }, async (_, i) => {
      const file = join(t.dir, `entry-${i}`);
      await writeFile(file, `${String(i).padStart(4, '0')}${'x'.repeat(8386 - 4)}`);
      return file;
    }),
  );
  const bodies: number[] = [];
  // Only the body's length is wanted: the log's own refusal ends the run there.
  t.fake.hook = (path, _req, res, body) => {
    if (path !== 'v1/batch') return false;
    bodies.push(body.length);
    send(res, 400, { error: 'measured', code: 'MALFORMED_REQUEST' });
    return true;
  };
  const io = captureIo();
  expect(await addCommand([...t.common, '--quiet', ...files], io)).toBe(2);
  expect(io.err()).toMatch(/: 400 MALFORMED_REQUEST: measured\n$/);
  expect(bodies).toEqual([bodyBytes(Array.from({ length: 1000 }, () => 8386))]);
  expect(bodies[0]).toBeLessThanOrEqual(MAX_BATCH_BODY_BYTES);
  expect(MAX_BATCH_BODY_BYTES - bodies[0]!).toBeLessThan(4000);
});
