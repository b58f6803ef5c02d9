// A measured load run (scripts/bench/measured.ts): a quick run's window that
// got no answer at all is run again, longer; a full run's is a failure, and
// a wrong answer fails either.
import { jest } from '@jest/globals';
import type { LoadResult } from '../../scripts/bench/load.js';
import { measured } from '../../scripts/bench/measured.js';

function result(requests: number, errors = 0): LoadResult {
  return {
    requests,
    entries: requests,
    seconds: 1,
    requestsPerSecond: requests,
    entriesPerSecond: requests,
    p50Ms: 1,
    p99Ms: 1,
    maxMs: 1,
    errors,
    statuses: {},
    verified: 0,
    verifyFailures: 0,
    backlog: 0,
    nextIndex: requests,
  };
}

beforeEach(() => {
  jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => jest.restoreAllMocks());

test('a quick run whose window got no answer is run again with a window twice as long', async () => {
  const windows: number[] = [];
  const r = await measured({ quick: true }, 'adds', 300, async (ms) => {
    windows.push(ms);
    return result(windows.length < 3 ? 0 : 7);
  });
  expect(windows).toEqual([300, 600, 1200]);
  expect(r.requests).toBe(7);
});

test('a quick run gives up after three more windows with no answer', async () => {
  const windows: number[] = [];
  await expect(measured({ quick: true }, 'adds', 300, async (ms) => (windows.push(ms), result(0)))).rejects.toThrow('adds: no answers at all');
  expect(windows).toEqual([300, 600, 1200, 2400]);
});

test('a full run with no answer fails at once, and wrong answers fail a quick run at once', async () => {
  const windows: number[] = [];
  await expect(measured({ quick: false }, 'proofs', 4000, async (ms) => (windows.push(ms), result(0)))).rejects.toThrow('no answers at all');
  expect(windows).toEqual([4000]);
  await expect(measured({ quick: true }, 'adds', 300, async () => result(0, 2))).rejects.toThrow('adds: 2 errors');
});
