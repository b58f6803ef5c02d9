// A write that LevelDB itself fails part-way (here: its write-ahead log
// reaches the largest file the process may write, as a disk fills up). The
// round answers 503; LevelDB may have appended part of it to its log
// without knowing, so the store is opened afresh before it writes again:
// the rounds after the fault are answered and, unlike appends after a torn
// record, are still there after a kill -9 and a restart. Reads wait while
// the store is reopened.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const ENTRY_BYTES = 1000;
const PER_BATCH = 256;

/** Entries that compress well, so that LevelDB's tables stay far below the file size limit while its log reaches it. */
function batch(round: number): string[] {
  return Array.from({ length: PER_BATCH }, (_, i) => Buffer.from(`round ${round} entry ${i} `.padEnd(ENTRY_BYTES, '.')).toString('base64'));
}

let dir: string;
let servers: ServerProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-failed-write-'));
});
afterEach(async () => {
  for (const server of servers) await server.stop('SIGKILL');
  servers = [];
  await rm(dir, { recursive: true, force: true });
});

test('after a write LevelDB failed part-way, the next rounds are answered and survive a kill -9', async () => {
  const data = join(dir, 'data');
  const limited = await startServerProcess(['--data', data], {}, { fileSizeLimitKiB: 1024 });
  servers.push(limited);
  const answered = new Map<number, string>(); // index -> base64 entry
  const statuses: number[] = [];
  // From the first round on, a reader keeps reading its tile from the store:
  // it waits while the store is opened afresh, and is never refused.
  let writing = true;
  const readStatuses = new Set<number>();
  let reader: Promise<void> | undefined;
  for (let round = 0; round < 40; round++) {
    if (answered.size > 0) {
      reader ??= (async () => {
        while (writing) readStatuses.add((await fetch(`${limited.url}/tile/0/000`)).status);
      })();
    }
    const entries = batch(round);
    const res = await fetch(`${limited.url}/v1/batch`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ entries }) });
    const body = (await res.json()) as { code?: string; receipts?: { index: number }[] };
    statuses.push(res.status);
    if (res.status === 200) body.receipts!.forEach((r, i) => answered.set(r.index, entries[i]!));
    else expect([res.status, body.code]).toEqual([503, 'STORAGE_FAILED']);
  }
  writing = false;
  await reader;
  expect(readStatuses.size).toBeGreaterThan(0);
  expect([...readStatuses]).toEqual([200]);
  // The log's write-ahead log filled its 1 MiB more than once, and after each time rounds were answered again.
  const firstFailure = statuses.indexOf(503);
  expect(firstFailure).toBeGreaterThan(0);
  expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(1);
  expect(statuses.slice(firstFailure).filter((s) => s === 200).length).toBeGreaterThan(10);

  await limited.stop('SIGKILL');
  const again = await startServerProcess(['--data', data]);
  servers.push(again);
  const sth = (await (await fetch(`${again.url}/ct/v1/get-sth`)).json()) as { tree_size: number };
  expect(sth.tree_size).toBe(answered.size);
  for (let start = 0; start < sth.tree_size; start += 1000) {
    const res = await fetch(`${again.url}/ct/v1/get-entries?start=${start}&end=${start + 999}`);
    const { entries } = (await res.json()) as { entries: { leaf_input: string }[] };
    entries.forEach((e, i) => expect(e.leaf_input).toBe(answered.get(start + i)));
  }
});
