// cairn monitor's timing options and how it stops. --interval and --max-age
// take seconds in canonical decimal within a range, so that no value polls
// the log in a tight loop; a long wait never overflows setTimeout. SIGINT or
// SIGTERM stops it at once under --once as without (the requests in flight
// end; monitor-rounds.test.ts stops rounds in their walk): signals come from
// an injected EventEmitter here, never sent to the test process.
import { EventEmitter } from 'node:events';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { MAX_TIMER_MS, parseSeconds, sleep } from '../../src/cli/client-common.js';
import { UsageError } from '../../src/cli/args.js';
import { REPEAT_SIGNAL_MS } from '../../src/cli/stop-signals.js';
import { monitorCommand } from '../../src/cli/monitor.js';
import { CairnClient } from '../../src/client/client.js';
import type { FetchLike } from '../../src/client/http.js';
import { useCliServer } from '../helpers/cli-server.js';
import { captureIo } from './client-io.js';

const enc = (s: string) => new TextEncoder().encode(s);
const t = useCliServer('cairn-monitor-stop-', { origin: 'stop.test/log' });

beforeAll(async () => {
  // 600 entries: three entry bundles, so a walk of 256 per round takes three rounds.
  await new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey }).addBatch(Array.from({ length: 600 }, (_, i) => enc(`entry ${i}`)));
});

describe('parseSeconds', () => {
  test('takes canonical decimal seconds with at most 3 decimals, as milliseconds', () => {
    expect(parseSeconds('1', '--interval', 1, 86_400)).toBe(1000);
    expect(parseSeconds('1.5', '--interval', 1, 86_400)).toBe(1500);
    expect(parseSeconds('0.25', '--x', 0.001, 10)).toBe(250);
    expect(parseSeconds('86400', '--interval', 1, 86_400)).toBe(86_400_000);
  });

  test('refuses what the integer options refuse: leading zeros, signs, exponents, empty parts', () => {
    for (const text of ['010', '00.5', '+1', '-1', '1e3', '.5', '1.', '1.0001', ' 1', '0x10', 'Infinity', 'NaN', '']) {
      expect(() => parseSeconds(text, '--interval', 0.001, 86_400)).toThrow(new UsageError(`--interval must be a number of seconds from 0.001 to 86400 (at most 3 decimals), got ${JSON.stringify(text)}`));
    }
  });

  test('refuses a value out of range, naming the option and the range', () => {
    expect(() => parseSeconds('0.0001', '--interval', 1, 86_400)).toThrow(new UsageError('--interval must be a number of seconds from 1 to 86400 (at most 3 decimals), got "0.0001"'));
    expect(() => parseSeconds('0', '--interval', 1, 86_400)).toThrow(UsageError);
    expect(() => parseSeconds('3000000', '--interval', 1, 86_400)).toThrow(/from 1 to 86400/);
  });
});

test('monitor refuses an --interval or --max-age that would poll in a tight loop or overflow a timer (exit 2), before asking the log', async () => {
  for (const [option, value, range] of [
    ['--interval', '0.0001', '1 to 86400'],
    ['--interval', '0', '1 to 86400'],
    ['--interval', '3000000', '1 to 86400'],
    ['--interval', '010', '1 to 86400'],
    ['--max-age', '0.0001', '1 to 2592000'],
    ['--max-age', '1e9', '1 to 2592000'],
  ] as const) {
    let asked = 0;
    const io = captureIo({ fetch: (url, init) => (asked++, fetch(url, init)) });
    expect([option, value, await monitorCommand([...t.common, '--state', join(t.dir, 'never.json'), option, value], io)]).toEqual([option, value, 2]);
    expect(io.err()).toContain(`${option} must be a number of seconds from ${range} (at most 3 decimals), got "${value}"`);
    expect(asked).toBe(0);
  }
});

test('sleep waits past the longest setTimeout delay in steps, instead of ending after 1 ms', async () => {
  jest.useFakeTimers();
  try {
    let done = false;
    const waiting = sleep(2 * MAX_TIMER_MS + 5).then(() => void (done = true));
    await jest.advanceTimersByTimeAsync(10);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(2 * MAX_TIMER_MS - 10);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(5);
    expect(done).toBe(true);
    await waiting;
    // An abort still ends it at once.
    const controller = new AbortController();
    let aborted = false;
    const cut = sleep(3 * MAX_TIMER_MS, controller.signal).then(() => void (aborted = true));
    controller.abort();
    await cut;
    expect(aborted).toBe(true);
    expect(jest.getTimerCount()).toBe(0);
  } finally {
    jest.useRealTimers();
  }
});

