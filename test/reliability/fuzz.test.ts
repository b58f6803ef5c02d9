// The HTTP fuzzer (scripts/fuzz.ts) in its short version: a few hundred
// random and mutated requests to every route of the real server; no answer
// is >= 500, the server stays up, and its log stays consistent.
import { runFuzz } from '../../scripts/fuzz.js';
import { CLI } from '../helpers/server-process.js';

test('a few hundred hostile requests: no 5xx, the server stays up and consistent', async () => {
  const lines: string[] = [];
  const seed = 1 + Math.floor(Math.random() * 1e6);
  const result = await runFuzz({ requests: 400, seed, concurrency: 8, cli: CLI, print: (l) => lines.push(l) });
  expect({ seed, failures: result.failures, problems: result.problems }).toEqual({ seed, failures: [], problems: [] });
  expect(result.requests).toBe(400);
  expect([...result.statuses.keys()].filter((s) => s >= 500)).toEqual([]);
  // It really exercised the routes: accepted writes, refusals and misses.
  for (const status of [201, 400, 404]) expect(result.statuses.get(status) ?? 0).toBeGreaterThan(0);
  expect(result.receipts).toBeGreaterThan(300); // the 300 seeded entries and then some
  expect(lines.at(-1)).toMatch(/: 0 answers >= 500; server stayed up and consistent/);
});
