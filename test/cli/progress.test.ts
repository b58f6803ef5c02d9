// The progress bar of the client commands redraws at most every 100 ms by the
// monotonic clock: a step of the wall clock back (NTP, date -s) does not stop
// its redraws for as long. Both clocks are spied on; nothing waits.
import { spiedClocksEachTest } from '../helpers/spied-clocks.js';
import { Progress, PROGRESS_LINE_MS, type Output } from '../../src/cli/client-common.js';

const clocks = spiedClocksEachTest();

/** A terminal that keeps what is drawn on it. */
function terminal(): Output & { drawn: string[] } {
  const drawn: string[] = [];
  return { isTTY: true, columns: 80, drawn, write: (chunk) => drawn.push(String(chunk)) };
}

test('a step of the wall clock back does not stop the redraws: every 100 ms on the monotonic clock draws', () => {
  const out = terminal();
  const progress = new Progress(out, 100, 'entries');
  progress.update(0);
  clocks.wall -= 3_600_000; // the clock steps back an hour
  for (let done = 1; done <= 5; done++) {
    clocks.mono += 150;
    clocks.wall += 150;
    progress.update(done);
  }
  expect(out.drawn.map((line) => /\d+\/100/.exec(line)?.[0])).toEqual(['0/100', '1/100', '2/100', '3/100', '4/100', '5/100']);
});

test('redraws stay at most one per 100 ms on the monotonic clock, whatever the wall clock does', () => {
  const out = terminal();
  const progress = new Progress(out, 100, 'entries');
  progress.update(0);
  clocks.wall += 3_600_000; // a step forward draws nothing more often
  clocks.mono += 50;
  progress.update(1);
  clocks.mono += 50;
  progress.update(2);
  expect(out.drawn.map((line) => /\d+\/100/.exec(line)?.[0])).toEqual(['0/100', '2/100']);
  progress.finish(3);
  expect(out.drawn.slice(2)).toEqual([expect.stringContaining('3/100'), '\n']);
});

test('the first update draws, however early in the process (the monotonic clock starts near 0)', () => {
  clocks.mono = 5;
  const out = terminal();
  new Progress(out, 10, 'entries').update(1);
  expect(out.drawn).toEqual([expect.stringContaining('1/10 entries')]);
});

/** Standard error that is not a terminal (cron, a service manager), keeping what is written to it. */
function notTerminal(): Output & { drawn: string[] } {
  const drawn: string[] = [];
  return { isTTY: false, drawn, write: (chunk) => drawn.push(String(chunk)) };
}

test('not on a terminal: silent, unless it writes lines (audit): then a line of its own every minute, none at the start or the end', () => {
  const silent = notTerminal();
  const quietly = new Progress(silent, 100, 'entries');
  const out = notTerminal();
  const progress = new Progress(out, 10_000, 'entries audited', true, 'cairn audit');
  for (const p of [quietly, progress]) p.update(0);
  clocks.mono += PROGRESS_LINE_MS - 1;
  for (const p of [quietly, progress]) p.update(100);
  expect(out.drawn).toEqual([]);
  clocks.mono += 1;
  for (const p of [quietly, progress]) p.update(2_345);
  clocks.mono += PROGRESS_LINE_MS / 2;
  progress.update(3_000);
  clocks.mono += PROGRESS_LINE_MS / 2;
  progress.update(4_000);
  progress.finish(10_000);
  expect(out.drawn).toEqual(['cairn audit: 2345/10000 entries audited (23%)\n', 'cairn audit: 4000/10000 entries audited (40%)\n']);
  expect(silent.drawn).toEqual([]);
  // Turned off (--quiet, --json): no lines either.
  const off = notTerminal();
  const none = new Progress(off, 10, 'entries audited', false, 'cairn audit');
  none.update(1);
  clocks.mono += 2 * PROGRESS_LINE_MS;
  none.update(5);
  expect(off.drawn).toEqual([]);
});
