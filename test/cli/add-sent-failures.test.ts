// cairn add when a request that logs entries fails once sent: the log may
// have taken it (a reset, a timeout after the upload, a proxy's HTML 502 or
// 503 in place of its answer, receipts that do not verify), so the message
// names those entries as maybe logged and says that running again logs none
// twice; the log's own refusal says nothing was logged, and gets no such
// words. The summary counts an entry logged by an earlier try of a request
// as logged by this run, and every try as a request. Each request's timeout
// grows with its body, and --timeout sets the rest. Against a fake log.
import { writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { addCommand, ADD_USAGE, processAdd } from '../../src/cli/add.js';
import type { FetchLike } from '../../src/client/http.js';
import { canonicalizeJson } from '../../src/jcs/canonical.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { enc, events, fakeAddProcess, hashOf, receiptsOf, stdinOf } from './add-lines.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest, send } from './fake-log.js';

const t = fakeLogEachTest(600, 'cairn-add-sent-');

const batchRequests = () => t.fake.requests.filter((p) => p === 'v1/batch').length;

/**
 * The words that say a request's entries, from standard input, may have been logged, and how to send
 * them again: cairn add reads standard input once, so those lines are fed to it again.
 */
const maybe = (entries: string, last: string) =>
  `${entries} were sent and may have been logged without their receipts; nothing after ${last} was sent; ` +
  `feed the lines from ${/<stdin>:\d+/.exec(entries)![0]} on to cairn add again (it cannot read them twice itself); it logs no entry twice: ` +
  'the log answers one it holds with its first index and "duplicate": true';

/** Logs the entries of a batch body in the fake log, as the log behind a proxy would before the proxy's answer is lost. */
function take(body: Uint8Array): void {
  const known = new Set(t.fake.entries.map((e) => encodeBase64(e)));
  for (const e of (JSON.parse(new TextDecoder().decode(body)) as { entries: string[] }).entries) {
    if (!known.has(e)) t.fake.entries.push(decodeBase64(e));
    known.add(e);
  }
}

const HTML_502 = '<html><body><h1>502 Bad Gateway</h1></body></html>\n';

/** A process for cairn add whose signals the test sends. */
const fakeProcess = () => fakeAddProcess();

test("a proxy's HTML 502 after the log took the second batch: those entries are named as maybe logged, and running again logs none twice", async () => {
  const lines = events(6, 'lb502');
  let batches = 0;
  t.fake.hook = (path, _req, res, body) => {
    if (path !== 'v1/batch' || ++batches !== 2) return false;
    take(body);
    send(res, 502, HTML_502, 'text/html');
    return true;
  };
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--quiet'], io)).toBe(2);
  expect(io.err()).toBe(
    `cairn add: POST ${t.fake.url}/v1/batch: 502: an HTML page, not the log's: 502 Bad Gateway ` +
      `(the 2 entries before <stdin>:3 were logged and their receipts written; ${maybe('the 2 entries <stdin>:3 to <stdin>:4', '<stdin>:4')})\n`,
  );
  expect(receiptsOf(io.out()).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 2).map(hashOf));
  expect(t.fake.entries).toHaveLength(604);

  // Running it again, as the message says: the 4 entries logged come back with their first
  // indexes as duplicates, the other 2 are logged, and nothing is logged twice.
  t.fake.hook = undefined;
  const again = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--json'], again)).toBe(0);
  expect(receiptsOf(again.out()).map((r) => [r.index, r.duplicate])).toEqual([
    [600, true],
    [601, true],
    [602, true],
    [603, true],
    [604, false],
    [605, false],
  ]);
  expect(t.fake.entries).toHaveLength(606);
  expect(JSON.parse(again.err())).toMatchObject({ entries: 6, new: 2, duplicates: 4, requests: 3 });
});

test('a connection reset once the log took the only batch: its entries are named as maybe logged (exit 2)', async () => {
  const lines = events(3, 'reset');
  t.fake.hook = (path, req, _res, body) => {
    if (path !== 'v1/batch') return false;
    take(body);
    req.socket.resetAndDestroy();
    return true;
  };
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--quiet'], io)).toBe(2);
  expect(io.err()).toMatch(new RegExp(`^cairn add: POST ${t.fake.url}/v1/batch: fetch failed: .*ECONNRESET`));
  expect(io.err()).toContain(` (${maybe('the 3 entries <stdin>:1 to <stdin>:3', '<stdin>:3')})\n`);
  expect(io.err()).not.toContain('nothing was logged');
});

