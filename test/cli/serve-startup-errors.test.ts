// What `cairn serve` says when it cannot start: one line, `cairn serve: <why>`,
// in words, never node's raw error; and it never hangs making its data folder.
import { execFileSync, spawn } from 'node:child_process';
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { KeyFileError, readKeyFile } from '../../src/cli/key-file.js';
import { fileProblem } from '../../src/cli/os-error.js';
import { CLI, runCli, startServerProcess } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-serve-errors-');

/** `cairn serve` with `args`, killed (code null, `killed` true) if it has not exited after `ms`. */
function serveWithin(args: string[], ms: number): Promise<{ code: number | null; killed: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, ms);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, killed, stdout, stderr });
    });
  });
}

test('a data folder under a file is refused at once, naming the file', async () => {
  const file = join(dir(), 'a-file');
  await writeFile(file, 'not a folder');
  const res = await serveWithin(['--data', join(file, 'x', 'y')], 20_000);
  expect([res.killed, res.code, res.stderr]).toEqual([false, 1, `cairn serve: cannot make the data folder ${join(file, 'x', 'y')}: ${file} is a file, not a folder\n`]);
  const itself = await serveWithin(['--data', file], 20_000);
  expect([itself.code, itself.stderr]).toEqual([1, `cairn serve: cannot make the data folder ${file}: ${file} is a file, not a folder\n`]);
});

test('missing folders above the data folder are made, each mode 0700', async () => {
  const data = join(dir(), 'a', 'b', 'data');
  const server = await serveWithin(['--data', data, '--key', join(dir(), 'none.key')], 20_000);
  // The key is checked first (nothing made); then with the default key it starts.
  expect(server.code).toBe(1);
  expect(await readdir(dir())).toEqual([]);
  const started = await startServerProcess(['--data', data]);
  await started.stop();
  for (const folder of [join(dir(), 'a'), join(dir(), 'a', 'b'), data]) expect(((await stat(folder)).mode % 0o1000).toString(8)).toBe('700');
});

test('a data folder where no folder can be made (under /proc) is refused, not retried for ever', async () => {
  // Linux's /proc takes no new folders, and node's recursive mkdir retries
  // this path for ever; the child is killed if it still runs after 20 s.
  expect((await stat('/proc/self')).isDirectory()).toBe(true);
  const res = await serveWithin(['--data', '/proc/nonexist/x'], 20_000);
  expect([res.killed, res.code, res.stderr]).toEqual([false, 1, 'cairn serve: cannot make the data folder /proc/nonexist/x: /proc takes no new folders (ENOENT: no such file or directory)\n']);
});

test('a store that cannot be opened is reported as serve\'s own failure', async () => {
  await writeFile(join(dir(), 'db'), 'a file where the store should be');
  const res = await serveWithin(['--data', dir()], 20_000);
  expect(res.code).toBe(1);
  expect(res.stderr).toMatch(/^cairn serve: cannot open the store in \S+db: [^\n]*\n$/);
});

describe('a key file that cannot be read', () => {
  test('is a KeyFileError saying why, in words, with the OS reason', async () => {
    // /proc/self/mem is a 0600 file whose first bytes cannot be read (EIO), for root too.
    const eio = readKeyFile('/proc/self/mem');
    await expect(eio).rejects.toThrow(KeyFileError);
    await expect(eio).rejects.toThrow('cannot read the key file /proc/self/mem: EIO: i/o error');
    const file = join(dir(), 'a-file');
    await writeFile(file, 'x');
    await expect(readKeyFile(join(file, 'k.key'))).rejects.toThrow(
      `cannot read the key file ${join(file, 'k.key')}: a part of its path is a file, not a folder (ENOTDIR: not a directory)`,
    );
    await expect(readKeyFile(join(dir(), 'none.key'))).rejects.toThrow(`cannot read the key file ${join(dir(), 'none.key')}: it does not exist (ENOENT: no such file or directory)`);
    const fifo = join(dir(), 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(readKeyFile(fifo)).rejects.toThrow(`the key file ${fifo} is a FIFO (named pipe), not a file; give the path of a key file made by cairn keygen`);
  });

  test('a permission error is put in words (the error node gives for one, which a root test run cannot cause)', () => {
    const denied = Object.assign(new Error(`EACCES: permission denied, open 'nb/root.key'`), { code: 'EACCES', errno: -constants.errno.EACCES });
    expect(fileProblem(denied)).toBe('this user may not read it, or may not enter a folder above it (EACCES: permission denied)');
  });

  test('serve says so as its own failure, naming the file the user gave', async () => {
    const res = await serveWithin(['--data', join(dir(), 'd'), '--key', '/proc/self/mem'], 20_000);
    expect([res.code, res.stderr]).toEqual([1, 'cairn serve: cannot read the key file /proc/self/mem: EIO: i/o error\n']);
    const file = join(dir(), 'a-file');
    await writeFile(file, 'x');
    const under = await serveWithin(['--data', join(dir(), 'd'), '--key', join(file, 'k.key')], 20_000);
    expect([under.code, under.stderr]).toEqual([1, `cairn serve: cannot read the key file ${join(file, 'k.key')}: a part of its path is a file, not a folder (ENOTDIR: not a directory)\n`]);
    await mkdir(join(dir(), 'a-folder'));
    const folder = await serveWithin(['--data', join(dir(), 'd'), '--key', join(dir(), 'a-folder')], 20_000);
    // A folder (the data folder, say) given as the key: said plainly, with what goes there.
    expect([folder.code, folder.stderr]).toEqual([
      1,
      `cairn serve: the key file ${join(dir(), 'a-folder')} is a folder, not a file; give the path of a key file made by cairn keygen (cairn keygen --origin <origin> --out FILE)\n`,
    ]);
    // Mode 0000 stops only a user other than root (root reads it and the server would start).
    if (process.getuid?.() !== 0) {
      const key = join(dir(), 'locked.key');
      expect((await runCli(['keygen', '--origin', 'o.example/log', '--out', key])).code).toBe(0);
      await chmod(key, 0o000);
      const locked = await serveWithin(['--data', join(dir(), 'd'), '--key', key], 20_000);
      expect([locked.code, locked.stderr]).toEqual([1, `cairn serve: cannot read the key file ${key}: this user may not read it, or may not enter a folder above it (EACCES: permission denied)\n`]);
    }
  });
});
