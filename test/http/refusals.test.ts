// Error answers are counted by code (cairn_refusals_total{code}), and the
// refusals that come in numbers under overload, 503 QUEUE_FULL and 429
// RATE_LIMITED, are told to the operator in paced warnings (Refusals of
// src/http/refusals.ts), which `--quiet` keeps: it drops the request lines,
// which were the only place they showed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import request from 'supertest';
import { AccessControl, hashToken } from '../../src/http/access.js';
import { createApp } from '../../src/http/app.js';
import { createMetrics } from '../../src/http/metrics.js';
import { Refusals, REFUSALS_MESSAGE } from '../../src/http/refusals.js';
import { Log } from '../../src/log/log.js';
import { withoutRequestLines } from '../../src/log/logger.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';
import { capture, manualTime } from '../helpers/log-lines.js';
import { passThroughStore } from '../helpers/store.js';

/** A counter like cairn_refusals_total, in a registry of its own. */
function counter(): { counter: Counter<'code'>; value: (code: string) => Promise<number> } {
  const registry = new Registry();
  const c = new Counter({ name: 'refusals_total', help: 'test', labelNames: ['code'] as const, registers: [registry] });
  return { counter: c, value: async (code) => (await c.get()).values.find((v) => v.labels.code === code)?.value ?? 0 };
}

/** The value of cairn_refusals_total{code} in `metrics`. */
async function refused(metrics: ReturnType<typeof createMetrics>, code: string): Promise<number> {
  return (await metrics.refusals.get()).values.find((v) => v.labels.code === code)?.value ?? 0;
}

test('QUEUE_FULL and RATE_LIMITED: the first is warned of at once; those within the interval in one line after it, by route, token name and the pipelining bound', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const refusals = new Refusals(logger, undefined, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  refusals.answered('QUEUE_FULL', { route: '/v1/entries', remote: '192.0.2.1' });
  expect(lines).toEqual([{ level: 'warn', msg: REFUSALS_MESSAGE, fields: { refused: 1, queue_full: 1, routes: { '/v1/entries': 1 }, remote: '192.0.2.1' } }]);
  time.advance(1000);
  refusals.answered('QUEUE_FULL', { route: '/v1/entries' });
  refusals.answered('QUEUE_FULL', { route: '/tile' });
  refusals.pipelined('192.0.2.2');
  refusals.answered('RATE_LIMITED', { route: '/v1/entries', token: 'lim' });
  refusals.answered('RATE_LIMITED', { route: '/v1/batch', token: 'lim' });
  refusals.answered('RATE_LIMITED', { route: '/v1/entries', token: 'other', remote: '192.0.2.3' });
  expect(lines).toHaveLength(1);
  time.advance(8999);
  expect(lines).toHaveLength(1);
  time.advance(1);
  expect(lines[1]).toEqual({
    level: 'warn',
    msg: REFUSALS_MESSAGE,
    fields: { refused: 6, queue_full: 3, routes: { '/v1/entries': 1, '/tile': 1 }, pipelined: 1, rate_limited: 3, tokens: { lim: 2, other: 1 }, seconds: 10, remote: '192.0.2.3' },
  });
  // Nothing more: no line, no timer.
  time.advance(60_000);
  expect(lines).toHaveLength(2);
  expect(time.pending()).toBe(0);
});

test('every error code is counted; only QUEUE_FULL and RATE_LIMITED are warned of; flush logs what is pending at once', async () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const { counter: c, value } = counter();
  const refusals = new Refusals(logger, c, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  for (const code of ['NOT_FOUND', 'STORAGE_FAILED', 'SHUTTING_DOWN', 'STORAGE_FAILED'] as const) refusals.answered(code, { route: '/v1/entries' });
  refusals.flush();
  expect(lines).toEqual([]);
  expect(time.pending()).toBe(0);
  refusals.pipelined();
  refusals.answered('RATE_LIMITED', { token: 'lim' });
  time.advance(3000);
  refusals.flush();
  expect(lines.map((line) => line.fields)).toEqual([
    { refused: 1, queue_full: 1, pipelined: 1 },
    { refused: 1, rate_limited: 1, tokens: { lim: 1 }, seconds: 3 },
  ]);
  expect(await Promise.all(['NOT_FOUND', 'STORAGE_FAILED', 'SHUTTING_DOWN', 'QUEUE_FULL', 'RATE_LIMITED', 'INTERNAL'].map(value))).toEqual([1, 2, 1, 1, 1, 0]);
});

