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

/** Opens a held disk if a test failed while holding it. */
let afterRelease: (() => void) | undefined;

afterEach(async () => {
  afterRelease?.();
  afterRelease = undefined;
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

test('huge concurrent uploads: past the body bound they get 503 before their body is read, the bound is never exceeded, and it recovers', async () => {
  const MiB = 1024 * 1024;
  const budget = new BodyBudget(8 * MiB);
  await listen(budget, { maxQueueEntries: 1000, maxRoundEntries: 1000 });
  const body = (k: number) =>
    Buffer.from(JSON.stringify({ entries: Array.from({ length: 16 }, (_, i) => encodeBase64(new Uint8Array(50_000).fill((k * 16 + i) % 251))) }));
  const size = body(0).length;
  expect(size).toBeGreaterThan(MiB); // each upload ~1 MiB: at most 7 fit in 8 MiB
  const fits = Math.floor((8 * MiB) / size);

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
    req.write(data.subarray(0, 64 * 1024));
    return { req, data, done, answered: () => answer };
  });
  // Those past the bound are answered while their bodies are still unsent.
  for (let i = 0; i < 400 && uploads.filter((u) => u.answered() !== undefined).length < 30 - fits; i++) await sleep(10);
  const refused = uploads.filter((u) => u.answered() !== undefined);
  expect(refused.length).toBe(30 - fits);
  for (const u of refused) {
    const a = u.answered()!;
    expect(a.status).toBe(503);
    expect(JSON.parse(a.body).code).toBe('QUEUE_FULL');
    expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    u.req.destroy();
  }
  expect(budget.inUse).toBe(fits * size);
  expect(budget.peak).toBeLessThanOrEqual(8 * MiB);

  // The accepted ones finish their uploads and are logged.
  const accepted = uploads.filter((u) => u.answered() === undefined);
  for (const u of accepted) u.req.end(u.data.subarray(64 * 1024));
  const answers = await Promise.all(accepted.map((u) => u.done));
  expect(answers.map((a) => a.status)).toEqual(accepted.map(() => 200));
  expect(h.log.latest().treeSize).toBe(16 * fits);
  expect(budget.peak).toBeLessThanOrEqual(8 * MiB);

  // Every reservation was given back; new uploads go through at once.
  for (let i = 0; i < 100 && budget.inUse > 0; i++) await sleep(10);
  expect(budget.inUse).toBe(0);
  const again = await send('/v1/batch', 'application/json', body(99));
  expect(again.status).toBe(200);
  await checkLog(h.log, testVerifier);
});

test('a compressed upload reserves its route\'s whole limit: a gzip bomb cannot slip under the body bound', async () => {
  const KiB = 1024;
  await listen(new BodyBudget(1536 * KiB), { maxQueueEntries: 100, maxRoundEntries: 100 });
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
  const release = h.store.holdWrites(); // the first one stays in flight, holding its reservation
  afterRelease = release;
  const first = post('/v1/entries', 'application/json', bomb('first'), 'gzip');
  for (let i = 0; i < 500 && h.store.pendingWrites === 0; i++) await sleep(10);
  expect(h.store.pendingWrites).toBe(1);
  // Reserved as the route's whole 1 MiB limit, not as its ~1 KiB on the wire.
  expect(budgetInUse()).toBe(1024 * KiB);
  const second = await post('/v1/entries', 'application/json', bomb('second'), 'gzip');
  expect(second.status).toBe(503);
  expect(JSON.parse(second.body).code).toBe('QUEUE_FULL');
  // A small uncompressed entry still fits beside it.
  const small = post('/v1/entries', 'application/octet-stream', Buffer.from('small'));
  await sleep(50);
  release();
  expect((await first).status).toBe(201);
  expect((await small).status).toBe(201);
  expect(h.log.latest().treeSize).toBe(2);
});
