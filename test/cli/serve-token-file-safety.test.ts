// What `startServer` (cairn serve --tokens FILE) accepts as its token file
// when other local users exist, as it does for its key file: whoever may
// write the file, or remove or replace it, can give themselves a token of
// any role, admin too. So the file must belong to the server's user or
// root, and no folder from its own up to / (symbolic links judged by their
// targets, and by the folders that hold them) may belong to another user or
// be writable by group or others without the sticky bit. readTokenFile
// checks owners and folders only when asked (checkOwner), as readKeyFile
// does. The tests of writable folders hold whoever runs them; those of
// another user's file or folder give it to uid 65534 (nobody), which needs
// root, as serve-folder-safety.test.ts does.
import { chmod, chown, open, stat, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { startServer } from '../../src/cli/server.js';
import { AccessConfigError, hashToken, readTokenFile, type TokenFileCalls } from '../../src/http/access.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { EUID, EUID_NAME, folder, NOBODY, NOBODY_NAME } from '../helpers/users.js';

const dir = useTempDir('cairn-token-file-safety-', { closedAbove: true });

const CHECK = 'check that the token file lists only the tokens you gave out';
const LINE = `ops admin ${hashToken('ops-token-0123456789')}\n`;

/** A token file `tokens` (mode 0644, as a file that need not be secret may be) in `parent`. */
async function tokensIn(parent: string): Promise<string> {
  const path = join(parent, 'tokens');
  await writeFile(path, LINE);
  await chmod(path, 0o644);
  return path;
}

/** Why a server could not start with the token file `tokens`; one that does start is closed and 'started' returned. */
async function refusal(tokens: string, data = join(dir(), 'data')): Promise<unknown> {
  try {
    const server = await startServer({ data, host: '127.0.0.1', port: 0, tokens });
    await server.close();
    return 'started';
  } catch (err) {
    return err;
  }
}

/** The refusal of a token file under (or in) `open`, which `who` may write with `mode`. */
function openTokenFolder(tokens: string, open: string, who: string, mode: number, holds = false): string {
  const risk = holds
    ? 'remove the token file or put one of their own in its place, with tokens of theirs'
    : 'rename the folder or link in it that leads to the token file, and put one of their own in its place, with tokens of theirs';
  return (
    `the token file ${tokens} is ${holds ? 'in' : 'under'} the folder ${open}, which ${who} may write (mode ${mode.toString(8)}, no sticky bit): ` +
    `another user could ${risk}. Check that the token file lists only the tokens you gave out, then run: chmod go-w ${open} ` +
    `(or move the token file ${holds ? 'to' : 'out of it, to'} a folder that only its user may write)`
  );
}

/** The words, in a refusal of something nobody owns, from "belongs" to "run serve as nobody (…)". */
function nobodyBelongs(risk: string): string {
  const self = EUID === 0 ? 'not to root, which this runs as' : `not to the user this runs as (${EUID_NAME} (uid ${EUID})) or root`;
  const who = NOBODY_NAME ?? `uid ${NOBODY}`;
  return (
    `belongs to another user, ${NOBODY_NAME === undefined ? '' : `${NOBODY_NAME} (`}uid ${NOBODY}${NOBODY_NAME === undefined ? '' : ')'}, ${self}: ${risk}. ` +
    `If ${who} runs this log (a service's user, say), run serve as ${who} (e.g. sudo -u ${NOBODY_NAME ?? `'#${NOBODY}'`} cairn serve …)`
  );
}

/** The refusal of `subject` (the words before "belongs"), which names `path`, owned by nobody: the chown to run. */
function nobodyOwns(subject: string, path: string, risk: string): string {
  const who = NOBODY_NAME ?? `uid ${NOBODY}`;
  return `${subject} ${nobodyBelongs(risk)}: a chown to ${EUID_NAME} would stop ${who}'s starts from using it. Otherwise ${CHECK}, then run: chown ${EUID_NAME} ${path}`;
}

/** The refusal of the token file `path`, which nobody owns: run serve as nobody, or give the file to root, whom every user serve runs as trusts (not to this user: nobody's starts may still read a 0644 file). */
function nobodyOwnsTokens(path: string): string {
  return (
    `the token file ${path} ${nobodyBelongs('that user could add a token of their own to it, with any role (admin too), or change it later')}. ` +
    `Otherwise ${CHECK}, then run as root: chown root ${path} (a file of root's is trusted by whichever user serve runs as)`
  );
}

test('a token file in or under a folder that group or others may write, without the sticky bit, is refused by the server, before anything is made; sticky or closed, it is used', async () => {
  const data = join(dir(), 'data');
  for (const [mode, who] of [[0o775, 'its group'], [0o757, 'others'], [0o777, 'group and others']] as const) {
    const shared = await folder(join(dir(), `shared-${mode.toString(8)}`), mode);
    const tokens = await tokensIn(shared);
    const err = await refusal(tokens, data);
    expect(err).toBeInstanceOf(AccessConfigError);
    expect([mode, (err as Error).message]).toEqual([mode, openTokenFolder(tokens, shared, who, mode, true)]);
    await expect(stat(data)).rejects.toThrow(/ENOENT/);
    // Library callers that do not ask for owners are unchanged.
    expect(await readTokenFile(tokens)).toHaveLength(1);
    // Three closed folders further down, it is still refused, naming the same folder.
    const deep = await tokensIn(await folder(join(shared, 'a', 'b', 'c'), 0o700));
    await chmod(join(shared, 'a'), 0o755);
    await chmod(join(shared, 'a', 'b'), 0o755);
    if (mode === 0o775) {
      // Above the file's own folder, a folder that only its owner's private group (root's, here) may write passes (umask 002).
      expect(await readTokenFile(deep, { checkOwner: true })).toHaveLength(1);
    } else {
      await expect(readTokenFile(deep, { checkOwner: true })).rejects.toHaveProperty('message', openTokenFolder(deep, shared, who, mode));
    }
    // Reached through a symbolic link in a closed folder, the folder it leads to counts.
    const closed = await folder(join(dir(), `closed-${mode.toString(8)}`), 0o700);
    await symlink(tokens, join(closed, 'tokens'));
    await expect(readTokenFile(join(closed, 'tokens'), { checkOwner: true })).rejects.toHaveProperty(
      'message',
      openTokenFolder(join(closed, 'tokens'), shared, who, mode, true),
    );
    // With the sticky bit (a shared folder such as /tmp), others cannot remove or rename what is in it.
    await chmod(shared, mode + 0o1000);
    expect(await readTokenFile(tokens, { checkOwner: true })).toHaveLength(1);
    expect(await readTokenFile(deep, { checkOwner: true })).toHaveLength(1);
    expect(await readTokenFile(join(closed, 'tokens'), { checkOwner: true })).toHaveLength(1);
  }
  // The usual layout: /etc/cairn-like, 0755, with the file 0644.
  const server = await startServer({ data, host: '127.0.0.1', port: 0, tokens: await tokensIn(await folder(join(dir(), 'etc-cairn'), 0o755)) });
  await server.close();
  expect(server.accessSummary).toContain('/metrics needs a token of role admin (1 has it)');
});

test('a token file reached through a symbolic link held in an open folder is refused: another user could point the link elsewhere', async () => {
  const real = await tokensIn(await folder(join(dir(), 'closed', 'conf'), 0o700));
  const open = await folder(join(dir(), 'open'), 0o777);
  await symlink('../closed/conf', join(open, 'conf'));
  const viaFolderLink = join(open, 'conf', 'tokens');
  expect(await refusal(viaFolderLink)).toHaveProperty('message', openTokenFolder(viaFolderLink, open, 'group and others', 0o777));
  const mine = await folder(join(dir(), 'mine'), 0o700);
  await symlink(viaFolderLink, join(mine, 'tokens'));
  await expect(readTokenFile(join(mine, 'tokens'), { checkOwner: true })).rejects.toHaveProperty(
    'message',
    openTokenFolder(join(mine, 'tokens'), open, 'group and others', 0o777),
  );
  await chmod(open, 0o1777);
  expect(await readTokenFile(join(mine, 'tokens'), { checkOwner: true })).toHaveLength(1);
  expect(await readTokenFile(real, { checkOwner: true })).toHaveLength(1);
});

test('a FIFO or a socket given as the token file is refused at once, not waited on', async () => {
  const conf = await folder(join(dir(), 'conf'), 0o700);
  const fifo = join(conf, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const notRegular = (path: string) => new AccessConfigError(`the token file ${path} is not a regular file (a device, FIFO or socket); give a text file with one token a line`);
  await expect(readTokenFile(fifo)).rejects.toThrow(notRegular(fifo));
  const socketPath = join(conf, 'socket');
  const socketServer = createServer().listen(socketPath);
  await once(socketServer, 'listening');
  try {
    await expect(readTokenFile(socketPath)).rejects.toThrow(notRegular(socketPath));
  } finally {
    socketServer.close();
  }
});

test('a token file that belongs to another user is refused by the server, whatever its mode: that user could add a token of role admin', async () => {
  const tokens = await tokensIn(await folder(join(dir(), 'conf'), 0o755));
  await chown(tokens, NOBODY, NOBODY);
  const message = nobodyOwnsTokens(tokens);
  const data = join(dir(), 'data');
  const err = await refusal(tokens, data);
  expect(err).toBeInstanceOf(AccessConfigError);
  expect(err).toHaveProperty('message', message);
  await expect(stat(data)).rejects.toThrow(/ENOENT/);
  // Library callers that do not ask for owners are unchanged.
  expect(await readTokenFile(tokens)).toHaveLength(1);
  // One its group may write is refused to them too, with the chmod its owner or root may run.
  await chmod(tokens, 0o664);
  await expect(readTokenFile(tokens)).rejects.toThrow(
    new AccessConfigError(`the token file ${tokens} is writable by group or others (mode 664); it belongs to ${NOBODY_NAME === undefined ? '' : `${NOBODY_NAME} (`}uid ${NOBODY}${NOBODY_NAME === undefined ? '' : ')'}, so run as root: chmod go-w ${tokens}`),
  );
  await chmod(tokens, 0o644);
  // Given back, it is used.
  await chown(tokens, EUID, EUID);
  expect(await refusal(tokens, data)).toBe('started');
});

test("a token file in a folder that belongs to another user is refused, with the chown to run; under one, with the advice to move it out", async () => {
  const theirs = await folder(join(dir(), 'theirs'), 0o755);
  const tokens = await tokensIn(theirs);
  await chown(theirs, NOBODY, NOBODY);
  const subject = `the token file ${tokens} is in the folder ${theirs}, which`;
  expect(await refusal(tokens)).toHaveProperty(
    'message',
    nobodyOwns(subject, theirs, 'that user could remove the token file or put one of their own in its place, with tokens of theirs'),
  );
  // Under it (their home, say), a chown would take it from them: move the file out.
  const deep = await tokensIn(await folder(join(theirs, 'conf'), 0o700));
  await chown(join(theirs, 'conf'), EUID, EUID);
  const owners = EUID === 0 ? 'root' : `${EUID_NAME} or root`;
  expect(await refusal(deep)).toHaveProperty(
    'message',
    `the token file ${deep} is under the folder ${theirs}, which ` +
      nobodyBelongs('that user could rename the folder or link in it that leads to the token file, and put one of their own in its place, with tokens of theirs') +
      `. Otherwise ${CHECK}, then move the token file out of ${theirs}, into a folder that, like every folder above it, belongs to ${owners} and that no other user may write`,
  );
  await chown(theirs, EUID, EUID);
  expect(await readTokenFile(deep, { checkOwner: true })).toHaveLength(1);
});

test('what the token file path names is looked at before it is opened: a device is never opened (opening one may do something), and a file replaced between the look and the open is refused', async () => {
  const conf = await folder(join(dir(), 'conf'), 0o700);
  const tokens = await tokensIn(conf);
  const opened: string[] = [];
  const calls = (look: string): TokenFileCalls => ({
    stat: () => stat(look),
    open: (path, flags) => {
      opened.push(path);
      return open(path, flags);
    },
  });
  // /dev/null stands for a device: refused from its stat, not opened.
  await expect(readTokenFile('/dev/null', {}, calls('/dev/null'))).rejects.toThrow(
    new AccessConfigError('the token file /dev/null is not a regular file (a device, FIFO or socket); give a text file with one token a line'),
  );
  expect(opened).toEqual([]);
  // The file looked at was another than the one opened (swapped in between).
  const other = await tokensIn(await folder(join(dir(), 'other'), 0o700));
  await expect(readTokenFile(tokens, {}, calls(other))).rejects.toThrow(
    new AccessConfigError(`the token file ${tokens} was replaced while it was being read (another file was opened than the one looked at); start again`),
  );
  expect(await readTokenFile(tokens, {}, calls(tokens))).toHaveLength(1);
  expect(opened).toEqual([tokens, tokens]);
});

test('a token file under a folder that a group other than its owner\'s private one may write is taken, with a start-up warning naming the folder and that group', async () => {
  const listed = new Set(readFileSync('/etc/group', 'utf8').split('\n').map((line) => line.split(':')[2]));
  let gid = 4242;
  while (listed.has(String(gid))) gid++;
  const volume = await folder(join(dir(), 'volume'), 0o775);
  await chown(volume, EUID, gid);
  const tokens = await tokensIn(await folder(join(volume, 'conf'), 0o755));
  const server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, tokens });
  await server.close();
  expect(server.startup.sharedFolders).toEqual([
    `the token file ${tokens} is under the folder ${volume}, which belongs to ${EUID === 0 ? 'root' : `${EUID_NAME} (uid ${EUID})`} and which the group with gid ${gid} (not listed in /etc/group) may write too (mode 775): ` +
      'its members could rename the folder or link in it that leads to the token file, and put one of their own in its place, with tokens of theirs. ' +
      `If every one of them may, leave it; else run: chmod g-w ${volume} (or move the token file out of it, to a folder that only its user may write)`,
  ]);
});
