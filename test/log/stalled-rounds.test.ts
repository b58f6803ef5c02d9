// A round the store holds up (a stalled disk: a hung fsync, a frozen file
// system) is warned of once it has been under way for the threshold, then
// once per interval while it stays, and its end is told in one info line with
// how long it took; rounds that come and go say nothing. Driven by a clock and
// timers moved by hand, over a round source the test sets.
import type { RoundProgress } from '../../src/log/log.js';
import {
  STALLED_ROUND_MESSAGE,
  STALLED_ROUND_OVER_MESSAGE,
  STALLED_STOP_MESSAGE,
  StalledRoundLog,
} from '../../src/log/stalled-rounds.js';
import { capture, manualTime } from '../helpers/log-lines.js';

/** A round as the log keeps one, which the test ends. */
function round(since: number, entries = 10): { progress: RoundProgress; end: (at: number, outcome: 'committed' | 'failed' | 'retried') => void } {
  const progress: { since: number; stage: 'reading' | 'writing'; entries: number; ended: RoundProgress['ended'] } = { since, stage: 'writing', entries, ended: undefined };
  return { progress, end: (at, outcome) => void (progress.ended = { at, outcome }) };
}

function watcher(options: { thresholdMs?: number } = {}) {
  const { lines, logger } = capture();
  const time = manualTime();
  let current: RoundProgress | undefined;
  let queued = 0;
  const stalls = new StalledRoundLog(logger, () => current, () => queued, { now: time.now, schedule: time.schedule, intervalMs: 30_000, checkMs: 1000, thresholdMs: 10_000, ...options });
  return {
    lines,
    time,
    stalls,
    set: (r: RoundProgress | undefined, q = 0) => {
      current = r;
      queued = q;
    },
    /** Moves the clock a second at a time, as the checks come. */
    seconds(n: number) {
      for (let i = 0; i < n; i++) time.advance(1000);
    },
  };
}

test('a round under way for the threshold is warned of, then once per interval while it stays, and its end is told once with how long it took', () => {
  const w = watcher();
  const r = round(w.time.now());
  w.set(r.progress, 70);
  w.seconds(9);
  expect(w.lines).toEqual([]);
  w.seconds(1);
  expect(w.lines).toEqual([{ level: 'warn', msg: STALLED_ROUND_MESSAGE, fields: { seconds: 10, stage: 'writing', entries: 10, queued: 70 } }]);
  // Checked every second, warned of every 30 s.
  w.seconds(29);
  expect(w.lines).toHaveLength(1);
  w.seconds(1);
  expect(w.lines).toHaveLength(2);
  expect(w.lines[1]).toEqual({ level: 'warn', msg: STALLED_ROUND_MESSAGE, fields: { seconds: 40, stage: 'writing', entries: 10, queued: 70 } });
  // The disk is thawed 40.5 s after the round began: one info line at the next check.
  w.time.advance(500);
  r.end(w.time.now(), 'committed');
  w.set(undefined);
  w.time.advance(500);
  expect(w.lines).toHaveLength(3);
  expect(w.lines[2]).toEqual({ level: 'info', msg: STALLED_ROUND_OVER_MESSAGE, fields: { seconds: 40.5, outcome: 'committed', stage: 'writing' } });
  // Nothing more: its warning due at 70 s was cancelled, and no round is under way.
  w.seconds(60);
  expect(w.lines).toHaveLength(3);
});

test('rounds that come and go, however many, say nothing; one that fails after a stall says so', () => {
  const w = watcher();
  for (let i = 0; i < 100; i++) {
    const r = round(w.time.now());
    w.set(r.progress);
    w.time.advance(900);
    r.end(w.time.now(), 'committed');
    w.set(undefined);
  }
  expect(w.lines).toEqual([]);
  const slow = round(w.time.now());
  w.set(slow.progress);
  w.seconds(12);
  slow.end(w.time.now(), 'failed');
  w.set(undefined);
  w.seconds(1);
  expect(w.lines.map((l) => [l.level, l.msg, l.fields.outcome])).toEqual([
    ['warn', STALLED_ROUND_MESSAGE, undefined],
    ['info', STALLED_ROUND_OVER_MESSAGE, 'failed'],
  ]);
});

test('a round stalled right after another is warned of at once, not held back by the first one\'s interval', () => {
  const w = watcher();
  const first = round(w.time.now());
  w.set(first.progress);
  w.seconds(12);
  first.end(w.time.now(), 'committed');
  // The round that waited behind it is timed from the first one's end.
  const second = round(w.time.now());
  w.set(second.progress);
  w.seconds(10);
  expect(w.lines.map((l) => [l.msg, l.fields.seconds])).toEqual([
    [STALLED_ROUND_MESSAGE, 10],
    [STALLED_ROUND_OVER_MESSAGE, 12],
    [STALLED_ROUND_MESSAGE, 10],
  ]);
});

test('once the server is stopping, a stalled round it waits for is warned of at once, in words that say so; stop tells its end and checks no more', () => {
  const w = watcher();
  const r = round(w.time.now());
  w.set(r.progress, 5);
  w.seconds(15);
  expect(w.lines).toHaveLength(1);
  w.stalls.stopping();
  expect(w.lines).toHaveLength(2);
  expect(w.lines[1]).toEqual({ level: 'warn', msg: STALLED_STOP_MESSAGE, fields: { seconds: 15, stage: 'writing', entries: 10, queued: 5 } });
  w.seconds(30);
  expect(w.lines.map((l) => l.msg)).toEqual([STALLED_ROUND_MESSAGE, STALLED_STOP_MESSAGE, STALLED_STOP_MESSAGE]);
  r.end(w.time.now(), 'committed');
  w.set(undefined);
  w.stalls.stop();
  expect(w.lines.at(-1)).toEqual({ level: 'info', msg: STALLED_ROUND_OVER_MESSAGE, fields: { seconds: 45, outcome: 'committed', stage: 'writing' } });
  expect(w.time.pending()).toBe(0);
});

test('a stop that comes before any check saw the round stalled warns of it once, in the stop\'s words', () => {
  const w = watcher();
  // Under way for 15 s already, not yet looked at since.
  w.set(round(w.time.now() - 15_000).progress, 3);
  w.stalls.stopping();
  expect(w.lines).toEqual([{ level: 'warn', msg: STALLED_STOP_MESSAGE, fields: { seconds: 15, stage: 'writing', entries: 10, queued: 3 } }]);
});

test('a stop with no stalled round says nothing', () => {
  const w = watcher();
  const r = round(w.time.now());
  w.set(r.progress);
  w.seconds(3);
  w.stalls.stopping();
  r.end(w.time.now(), 'committed');
  w.set(undefined);
  w.stalls.stop();
  expect(w.lines).toEqual([]);
  expect(w.time.pending()).toBe(0);
});
