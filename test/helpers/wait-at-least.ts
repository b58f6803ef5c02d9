// A wait that a signal's timing can rest on: one that lasts `ms` or more on
// the monotonic clock that the process signalled measures it on.
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Waits `ms` or more of performance.now() (CLOCK_MONOTONIC, the clock each
 * process's performance.now() counts: a child's stopSignalSorter measures
 * REPEAT_SIGNAL_MS on it). A timer alone may end up to 1 ms early: node
 * counts a timer's start and its expiry in whole ms of the event loop's
 * clock, so `await delay(1000)` can resolve 999.x ms after it was called,
 * and a signal sent then to a child that heard the first less than a
 * millisecond before the test went on is, to that child, a repeat.
 */
export async function waitAtLeast(ms: number): Promise<void> {
  const start = performance.now();
  for (let left = ms; left > 0; left = ms - (performance.now() - start)) await delay(Math.ceil(left));
}
