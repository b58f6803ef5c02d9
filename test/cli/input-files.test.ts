// An input file that cannot be read is named with why, in words, the same
// for add, prove --entry and verify-receipt (its receipts and its --entry):
// it does not exist, it is a folder, a part of its path is a file.
import { writeFile } from 'node:fs/promises';
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
    ['add', (io) => addCommand([...common, missing], io), `cannot read ${missing}: it does not exist (ENOENT: no such file or directory)`],
    ['add', (io) => addCommand([...common, dir()], io), `cannot read ${dir()}: it is a folder, not a file`],
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
