// Overload (issue 6 "Overload"): at ten times what the log can sequence it
// answers 503 with Retry-After, holds at most its bounds in memory (queued
// entries, request bodies being received), and recovers by itself.
import { Agent, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { BodyBudget } from '../../src/http/body-budget.js';
import { leafHash } from '../../src/merkle/hash.js';
import { verifyInclusion } from '../../src/merkle/proof.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { openCheckpoint } from '../../src/note/checkpoint.js';
import { checkLog } from '../helpers/check-log.js';
import { testVerifier } from '../helpers/keys.js';
import { openHarness, type Harness } from './helpers.js';

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

let h: Harness;
let server: Server;
let agent: Agent;
let base: { host: string; port: number };
let queuePeak = 0;
let currentBudget: BodyBudget | undefined;
const budgetInUse = () => currentBudget?.inUse ?? 0;

function send(path: string, type: string, body: Uint8Array | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { ...base, path, method: 'POST', agent, headers: { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: text }));
      },
    );
    // The server may answer (503) before reading the body; that is not an error here.
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listen(budget?: BodyBudget, queue = { maxQueueEntries: 40, maxRoundEntries: 10 }): Promise<void> {
  queuePeak = 0;
  currentBudget = budget;
  h = await openHarness(
    { ...queue, observer: { queueChanged: (n) => void (queuePeak = Math.max(queuePeak, n)) } },
    budget === undefined ? {} : { bodyBudget: budget },
  );
  server = h.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
  agent = new Agent({ keepAlive: true, maxSockets: 512 });
}

afterEach(async () => {
  agent.destroy();
  await new Promise((r) => server.close(r));
  await h.close();
});

test('at 10x the sequencing rate: 503 QUEUE_FULL with Retry-After, a bounded queue, valid receipts, and recovery without restart', async () => {
  await listen();
  // A slow disk: every round takes >= 40 ms and holds <= 10 entries, so the log sequences <= 250 entries/s.
  h.store.slowWrites(40);
  const capacityPerSecond = 10 / 0.04;
  const offeredPerSecond = 10 * capacityPerSecond;
  const durationMs = 1200;
  const answers: Promise<{ entry: string; answer: Answer }>[] = [];
  const started = Date.now();
  let sent = 0;
  while (Date.now() - started < durationMs) {
    const due = Math.floor(((Date.now() - started) / 1000) * offeredPerSecond);
    for (; sent < due; sent++) {
      const entry = `overload ${sent}`;
      answers.push(send('/v1/entries', 'application/octet-stream', entry).then((answer) => ({ entry, answer })));
    }
    await sleep(5);
  }
  const results = await Promise.all(answers);
  const elapsed = (Date.now() - started) / 1000;
  const ok = results.filter((r) => r.answer.status === 201);
  const full = results.filter((r) => r.answer.status === 503);
  expect(ok.length + full.length).toBe(results.length); // nothing else: no 500, no timeouts
  // It really was overload (aimed at 10x; at least 5x even if this machine is slow to send).
  expect(results.length).toBeGreaterThan(5 * capacityPerSecond * (durationMs / 1000));
  expect(full.length).toBeGreaterThan(results.length / 2);
  for (const { answer } of full) {
    expect(JSON.parse(answer.body).code).toBe('QUEUE_FULL');
    expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
  }
  // The bound held: never more than 40 entries waiting.
  expect(queuePeak).toBeLessThanOrEqual(40);
  expect(queuePeak).toBeGreaterThan(0);
  // What was answered is logged and provable.
  expect(ok.length).toBeLessThanOrEqual(capacityPerSecond * elapsed + 50);
  for (const { entry, answer } of ok) {
    const r = JSON.parse(answer.body) as { index: number; checkpoint: string; inclusion_proof: string[] };
    const { checkpoint } = openCheckpoint(r.checkpoint, testVerifier);
    const leaf = leafHash(new TextEncoder().encode(entry));
    expect(verifyInclusion(leaf, r.index, checkpoint.treeSize, r.inclusion_proof.map(decodeBase64), checkpoint.rootHash)).toBe(true);
  }
  expect(h.log.latest().treeSize).toBe(ok.length);

  // Load drops: the same server takes writes again at once, with no restart.
  h.store.slowWrites(0);
  for (let i = 0; i < 20; i++) expect((await send('/v1/entries', 'application/octet-stream', `after ${i}`)).status).toBe(201);
  expect(h.log.queueDepth).toBe(0);
  await checkLog(h.log, testVerifier);
});