test('the same from a FILE, which cairn add can read again: running the same cairn add again is what sends those entries again; from standard input, only feeding those lines again does', async () => {
  const lines = events(3, 'reset-file');
  const file = join(t.dir, 'reset.jsonl');
  await writeFile(file, stdinOf(lines));
  t.fake.hook = (path, req, _res, body) => {
    if (path !== 'v1/batch') return false;
    take(body);
    req.socket.resetAndDestroy();
    return true;
  };
  const io = captureIo();
  expect(await addCommand([...t.common, '--json-lines', '--quiet', file], io)).toBe(2);
  expect(io.err()).toContain(
    ` (the 3 entries ${file}:1 to ${file}:3 were sent and may have been logged without their receipts; nothing after ${file}:3 was sent; ` +
      'running the same cairn add again logs no entry twice: the log answers one it holds with its first index and "duplicate": true)\n',
  );
  // With standard input among the inputs, running the same command again does not give the same lines.
  const mixed = captureIo({ stdin: stdinOf(events(1, 'reset-stdin')) });
  expect(await addCommand([...t.common, '--json-lines', '--quiet', file, '-'], mixed)).toBe(2);
  expect(mixed.err()).toContain(`; feed the lines from ${file}:1 on to cairn add again (it cannot read them twice itself); it logs no entry twice: `);
});

test('with --receipts FILE, a regular file, the words of a batch that may have been logged say that all of the input fed again with --resume sends only what has no receipt there', async () => {
  const lines = events(4, 'reset-receipts');
  let batches = 0;
  t.fake.hook = (path, req, _res, body) => {
    if (path !== 'v1/batch' || ++batches !== 2) return false;
    take(body);
    req.socket.resetAndDestroy();
    return true;
  };
  const receipts = join(t.dir, 'reset-receipts.jsonl');
  const proc = fakeAddProcess(processAdd().openReceipts).proc;
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--quiet', '--receipts', receipts], io, proc)).toBe(2);
  expect(io.err()).toContain(
    ` (the 2 entries before <stdin>:3 were logged and their receipts written; ${maybe('the 2 entries <stdin>:3 to <stdin>:4', '<stdin>:4')}; ` +
      `or feed it all of the input again with --resume, which sends only what has no receipt in ${receipts})\n`,
  );
});

test('receipts that do not verify (one proof hash changed on the way): exit 1, and the batch is named as maybe logged', async () => {
  const lines = events(4, 'flip');
  let posts = 0;
  const flipping: FetchLike = async (url, init) => {
    const res = await fetch(url, init);
    if (init?.method !== 'POST' || ++posts !== 2) return res;
    const answer = (await res.json()) as { receipts: { inclusion_proof: string[] }[] };
    answer.receipts[1]!.inclusion_proof[0] = encodeBase64(new Uint8Array(32));
    return new Response(JSON.stringify(answer), { status: 200, headers: { 'Content-Type': 'application/json' } });
  };
  const io = captureIo({ stdin: stdinOf(lines), fetch: flipping });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--quiet'], io)).toBe(1);
  expect(io.err()).toMatch(/^cairn add: VERIFICATION FAILED \(BAD_RECEIPT\): v1\/batch receipt 1: the receipt does not verify/);
  expect(io.err()).toContain(
    `(the 2 entries before <stdin>:3 were logged and their receipts written; ${maybe('the 2 entries <stdin>:3 to <stdin>:4', '<stdin>:4')})\n`,
  );
  expect(receiptsOf(io.out())).toHaveLength(2);
});

