// The benchmark's rows (scripts/bench/report.ts): a figure that is not the
// median of the header's runs must carry a note saying what it is.
import { formatTable, Results } from '../../scripts/bench/report.js';

test('a row of as many samples as the header claims runs needs no note', () => {
  const results = new Results(3);
  const row = results.add('a', 'S', 'a figure', 'ms', [3, 1, 2]);
  expect(row.median).toBe(2);
  expect(row.note).toBeUndefined();
});

test('a row of any other number of samples is refused unless a note says what it is', () => {
  const results = new Results(5);
  expect(() => results.add('disk', 'S', 'bytes per entry', 'B/entry', [194.6])).toThrow(/1 samples, not the 5 runs/);
  expect(() => results.add('mem', 'S', 'memory', 'MB', Array.from({ length: 15 }, (_, i) => i))).toThrow(/15 samples/);
  results.add('disk', 'S', 'bytes per entry', 'B/entry', [194.6], 'one measurement');
  results.add('mem', 'S', 'memory', 'MB', Array.from({ length: 15 }, (_, i) => i), 'median of 15 proof runs (5 runs × 3 kinds)');
  const table = formatTable(results.rows);
  expect(table).toMatch(/bytes per entry\s.*one measurement/);
  expect(table).toMatch(/memory\s.*median of 15 proof runs \(5 runs × 3 kinds\)/);
});
