// The start-up lines of `cairn serve` as a real process: they name the data
// folder and the key file in full, say when a new store was made, and warn
// when a key was made for the placeholder origin, when a new log is begun
// with a key that existed already (a mistyped --data, or a store moved away,
// would otherwise look like any start), and when the store's folder had to
// be closed to other users.
import { chmod, mkdir, rename } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { startupWarnings } from '../../src/cli/serve.js';
import { DEFAULT_ORIGIN } from '../../src/cli/server.js';
import { runCli, startServerProcess } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-startup-lines-');

/** Runs `cairn serve` with `args` until it listens, stops it; resolves to its stdout, without the URL's port. */
async function startLines(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const server = await startServerProcess(args, env);
  expect(await server.stop()).toBe(0);
  return server.stdout().replace(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT');
}

const placeholder = (data: string) =>
  `warning: the new key is for the placeholder origin ${DEFAULT_ORIGIN}, and an origin is a log's name for good (a restart with another --origin is refused). ` +
  `To name this log, stop it before it takes entries, remove ${join(data, 'log.key')} and ${join(data, 'db')}, and start again with --origin <name> (or CAIRN_ORIGIN)\n`;

const existingKey = (key: string, data: string) =>
  `warning: starting a new log, at tree size 0, with the existing key ${key}. If that key has signed a log before, its store is not in ${data} ` +
  '(a mistyped --data, or a store moved away?), and this would sign a second, different history under the same key: stop now and give the data folder that holds it\n';

test('a first start names the data folder and key in full, says it made a new store, and warns of the placeholder origin; a restart names them only', async () => {
  const data = join(dir(), 'data');
  // Relative to the working folder the server inherits: the lines give it in full.
  const given = relative(process.cwd(), data);
  expect(given.startsWith('/')).toBe(false);
  const first = await startLines(['--data', given]);
  const verifier = /^verifier key: (\S+)$/m.exec(first)?.[1];
  expect(first).toBe(
    `made a new signing key in ${join(data, 'log.key')}\nverifier key: ${verifier}\n` +
      `data folder: ${data}\nmade a new store in ${join(data, 'db')}\n` +
      `log ${DEFAULT_ORIGIN} at tree size 0\naccess: writes open to anyone, reads open to anyone\n` +
      `${placeholder(data)}listening on http://127.0.0.1:PORT\nstopped\n`,
  );
  const again = await startLines(['--data', given]);
  expect(again).toBe(
    `data folder: ${data}\nkey file: ${join(data, 'log.key')}\n` +
      `log ${DEFAULT_ORIGIN} at tree size 0\nverifier key: ${verifier}\naccess: writes open to anyone, reads open to anyone\n` +
      'listening on http://127.0.0.1:PORT\nstopped\n',
  );
});

test('a key made for an origin that was given is not warned about', async () => {
  const byOption = await startLines(['--data', join(dir(), 'a'), '--origin', 'audit.example.com/log1']);
  expect(byOption).toMatch(/^made a new signing key in /);
  expect(byOption).toContain('log audit.example.com/log1 at tree size 0\n');
  const byVariable = await startLines(['--data', join(dir(), 'b')], { CAIRN_ORIGIN: 'audit.example.com/log2' });
  expect(byVariable).toContain('log audit.example.com/log2 at tree size 0\n');
  for (const out of [byOption, byVariable]) expect(out).not.toMatch(/warning/);
});

test('a new store with a named key that existed already (a mistyped --data) says plainly that a new log begins with that key', async () => {
  const key = join(dir(), 'prod.key');
  expect((await runCli(['keygen', '--origin', 'audit.example.com/log1', '--out', key])).code).toBe(0);
  const typo = join(dir(), 'dat', 'a');
  const out = await startLines(['--data', typo, '--key', key]);
  expect(out.split('\n').slice(0, 5)).toEqual([
    `data folder: ${typo}`,
    `made a new store in ${join(typo, 'db')}`,
    `key file: ${key}`,
    'log audit.example.com/log1 at tree size 0',
    expect.stringMatching(/^verifier key: audit\.example\.com\/log1\+/),
  ]);
  expect(out).toContain(`\n${existingKey(key, typo)}listening on `);
  // Once the log exists, its restarts are not warned about.
  expect(await startLines(['--data', typo, '--key', key])).not.toMatch(/warning|new store/);
});

test('a store moved away from beside its key is a new log begun with an existing key, and is warned about', async () => {
  const data = join(dir(), 'data');
  await startLines(['--data', data, '--origin', 'o.example/log']);
  await rename(join(data, 'db'), join(dir(), 'db-elsewhere'));
  const out = await startLines(['--data', data]);
  expect(out).toContain(`made a new store in ${join(data, 'db')}\nkey file: ${join(data, 'log.key')}\n`);
  expect(out).toContain(`\n${existingKey(join(data, 'log.key'), data)}listening on `);
  // An empty store folder put in its place is a new log too, though not a new folder.
  await rename(join(data, 'db'), join(dir(), 'db-second'));
  await mkdir(join(data, 'db'), { mode: 0o700 });
  const empty = await startLines(['--data', data]);
  expect(empty).toContain(`data folder: ${data}\nstarting a new log in the empty store ${join(data, 'db')}\nkey file: `);
  expect(empty).toContain(existingKey(join(data, 'log.key'), data));
});

test('a store folder that others could enter is closed, and the start says so', async () => {
  const data = join(dir(), 'data');
  await startLines(['--data', data, '--origin', 'o.example/log']);
  await chmod(join(data, 'db'), 0o755);
  const out = await startLines(['--data', data]);
  expect(out).toContain(
    `\nwarning: the store's folder ${join(data, 'db')} was open to group or others (mode 755); it is now 0700, so that only this user can read the log's files\nlistening on `,
  );
});

test('startupWarnings says nothing for an ordinary restart', () => {
  const facts = { dataFolder: '/srv/cairn', storeFolder: '/srv/cairn/db', keyFile: '/srv/cairn/log.key', madeStore: false, newLog: false, madeKey: false, placeholderOrigin: false };
  expect(startupWarnings(facts)).toEqual([]);
  // A first start with a key made for a given origin neither.
  expect(startupWarnings({ ...facts, madeStore: true, newLog: true, madeKey: true })).toEqual([]);
  expect(startupWarnings({ ...facts, madeStore: true, newLog: true, madeKey: true, placeholderOrigin: true })).toEqual([placeholder('/srv/cairn').slice('warning: '.length, -1)]);
});
