// cairn add reading FILEs: JSON Lines checked in a first pass and sent in a
// second, a little at a time; a FILE that changes in between; FILEs too large
// to be entries, refused without being read. In-process against a real server.
import { appendFileSync, openSync, closeSync, truncateSync, writeSync } from 'node:fs';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { BadInputError, LineSplitter, MAX_LINE_BYTES, READ_CHUNK_BYTES, splitLines, type Line } from '../../src/cli/add-input.js';
import { addCommand } from '../../src/cli/add.js';
import type { FetchLike } from '../../src/client/http.js';
import { canonicalizeJson } from '../../src/jcs/canonical.js';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AccessControl, hashToken, parseTokenFile } from '../../src/http/access.js';
import type { LogOptions } from '../../src/log/log.js';
import { useCliServer } from '../helpers/cli-server.js';
import { TEST_ORIGIN, vector } from '../helpers/keys.js';
import { openHarness, type Harness } from '../reliability/helpers.js';
import { captureIo } from './client-io.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const t = useCliServer('cairn-cli-add-', { origin: 'add.test/log' });

const treeSize = () => t.server.log.latest().treeSize;
const receiptLines = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { index: number; leaf_hash: string; duplicate: boolean });
const expectedHash = (json: string) => encodeBase64(leafHash(canonicalizeJson(enc(json))));

/** Lines of about 200 bytes, distinct per tag, so that a file of them spans several reads. */
const events = (tag: string, n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ tag, n: i + 1, pad: 'p'.repeat(170) }));

/** A fetch that runs `onFirstPost` just before the first request that logs entries is sent. */
function firstPostFetch(onFirstPost: () => void): { fetch: FetchLike; posts: () => number } {
  let posts = 0;
  return {
    fetch: async (url, init) => {
      if (init?.method === 'POST' && posts++ === 0) onFirstPost();
      return fetch(url, init);
    },
    posts: () => posts,
  };
}

async function collectLines(chunks: Iterable<Uint8Array>, maxBytes?: number) {
  const out: [number, string][] = [];
  for await (const line of splitLines(chunks, 'f', maxBytes)) out.push([line.number, dec(line.bytes)]);
  return out;
}

test('splitLines: any chunking gives the lines of the whole, "\\r\\n" and a last line without "\\n" included', async () => {
  const text = fc.stringMatching(/^[ab \t\r\n]{0,60}$/);
  await fc.assert(
    fc.asyncProperty(text, fc.array(fc.nat(60)), async (s, cuts) => {
      const bytes = enc(s);
      const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const chunks = [0, ...at].map((start, i) => bytes.subarray(start, i < at.length ? at[i] : bytes.length));
      const expected = s.split('\n').map((l, i): [number, string] => [i + 1, l.endsWith('\r') ? l.slice(0, -1) : l]);
      if (s.endsWith('\n') || s === '') expected.pop();
      expect(await collectLines(chunks)).toEqual(expected);
    }),
    { numRuns: 500 },
  );
});

test('LineSplitter without empty lines: the lines of the whole but those of no bytes, numbered the same, however long a run of "\\n" and however chunked', async () => {
  const piece = fc.oneof(fc.constantFrom('a', 'b', ' ', '\r', '\n'), fc.integer({ min: 1, max: 9000 }).map((n) => '\n'.repeat(n)));
  await fc.assert(
    fc.asyncProperty(fc.array(piece, { maxLength: 30 }), fc.array(fc.nat(30_000)), async (pieces, cuts) => {
      const s = pieces.join('');
      const bytes = enc(s);
      const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const chunks = [0, ...at].map((start, i) => bytes.subarray(start, i < at.length ? at[i] : bytes.length));
      const expected = s.split('\n').map((l, i): [number, string] => [i + 1, l]);
      if (s.endsWith('\n') || s === '') expected.pop();
      const lines = new LineSplitter('f');
      const got: [number, string][] = [];
      // Each line taken at once: it may be a view of its chunk.
      const take = (line: Line) => void got.push([line.number, dec(line.bytes)]);
      for (const chunk of chunks) lines.push(chunk, take, false);
      const last = lines.end();
      if (last !== undefined) take(last);
      expect(got).toEqual(expected.filter(([, l]) => l !== '').map(([n, l]): [number, string] => [n, l.endsWith('\r') ? l.slice(0, -1) : l]));
    }),
    { numRuns: 300 },
  );
});

