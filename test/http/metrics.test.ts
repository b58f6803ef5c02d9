// The metrics the log's observer feeds (src/http/metrics.ts), read back as
// Prometheus text.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createApp } from '../../src/http/app.js';
import { createMetrics } from '../../src/http/metrics.js';
import { CLOCK_BEHIND_MESSAGE } from '../../src/log/clock-behind.js';
import { LOG_ERROR_CODES } from '../../src/log/errors.js';
import { Log } from '../../src/log/log.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { VERSION } from '../../src/version.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';

/** The value of the unlabelled sample `name` in the registry's text. */
async function sample(metrics: ReturnType<typeof createMetrics>, name: string): Promise<number | undefined> {
  const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

test('the leaf filter gauges follow what the log tells, including a filter that gave up', async () => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.observer.filterChanged!({ ready: true, bytes: 131072 });
  expect(await sample(metrics, 'cairn_leaf_filter_ready')).toBe(1);
  expect(await sample(metrics, 'cairn_leaf_filter_bytes')).toBe(131072);
  metrics.observer.filterChanged!({ ready: false, bytes: 262144 });
  expect(await sample(metrics, 'cairn_leaf_filter_ready')).toBe(0);
  expect(await sample(metrics, 'cairn_leaf_filter_bytes')).toBe(262144);
});

test("the tree head's timestamp is read at each scrape, in seconds; build info names the version and Node.js", async () => {
  const metrics = createMetrics({ processMetrics: false });
  expect(await sample(metrics, 'cairn_tree_timestamp_seconds')).toBe(0);
  let timestamp = 1_700_000_000_123;
  metrics.watchTreeHead(() => timestamp);
  expect(await sample(metrics, 'cairn_tree_timestamp_seconds')).toBe(1_700_000_000.123);
  timestamp += 600_000;
  expect(await sample(metrics, 'cairn_tree_timestamp_seconds')).toBe(1_700_000_600.123);
  expect((await metrics.registry.metrics()).split('\n')).toContain(`cairn_build_info{version="${VERSION}",nodejs="${process.version}"} 1`);
});

test("a clock behind the latest tree head: /healthz still 200 and ok, saying so in clock_behind (as the spec allows), and cairn_clock_behind_seconds says how far; both as before once the clock passes it", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-metrics-'));
  const metrics = createMetrics({ processMetrics: false });
  const T = Date.UTC(2026, 10, 29, 13);
  let now = T;
  const log = await Log.open({ store: await LevelStore.open(dir), signer: testSigner, verifier: testVerifier, observer: metrics.observer, clock: () => now });
  metrics.watchClock(() => log.clockBehindMs());
  const app = createApp({ log, verifierKey: vector.verifier_key, metrics });
  const health = async () => {
    const res = await request(app).get('/healthz');
    expectResponseMatchesSpec('GET', '/healthz', { status: res.status, headers: res.headers, body: res.body, text: res.text });
    return [res.status, res.body] as const;
  };
  try {
    expect(log.latest().timestamp).toBe(T);
    expect(await health()).toEqual([200, { status: 'ok', tree_size: 0 }]);
    expect(await sample(metrics, 'cairn_clock_behind_seconds')).toBe(0);
    // Stepped back an hour: no round since, yet both say it now.
    now = T - 3_600_000 - 500;
    expect(await health()).toEqual([200, { status: 'ok', tree_size: 0, clock_behind: { seconds: 3600, tree_head: '2026-11-29T13:00:00.000Z', message: CLOCK_BEHIND_MESSAGE } }]);
    expect(await sample(metrics, 'cairn_clock_behind_seconds')).toBe(3600.5);
    // Less than a second behind: a wait the log makes, not a clock stepped back.
    now = T - 999;
    expect(await health()).toEqual([200, { status: 'ok', tree_size: 0 }]);
    expect(await sample(metrics, 'cairn_clock_behind_seconds')).toBe(0);
    now = T + 1;
    expect(await health()).toEqual([200, { status: 'ok', tree_size: 0 }]);
  } finally {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a committed round moves the tree size and the entry counters', async () => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.observer.roundCommitted!({ entries: 5, duplicates: 2, seconds: 0.004, treeSize: 42 });
  expect(await sample(metrics, 'cairn_tree_size')).toBe(42);
  const text = await metrics.registry.metrics();
  expect(text).toMatch(/^cairn_entries_total\{result="new"\} 5$/m);
  expect(text).toMatch(/^cairn_entries_total\{result="duplicate"\} 2$/m);
});

test('a fresh app serves every label value of its counters at 0, so that the first event of each is an increase', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-metrics-'));
  const metrics = createMetrics({ processMetrics: false });
  const log = await Log.open({ store: await LevelStore.open(dir), signer: testSigner, verifier: testVerifier, observer: metrics.observer });
  try {
    const res = await request(createApp({ log, verifierKey: vector.verifier_key, metrics })).get('/metrics');
    expectResponseMatchesSpec('GET', '/metrics', { status: res.status, headers: res.headers, body: res.body, text: res.text });
    expect(res.status).toBe(200);
    for (const series of [
      'cairn_entries_total{result="new"}',
      'cairn_entries_total{result="duplicate"}',
      'cairn_rounds_total{outcome="committed"}',
      'cairn_rounds_total{outcome="failed"}',
      ...['bad_request', 'headers_too_large', 'request_timeout', 'other'].map((reason) => `cairn_client_errors_total{reason="${reason}"}`),
      // Every code an error answer can have (CONTRACT §3), and no other: a fixed set of series.
      ...LOG_ERROR_CODES.map((code) => `cairn_refusals_total{code="${code}"}`),
    ]) {
      expect(res.text.split('\n')).toContain(`${series} 0`);
    }
    expect(res.text.split('\n').filter((line) => line.startsWith('cairn_refusals_total{'))).toHaveLength(LOG_ERROR_CODES.length);
  } finally {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a 30 s request and a 45 s round land in buckets of their own, not only in +Inf', async () => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.httpDuration.observe({ method: 'POST', route: '/v1/entries', status: '408' }, 30);
  metrics.observer.roundCommitted!({ entries: 1, duplicates: 0, seconds: 45, treeSize: 1 });
  const lines = (await metrics.registry.metrics()).split('\n');
  const bucket = (name: string, le: string) => {
    const line = lines.find((l) => l.startsWith(`${name}_bucket{`) && l.includes(`le="${le}"`));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  expect(['2.5', '5', '10', '30', '60', '+Inf'].map((le) => bucket('cairn_http_request_duration_seconds', le))).toEqual([0, 0, 0, 1, 1, 1]);
  expect(['2', '5', '10', '30', '60', '+Inf'].map((le) => bucket('cairn_round_duration_seconds', le))).toEqual([0, 0, 0, 0, 1, 1]);
});
