// A measured load run, checked: every answer right, and at least one.
import type { LoadResult } from './load.js';

/** Fails the run unless every answer was right and every sampled one verified. */
export function checked(result: LoadResult, what: string): LoadResult {
  if (result.errors > 0 || result.verifyFailures > 0) {
    throw new Error(`${what}: ${result.errors} errors, ${result.verifyFailures} failed verifications (statuses ${JSON.stringify(result.statuses)})`);
  }
  if (result.requests === 0) throw new Error(`${what}: no answers at all`);
  return result;
}

/**
 * One measured run, `checked`. A quick run's window is short (0.3 s), and on a
 * loaded machine (the test suite runs the quick mode beside other tests) a
 * stall or a batch of 1000 can outlast it; a window that got no answer at all,
 * and no wrong one, is then run again twice as long, up to 3 times. A full
 * run's windows are not stretched: there no answer is a failure.
 */
export async function measured(plan: { readonly quick: boolean }, what: string, durationMs: number, run: (durationMs: number) => Promise<LoadResult>): Promise<LoadResult> {
  for (let attempt = 1; ; attempt++) {
    const result = await run(durationMs);
    const silent = result.requests === 0 && result.errors === 0 && result.verifyFailures === 0;
    if (!(plan.quick && silent && attempt <= 3)) return checked(result, what);
    process.stderr.write(`[bench] ${what}: no answer in a window of ${durationMs} ms; again with ${durationMs * 2} ms\n`);
    durationMs *= 2;
  }
}
