// The request histogram's labels take a bounded set of values whatever
// clients send: a method no route serves is "other", a path no route takes
// is "not-found" (src/http/metrics.ts, methodLabel). Every method node's
// parser takes, sent to a route, a route of another method, and no route.
import { METHODS, request } from 'node:http';
import { createMetrics, methodLabel, OTHER_METHOD, SERVED_METHODS } from '../../src/http/metrics.js';
import { listenLocally, type LocalServer } from '../helpers/local-server.js';
import { openHarness, type Harness } from '../reliability/helpers.js';

const metrics = createMetrics({ processMetrics: false });
let h: Harness;
let local: LocalServer;
let port: number;

beforeAll(async () => {
  h = await openHarness({}, { metrics });
  local = await listenLocally(h.app);
  port = local.port;
});
afterAll(async () => {
  await local.close();
  await h.close();
});

/** Sends `method path` with no body and resolves to the status. */
function send(method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('methodLabel: a method some route serves is its own label, any other is "other"', () => {
  expect(SERVED_METHODS).toEqual(['GET', 'HEAD', 'POST', 'OPTIONS']);
  for (const method of SERVED_METHODS) expect(methodLabel(method)).toBe(method);
  for (const method of ['PUT', 'DELETE', 'PROPFIND', 'M-SEARCH', 'get', '', undefined]) expect(methodLabel(method)).toBe(OTHER_METHOD);
});

test('every method to every kind of path: the method label is a served method or "other", and the series stay few', async () => {
  // CONNECT is not a request to a route: node's server hands it to a 'connect' listener, or closes the connection.
  const methods = METHODS.filter((m) => m !== 'CONNECT');
  expect(methods.length).toBeGreaterThan(30);
  for (const method of methods) {
    for (const path of ['/checkpoint', '/v1/entries', '/no/such/path']) await send(method, path);
  }
  const { values } = await metrics.httpDuration.get();
  const counts = values.filter((v) => v.metricName === 'cairn_http_request_duration_seconds_count');
  expect(counts.reduce((sum, v) => sum + v.value, 0)).toBe(3 * methods.length);
  const labels = new Set(counts.map((v) => v.labels.method));
  expect([...labels].sort()).toEqual(['GET', 'HEAD', 'OPTIONS', 'POST', OTHER_METHOD].sort());
  expect(counts.find((v) => v.labels.method === OTHER_METHOD && v.labels.route === 'method-not-allowed' && v.labels.status === '405')?.value).toBe(2 * (methods.length - 4));
  expect(new Set(counts.map((v) => v.labels.route))).toEqual(new Set(['/checkpoint', '/v1/entries', 'method-not-allowed', 'not-found', 'options']));
  // 13 series: each served method's few answers, and "other" twice (405 and 404); each method its own label would be 70 more.
  expect(counts.length).toBeLessThanOrEqual(13);
  const text = await metrics.registry.metrics();
  expect(text).toMatch(/# HELP cairn_http_request_duration_seconds .*"other"/);
});
