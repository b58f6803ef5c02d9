// Cairn under the process limits an operator may set (prlimit, ulimit,
// systemd's Limit*=): an open-file limit too low to load its code is one line
// saying so, not node's stack trace naming one of cairn's files; an
// address-space limit, which fails LevelDB's maps of its tables (ENOMEM) as
// the store grows, is warned of at start.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { AMPLE_ADDRESS_SPACE, addressSpaceWarning } from '../../src/cli/process-limits.js';
import { CLI } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-limits-');

/** Runs the CLI under `prlimit <limit>` until it prints `until` on standard output (then SIGTERM) or exits by itself. */
function runLimited(limit: string, args: string[], until?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('prlimit', [limit, process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let stopped = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // Once: a second signal would end the server at once.
      if (until === undefined || stopped || !stdout.includes(until)) return;
      stopped = true;
      child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const TOO_FEW_FILES = /^cairn: the open-file limit \(30\) is too low to load cairn \(it needs about 50\): raise it \(ulimit -n, or LimitNOFILE= in systemd\)\n$/;

test('under an open-file limit too low to load cairn, serve says so in one line and exits 1, not with a stack trace', async () => {
  const { code, stdout, stderr } = await runLimited('--nofile=30:30', ['serve', '--data', join(dir(), 'data'), '--port', '0', '--quiet']);
  expect(stderr).toMatch(TOO_FEW_FILES);
  expect([code, stdout]).toEqual([1, '']);
});

test('a client command under that limit says the same and exits 2, an operational error (1 would be a failed verification, an alarm)', async () => {
  for (const args of [['monitor', '--once', '--url', 'http://127.0.0.1:9', '--vkey', 'x'], ['--', 'get', '0']]) {
    const { code, stdout, stderr } = await runLimited('--nofile=30:30', args);
    expect(stderr).toMatch(TOO_FEW_FILES);
    expect([code, stdout]).toEqual([2, '']);
  }
});

test('serve under an address-space limit warns at start that it will fail as the store grows, and runs', async () => {
  const limit = 3 * 2 ** 30;
  const { code, stdout, stderr } = await runLimited(`--as=${limit}`, ['serve', '--data', join(dir(), 'data'), '--port', '0', '--quiet'], 'listening on');
  expect(stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+\nstopping\nstopped\n$/);
  expect(code).toBe(0);
  const lines = stderr
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { level: string; msg: string; addressSpace?: number });
  expect(lines).toEqual([{ time: expect.any(String), level: 'warn', msg: addressSpaceWarning(limit), addressSpace: limit }]);
  expect(addressSpaceWarning(limit)).toMatch(/address-space limit of 3\.0 GiB \(ulimit -v, or LimitAS in systemd\).*8 GiB.*MemoryMax=/);
});

test("a limit of AMPLE_ADDRESS_SPACE or more (room for all of LevelDB's maps and V8's) is not warned of", async () => {
  const { code, stdout, stderr } = await runLimited(`--as=${AMPLE_ADDRESS_SPACE}`, ['serve', '--data', join(dir(), 'ample'), '--port', '0', '--quiet'], 'listening on');
  expect(stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+\nstopping\nstopped\n$/);
  expect([code, stderr]).toEqual([0, '']);
});
