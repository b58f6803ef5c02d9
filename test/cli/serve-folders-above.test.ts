// The folders above the key file and the data folder, as sshd's StrictModes
// walks them: a user who may write in any of them (group or others, with no
// sticky bit) can rename the folder in it that leads to the key, or to the
// data folder, and put one of their own in its place; so can its owner,
// when that is another user than the server's and root. The folders that
// hold a symbolic link on the way count too. The tests of writable folders
// hold whoever runs them; those of another user's folder give it to uid
// 65534 (nobody), which needs root, as serve-folder-safety.test.ts does.
import { chmod, chown, stat, symlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKeyFile, KeyFileError, keyTempPath, readKeyFile } from '../../src/cli/key-file.js';
import { startupWarnings } from '../../src/cli/serve.js';
import { startServer } from '../../src/cli/server.js';
import { StartError } from '../../src/cli/start-error.js';
import { hashToken } from '../../src/http/access.js';
import { foldersLeadingTo, isPrivateGroup, joinAsGiven, parseAccounts, sharedFolderWarnings } from '../../src/file-trust.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { EUID, EUID_NAME, folder, NOBODY, NOBODY_NAME } from '../helpers/users.js';

const dir = useTempDir('cairn-folders-above-', { closedAbove: true });

/** A new key file in a new folder closed to others, `keys`, which is made in `parent`. */
async function keyIn(parent: string): Promise<string> {
  const key = join(await folder(join(parent, 'keys'), 0o700), 'log.key');
  await createKeyFile(key, 'o.example/log');
  return key;
}

/** Why a server could not start on `data` (with `key`, if given); one that does start is closed and 'started' returned. */
async function refusal(data: string, key?: string): Promise<unknown> {
  try {
    const server = await startServer({ data, host: '127.0.0.1', port: 0, ...(key === undefined ? {} : { key, newLog: true }) });
    await server.close();
    return 'started';
  } catch (err) {
    return err;
  }
}

/** The refusal of a key under (or in) `open`, which `who` may write with `mode`. */
function openKeyFolder(key: string, open: string, who: string, mode: number, holds = false): string {
  const risk = holds ? 'remove the key or put a key of their own in its place' : 'rename the folder or link in it that leads to the key, and put a key of their own in its place';
  return (
    `the key file ${key} is ${holds ? 'in' : 'under'} the folder ${open}, which ${who} may write (mode ${mode.toString(8)}, no sticky bit): ` +
    `another user could ${risk}. Check that it is this log's key, then run: chmod go-w ${open} (or move the key ${holds ? 'to' : 'out of it, to'} a folder that only its user may write)`
  );
}

/** The refusal of a data folder under (or in) `open`, which `who` may write with `mode`. */
function openDataFolder(data: string, open: string, who: string, mode: number, holds = false): string {
  const risk = `${holds ? '' : 'rename the folder or link in it that leads to the data folder, and so '}move the data folder away, and its store with it, or put one of their own in its place`;
  return (
    `the data folder ${data} is ${holds ? 'in' : 'under'} the folder ${open}, which ${who} may write (mode ${mode.toString(8)}, no sticky bit): another user could ${risk}. ` +
    `Check what the data folder holds (its key and its store), then run: chmod go-w ${open} (or move the data folder out of it, to a folder that only its user may write)`
  );
}