/** Sends a request's headers only and resolves with its answer, which must come before any of the body. */
function headersOnly(path: string, headers: Record<string, string | number>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ ...base, path, method: 'POST', agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: text });
        req.destroy();
      });
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

test('huge concurrent uploads: each holds what it has sent, idle claims lock nobody out, the bound is never exceeded, and it recovers', async () => {
  const MiB = 1024 * 1024;
  const KiB = 1024;
  const budget = new BodyBudget(8 * MiB);
  await listen(budget, { maxQueueEntries: 1000, maxRoundEntries: 1000 });
  // Every entry of every upload is distinct (its first two bytes are k and i),
  // so the log grows by 16 for each accepted upload whichever are accepted.
  const entry = (k: number, i: number) => {
    const e = new Uint8Array(50_000).fill(7);
    e[0] = k;
    e[1] = i;
    return e;
  };
  const body = (k: number) => Buffer.from(JSON.stringify({ entries: Array.from({ length: 16 }, (_, i) => encodeBase64(entry(k, i))) }));
  const size = body(0).length;
  expect(size).toBeGreaterThan(MiB); // each upload ~1 MiB: 30 of them are four times the bound

  // 30 slow uploads: each sends its headers and the first 64 KiB, then stalls.
  const uploads = Array.from({ length: 30 }, (_, k) => {
    const data = body(k);
    let answer: Answer | undefined;
    const req = httpRequest({ ...base, path: '/v1/batch', method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': data.length } });
    const done = new Promise<Answer>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve((answer = { status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: text })));
      });
      req.on('error', (err) => (answer === undefined ? reject(err) : undefined));
    });
    req.write(data.subarray(0, 64 * KiB));
    return { req, data, done, answered: () => answer };
  });
  // They hold what they sent, not what they declared; nobody is refused yet.
  for (let i = 0; i < 400 && budget.inUse < 30 * 64 * KiB; i++) await sleep(10);
  expect(budget.inUse).toBe(30 * 64 * KiB);
  expect(uploads.filter((u) => u.answered() !== undefined)).toEqual([]);

  // So writers are not locked out by claims...
  expect((await send('/v1/entries', 'application/octet-stream', 'beside the stalled uploads')).status).toBe(201);
  // ...and an upload that declares more than is free is refused before its body is sent.
  const early = await headersOnly('/v1/batch', { 'Content-Type': 'application/json', 'Content-Length': 8 * MiB - 30 * 64 * KiB + 1 });
  expect(early.status).toBe(503);
  expect(JSON.parse(early.body).code).toBe('QUEUE_FULL');
  expect(Number(early.retryAfter)).toBeGreaterThanOrEqual(1);

  // All 30 send the rest but their last byte, four times the bound in all:
  // those whose next bytes do not fit are refused as they come (a body gives
  // its share back once it is read, so none is until its last byte).
  for (const u of uploads) u.req.write(u.data.subarray(64 * KiB, size - 1));
  const waiting = () => uploads.filter((u) => u.answered() === undefined);
  for (let i = 0; i < 500 && budget.inUse !== waiting().length * (size - 1); i++) await sleep(10);
  expect(budget.inUse).toBe(waiting().length * (size - 1));
  expect(waiting().length).toBeLessThan(30);
  expect(waiting().length).toBeGreaterThanOrEqual(1);
  // Then their last bytes: the others are logged.
  for (const u of uploads) u.req.end(u.data.subarray(size - 1));
  const answers = await Promise.all(uploads.map((u) => u.done));
  const accepted = answers.filter((a) => a.status === 200).length;
  for (const a of answers.filter((x) => x.status !== 200)) {
    expect(a.status).toBe(503);
    expect(JSON.parse(a.body).code).toBe('QUEUE_FULL');
    expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
  }
  expect(accepted).toBeGreaterThanOrEqual(1);
  expect(accepted).toBeLessThan(30);
  expect(h.log.latest().treeSize).toBe(1 + 16 * accepted);
  expect(budget.peak).toBeLessThanOrEqual(8 * MiB);

  // Everything held was given back; new uploads go through at once.
  for (let i = 0; i < 100 && budget.inUse > 0; i++) await sleep(10);
  expect(budget.inUse).toBe(0);
  const again = await send('/v1/batch', 'application/json', body(99));
  expect(again.status).toBe(200);
  await checkLog(h.log, testVerifier);
});

