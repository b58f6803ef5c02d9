import { spawn } from 'node:child_process';
import { chmod, mkdir, open, readdir, readFile, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { constants } from 'node:os';
import { join } from 'node:path';
import { folderProblem } from '../../src/cli/os-error.js';
import { parseSignerKey, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { CLI, runCli, startServerProcess } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-cli-', { closedAbove: true });

test('keygen writes a 0600 key, prints its verifier key, and refuses to overwrite', async () => {
  const out = join(dir(), 'k');
  const first = await runCli(['keygen', '--origin', 'audit.example.com/log1', '--out', out]);
  expect(first.code).toBe(0);
  const skey = (await readFile(out, 'utf8')).trim();
  expect(parseSignerKey(skey).name).toBe('audit.example.com/log1');
  expect(first.stdout.trim()).toBe(verifierKeyFromSignerKey(skey));
  expect((await stat(out)).mode % 0o1000).toBe(0o600);
  const second = await runCli(['keygen', '--origin', 'audit.example.com/log1', '--out', out]);
  expect(second.code).toBe(2);
  expect(second.stderr).toBe(`cairn keygen: refusing to overwrite the existing key file ${out}\n`);
  expect((await readFile(out, 'utf8')).trim()).toBe(skey);
});

test("keygen whose standard output fails says the key was written and how to print its verifier key; --show prints it, with serve's checks, never the private key", async () => {
  const out = join(dir(), 'full.key');
  const full = await open('/dev/full', 'w');
  const child = spawn(process.execPath, [CLI, 'keygen', '--origin', 'f.example/x', '--out', out], { stdio: ['ignore', full.fd, 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  await full.close();
  expect([code, stderr]).toEqual([
    2,
    `cairn keygen: the key was written to ${out}, but its verifier key could not be printed: cannot write to standard output: ENOSPC: no space left on device; print it with: cairn keygen --show ${out}\n`,
  ]);
  const skey = (await readFile(out, 'utf8')).trim();
  const shown = await runCli(['keygen', '--show', out]);
  expect([shown.code, shown.stdout, shown.stderr]).toEqual([0, `${verifierKeyFromSignerKey(skey)}\n`, '']);
  // The checks serve applies: a key others may read is refused, saying how to close it; the key never shows.
  await chmod(out, 0o644);
  const open644 = await runCli(['keygen', '--show', out]);
  expect([open644.code, open644.stdout, open644.stderr]).toEqual([2, '', `cairn keygen: the key file ${out} is accessible by group or others (mode 644); run: chmod 600 ${out}\n`]);
  await chmod(out, 0o600);
  // It makes nothing, so takes no --origin or --out.
  expect((await runCli(['keygen', '--show', out, '--origin', 'f.example/x'])).code).toBe(2);
  expect((await runCli(['keygen', '--show', join(dir(), 'none.key')])).stderr).toMatch(/^cairn keygen: cannot read the key file .*none\.key: /);
  for (const res of [shown, open644]) expect(res.stdout + res.stderr).not.toContain(skey.split('+').slice(4).join('+'));
});

test('keygen and serve explain their usage', async () => {
  expect((await runCli(['keygen', '--origin', 'bad origin', '--out', join(dir(), 'x')])).code).toBe(2);
  expect((await runCli(['keygen', '--out', join(dir(), 'x')], { CAIRN_ORIGIN: '' })).code).toBe(2);
  for (const cmd of ['keygen', 'serve']) {
    const help = await runCli([cmd, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`usage: cairn ${cmd}`));
  }
  // Their exit statuses are listed as the client commands list theirs.
  expect((await runCli(['keygen', '--help'])).stdout).toMatch(/\nExit status:\n  0  the key was written and its verifier key printed\n  2  usage or operational error /);
  expect((await runCli(['serve', '--help'])).stdout).toMatch(/\nExit status:\n  0  stopped by SIGINT, SIGTERM or SIGHUP.*\n     a standard output that was lost is said on standard error, status 0\)\n  1  could not start: [^]*\n  2  usage error \(bad options; also --private without --tokens or with\n     --public-writes, or a non-loopback --host with neither --tokens nor\n     --public-writes\)\n$/);
  const top = await runCli(['--help']);
  expect(top.stdout).toMatch(/serve/);
  expect((await runCli(['nope'])).code).toBe(2);
  expect((await runCli(['serve', '--bogus'])).code).toBe(2);
  expect((await runCli(['serve', '--port', '99999'])).code).toBe(2);
});

test('serve checks its options before it makes anything on disk, and names where a bad value came from', async () => {
  const data = join(dir(), 'never-made');
  const origin = await runCli(['serve', '--data', data, '--origin', 'bad origin', '--port', '0']);
  expect([origin.code, origin.stderr]).toEqual([2, expect.stringMatching(/invalid origin "bad origin"/)]);
  const upload = await runCli(['serve', '--data', data, '--max-upload-mib', '99999999999', '--port', '0']);
  expect([upload.code, upload.stderr]).toEqual([2, expect.stringMatching(/--max-upload-mib must be an integer from 1 to 1048576, got "99999999999"/)]);
  const port = await runCli(['serve', '--data', data], { CAIRN_PORT: 'abc' });
  expect([port.code, port.stderr]).toEqual([2, expect.stringMatching(/CAIRN_PORT must be a port number/)]);
  await expect(stat(data)).rejects.toThrow(/ENOENT/);
  for (const res of [origin, upload, port]) expect(res.stderr).not.toMatch(/\n\s+at /);
});

test('serve says so when the store was signed by another key than the one it is given, naming its file, the origins and the key IDs', async () => {
  const server = await startServerProcess(['--data', dir()]);
  await server.stop();
  const id = (key: string) => key.split('+')[1];
  const logId = id(verifierKeyFromSignerKey((await readFile(join(dir(), 'log.key'), 'utf8')).trim()));
  const other = join(dir(), 'other.key');
  const sameName = await runCli(['keygen', '--origin', 'cairn.localhost/log', '--out', other]);
  expect(sameName.code).toBe(0);
  const res = await runCli(['serve', '--data', dir(), '--key', other, '--port', '0']);
  expect([res.code, res.stderr]).toEqual([
    1,
    `cairn serve: the store's checkpoint, for the log "cairn.localhost/log", is not signed by the key file ${other} (cairn.localhost/log, key ID ${id(sameName.stdout.trim())}); ` +
      `it is signed by cairn.localhost/log key ID ${logId}: the store belongs to another key of that name (two logs made with one origin, say), or the key file was replaced. Name the key of the log the store holds\n`,
  ]);
  // A key for another log.
  const another = join(dir(), 'another.key');
  const otherLog = await runCli(['keygen', '--origin', 'other.example.com/log', '--out', another]);
  const res2 = await runCli(['serve', '--data', dir(), '--key', another, '--port', '0']);
  expect([res2.code, res2.stderr]).toEqual([
    1,
    `cairn serve: the store's checkpoint is for the log "cairn.localhost/log" (its origin), but the key file ${another} (other.example.com/log, key ID ${id(otherLog.stdout.trim())}) is for the log "other.example.com/log"; ` +
      `it is signed by cairn.localhost/log key ID ${logId}: the store belongs to another log, or the key file was replaced. Name the key of the log the store holds\n`,
  ]);
});

test('serve says which store it could not open, and why', async () => {
  // The store's folder is taken by a file.
  await writeFile(join(dir(), 'db'), 'not a folder');
  const res = await runCli(['serve', '--data', dir(), '--port', '0']);
  expect(res.code).toBe(1);
  expect(res.stderr).toContain(`cannot open the store in ${join(dir(), 'db')}: `);
  expect(res.stderr).not.toMatch(/\n\s+at /);
});

test('serve makes a key on first start, reuses it, and a second server on the same data refuses', async () => {
  const server = await startServerProcess(['--data', dir()]);
  try {
    expect(server.stdout()).toMatch(/made a new signing key/);
    expect((await stat(join(dir(), 'log.key'))).mode % 0o1000).toBe(0o600);
    const health = await (await fetch(`${server.url}/healthz`)).json();
    expect(health).toEqual({ status: 'ok', tree_size: 0 });
    const second = await runCli(['serve', '--data', dir(), '--port', '0']);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/in use by another Cairn process/);
  } finally {
    await server.stop();
  }
  const again = await startServerProcess(['--data', dir()], { CAIRN_PORT: '1' });
  try {
    expect(again.stdout()).not.toMatch(/made a new signing key/);
  } finally {
    await again.stop();
  }
});

test('serve prints the verifier key once, whether it made the key or not, and "stopped" once it has stopped', async () => {
  for (const made of [true, false]) {
    const server = await startServerProcess(['--data', dir()]);
    const closed = once(server.child, 'close');
    expect(await server.stop()).toBe(0);
    await closed;
    const out = server.stdout();
    expect([made, out.match(/verifier key: /g)?.length]).toEqual([made, 1]);
    expect(/made a new signing key/.test(out)).toBe(made);
    expect(out).toMatch(/\nlistening on http:\/\/\S+\nstopping\nstopped\n$/);
  }
});

test('a verifier key given as the key is said to be one before any advice to close it', async () => {
  const made = await runCli(['keygen', '--origin', 'o.example/log', '--out', join(dir(), 'real.key')]);
  const vkey = join(dir(), 'log.vkey');
  await writeFile(vkey, made.stdout, { mode: 0o644 });
  const said =
    `cairn serve: ${vkey} holds a verifier key (the public half of a key, which keygen prints and monitors use), not a signer key: ` +
    'give the private key file that cairn keygen --out wrote (PRIVATE+KEY+<origin>+<hash>+<base64>)\n';
  for (const mode of [0o644, 0o600]) {
    await chmod(vkey, mode);
    const res = await runCli(['serve', '--data', join(dir(), 'd'), '--key', vkey, '--port', '0']);
    expect([res.code, res.stderr]).toEqual([1, said]);
  }
});

test('a symbolic link that leads nowhere, given or found as the key, is said to be one, by serve and keygen', async () => {
  // The default key of a fresh data folder, one beside a store that holds a log, a --key, keygen's --out and --show.
  const gone = join(dir(), 'nothere.key');
  const linkTo = (path: string) => `the key file ${path} is a symbolic link to ${gone}, which does not exist`;
  const fresh = join(dir(), 'fresh');
  await mkdir(fresh, { mode: 0o700 });
  await symlink(gone, join(fresh, 'log.key'));
  const first = await runCli(['serve', '--data', fresh, '--port', '0']);
  expect([first.code, first.stderr]).toEqual([1, `cairn serve: ${linkTo(join(fresh, 'log.key'))}: put the log's key file there, or remove the link\n`]);
  expect(await readdir(fresh)).toEqual(['log.key']);
  const logged = join(dir(), 'logged');
  const server = await startServerProcess(['--data', logged]);
  expect(await server.stop()).toBe(0);
  await rename(join(logged, 'log.key'), join(dir(), 'moved.key'));
  await symlink(gone, join(logged, 'log.key'));
  expect((await runCli(['serve', '--data', logged, '--port', '0'])).stderr).toBe(`cairn serve: ${linkTo(join(logged, 'log.key'))}: put the log's key file there, or remove the link\n`);
  const named = join(dir(), 'named.key');
  await symlink(gone, named);
  expect((await runCli(['serve', '--data', logged, '--key', named, '--port', '0'])).stderr).toBe(`cairn serve: ${linkTo(named)}: put the log's key file there, or remove the link\n`);
  expect((await runCli(['keygen', '--origin', 'o.example/log', '--out', named])).stderr).toBe(
    `cairn keygen: ${linkTo(named)}: no key is made through a link; give the path it leads to, or remove the link\n`,
  );
  expect((await runCli(['keygen', '--show', named])).stderr).toBe(`cairn keygen: ${linkTo(named)}: put the key file there, or give the key file's own path\n`);
  await expect(stat(gone)).rejects.toThrow(/ENOENT/);
});

test('serve refuses a key file readable by others, and a missing explicit key', async () => {
  const key = join(dir(), 'open.key');
  expect((await runCli(['keygen', '--origin', 'o.example/log', '--out', key])).code).toBe(0);
  await chmod(key, 0o644);
  const res = await runCli(['serve', '--data', join(dir(), 'd'), '--key', key, '--port', '0']);
  expect(res.code).toBe(1);
  expect(res.stderr).toMatch(/chmod 600/);
  expect(res.stderr).not.toMatch(/PRIVATE/);
  const missing = await runCli(['serve', '--data', join(dir(), 'd'), '--key', join(dir(), 'none.key'), '--port', '0']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/cairn keygen/);
  await writeFile(join(dir(), 'junk.key'), 'PRIVATE+KEY+secret-stuff', { mode: 0o600 });
  const junk = await runCli(['serve', '--data', join(dir(), 'd'), '--key', join(dir(), 'junk.key'), '--port', '0']);
  expect(junk.code).toBe(1);
  expect(junk.stderr).not.toMatch(/secret-stuff/);
});

test('keygen and serve name the path the user gave and why it cannot be written, never their temporary file', async () => {
  const missing = join(dir(), 'missing');
  const res = await runCli(['keygen', '--origin', 'o.example/log', '--out', join(missing, 'k.key')]);
  // Refused, with how to fix it; keygen makes no folders.
  expect([res.code, res.stderr]).toEqual([2, `cairn keygen: cannot write the key file ${join(missing, 'k.key')}: the folder ${missing} does not exist (ENOENT: no such file or directory); make it first: mkdir -p ${missing}\n`]);
  const file = join(dir(), 'a-file');
  await writeFile(file, 'not a folder');
  const under = await runCli(['keygen', '--origin', 'o.example/log', '--out', join(file, 'k.key')]);
  expect([under.code, under.stderr]).toEqual([2, `cairn keygen: cannot write the key file ${join(file, 'k.key')}: ${file} is not a folder, or a part of its path is a file (ENOTDIR: not a directory)\n`]);
  const serve = await runCli(['serve', '--data', join(file, 'data'), '--port', '0']);
  expect([serve.code, serve.stderr]).toEqual([1, `cairn serve: cannot make the data folder ${join(file, 'data')}: ${file} is a file, not a folder\n`]);
  const key = await runCli(['serve', '--data', join(dir(), 'd'), '--key', join(missing, 'k.key'), '--port', '0']);
  expect([key.code, key.stderr]).toEqual([1, expect.stringContaining(`no key file at ${join(missing, 'k.key')}; make one with: cairn keygen`)]);
  // A missing --key is found before the data folder is made.
  expect(await readdir(dir())).toEqual(['a-file']);
});

test('a key file in a folder that is not writable is named, with the reason, not the temporary file', () => {
  // Real permissions cannot be shown to a root test run; the error node gives for one can.
  const denied = Object.assign(new Error(`EACCES: permission denied, open '/srv/keys/.log.key.0a1b2c3d4e5f.tmp'`), { code: 'EACCES', errno: -constants.errno.EACCES });
  expect(folderProblem('/srv/keys', denied)).toBe('the folder /srv/keys is not writable (EACCES: permission denied)');
  const readOnly = Object.assign(new Error(`EROFS: read-only file system, open '/srv/keys/.log.key.0a1b2c3d4e5f.tmp'`), { code: 'EROFS', errno: -constants.errno.EROFS });
  expect(folderProblem('/srv/keys', readOnly)).toBe('the folder /srv/keys is not writable (EROFS: read-only file system)');
  // The fix for a missing folder is a command to paste, quoted for the shell when it must be.
  const missing = Object.assign(new Error(`ENOENT: no such file or directory, open '/srv/my keys/.k.tmp'`), { code: 'ENOENT', errno: -constants.errno.ENOENT });
  expect(folderProblem("/srv/my keys/ann's", missing)).toBe(`the folder /srv/my keys/ann's does not exist (ENOENT: no such file or directory); make it first: mkdir -p '/srv/my keys/ann'\\''s'`);
});