test("the log's own refusals (a JSON 400, a 503 QUEUE_FULL) and a connection never made say nothing of a batch that may have been logged", async () => {
  const refusals: [string, (res: ServerResponse) => void][] = [
    ['400', (res) => send(res, 400, { error: 'bad base64', code: 'INVALID_BASE64' })],
    [
      '503',
      (res) => {
        res.setHeader('Retry-After', '1');
        send(res, 503, { error: 'too many entries are waiting to be logged; retry shortly', code: 'QUEUE_FULL' });
      },
    ],
  ];
  for (const [status, refuse] of refusals) {
    const lines = events(4, `refused-${status}`);
    let batches = 0;
    t.fake.hook = (path, _req, res) => {
      if (path !== 'v1/batch' || ++batches !== 2) return false;
      refuse(res);
      return true;
    };
    const io = captureIo({ stdin: stdinOf(lines) });
    expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--retries', '0', '--quiet'], io)).toBe(2);
    expect(io.err()).toMatch(new RegExp(`^cairn add: POST ${t.fake.url}/v1/batch: ${status} `));
    // Nothing from the batch refused on was logged: those lines are what to feed again.
    expect(io.err()).toMatch(
      / \(the 2 entries before <stdin>:3 were logged and their receipts written; <stdin>:3 and the lines after it were not logged: feed the lines from <stdin>:3 on to cairn add again \(it cannot read them twice itself\)\)\n$/,
    );
  }

  // A refused connection: nothing reached the log.
  const lines = events(2, 'refused-connection');
  const refusing: FetchLike = (url, init) => {
    if (init?.method === 'POST') return Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) }));
    return fetch(url, init);
  };
  const io = captureIo({ stdin: stdinOf(lines), fetch: refusing });
  expect(await addCommand([...t.common, '--json-lines', '--quiet'], io)).toBe(2);
  expect(io.err()).toBe(`cairn add: POST ${t.fake.url}/v1/batch: fetch failed: connect ECONNREFUSED 127.0.0.1:9\n`);
});

/**
 * Makes the fake log take the `nth` batch sent (the first by default), then a load balancer answer it
 * with an HTML 503 asking for a retry after `retryAfter` seconds (the log's answer lost on the way);
 * other batches are answered as usual. Returns what arms it again.
 */
function lbAnswers503AfterTaking(nth = 1, retryAfter = 1): () => void {
  let batches = 0;
  t.fake.hook = (path, _req, res, body) => {
    if (path !== 'v1/batch' || ++batches !== nth) return false;
    take(body);
    res.setHeader('Retry-After', String(retryAfter));
    send(res, 503, '<html><body><h1>503 from the load balancer</h1></body></html>\n', 'text/html');
    return true;
  };
  return () => {
    batches = 0;
  };
}

