// Where Cairn makes a key (cairn keygen, and serve's first start), the origin
// must be visible text: a zero-width space, a bidi override, a C1 control, a
// no-break space or a tag character would make a log's name that reads as
// another, or cannot be typed back. Messages show such a character as an
// escape, never as it is, and keygen's usage errors are its own
// (`cairn keygen: …`). Keys made by others are read as before.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createKeyFile, KeyFileError, newKeyOriginProblem } from '../../src/cli/key-file.js';
import { quoteVisibly, showNonPrinting } from '../../src/cli/visible-text.js';
import { generateSignerKey, isValidKeyName } from '../../src/note/keys.js';
import { runCli } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-new-key-origin-');

/** Origins with one invisible or non-printing character, with how a message shows it and its code point. */
const INVISIBLE: readonly [origin: string, shown: string, code: string][] = [
  ['log\u200b.example', 'log\\u{200B}.example', 'U+200B'], // zero-width space (Cf)
  ['log.example/\u202egol', 'log.example/\\u{202E}gol', 'U+202E'], // right-to-left override (Cf)
  ['log\u0085.example', 'log\\u{0085}.example', 'U+0085'], // next line (C1 control)
  ['log\u00a0.example', 'log\\u{00A0}.example', 'U+00A0'], // no-break space (Zs)
  ['log\u2028.example', 'log\\u{2028}.example', 'U+2028'], // line separator (Zl)
  ['\ufefflog.example', '\\u{FEFF}log.example', 'U+FEFF'], // byte order mark (Cf)
  ['log.example\u{e0041}', 'log.example\\u{E0041}', 'U+E0041'], // tag character (Cf)
  ['log\u3164.example', 'log\\u{3164}.example', 'U+3164'], // Hangul filler (Lo, default-ignorable)
  ['log\ufe0f.example', 'log\\u{FE0F}.example', 'U+FE0F'], // variation selector (Mn, default-ignorable)
  ['log\ue000.example', 'log\\u{E000}.example', 'U+E000'], // private use (Co)
];

const problem = (code: string) => `holds ${code}, an invisible or non-printing character (a control, format, space, separator, filler, variation selector or unassigned one): a log's name must be visible text`;

/** Whether `text` holds a character of `INVISIBLE`'s kind as it is (not escaped). */
const RAW = /[\u0085\u00a0\u200b\u202e\u2028\ufeff\u3164\ufe0f\ue000\u{e0041}]/u;

test('newKeyOriginProblem finds the invisible character, and lets visible names pass, non-ASCII ones too', () => {
  for (const [origin, , code] of INVISIBLE) expect([origin, newKeyOriginProblem(origin)]).toEqual([origin, problem(code)]);
  for (const origin of ['audit.example.com/log1', 'журнал.example/log', 'ü.example', 'log.example/日志', 'a']) expect(newKeyOriginProblem(origin)).toBeUndefined();
  // The ASCII space is isValidKeyName's to refuse, in its own words; a character past it is still found.
  expect(newKeyOriginProblem('a b')).toBeUndefined();
  expect(newKeyOriginProblem('a b\u200b')).toBe(problem('U+200B'));
});

test('quoteVisibly and showNonPrinting show what does not print as escapes', () => {
  for (const [origin, shown] of INVISIBLE) expect(quoteVisibly(origin)).toBe(`"${shown}"`);
  expect(quoteVisibly('a "b" \\ c')).toBe('"a \\"b\\" \\\\ c"');
  expect(showNonPrinting('one\ntwo\u0085\u001b[31m', '\n')).toBe('one\ntwo\\u{0085}\\u{001B}[31m');
});

