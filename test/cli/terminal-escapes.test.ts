// The client commands print what others wrote (a log's error body, an entry,
// a file name) so that a terminal shows it rather than acts on it: control
// characters and bidi overrides escaped, an entry holding them as base64.
import { join } from 'node:path';
import { addCommand } from '../../src/cli/add.js';
import { printableText } from '../../src/cli/client-common.js';
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
