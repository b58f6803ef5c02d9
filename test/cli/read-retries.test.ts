// The reading commands (get, prove, monitor) against a log that refuses for
// now (audit 22e M1): a read token's rate limit answers 429 with
// Retry-After, a proxy's limit_req answers 429 or 503 without one. Each is
// sent again after its Retry-After (else after 1 s, 2 s, 4 s, ...), within
// 10 retries and 120 s of waiting per request, so a log that keeps refusing
// still ends the command, saying so; a monitor walk that fails on a fetch
// saves what it checked, and the next round goes on from there. A tile the
// signed tree covers that is answered 404 (L5: a cache kept the 404 from
// before it was full) is asked once more past the caches, and monitor then
// says, as get does, that the checkpoint covers it. Run in-process against a
// real server of 600 entries (bundles 000 and 001 full, 002.p/88), with
// refusals made by an injected fetch; waits are recorded, not waited.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withheldError } from '../../src/cli/client-common.js';
import { getCommand } from '../../src/cli/get.js';
import { monitorCommand } from '../../src/cli/monitor.js';
import { proveCommand } from '../../src/cli/prove.js';
import { CairnClient } from '../../src/client/client.js';
import { ClientError } from '../../src/client/errors.js';
import type { FetchLike } from '../../src/client/http.js';
import { useCliServer } from '../helpers/cli-server.js';
import { captureIo, type CapturedIo } from './client-io.js';

const t = useCliServer('cairn-read-retries-', { origin: 'retries.test/log' });
const enc = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  await new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey }).addBatch(Array.from({ length: 600 }, (_, i) => enc(`entry ${i}`)));
});

const pathOf = (url: string) => new URL(url).pathname.slice(1);

/** The log's own answer to a read token past its rate limit. */
const rateLimited = (retryAfter: string) =>
  new Response('{"error":"rate limit reached","code":"RATE_LIMITED"}', { status: 429, headers: { 'Retry-After': retryAfter, 'Content-Type': 'application/json' } });

/** A proxy's limit_req page: no Retry-After, no error code of the log's. */
const proxyRefusal = (status: number) => new Response('<html><body>Too Many Requests</body></html>\n', { status, headers: { 'Content-Type': 'text/html' } });

/** A fetch that answers `refuse()` the first time each path is asked, and passes every request after through. */
function refusingFirst(refuse: () => Response): { fetch: FetchLike; asked: string[] } {
  const asked: string[] = [];
  const refused = new Set<string>();
  return {
    asked,
    fetch: async (url, init) => {
      const path = pathOf(url) + new URL(url).search;
      asked.push(path);
      if (refused.has(path)) return fetch(url, init);
      refused.add(path);
      return refuse();
    },
  };
}

/** A fetch that answers `refuse()` to every request whose path `pattern` takes, and passes the others through. */
function refusingAlways(pattern: RegExp, refuse: () => Response): FetchLike {
  return async (url, init) => (pattern.test(pathOf(url)) ? refuse() : fetch(url, init));
}

let states = 0;
const freshState = () => join(t.dir, `state-${++states}.json`);

async function monitor(statePath: string, io: CapturedIo) {
  const code = await monitorCommand([...t.common, '--state', statePath, '--once', '--json'], io);
  const events = io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, events };
}

describe('a 429 with Retry-After (a read token\'s rate limit) on every first request', () => {
  test('monitor --once waits each out and verifies the whole log (before: exit 2 at the first 429)', async () => {
    const { fetch, asked } = refusingFirst(() => rateLimited('1'));
    const io = captureIo({ fetch });
    const run = await monitor(freshState(), io);
    expect([run.code, run.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 600 })]]);
    // Every request was refused once and waited for 1 s before it was sent again.
    expect(asked.length).toBe(2 * new Set(asked).size);
    expect(io.sleeps.length).toBe(new Set(asked).size);
    expect(new Set(io.sleeps)).toEqual(new Set([1000]));
  });

  test('get of a range prints every entry, get and prove of one entry verify', async () => {
    const range = captureIo({ fetch: refusingFirst(() => rateLimited('1')).fetch });
    expect(await getCommand([...t.common, '0-'], range)).toBe(0);
    expect(range.out().split('\n').filter((l) => l !== '').length).toBe(600);
    expect(range.err()).toMatch(/^verified entries 0 to 599 \(600 entries\)/);
    expect(new Set(range.sleeps)).toEqual(new Set([1000]));

    for (const [name, run] of [
      ['get 300', (io: CapturedIo) => getCommand([...t.common, '300'], io)],
      ['get 300 --tiles', (io: CapturedIo) => getCommand([...t.common, '300', '--tiles'], io)],
      ['prove 300', (io: CapturedIo) => proveCommand([...t.common, '300'], io)],
      ['prove 300 --tiles', (io: CapturedIo) => proveCommand([...t.common, '300', '--tiles'], io)],
    ] as const) {
      const io = captureIo({ fetch: refusingFirst(() => rateLimited('2')).fetch });
      expect([name, await run(io), io.err()]).toEqual([name, 0, '']);
      expect([name, new Set(io.sleeps)]).toEqual([name, new Set([2000])]);
    }
  });
});

