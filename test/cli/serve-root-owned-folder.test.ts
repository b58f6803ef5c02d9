// A data folder, store folder or key file that root owns, used by a service
// user: a packaged `root:<service group> 0775` data folder is refused as
// writable by its group, and the service user can neither `chmod go-w` it
// nor, once root has, make `db/` in it; a `root:<group> 0640` key is refused
// as readable by its group, and once root has closed it the user cannot read
// it. The messages say what works: root gives it to the service user
// (chown), then closes it. Run as root, these tests start
// `cairn serve` as uid 65534 (nobody) and then follow the advice given.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createKeyFile } from '../../src/cli/key-file.js';
import { shellWord } from '../../src/cli/os-error.js';
import { startServer } from '../../src/cli/server.js';
import { hashToken } from '../../src/http/access.js';
import { CLI } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-root-owned-');

const NOBODY = 65534;

/** uid 65534's name as chown takes it: from /etc/passwd, else the number. */
const NOBODY_NAME =
  readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[2] === String(NOBODY))?.[0] ?? String(NOBODY);

/**
 * Runs `cairn serve --data <data> --port 0` as uid and gid 65534: resolves to
 * its exit status and stderr if it exits, or to 'listening' once it listens
 * (it is then stopped with SIGTERM and waited for).
 */
function serveAsNobody(data: string, ...args: string[]): Promise<{ code: number | null; stderr: string } | 'listening'> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--data', data, '--port', '0', '--origin', 'o.example/log', ...args], {
      uid: NOBODY,
      gid: NOBODY,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let listening = false;
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (!listening && out.includes('\nlistening on ')) {
        listening = true;
        child.kill('SIGTERM');
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve(listening ? 'listening' : { code, stderr: err }));
  });
}

/** A folder for the test's files that uid 65534 may enter (the temporary folder is made 0700). */
async function base(): Promise<string> {
  await chmod(dir(), 0o755);
  return dir();
}

/** A data folder of uid 65534's own, closed to others (0700), for the tests of its key and token file. */
async function nobodysDataFolder(): Promise<string> {
  const data = join(await base(), 'data');
  await mkdir(data, { mode: 0o700 });
  await chown(data, NOBODY, NOBODY);
  return data;
}

test("a root-owned data folder its group may write is refused with advice for root (chown to the user, then chmod go-w), and that advice works", async () => {
  const data = join(await base(), 'data');
  await mkdir(data);
  await chown(data, 0, NOBODY);
  await chmod(data, 0o775);
  expect(await serveAsNobody(data)).toEqual({
    code: 1,
    stderr:
      `cairn serve: the data folder ${data} may be written by its group (mode 775): another user could put a key of their own in it or move its store away. ` +
      `It belongs to root, so this user (${NOBODY_NAME}) cannot change its mode, nor make its store in it once it is closed: ` +
      `check what it holds, then run as root: chown ${NOBODY_NAME} ${data} && chmod go-w ${data}; ` +
      `or, without root, give --data a folder inside it, which serve makes as this user's own (--data ${join(data, 'cairn')})\n`,
  });
  // What it says to do without root, done: a container's user on a volume its group may write (OpenShift, fsGroup).
  expect(await serveAsNobody(join(data, 'cairn'))).toBe('listening');
  // What it says to run, run as root.
  await chown(data, NOBODY, NOBODY);
  await chmod(data, 0o755);
  expect(await serveAsNobody(data)).toBe('listening');
});

test('a root-owned data folder its group may write that holds a log already gets no advice to give --data a folder inside it (that would begin another log)', async () => {
  const data = join(await base(), 'data');
  await mkdir(join(data, 'db'), { recursive: true });
  await chown(data, 0, NOBODY);
  await chmod(data, 0o775);
  const refused = await serveAsNobody(data);
  expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining(`run as root: chown ${NOBODY_NAME} ${data} && chmod go-w ${data}\n`) });
  expect(JSON.stringify(refused)).not.toContain('folder inside it');
});

