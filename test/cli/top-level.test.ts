// The `cairn` binary itself (dist/, built by `npm test` before jest runs):
// its usage and help, mistyped commands, and standard output that cannot be
// written — a closed pipe or a full device must give one line on standard
// error and exit status 2, never a stack trace and exit 1 (which says that
// something did not verify), whether or not the command waited for its write.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, runCli } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-top-level-');

/** Runs the CLI with standard output on /dev/full (every write fails with ENOSPC). */
function runToFullDevice(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const full = openSync('/dev/full', 'w');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir(), stdio: ['ignore', full, 'pipe'] });
    closeSync(full);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Runs the CLI with standard output a pipe whose reading end is closed before the command writes (`| head -0`). */
function runToClosedPipe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

const haveFullDevice = existsSync('/dev/full');

test('standard output that cannot be written is one line on standard error and exit 2, for writes awaited or not', async () => {
  // get --help and keygen await their writes; monitor --help does not: main catches what is left. keygen says where its key went.
  const cases: { args: string[]; full: boolean }[] = [
    { args: ['get', '--help'], full: false },
    { args: ['--help'], full: false },
    ...(haveFullDevice ? [{ args: ['monitor', '--help'], full: true }, { args: ['keygen', '--origin', 'top.test/log', '--out', 'k1'], full: true }] : []),
  ];
  for (const { args, full } of cases) {
    const res = full ? await runToFullDevice(args) : await runToClosedPipe(args);
    expect([args, res.code]).toEqual([args, 2]);
    const keygen = 'cairn keygen: the key was written to k1, but its verifier key could not be printed: cannot write to standard output: ENOSPC: no space left on device; print it with: cairn keygen --show k1\n';
    if (args[0] === 'keygen') expect(res.stderr).toBe(keygen);
    else expect(res.stderr).toMatch(full ? /^cairn( monitor)?: cannot write to standard output: ENOSPC: no space left on device\n$/ : /^cairn( get)?: cannot write to standard output: EPIPE: broken pipe \(whatever reads it stopped reading\)\n$/);
  }
  // keygen made its key nonetheless; only the printing failed.
  if (haveFullDevice) expect((await readFile(join(dir(), 'k1'), 'utf8')).startsWith('PRIVATE+KEY+top.test/log+')).toBe(true);
});

test('no command: the usage on standard error, exit 2; --help, -h and help: on standard output, exit 0', async () => {
  const none = await runCli([]);
  expect(none.code).toBe(2);
  expect(none.stdout).toBe('');
  expect(none.stderr).toMatch(/^cairn: give a command\n\nusage: cairn <command> \[options\]\n/);
  for (const args of [['--help'], ['-h'], ['help']]) {
    const res = await runCli(args);
    expect([args, res.code, res.stderr]).toEqual([args, 0, '']);
    expect(res.stdout).toMatch(/^usage: cairn <command> \[options\]\n {7}cairn help <command> .*\n {7}cairn --version .*\n/);
  }
});

test('help <command> prints its help; --version, -V and version print the version; a leading -- is skipped', async () => {
  const serve = await runCli(['help', 'serve']);
  expect(serve.code).toBe(0);
  expect(serve.stdout).toMatch(/^usage: cairn serve /);
  const version = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const args of [['--version'], ['-V'], ['version']]) expect([args, await runCli(args)]).toEqual([args, { code: 0, stdout: `${version.version}\n`, stderr: '' }]);
  const dashed = await runCli(['--', 'get', '--help']);
  expect([dashed.code, dashed.stdout.startsWith('usage: cairn get ')]).toEqual([0, true]);
  expect((await runCli(['help', 'nosuch'])).code).toBe(2);
});

test('an unknown command is refused on one line with the nearest command suggested, exit 2', async () => {
  for (const [typed, meant] of [
    ['sevre', 'serve'],
    ['SERVE', 'serve'],
    ['verify', 'verify-receipt'],
    ['moniter', 'monitor'],
  ]) {
    const res = await runCli([typed!]);
    expect([typed, res.code, res.stdout]).toEqual([typed, 2, '']);
    expect(res.stderr).toBe(`cairn: unknown command "${typed}"; did you mean '${meant}'? Run 'cairn --help' for the commands.\n`);
  }
  const far = await runCli(['frobnicate']);
  expect([far.code, far.stderr]).toEqual([2, `cairn: unknown command "frobnicate"; run 'cairn --help' for the commands.\n`]);
});

test("node's message for an option missing its value is one line, in client commands and serve alike", async () => {
  const client = await runCli(['get', '1', '--url', '--json']);
  expect(client.code).toBe(2);
  expect(client.stderr).toBe("cairn get: Option '--url' argument is ambiguous. Did you forget to specify the option argument for '--url'? To specify an option argument starting with a dash use '--url=-XYZ'.\nRun 'cairn get --help' for its options.\n");
  const serve = await runCli(['serve', '--data', '--quiet']);
  expect(serve.code).toBe(2);
  expect(serve.stderr.split('\n')[0]).toBe("cairn serve: Option '--data' argument is ambiguous. Did you forget to specify the option argument for '--data'? To specify an option argument starting with a dash use '--data=-XYZ'.");
});
