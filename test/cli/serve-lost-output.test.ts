// serve whose standard output cannot be written (a log collector's pipe gone,
// a full disk): its start-up lines and `stopped` tell of its work and are not
// its result, so the loss is said on standard error and a clean stop still
// exits 0; `serve --help`, whose output is the result, exits 2 as every
// command's lost result does.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-lost-output-');

/**
 * Runs serve with standard output on a pipe, which is closed once serve said
 * where it listens (a log collector gone); then SIGTERM, whose `stopped`
 * cannot be written.
 */
function serveLosingOutput(data: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (!stdout.includes('listening on')) return;
    child.stdout.destroy();
    child.kill('SIGTERM');
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

test('serve whose standard output fails says so on standard error and still exits 0 when stopped', async () => {
  const end = await serveLosingOutput(join(dir(), 'data'));
  expect(end.stderr).toContain('cairn serve: cannot write to standard output: EPIPE');
  expect([end.code, end.signal]).toEqual([0, null]);
});

test('serve --help whose standard output fails exits 2', async () => {
  const full = openSync('/dev/full', 'w');
  try {
    const end = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'serve', '--help'], { stdio: ['ignore', full, 'ignore'] });
      child.on('error', reject);
      child.on('close', (code) => resolve(code));
    });
    expect(end).toBe(2);
  } finally {
    closeSync(full);
  }
  // The same help, written: exit 0.
  expect((await runCli(['serve', '--help'])).code).toBe(0);
});
