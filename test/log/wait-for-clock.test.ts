// The log's default wait for its clock: it must not resolve before the wall
// clock has moved on by what was asked (a round would then sign a timestamp
// ahead of the clock, or the same one twice), and it must serve I/O while it
// waits. Nothing here is timed from above: only "not too early".
import { jest } from '@jest/globals';
import { waitForClock } from '../../src/log/wait-for-clock.js';

test.each([0, 1, 2, 5])('after waitForClock(%i) the wall clock has moved on by at least that many ms', async (ms) => {
  for (let i = 0; i < 20; i++) {
    const before = Date.now();
    await waitForClock(ms);
    expect(Date.now() - before).toBeGreaterThanOrEqual(ms);
  }
});

test('waiting for the next millisecond lets other callbacks run meanwhile (the event loop is not blocked)', async () => {
  let ran = 0;
  const other = setInterval(() => ran++, 0);
  try {
    // Wait for several milliseconds in turns; the interval must get turns too.
    for (let i = 0; i < 10; i++) await waitForClock(1);
  } finally {
    clearInterval(other);
  }
  expect(ran).toBeGreaterThan(0);
});

test('a wall clock stepped back (or stopped) while it waits is not waited out: the wait ends on the monotonic clock', async () => {
  const stopped = Date.now() - 3_600_000;
  const spy = jest.spyOn(Date, 'now').mockImplementation(() => stopped);
  let guard: NodeJS.Timeout | undefined;
  try {
    const outcome = await Promise.race([
      waitForClock(1).then(() => 'resolved'),
      new Promise((resolve) => (guard = setTimeout(resolve, 5000, 'still waiting after 5 s'))),
    ]);
    expect(outcome).toBe('resolved');
  } finally {
    spy.mockRestore();
    // Not left running: jest would wait for it before it could exit.
    clearTimeout(guard);
  }
});
