// cairn monitor ties the checkpoint and the signed tree head of one round to
// one history, from the very first run: an STH signed (by the log's own key)
// over another root than the checkpoint's at the same size is a fork, and so
// is a checkpoint signed over another root than the honest STH's. A bundle
// whose first entry was swapped is an entry-mismatch. A real server on port 0
// holds 10 entries; a fetch in between serves the forged answers.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorCommand } from '../../src/cli/monitor.js';
import { CairnClient } from '../../src/client/client.js';
import type { FetchLike } from '../../src/client/http.js';
import { encodeEntryBundle, parseEntryBundle } from '../../src/merkle/bundle.js';
import { treeHash } from '../../src/merkle/tree.js';
import { signCheckpoint, type Checkpoint } from '../../src/note/checkpoint.js';
import { newSigner, type Signer } from '../../src/note/keys.js';
import { signTreeHead, type TreeHead } from '../../src/note/sth.js';
import { flip } from '../client/helpers.js';
import { useCliServer } from '../helpers/cli-server.js';
import { captureIo, editingFetch } from './client-io.js';

const ORIGIN = 'pairs.test/log';
const enc = (s: string) => new TextEncoder().encode(s);

const t = useCliServer('cairn-monitor-pairs-', { origin: ORIGIN });
let signer: Signer;
let cp: Checkpoint;
let root5: Uint8Array;
let states = 0;

beforeAll(async () => {
  signer = newSigner((await readFile(join(t.dir, 'data', 'log.key'), 'utf8')).trim());
  const client = new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey });
  await client.addBatch(Array.from({ length: 10 }, (_, i) => enc(`entry ${i}`))); // 7 bytes each
  cp = (await client.getCheckpoint()).checkpoint;
  root5 = await treeHash(5, client.tileReader(cp));
});

/** A fresh state file path: every run below that starts from it is a first run. */
const freshState = () => join(t.dir, `state-${++states}.json`);

async function monitor(statePath: string, fetch?: FetchLike) {
  const io = captureIo(fetch === undefined ? {} : { fetch });
  const code = await monitorCommand([...t.common, '--state', statePath, '--once', '--json'], io);
  const events = io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, events };
}

/** The log, except that `path` (checkpoint or ct/v1/get-sth) answers `body`. */
function serving(path: 'checkpoint' | 'ct/v1/get-sth', body: () => Response): FetchLike {
  return async (url, init) => (new URL(url).pathname === `/${path}` ? body() : fetch(url, init));
}
const withTreeHead = (head: TreeHead) => serving('ct/v1/get-sth', () => Response.json(signTreeHead(head, signer)));
const withCheckpoint = (c: Checkpoint) => serving('checkpoint', () => new Response(signCheckpoint(c, signer)));

test('the genuine log, and a genuine signed tree head behind its checkpoint, pass a first run', async () => {
  expect(cp.treeSize).toBe(10);
  const honest = await monitor(freshState());
  expect([honest.code, honest.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 10 })]]);
  const lagging = await monitor(freshState(), withTreeHead({ timestamp: Date.now(), treeSize: 5, rootHash: root5 }));
  expect([lagging.code, lagging.events]).toEqual([0, [expect.objectContaining({ event: 'verified', tree_size: 10 })]]);
});

describe('first run (no state file): the signed tree head and the checkpoint must be one history', () => {
  test('an STH validly signed over another root at the checkpoint size: alarm fork, no state written', async () => {
    const statePath = freshState();
    const run = await monitor(statePath, withTreeHead({ timestamp: Date.now(), treeSize: 10, rootHash: flip(cp.rootHash, 0) }));
    expect([run.code, run.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'fork', message: expect.stringMatching(/^two roots for tree size 10: .* \(a fork\)$/) })]]);
    await expect(access(statePath)).rejects.toThrow(/ENOENT/);
  });

  test('an STH validly signed over a wrong root at a smaller size: alarm inconsistent, no state written', async () => {
    const statePath = freshState();
    const run = await monitor(statePath, withTreeHead({ timestamp: Date.now(), treeSize: 5, rootHash: flip(root5, 31) }));
    expect([run.code, run.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'inconsistent', message: expect.stringMatching(/does not extend the tree of size 5 /) })]]);
    await expect(access(statePath)).rejects.toThrow(/ENOENT/);
  });

  test('a checkpoint validly signed over another root at the honest STH size: alarm fork (not smaller-tree)', async () => {
    const statePath = freshState();
    const run = await monitor(statePath, withCheckpoint({ ...cp, rootHash: flip(cp.rootHash, 7) }));
    expect([run.code, run.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'fork', message: expect.stringMatching(/\(a fork\)$/) })]]);
    await expect(access(statePath)).rejects.toThrow(/ENOENT/);
  });
});

test('after a verified run, a checkpoint of the same size with another root (the STH honest): alarm fork (not smaller-tree), the state stays', async () => {
  const statePath = freshState();
  expect((await monitor(statePath)).code).toBe(0);
  const before = await readFile(statePath, 'utf8');
  const run = await monitor(statePath, withCheckpoint({ ...cp, rootHash: flip(cp.rootHash, 7) }));
  expect([run.code, run.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'fork' })]]);
  expect(await readFile(statePath, 'utf8')).toBe(before);
});

test('an entry bundle whose first entry was swapped for another of the same length: alarm entry-mismatch naming entry 0', async () => {
  const statePath = freshState();
  const swapped = editingFetch((url, body) => {
    if (!/\/tile\/entries\/000\.p\/10$/.test(url)) return undefined;
    const entries = parseEntryBundle(body);
    entries[0] = enc('entry X');
    return encodeEntryBundle(entries);
  });
  const run = await monitor(statePath, swapped);
  expect([run.code, run.events]).toEqual([1, [expect.objectContaining({ event: 'alarm', kind: 'entry-mismatch', message: expect.stringMatching(/: entry 0 does not match its leaf hash/) })]]);
  // No entry is taken as checked; the signed heads, verified before the walk, are kept as the newest seen.
  const kept = JSON.parse(await readFile(statePath, 'utf8')) as Record<string, unknown>;
  expect(kept).toMatchObject({ checkpoint: null, tree_size: 0, newest: { tree_size: 10 } });
  expect(kept).not.toHaveProperty('partial');
});
