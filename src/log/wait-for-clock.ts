/**
 * The log's default wait for its clock (log.ts: an STH is never signed with
 * a timestamp ahead of the clock, CONTRACT §2).
 *
 * Waits until the wall clock (Date.now) has moved on by `ms`: a timer for all
 * but the last millisecond, then turns of the event loop (setImmediate; I/O is
 * served in between), since a timer cannot wait less than a millisecond and
 * often waits two. A round that waits for the next millisecond so waits only
 * until it begins (half a millisecond on average), not one to two timer
 * periods: at one entry per round that is 1,000 rounds/s instead of ~650.
 */
export function waitForClock(ms: number): Promise<void> {
  const until = Date.now() + ms;
  // A wall clock stepped back (or stopped) meanwhile is not waited out: the
  // wait also ends once `ms` and a millisecond more have passed on the
  // monotonic clock, and the caller looks at the wall clock again.
  const deadline = performance.now() + ms + 1;
  return new Promise((resolve) => {
    const check = () => {
      const left = Math.min(until - Date.now(), deadline - performance.now());
      if (left <= 0) resolve();
      else if (left > 1) setTimeout(check, left - 1);
      else setImmediate(check);
    };
    check();
  });
}