test('two idle uploads that declare the whole bound do not stop other writes', async () => {
  const MiB = 1024 * 1024;
  const budget = new BodyBudget(8 * MiB);
  await listen(budget, { maxQueueEntries: 1000, maxRoundEntries: 1000 });
  const idle = [0, 1].map(() => {
    const req = httpRequest({ ...base, path: '/v1/batch', method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': 4 * MiB } });
    req.on('error', () => undefined);
    req.flushHeaders();
    return req;
  });
  await sleep(100);
  expect(budget.inUse).toBe(0);
  const entry = await send('/v1/entries', 'application/octet-stream', 'not locked out');
  expect(entry.status).toBe(201);
  const batch = await send('/v1/batch', 'application/json', JSON.stringify({ entries: [encodeBase64(new TextEncoder().encode('nor is a batch'))] }));
  expect(batch.status).toBe(200);
  for (const req of idle) req.destroy();
  expect(h.log.latest().treeSize).toBe(2);
});

test('a compressed upload is charged its decoded bytes: a gzip bomb cannot slip under the body bound or past its limit', async () => {
  const KiB = 1024;
  const budget = new BodyBudget(1536 * KiB);
  await listen(budget, { maxQueueEntries: 100, maxRoundEntries: 100 });
  // A JSON entry of 1,000,000 spaces around a tiny value: under 1 MiB, and about 1 KiB gzipped.
  const bomb = (tag: string) => gzipSync(`${' '.repeat(1_000_000)}{"bomb":"${tag}"}`);
  expect(bomb('a').length).toBeLessThan(4 * KiB);
  const post = (path: string, type: string, body: Buffer, encoding?: string) =>
    new Promise<Answer>((resolve, reject) => {
      const headers: Record<string, string | number> = { 'Content-Type': type, 'Content-Length': body.length };
      if (encoding !== undefined) headers['Content-Encoding'] = encoding;
      const req = httpRequest({ ...base, path, method: 'POST', agent, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  // Other uploads hold all but 600 KiB: its ~1 KiB on the wire fits, the ~1 MB it decodes to does not.
  const others = budget.hold();
  expect(others.tryAdd(budget.limit - 600 * KiB)).toBe(true);
  const refused = await post('/v1/entries', 'application/json', bomb('first'), 'gzip');
  expect(refused.status).toBe(503);
  expect(JSON.parse(refused.body).code).toBe('QUEUE_FULL');
  expect(budgetInUse()).toBe(budget.limit - 600 * KiB); // what it held is given back
  // A small uncompressed entry still fits beside them.
  expect((await post('/v1/entries', 'application/octet-stream', Buffer.from('small'))).status).toBe(201);
  // With room for what it decodes to, it is logged.
  others.release();
  expect((await post('/v1/entries', 'application/json', bomb('first'), 'gzip')).status).toBe(201);
  expect(h.log.latest().treeSize).toBe(2);
  // Past the route's limit once decoded: 413, however small on the wire.
  const huge = await post('/v1/entries', 'application/json', gzipSync(`${' '.repeat(2_000_000)}{"bomb":"huge"}`), 'gzip');
  expect(huge.status).toBe(413);
  expect(JSON.parse(huge.body).code).toBe('BODY_TOO_LARGE');
  for (let i = 0; i < 100 && budgetInUse() > 0; i++) await sleep(10);
  expect(budgetInUse()).toBe(0);
  expect(h.log.latest().treeSize).toBe(2);
});