test('splitLines: a line of more than maxBytes is refused as FILE:LINE once that much of it is read, not after all of it', async () => {
  // The ending is not counted: "xyzw\r\n" is 4 bytes, its "\r" and "\n" in different chunks.
  expect(await collectLines([enc('ab\r\nxyzw\r'), enc('\n1234')], 4)).toEqual([[1, 'ab'], [2, 'xyzw'], [3, '1234']]);
  await expect(collectLines([enc('ab\n12'), enc('345\n')], 4)).rejects.toThrow(new BadInputError('f:2: a line longer than 4 bytes, too long for a JSON event'));
  await expect(collectLines([enc('ab\n12345')], 4)).rejects.toThrow(/^f:2: a line longer than 4 bytes/);
  // A line that never ends: reading stops soon after maxBytes.
  let pulled = 0;
  function* endless() {
    yield enc('{}\n');
    for (;;) {
      pulled += 7;
      yield enc('       ');
    }
  }
  await expect(collectLines(endless(), 1000)).rejects.toThrow(/^f:2: a line longer than 1000 bytes/);
  expect(pulled).toBeLessThanOrEqual(1000 + 1 + 7);
});

test('a JSON Lines FILE of many reads is logged in order, CRLF and blank lines as on standard input', async () => {
  const lines = events('order', 1200);
  // Blank lines: " \t", and "\r\n" split by the end of the first read (a
  // "\r" left would not be blank); the last line is a "\r" without "\n".
  const first = `{"pad":"${'q'.repeat(READ_CHUNK_BYTES - 12)}"}`;
  expect(enc(first).length).toBe(READ_CHUNK_BYTES - 2);
  const file = join(t.dir, 'order.jsonl');
  await writeFile(file, `${first}\n\r\n \t\r\n${lines.join('\n')}\n\r`);
  const io = captureIo();
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '500', '--json', file], io)).toBe(0);
  const receipts = receiptLines(io.out());
  expect(receipts.map((r) => r.leaf_hash)).toEqual([first, ...lines].map(expectedHash));
  expect(receipts.slice(1).map((r) => r.index)).toEqual(lines.map((_, i) => receipts[1]!.index + i));
  expect(JSON.parse(io.err().trim())).toMatchObject({ entries: 1201, new: 1201, duplicates: 0, requests: 3, tree_size: treeSize() });

  // Line numbers count the blank lines.
  await writeFile(file, `{"a":1}\r\n\r\n  \n{"a":2}\r\n{"a":\n`);
  const bad = captureIo();
  expect(await addCommand([...t.common, '--json-lines', file], bad)).toBe(2);
  expect(bad.err()).toMatch(new RegExp(`^cairn add: ${file}:5: not an I-JSON value`));
});

test('a FILE that cannot be read (not there, a folder) among several inputs: nothing was sent, said as for any input found bad before sending, with or without --stream', async () => {
  const good = join(t.dir, 'unread-good.jsonl');
  await writeFile(good, '{"a":1}\n');
  const missing = join(t.dir, 'unread-missing.jsonl');
  const before = treeSize();
  for (const stream of [[], ['--stream']]) {
    for (const [input, why] of [
      [missing, 'it does not exist (ENOENT: no such file or directory)'],
      [t.dir, 'it is a folder, not a file'],
    ] as const) {
      const io = captureIo({ stdin: '{"b":2}\n' });
      expect(await addCommand([...t.common, '--json-lines', ...stream, good, '-', input], io)).toBe(2);
      expect(io.err()).toBe(`cairn add: cannot read ${input}: ${why} (nothing was sent)\nRun 'cairn add --help' for its options.\n`);
    }
  }
  expect(treeSize()).toBe(before);
});