test('keygen refuses an origin with an invisible character, showing it escaped, and makes no file', async () => {
  // The CLI for a few (each is a process); newKeyOriginProblem above for all.
  for (const [origin, shown, code] of [...INVISIBLE.slice(0, 3), INVISIBLE[6]!]) {
    const out = join(dir(), 'k');
    const res = await runCli(['keygen', '--origin', origin, '--out', out]);
    expect([origin, res.code, res.stdout, res.stderr]).toEqual([origin, 2, '', `cairn keygen: invalid origin "${shown}" (from --origin): it ${problem(code)}\nRun 'cairn keygen --help' for its options.\n`]);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  }
  const fromEnv = await runCli(['keygen', '--out', join(dir(), 'k')], { CAIRN_ORIGIN: 'log\u202e.example' });
  expect([fromEnv.code, fromEnv.stderr]).toEqual([2, `cairn keygen: invalid origin "log\\u{202E}.example" (from CAIRN_ORIGIN): it ${problem('U+202E')}\nRun 'cairn keygen --help' for its options.\n`]);
  expect(await readdir(dir())).toEqual([]);
  // A visible non-ASCII name is a name.
  const ok = await runCli(['keygen', '--origin', 'журнал.example/log', '--out', join(dir(), 'k')]);
  expect([ok.code, ok.stdout]).toEqual([0, expect.stringMatching(/^журнал\.example\/log\+[0-9a-f]{8}\+/)]);
});

test("keygen's usage errors are its own, and print no character as it is", async () => {
  const missing = await runCli(['keygen', '--out', join(dir(), 'k')]);
  expect([missing.code, missing.stderr]).toEqual([2, `cairn keygen: --origin <origin> is required: the log's name (or set CAIRN_ORIGIN)\nRun 'cairn keygen --help' for its options.\n`]);
  // One line and where the options are, as every command says it, not the whole help.
  const noOut = await runCli(['keygen', '--origin', 'o.example/log']);
  expect([noOut.code, noOut.stdout, noOut.stderr]).toEqual([2, '', `cairn keygen: --out <file> is required: where to write the private key\nRun 'cairn keygen --help' for its options.\n`]);
  const unknown = await runCli(['keygen', '--origin', 'o.example/log', '--out', join(dir(), 'k'), '--b\u0085ad']);
  expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringMatching(/^cairn keygen: Unknown option '--b\\u\{0085\}ad'/)]);
  const spaced = await runCli(['keygen', '--origin', 'bad origin', '--out', join(dir(), 'k')]);
  expect([spaced.code, spaced.stderr]).toEqual([2, `cairn keygen: invalid origin "bad origin" (from --origin): it must be non-empty, without spaces or '+'\nRun 'cairn keygen --help' for its options.\n`]);
  for (const res of [missing, unknown, spaced]) expect(res.stderr).not.toMatch(RAW);
});

test('serve refuses such an origin before it makes anything on disk', async () => {
  const data = join(dir(), 'data');
  // A missing token file stops a serve that would take the origin (exit 1) before it makes anything.
  const tokens = join(dir(), 'no-tokens');
  for (const [origin, shown, code] of INVISIBLE.slice(0, 3)) {
    const res = await runCli(['serve', '--data', data, '--port', '0', '--tokens', tokens, '--origin', origin]);
    expect([res.code, res.stderr]).toEqual([2, `cairn serve: invalid origin "${shown}" (from --origin): it ${problem(code)}\nRun 'cairn serve --help' for its options.\n`]);
  }
  const fromEnv = await runCli(['serve', '--data', data, '--port', '0', '--tokens', tokens], { CAIRN_ORIGIN: '\u200b' });
  expect([fromEnv.code, fromEnv.stderr]).toEqual([2, expect.stringContaining('invalid origin "\\u{200B}" (from CAIRN_ORIGIN)')]);
  // Serve's other usage errors print no such character as it is either.
  const port = await runCli(['serve', '--data', data, '--port', '8\u0085']);
  expect([port.code, port.stderr]).toEqual([2, expect.stringContaining('--port must be a port number 0..65535, got "8\\u{0085}"')]);
  await expect(stat(data)).rejects.toThrow(/ENOENT/);
});

test('createKeyFile, which both use, refuses such an origin too; keys made elsewhere are read by the verifier rules, unchanged', async () => {
  const out = join(dir(), 'k');
  const made = createKeyFile(out, 'log\u200b.example');
  await expect(made).rejects.toBeInstanceOf(KeyFileError);
  await expect(made).rejects.toHaveProperty('message', `refusing to make a key for the origin "log\\u{200B}.example": it ${problem('U+200B')}`);
  await expect(stat(out)).rejects.toThrow(/ENOENT/);
  // src/note/keys.ts still takes such a name in a key that another log made.
  expect(isValidKeyName('log\u200b.example')).toBe(true);
  expect(generateSignerKey('log\u200b.example')).toMatch(/^PRIVATE\+KEY\+log\u200b\.example\+/);
});
