// A first start that fails once it has made the key (a full disk as it
// writes the log's first checkpoint): the key goes again where nothing it
// signed left the process, so that the next start makes a new one rather
// than warn of a log that has lost its store; a failure for want of space
// says to free some.
import { chmod, copyFile, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startupWarnings } from '../../src/cli/serve.js';
import { startServer, withdrawNewKey } from '../../src/cli/server.js';
import { StartError } from '../../src/cli/start-error.js';
import { runCli } from '../helpers/server-process.js';
import { passThroughStore } from '../helpers/store.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { LevelStore } from '../../src/storage/level-store.js';
import type { LogStore } from '../../src/storage/store.js';

const dir = useTempDir('cairn-first-start-');

/** The error LevelDB gives a write on a full disk (its words, no errno). */
function diskFull(data: string): Error {
  return Object.assign(new Error(`IO error: ${join(data, 'db', '000003.log')}: No space left on device`), { code: 'LEVEL_IO_ERROR' });
}

/** A start on `data` whose store's first write fails with `err`, after it reached the store when `landed`. */
function failingStart(data: string, err: Error, landed = false, made: string[] = [], newLog = false) {
  return startServer({
    data,
    newLog,
    host: '127.0.0.1',
    port: 0,
    origin: 'first.test/log',
    onKeyCreated: (_path, verifierKey) => made.push(verifierKey),
    wrapStore: (inner: LogStore) =>
      passThroughStore(inner, {
        writeRound: async (round) => {
          if (landed) await inner.writeRound(round);
          throw err;
        },
      }),
  });
}

const advice = (data: string) => `; free space on the disk that holds the data folder ${data} (LevelDB needs a few MiB free to open its store), then start again`;

test('a first start whose first checkpoint never reached the disk removes the key it made, and the next start makes a new one without a warning', async () => {
  const data = join(dir(), 'data');
  const made: string[] = [];
  const failed = failingStart(data, diskFull(data), false, made);
  await expect(failed).rejects.toBeInstanceOf(StartError);
  await expect(failed).rejects.toHaveProperty(
    'message',
    `cannot start a new log in ${join(data, 'db')}: IO error: ${join(data, 'db', '000003.log')}: No space left on device${advice(data)}. ` +
      `No log was started, and nothing signed with the key this start made was stored or served: that key, ${join(data, 'log.key')}, was removed, and its verifier key is void; the next start makes a new one`,
  );
  expect(made).toHaveLength(1);
  // Neither the key nor a temporary key file is left; the empty store stays.
  expect((await readdir(data)).sort()).toEqual(['db']);
  const server = await startServer({ data, host: '127.0.0.1', port: 0, origin: 'first.test/log', onKeyCreated: (_path, verifierKey) => made.push(verifierKey) });
  try {
    expect(made).toHaveLength(2);
    expect(made[1]).not.toBe(made[0]);
    expect(server.verifierKey).toBe(made[1]);
    expect(server.startup).toMatchObject({ madeKey: true, newLog: true });
    expect(startupWarnings(server.startup)).toEqual([]);
  } finally {
    await server.close();
  }
});

test('a first start whose first checkpoint reached the store keeps the key, and the next start goes on with that log', async () => {
  const data = join(dir(), 'data');
  const made: string[] = [];
  const failed = failingStart(data, new Error('fsync: Input/output error'), true, made);
  await expect(failed).rejects.toHaveProperty(
    'message',
    `cannot start a new log in ${join(data, 'db')}: fsync: Input/output error. The key this start made, ${join(data, 'log.key')}, was kept, ` +
      'as the store may hold what it signed (its write-ahead log 000003.log holds a write)',
  );
  expect((await readdir(data)).sort()).toEqual(['db', 'log.key']);
  const server = await startServer({ data, host: '127.0.0.1', port: 0, origin: 'first.test/log' });
  try {
    expect(server.verifierKey).toBe(made[0]);
    expect(server.startup).toMatchObject({ madeKey: false, newLog: false });
    expect(startupWarnings(server.startup)).toEqual([]);
  } finally {
    await server.close();
  }
});

test('a first start keeps the key it made when another process has the store by the time it gives up', async () => {
  const data = join(dir(), 'data');
  let holder: LevelStore | undefined;
  try {
    const failed = startServer({
      data,
      host: '127.0.0.1',
      port: 0,
      wrapStore: (inner: LogStore) =>
        passThroughStore(inner, {
          writeRound: async () => {
            throw diskFull(data);
          },
          // Another start takes the store as soon as this one lets it go: it may have read the key.
          close: async () => {
            await inner.close();
            holder = await LevelStore.open(join(data, 'db'));
          },
        }),
    });
    await expect(failed).rejects.toHaveProperty('message', expect.stringMatching(/\. The key this start made, .*log\.key, was kept, as the store may hold what it signed \(another process holds its lock\)$/));
    expect((await stat(join(data, 'log.key'))).isFile()).toBe(true);
  } finally {
    await holder?.close();
  }
});

test('a key moved aside goes back when the store turns out in use once it was moved', async () => {
  const data = join(dir(), 'data');
  const first = await startServer({ data, host: '127.0.0.1', port: 0 });
  await first.close();
  const key = await readFile(join(data, 'log.key'), 'utf8');
  const looks = [undefined, 'another process holds its lock'];
  const err = await withdrawNewKey(new Error('the disk went away'), data, async () => looks.shift());
  expect(looks).toEqual([]);
  expect(err.message).toBe(`cannot start a new log in ${join(data, 'db')}: the disk went away. The key this start made, ${join(data, 'log.key')}, was kept, as the store may hold what it signed (another process holds its lock)`);
  expect(await readFile(join(data, 'log.key'), 'utf8')).toBe(key);
  expect((await readdir(data)).sort()).toEqual(['db', 'log.key']);
});

test('a failure for want of space says to free some also when the key was there before', async () => {
  const data = join(dir(), 'data');
  expect((await runCli(['keygen', '--origin', 'first.test/log', '--out', join(dir(), 'data-key')])).code).toBe(0);
  await mkdir(data, { mode: 0o700 });
  await copyFile(join(dir(), 'data-key'), join(data, 'log.key'));
  await chmod(join(data, 'log.key'), 0o600);
  // Its key made before the log: begun with --new-log.
  const failed = failingStart(data, diskFull(data), false, [], true);
  await expect(failed).rejects.toBeInstanceOf(StartError);
  await expect(failed).rejects.toHaveProperty('message', `IO error: ${join(data, 'db', '000003.log')}: No space left on device${advice(data)}`);
  expect((await readdir(data)).sort()).toEqual(['db', 'log.key']);
  // Another failure is passed on as it is.
  await expect(failingStart(data, new Error('the disk went away'), false, [], true)).rejects.toThrow(/^the disk went away$/);
});