test("a data folder the user cannot make in root's folder says to make it as root and give it to the user, and that advice works", async () => {
  const parent = join(await base(), 'lib');
  await mkdir(parent, { mode: 0o755 });
  const data = join(parent, 'cairn', 'data');
  expect(await serveAsNobody(data)).toEqual({
    code: 1,
    stderr:
      `cairn serve: cannot make the data folder ${data}: the folder ${parent} is not writable (EACCES: permission denied); ` +
      `it belongs to root: run as root: mkdir -p -m 700 ${data} && chown ${NOBODY_NAME} ${data}\n`,
  });
  // What it says to run, run as root.
  execFileSync('bash', ['-c', `mkdir -p -m 700 ${shellWord(data)} && chown ${NOBODY_NAME} ${shellWord(data)}`]);
  expect(await serveAsNobody(data)).toBe('listening');
});

test('a root-owned data folder closed by root (0755), where the user cannot make db/, says to give it to the user', async () => {
  const data = join(await base(), 'data');
  await mkdir(data);
  await chown(data, 0, NOBODY);
  await chmod(data, 0o755);
  expect(await serveAsNobody(data)).toEqual({
    code: 1,
    stderr: `cairn serve: cannot make the store's folder ${join(data, 'db')}: the folder ${data} is not writable (EACCES: permission denied); it belongs to root: run as root: chown ${NOBODY_NAME} ${data}\n`,
  });
  await chown(data, NOBODY, NOBODY);
  expect(await serveAsNobody(data)).toBe('listening');
});

test("a root-owned data folder closed to others (0700) that holds root's store and key says to give it to the user with all it holds (chown -R), and that advice works", async () => {
  const data = join(await base(), 'data');
  // A first start as root made the store and the key.
  const first = await startServer({ data, host: '127.0.0.1', port: 0, origin: 'o.example/log' });
  await first.close();
  await chmod(data, 0o700);
  expect(await serveAsNobody(data)).toEqual({
    code: 1,
    stderr: `cairn serve: cannot make the store's folder ${join(data, 'db')}: the folder ${data} is closed to this user, who cannot see what it holds (EACCES: permission denied); it belongs to root: run as root: chown -R ${NOBODY_NAME} ${data}\n`,
  });
  execFileSync('bash', ['-c', `chown -R ${NOBODY_NAME} ${shellWord(data)}`]);
  expect(await serveAsNobody(data)).toBe('listening');
});

test("a root-owned store folder others may enter, which the user cannot close, says to give it to the user", async () => {
  const data = join(await base(), 'data');
  await mkdir(data, { mode: 0o755 });
  await chown(data, NOBODY, NOBODY);
  const db = join(data, 'db');
  await mkdir(db, { mode: 0o755 });
  await chmod(db, 0o755);
  expect(await serveAsNobody(data)).toEqual({
    code: 1,
    stderr: `cairn serve: the store's folder ${db} is open to group or others (mode 755) and cannot be made 0700 (EPERM: operation not permitted); it belongs to root: run as root: chown -R ${NOBODY_NAME} ${db} && chmod 700 ${db}\n`,
  });
  await chown(db, NOBODY, NOBODY);
  await chmod(db, 0o700);
  expect(await serveAsNobody(data)).toBe('listening');
});

test("a root-owned key its group may read, or that the user cannot read, says to give it to the user, and that advice works", async () => {
  const data = await nobodysDataFolder();
  const key = join(dir(), 'log.key');
  await createKeyFile(key, 'o.example/log');
  await chown(key, 0, NOBODY);
  await chmod(key, 0o640);
  expect(await serveAsNobody(data, '--key', key)).toEqual({
    code: 1,
    stderr: `cairn serve: the key file ${key} is accessible by group or others (mode 640); it belongs to root: run as root: chown ${NOBODY_NAME} ${key} && chmod 600 ${key}\n`,
  });
  // Closed by root alone (README's keygen run as root makes it so), the user cannot read it.
  await chmod(key, 0o600);
  expect(await serveAsNobody(data, '--key', key)).toEqual({
    code: 1,
    stderr:
      `cairn serve: cannot read the key file ${key}: this user may not read it, or may not enter a folder above it (EACCES: permission denied); ` +
      `it belongs to root: run as root: chown ${NOBODY_NAME} ${key}\n`,
  });
  await chown(key, NOBODY, NOBODY);
  expect(await serveAsNobody(data, '--key', key, '--new-log')).toBe('listening');
});

