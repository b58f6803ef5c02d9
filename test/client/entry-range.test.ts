// CairnClient.readEntryRange against a real server on port 0 (src/cli/server.ts):
// the entries of a range, each bundle verified against one checkpoint; a
// tampered bundle, a range past the tree, and a stop through its signal.
import { CairnClient, type CairnClientOptions, type VerifiedEntries } from '../../src/client/client.js';
import { ClientError } from '../../src/client/errors.js';
import type { FetchLike } from '../../src/client/http.js';
import { leafHash } from '../../src/merkle/hash.js';
import type { Checkpoint } from '../../src/note/checkpoint.js';
import { useCliServer } from '../helpers/cli-server.js';
import { hex } from './helpers.js';

const enc = (s: string) => new TextEncoder().encode(s);

/** 600 entries of different lengths: bundles 0 and 1 full, bundle 2 partial (88 entries). */
const entries = Array.from({ length: 600 }, (_, i) => enc(`range entry ${i}${'.'.repeat(i % 7)}`));

const t = useCliServer('cairn-entry-range-', { origin: 'entry-range.test/log' });
let checkpoint: Checkpoint;

beforeAll(async () => {
  checkpoint = (await t.client.addBatch(entries)).checkpoint.checkpoint;
  expect(checkpoint.treeSize).toBe(600);
});

/** A client whose fetch `f` sees every request (the global fetch by default), keeping each path below the base URL. */
function recordingClient(f: FetchLike = (url, init) => fetch(url, init), extra: Partial<CairnClientOptions> = {}): { client: CairnClient; paths: string[] } {
  const paths: string[] = [];
  const client = new CairnClient({
    baseUrl: t.server.url,
    verifierKey: t.server.verifierKey,
    ...extra,
    fetch: (url, init) => {
      paths.push(new URL(url).pathname.slice(1));
      return f(url, init);
    },
  });
  return { client, paths };
}

/** Every group of the range, in order. */
async function collect(range: AsyncIterable<VerifiedEntries>): Promise<VerifiedEntries[]> {
  const groups: VerifiedEntries[] = [];
  for await (const group of range) groups.push(group);
  return groups;
}

/** The groups are entries `from` to `to` as logged, in order, with their leaf hashes, each group within one bundle. */
function expectEntries(groups: readonly VerifiedEntries[], from: number, to: number): void {
  const indexes: number[] = [];
  for (const g of groups) {
    expect(g.entries.length).toBeGreaterThan(0);
    expect(g.leafHashes.length).toBe(g.entries.length);
    // One bundle's entries: the first and the last are in the same 256.
    expect(Math.floor(g.start / 256)).toBe(Math.floor((g.start + g.entries.length - 1) / 256));
    g.entries.forEach((entry, i) => {
      const index = g.start + i;
      indexes.push(index);
      expect([index, hex(entry)]).toEqual([index, hex(entries[index]!)]);
      expect([index, hex(g.leafHashes[i]!)]).toEqual([index, hex(leafHash(entries[index]!))]);
    });
  }
  expect(indexes).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
}

/** A fetch that answers through the server, with `edit` free to replace the body of chosen answers. */
function editingFetch(edit: (path: string, body: Uint8Array) => Uint8Array | undefined): FetchLike {
  return async (url, init) => {
    const res = await fetch(url, init);
    const body = new Uint8Array(await res.arrayBuffer());
    const changed = edit(new URL(url).pathname.slice(1), body) ?? body;
    return new Response(changed as unknown as BodyInit, { status: res.status, headers: res.headers });
  };
}

/** `bundle` with entry `index` replaced by bytes of the same length (so that the bundle still parses). */
function forged(bundle: Uint8Array, index: number): Uint8Array {
  const from = entries[index]!;
  const at = Buffer.from(bundle).indexOf(Buffer.from(from));
  expect(at).toBeGreaterThanOrEqual(0);
  const out = bundle.slice();
  out.set(enc(new TextDecoder().decode(from).replace('range', 'RANGE')), at);
  return out;
}

