// STH timestamps against the log's clock (CONTRACT §2: they strictly
// increase; an idle log re-signs at least every 10 minutes): rounds faster
// than one per ms wait for the clock instead of signing ahead of it, a step
// of the clock back is not waited out, and the re-sign interval is measured
// on a monotonic clock; a write that landed but reported an error leaves the
// log at the stored timestamp, so the next round signs past it. Every clock
// here is injected; no assertion is timed.
import { Log, type LogOptions } from '../../src/log/log.js';
import { FaultStore } from '../../src/storage/fault-store.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { testSigner, testVerifier } from '../helpers/keys.js';
import { useTempDir } from '../helpers/temp-dir.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dir = useTempDir('cairn-log-clock-');

async function openLog(extra: Partial<LogOptions>): Promise<Log> {
  return Log.open({ store: await LevelStore.open(dir()), signer: testSigner, verifier: testVerifier, ...extra });
}

/** A wall clock that only moves when told to, and a sleep that moves it by what it sleeps. */
function fakeTime(start: number, sleepMoves = true) {
  const t = { now: start, sleeps: [] as number[] };
  const options: Partial<LogOptions> = {
    clock: () => t.now,
    sleep: async (ms) => {
      t.sleeps.push(ms);
      if (sleepMoves) t.now += ms;
    },
  };
  return { t, options };
}

test('one round after another with a clock that does not move between them: each waits for the clock, none signs ahead of it', async () => {
  const { t, options } = fakeTime(7_000_000);
  const log = await openLog(options);
  try {
    expect(log.latest().timestamp).toBe(7_000_000);
    let last = log.latest().timestamp;
    for (let i = 0; i < 50; i++) {
      await log.submit([enc(`quick ${i}`)]);
      const signed = log.latest().timestamp;
      expect(signed).toBeGreaterThan(last);
      expect(signed).toBeLessThanOrEqual(t.now);
      last = signed;
    }
    // Each round found the clock at the last timestamp and slept 1 ms (the fake sleep moved the clock).
    expect(t.sleeps).toEqual(Array(50).fill(1));
    expect(last).toBe(7_000_050);
    expect(t.now).toBe(7_000_050);
  } finally {
    await log.close();
  }
});

test('rounds that overlap (the next prepared while one is written) never sign ahead of the clock either', async () => {
  const { t, options } = fakeTime(8_000_000);
  const seen: { timestamp: number; now: number }[] = [];
  let log: Log | undefined;
  log = await openLog({ ...options, observer: { roundCommitted: () => seen.push({ timestamp: log!.latest().timestamp, now: t.now }) } });
  try {
    await Promise.all(Array.from({ length: 200 }, (_, i) => log!.submit([enc(`together ${i}`)])));
    expect(seen.length).toBeGreaterThan(1);
    for (let i = 0; i < seen.length; i++) {
      expect(seen[i]!.timestamp).toBeLessThanOrEqual(seen[i]!.now);
      if (i > 0) expect(seen[i]!.timestamp).toBeGreaterThan(seen[i - 1]!.timestamp);
    }
  } finally {
    await log.close();
  }
});

test('a clock stepped far back is not waited out: the next STH gets the last timestamp + 1 at once', async () => {
  const { t, options } = fakeTime(9_000_000);
  const log = await openLog(options);
  try {
    const before = log.latest().timestamp;
    t.now -= 3_600_000;
    await log.submit([enc('after the step back')]);
    expect(log.latest().timestamp).toBe(before + 1);
    expect(t.sleeps).toEqual([]);
    await log.submit([enc('still behind')]);
    expect(log.latest().timestamp).toBe(before + 2);
    expect(t.sleeps).toEqual([]);
  } finally {
    await log.close();
  }
});

test('a last timestamp less than a second ahead of the clock is waited out, and the STH then carries the clock', async () => {
  const { t, options } = fakeTime(10_000_000);
  const log = await openLog(options);
  try {
    const before = log.latest().timestamp;
    t.now -= 300;
    await log.submit([enc('a small step back')]);
    expect(t.sleeps).toEqual([301]);
    expect(log.latest().timestamp).toBe(before + 1);
    expect(log.latest().timestamp).toBe(t.now);
  } finally {
    await log.close();
  }
});

test('a clock that stands still does not stall the log: after a few waits it signs the last timestamp + 1', async () => {
  const { t, options } = fakeTime(11_000_000, false);
  const log = await openLog(options);
  try {
    const before = log.latest().timestamp;
    await log.submit([enc('the clock stands still')]);
    expect(log.latest().timestamp).toBe(before + 1);
    expect(t.sleeps.length).toBeGreaterThan(0);
    expect(t.sleeps.length).toBeLessThanOrEqual(5);
  } finally {
    await log.close();
  }
});

