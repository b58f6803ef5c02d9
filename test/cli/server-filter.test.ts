// The server tells operators when the leaf-hash filter stops serving: here
// because another sequencer wrote to the store (a wiring bug). The log then
// finds more in the store than it signed, stops trusting the filter, and the
// server says so in its log and its metrics; dedup still finds the entry the
// other one wrote. A round whose write reached the disk but was reported as
// failed (an fsync error after the write, say) is not that: the log built it,
// and the filter, which holds its hashes, stays on, without a warning.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readKeyFile } from '../../src/cli/key-file.js';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { Log } from '../../src/log/log.js';
import type { Logger } from '../../src/log/logger.js';
import { newSigner, newVerifier } from '../../src/note/keys.js';
import type { LogStore, RoundWrite } from '../../src/storage/store.js';
import { passThroughStore } from '../helpers/store.js';

let dir: string;
let server: RunningServer | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-server-filter-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** A store whose writes succeed, but when `failAfterWrite` is set, report failure after writing. */
function lyingStore(inner: LogStore, control: { failAfterWrite: boolean }): LogStore {
  return passThroughStore(inner, {
    writeRound: async (round: RoundWrite) => {
      await inner.writeRound(round);
      if (control.failAfterWrite) throw new Error('fsync reported an error after the write');
    },
  });
}

function recordingLogger(lines: { level: string; msg: string }[]): Logger {
  return {
    info: () => {},
    warn: (msg) => lines.push({ level: 'warn', msg }),
    error: (msg) => lines.push({ level: 'error', msg }),
  };
}

function client(server: RunningServer) {
  return {
    post: (body: string) => fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body }),
    metric: async (name: string) => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return text.split('\n').find((l) => l.startsWith(`${name} `));
    },
  };
}

test('a filter that gives up is logged once as a warning and shows in /metrics', async () => {
  const lines: { level: string; msg: string }[] = [];
  let inner: LogStore | undefined;
  server = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0, logger: recordingLogger(lines), wrapStore: (s) => (inner = s) });
  const { post, metric } = client(server);

  expect((await post('first')).status).toBe(201);
  expect((await server.log.leafFilterState()).ready).toBe(true);
  expect(await metric('cairn_leaf_filter_ready')).toBe('cairn_leaf_filter_ready 1');
  expect(lines.filter((l) => l.level === 'warn')).toEqual([]);

  // Another sequencer on the same store, with the same key, logs an entry.
  const key = await readKeyFile(join(dir, 'data', 'log.key'));
  const other = await Log.open({ store: inner!, signer: newSigner(key.signerKey), verifier: newVerifier(key.verifierKey) });
  await other.submit([new TextEncoder().encode('other')]);
  const refused = await post('second');
  expect(refused.status).toBe(503);
  expect((await refused.json()) as unknown).toMatchObject({ code: 'STORAGE_FAILED' });

  expect(await metric('cairn_leaf_filter_ready')).toBe('cairn_leaf_filter_ready 0');
  const warnings = lines.filter((l) => l.level === 'warn');
  expect(warnings).toHaveLength(1);
  expect(warnings[0]!.msg).toMatch(/leaf-hash filter gave up/);

  // Dedup asks the store: the other one's entry is a duplicate at index 1, and the log goes on.
  const dup = await post('other');
  expect(dup.status).toBe(200);
  expect((await dup.json()) as unknown).toMatchObject({ index: 1, duplicate: true });
  expect((await post('second')).status).toBe(201);
  expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
});

test('a round the disk wrote but reported failed keeps the filter on, without a warning', async () => {
  const lines: { level: string; msg: string }[] = [];
  const control = { failAfterWrite: false };
  server = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0, logger: recordingLogger(lines), wrapStore: (s) => lyingStore(s, control) });
  const { post, metric } = client(server);

  expect((await post('first')).status).toBe(201);
  expect((await server.log.leafFilterState()).ready).toBe(true);
  control.failAfterWrite = true;
  const failed = await post('second');
  expect(failed.status).toBe(503);
  expect((await failed.json()) as unknown).toMatchObject({ code: 'STORAGE_FAILED' });
  control.failAfterWrite = false;

  // The write did land: the retry is a duplicate at index 1, and the log goes on.
  const retry = await post('second');
  expect(retry.status).toBe(200);
  expect((await retry.json()) as unknown).toMatchObject({ index: 1, duplicate: true });
  expect((await post('third')).status).toBe(201);
  expect(await metric('cairn_leaf_filter_ready')).toBe('cairn_leaf_filter_ready 1');
  expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
});