test("a bad line is the input's fault, not the command line's: its message says what is wrong in add's own words, with no pointer to --help", async () => {
  const file = join(t.dir, 'words.jsonl');
  // Latin-1 "é" (0xe9) where UTF-8 is due: said as such, not as the log's "body is not valid UTF-8".
  await writeFile(file, Buffer.concat([Buffer.from('{"a":1}\n{"name":"Ren'), Buffer.from([0xe9]), Buffer.from('"}\n')]));
  const latin = captureIo();
  expect(await addCommand([...t.common, '--json-lines', file], latin)).toBe(2);
  expect(latin.err()).toBe(
    `cairn add: ${file}:2: not UTF-8 text: byte 13 of the line (of e9 22 7d) begins no UTF-8 character; a JSON event is UTF-8 text (RFC 8259 §8.1): is the input in another encoding, such as Latin-1? (nothing was sent)\n`,
  );
  // A last line cut off where its producer stopped: said so; one that is whole JSON without its line break is logged.
  await writeFile(file, '{"a":1}\n{"a":');
  const cut = captureIo();
  expect(await addCommand([...t.common, '--json-lines', file], cut)).toBe(2);
  expect(cut.err()).toMatch(new RegExp(`^cairn add: ${file}:2: not an I-JSON value: .* \\(the last line, with no line break after it: cut off where its producer stopped writing\\?\\) \\(nothing was sent\\)\\n$`));
  // Said although the FILE's name holds those words.
  const named = join(t.dir, 'nothing was sent.jsonl');
  await writeFile(named, '{"a":1}\n{"a":\n');
  const namedIo = captureIo();
  expect(await addCommand([...t.common, '--json-lines', named], namedIo)).toBe(2);
  expect(namedIo.err()).toMatch(new RegExp(`^cairn add: ${named}:2: not an I-JSON value: .* \\(nothing was sent\\)\\n$`));
  await writeFile(file, '{"a":1}\n{"a":2}');
  expect(await addCommand([...t.common, '--json-lines', file], captureIo())).toBe(0);
  // Nothing but blank lines, and an empty FILE: no pointer to --help either.
  await writeFile(file, '\n \n');
  const blank = captureIo();
  expect(await addCommand([...t.common, '--json-lines', file], blank)).toBe(2);
  expect(blank.err()).toBe('cairn add: nothing to add: the input holds no entries\n');
  // A usage error still has it.
  const usage = captureIo();
  expect(await addCommand([...t.common, '--flush-after', '2', file], usage)).toBe(2);
  expect(usage.err()).toBe("cairn add: --flush-after needs --stream: without it, all of the input is read before anything is sent\nRun 'cairn add --help' for its options.\n");
});

test('a bad line near the end of a FILE is found before anything is sent', async () => {
  const lines = events('late-bad', 3000);
  lines[2997] = '{"tag":"late-bad","n":2998,}';
  const file = join(t.dir, 'late-bad.jsonl');
  await writeFile(file, `${lines.join('\n')}\n`);
  const before = treeSize();
  const { fetch, posts } = firstPostFetch(() => undefined);
  const io = captureIo({ fetch });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '10', file], io)).toBe(2);
  expect(io.err()).toMatch(new RegExp(`^cairn add: ${file}:2998: not an I-JSON value`));
  expect(io.out()).toBe('');
  expect(posts()).toBe(0);
  expect(treeSize()).toBe(before);
});

