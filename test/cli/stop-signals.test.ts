// The stop signals a command hears, told apart: the first asks it to stop,
// one less than REPEAT_SIGNAL_MS after it is the same request passed on
// again (npm, npx, coreutils timeout), one later is a second request.
import { REPEAT_SIGNAL_MS, stopSignalSorter } from '../../src/cli/stop-signals.js';

test('a signal less than the window after the first is a repeat; one at the window or after is a second', () => {
  let clock = 5_000;
  const sort = stopSignalSorter(() => clock);
  const kinds = [sort()];
  for (const at of [0, 1, REPEAT_SIGNAL_MS - 1, REPEAT_SIGNAL_MS, REPEAT_SIGNAL_MS + 1]) {
    clock = 5_000 + at;
    kinds.push(sort());
  }
  expect(kinds).toEqual(['first', 'repeat', 'repeat', 'repeat', 'second', 'second']);
});

test('the window runs from the first signal, not from the last repeat: signals sent on and on still end the process', () => {
  let clock = 0;
  const sort = stopSignalSorter(() => clock);
  const kinds = [];
  for (; clock <= 2 * REPEAT_SIGNAL_MS; clock += REPEAT_SIGNAL_MS / 4) kinds.push(sort());
  expect(kinds).toEqual(['first', 'repeat', 'repeat', 'repeat', 'second', 'second', 'second', 'second', 'second']);
});
