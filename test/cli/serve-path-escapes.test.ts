// A path that serve and keygen print (a data folder, the store's folder, a
// key file) may hold a line break or a bidi override: `cairn serve --data
// $'d\nverifier key: …'`. Printed raw, it would start a line that looks like
// serve's own, or reorder what the terminal shows. Every such path is shown
// with its non-printing characters as escapes (showNonPrinting), and in a
// command to run as a shell word that names the same path when pasted
// (shellWord: $'…' with \xHH escapes).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chownAdvice } from '../../src/file-trust.js';
import { createKeyFile, readKeyFile } from '../../src/cli/key-file.js';
import { folderProblem, shellWord } from '../../src/cli/os-error.js';
import { startupNotices, startupWarnings } from '../../src/cli/serve.js';
import { runCli, startServerProcess } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-path-escapes-');

/** Raw C0 (newline too), DEL, C1, bidi embeddings, overrides and isolates. */
// eslint-disable-next-line no-control-regex
const RAW_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
/** The same but newline, for output of several lines. */
// eslint-disable-next-line no-control-regex
const RAW_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** A name that, printed raw, starts a line of serve's own and reverses the text after it. */
const CRAFTED = 'd\nverifier key: evil.example+00000000+AAAA\u202Ex';
const SHOWN = 'd\\u{000A}verifier key: evil.example+00000000+AAAA\\u{202E}x';

/** What bash makes of `word`: the one argument it stands for. */
function bashWord(word: string): string {
  return execFileSync('bash', ['-c', `printf %s ${word}`]).toString();
}

/** What dash (Debian's /bin/sh, which has no $'…') prints for `printf '[%s]' WORD`: one argument, and nothing run after it. */
function dashRuns(word: string): string {
  return execFileSync('dash', ['-c', `printf '[%s]' ${word}`]).toString();
}

test('shellWord writes a word holding a line break or a bidi override as $\'…\' escapes, which bash reads back as the same text', () => {
  for (const text of [join('/tmp', CRAFTED), "it's\u2066 here\u2069\\", 'tab\there\u0085é', 'no-escapes needed', 'plain/path', 'a\nb', "q\n'; touch /tmp/never #"]) {
    const word = shellWord(text);
    expect(word).not.toMatch(RAW_UNSAFE);
    expect(bashWord(word)).toBe(text);
  }
  // Three octal digits: a hex digit after an escape (the 'b' of "a\nb") is not taken into it.
  expect(shellWord('a\nb\u202Ec')).toBe("$'a\\012b\\342\\200\\256c'");
  expect(shellWord("x\n'\\")).toBe("$'x\\012\\047\\134'");
});

