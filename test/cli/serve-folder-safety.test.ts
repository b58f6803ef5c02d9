// What `startServer` (cairn serve) accepts as its data folder, store folder
// and key file when other local users exist: a folder they may write, or a
// folder or key file one of them owns, would let them plant the log's key or
// move its store away (the next start would begin the log again at size 0
// with the same key); a store folder they may enter would let them read a
// private log. Ownership is shown by giving files to uid 65534 (nobody),
// which these tests, run as root, can do.
import { chmod, chown, cp, mkdir, readdir, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { createKeyFile, KeyFileError, readKeyFile } from '../../src/cli/key-file.js';
import { foreignOwner, foreignOwnerProblem } from '../../src/file-trust.js';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { StartError } from '../../src/cli/start-error.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-folder-safety-');

const NOBODY = 65534;
const EUID = process.geteuid!();
/** This process's user as the advice names it for chown: its name, not its uid (`chown -R root …` when run as root). */
const EUID_NAME = userInfo().username;

/** Users in /etc/passwd: uid 65534's name (nobody, where it is there), and a uid that has none. */
const PASSWD = readFileSync('/etc/passwd', 'utf8')
  .split('\n')
  .map((line) => line.split(':'));
const NOBODY_NAME = PASSWD.find((fields) => fields[2] === String(NOBODY))?.[0];
let UNNAMED = 4_000_000;
while (PASSWD.some((fields) => fields[2] === String(UNNAMED))) UNNAMED += 1;

