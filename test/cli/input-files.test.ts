// An input file that cannot be read is named with why, in words, the same
// for add, prove --entry and verify-receipt (its receipts and its --entry):
// it does not exist, it is a folder, a part of its path is a file; and what
// prove --entry and verify-receipt --entry read is refused as add refuses it
// when it cannot be an entry.
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addCommand } from '../../src/cli/add.js';
import { proveCommand } from '../../src/cli/prove.js';
import { verifyReceiptCommand } from '../../src/cli/verify-receipt.js';
import { generateSignerKey, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { captureIo } from './client-io.js';

const dir = useTempDir('cairn-input-files-');
const vkey = verifierKeyFromSignerKey(generateSignerKey('inputs.test/log'));

test('a missing file, a folder or a path through a file is named with why, before the log is asked anything', async () => {
  const missing = join(dir(), 'nofile.pdf');
  const file = join(dir(), 'entry.txt');
  await writeFile(file, 'an entry');
  const asked: string[] = [];
  const fetch = async (url: string) => (asked.push(url), new Response(''));
  const common = ['--url', 'http://127.0.0.1:9', '--vkey', vkey];
  const runs: [string, (io: ReturnType<typeof captureIo>) => Promise<number>, string][] = [
    // cairn add checks all of its inputs before it sends any: it says that nothing was sent, as of any input found bad.
    ['add', (io) => addCommand([...common, missing], io), `cannot read ${missing}: it does not exist (ENOENT: no such file or directory) (nothing was sent)`],
    ['add', (io) => addCommand([...common, dir()], io), `cannot read ${dir()}: it is a folder, not a file (nothing was sent)`],
    ['prove', (io) => proveCommand([...common, '--entry', missing], io), `cannot read ${missing}: it does not exist (ENOENT: no such file or directory)`],
    ['prove', (io) => proveCommand([...common, '--entry', join(file, 'x')], io), `cannot read ${join(file, 'x')}: a part of its path is a file, not a folder (ENOTDIR: not a directory)`],
    ['verify-receipt', (io) => verifyReceiptCommand([missing, '--entry', file, '--vkey', vkey], io), `cannot read ${missing}: it does not exist (ENOENT: no such file or directory)`],
    ['verify-receipt', (io) => verifyReceiptCommand([dir(), '--entry', file, '--vkey', vkey], io), `cannot read ${dir()}: it is a folder, not a file (EISDIR: illegal operation on a directory)`],
    ['verify-receipt', (io) => verifyReceiptCommand([file, '--entry', missing, '--vkey', vkey], io), `cannot read ${missing}: it does not exist (ENOENT: no such file or directory)`],
  ];
  for (const [name, run, message] of runs) {
    const io = captureIo({ fetch });
    expect([name, await run(io)]).toEqual([name, 2]);
    expect(io.err()).toBe(`cairn ${name}: ${message}\nRun 'cairn ${name} --help' for its options.\n`);
  }
  expect(asked).toEqual([]);
});

test('prove --entry and verify-receipt --entry refuse what cannot be an entry before the log is asked, reading no more of it than an entry can be', async () => {
  const file = async (name: string, data: string | Uint8Array) => {
    const path = join(dir(), name);
    await writeFile(path, data);
    return path;
  };
  const empty = await file('empty.bin', '');
  const over = await file('over.bin', new Uint8Array(65_536));
  const huge = join(dir(), 'huge.bin');
  await truncate(await file('huge.bin', ''), 3 * 2 ** 30); // sparse: node's readFile refuses it with a bare ERR_FS_FILE_TOO_LARGE
  const canonicalOver = await file('canonical-over.json', `"${'a'.repeat(65_534)}"`); // 65,536 bytes as logged
  const padded = await file('padded.json', ' '.repeat(2 ** 20) + '1'); // small as logged, but more JSON than the log takes
  // Over 65,535 bytes as read, and maybe not as logged: JSON's canonical form drops its blanks.
  const prettyOver = await file('pretty-over.json', `\r\n\t {\n  "a": "${'x'.repeat(65_600)}"\n}\n`);
  const jcsHint = '; if it is JSON whose canonical form (RFC 8785: what the log stores for a JSON submission) was logged, add --jcs';
  const asked: string[] = [];
  const fetch = async (url: string) => (asked.push(url), new Response(''));
  const common = ['--url', 'http://127.0.0.1:9', '--vkey', vkey];
  const receipt = join(dir(), 'receipt.json');
  const runs: [string, string[], string | Uint8Array, string][] = [
    ['prove', ['--entry', empty], '', `${empty}: an entry must hold at least one byte`],
    ['prove', ['--entry', '-'], '', '<stdin>: an entry must hold at least one byte'],
    ['prove', ['--entry', over], '', `${over}: more than 65535 bytes; an entry holds at most 65535`],
    ['prove', ['--entry', '-'], new Uint8Array(65_536), '<stdin>: more than 65535 bytes; an entry holds at most 65535'],
    ['prove', ['--entry', huge], '', `${huge}: more than 65535 bytes; an entry holds at most 65535`],
    ['verify-receipt', [receipt, '--entry', huge], '', `${huge}: more than 65535 bytes; an entry holds at most 65535`],
    ['verify-receipt', [receipt, '--entry', over], '', `${over}: more than 65535 bytes; an entry holds at most 65535`],
    ['prove', ['--entry', canonicalOver, '--jcs'], '', `${canonicalOver}: its canonical form (RFC 8785) is 65536 bytes; an entry holds at most 65535`],
    ['verify-receipt', [receipt, '--entry', '-', '--jcs'], `"${'a'.repeat(65_534)}"`, '<stdin>: its canonical form (RFC 8785) is 65536 bytes; an entry holds at most 65535'],
    ['prove', ['--entry', padded, '--jcs'], '', `${padded}: more than 1048576 bytes, more JSON than the log takes for one entry`],
    ['verify-receipt', [receipt, '--entry', prettyOver], '', `${prettyOver}: more than 65535 bytes; an entry holds at most 65535${jcsHint}`],
    ['prove', ['--entry', '-'], ` [${'1,'.repeat(40_000)}1]`, `<stdin>: more than 65535 bytes; an entry holds at most 65535${jcsHint}`],
    // What does not begin as an object or an array (here a JSON string): no hint.
    ['prove', ['--entry', '-'], `"${'a'.repeat(65_534)}"`, '<stdin>: more than 65535 bytes; an entry holds at most 65535'],
  ];
  for (const [name, args, stdin, message] of runs) {
    const io = captureIo({ fetch, stdin });
    const status = name === 'prove' ? await proveCommand([...common, ...args], io) : await verifyReceiptCommand([...args, '--vkey', vkey], io);
    expect([name, ...args, status, io.err()]).toEqual([name, ...args, 2, `cairn ${name}: ${message}\n`]);
  }
  expect(asked).toEqual([]);

  // The largest entry is read whole, and the log asked about it.
  const io = captureIo({ fetch });
  await proveCommand([...common, '--entry', await file('max.bin', new Uint8Array(65_535))], io);
  expect(asked.length).toBeGreaterThan(0);
});

test('prove --entry of a device that never ends stops reading it past what an entry can be', async () => {
  for (const jcs of [[], ['--jcs']]) {
    const io = captureIo();
    expect(await proveCommand(['--url', 'http://127.0.0.1:9', '--vkey', vkey, '--entry', '/dev/zero', ...jcs], io)).toBe(2);
    expect(io.err()).toBe(jcs.length === 0 ? 'cairn prove: /dev/zero: more than 65535 bytes; an entry holds at most 65535\n' : 'cairn prove: /dev/zero: more than 1048576 bytes, more JSON than the log takes for one entry\n');
  }
});