test('a shell without $\'…\' (dash) reads a shellWord as $ and one quoted string: a wrong path, never a command', () => {
  const injected = "q\n'; echo INJECTED #";
  const out = dashRuns(shellWord(injected));
  expect(out).not.toContain('INJECTED\n');
  expect(out).toMatch(/^\[\$q\\012\\047; echo INJECTED #\]$/);
});

test('words that need no escapes keep their old forms', () => {
  expect([shellWord('/srv/cairn'), shellWord('/srv/my log')]).toEqual(['/srv/cairn', "'/srv/my log'"]);
});

/** Users in /etc/passwd: uid 65534's name, and a uid that has none. */
const PASSWD = readFileSync('/etc/passwd', 'utf8')
  .split('\n')
  .map((line) => line.split(':'));
const NOBODY_NAME = PASSWD.find((fields) => fields[2] === '65534')?.[0];
let UNNAMED = 4_000_000;
while (PASSWD.some((fields) => fields[2] === String(UNNAMED))) UNNAMED += 1;

test('chownAdvice, the one wording of "run as root: chown …", names the user and the path as words bash reads back, in each of its forms', () => {
  const path = join('/srv', CRAFTED);
  const user = "o'dd\u202Euser";
  const [p, u] = [shellWord(path), shellWord(user)];
  expect(chownAdvice(path, user)).toBe(`run as root: chown ${u} ${p}`);
  expect(chownAdvice(path, user, { owner: 0, recursive: true })).toBe(`it belongs to root: run as root: chown -R ${u} ${p}`);
  expect(chownAdvice(path, user, { owner: UNNAMED, chmod: 'go-w' })).toBe(`it belongs to uid ${UNNAMED}: run as root: chown ${u} ${p} && chmod go-w ${p}`);
  // An owner with a name in /etc/passwd is named (uid 65534 is nobody's, where it is there).
  expect(chownAdvice(path, user, { owner: 65534 })).toBe(`it belongs to ${NOBODY_NAME === undefined ? '' : `${NOBODY_NAME} (`}uid 65534${NOBODY_NAME === undefined ? '' : ')'}: run as root: chown ${u} ${p}`);
  expect(chownAdvice(path, user, { recursive: true, chmod: '700' })).toBe(`run as root: chown -R ${u} ${p} && chmod 700 ${p}`);
  expect(chownAdvice(path, user, { owner: 0, recursive: true, chmod: '700' })).not.toMatch(RAW_UNSAFE);
  expect([bashWord(u), bashWord(p)]).toEqual([user, path]);
  // Plain names keep their plain forms.
  expect(chownAdvice('/srv/cairn/log.key', 'cairn', { owner: 0, chmod: '600' })).toBe('it belongs to root: run as root: chown cairn /srv/cairn/log.key && chmod 600 /srv/cairn/log.key');
});

test('folderProblem names the folder escaped, and its mkdir advice names it as a word bash reads back', () => {
  const folder = join(dir(), CRAFTED);
  const problem = folderProblem(folder, Object.assign(new Error('ENOENT: fake'), { code: 'ENOENT', errno: -2 }));
  expect(problem).not.toMatch(RAW_UNSAFE);
  expect(problem).toBe(`the folder ${join(dir(), SHOWN)} does not exist (ENOENT: no such file or directory); make it first: mkdir -p ${shellWord(folder)}`);
});

test('the key file messages show its path escaped: a folder, an open mode, an existing one, one that does not hold a key', async () => {
  const path = join(dir(), CRAFTED);
  await mkdir(path);
  await expect(readKeyFile(path)).rejects.toThrow(`the key file ${join(dir(), SHOWN)} is a folder, not a file;`);
  const key = join(dir(), `${CRAFTED}.key`);
  await createKeyFile(key, 'o.example/log');
  await expect(createKeyFile(key, 'o.example/log')).rejects.toThrow(`refusing to overwrite the existing key file ${join(dir(), SHOWN)}.key`);
  await chmod(key, 0o644);
  const open = await readKeyFile(key).catch((err: Error) => err.message);
  expect(open).not.toMatch(RAW_UNSAFE);
  expect(open).toBe(`the key file ${join(dir(), SHOWN)}.key is accessible by group or others (mode 644); run: chmod 600 ${shellWord(key)}`);
  // The advice, pasted into bash, works.
  execFileSync('bash', ['-c', `chmod 600 ${shellWord(key)}`]);
  expect((await readKeyFile(key)).origin).toBe('o.example/log');
  const bad = join(dir(), `${CRAFTED}.bad`);
  await writeFile(bad, 'not a key', { mode: 0o600 });
  await expect(readKeyFile(bad)).rejects.toThrow(`${join(dir(), SHOWN)}.bad does not hold a valid Ed25519 signer key`);
});

test("serve's refusal of a data folder open to its group is one line, the folder escaped, and its chmod advice works when pasted", async () => {
  const data = join(dir(), CRAFTED);
  await mkdir(data);
  await chmod(data, 0o775);
  const res = await runCli(['serve', '--data', data, '--port', '0']);
  expect(res.code).toBe(1);
  expect(res.stderr.trimEnd()).not.toMatch(RAW_UNSAFE);
  expect(res.stderr).toBe(
    `cairn serve: the data folder ${join(dir(), SHOWN)} may be written by its group (mode 775): another user could put a key of their own in it or move its store away. ` +
      `Check what it holds, then run: chmod go-w ${shellWord(data)}\n`,
  );
  execFileSync('bash', ['-c', `chmod go-w ${shellWord(data)}`]);
  const server = await startServerProcess(['--data', data]);
  expect(await server.stop()).toBe(0);
});

test("serve's refusal of a damaged store in a crafted data folder is one line: the store's own message names the folder escaped", async () => {
  const data = join(dir(), `${CRAFTED}-damaged`);
  const first = await startServerProcess(['--data', data, '--origin', 'o.example/log']);
  expect(await first.stop()).toBe(0);
  await writeFile(join(data, 'db', 'CURRENT'), 'garbage\n');
  const res = await runCli(['serve', '--data', data, '--origin', 'o.example/log', '--port', '0']);
  expect(res.code).toBe(1);
  expect(res.stderr.trimEnd()).not.toMatch(RAW_UNSAFE);
  expect(res.stderr.split('\n')).toEqual([expect.stringMatching(/^cairn serve: the store's CURRENT file in .*d\\u\{000A\}verifier key: evil\.example/), '']);
});

test("serve's start-up lines show a crafted data folder and key file escaped: no line of theirs looks like serve's own", async () => {
  const data = join(dir(), CRAFTED);
  const key = join(dir(), `${CRAFTED}.key`);
  const made = await runCli(['keygen', '--origin', 'o.example/log', '--out', key]);
  expect(made.code).toBe(0);
  // Without --new-log, the refusal names them escaped too (its command for a shell, $'…').
  const refused = await runCli(['serve', '--data', data, '--key', key, '--port', '0']);
  expect(refused.code).toBe(1);
  expect(refused.stderr).not.toMatch(RAW_BUT_NEWLINE);
  expect(refused.stderr).toContain(`but the data folder ${join(dir(), SHOWN)} does not exist`);
  const server = await startServerProcess(['--data', data, '--key', key, '--new-log']);
  expect(await server.stop()).toBe(0);
  const out = server.stdout();
  expect(out).not.toMatch(RAW_BUT_NEWLINE);
  const lines = out.split('\n');
  expect(lines.filter((line) => line.startsWith('verifier key: '))).toEqual([`verifier key: ${made.stdout.trim()}`]);
  expect(lines).toContain(`data folder: ${join(dir(), SHOWN)}`);
  expect(lines).toContain(`key file: ${join(dir(), SHOWN)}.key`);
  expect(lines).toContain(`made a new store in ${join(dir(), SHOWN, 'db')}`);
  expect(lines).toContain(
    `starting a new log with the key in ${join(dir(), SHOWN)}.key, as --new-log asks: leave --new-log out of later starts, which it would refuse once this log holds its first checkpoint`,
  );
});

test('the notices and warnings show the start-up paths escaped', () => {
  const facts = {
    dataFolder: `/srv/${CRAFTED}`,
    storeFolder: `/srv/${CRAFTED}/db`,
    keyFile: `/srv/${CRAFTED}/log.key`,
    madeStore: false,
    newLog: true,
    madeKey: true,
    placeholderOrigin: true,
    tightenedStoreMode: 0o755,
  };
  const all = [
    ...startupNotices({ ...facts, madeKey: false, keyFile: `/srv/${CRAFTED}.key`, existingKeyNewLog: 'asked' }),
    ...startupNotices({ ...facts, madeKey: false, existingKeyNewLog: 'interrupted' }),
    ...startupNotices({ ...facts, olderLayout: { layout: 1 } }),
    ...startupNotices({ ...facts, olderLayout: { layout: 1, convertedBundle: 3 } }),
    ...startupWarnings(facts),
    ...startupWarnings({ ...facts, madeKey: false }),
  ];
  expect(all.length).toBeGreaterThanOrEqual(6);
  for (const line of all) {
    expect(line).not.toMatch(RAW_UNSAFE);
    expect(line).toContain(`/srv/${SHOWN}`);
  }
});

test('keygen refusing to overwrite a crafted key path says so on one line', async () => {
  const key = join(dir(), `${CRAFTED}.key`);
  expect((await runCli(['keygen', '--origin', 'o.example/log', '--out', key])).code).toBe(0);
  const again = await runCli(['keygen', '--origin', 'o.example/log', '--out', key]);
  expect([again.code, again.stderr]).toEqual([2, `cairn keygen: refusing to overwrite the existing key file ${join(dir(), SHOWN)}.key\n`]);
});