test('an over-long line is refused as FILE:LINE, also in a 3 GiB file without a newline', async () => {
  const file = join(t.dir, 'long.jsonl');
  // Whitespace makes it long; its canonical form would be a small entry.
  await writeFile(file, `{"a":1}\n{"a":2}\n{"a":${' '.repeat(MAX_LINE_BYTES)}3}\n{"a":4}\n`);
  const before = treeSize();
  const io = captureIo();
  expect(await addCommand([...t.common, '--json-lines', file], io)).toBe(2);
  expect(io.err()).toMatch(new RegExp(`^cairn add: ${file}:3: a line longer than ${MAX_LINE_BYTES} bytes`));

  const sparse = join(t.dir, 'sparse.jsonl');
  await writeFile(sparse, '');
  await truncate(sparse, 3 * 2 ** 30);
  const huge = captureIo();
  expect(await addCommand([...t.common, '--json-lines', sparse], huge)).toBe(2);
  expect(huge.err()).toMatch(new RegExp(`^cairn add: ${sparse}:1: a line longer than ${MAX_LINE_BYTES} bytes`));
  expect(treeSize()).toBe(before);
});

test('without --json-lines, a FILE too large to be an entry is refused by its size, unread', async () => {
  const sparse = join(t.dir, 'sparse.bin');
  await writeFile(sparse, '');
  await truncate(sparse, 3 * 2 ** 30);
  const small = join(t.dir, 'small.txt');
  await writeFile(small, 'small');
  const io = captureIo();
  expect(await addCommand([...t.common, small, sparse], io)).toBe(2);
  expect(io.err()).toMatch(new RegExp(`^cairn add: ${sparse}: ${3 * 2 ** 30} bytes; an entry holds at most 65535 \\(nothing was sent\\)\\n`));
  expect(io.out()).toBe('');
});

test('a FILE read lazily: a line changed after the first request is found, and the message says what was logged', async () => {
  // 1000 lines of 200 bytes, 100 to a request; line 990 is far past what was
  // read when the first request went: lines 1..101 and one read.
  const lines = events('lazy', 1000);
  const file = join(t.dir, 'lazy.jsonl');
  await writeFile(file, `${lines.join('\n')}\n`);
  const offset = lines.slice(0, 989).reduce((sum, l) => sum + enc(l).length + 1, 0);
  expect(offset).toBeGreaterThan(lines.slice(0, 101).reduce((sum, l) => sum + enc(l).length + 1, 0) + READ_CHUNK_BYTES);
  const { fetch } = firstPostFetch(() => {
    const fd = openSync(file, 'r+');
    writeSync(fd, '{', offset + 1); // '{"tag"' becomes '{{tag"': same size, not JSON
    closeSync(fd);
  });
  const before = treeSize();
  const receipts = join(t.dir, 'lazy-receipts.jsonl');
  const io = captureIo({ fetch });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '100', '--receipts', receipts, file], io)).toBe(2);
  expect(io.err()).toMatch(
    new RegExp(`^cairn add: ${file} changed after it was checked: ${file}:990: not an I-JSON value: .* \\(the 900 entries before ${file}:901 were logged and their receipts written\\)\\n$`),
  );
  expect(treeSize()).toBe(before + 900);
  expect(receiptLines(await readFile(receipts, 'utf8')).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 900).map(expectedHash));
});

