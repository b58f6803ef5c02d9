// Node drops connections past server.maxConnections without a word: the
// server logs them, the first at once, then at most one line per interval
// with the count, and what is pending when it stops.
import { DroppedConnectionLog, DROPPED_CONNECTIONS_MESSAGE } from '../../src/cli/dropped-connections.js';
import { capture, manualTime } from '../helpers/log-lines.js';

test('the first drop is logged at once, as a warning with the limit and the address, and the hint to raise the open-file limit', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const drops = new DroppedConnectionLog(logger, 512, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  drops.dropped('192.0.2.7');
  expect(lines).toEqual([{ level: 'warn', msg: DROPPED_CONNECTIONS_MESSAGE, fields: { dropped: 1, maxConnections: 512, remote: '192.0.2.7' } }]);
  expect(DROPPED_CONNECTIONS_MESSAGE).toMatch(/ulimit -n.*LimitNOFILE/);
  expect(time.pending()).toBe(0);
});

test('drops within the interval are counted into one line, logged when it has passed since the last', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const drops = new DroppedConnectionLog(logger, 3, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  drops.dropped('192.0.2.1');
  for (let i = 2; i <= 4; i++) {
    time.advance(1000);
    drops.dropped(`192.0.2.${i}`);
  }
  expect(lines).toHaveLength(1);
  expect(time.pending()).toBe(1);
  time.advance(6999);
  expect(lines).toHaveLength(1);
  time.advance(1);
  expect(lines.map((line) => line.fields)).toEqual([
    { dropped: 1, maxConnections: 3, remote: '192.0.2.1' },
    { dropped: 3, seconds: 10, maxConnections: 3, remote: '192.0.2.4' },
  ]);
  // Nothing more dropped: no line, no timer.
  time.advance(60_000);
  expect(lines).toHaveLength(2);
  expect(time.pending()).toBe(0);
  // A drop after a quiet interval is logged at once again.
  drops.dropped();
  expect(lines.at(-1)!.fields).toEqual({ dropped: 1, seconds: 60, maxConnections: 3 });
});

test('flush logs the pending drops at once (the server stops) and cancels the timer; with none pending it logs nothing', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const drops = new DroppedConnectionLog(logger, undefined, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  drops.flush();
  expect(lines).toEqual([]);
  drops.dropped();
  time.advance(2000);
  drops.dropped();
  drops.dropped();
  drops.flush();
  expect(lines.map((line) => line.fields)).toEqual([{ dropped: 1 }, { dropped: 2, seconds: 2 }]);
  expect(time.pending()).toBe(0);
  drops.flush();
  expect(lines).toHaveLength(2);
});

test('drops before the count is given (the metrics come once the log opens) are counted then, all at once, later ones as they come', () => {
  const { logger } = capture();
  const drops = new DroppedConnectionLog(logger, 1);
  drops.dropped();
  drops.dropped('192.0.2.9');
  const counted: [string, number][] = [];
  drops.countWith((kind, n) => counted.push([kind, n]));
  expect(counted).toEqual([['dropped', 2]]);
  drops.dropped();
  expect(counted).toEqual([
    ['dropped', 2],
    ['dropped', 1],
  ]);
  drops.flush();
});