test("a key in a root-owned folder its group may write says to close the folder as root, and that advice works", async () => {
  const data = await nobodysDataFolder();
  // A packaged root:<service group> 0775 folder of keys.
  const keys = join(dir(), 'keys');
  await mkdir(keys);
  await chown(keys, 0, NOBODY);
  await chmod(keys, 0o775);
  const key = join(keys, 'log.key');
  await createKeyFile(key, 'o.example/log');
  await chown(key, NOBODY, NOBODY);
  expect(await serveAsNobody(data, '--key', key)).toEqual({
    code: 1,
    stderr:
      `cairn serve: the key file ${key} is in the folder ${keys}, which its group may write (mode 775, no sticky bit): another user could remove the key or put a key of their own in its place. ` +
      `Check that it is this log's key; it belongs to root, so run as root: chmod go-w ${keys} (or move the key to a folder that only its user may write)\n`,
  });
  execFileSync('bash', ['-c', `chmod go-w ${shellWord(keys)}`]);
  expect(await serveAsNobody(data, '--key', key, '--new-log')).toBe('listening');
});

test("a root-owned key file named with a line break and a bidi override: the advice shows it escaped, and works when pasted into bash", async () => {
  const data = await nobodysDataFolder();
  const key = join(dir(), 'log\nkey: \u202Ex.key');
  await createKeyFile(key, 'o.example/log');
  await chown(key, 0, NOBODY);
  await chmod(key, 0o640);
  const shown = join(dir(), 'log\\u{000A}key: \\u{202E}x.key');
  const advice = `chown ${NOBODY_NAME} ${shellWord(key)} && chmod 600 ${shellWord(key)}`;
  expect(await serveAsNobody(data, '--key', key)).toEqual({
    code: 1,
    stderr: `cairn serve: the key file ${shown} is accessible by group or others (mode 640); it belongs to root: run as root: ${advice}\n`,
  });
  execFileSync('bash', ['-c', advice]);
  expect(await serveAsNobody(data, '--key', key, '--new-log')).toBe('listening');
});

test("a store folder of root's closed to others (0700, left by a start as root), which LevelDB could not open, says to give it to the user, and that advice works", async () => {
  const data = await nobodysDataFolder();
  const db = join(data, 'db');
  await mkdir(db, { mode: 0o700 });
  await chmod(db, 0o700);
  expect(await serveAsNobody(data)).toEqual({
    code: 1,
    stderr:
      `cairn serve: this user (${NOBODY_NAME}) may not read and write in the store's folder ${db} (mode 700; EACCES: permission denied), so the log's store cannot be opened; ` +
      `it belongs to root: run as root: chown -R ${NOBODY_NAME} ${db}\n`,
  });
  await chown(db, NOBODY, NOBODY);
  expect(await serveAsNobody(data)).toBe('listening');
});

test("a store whose files root's start made, given to the user without -R, says to give them to the user too, and that advice works", async () => {
  const data = join(await base(), 'data');
  await mkdir(data, { mode: 0o700 });
  // A first start as root (this test runs as root) makes the store's files.
  await (await startServer({ data, host: '127.0.0.1', port: 0, origin: 'o.example/log' })).close();
  const db = join(data, 'db');
  await chown(data, NOBODY, NOBODY);
  await chown(db, NOBODY, NOBODY);
  await chown(join(data, 'log.key'), NOBODY, NOBODY);
  const refused = await serveAsNobody(data);
  expect(refused).toEqual({ code: 1, stderr: expect.stringMatching(/^cairn serve: cannot open the store in \S+: files in it \([^)]*LOCK[^)]*\) belong to root/) });
  expect(refused).toHaveProperty('stderr', expect.stringContaining(`, and this user (${NOBODY_NAME}) may not read and write them; run as root: chown -R ${NOBODY_NAME} ${db}\n`));
  expect(refused).toHaveProperty('stderr', expect.stringContaining(`cannot open the store in ${db}: `));
  await chownTree(db, NOBODY);
  expect(await serveAsNobody(data)).toBe('listening');
});