test('a FILE changed after it was checked (before it is sent, or growing or shrinking as it is sent) stops cairn add, saying what was logged', async () => {
  const run = async (files: string[], change: () => void) => {
    const { fetch } = firstPostFetch(change);
    const io = captureIo({ fetch });
    const before = treeSize();
    const code = await addCommand([...t.common, '--json-lines', '--batch-size', '100', '--quiet', ...files], io);
    return { code, err: io.err(), logged: treeSize() - before, receipts: receiptLines(io.out()).length };
  };
  // B changes while A is being sent: B is not sent at all.
  const a = join(t.dir, 'a.jsonl');
  const b = join(t.dir, 'b.jsonl');
  await writeFile(a, `${events('a', 150).join('\n')}\n`);
  await writeFile(b, `${events('b', 10).join('\n')}\n`);
  expect(await run([a, b], () => appendFileSync(b, '{"more":1}\n'))).toEqual({
    code: 2,
    err: `cairn add: ${b} changed after it was checked: its size or modification time differs (the 100 entries before ${a}:101 were logged and their receipts written)\n`,
    logged: 100,
    receipts: 100,
  });

  // A file that grows or shrinks while it is being sent.
  const c = join(t.dir, 'c.jsonl');
  await writeFile(c, `${events('c', 1000).join('\n')}\n`);
  const grown = await run([c], () => appendFileSync(c, `${events('c-more', 5).join('\n')}\n`));
  expect(grown).toEqual({
    code: 2,
    err: `cairn add: ${c} changed after it was checked: ${c}:1001 is past the 1000 entries it held (the 900 entries before ${c}:901 were logged and their receipts written)\n`,
    logged: 900,
    receipts: 900,
  });
  // New lines, so that the entries logged are not duplicates.
  const lines2 = events('c2', 1000);
  await writeFile(c, `${lines2.join('\n')}\n`);
  const shrunk = await run([c], () => truncateSync(c, lines2.slice(0, 750).reduce((sum, l) => sum + enc(l).length + 1, 0)));
  expect(shrunk).toEqual({
    code: 2,
    err: `cairn add: ${c} changed after it was checked: it holds 750 entries, not the 1000 it held (the 700 entries before ${c}:701 were logged and their receipts written)\n`,
    logged: 700,
    receipts: 700,
  });
});

/** A log with `access` or `logOptions`, served over HTTP on 127.0.0.1 for as long as `body` runs. */
async function withLog(logOptions: Partial<LogOptions>, access: AccessControl | undefined, body: (url: string, h: Harness) => Promise<void>): Promise<void> {
  const h = await openHarness(logOptions, access === undefined ? {} : { access });
  const http: Server = createServer(h.app);
  try {
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    await body(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, h);
  } finally {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    await h.close();
  }
}

/**
 * Access control with one submit token limited to `rate` (as a token file
 * line of README's Access section writes it) on a clock that moves only when
 * cairn add sleeps, and `io(stdin)`, a cairn add io that sends that token
 * (through `fetch`, when given).
 */
function limitedToken(token: string, rate: string): { access: AccessControl; io: (stdin: string, fetch?: FetchLike) => ReturnType<typeof captureIo> } {
  let now = 0;
  const access = new AccessControl({ tokens: parseTokenFile(`sub submit ${hashToken(token)} ${rate}`), clock: () => now });
  return { access, io: (stdin, fetch) => captureIo({ stdin, env: { CAIRN_TOKEN: token }, onSleep: (ms) => (now += ms), ...(fetch === undefined ? {} : { fetch }) }) };
}

test('a batch more than a token may submit per period (400 TOO_MANY_ENTRIES) is sent again in halves, saying so once per halving; receipts in input order', async () => {
  const limited = limitedToken('add-limited-token-eeeeeeeeeeeeeee', '10/min');
  await withLog({}, limited.access, async (url, h) => {
    const lines = Array.from({ length: 25 }, (_, i) => JSON.stringify({ limited: i }));
    let posts = 0;
    const io = limited.io(`${lines.join('\n')}\n`, (input, init) => {
      if (init?.method === 'POST') posts++;
      return fetch(input, init);
    });
    expect(await addCommand(['--url', url, '--vkey', vector.verifier_key, '--json-lines', '--json'], io)).toBe(0);
    const receipts = receiptLines(io.out());
    expect(receipts.map((r) => r.leaf_hash)).toEqual(lines.map(expectedHash));
    expect(receipts.map((r) => r.index)).toEqual(lines.map((_, i) => i));
    const err = io.err().split('\n').filter((l) => l !== '');
    expect(err.filter((l) => /TOO_MANY_ENTRIES/.test(l))).toEqual([
      'cairn add: the log refuses 25 entries in one request (TOO_MANY_ENTRIES); sending batches of 12',
      'cairn add: the log refuses 12 entries in one request (TOO_MANY_ENTRIES); sending batches of 6',
    ]);
    // 6 + 6 + 6 + 6 + 1, waiting for the token's rate in between (429 with Retry-After). Every request
    // sent is counted: the 2 refused, the 5 answered, and each one sent again after a 429.
    expect(io.sleeps.length).toBeGreaterThan(0);
    expect(posts).toBeGreaterThan(7);
    expect(JSON.parse(err[err.length - 1]!)).toMatchObject({ entries: 25, new: 25, requests: posts, tree_size: 25 });
    expect(h.log.latest().treeSize).toBe(25);
  });
});

