// Usage errors show the characters that would not print (C0 and C1
// controls, U+2028/2029, bidi and other format characters) as escapes, name
// the command they are about where it is known (`cairn help: …`), and so do
// serve's start-up failures, which quote paths the user gave.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCount, parseOrigin, parsePort, parsePositive, UsageError } from '../../src/cli/args.js';
import { runCli } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-usage-escapes-');

/** Characters JSON.stringify leaves as they are, and that a terminal acts on or shows as nothing. */
const HIDDEN: [string, string][] = [
  ['\u0085', '\\u{0085}'],
  ['\u009b', '\\u{009B}'],
  ['\u2028', '\\u{2028}'],
  ['\u2029', '\\u{2029}'],
  ['\u202e', '\\u{202E}'],
  ['\u2067', '\\u{2067}'],
  ['\u200b', '\\u{200B}'],
];

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('no UsageError');
}

test('the value parsers quote a bad value with its hidden characters escaped', () => {
  for (const [c, shown] of HIDDEN) {
    expect(messageOf(() => parsePort(`8${c}`, '--port'))).toBe(`--port must be a port number 0..65535, got "8${shown}"`);
    expect(messageOf(() => parseCount(`1${c}`, '--n', 1, 9))).toBe(`--n must be an integer from 1 to 9, got "1${shown}"`);
    expect(messageOf(() => parsePositive(`${c}2`, '--m'))).toBe(`--m must be a positive integer, got "${shown}2"`);
    expect(messageOf(() => parseOrigin(`a b${c}`, '--origin'))).toBe(`invalid origin "a b${shown}" (from --origin): it must be non-empty, without spaces or '+'`);
  }
  // Quotes and backslashes are escaped too, C0 controls as well.
  expect(messageOf(() => parsePort('"\\\n', '--port'))).toBe('--port must be a port number 0..65535, got "\\"\\\\\\u{000A}"');
});

test('an unknown command is shown with its hidden characters escaped', async () => {
  for (const [c, shown] of HIDDEN) {
    const res = await runCli([`frob${c}`]);
    expect([res.code, res.stderr]).toEqual([2, `cairn: unknown command "frob${shown}"; run 'cairn --help' for the commands.\n`]);
  }
});

test("main names the command of a usage error when it knows it: cairn help a b", async () => {
  const res = await runCli(['help', 'serve', 'keygen']);
  expect([res.code, res.stdout, res.stderr]).toEqual([2, '', 'cairn help: give one command: cairn help <command>\n']);
});

test('an unknown option of serve or keygen is shown with its hidden characters escaped', async () => {
  for (const command of ['serve', 'keygen']) {
    const res = await runCli([command, '--da\u2028ta\u009b']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(new RegExp(`^cairn ${command}: Unknown option '--da\\\\u\\{2028\\}ta\\\\u\\{009B\\}'`));
  }
});

test("serve's start-up failures show hidden characters of the paths they name as escapes", async () => {
  const file = join(dir(), 'not\u2028a\u202efolder');
  await writeFile(file, '');
  const res = await runCli(['serve', '--data', join(file, 'data'), '--port', '0']);
  expect(res.code).toBe(1);
  expect(res.stderr).toMatch(/^cairn serve: cannot make the data folder .*not\\u\{2028\}a\\u\{202E\}folder/);
  expect(res.stderr).not.toMatch(/[\u2028\u202e]/);
});

test('a newline or an ESC typed in an unknown option or an argument is escaped alike by serve, keygen and a client command: no line of the message is the user\'s', async () => {
  const typed = '--y\nverifier key: forged+1+AA\u001b[31m';
  const shown = '--y\\u{000A}verifier key: forged+1+AA\\u{001B}[31m';
  for (const command of ['serve', 'keygen', 'get']) {
    const res = await runCli([command, typed]);
    expect([command, res.code, res.stdout]).toEqual([command, 2, '']);
    const lines = res.stderr.split('\n');
    expect([command, lines[0]]).toEqual([command, expect.stringMatching(new RegExp(`^cairn ${command}: Unknown option '${shown.replace(/[\\{}[\]+]/g, '\\$&')}'`))]);
    // Only the message's own lines: the error, then where to find the options.
    expect([command, lines.slice(1)]).toEqual([command, [`Run 'cairn ${command} --help' for its options.`, '']]);
    expect(res.stderr).not.toMatch(/\u001b|\nverifier/);
  }
  for (const command of ['serve', 'keygen']) {
    const res = await runCli([command, 'x\ny\u001b']);
    expect([command, res.code, res.stderr.split('\n')[0]]).toEqual([command, 2, `cairn ${command}: Unexpected argument 'x\\u{000A}y\\u{001B}'. This command does not take positional arguments`]);
  }
});