/** A fetch that emits `signal` on `signals` when the `nth` request whose URL ends with `suffix` is made. */
function signalling(signals: EventEmitter, signal: 'SIGINT' | 'SIGTERM', suffix: string, nth: number): FetchLike {
  let seen = 0;
  return (url, init) => {
    if (url.endsWith(suffix) && ++seen === nth) signals.emit(signal);
    return fetch(url, init);
  };
}

test('--once stops at SIGINT (from the process) while it asks for the checkpoint: the request ends at once, nothing unverified is saved, exit 2; its listeners are removed', async () => {
  const statePath = join(t.dir, 'once.json');
  const signals = new EventEmitter();
  const io = captureIo({ signals, fetch: signalling(signals, 'SIGINT', '/checkpoint', 1) });
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], io)).toBe(2);
  expect(io.err()).toMatch(/^\S+ stopped before the newest checkpoint and signed tree head were verified; the state stays at tree size 0\n$/);
  expect(io.out()).toBe('');
  await expect(access(statePath)).rejects.toThrow(/ENOENT/);
  expect([signals.listenerCount('SIGINT'), signals.listenerCount('SIGTERM')]).toEqual([0, 0]);
});

test('--once walking over several rounds stops at SIGTERM in the second: the first round\'s progress is kept, exit 2', async () => {
  const statePath = join(t.dir, 'rounds.json');
  const signals = new EventEmitter();
  const io = captureIo({ signals, fetch: signalling(signals, 'SIGTERM', '/checkpoint', 2) });
  expect(await monitorCommand([...t.common, '--once', '--json', '--max-round-entries', '256', '--state', statePath], io)).toBe(2);
  const events = io.out().trim().split('\n').map((l) => JSON.parse(l) as { event: string; message?: string });
  expect(events.map((e) => e.event)).toEqual(['progress', 'stopped']);
  expect(events[1]).toMatchObject({ message: 'stopped before the newest checkpoint and signed tree head were verified', verified_tree_size: 0, tree_size: 600, checked_to: 256, saved: false });
  expect(JSON.parse(await readFile(statePath, 'utf8'))).toMatchObject({ checkpoint: null, tree_size: 0, partial: { tree_size: 600, checked_to: 256 } });
  expect([signals.listenerCount('SIGINT'), signals.listenerCount('SIGTERM')]).toEqual([0, 0]);
});

/** An io whose first write to stdout (a round's progress, saved just before) comes with SIGINT from `signals`. */
function interruptedOnOutput(signals: EventEmitter): ReturnType<typeof captureIo> {
  const io = captureIo({ signals });
  const write = io.stdout.write.bind(io.stdout);
  io.stdout.write = (chunk, callback) => {
    signals.emit('SIGINT');
    return write(chunk, callback);
  };
  return io;
}

test('--once stopped between two rounds of a walk: the stop is told, the first round\'s progress kept, exit 2', async () => {
  const statePath = join(t.dir, 'between.json');
  const signals = new EventEmitter();
  const io = interruptedOnOutput(signals);
  expect(await monitorCommand([...t.common, '--once', '--max-round-entries', '256', '--state', statePath], io)).toBe(2);
  expect(io.out()).toMatch(/^\S+ checking stop\.test\/log at tree size 600, .*entries 0 to 255 checked/);
  expect(io.err()).toMatch(/^\S+ stopped between rounds, before the walk reached the checkpoint it set out for; the state stays at tree size 0, with the entries up to 256 checked against the tree of size 600\n$/);
  expect(JSON.parse(await readFile(statePath, 'utf8'))).toMatchObject({ checkpoint: null, partial: { checked_to: 256 } });
});

test('without --once, SIGINT from the process stops it while it waits for the next round: exit 0 (no alarm)', async () => {
  const statePath = join(t.dir, 'loop.json');
  const signals = new EventEmitter();
  const io = captureIo({ signals, onSleep: () => signals.emit('SIGINT') });
  expect(await monitorCommand([...t.common, '--interval', '30', '--state', statePath], io)).toBe(0);
  expect(io.sleeps).toEqual([30_000]);
  expect(io.out()).toMatch(/verified stop\.test\/log at tree size 600/);
  expect(io.err()).toMatch(/^\S+ stopped while waiting for the next round; the state stays at tree size 600\n$/);
  expect([signals.listenerCount('SIGINT'), signals.listenerCount('SIGTERM')]).toEqual([0, 0]);
});

