import { EMPTY_ROOT, leafHash } from '../../src/merkle/hash.js';
import { verifyConsistency, verifyInclusion } from '../../src/merkle/proof.js';
import { LogError } from '../../src/log/errors.js';
import { Log, type LogOptions, type SubmitResult } from '../../src/log/log.js';
import { openCheckpoint } from '../../src/note/checkpoint.js';
import { LevelStore } from '../../src/storage/level-store.js';
import type { LogStore, RoundWrite } from '../../src/storage/store.js';
import { checkLog } from '../helpers/check-log.js';
import { testSigner, testVerifier } from '../helpers/keys.js';
import { passThroughStore } from '../helpers/store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const enc = (s: string) => new TextEncoder().encode(s);

const dir = useTempDir('cairn-log-');

async function openLog(extra: Partial<LogOptions> = {}, store?: LogStore): Promise<Log> {
  return Log.open({ store: store ?? (await LevelStore.open(dir())), signer: testSigner, verifier: testVerifier, ...extra });
}

function expectReceiptsValid(result: SubmitResult, entries: Uint8Array[]): void {
  const { checkpoint } = openCheckpoint(result.checkpoint, testVerifier);
  expect(checkpoint.treeSize).toBe(result.treeSize);
  result.receipts.forEach((r, i) => {
    expect(Buffer.from(r.leafHash).equals(Buffer.from(leafHash(entries[i]!)))).toBe(true);
    expect(verifyInclusion(r.leafHash, r.index, checkpoint.treeSize, r.inclusionProof, checkpoint.rootHash)).toBe(true);
  });
}

test('a new log signs the empty tree at its first start', async () => {
  const log = await openLog();
  try {
    const head = log.latest();
    expect(head.treeSize).toBe(0);
    expect(Buffer.from(head.rootHash).equals(Buffer.from(EMPTY_ROOT))).toBe(true);
    expect(openCheckpoint(head.checkpoint, testVerifier).checkpoint.treeSize).toBe(0);
    expect(head.sth.tree_size).toBe(0);
    await checkLog(log, testVerifier);
  } finally {
    await log.close();
  }
});

test('submissions get verifiable receipts; duplicates get the first index', async () => {
  const log = await openLog();
  try {
    const a = [enc('a'), enc('b'), enc('a'), enc('c')];
    const r1 = await log.submit(a);
    expectReceiptsValid(r1, a);
    expect(r1.receipts.map((r) => r.index)).toEqual([0, 1, 0, 2]);
    expect(r1.receipts.map((r) => r.duplicate)).toEqual([false, false, true, false]);
    const r2 = await log.submit([enc('b'), enc('d')]);
    expectReceiptsValid(r2, [enc('b'), enc('d')]);
    expect(r2.receipts.map((r) => [r.index, r.duplicate])).toEqual([
      [1, true],
      [3, false],
    ]);
    expect(log.latest().treeSize).toBe(4);
    await checkLog(log, testVerifier);
  } finally {
    await log.close();
  }
});

test('concurrent submissions are grouped into few rounds, each entry once', async () => {
  let rounds = 0;
  const log = await openLog({ observer: { roundCommitted: () => void rounds++ } });
  try {
    rounds = 0;
    const entries = Array.from({ length: 600 }, (_, i) => enc(`event ${i % 500}`));
    const results = await Promise.all(entries.map((e) => log.submit([e])));
    results.forEach((r, i) => expectReceiptsValid(r, [entries[i]!]));
    const indexes = new Set(results.map((r) => r.receipts[0]!.index));
    expect(indexes.size).toBe(500);
    expect(log.latest().treeSize).toBe(500);
    expect(results.filter((r) => r.receipts[0]!.duplicate)).toHaveLength(100);
    expect(rounds).toBeLessThan(50);
    await checkLog(log, testVerifier);
  } finally {
    await log.close();
  }
});

test('a restart resumes from the stored state and keeps growing consistently', async () => {
  let log = await openLog();
  const first = Array.from({ length: 700 }, (_, i) => enc(`first ${i}`));
  await log.submit(first.slice(0, 300));
  await log.submit(first.slice(300));
  const before = log.latest();
  await log.close();

  log = await openLog();
  try {
    expect(log.latest().treeSize).toBe(700);
    expect(log.latest().checkpoint).toBe(before.checkpoint);
    const again = await log.submit([first[5]!, enc('after restart')]);
    expect(again.receipts.map((r) => [r.index, r.duplicate])).toEqual([
      [5, true],
      [700, false],
    ]);
    const proof = await log.consistencyProof(700, 701);
    const after = openCheckpoint(again.checkpoint, testVerifier).checkpoint;
    expect(verifyConsistency(700, 701, before.rootHash, after.rootHash, proof)).toBe(true);
    await checkLog(log, testVerifier);
  } finally {
    await log.close();
  }
});

test('STH timestamps strictly increase even when the clock goes back', async () => {
  let now = 1_000_000;
  const log = await openLog({ clock: () => now });
  try {
    const t0 = log.latest().timestamp;
    now -= 500_000;
    await log.submit([enc('x')]);
    const t1 = log.latest().timestamp;
    expect(t1).toBeGreaterThan(t0);
    now += 10;
    await log.submit([enc('y')]);
    expect(log.latest().timestamp).toBeGreaterThan(t1);
  } finally {
    await log.close();
  }
});