/** A refusal of `path`, owned by nobody and named by `subject` (the words before "belongs"), and what it says to run (see foreignOwnerProblem). */
function nobodyOwns(subject: string, path: string, risk: string, check: string, recursive: boolean): string {
  const self = EUID === 0 ? 'not to root, which this runs as' : `not to the user this runs as (${EUID_NAME} (uid ${EUID})) or root`;
  const who = NOBODY_NAME ?? `uid ${NOBODY}`;
  return (
    `${subject} belongs to another user, ${NOBODY_NAME === undefined ? '' : `${NOBODY_NAME} (`}uid ${NOBODY}${NOBODY_NAME === undefined ? '' : ')'}, ${self}: ${risk}. ` +
    `If ${who} runs this log (a service's user, say), run serve as ${who} (e.g. sudo -u ${NOBODY_NAME ?? `'#${NOBODY}'`} cairn serve …): a chown to ${EUID_NAME} would stop ${who}'s starts from using it. ` +
    `Otherwise ${check}, then run: chown ${recursive ? '-R ' : ''}${EUID_NAME} ${path}`
  );
}

/** The permission bits of `path`, in octal. */
async function modeOf(path: string): Promise<string> {
  return ((await stat(path)).mode % 0o1000).toString(8);
}

/** Why a server could not start with `config`; one that does start is closed and 'started' returned (so that a failing test leaves none running). */
async function refusal(config: Omit<Parameters<typeof startServer>[0], 'host' | 'port'>): Promise<unknown> {
  try {
    const server = await startServer({ ...config, host: '127.0.0.1', port: 0 });
    await server.close();
    return 'started';
  } catch (err) {
    return err;
  }
}

/** Starts a server on `data` (and `key`, if given; `newLog` for a key made before the log), and closes it; resolves to what it said of its start. */
async function startAndStop(data: string, key?: string, newLog = false): Promise<RunningServer['startup']> {
  const server = await startServer({ data, host: '127.0.0.1', port: 0, ...(key === undefined ? {} : { key }), newLog });
  await server.close();
  return server.startup;
}

test('a data folder that group or others may write is refused, saying what to run, and nothing is made in it', async () => {
  const cases: [number, string][] = [
    [0o777, 'group and others'],
    [0o1777, 'group and others'],
    [0o775, 'its group'],
    [0o730, 'its group'],
    [0o702, 'others'],
  ];
  for (const [mode, who] of cases) {
    const data = join(dir(), `data-${mode.toString(8)}`);
    await mkdir(data);
    await chmod(data, mode);
    const err = await refusal({ data });
    expect(err).toBeInstanceOf(StartError);
    expect(err).toHaveProperty(
      'message',
      `the data folder ${data} may be written by ${who} (mode ${mode.toString(8)}): another user could put a key of their own in it or move its store away. ` +
        `Check what it holds, then run: chmod go-w ${data}`,
    );
    expect([mode, await readdir(data)]).toEqual([mode, []]);
  }
  // Read and enter by others (a folder made with the usual umask) is fine: only writing is refused.
  const readable = join(dir(), 'data-755');
  await mkdir(readable);
  await chmod(readable, 0o755);
  expect((await startAndStop(readable)).madeKey).toBe(true);
});

test("a data folder that holds a store's own files (its db/ named as the data folder, or db/'s files moved to its top) is refused, and nothing is made in it", async () => {
  const data = join(dir(), 'data');
  await startAndStop(data);
  const db = join(data, 'db');
  const held = (await readdir(db)).sort();
  const moved = join(dir(), 'moved');
  await cp(db, moved, { recursive: true });
  await chmod(moved, 0o700);
  const cases: [string, string | undefined][] = [
    [db, join(data, 'log.key')],
    [db, undefined],
    [moved, join(data, 'log.key')],
    [moved, undefined],
  ];
  const files = 'all of them (CURRENT, LOCK, LOG*, MANIFEST-* and the numbered .log, .ldb and .sst files)';
  for (const [folder, key] of cases) {
    const err = await refusal({ data: folder, ...(key === undefined ? {} : { key }) });
    expect(err).toBeInstanceOf(StartError);
    // Only a folder named db is given up for its parent: the parent of another (moved) would begin a new store in its own db/.
    const fix =
      folder === db
        ? `If it is a store's folder, give the folder that holds it instead (--data ${dirname(folder)}); if the store's files were moved here, move ${files} into ${folder}/db`
        : `Move ${files} into ${folder}/db; or, if it is a store's folder, make it the db/ of a data folder (mkdir -m 700 DATA && mv ${folder} DATA/db) and give that one (--data DATA)`;
    expect(err).toHaveProperty(
      'message',
      `the data folder ${folder} holds a store's own files (000003.log, CURRENT, MANIFEST-000002): it is a store's folder, or a store's files were put at its top. ` +
        `Serve keeps the store in ${folder}/db and would begin a new log there at size 0 instead of opening this one, with a new key or, if given this log's key (--key, or a log.key here), ` +
        `with that key: two different trees signed as one log; nothing was made or changed. ${fix}`,
    );
    // No db/ made in it, and no key.
    expect((await readdir(folder)).sort()).toEqual(held);
  }
  // The advice for the one not named db, followed, opens the log it holds (its parent, given, would have begun a new one).
  const made = join(dir(), 'made');
  execFileSync('bash', ['-c', `mkdir -m 700 ${made} && mv ${moved} ${made}/db`]);
  const reopened = await startAndStop(made, join(data, 'log.key'));
  expect([reopened.madeStore, reopened.newLog, reopened.madeKey]).toEqual([false, false, false]);
  // Files of other names at its top (a server's own log file, say) are no store's.
  const other = join(dir(), 'other');
  await mkdir(other, { mode: 0o700 });
  await writeFile(join(other, 'serve.log'), 'started\n');
  await writeFile(join(other, 'LOG'), '');
  expect((await startAndStop(other)).newLog).toBe(true);
});

test('a data folder given as a relative path is named in full when refused', async () => {
  const data = join(dir(), 'open');
  await mkdir(data);
  await chmod(data, 0o777);
  const cwd = process.cwd();
  process.chdir(dir());
  try {
    expect(await refusal({ data: 'open' })).toHaveProperty('message', expect.stringContaining(`the data folder ${data} may be written by group and others`));
  } finally {
    process.chdir(cwd);
  }
});

test('a data folder that belongs to another user is refused, with the chown to run', async () => {
  const data = join(dir(), 'theirs');
  await mkdir(data, { mode: 0o700 });
  await chown(data, NOBODY, NOBODY);
  expect(await refusal({ data })).toHaveProperty(
    'message',
    nobodyOwns(`the data folder ${data}`, data, 'that user could put a key of their own in it or move its store away', 'check what it holds (its key and its store)', true),
  );
  expect(await readdir(data)).toEqual([]);
  // Given back, it is used.
  await chown(data, EUID, EUID);
  expect((await startAndStop(data)).madeKey).toBe(true);
});

test('a key file that belongs to another user is refused by the server, named or the default one; other readers of key files are unchanged', async () => {
  const key = join(dir(), 'planted.key');
  await createKeyFile(key, 'o.example/log');
  await chown(key, NOBODY, NOBODY);
  const data = join(dir(), 'data');
  const message = nobodyOwns(`the key file ${key}`, key, 'that user could have put a key of their own in it, or change it later', "check that it is this log's key", false);
  const named = await refusal({ data, key });
  expect(named).toBeInstanceOf(KeyFileError);
  expect(named).toHaveProperty('message', message);
  // A named key is read before anything is made on disk.
  await expect(stat(data)).rejects.toThrow(/ENOENT/);
  // readKeyFile checks the owner only when asked (audit reads keys too, and is unchanged).
  expect((await readKeyFile(key)).origin).toBe('o.example/log');
  await expect(readKeyFile(key, { checkOwner: true })).rejects.toHaveProperty('message', message);

  // The default key, made on a first start, then given to another user.
  await startAndStop(data);
  const defaultKey = join(data, 'log.key');
  await chown(defaultKey, NOBODY, NOBODY);
  expect(await refusal({ data })).toHaveProperty('message', expect.stringContaining(`the key file ${defaultKey} belongs to another user, ${NOBODY_NAME ?? 'uid'}`));
  await chown(defaultKey, EUID, EUID);
  expect((await startAndStop(data)).madeKey).toBe(false);
});

test('a key in a folder that group or others may write, without the sticky bit, is refused by the server; a sticky or closed one is not', async () => {
  const data = join(dir(), 'data');
  for (const [mode, who] of [[0o777, 'group and others'], [0o775, 'its group'], [0o757, 'others']] as const) {
    const keys = join(dir(), `keys-${mode.toString(8)}`);
    await mkdir(keys);
    await chmod(keys, mode);
    const key = join(keys, 'log.key');
    await createKeyFile(key, 'o.example/log');
    const message =
      `the key file ${key} is in the folder ${keys}, which ${who} may write (mode ${mode.toString(8)}, no sticky bit): ` +
      `another user could remove the key or put a key of their own in its place. Check that it is this log's key, then run: chmod go-w ${keys} (or move the key to a folder that only its user may write)`;
    const err = await refusal({ data, key });
    expect(err).toBeInstanceOf(KeyFileError);
    expect(err).toHaveProperty('message', message);
    // Refused before anything is made on disk; readers that do not sign (audit) are unchanged.
    await expect(stat(data)).rejects.toThrow(/ENOENT/);
    expect((await readKeyFile(key)).origin).toBe('o.example/log');
    // Reached through a symbolic link in a closed folder, the folder it leads to counts too.
    const closed = join(dir(), `closed-${mode.toString(8)}`);
    await mkdir(closed, { mode: 0o700 });
    await symlink(key, join(closed, 'log.key'));
    await expect(readKeyFile(join(closed, 'log.key'), { checkOwner: true })).rejects.toHaveProperty(
      'message',
      message.replace(`the key file ${key} is`, `the key file ${join(closed, 'log.key')} is`),
    );
    // With the sticky bit (a shared folder such as /tmp), others cannot remove or rename it.
    await chmod(keys, mode + 0o1000);
    expect((await readKeyFile(key, { checkOwner: true })).origin).toBe('o.example/log');
  }
  const usual = join(dir(), 'etc-cairn');
  await mkdir(usual);
  await chmod(usual, 0o755);
  await createKeyFile(join(usual, 'log.key'), 'o.example/log');
  expect((await startAndStop(data, join(usual, 'log.key'), true)).madeKey).toBe(false);
});

test("a key in a folder that belongs to another user is refused by the server, whatever the folder's mode: that user may remove or replace the key in it", async () => {
  const data = join(dir(), 'data');
  for (const mode of [0o755, 0o700, 0o1777, 0o777]) {
    const keys = join(dir(), `theirs-${mode.toString(8)}`);
    await mkdir(keys);
    await chmod(keys, mode);
    const key = join(keys, 'log.key');
    await createKeyFile(key, 'o.example/log');
    await chown(keys, NOBODY, NOBODY);
    const message = nobodyOwns(
      `the key file ${key} is in the folder ${keys}, which`,
      keys,
      'that user could remove the key or put a key of their own in its place',
      "check that it is this log's key",
      false,
    );
    const err = await refusal({ data, key });
    expect(err).toBeInstanceOf(KeyFileError);
    expect([mode, (err as Error).message]).toEqual([mode, message]);
    // Refused before anything is made on disk; readers that do not sign (audit) are unchanged.
    await expect(stat(data)).rejects.toThrow(/ENOENT/);
    expect((await readKeyFile(key)).origin).toBe('o.example/log');
    // Reached through a symbolic link in a folder of this user's, the folder it leads to counts too.
    const link = join(dir(), `mine-${mode.toString(8)}`);
    await mkdir(link, { mode: 0o700 });
    await symlink(key, join(link, 'log.key'));
    await expect(readKeyFile(join(link, 'log.key'), { checkOwner: true })).rejects.toHaveProperty(
      'message',
      message.replace(`the key file ${key} is`, `the key file ${join(link, 'log.key')} is`),
    );
    // Given back, it is used.
    await chown(keys, EUID, EUID);
    await chmod(keys, 0o755);
    expect((await readKeyFile(key, { checkOwner: true })).origin).toBe('o.example/log');
  }
});

test('foreignOwner trusts only this process\'s user and root', () => {
  expect(foreignOwner(EUID)).toBeUndefined();
  expect(foreignOwner(0)).toBeUndefined();
  const other = EUID === NOBODY ? NOBODY - 1 : NOBODY;
  expect(foreignOwner(other)).toBe(EUID);
});

test("another user's file is refused naming its owner, by name where it has one, and running serve as that user comes before a chown", () => {
  const named = foreignOwnerProblem('the data folder', '/srv/cairn', NOBODY, 'risk', 'check it', true)!;
  expect(named).toBe(nobodyOwns('the data folder /srv/cairn', '/srv/cairn', 'risk', 'check it', true));
  expect(named.indexOf('sudo -u')).toBeLessThan(named.indexOf('chown -R'));
  // A uid with no name: sudo takes it as #UID.
  expect(foreignOwnerProblem('the key file', '/srv/k', UNNAMED, 'risk', 'check it')).toContain(
    `belongs to another user, uid ${UNNAMED}, not to `,
  );
  expect(foreignOwnerProblem('the key file', '/srv/k', UNNAMED, 'risk', 'check it')).toContain(
    `If uid ${UNNAMED} runs this log (a service's user, say), run serve as uid ${UNNAMED} (e.g. sudo -u '#${UNNAMED}' cairn serve …): a chown to ${EUID_NAME} would stop uid ${UNNAMED}'s starts from using it. Otherwise check it, then run: chown ${EUID_NAME} /srv/k`,
  );
});

test('the store folder is made 0700 in a data folder that others may enter, whatever the umask', async () => {
  const data = join(dir(), 'shared');
  await mkdir(data);
  await chmod(data, 0o755);
  const before = process.umask(0);
  let startup;
  try {
    startup = await startAndStop(data);
  } finally {
    process.umask(before);
  }
  expect([startup.madeStore, startup.newLog]).toEqual([true, true]);
  expect(startup.tightenedStoreMode).toBeUndefined();
  expect(await modeOf(join(data, 'db'))).toBe('700');
  // Its files (made with the umask) are out of other users' reach through it.
  expect((await readdir(join(data, 'db'))).length).toBeGreaterThan(0);
});

test('an existing store folder that group or others may enter is made 0700, and the start says so', async () => {
  const data = join(dir(), 'data');
  await startAndStop(data);
  const db = join(data, 'db');
  for (const mode of [0o755, 0o750, 0o701, 0o777]) {
    await chmod(db, mode);
    const startup = await startAndStop(data);
    expect([mode, startup.tightenedStoreMode, await modeOf(db)]).toEqual([mode, mode, '700']);
    expect([startup.madeStore, startup.newLog]).toEqual([false, false]);
  }
  // A closed one is left alone, and nothing is said.
  expect((await startAndStop(data)).tightenedStoreMode).toBeUndefined();
});

test('a store folder that belongs to another user is refused', async () => {
  const data = join(dir(), 'data');
  await startAndStop(data);
  const db = join(data, 'db');
  await chown(db, NOBODY, NOBODY);
  expect(await refusal({ data })).toHaveProperty(
    'message',
    nobodyOwns(`the store's folder ${db}`, db, "that user could change the log's store", 'check it', true),
  );
});

test('a store folder that is a file is still left for the store to report', async () => {
  const data = join(dir(), 'data');
  await mkdir(data, { mode: 0o700 });
  await writeFile(join(data, 'db'), 'not a folder');
  expect(await refusal({ data })).toHaveProperty('message', expect.stringContaining(`cannot open the store in ${join(data, 'db')}: `));
  // Once the file is out of the way, a new store is made there.
  await rename(join(data, 'db'), join(data, 'db.file'));
  const startup = await startAndStop(data);
  expect([startup.madeStore, startup.newLog, startup.madeKey]).toEqual([true, true, true]);
});