describe('an app whose request lines are off (serve --quiet)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-refusals-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  test('a token past its rate limit is warned of by its name, never the token, and counted', async () => {
    const TOKEN = 'limited-token-0123456789abcdef';
    const metrics = createMetrics({ processMetrics: false });
    const log = await Log.open({ store: await LevelStore.open(dir), signer: testSigner, verifier: testVerifier, observer: metrics.observer });
    try {
      const { lines, logger } = capture();
      const access = new AccessControl({ tokens: [{ name: 'lim', role: 'submit', hash: hashToken(TOKEN), rate: { limit: 1, periodMs: 3_600_000 } }] });
      const app = createApp({ log, verifierKey: vector.verifier_key, metrics, logger: withoutRequestLines(logger), access });
      const post = (body: string) => request(app).post('/v1/entries').set('Authorization', `Bearer ${TOKEN}`).set('Content-Type', 'application/octet-stream').send(body);
      expect((await post('one')).status).toBe(201);
      expect(lines).toEqual([]);
      const limited = await post('two');
      expect(limited.status).toBe(429);
      expect(limited.body).toMatchObject({ code: 'RATE_LIMITED' });
      expect(lines).toEqual([{ level: 'warn', msg: REFUSALS_MESSAGE, fields: expect.objectContaining({ refused: 1, rate_limited: 1, tokens: { lim: 1 } }) }]);
      expect(JSON.stringify(lines)).not.toContain(TOKEN);
      expect(await refused(metrics, 'RATE_LIMITED')).toBe(1);
    } finally {
      await log.close();
    }
  });

  test('a full queue: QUEUE_FULL on the fast route and the express route is warned of and counted, by route', async () => {
    const metrics = createMetrics({ processMetrics: false });
    const inner = await LevelStore.open(dir);
    let reached = () => {};
    let release = () => {};
    const atStore = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    // Rounds are held once the log is open (opening a new one writes its first checkpoint).
    let holding = false;
    const store = passThroughStore(inner, {
      writeRound: async (round) => {
        if (holding) {
          reached();
          await released;
        }
        return inner.writeRound(round);
      },
    });
    const log = await Log.open({ store, signer: testSigner, verifier: testVerifier, observer: metrics.observer, maxQueueEntries: 1 });
    try {
      const { lines, logger } = capture();
      const time = manualTime();
      const refusals = new Refusals(logger, metrics.refusals, { now: time.now, schedule: time.schedule });
      const app = createApp({ log, verifierKey: vector.verifier_key, metrics, logger: withoutRequestLines(logger), refusals });
      // One entry in a round held at the store, one waiting: the queue's bound.
      holding = true;
      const inRound = log.submit([new TextEncoder().encode('in the round')]);
      await atStore;
      const queued = log.submit([new TextEncoder().encode('queued')]);
      const fast = await request(app).post('/v1/entries').set('Content-Type', 'application/octet-stream').send('fast');
      const slow = await request(app).post('/v1/batch').set('Content-Type', 'application/json').send(JSON.stringify({ entries: [encodeBase64(new TextEncoder().encode('batch'))] }));
      expect([fast.status, fast.body.code, slow.status, slow.body.code]).toEqual([503, 'QUEUE_FULL', 503, 'QUEUE_FULL']);
      refusals.flush();
      expect(lines.map((line) => [line.msg, line.fields.refused, line.fields.queue_full, line.fields.routes])).toEqual([
        [REFUSALS_MESSAGE, 1, 1, { '/v1/entries': 1 }],
        [REFUSALS_MESSAGE, 1, 1, { '/v1/batch': 1 }],
      ]);
      expect(await refused(metrics, 'QUEUE_FULL')).toBe(2);
      release();
      await Promise.all([inRound, queued]);
    } finally {
      release();
      await log.close();
    }
  });
});
