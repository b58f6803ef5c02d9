// The commands given a tile or entry bundle answer that is not one at all
// (audit 20d F4): a body cut off that fetch handed over as whole (see
// test/client/malformed-tiles.test.ts for that on the wire), or a captive
// portal's HTML page with status 200. Fetched again once, and then an
// operational failure (exit 2) naming the path and the fault: never an alarm
// (monitor) or VERIFICATION FAILED (get, prove --tiles), which stay for
// well-formed answers that fail to authenticate. Run in-process against a
// real server of 300 entries (bundle 000 full, 001.p/44).
import { join } from 'node:path';
import { getCommand } from '../../src/cli/get.js';
import { monitorCommand } from '../../src/cli/monitor.js';
import { proveCommand } from '../../src/cli/prove.js';
import { CairnClient } from '../../src/client/client.js';
import type { FetchLike } from '../../src/client/http.js';
import { useCliServer } from '../helpers/cli-server.js';
import { captureIo } from './client-io.js';

const t = useCliServer('cairn-malformed-tiles-cli-', { origin: 'malformed.test/log' });
const enc = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  await new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey }).addBatch(Array.from({ length: 300 }, (_, i) => enc(`entry ${i}`)));
});

/**
 * A fetch that hands over the answers for URLs `pattern` takes cut to half
 * their body, as fetch does for a chunked body cut off on a Connection:
 * close connection, the first `times` times (default: always).
 */
function cutting(pattern: RegExp, times = Number.POSITIVE_INFINITY): FetchLike {
  let left = times;
  return async (url, init) => {
    const res = await fetch(url, init);
    if (!pattern.test(url) || left-- <= 0) return res;
    const body = new Uint8Array(await res.arrayBuffer());
    return new Response(body.subarray(0, Math.floor(body.length / 2)) as unknown as BodyInit, { status: res.status, headers: res.headers });
  };
}

/** A fetch that answers the URLs `pattern` takes with a captive portal's page, status 200. */
function portal(pattern: RegExp): FetchLike {
  return async (url, init) => (pattern.test(url) ? new Response('<html><body>Please log in</body></html>\n', { headers: { 'Content-Type': 'text/html' } }) : fetch(url, init));
}

let states = 0;
async function monitor(fetch: FetchLike) {
  const io = captureIo({ fetch });
  const code = await monitorCommand([...t.common, '--state', join(t.dir, `state-${++states}.json`), '--once', '--json'], io);
  const events = io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, events };
}

describe('monitor', () => {
  test('an entry bundle cut off once is fetched again: the round verifies (before: ALARM entry-mismatch)', async () => {
    const run = await monitor(cutting(/\/tile\/entries\/001\.p\/44$/, 1));
    expect([run.code, run.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 300 })]]);
  });

  test('a hash tile cut off once is fetched again: the round verifies (before: ALARM tile-mismatch)', async () => {
    const run = await monitor(cutting(/\/tile\/0\/001\.p\/44$/, 1));
    expect([run.code, run.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 300 })]]);
  });

  test('an entry bundle cut off every time: exit 2 naming it, no alarm', async () => {
    const run = await monitor(cutting(/\/tile\/entries\/001\.p\/44$/));
    expect([run.code, run.events]).toEqual([
      2,
      [expect.objectContaining({ event: 'error', message: expect.stringMatching(/\/tile\/entries\/001\.p\/44: the answer is not a bundle of 44 entries: .* \(fetched twice, the same both times\)/) })],
    ]);
  });

  test('a hash tile that is an HTML page every time: exit 2 naming it and its type, no alarm', async () => {
    const run = await monitor(portal(/\/tile\/0\/001\.p\/44$/));
    expect([run.code, run.events]).toEqual([2, [expect.objectContaining({ event: 'error', message: expect.stringMatching(/\/tile\/0\/001\.p\/44: the answer is 40 bytes, not the 1408 of a tile of 44 hashes; its Content-Type is text\/html \(fetched twice, the same both times\)/) })]]);
  });
});

test('get --tiles, get of a range and prove --tiles: exit 2 naming the path, not VERIFICATION FAILED', async () => {
  const runs: [string, (io: ReturnType<typeof captureIo>) => Promise<number>][] = [
    ['get 260 --tiles', (io) => getCommand([...t.common, '260', '--tiles'], io)],
    ['get 0-299', (io) => getCommand([...t.common, '0-299'], io)],
    ['prove 260 --tiles', (io) => proveCommand([...t.common, '260', '--tiles'], io)],
  ];
  for (const [name, run] of runs) {
    const html = captureIo({ fetch: portal(/\/tile\/0\/001\.p\/44$/) });
    expect([name, await run(html)]).toEqual([name, 2]);
    expect(html.err()).toMatch(/^cairn (get|prove): http:\S+\/tile\/0\/001\.p\/44: the answer is 40 bytes, not the 1408 of a tile of 44 hashes; its Content-Type is text\/html \(fetched twice, the same both times\)( \(no entry was printed\))?\n/);
    // Once cut, the tile comes whole the second time.
    const once = captureIo({ fetch: cutting(/\/tile\/0\/001\.p\/44$/, 1) });
    expect([name, await run(once), once.err()]).toEqual([name, 0, expect.not.stringMatching(/VERIFICATION FAILED/)]);
  }
  const bundle = captureIo({ fetch: cutting(/\/tile\/entries\/001\.p\/44$/) });
  expect(await getCommand([...t.common, '260', '--tiles'], bundle)).toBe(2);
  expect(bundle.err()).toMatch(/^cairn get: http:\S+\/tile\/entries\/001\.p\/44: the answer is not a bundle of 44 entries: /);
});
