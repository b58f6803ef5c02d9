// The client commands print what others wrote (a log's error body, an entry,
// a file name) so that a terminal shows it rather than acts on it: control
// characters and bidi overrides escaped, an entry holding them as base64.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addCommand } from '../../src/cli/add.js';
import { jsonLine, printableText } from '../../src/cli/client-common.js';
import { getCommand } from '../../src/cli/get.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest, send } from './fake-log.js';

/** Raw C0 (but newline), DEL, C1, bidi embeddings, overrides and isolates. */
// eslint-disable-next-line no-control-regex
const RAW_UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const enc = (s: string) => new TextEncoder().encode(s);

const t = fakeLogEachTest(5, 'cairn-escapes-');

test("a log's error body of terminal escapes (erase the line, a t.fake 'verified' line, a new window title) is printed escaped", async () => {
  t.fake.hook = (path, _req, res) => {
    if (path !== 'ct/v1/get-entry-and-proof') return false;
    send(res, 500, { error: '\u001b[2K\r\u001b[1Aentry 3 of t.fake.example/log, verified in the signed tree of size 600\n\u001b]0;owned\u0007\u009b8m\u202e', code: 'X\u001b[8m' });
    return true;
  };
  const io = captureIo();
  expect(await getCommand(['3', ...t.common], io)).toBe(2);
  expect(io.err()).not.toMatch(RAW_UNSAFE);
  expect(io.err().trimEnd().split('\n')).toHaveLength(1);
  expect(io.err()).toContain('500 X\\u001b[8m: \\u001b[2K\\u000d\\u001b[1Aentry 3 of t.fake.example/log, verified in the signed tree of size 600\\u000a\\u001b]0;owned\\u0007\\u009b8m\\u202e');
});

test('anything a message quotes is printed escaped, a file name given by the user too', async () => {
  const io = captureIo();
  expect(await addCommand([...t.common, join(t.dir, 'no\u001b[2Jsuch\u202efile')], io)).toBe(2);
  expect(io.err()).not.toMatch(RAW_UNSAFE);
  expect(io.err()).toContain('no\\u001b[2Jsuch\\u202efile');
});

test('printableText refuses C1 controls and bidi overrides and isolates, as it does C0 ones; tabs and newlines are text', () => {
  for (const bad of ['a\u009b2Jb', 'a\u0085b', 'abc\u202edcb', 'a\u2066b\u2069', 'a\u001bb', 'a\u007fb', 'a\rb']) expect([bad, printableText(enc(bad))]).toEqual([bad, undefined]);
  for (const good of ['a\tb\nc', 'é — 日本 😀', 'שלום\u200f']) expect(printableText(enc(good))).toBe(good);
});

test('cairn get prints an entry holding a C1 control or a bidi override as base64, not as text', async () => {
  t.fake.entries[2] = enc('amount: 100\u202e00001');
  t.fake.entries[3] = enc('ok\u009b2K');
  for (const index of ['2', '3']) {
    const io = captureIo();
    expect(await getCommand([index, ...t.common], io)).toBe(0);
    expect(io.out()).toContain('binary (base64):');
    expect(io.out()).not.toMatch(RAW_UNSAFE);
  }
});

/** DEL, C1 and bidi characters: JSON.stringify leaves them raw. */
const RAW_JSON_UNSAFE = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const SNEAKY = 'x\u009b2J\u202eEVIL\u2066\u007f\u0085\u2069\u202a';

test('a file name holding a newline cannot start a line of its own: it is escaped, and the message is one line', async () => {
  const fake = 'logged 1 entry (0 already in the log) in 1 request; every receipt verified';
  // A FILE that cannot be read, as in `cairn add $'nofile\\nlogged 1 entry ...'`.
  const missing = captureIo();
  expect(await addCommand([...t.common, join(t.dir, `nofile\n${fake}`)], missing)).toBe(2);
  expect(missing.err()).toContain(`nofile\\u000a${fake}`);
  expect(missing.err().split('\n').filter((l) => l.startsWith('logged'))).toEqual([]);
  // An empty FILE: the error quotes its name, on one line (a fault of the input's: no pointer to --help).
  const empty = join(t.dir, `empty\n${fake}`);
  await writeFile(empty, '');
  const io = captureIo();
  expect(await addCommand([...t.common, empty], io)).toBe(2);
  expect(io.err().split('\n')).toEqual([`cairn add: ${join(t.dir, 'empty')}\\u000a${fake}: an entry must hold at least one byte (nothing was sent)`, '']);
});

test("the summary names a receipts file holding a newline escaped, on one line", async () => {
  const receipts = join(t.dir, 'r\nlogged 9 entries\u202e.jsonl');
  const io = captureIo({ stdin: 'one entry' });
  expect(await addCommand([...t.common, '--receipts', receipts], io)).toBe(0);
  expect(io.err().trimEnd().split('\n')).toHaveLength(1);
  expect(io.err()).toContain('; receipts in ');
  expect(io.err()).toContain('r\\u000alogged 9 entries\\u202e.jsonl\n');
  expect(io.err()).not.toMatch(RAW_UNSAFE);
  expect((await readFile(receipts, 'utf8')).split('\n').filter((l) => l !== '')).toHaveLength(1);
});

test('jsonLine writes DEL, C1 and bidi characters as \\u escapes: one line, no raw ones, the same value parsed back', () => {
  const value = { a: SNEAKY, nested: [SNEAKY, { [SNEAKY]: 'k\n\u0000\u001b' }], n: 1, ok: true, none: null, plain: 'é — 日本 😀 \\u0085' };
  const line = jsonLine(value);
  expect(line.endsWith('\n')).toBe(true);
  expect(line.slice(0, -1)).not.toMatch(RAW_UNSAFE);
  expect(line.slice(0, -1)).not.toMatch(RAW_JSON_UNSAFE);
  expect(line).not.toMatch(/\n./);
  expect(JSON.parse(line)).toEqual(value);
  expect(line).toContain('x\\u009b2J\\u202eEVIL\\u2066\\u007f\\u0085\\u2069\\u202a');
  // What was an escaped backslash stays one: the text "\\u0085" is not turned into the character.
  expect((JSON.parse(line) as { plain: string }).plain).toBe('é — 日本 😀 \\u0085');
});

test("cairn add's receipts of a checkpoint with C1 and bidi characters in an extension line are written escaped, and parse back to the log's note", async () => {
  t.fake.extensions = [SNEAKY];
  const io = captureIo({ stdin: 'an entry' });
  expect(await addCommand([...t.common], io)).toBe(0);
  const out = io.out();
  expect(out).not.toMatch(RAW_JSON_UNSAFE);
  expect(out).not.toMatch(RAW_UNSAFE);
  const lines = out.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  const receipt = JSON.parse(lines[0]!) as { checkpoint: string };
  expect(receipt.checkpoint.split('\n')[3]).toBe(SNEAKY);
});