test('without --once, a stop between the rounds of an unfinished walk is told as such, with --json as a "stopped" event', async () => {
  const statePath = join(t.dir, 'loop-walk.json');
  const signals = new EventEmitter();
  const io = interruptedOnOutput(signals);
  expect(await monitorCommand([...t.common, '--json', '--max-round-entries', '256', '--interval', '30', '--state', statePath], io)).toBe(0);
  const events = io.out().trim().split('\n').map((l) => JSON.parse(l) as { event: string; message?: string });
  expect(events.map((e) => e.event)).toEqual(['progress', 'stopped']);
  expect(events[1]!.message).toBe('stopped between rounds, before the walk reached the newest checkpoint');
  expect(io.sleeps).toEqual([]);
});

/**
 * Signals for a monitor from an emitter whose clock moves only by `later()`
 * (past the window in which a signal is the first one repeated), and whose
 * process ending by a signal (SignalSource.kill) is only recorded, with the
 * listeners the monitor had left for SIGINT and SIGTERM then.
 */
function recordedSignals() {
  let clock = 0;
  const kills: { signal: string; listeners: number[] }[] = [];
  const signals = Object.assign(new EventEmitter(), {
    now: () => clock,
    kill: (signal: string) => void kills.push({ signal, listeners: [signals.listenerCount('SIGINT'), signals.listenerCount('SIGTERM')] }),
  });
  return { signals, kills, later: () => void (clock += REPEAT_SIGNAL_MS) };
}

/** An io whose first fetch of /checkpoint calls `atFirstCheckpoint` (which sends the signals) first. */
function signalledAtFirstCheckpoint(signals: ReturnType<typeof recordedSignals>['signals'], atFirstCheckpoint: () => void) {
  let seen = 0;
  return captureIo({
    signals,
    fetch: (url, init) => {
      if (url.endsWith('/checkpoint') && ++seen === 1) atFirstCheckpoint();
      return fetch(url, init);
    },
  });
}

test('a signal of either kind repeated less than REPEAT_SIGNAL_MS after the first (npm run passes Ctrl-C on as well) is the same stop: the monitor stops cleanly (exit 2 with --once)', async () => {
  for (const [first, repeat] of [['SIGINT', 'SIGINT'], ['SIGTERM', 'SIGINT'], ['SIGINT', 'SIGTERM']] as const) {
    const { signals, kills } = recordedSignals();
    const left: number[][] = [];
    const io = signalledAtFirstCheckpoint(signals, () => {
      signals.emit(first);
      signals.emit(repeat);
      // Still heard, so that a repeat after this one is ignored too rather than ending the process.
      left.push([signals.listenerCount('SIGINT'), signals.listenerCount('SIGTERM')]);
    });
    expect(await monitorCommand([...t.common, '--once', '--state', join(t.dir, `repeat-${first}-${repeat}.json`)], io)).toBe(2);
    expect([first, repeat, left, kills]).toEqual([first, repeat, [[1, 1]], []]);
    expect(io.err()).toMatch(/ stopped before the newest checkpoint and signed tree head were verified;/);
    expect([signals.listenerCount('SIGINT'), signals.listenerCount('SIGTERM')]).toEqual([0, 0]);
  }
});

test('a second signal of either kind, REPEAT_SIGNAL_MS or more after the first, removes the listeners for both and ends the process by that signal', async () => {
  for (const [first, second] of [['SIGTERM', 'SIGINT'], ['SIGINT', 'SIGTERM']] as const) {
    const { signals, kills, later } = recordedSignals();
    const io = signalledAtFirstCheckpoint(signals, () => {
      signals.emit(first);
      later();
      signals.emit(second);
    });
    expect(await monitorCommand([...t.common, '--once', '--state', join(t.dir, `second-${first}.json`)], io)).toBe(2);
    expect([first, kills]).toEqual([first, [{ signal: second, listeners: [0, 0] }]]);
    expect(io.err()).toMatch(/ stopped before the newest checkpoint and signed tree head were verified;/);
  }
});

test('without --once, a stop during a walk after a stale alarm is told once, by the walk (exit 1 for the alarm)', async () => {
  const signals = new EventEmitter();
  // An hour ahead of the log's clock: its signed tree head is stale at --max-age 60.
  const io = captureIo({ signals, now: () => Date.now() + 3_600_000 });
  const write = io.stderr.write.bind(io.stderr);
  io.stderr.write = (chunk, callback) => {
    if (String(chunk).includes('ALARM')) signals.emit('SIGINT');
    return write(chunk, callback);
  };
  expect(await monitorCommand([...t.common, '--max-age', '60', '--interval', '30', '--state', join(t.dir, 'stale-stop.json')], io)).toBe(1);
  const lines = io.err().trimEnd().split('\n');
  expect(lines.filter((l) => l.includes(' stopped '))).toHaveLength(1);
  expect(lines.at(-1)).toMatch(/ stopped after 0 of \d+ tiles and bundles .*; the state stays at tree size 0$/);
});
