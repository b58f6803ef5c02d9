// A clock stepped back while the server runs (or one that stands still)
// makes the log date its tree heads just after the latest one, ahead of real
// time, until the clock passes it: the server warns of it at once, then at
// most once per interval while it lasts, and says in one line when it ends.
import { jest } from '@jest/globals';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { CLOCK_BEHIND_MESSAGE, CLOCK_CAUGHT_UP_MESSAGE, CLOCK_WAS_BEHIND_MESSAGE, ClockBehindLog } from '../../src/log/clock-behind.js';
import { capture, manualTime } from '../helpers/log-lines.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-clock-behind-');
const HOUR = 3_600_000;

test('the first tree head signed past a clock behind is warned of at once, with how far, what it means and what to check', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const log = new ClockBehindLog(logger, { now: time.now, schedule: time.schedule });
  log.behind({ behindMs: HOUR + 500, timestamp: Date.UTC(2026, 10, 29, 13) });
  expect(lines).toEqual([
    { level: 'warn', msg: CLOCK_BEHIND_MESSAGE, fields: { behindSeconds: 3600, treeHead: '2026-11-29T13:00:00.000Z', signed: 1 } },
  ]);
  expect(CLOCK_BEHIND_MESSAGE).toMatch(/ahead of real time.*alarm `timestamp` on each tree head more than 10 minutes ahead.*NTP/);
});

test('while the clock stays behind, one warning per 10 minutes; once a head is dated by the clock again, one info line at once', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const log = new ClockBehindLog(logger, { now: time.now, schedule: time.schedule });
  const start = Date.UTC(2026, 10, 29, 13);
  for (let i = 0; i < 1000; i++) {
    log.behind({ behindMs: HOUR - i * 1000, timestamp: start + i });
    time.advance(1000);
  }
  // 1000 s, a head a second: the first at once, then at 600 s, with the heads signed since (599) and the latest lead.
  expect(lines.map((l) => [l.level, l.fields.behindSeconds, l.fields.signed, l.fields.seconds])).toEqual([
    ['warn', 3600, 1, undefined],
    ['warn', 3001, 599, 600],
  ]);
  log.caughtUp();
  expect(lines).toHaveLength(3);
  expect(lines[2]).toEqual({ level: 'info', msg: CLOCK_CAUGHT_UP_MESSAGE, fields: { seconds: 1000, signed: 1000 } });
  // The warning due at 1200 s finds the clock caught up: nothing more.
  time.advance(HOUR);
  log.caughtUp();
  expect(lines).toHaveLength(3);
});

test('a clock that falls behind and catches up by turns gives at most one warning per interval (and an info line after a warning), not one per turn', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const log = new ClockBehindLog(logger, { now: time.now, schedule: time.schedule });
  for (let i = 0; i < 100; i++) {
    log.behind({ behindMs: 2000, timestamp: 1_800_000_000_000 + i });
    time.advance(1000);
    log.caughtUp();
    time.advance(1000);
  }
  // 200 s: the first turn warned and ended; the rest are told once the interval has passed.
  expect(lines.map((l) => l.msg)).toEqual([CLOCK_BEHIND_MESSAGE, CLOCK_CAUGHT_UP_MESSAGE]);
  time.advance(400_000);
  expect(lines.map((l) => l.msg)).toEqual([CLOCK_BEHIND_MESSAGE, CLOCK_CAUGHT_UP_MESSAGE, CLOCK_WAS_BEHIND_MESSAGE]);
  expect(lines[2]!.fields).toEqual({ behindSeconds: 2, signed: 99, seconds: 600 });
});

test('at a stop (flush), what the pacing held back is written: a time the clock was behind that ended untold, or heads signed behind it since the last warning; nothing when all were told', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const log = new ClockBehindLog(logger, { now: time.now, schedule: time.schedule });
  log.behind({ behindMs: 2000, timestamp: 1_800_000_000_000 });
  log.flush();
  expect(lines.map((l) => l.msg)).toEqual([CLOCK_BEHIND_MESSAGE]);
  time.advance(1000);
  log.behind({ behindMs: 1500, timestamp: 1_800_000_000_001 });
  log.flush();
  expect(lines.map((l) => l.msg)).toEqual([CLOCK_BEHIND_MESSAGE, CLOCK_BEHIND_MESSAGE]);
  expect(lines[1]!.fields).toEqual({ behindSeconds: 1, treeHead: '2027-01-15T08:00:00.001Z', signed: 1, seconds: 1 });
  log.caughtUp();
  time.advance(1000);
  log.behind({ behindMs: 3000, timestamp: 1_800_000_000_002 });
  log.caughtUp();
  expect(lines.map((l) => l.msg)).toEqual([CLOCK_BEHIND_MESSAGE, CLOCK_BEHIND_MESSAGE, CLOCK_CAUGHT_UP_MESSAGE]);
  log.flush();
  expect(lines.map((l) => l.msg)).toEqual([CLOCK_BEHIND_MESSAGE, CLOCK_BEHIND_MESSAGE, CLOCK_CAUGHT_UP_MESSAGE, CLOCK_WAS_BEHIND_MESSAGE]);
  expect(lines[3]!.fields).toEqual({ behindSeconds: 3, signed: 1, seconds: 1 });
  log.flush();
  expect(lines).toHaveLength(4);
});