/** chown -R `path` to `uid` (its group too). */
async function chownTree(path: string, uid: number): Promise<void> {
  await chown(path, uid, uid);
  for (const name of await readdir(path)) await chown(join(path, name), uid, uid);
}

/** A uid that /etc/passwd does not list: another user than nobody and root, named by number. */
const STRANGER = (() => {
  const listed = new Set(readFileSync('/etc/passwd', 'utf8').split('\n').map((line) => line.split(':')[2]));
  let uid = 4242;
  while (listed.has(String(uid))) uid++;
  return uid;
})();

/** The words, in a refusal to nobody of something STRANGER owns, from "belongs" to "run serve as that user (…)". */
function strangerBelongs(risk: string): string {
  return (
    `belongs to another user, uid ${STRANGER}, not to the user this runs as (${NOBODY_NAME} (uid ${NOBODY})) or root: ${risk}. ` +
    `If uid ${STRANGER} runs this log (a service's user, say), run serve as uid ${STRANGER} (e.g. sudo -u '#${STRANGER}' cairn serve …)`
  );
}

test("a data folder the user cannot make in another user's folder is not advised to be made there as root (it would then be refused), but to be given elsewhere; nothing is made", async () => {
  const theirs = join(await base(), 'theirs');
  await mkdir(theirs, { mode: 0o755 });
  await chown(theirs, STRANGER, STRANGER);
  const data = join(theirs, 'cairn', 'data');
  expect(await serveAsNobody(data)).toEqual({
    code: 1,
    stderr:
      `cairn serve: the data folder ${data} is under the folder ${theirs}, which ` +
      strangerBelongs('that user could rename the folder or link in it that leads to the data folder, and so move the data folder away, and its store with it, or put one of their own in its place') +
      `. Otherwise check what the data folder holds (its key and its store), then move the data folder out of ${theirs}, into a folder that, like every folder above it, belongs to ${NOBODY_NAME} or root and that no other user may write\n`,
  });
  await expect(stat(join(theirs, 'cairn'))).rejects.toThrow(/ENOENT/);
});

test("a key or token file of another user's, refused to a user that is not root, says to run the chown as root, and gives the token file to root (a 0644 file of root's is every user's to trust)", async () => {
  const data = await nobodysDataFolder();
  const key = join(dir(), 'log.key');
  await createKeyFile(key, 'o.example/log');
  await chown(key, STRANGER, STRANGER);
  expect(await serveAsNobody(data, '--key', key)).toEqual({
    code: 1,
    stderr:
      `cairn serve: the key file ${key} ` +
      strangerBelongs('that user could have put a key of their own in it, or change it later') +
      `: a chown to ${NOBODY_NAME} would stop uid ${STRANGER}'s starts from using it. Otherwise check that it is this log's key, then run as root: chown ${NOBODY_NAME} ${key}\n`,
  });
  const tokens = join(dir(), 'tokens');
  await writeFile(tokens, `ops admin ${hashToken('ops-token-0123456789')}\n`, { mode: 0o644 });
  await chown(tokens, STRANGER, STRANGER);
  expect(await serveAsNobody(data, '--tokens', tokens)).toEqual({
    code: 1,
    stderr:
      `cairn serve: the token file ${tokens} ` +
      strangerBelongs('that user could add a token of their own to it, with any role (admin too), or change it later') +
      `. Otherwise check that the token file lists only the tokens you gave out, then run as root: chown root ${tokens} (a file of root's is trusted by whichever user serve runs as)\n`,
  });
  // What it says to run, run as root.
  execFileSync('bash', ['-c', `chown root ${shellWord(tokens)}`]);
  expect(await serveAsNobody(data, '--tokens', tokens)).toBe('listening');
});