test('a clock that stands still for many rounds: after one wait that ends with it unchanged, no round waits until it moves, and timestamps still increase', async () => {
  const t = { now: 11_500_000, moves: false, sleeps: [] as number[] };
  const log = await openLog({
    clock: () => t.now,
    sleep: async (ms) => {
      t.sleeps.push(ms);
      if (t.moves) t.now += ms;
    },
  });
  try {
    const before = log.latest().timestamp;
    for (let i = 1; i <= 50; i++) {
      await log.submit([enc(`still ${i}`)]);
      expect(log.latest().timestamp).toBe(before + i);
    }
    // One wait of 1 ms found the clock unchanged; round 50 did not wait 3 × 50 ms.
    expect(t.sleeps).toEqual([1]);
    // The clock moves again, a little behind the last timestamp (by 40 ms): that lead is waited out, as for any small step back.
    t.now += 10;
    t.moves = true;
    await log.submit([enc('moving again')]);
    expect(t.sleeps).toEqual([1, 41]);
    expect(log.latest().timestamp).toBe(t.now);
    expect(log.latest().timestamp).toBe(before + 51);
  } finally {
    await log.close();
  }
});

test('the observer is told of each STH signed past a clock behind by a second or more, and once of the first dated by the clock again', async () => {
  const { t, options } = fakeTime(11_800_000);
  const seen: string[] = [];
  const log = await openLog({
    ...options,
    observer: {
      clockBehind: ({ behindMs, timestamp }) => seen.push(`behind ${behindMs} ${timestamp}`),
      clockCaughtUp: ({ timestamp }) => seen.push(`caught up ${timestamp}`),
    },
  });
  try {
    const before = log.latest().timestamp;
    t.now -= 300; // a small step back: waited out, not told
    await log.submit([enc('a small step back')]);
    expect(seen).toEqual([]);
    t.now -= 5000;
    await log.submit([enc('behind 1')]);
    await log.submit([enc('behind 2')]);
    expect(seen).toEqual([`behind 5000 ${before + 2}`, `behind 5001 ${before + 3}`]);
    t.now += 6000;
    await log.submit([enc('caught up')]);
    await log.submit([enc('and on')]);
    expect(seen.slice(2)).toEqual([`caught up ${t.now - 1}`]);
  } finally {
    await log.close();
  }
});

test('an idle log whose clock stepped far back still re-signs once its interval has passed on the monotonic clock', async () => {
  const { t, options } = fakeTime(12_000_000);
  let mono = 0;
  const log = await openLog({ ...options, monotonic: () => mono, resignIntervalMs: 1000 });
  try {
    await log.submit([enc('idle')]);
    const before = log.latest();
    t.now -= 3_600_000; // the clock steps back an hour
    mono += 5000; // while the log is idle for longer than its interval
    // The re-sign check runs on a real timer (every second at this interval).
    const deadline = Date.now() + 10_000;
    while (log.latest().timestamp === before.timestamp && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const after = log.latest();
    expect(after.timestamp).toBe(before.timestamp + 1);
    expect(after.treeSize).toBe(before.treeSize);
    expect(after.checkpoint).toBe(before.checkpoint);
    expect(after.sth.tree_head_signature).not.toBe(before.sth.tree_head_signature);
  } finally {
    await log.close();
  }
});

test('a duplicate-only round whose write landed but reported an error, with the clock behind: the log adopts the stored timestamp and the next round succeeds', async () => {
  const { t, options } = fakeTime(13_000_000);
  const store = new FaultStore(await LevelStore.open(dir()));
  const log = await Log.open({ store, signer: testSigner, verifier: testVerifier, ...options });
  try {
    await log.submit([enc('logged')]);
    const before = log.latest();
    t.now -= 3_600_000; // the clock steps back an hour: rounds sign the last timestamp + 1
    store.failNextWrites(1, 'after');
    await expect(log.submit([enc('logged')])).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    // The round is on the disk: the same tree, signed at the last timestamp + 1.
    const stored = (await store.readState())!;
    expect(stored.treeSize).toBe(before.treeSize);
    expect(stored.timestamp).toBe(before.timestamp + 1);
    // The next round signs past the stored timestamp, which the store takes.
    const next = await log.submit([enc('next')]);
    expect(next.treeSize).toBe(before.treeSize + 1);
    expect(log.latest().timestamp).toBe(before.timestamp + 2);
    expect((await store.readState())!.timestamp).toBe(before.timestamp + 2);
  } finally {
    await log.close();
  }
});

test('an idle re-sign whose write landed but reported an error, with the clock behind: the next round still succeeds', async () => {
  const { t, options } = fakeTime(14_000_000);
  const store = new FaultStore(await LevelStore.open(dir()));
  let mono = 0;
  let failed = 0;
  const log = await Log.open({
    store,
    signer: testSigner,
    verifier: testVerifier,
    ...options,
    monotonic: () => mono,
    resignIntervalMs: 1000,
    observer: { roundFailed: () => failed++ },
  });
  try {
    await log.submit([enc('idle')]);
    const before = log.latest();
    t.now -= 3_600_000;
    store.failNextWrites(1, 'after');
    mono += 5000; // the re-sign is due
    // The re-sign check runs on a real timer (every second at this interval).
    const deadline = Date.now() + 10_000;
    while (failed === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(failed).toBe(1);
    const stored = (await store.readState())!;
    expect(stored.treeSize).toBe(before.treeSize);
    expect(stored.timestamp).toBe(before.timestamp + 1);
    const next = await log.submit([enc('after the re-sign')]);
    expect(next.treeSize).toBe(before.treeSize + 1);
    expect(log.latest().timestamp).toBeGreaterThan(stored.timestamp);
  } finally {
    await log.close();
  }
});
