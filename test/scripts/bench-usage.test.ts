// A mistyped option or value of `npm run bench` is told in one line, with
// where the usage is, and exit 2: no stack trace, nothing measured.
import { execFile } from 'node:child_process';

const BENCH = new URL('../../dist/scripts/bench.js', import.meta.url).pathname;

function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BENCH, ...args], { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, stdout, stderr }));
  });
}

test.each([
  [['--json', 'x.json'], /^npm run bench: Unknown option '--json'.* \(see npm run bench -- --help\)\n$/],
  [['--runs', '0'], /^npm run bench: --runs must be a positive integer, got 0 \(see npm run bench -- --help\)\n$/],
  [['--sizes', '1e4,abc'], /^npm run bench: --sizes must be integers from 2 to 2\^32, got 1e4,abc \(see npm run bench -- --help\)\n$/],
])('%j: one line naming the mistake, exit 2', async (args, message) => {
  const run = await bench(args);
  expect([run.code, run.stdout]).toEqual([2, '']);
  expect(run.stderr).toMatch(message);
});