/** A request that is never answered: it ends only when its signal aborts, with the signal's reason. */
function hang(init: RequestInit | undefined): Promise<Response> {
  return new Promise((_resolve, reject) => {
    const signal = init?.signal;
    if (signal === undefined || signal === null) return;
    if (signal.aborted) return reject(signal.reason as Error);
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}

test('a range across bundle boundaries and into the partial last bundle is exactly its entries, a bundle at a time', async () => {
  const { client } = recordingClient();
  for (const [from, to] of [
    [250, 260],
    [255, 256],
    [256, 511],
    [0, 599],
    [300, 599],
    [511, 512],
    [599, 599],
    [0, 0],
  ] as const) {
    const groups = await collect(client.readEntryRange(checkpoint, from, to));
    expectEntries(groups, from, to);
    expect([from, to, groups.map((g) => g.start)]).toEqual([from, to, [...new Set([from, ...[256, 512].filter((b) => b > from && b <= to)])]]);
  }
});

test('the whole tree costs one request per entry bundle and the tiles that authenticate them, and none per entry', async () => {
  const { client, paths } = recordingClient();
  expectEntries(await collect(client.readEntryRange(checkpoint, 0, 599)), 0, 599);
  // The full bundles are checked against tile/1/000.p/2, the partial one against its level-0 tile (which also rebuilds the root).
  expect(paths.sort()).toEqual(['tile/0/002.p/88', 'tile/1/000.p/2', 'tile/entries/000', 'tile/entries/001', 'tile/entries/002.p/88']);
});

test('a tampered entry in a full or the partial bundle: the groups before it, then ClientError ENTRY_MISMATCH naming it', async () => {
  for (const [index, path] of [
    [300, 'tile/entries/001'],
    [0, 'tile/entries/000'],
    [599, 'tile/entries/002.p/88'],
  ] as const) {
    const { client } = recordingClient(editingFetch((p, body) => (p === path ? forged(body, index) : undefined)));
    const groups: VerifiedEntries[] = [];
    let failure: unknown;
    try {
      for await (const group of client.readEntryRange(checkpoint, 0, 599)) groups.push(group);
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(ClientError);
    const err = failure as ClientError;
    expect([index, err.code, err.isVerificationFailure]).toEqual([index, 'ENTRY_MISMATCH', true]);
    expect(err.message).toContain(`${path}: entry ${index} does not match its leaf hash in the authenticated tile tile/0/`);
    const bad = index - (index % 256);
    if (bad === 0) expect(groups).toEqual([]);
    else expectEntries(groups, 0, bad - 1);
  }
});

test('a range past the checkpoint, or otherwise bad, is refused at once, before any request', () => {
  const { client, paths } = recordingClient();
  expect(() => client.readEntryRange(checkpoint, 0, 600)).toThrow(new RangeError("readEntryRange: entries 0 to 600 are not all in the checkpoint's tree: the last entry of the tree of size 600 is 599"));
  expect(() => client.readEntryRange(checkpoint, 700, 800)).toThrow(/entries 700 to 800 are not all in the checkpoint's tree/);
  expect(() => client.readEntryRange({ ...checkpoint, treeSize: 0 }, 0, 0)).toThrow(/the tree of size 0 has none/);
  expect(() => client.readEntryRange(checkpoint, 10, 9)).toThrow(RangeError);
  expect(() => client.readEntryRange(checkpoint, -1, 9)).toThrow(RangeError);
  expect(() => client.readEntryRange(checkpoint, 0, 1.5)).toThrow(RangeError);
  expect(() => client.readEntryRange({ checkpoint, note: '' } as unknown as Checkpoint, 0, 9)).toThrow(/pass its \.checkpoint/);
  expect(() => client.readEntryRange(checkpoint, 0, 9, { signal: 'stop' as unknown as AbortSignal })).toThrow(TypeError);
  expect(paths).toEqual([]);
});

test('a signal that aborts while a bundle is awaited aborts its request and ends the range with the signal\'s reason', async () => {
  const stop = new AbortController();
  const reason = new Error('enough');
  const held: AbortSignal[] = [];
  const { client } = recordingClient((url, init) => {
    if (!url.endsWith('/tile/entries/000')) return fetch(url, init);
    held.push(init!.signal!);
    setImmediate(() => stop.abort(reason));
    return hang(init);
  });
  const groups: VerifiedEntries[] = [];
  let failure: unknown;
  try {
    for await (const group of client.readEntryRange(checkpoint, 0, 599, { signal: stop.signal })) groups.push(group);
  } catch (err) {
    failure = err;
  }
  expect(failure).toBe(reason);
  expect(groups).toEqual([]);
  expect(held.map((s) => [s.aborted, s.reason])).toEqual([[true, reason]]);
});

test('a signal that aborts between groups ends the range: no group after it, and the requests in flight are aborted', async () => {
  const stop = new AbortController();
  const held: AbortSignal[] = [];
  const { client, paths } = recordingClient((url, init) => {
    if (!url.endsWith('/tile/entries/002.p/88')) return fetch(url, init);
    held.push(init!.signal!);
    return hang(init);
  });
  const range = client.readEntryRange(checkpoint, 0, 599, { signal: stop.signal });
  const first = await range.next();
  expect(first.done).toBe(false);
  expect((first.value as VerifiedEntries).start).toBe(0);
  stop.abort();
  await expect(range.next()).rejects.toMatchObject({ name: 'AbortError' });
  expect(await range.next()).toEqual({ done: true, value: undefined });
  expect(held.map((s) => s.aborted)).toEqual([true]);
  // An aborted signal: no request at all.
  const asked = paths.length;
  await expect(client.readEntryRange(checkpoint, 0, 599, { signal: stop.signal }).next()).rejects.toMatchObject({ name: 'AbortError' });
  expect(paths.length).toBe(asked);
});

test('breaking out of the loop aborts the bundles still being fetched', async () => {
  const held: AbortSignal[] = [];
  const { client } = recordingClient((url, init) => {
    if (!url.endsWith('/tile/entries/002.p/88')) return fetch(url, init);
    held.push(init!.signal!);
    return hang(init);
  });
  let seen = 0;
  for await (const group of client.readEntryRange(checkpoint, 0, 599)) {
    seen += group.entries.length;
    break;
  }
  expect(seen).toBe(256);
  expect(held.map((s) => s.aborted)).toEqual([true]);
});

test('a signal that aborts during the wait a 503 asked for (Retry-After 60) ends the range without asking again', async () => {
  const stop = new AbortController();
  const sleeps: number[] = [];
  let asked = 0;
  // The bundle's 503 comes once both tiles that authenticate it (tile/1/000.p/2, tile/0/002.p/88) were
  // answered in full, so that the wait is all the range is left doing when the signal aborts.
  let tilesAnswered = 0;
  let tilesDone: () => void = () => undefined;
  const tiles = new Promise<void>((resolve) => (tilesDone = resolve));
  const { client } = recordingClient(
    async (url, init) => {
      if (!url.endsWith('/tile/entries/001')) {
        const res = await fetch(url, init);
        const body = await res.arrayBuffer();
        if (++tilesAnswered === 2) tilesDone();
        return new Response(body, { status: res.status, headers: res.headers });
      }
      asked++;
      await tiles;
      return new Response('{"error":"busy","code":"QUEUE_FULL"}', { status: 503, headers: { 'Retry-After': '60', 'Content-Type': 'application/json' } });
    },
    {
      // The wait ends only when its signal aborts: none ends by time here.
      sleep: (ms, signal) => {
        sleeps.push(ms);
        stop.abort();
        return new Promise<void>((resolve) => {
          if (signal?.aborted === true) return resolve();
          signal?.addEventListener('abort', () => resolve(), { once: true });
        });
      },
    },
  );
  const starts: number[] = [];
  await expect(
    (async () => {
      for await (const group of client.readEntryRange(checkpoint, 256, 511, { signal: stop.signal })) starts.push(group.start);
    })(),
  ).rejects.toMatchObject({ name: 'AbortError' });
  expect([asked, tilesAnswered, sleeps, starts]).toEqual([1, 2, [60_000], []]);
});
