// The crash test (scripts/crash-test.ts) in its 3-cycle version: the real
// server is SIGKILLed under load and restarted; no answered entry is lost,
// no checkpoint is inconsistent, no size has two roots. Also: the checker
// does notice a lost entry, a fork and a rollback when there is one.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCrashTest } from '../../scripts/crash-test.js';
import { LogChecker } from '../../scripts/reliability/check.js';
import { spawnServer } from '../../scripts/reliability/server.js';
import { newVerifier } from '../../src/note/keys.js';
import { CLI } from '../helpers/server-process.js';

const enc = (s: string) => new TextEncoder().encode(s);

test('3 crash cycles: every receipt survives, every checkpoint is consistent', async () => {
  const lines: string[] = [];
  const result = await runCrashTest({ cycles: 3, seed: 1 + Math.floor(Math.random() * 1e6), submitters: 6, maxLoadMs: 700, minReceipts: 20, cli: CLI, print: (l) => lines.push(l) });
  expect(result.problems).toEqual([]);
  expect(result.lost).toBe(0);
  // Cycle 1 is always under load, and each such cycle waits for 20 receipts before its kill.
  expect(result.receipts).toBeGreaterThanOrEqual(20);
  expect(result.treeSize).toBeGreaterThan(0);
  expect(result.checkpointsObserved).toBeGreaterThan(3);
  expect(lines.at(-1)).toBe(`3 cycles, ${result.receipts} receipts, 0 lost`);
});

test('the checker notices a lost receipt, a second root for a size, and a log that went back', async () => {
  const data = await mkdtemp(join(tmpdir(), 'cairn-checker-'));
  const server = spawnServer(CLI, data, ['--origin', 'checker.example/log']);
  try {
    const url = await server.listening;
    const checker = new LogChecker(newVerifier(server.verifierKey()!));
    const res = await fetch(`${url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: enc('real') });
    const receipt = (await res.json()) as { checkpoint: string };
    expect(checker.recordReceipt(enc('real'), receipt, receipt.checkpoint, 'test')).toBe(true);
    // A receipt whose proof is for another entry does not verify.
    expect(checker.recordReceipt(enc('forged'), receipt, receipt.checkpoint, 'test')).toBe(false);
    const newest = await checker.newest(url);
    expect(checker.problems).toHaveLength(1);
    // A receipt for an entry that is not at its index counts as lost.
    expect(await checker.checkReceipts(url, newest, [{ entry: enc('never logged'), index: 0, treeSize: 1 }])).toBe(1);
    expect(await checker.checkReceipts(url, newest, [{ entry: enc('real'), index: 5, treeSize: 6 }])).toBe(1);
    expect(await checker.checkReceipts(url, newest, checker.receipts)).toBe(0);
    // Another root for a size already seen is a fork; a size beyond the newest is a rollback.
    checker.observe(1, new Uint8Array(32).fill(7), 'test');
    checker.observe(9, new Uint8Array(32).fill(9), 'test');
    const before = checker.problems.length;
    await checker.checkConsistency(url, newest);
    expect(checker.problems.length).toBeGreaterThan(before);
    expect(checker.problems.join('\n')).toMatch(/two roots for tree size 1/);
    expect(checker.problems.join('\n')).toMatch(/went back/);
  } finally {
    await server.stop('SIGTERM');
    await rm(data, { recursive: true, force: true });
  }
});