test('a proxy\'s 429 or 503 without Retry-After is sent again after 1 s, 2 s, 4 s, ...; one that never ends ends the command within 120 s of waiting, saying so', async () => {
  for (const status of [429, 503]) {
    const once = captureIo({ fetch: refusingFirst(() => proxyRefusal(status)).fetch });
    expect([status, await getCommand([...t.common, '5'], once)]).toEqual([status, 0]);
    expect(new Set(once.sleeps)).toEqual(new Set([1000]));

    const always = captureIo({ fetch: refusingAlways(/^ct\/v1\/get-entry-and-proof$/, () => proxyRefusal(status)) });
    expect([status, await getCommand([...t.common, '5'], always)]).toEqual([status, 2]);
    expect(always.sleeps).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000]);
    expect(always.err()).toMatch(
      new RegExp(
        `^cairn get: GET http:\\S+/ct/v1/get-entry-and-proof\\?\\S+: ${status}: an HTML page, not the log's: Too Many Requests \\(after 6 retries\\) \\(not retried: a wait of 64 s is more than the 57 s left of the 120 s this client waits for one request\\)`,
      ),
    );
  }
  // A wait asked for past what is left is not made at all: an hourly limit fails at once, saying so.
  const hourly = captureIo({ fetch: refusingAlways(/^checkpoint$/, () => rateLimited('3600')) });
  expect(await proveCommand([...t.common, '5'], hourly)).toBe(2);
  expect(hourly.sleeps).toEqual([]);
  expect(hourly.err()).toMatch(/429 RATE_LIMITED: rate limit reached \(not retried: a wait of 3600 s is more than the 120 s left of the 120 s this client waits for one request\)/);
});

test('a monitor walk that fails on a fetch saves what it checked before, and the next run goes on from there (before: nothing saved, the walk begun again)', async () => {
  const statePath = freshState();
  const refused = captureIo({ fetch: refusingAlways(/^tile\/entries\/001$/, () => proxyRefusal(429)) });
  const failed = await monitor(statePath, refused);
  expect([failed.code, failed.events]).toEqual([
    2,
    [
      expect.objectContaining({
        event: 'error',
        message: expect.stringMatching(/\/tile\/entries\/001: 429: .* \(after 6 retries\) .*\(entries 0 to 255 of the tree of size 600, checked before this, are saved: the next round, or run, goes on from there\)$/),
      }),
    ],
  ]);
  const kept = JSON.parse(await readFile(statePath, 'utf8')) as Record<string, unknown>;
  expect(kept).toMatchObject({ checkpoint: null, tree_size: 0, partial: { tree_size: 600, checked_to: 256 } });

  const asked: string[] = [];
  const resumed = await monitor(
    statePath,
    captureIo({
      fetch: (url, init) => {
        asked.push(pathOf(url));
        return fetch(url, init);
      },
    }),
  );
  expect([resumed.code, resumed.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 600 })]]);
  expect(asked.filter((p) => p.startsWith('tile/entries/'))).toEqual(['tile/entries/001', 'tile/entries/002.p/88']);
});