describe('a server whose clock steps while it runs', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    jest.restoreAllMocks();
  });

  /**
   * A server on a wall clock as libfaketime steps it (real time plus `clock.step`; the monotonic clock left
   * alone), its log lines other than requests', and a POST of one entry.
   */
  async function steppedServer() {
    const realNow = Date.now.bind(Date);
    const clock = { step: 0 };
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + clock.step);
    const { lines, logger } = capture();
    const running = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, logger });
    server = running;
    const post = async (body: string) => (await fetch(`${running.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body })).status;
    return { running, clock, told: () => lines.filter((l) => l.msg !== 'request'), post };
  }

  test('a step back of an hour is warned of once on the next tree head; a step forward past the latest head ends it in one line', async () => {
    const { running, clock, told, post } = await steppedServer();
    expect(await post('before')).toBe(201);
    expect(told().filter((l) => l.level !== 'info')).toEqual([]);
    clock.step = -HOUR;
    expect(await post('behind 1')).toBe(201);
    expect(await post('behind 2')).toBe(201);
    const warnings = told().filter((l) => l.level === 'warn');
    expect(warnings).toEqual([{ level: 'warn', msg: CLOCK_BEHIND_MESSAGE, fields: expect.objectContaining({ signed: 1 }) }]);
    expect(warnings[0]!.fields.behindSeconds).toBeGreaterThanOrEqual(3590);
    expect(warnings[0]!.fields.behindSeconds).toBeLessThanOrEqual(3600);
    // The log works: /healthz is 200 and ok, and says how far behind the clock is; so does /metrics.
    const health = await fetch(`${running.url}/healthz`);
    const body = (await health.json()) as { status: string; clock_behind?: { seconds: number } };
    expect([health.status, body.status, body.clock_behind?.seconds]).toEqual([200, 'ok', expect.any(Number)]);
    expect(body.clock_behind!.seconds).toBeGreaterThanOrEqual(3590);
    const gauge = /^cairn_clock_behind_seconds (\S+)$/m.exec(await (await fetch(`${running.url}/metrics`)).text());
    expect(Number(gauge?.[1])).toBeGreaterThanOrEqual(3590);
    clock.step = 0;
    expect(await post('by the clock again')).toBe(201);
    expect(told().filter((l) => l.msg === CLOCK_CAUGHT_UP_MESSAGE)).toEqual([{ level: 'info', msg: CLOCK_CAUGHT_UP_MESSAGE, fields: expect.objectContaining({ signed: 2 }) }]);
    expect(await (await fetch(`${running.url}/healthz`)).json()).not.toHaveProperty('clock_behind');
    expect(await (await fetch(`${running.url}/metrics`)).text()).toMatch(/^cairn_clock_behind_seconds 0$/m);
  });

  test('a time the clock was behind that ended before its paced warning is told when the server stops', async () => {
    const { running, clock, told: all, post } = await steppedServer();
    const told = () => all().filter((l) => l.level !== 'info').map((l) => l.msg);
    expect(await post('before')).toBe(201);
    // Behind, warned of at once; by the clock again; behind again, within 10 minutes of the warning: held back, and over before it is due.
    clock.step = -HOUR;
    expect(await post('behind')).toBe(201);
    clock.step = 0;
    expect(await post('by the clock')).toBe(201);
    clock.step = -HOUR;
    expect(await post('behind again')).toBe(201);
    clock.step = 0;
    expect(await post('by the clock again')).toBe(201);
    expect(told()).toEqual([CLOCK_BEHIND_MESSAGE]);
    await running.close();
    server = undefined;
    expect(told()).toEqual([CLOCK_BEHIND_MESSAGE, CLOCK_WAS_BEHIND_MESSAGE]);
    expect(all().find((l) => l.msg === CLOCK_WAS_BEHIND_MESSAGE)!.fields).toEqual(expect.objectContaining({ signed: 1 }));
  });
});
