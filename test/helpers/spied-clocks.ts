// The process's two clocks under a test's control, to show what a step of
// the system clock does: Date.now (the wall clock, which an operator or NTP
// can step either way) and performance.now (the monotonic one, which only
// moves forward). Nothing waits: a test moves them by assigning the fields.
import { afterEach, beforeEach, jest } from '@jest/globals';

export interface SpiedClocks {
  /** What Date.now returns (ms since the epoch). */
  wall: number;
  /** What performance.now returns (ms). */
  mono: number;
}

/**
 * Spies on Date.now and performance.now so that they return `clocks.wall`
 * and `clocks.mono` as they are when called; jest.restoreAllMocks() undoes it.
 */
export function spyOnClocks(clocks: SpiedClocks): SpiedClocks {
  jest.spyOn(Date, 'now').mockImplementation(() => clocks.wall);
  jest.spyOn(performance, 'now').mockImplementation(() => clocks.mono);
  return clocks;
}

/**
 * Spied clocks for each test of the file (or describe block) it is called
 * in, starting at a wall time in 2027 and 50 s of monotonic time, and
 * restored after each test.
 */
export function spiedClocksEachTest(): SpiedClocks {
  const clocks: SpiedClocks = { wall: 0, mono: 0 };
  beforeEach(() => {
    clocks.wall = 1_800_000_000_000;
    clocks.mono = 50_000;
    spyOnClocks(clocks);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });
  return clocks;
}