/** The refusal of `subject` (the words before "belongs") for a folder of nobody's above it, `theirs`, with the advice to move `what` out of it. */
function nobodyAbove(subject: string, theirs: string, risk: string, check: string, what: string): string {
  const self = EUID === 0 ? 'not to root, which this runs as' : `not to the user this runs as (${EUID_NAME} (uid ${EUID})) or root`;
  const who = NOBODY_NAME ?? `uid ${NOBODY}`;
  return (
    `${subject} belongs to another user, ${NOBODY_NAME === undefined ? '' : `${NOBODY_NAME} (`}uid ${NOBODY}${NOBODY_NAME === undefined ? '' : ')'}, ${self}: that user could ${risk}. ` +
    `If ${who} runs this log (a service's user, say), run serve as ${who} (e.g. sudo -u ${NOBODY_NAME ?? `'#${NOBODY}'`} cairn serve …). ` +
    `Otherwise ${check}, then move ${what} out of ${theirs}, into a folder that, like every folder above it, belongs to ${EUID === 0 ? 'root' : `${EUID_NAME} or root`} and that no other user may write`
  );
}

test('a key whose closed folder is in a folder that others may write, without the sticky bit, is refused by the server, however far up that folder is', async () => {
  const data = join(dir(), 'data');
  for (const [mode, who] of [[0o757, 'others'], [0o773, 'group and others'], [0o777, 'group and others']] as const) {
    const shared = await folder(join(dir(), `shared-${mode.toString(8)}`), mode);
    const key = await keyIn(shared);
    const err = await refusal(data, key);
    expect(err).toBeInstanceOf(KeyFileError);
    expect([mode, (err as Error).message]).toEqual([mode, openKeyFolder(key, shared, who, mode)]);
    // Refused before anything is made on disk; readers that do not sign (audit) are unchanged.
    await expect(stat(data)).rejects.toThrow(/ENOENT/);
    expect((await readKeyFile(key)).origin).toBe('o.example/log');
    // Three folders further down, it is still refused, naming the same folder.
    const deep = await keyIn(await folder(join(shared, 'a', 'b', 'c'), 0o700));
    await chmod(join(shared, 'a'), 0o755);
    await chmod(join(shared, 'a', 'b'), 0o755);
    await expect(readKeyFile(deep, { checkOwner: true })).rejects.toHaveProperty('message', openKeyFolder(deep, shared, who, mode));
    // With the sticky bit (a shared folder such as /tmp), others cannot rename what is in it.
    await chmod(shared, mode + 0o1000);
    expect((await readKeyFile(key, { checkOwner: true })).origin).toBe('o.example/log');
    expect((await readKeyFile(deep, { checkOwner: true })).origin).toBe('o.example/log');
  }
});

test('the nearest open folder is named: the one that holds the key before one above it', async () => {
  const top = await folder(join(dir(), 'top'), 0o777);
  const keys = await folder(join(top, 'keys'), 0o775);
  const key = join(keys, 'log.key');
  await createKeyFile(key, 'o.example/log');
  await expect(readKeyFile(key, { checkOwner: true })).rejects.toHaveProperty('message', openKeyFolder(key, keys, 'its group', 0o775, true));
  await chmod(keys, 0o755);
  await expect(readKeyFile(key, { checkOwner: true })).rejects.toHaveProperty('message', openKeyFolder(key, top, 'group and others', 0o777));
});

test('a key reached through a symbolic link held in an open folder is refused, as is one whose link leads through such a link', async () => {
  const closed = await folder(join(dir(), 'closed'), 0o700);
  const real = await keyIn(closed);
  const open = await folder(join(dir(), 'open'), 0o777);
  // The path names a link to a folder, in an open folder: another user could point it at a folder of theirs.
  await symlink('../closed/keys', join(open, 'keys'));
  const viaFolderLink = join(open, 'keys', 'log.key');
  await expect(readKeyFile(viaFolderLink, { checkOwner: true })).rejects.toHaveProperty('message', openKeyFolder(viaFolderLink, open, 'group and others', 0o777));
  // A link in a closed folder whose target goes through that link: the open folder is met only on the way.
  const mine = await folder(join(dir(), 'mine'), 0o700);
  await symlink(viaFolderLink, join(mine, 'log.key'));
  const viaKeyLink = join(mine, 'log.key');
  await expect(readKeyFile(viaKeyLink, { checkOwner: true })).rejects.toHaveProperty('message', openKeyFolder(viaKeyLink, open, 'group and others', 0o777));
  // Closed, or sticky, it is fine; so is the key itself.
  await chmod(open, 0o1777);
  expect((await readKeyFile(viaKeyLink, { checkOwner: true })).origin).toBe('o.example/log');
  await chmod(open, 0o755);
  expect((await readKeyFile(viaFolderLink, { checkOwner: true })).origin).toBe('o.example/log');
  expect((await readKeyFile(real, { checkOwner: true })).origin).toBe('o.example/log');
});

test('the usual layouts pass: a key and data folder under a sticky shared folder, in a home-like folder of this user, and the default data folder under a working folder', async () => {
  // /tmp-like: sticky and open to all, with this user's closed folder in it.
  const sharedTmp = await folder(join(dir(), 'tmp'), 0o1777);
  const key = await keyIn(await folder(join(sharedTmp, 'me'), 0o700));
  const first = await startServer({ data: join(sharedTmp, 'me', 'data'), key, newLog: true, host: '127.0.0.1', port: 0 });
  await first.close();
  expect([first.startup.madeStore, first.startup.madeKey]).toEqual([true, false]);
  // A home (this user's, 0755 or 0750) holding a checkout, whose default data folder is given as a relative path.
  for (const mode of [0o755, 0o750]) {
    const home = await folder(join(dir(), `home-${mode.toString(8)}`), mode);
    const checkout = await folder(join(home, 'src', 'cairn'), 0o755);
    const cwd = process.cwd();
    process.chdir(checkout);
    try {
      const server = await startServer({ data: 'data', host: '127.0.0.1', port: 0 });
      await server.close();
      expect([mode, server.startup.madeKey]).toEqual([mode, true]);
    } finally {
      process.chdir(cwd);
    }
  }
});

test('a data folder in or under a folder that others may write, without the sticky bit, is refused, and not made; sticky or closed, it is used', async () => {
  for (const [mode, who] of [[0o757, 'others'], [0o777, 'group and others']] as const) {
    const shared = await folder(join(dir(), `shared-${mode.toString(8)}`), mode);
    const data = join(shared, 'data');
    const err = await refusal(data);
    expect(err).toBeInstanceOf(StartError);
    expect([mode, (err as Error).message]).toEqual([mode, openDataFolder(data, shared, who, mode, true)]);
    // Nothing made: not the data folder, nor a store or key in it.
    await expect(stat(data)).rejects.toThrow(/ENOENT/);
    // Further down, with none of the missing folders made either.
    const deep = join(await folder(join(shared, 'srv'), 0o755), 'cairn', 'data');
    expect(await refusal(deep)).toHaveProperty('message', openDataFolder(deep, shared, who, mode));
    await expect(stat(join(shared, 'srv', 'cairn'))).rejects.toThrow(/ENOENT/);
    await chmod(shared, mode + 0o1000);
    expect(await refusal(data)).toBe('started');
    expect(await refusal(deep)).toBe('started');
  }
  // Reached through a link held in an open folder.
  const open = await folder(join(dir(), 'open'), 0o777);
  const target = await folder(join(dir(), 'closed', 'data'), 0o700);
  await symlink(target, join(open, 'data'));
  expect(await refusal(join(open, 'data'))).toHaveProperty('message', openDataFolder(join(open, 'data'), open, 'group and others', 0o777, true));
  await chmod(open, 0o755);
  expect(await refusal(join(open, 'data'))).toBe('started');
});

/** A key in `theirs/cairn/keys` and a data folder `theirs/cairn/data`, with `theirs` (a home, say) then given to nobody. */
async function underNobodysFolder(): Promise<{ theirs: string; key: string; data: string }> {
  const theirs = await folder(join(dir(), 'home', 'them'), 0o755);
  await chmod(join(dir(), 'home'), 0o755);
  const key = await keyIn(await folder(join(theirs, 'cairn'), 0o755));
  const data = await folder(join(theirs, 'cairn', 'data'), 0o700);
  await chown(theirs, NOBODY, NOBODY);
  return { theirs, key, data };
}

test('a key under a folder that belongs to another user is refused, with the advice to move it out (a chown of, say, their home would take it from them)', async () => {
  const { theirs, key } = await underNobodysFolder();
  const err = await refusal(join(dir(), 'data'), key);
  expect(err).toBeInstanceOf(KeyFileError);
  expect(err).toHaveProperty(
    'message',
    nobodyAbove(
      `the key file ${key} is under the folder ${theirs}, which`,
      theirs,
      'rename the folder or link in it that leads to the key, and put a key of their own in its place',
      "check that it is this log's key",
      'the key',
    ),
  );
  // Given back (or moved out), it is used.
  await chown(theirs, EUID, EUID);
  expect(await refusal(join(dir(), 'data'), key)).toBe('started');
});

test('a data folder under a folder that belongs to another user is refused, with the advice to move it out', async () => {
  const { theirs, data } = await underNobodysFolder();
  const err = await refusal(data);
  expect(err).toBeInstanceOf(StartError);
  expect(err).toHaveProperty(
    'message',
    nobodyAbove(
      `the data folder ${data} is under the folder ${theirs}, which`,
      theirs,
      'rename the folder or link in it that leads to the data folder, and so move the data folder away, and its store with it, or put one of their own in its place',
      'check what the data folder holds (its key and its store)',
      'the data folder',
    ),
  );
  await expect(stat(join(data, 'db'))).rejects.toThrow(/ENOENT/);
  // Given back (or moved out), it is used.
  await chown(theirs, EUID, EUID);
  expect(await refusal(data)).toBe('started');
});

/** A gid that /etc/group does not list (a Kubernetes fsGroup, say), and so no user's private group. */
const UNLISTED_GID = (() => {
  const listed = new Set(readFileSync('/etc/group', 'utf8').split('\n').map((line) => line.split(':')[2]));
  let gid = 4242;
  while (listed.has(String(gid))) gid++;
  return gid;
})();

/** Who owns the folders made here, as a warning names them. */
const OWNER = EUID === 0 ? 'root' : `${EUID_NAME} (uid ${EUID})`;
/** What a user who may write the folder that holds the data folder could do, and one above the key. */
const DATA_RISK = 'move the data folder away, and its store with it, or put one of their own in its place';
const KEY_RISK = 'rename the folder or link in it that leads to the key, and put a key of their own in its place';

/** The start-up warning of `path` (`file`, `moved`) under `shared`, which this user owns and the unlisted group may write with `mode`. */
function sharedWarning(file: string, path: string, shared: string, mode: number, risk: string, moved: string): string {
  return (
    `${file} ${path} is under the folder ${shared}, which belongs to ${OWNER} and which the group with gid ${UNLISTED_GID} (not listed in /etc/group) may write too (mode ${mode.toString(8)}): ` +
    `its members could ${risk}. If every one of them may, leave it; else run: chmod g-w ${shared} (or move ${moved} out of it, to a folder that only its user may write)`
  );
}

test("a folder above the key and the data folder that only its owner's private group may write passes (umask 002); one another group may write passes with a start-up warning naming it (a Kubernetes fsGroup volume); the key's own folder is refused as before", async () => {
  const egid = process.getegid!();
  // This user's own group is a private group (root's is, and so is every user's under Debian's, Ubuntu's and Fedora's user private groups).
  expect(isPrivateGroup(EUID, egid)).toBe(true);
  // A checkout made under umask 002: 0775, this user's private group.
  const checkout = await folder(join(dir(), 'checkout'), 0o775);
  await chown(checkout, EUID, egid);
  const key = await keyIn(checkout);
  const started = await startServer({ data: join(checkout, 'data'), key, newLog: true, host: '127.0.0.1', port: 0 });
  await started.close();
  expect(started.startup.sharedFolders).toBeUndefined();
  // A volume with the setgid bit, its group another's (an fsGroup): started, and warned of once, though both the key and the data folder are in it or under it.
  const volume = await folder(join(dir(), 'volume'), 0o2775);
  await chown(volume, EUID, UNLISTED_GID);
  await chmod(volume, 0o2775);
  const volumeKey = await keyIn(volume);
  const data = join(volume, 'cairn');
  const server = await startServer({ data, key: volumeKey, newLog: true, host: '127.0.0.1', port: 0 });
  await server.close();
  const warning =
    `the data folder ${data} is in, and the key file ${volumeKey} under, the folder ${volume}, which belongs to ${OWNER} and which the group with gid ${UNLISTED_GID} (not listed in /etc/group) may write too (mode 2775): ` +
    `its members could ${DATA_RISK}; or ${KEY_RISK}. If every one of them may, leave it; else run: chmod g-w ${volume} (or move the data folder and the key out of it, to a folder that only its user may write)`;
  expect(server.startup.sharedFolders).toEqual([warning]);
  // serve prints it among its start-up warnings.
  expect(startupWarnings(server.startup).filter((w) => w.includes(volume))).toEqual([warning]);
  // The key's own folder, its group's to write, is refused as before, private group or not.
  const keys = await folder(join(volume, 'own'), 0o775);
  await chown(keys, EUID, egid);
  const own = join(keys, 'log.key');
  await createKeyFile(own, 'o.example/log');
  expect(await refusal(join(dir(), 'other-data'), own)).toHaveProperty('message', openKeyFolder(own, keys, 'its group', 0o775, true));
});

test('a folder that a group other than its owner\'s private one may write is warned of once, naming the token file, the key and the data folder under it; a second such folder, above the key alone, has a line of its own', async () => {
  const volume = await folder(join(dir(), 'volume'), 0o775);
  await chown(volume, EUID, UNLISTED_GID);
  const tokens = join(await folder(join(volume, 'conf'), 0o755), 'tokens');
  await writeFile(tokens, `ops admin ${hashToken('ops-token-0123456789')}\n`);
  await chmod(tokens, 0o644);
  const inner = await folder(join(volume, 'inner'), 0o775);
  await chown(inner, EUID, UNLISTED_GID);
  const key = await keyIn(inner);
  const data = join(await folder(join(volume, 'srv'), 0o755), 'cairn');
  const server = await startServer({ data, key, tokens, newLog: true, host: '127.0.0.1', port: 0 });
  await server.close();
  const tokenRisk = 'rename the folder or link in it that leads to the token file, and put one of their own in its place, with tokens of theirs';
  const dataRisk = `rename the folder or link in it that leads to the data folder, and so ${DATA_RISK}`;
  expect(server.startup.sharedFolders).toEqual([
    `the token file ${tokens}, the key file ${key} and the data folder ${data} are under the folder ${volume}, which belongs to ${OWNER} and which the group with gid ${UNLISTED_GID} (not listed in /etc/group) may write too (mode 775): ` +
      `its members could ${tokenRisk}; or ${KEY_RISK}; or ${dataRisk}. If every one of them may, leave it; else run: chmod g-w ${volume} (or move the token file, the key and the data folder out of it, to a folder that only its user may write)`,
    sharedWarning('the key file', key, inner, 0o775, KEY_RISK, 'the key'),
  ]);
});

test('a file found twice under one shared folder is named once in its warning', () => {
  const shared = { folder: '/srv/volume', holds: false, uid: EUID, gid: UNLISTED_GID, mode: 0o40775 };
  const words = { file: 'the key file', moved: 'the key', risk: () => KEY_RISK, check: "check that it is this log's key", holderIsOwn: true };
  const found = { path: '/srv/volume/keys/log.key', words, shared };
  expect(sharedFolderWarnings([found, found])).toEqual([sharedWarning('the key file', found.path, shared.folder, 0o775, KEY_RISK, 'the key')]);
});

test("whose private group a group is: the owner's primary group, named as the owner, with no other member and no other user's primary group (Debian's sshd rule)", () => {
  const passwd = 'root:x:0:0:root:/root:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/sh\nbob:x:1002:1002::/home/bob:/bin/sh\ncarol:x:1003:100::/home/carol:/bin/sh\n';
  const groups = (alice: string) => `root:x:0:\nusers:x:100:\n${alice}\nbob:x:1002:\n`;
  const accounts = (alice: string, more = '') => parseAccounts(passwd + more, groups(alice));
  expect(isPrivateGroup(1001, 1001, accounts('alice:x:1001:'))).toBe(true);
  expect(isPrivateGroup(1001, 1001, accounts('alice:x:1001:alice'))).toBe(true);
  expect(isPrivateGroup(0, 0, accounts('alice:x:1001:'))).toBe(true);
  // A member besides the owner, another name, another user's primary group too, not the owner's primary group, not listed.
  expect(isPrivateGroup(1001, 1001, accounts('alice:x:1001:alice,bob'))).toBe(false);
  expect(isPrivateGroup(1001, 1001, accounts('staff:x:1001:'))).toBe(false);
  expect(isPrivateGroup(1001, 1001, accounts('alice:x:1001:', 'dave:x:1004:1001::/:/bin/sh\n'))).toBe(false);
  expect(isPrivateGroup(1001, 1002, accounts('alice:x:1001:'))).toBe(false);
  expect(isPrivateGroup(1003, 100, accounts('alice:x:1001:'))).toBe(false);
  expect(isPrivateGroup(1001, 4242, accounts('alice:x:1001:'))).toBe(false);
  // Where /etc/passwd and /etc/group cannot be read, no group is private (the folder is warned of).
  expect(isPrivateGroup(1001, 1001, null)).toBe(false);
});

test("a '..' after a symbolic link is taken as the kernel takes it: from the link's target, so the folder that holds the link is judged, and the key file named at start-up is the one read", async () => {
  const safe = await folder(join(dir(), 'safe'), 0o755);
  await folder(join(safe, 'sub'), 0o755);
  const key = join(safe, 'log.key');
  await createKeyFile(key, 'o.example/log');
  const open = await folder(join(dir(), 'open'), 0o777);
  await symlink(join(safe, 'sub'), join(open, 'link'));
  const viaLink = join(open, 'link', '..', 'log.key').replace(`${open}/log.key`, `${open}/link/../log.key`);
  expect(viaLink).toBe(`${open}/link/../log.key`);
  expect((await foldersLeadingTo(viaLink)).slice(0, 1)).toEqual([{ folder: safe, holds: true }]);
  expect((await foldersLeadingTo(viaLink)).map((f) => f.folder)).toContain(open);
  expect(await refusal(join(dir(), 'data'), viaLink)).toHaveProperty('message', openKeyFolder(viaLink, open, 'group and others', 0o777));
  // Closed, it starts, naming the key file the kernel opened, not open/log.key; a relative path is taken from the working folder.
  await chmod(open, 0o755);
  const cwd = process.cwd();
  process.chdir(dir());
  try {
    const server = await startServer({ data: 'data', key: 'open/link/../log.key', newLog: true, host: '127.0.0.1', port: 0 });
    await server.close();
    expect(server.startup.keyFile).toBe(key);
  } finally {
    process.chdir(cwd);
  }
});

test("joinAsGiven puts names after a folder as the kernel takes them, a '..' kept where path.join would drop it with the link's name before it; a key's temporary file is made beside it so", () => {
  expect(joinAsGiven('link/../data', 'db')).toBe('link/../data/db');
  expect(joinAsGiven('/tmp/link/..', 'log.key')).toBe('/tmp/link/../log.key');
  expect(joinAsGiven('./data/', 'db')).toBe('data/db');
  expect(joinAsGiven('../data', 'db')).toBe('../data/db');
  expect(joinAsGiven('/', 'db')).toBe('/db');
  expect(joinAsGiven('.')).toBe('.');
  expect(keyTempPath('keys/link/../log.key')).toMatch(/^keys\/link\/\.\.\/\.log\.key\.[0-9a-f]{12}\.tmp$/);
});