test("a proxy's HTML 503 after the log took the batch, then the same batch sent again: counted as logged by this run, in 2 requests", async () => {
  const lines = events(3, 'lb503');
  // One entry that was in the log before this run.
  t.fake.entries.push(canonicalizeJson(enc(lines[2]!)));
  const rearm = lbAnswers503AfterTaking();
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines'], io)).toBe(0);
  expect(receiptsOf(io.out()).map((r) => [r.index, r.duplicate])).toEqual([
    [601, true],
    [602, true],
    [600, true],
  ]);
  expect(batchRequests()).toBe(2);
  // The retry notice names what answered by what it got: an HTML 503 is not the log saying it is busy.
  expect(io.err()).toMatch(/^cairn add: a 503 from the server or a proxy in between, without the log's error code; retry 1 of 10 in 1\.0 s\n/);
  expect(io.err()).not.toContain('busy');
  expect(io.err()).toMatch(/\nlogged 3 entries \(2 new, 1 already in the log before this run\) in 2 requests; every receipt verified/);

  const json = captureIo({ stdin: stdinOf(events(3, 'lb503-json')) });
  rearm();
  expect(await addCommand([...t.common, '--json-lines', '--json'], json)).toBe(0);
  expect(JSON.parse(json.err().trim().split('\n').pop()!)).toMatchObject({ entries: 3, new: 3, duplicates: 0, requests: 2 });
});

test('an entry given twice in one run is new once: its repeat counts as a duplicate, also when its first copy was logged by a try whose answer was lost', async () => {
  const [a, b] = events(2, 'twice');
  const plain = captureIo({ stdin: stdinOf([a!, a!, b!]) });
  expect(await addCommand([...t.common, '--json-lines', '--json'], plain)).toBe(0);
  expect(receiptsOf(plain.out()).map((r) => [r.index, r.duplicate])).toEqual([
    [600, false],
    [600, true],
    [601, false],
  ]);
  expect(t.fake.entries).toHaveLength(602);
  expect(JSON.parse(plain.err().trim())).toMatchObject({ entries: 3, new: 2, duplicates: 1, requests: 1 });

  // The first try is logged but answered by a proxy's 503: the retry gets every entry as a duplicate at 602 or past it.
  const [c, d] = events(2, 'twice-lost');
  lbAnswers503AfterTaking();
  const lost = captureIo({ stdin: stdinOf([c!, c!, d!, a!]) });
  expect(await addCommand([...t.common, '--json-lines'], lost)).toBe(0);
  expect(receiptsOf(lost.out()).map((r) => [r.index, r.duplicate])).toEqual([
    [602, true],
    [602, true],
    [603, true],
    [600, true],
  ]);
  expect(lost.err()).toMatch(/\nlogged 4 entries \(2 new, 1 already in the log before this run, 1 repeating an earlier entry of this run's input\) in 2 requests; every receipt verified/);
});

test("a retry notice says 'the log' only of an answer with the log's JSON error code: a proxy's plain 429 or 503 is named as such", async () => {
  const answers = [
    new Response('Too Many Requests\n', { status: 429, headers: { 'Retry-After': '1', 'Content-Type': 'text/plain' } }),
    new Response('{"error":"rate limit","code":"RATE_LIMITED"}', { status: 429, headers: { 'Retry-After': '1', 'Content-Type': 'application/json' } }),
    new Response('{"error":"queue full","code":"QUEUE_FULL"}', { status: 503, headers: { 'Retry-After': '1', 'Content-Type': 'application/json' } }),
  ];
  const refusing: FetchLike = (url, init) => Promise.resolve(init?.method === 'POST' ? (answers.shift() ?? fetch(url, init)) : fetch(url, init));
  const io = captureIo({ stdin: stdinOf(events(1, 'notices')), fetch: refusing });
  expect(await addCommand([...t.common, '--json-lines'], io)).toBe(0);
  expect(io.err().split('\n').slice(0, 3)).toEqual([
    "cairn add: a 429 from the server or a proxy in between, without the log's error code; retry 1 of 10 in 1.0 s",
    'cairn add: the log is at its rate limit (RATE_LIMITED); retry 2 of 10 in 1.0 s',
    'cairn add: the log is busy (QUEUE_FULL); retry 3 of 10 in 1.0 s',
  ]);
});

test("SIGTERM while waiting to send again a batch a proxy answered 503: the batch is named as maybe logged, not as 'nothing logged'", async () => {
  const lines = events(4, 'lb503-stop');
  const f = fakeProcess();
  lbAnswers503AfterTaking(2, 30);
  const io = captureIo({ stdin: stdinOf(lines), onSleep: () => f.signal('SIGTERM') });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--quiet'], io, f.proc)).toBe(2);
  expect(io.err()).toBe(
    `cairn add: stopped by SIGTERM: the 2 entries through <stdin>:2 were logged and their receipts written; ${maybe('the 2 entries <stdin>:3 to <stdin>:4', '<stdin>:4')}\n`,
  );
  expect(batchRequests()).toBe(2);
});

/** A fetch whose batch requests time out at once, as if their timeout had passed, recording each one's body length. */
function timingOut(): { fetch: FetchLike; bodies: number[] } {
  const bodies: number[] = [];
  return {
    bodies,
    fetch: (url, init) => {
      if (init?.method !== 'POST') return fetch(url, init);
      bodies.push(String(init.body).length);
      return Promise.reject(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    },
  };
}

test("a batch's timeout is --timeout (30 s by default) and 1 s for each 32 KiB of its body; the message suggests a smaller --batch-size only when that upload time is at least a quarter of --timeout", async () => {
  // Entries of about 60,000 bytes, 80,000 as base64: a batch holds the 139 that fit in 8 MiB.
  const large = Array.from({ length: 140 }, (_, i) => JSON.stringify({ i, pad: 'p'.repeat(60_000) }));
  const small = events(3, 'timeout');
  const timeouts: number[] = [];
  const smaller = (s: number) => `over a slow link, give a smaller --batch-size, or a --timeout of more than ${s} s`;
  const longer = (s: number) => `for a log slow to answer, give a --timeout of more than ${s} s`;
  // 139 entries get 339 s for their upload, at least a quarter of --timeout up to 1356 s: a smaller batch
  // may be the remedy. 3 small entries get 1 s, less than a quarter of 5 s: the log did not answer.
  for (const [lines, args, base, sent, hint] of [
    [large, [], 30_000, 'the 139 entries <stdin>:1 to <stdin>:139', smaller(30)],
    [large, ['--timeout', '1000'], 1_000_000, 'the 139 entries <stdin>:1 to <stdin>:139', smaller(1000)],
    [large, ['--timeout', '2000'], 2_000_000, 'the 139 entries <stdin>:1 to <stdin>:139', longer(2000)],
    [large.slice(0, 4), ['--timeout', '5'], 5_000, 'the 4 entries <stdin>:1 to <stdin>:4', smaller(5)],
    [small, ['--timeout', '5'], 5_000, 'the 3 entries <stdin>:1 to <stdin>:3', longer(5)],
  ] as const) {
    const f = timingOut();
    const io = captureIo({ stdin: stdinOf([...lines]), fetch: f.fetch });
    expect(await addCommand([...t.common, '--json-lines', '--quiet', ...args], io)).toBe(2);
    expect(f.bodies).toHaveLength(1);
    const ms = base + Math.ceil((f.bodies[0]! * 1000) / (32 * 1024));
    timeouts.push(ms);
    expect(io.err()).toBe(
      `cairn add: POST ${t.fake.url}/v1/batch: timed out after ${ms} ms (${maybe(sent, sent.replace(/.* /, ''))}); ${hint}\n`,
    );
  }
  // The full batch is about 11.1 MB of JSON, which 30 s alone would give only at 3 Mbit/s.
  expect(timeouts[0]).toBeGreaterThan(369_000);
});

test('the first checkpoint request timing out gets the --timeout hint too, and says nothing was sent', async () => {
  const timingOutFirst: FetchLike = (url, init) =>
    url.endsWith('/checkpoint') ? Promise.reject(new DOMException('The operation was aborted due to timeout', 'TimeoutError')) : fetch(url, init);
  for (const [args, seconds] of [
    [[], 30],
    [['--timeout', '7'], 7],
  ] as const) {
    const io = captureIo({ stdin: stdinOf(events(2, 'first')), fetch: timingOutFirst });
    expect(await addCommand([...t.common, '--json-lines', '--quiet', ...args], io)).toBe(2);
    expect(io.err()).toBe(
      `cairn add: GET ${t.fake.url}/checkpoint: timed out after ${seconds * 1000} ms (nothing was sent); for a log slow to answer, give a --timeout of more than ${seconds} s\n`,
    );
  }
  expect(batchRequests()).toBe(0);
});

test('ADD_USAGE: below about 300 kbit/s a full batch cannot arrive in the 300 s the log gives a body; the summary counts batch requests', () => {
  expect(ADD_USAGE).toMatch(/The log gives a body at most 300 s\s+to arrive, so over a link slower than about 300\s+kbit\/s, give a smaller --batch-size/);
  expect(ADD_USAGE).not.toMatch(/256 kbit/);
  expect(ADD_USAGE).toMatch(/every batch request sent\s+\(retries included\)/);
  expect(ADD_USAGE).not.toMatch(/every request sent/);
});

test('--timeout ends a request the log never answers, and takes whole seconds from 1 to 86400', async () => {
  const held: ServerResponse[] = [];
  t.fake.hook = (path, _req, res) => {
    if (path !== 'v1/batch') return false;
    held.push(res);
    return true;
  };
  try {
    const io = captureIo({ stdin: 'never answered' });
    expect(await addCommand([...t.common, '--timeout', '1', '--quiet'], io)).toBe(2);
    // 1 s, and 2 ms for the 36 bytes of the body at 32 KiB/s (rounded up).
    expect(io.err()).toMatch(new RegExp(`^cairn add: POST ${t.fake.url}/v1/batch: timed out after 1002 ms \\(<stdin> was sent and may have been logged without its receipt; `));
  } finally {
    for (const res of held) res.destroy();
  }
  for (const bad of ['0', '86401', '1.5', 'x']) {
    const io = captureIo({ stdin: 'a' });
    expect([bad, await addCommand([...t.common, '--timeout', bad], io)]).toEqual([bad, 2]);
    expect(io.err()).toContain('--timeout must be an integer from 1 to 86400');
  }
});