describe('a full tile answered 404 (a cache kept the 404 of before it was full)', () => {
  /** A fetch that answers the log's 404 for `path` to each request that does not ask past the caches (all of them, with `always`). */
  function cached404(always = false, path = 'tile/0/001'): { fetch: FetchLike; modes: (string | undefined)[] } {
    const modes: (string | undefined)[] = [];
    return {
      modes,
      fetch: async (url, init) => {
        if (pathOf(url) !== path) return fetch(url, init);
        modes.push(init?.cache);
        if (always || init?.cache !== 'reload') return new Response('{"error":"no such tile in this tree","code":"NOT_FOUND"}', { status: 404, headers: { 'Content-Type': 'application/json' } });
        return fetch(url, init);
      },
    };
  }

  test('is asked once more past the caches, and verifies: monitor, get of a range, get --tiles', async () => {
    const watched = cached404();
    const run = await monitor(freshState(), captureIo({ fetch: watched.fetch }));
    expect([run.code, run.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 600 })]]);
    expect(watched.modes).toEqual([undefined, 'reload']);

    // A range checks its full bundles against the level-1 tile.
    const range = cached404(false, 'tile/1/000.p/2');
    const io = captureIo({ fetch: range.fetch });
    expect(await getCommand([...t.common, '256-511', '--json'], io)).toBe(0);
    expect(range.modes).toEqual([undefined, 'reload']);

    const one = cached404();
    expect(await getCommand([...t.common, '300', '--tiles'], captureIo({ fetch: one.fetch }))).toBe(0);
    expect(one.modes).toEqual([undefined, 'reload']);
  });

  test('every time: monitor says the signed checkpoint covers it, as get does (before: only the 404)', async () => {
    const watched = cached404(true);
    const run = await monitor(freshState(), captureIo({ fetch: watched.fetch }));
    expect([run.code, run.events]).toEqual([
      2,
      [
        expect.objectContaining({
          event: 'error',
          message: expect.stringMatching(
            /^the log answered 404 for tile\/0\/001, which its signed checkpoint of tree size 600 covers: GET http:\S+\/tile\/0\/001: 404 NOT_FOUND: no such tile in this tree \(asked twice, the second time past the caches that honour no-cache\)/,
          ),
        }),
      ],
    ]);
    expect(watched.modes).toEqual([undefined, 'reload']);

    const got = captureIo({ fetch: cached404(true).fetch });
    expect(await getCommand([...t.common, '300', '--tiles'], got)).toBe(2);
    expect(got.err()).toMatch(/^cairn get: the log answered 404 for entry 300, which its signed checkpoint of tree size 600 covers: GET http:\S+\/tile\/0\/001: 404 NOT_FOUND: no such tile in this tree \(asked twice/);
  });
});

test('the help of get, prove and monitor tells of the retries, and monitor\'s of the save of a walk that fails', async () => {
  const said = 'An answer of 429 or 503 (a rate limit, such as a read token\'s, or a busy log or proxy), or a connection that breaks before its answer, is asked again after its Retry-After, or after 1, 2, 4, ... s without one: at most 10 times, and for at most 120 s of waiting in all for one request; a request asked to wait longer than is left fails at once, saying so.';
  for (const run of [getCommand, proveCommand, monitorCommand]) {
    const help = captureIo();
    expect(await run(['--help'], help)).toBe(0);
    expect(help.out().replace(/\s+/g, ' ')).toContain(said);
  }
  const help = captureIo();
  expect(await monitorCommand(['--help'], help)).toBe(0);
  expect(help.out().replace(/\s+/g, ' ')).toContain('A walk that fails on a request (the log unreachable, or refusing past its retries) saves how far it got the same way, and the next round goes on from there');
});

test("a 404 that is not the log's own (a proxy's page) is not said to be the log's answer; the log's own is", () => {
  const page = new ClientError('HTTP_STATUS', "GET http://x/tile/0/005: 404: an HTML page, not the log's: 404 Not Found", { status: 404 });
  expect(withheldError('tile/0/005', 1300, page).message).toBe(
    "a 404 was answered for tile/0/005, which the log's signed checkpoint of tree size 1300 covers: GET http://x/tile/0/005: 404: an HTML page, not the log's: 404 Not Found",
  );
  const own = new ClientError('HTTP_STATUS', 'GET http://x/tile/0/005: 404 NOT_FOUND: no such tile in this tree', { status: 404, serverCode: 'NOT_FOUND' });
  expect(withheldError('tile/0/005', 1300, own).message).toMatch(/^the log answered 404 for tile\/0\/005, which its signed checkpoint of tree size 1300 covers: /);
});