test('--max-wait bounds the wait for a rate limit per request: 60 s by default, too short for a token limited per hour; longer when given', async () => {
  const hourly = limitedToken('add-hourly-token-fffffffffffffffff', '5/h');
  await withLog({}, hourly.access, async (url, h) => {
    const lines = Array.from({ length: 8 }, (_, i) => JSON.stringify({ hourly: i }));
    const args = ['--url', url, '--vkey', vector.verifier_key, '--json-lines', '--batch-size', '4'];
    const short = hourly.io(`${lines.join('\n')}\n`);
    expect(await addCommand(args, short)).toBe(2);
    expect(short.err()).toMatch(/is more than the 60 s left of the 60 s this client waits for one request/);
    expect(h.log.latest().treeSize).toBe(4);

    const patient = hourly.io(`${lines.join('\n')}\n`);
    expect(await addCommand([...args, '--max-wait', '3600'], patient)).toBe(0);
    expect(receiptLines(patient.out()).map((r) => r.leaf_hash)).toEqual(lines.map(expectedHash));
    expect(h.log.latest().treeSize).toBe(8);
    expect(Math.max(...patient.sleeps)).toBeGreaterThan(60_000);
  });
});

test('--max-wait takes whole seconds from 0 to 86400', async () => {
  for (const bad of ['-1', '86401', '1.5', 'x']) {
    const io = captureIo({ stdin: 'a\n' });
    expect([bad, await addCommand(['--vkey', vector.verifier_key, '--max-wait', bad], io)]).toEqual([bad, 2]);
    expect(io.err()).toContain('--max-wait');
  }
});

test('a batch more than the log queues at once (400 TOO_MANY_ENTRIES) is sent again in halves; --quiet says nothing', async () => {
  await withLog({ maxQueueEntries: 4 }, undefined, async (url, h) => {
    const lines = Array.from({ length: 11 }, (_, i) => JSON.stringify({ queued: i }));
    const io = captureIo({ stdin: `${lines.join('\n')}\n` });
    expect(await addCommand(['--url', url, '--vkey', vector.verifier_key, '--json-lines', '--batch-size', '10', '--quiet'], io)).toBe(0);
    expect(receiptLines(io.out()).map((r) => r.leaf_hash)).toEqual(lines.map(expectedHash));
    expect(io.err()).toBe('');
    expect(h.log.latest().treeSize).toBe(11);

    const loud = captureIo({ stdin: `${lines.join('\n')}\n` });
    expect(await addCommand(['--url', url, '--vkey', vector.verifier_key, '--json-lines', '--batch-size', '10'], loud)).toBe(0);
    expect(receiptLines(loud.out()).map((r) => [r.index, r.duplicate])).toEqual(lines.map((_, i) => [i, true]));
    expect(loud.err()).toBe(
      'cairn add: the log refuses 10 entries in one request (TOO_MANY_ENTRIES); sending batches of 5\n' +
        'cairn add: the log refuses 5 entries in one request (TOO_MANY_ENTRIES); sending batches of 2\n' +
        `logged 11 entries (0 new, 11 already in the log before this run) in 8 requests; every receipt verified against ${TEST_ORIGIN} at tree size 11 ` +
        `(root ${encodeBase64(h.log.latest().rootHash)}), each batch's checkpoint proved to extend the one before\n`,
    );
  });
});
