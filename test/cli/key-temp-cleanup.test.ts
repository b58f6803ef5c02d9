// A key creation killed between writing its temporary file and removing it
// (a crash on first start of `serve`, or of `keygen`) leaves a complete
// private key in `.<key file>.<12 hex>.tmp`. Once the key file exists, serve
// (on every start) and keygen (after making its key) remove such files, and
// only those: look-alike names, folders and symbolic links stay.
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isKeyTempName, keyTempPath, readKeyFile, removeStaleKeyTemps } from '../../src/cli/key-file.js';
import { generateSignerKey } from '../../src/note/keys.js';
import { runCli, startServerProcess } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-key-temp-');

/** Names that are not a temporary file of the key file `name`, though they look like one. */
function lookAlikes(name: string): string[] {
  return [
    `.${name}.0123456789AB.tmp`, // upper-case hex
    `.${name}.0123456789a.tmp`, // 11 digits
    `.${name}.0123456789abc.tmp`, // 13 digits
    `.${name}.0123456789ag.tmp`, // not hex
    `.${name}..tmp`,
    `${name}.0123456789ab.tmp`, // no leading dot
    `.${name}.0123456789ab.tmp.bak`,
    `.${name}.0123456789ab`,
    `.other-${name}.0123456789ab.tmp`,
    `.x${name}.0123456789ab.tmp`,
  ];
}

/**
 * Plants in `folder`, beside the key file `name`: two stale temporary key
 * files (mode 0600, each holding a private key), the look-alikes, a folder
 * and a symbolic link named as temporary files are. Returns the stale names.
 */
async function plant(folder: string, name: string): Promise<string[]> {
  const stale = [`.${name}.0123456789ab.tmp`, `.${name}.ffffffffffff.tmp`];
  for (const file of stale) await writeFile(join(folder, file), `${generateSignerKey('stale.example/log')}\n`, { mode: 0o600 });
  for (const file of lookAlikes(name)) await writeFile(join(folder, file), 'keep me\n', { mode: 0o600 });
  await mkdir(join(folder, `.${name}.aaaaaaaaaaaa.tmp`));
  await writeFile(join(folder, 'target'), 'keep me too\n');
  await symlink(join(folder, 'target'), join(folder, `.${name}.bbbbbbbbbbbb.tmp`));
  return stale;
}

/** What must be left of {@link plant}'s files. */
function survivors(name: string): string[] {
  return [...lookAlikes(name), `.${name}.aaaaaaaaaaaa.tmp`, `.${name}.bbbbbbbbbbbb.tmp`, 'target'];
}

async function expectCleaned(folder: string, name: string, stale: string[]): Promise<void> {
  const left = await readdir(folder);
  for (const file of stale) expect([file, left.includes(file)]).toEqual([file, false]);
  for (const file of survivors(name)) expect([file, left.includes(file)]).toEqual([file, true]);
  expect(await readFile(join(folder, 'target'), 'utf8')).toBe('keep me too\n');
}

test("isKeyTempName matches exactly the names keyTempPath makes for that key file", () => {
  const key = join('/some', 'folder', 'log.key');
  for (let i = 0; i < 20; i++) {
    const temp = keyTempPath(key);
    expect(join('/some', 'folder', basename(temp))).toBe(temp);
    expect([temp, isKeyTempName(key, basename(temp))]).toEqual([temp, true]);
    expect(isKeyTempName(join('/some', 'folder', 'other.key'), basename(temp))).toBe(false);
  }
  expect(isKeyTempName(key, '.log.key.0123456789ab.tmp')).toBe(true);
  for (const name of lookAlikes('log.key')) expect([name, isKeyTempName(key, name)]).toEqual([name, false]);
});

test('removeStaleKeyTemps removes only the temporary files of that key file, and reports a folder it cannot list instead of throwing', async () => {
  const key = join(dir(), 'log.key');
  await writeFile(key, `${generateSignerKey('a.example/log')}\n`, { mode: 0o600 });
  const stale = await plant(dir(), 'log.key');
  expect(await removeStaleKeyTemps(key)).toEqual([]);
  await expectCleaned(dir(), 'log.key', stale);
  expect((await readdir(dir())).includes('log.key')).toBe(true);
  const underFile = join(key, 'inner.key');
  expect(await removeStaleKeyTemps(underFile)).toEqual([{ kind: 'list', path: key, reason: expect.stringMatching(/^ENOTDIR/) }]);
});

test('serve removes stale temporary key files when it starts on an existing key, the default one or --key', async () => {
  const data = join(dir(), 'data');
  const first = await startServerProcess(['--data', data]);
  expect(await first.stop()).toBe(0);
  const stale = await plant(data, 'log.key');
  const keys = join(dir(), 'keys');
  await mkdir(keys);
  expect((await runCli(['keygen', '--origin', 'cairn.localhost/log', '--out', join(keys, 'other.key')])).code).toBe(0);
  const staleOther = await plant(keys, 'other.key');
  // Each is gone once 'listening on' is printed.
  const second = await startServerProcess(['--data', data]);
  try {
    await expectCleaned(data, 'log.key', stale);
  } finally {
    expect(await second.stop()).toBe(0);
  }
  const third = await startServerProcess(['--data', join(dir(), 'data2'), '--key', join(keys, 'other.key'), '--new-log']);
  try {
    await expectCleaned(keys, 'other.key', staleOther);
  } finally {
    expect(await third.stop()).toBe(0);
  }
});

test('serve removes the temporary key file of a first start that was killed before its key was in place, and makes a new key', async () => {
  const data = join(dir(), 'data');
  await mkdir(data, { mode: 0o700 });
  const stale = await plant(data, 'log.key');
  const staleKey = (await readFile(join(data, stale[0]!), 'utf8')).trim();
  const server = await startServerProcess(['--data', data]);
  try {
    expect(server.stdout()).toMatch(/made a new signing key/);
    await expectCleaned(data, 'log.key', stale);
    expect((await readKeyFile(join(data, 'log.key'))).signerKey).not.toBe(staleKey);
  } finally {
    expect(await server.stop()).toBe(0);
  }
});

test('keygen removes stale temporary files of the key file it makes, and only those', async () => {
  const stale = await plant(dir(), 'k.key');
  const out = join(dir(), 'k.key');
  const res = await runCli(['keygen', '--origin', 'keys.example/log', '--out', out]);
  expect([res.code, res.stderr]).toEqual([0, '']);
  await expectCleaned(dir(), 'k.key', stale);
  expect((await readKeyFile(out)).verifierKey).toBe(res.stdout.trim());
});