test.each([
  [{ maxQueueEntries: 3 }, 'at most 3 entries may wait'],
  [{ maxQueueBytes: 3 }, 'at most 3 bytes of entries may wait'],
])('a full queue (%j) answers QUEUE_FULL with a retry hint, says which bound, and drains', async (bounds, which) => {
  const inner = await LevelStore.open(dir());
  let release: () => void = () => {};
  let gate: Promise<void> | undefined;
  const store = passThroughStore(inner, {
    writeRound: async (round: RoundWrite) => {
      if (gate !== undefined) await gate;
      return inner.writeRound(round);
    },
  });
  const log = await openLog(bounds, store);
  try {
    gate = new Promise((resolve) => (release = resolve));
    const inRound = log.submit([enc('0')]); // taken by a round that waits at the gate
    await new Promise((resolve) => setTimeout(resolve, 20));
    const queued = [log.submit([enc('1'), enc('2')]), log.submit([enc('3')])];
    expect(log.queueDepth).toBe(3);
    await expect(log.submit([enc('4')])).rejects.toMatchObject({
      code: 'QUEUE_FULL',
      retryAfter: 1,
      message: expect.stringContaining(which),
    });
    release();
    gate = undefined;
    await Promise.all([inRound, ...queued]);
    expect(log.queueDepth).toBe(0);
    expect((await log.submit([enc('4')])).receipts[0]!.index).toBe(4);
  } finally {
    release(); // a failed expectation above must not leave the round held, or close waits for it
    await log.close();
  }
});

test('a submission larger than the queue could ever hold is refused for good, not QUEUE_FULL', async () => {
  const log = await openLog({ maxQueueEntries: 3, maxQueueBytes: 10 });
  try {
    await expect(log.submit([enc('a'), enc('b'), enc('c'), enc('d')])).rejects.toMatchObject({
      code: 'TOO_MANY_ENTRIES',
      retryAfter: undefined,
      message: expect.stringContaining('at most 3 entries'),
    });
    await expect(log.submit([new Uint8Array(11).fill(1)])).rejects.toMatchObject({ code: 'BODY_TOO_LARGE', retryAfter: undefined });
    expect(log.queueDepth).toBe(0);
    // At the bounds exactly, it is taken.
    const taken = await log.submit([enc('a'), enc('b'), new Uint8Array(8).fill(2)]);
    expect(taken.receipts.map((r) => r.index)).toEqual([0, 1, 2]);
  } finally {
    await log.close();
  }
});

test('invalid entries are refused before they queue', async () => {
  const log = await openLog();
  try {
    await expect(log.submit([new Uint8Array(0)])).rejects.toMatchObject({ code: 'EMPTY_ENTRY' });
    await expect(log.submit([new Uint8Array(65536)])).rejects.toMatchObject({ code: 'ENTRY_TOO_LARGE' });
    await expect(log.submit([])).rejects.toBeInstanceOf(LogError);
    expect(log.latest().treeSize).toBe(0);
  } finally {
    await log.close();
  }
});

test('a failed write answers STORAGE_FAILED, signs nothing, and the next round succeeds', async () => {
  const inner = await LevelStore.open(dir());
  let fail = false;
  const store = passThroughStore(inner, {
    writeRound: (round: RoundWrite) => (fail ? Promise.reject(new Error('disk full')) : inner.writeRound(round)),
  });
  const log = await openLog({}, store);
  try {
    await log.submit([enc('kept')]);
    const before = log.latest();
    fail = true;
    await expect(log.submit([enc('lost')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    expect(log.latest()).toBe(before);
    fail = false;
    const ok = await log.submit([enc('lost'), enc('next')]);
    expect(ok.receipts.map((r) => r.index)).toEqual([1, 2]);
    await checkLog(log, testVerifier);
  } finally {
    await log.close();
  }
});

test('read API validates sizes and ranges', async () => {
  const log = await openLog();
  try {
    await log.submit(Array.from({ length: 10 }, (_, i) => enc(`e${i}`)));
    await expect(log.inclusionProof(0, 11)).rejects.toMatchObject({ code: 'TREE_SIZE_TOO_LARGE' });
    await expect(log.inclusionProof(5, 5)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(log.inclusionProof(0, 0)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(log.consistencyProof(0, 5)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(log.consistencyProof(6, 5)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(log.consistencyProof(5, 5)).resolves.toEqual([]);
    await expect(log.entries(10, 12)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    expect(await log.entries(8, 100)).toHaveLength(2);
    await expect(log.tile(0, 0, 11)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await log.tile(0, 0, 10)).length).toBe(320);
    await expect(log.bundle(1, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  } finally {
    await log.close();
  }
});

test('an idle log re-signs its STH with a later timestamp, same size and root', async () => {
  let now = 5_000_000;
  const log = await openLog({ clock: () => now, resignIntervalMs: 1000 });
  try {
    await log.submit([enc('idle')]);
    const before = log.latest();
    now += 5000; // the log has been idle for longer than its re-sign interval
    const deadline = Date.now() + 10_000;
    while (log.latest().timestamp === before.timestamp && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const after = log.latest();
    expect(after.timestamp).toBeGreaterThan(before.timestamp);
    expect(after.treeSize).toBe(before.treeSize);
    expect(Buffer.from(after.rootHash).equals(Buffer.from(before.rootHash))).toBe(true);
    expect(after.checkpoint).toBe(before.checkpoint);
    expect(after.sth.tree_head_signature).not.toBe(before.sth.tree_head_signature);
  } finally {
    await log.close();
  }
});
