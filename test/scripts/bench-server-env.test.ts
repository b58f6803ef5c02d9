// The benchmark's server (scripts/bench/server.ts) runs with what `npm start`
// gives the server (package.json): MALLOC_TRIM_THRESHOLD_=131072 unless
// given another, so that what the benchmark measures is what runs. Read from
// the spawned server's /proc/PID/environ (Linux), through dist/ as the
// benchmark runs it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-bench-env-');
const SERVER = new URL('../../dist/scripts/bench/server.js', import.meta.url).href;

/** Starts the benchmark's server in a node of its own, with `env`, and gives the server's MALLOC_TRIM_THRESHOLD_ ('' without one). */
function benchServerTrim(env: NodeJS.ProcessEnv, data: string): Promise<string> {
  const script = [
    `import { readFileSync } from 'node:fs';`,
    `const { startBenchServer } = await import(${JSON.stringify(SERVER)});`,
    `const server = await startBenchServer(${JSON.stringify(data)});`,
    `const entry = readFileSync('/proc/' + server.pid + '/environ', 'latin1').split('\\0').find((e) => e.startsWith('MALLOC_TRIM_THRESHOLD_='));`,
    `await server.stop();`,
    `process.stdout.write(entry === undefined ? '' : entry.slice('MALLOC_TRIM_THRESHOLD_='.length));`,
  ].join('\n');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { env, timeout: 50_000 }, (err, stdout, stderr) =>
      err === null ? resolve(stdout) : reject(new Error(`${err.message}\n${stderr}`)),
    );
  });
}

test.each([
  { given: undefined, what: 'none', expected: '131072' },
  { given: '262144', what: '262144', expected: '262144' },
])("the benchmark's server runs with MALLOC_TRIM_THRESHOLD_=$expected when the benchmark's environment has $what", async ({ given, expected }) => {
  const env = { ...process.env };
  delete env.MALLOC_TRIM_THRESHOLD_;
  if (given !== undefined) env.MALLOC_TRIM_THRESHOLD_ = given;
  expect(await benchServerTrim(env, join(dir(), 'data'))).toBe(expected);
});
