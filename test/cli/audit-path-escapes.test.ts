// cairn audit names its data folder in every line it prints: a folder named
// with a line break or a bidi override must not print a line of its own (an
// 'OK: ' line after a MISMATCH, say) nor reorder the line. Its lines show the folder with every
// non-printing character escaped, as serve and the store's own messages do.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { auditCommand } from '../../src/cli/audit.js';
import { startServer } from '../../src/cli/server.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { captureIo } from './client-io.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-audit-escapes-');

/** Raw C0 (newline too), DEL, C1, bidi embeddings, overrides and isolates. */
// eslint-disable-next-line no-control-regex
const RAW_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** A folder name that, printed raw, starts an 'OK: ' line of its own and reverses the text after it. */
const CRAFTED = 'd\nOK: all is well\u202Ex';
const SHOWN = 'd\\u{000A}OK: all is well\\u{202E}x';

/** A new, empty log's data folder named {@link CRAFTED}, its server stopped. */
async function craftedStore(): Promise<string> {
  const data = join(dir(), CRAFTED);
  await mkdir(data, { mode: 0o700 });
  await (await startServer({ data, host: '127.0.0.1', port: 0, origin: 'o.example/log' })).close();
  return data;
}

/** `text` is one line: its only line break is the last character, and nothing else in it is raw. */
function expectOneLine(text: string): void {
  expect(text.endsWith('\n')).toBe(true);
  expect(text.slice(0, -1)).not.toMatch(RAW_UNSAFE);
}

test("the OK line names a crafted data folder escaped, on one line", async () => {
  const data = await craftedStore();
  const io = captureIo();
  expect(await auditCommand(['--data', data, '--quiet'], io)).toBe(0);
  expectOneLine(io.out());
  expect(io.out()).toMatch(new RegExp(`^OK: ${join(dir(), SHOWN).replace(/[\\.{}]/g, '\\$&')} holds 0 entries of o\\.example/log;`));
});

test('a MISMATCH line (damaged store files, whose message names them) is one line, the folder escaped', async () => {
  const data = await craftedStore();
  await rm(join(data, 'db', 'CURRENT'));
  const io = captureIo();
  expect(await auditCommand(['--data', data], io)).toBe(1);
  expectOneLine(io.out());
  expect(io.out()).toContain(`MISMATCH in ${join(dir(), SHOWN)} (store): `);
  // The store's own message names the folder escaped the same way, once: oneLine finds nothing left to escape.
  expect(io.out()).toContain(`(store): the store in ${join(dir(), SHOWN, 'db')} has lost its CURRENT file`);
});

test('the line saying the store is in use names the folder escaped', async () => {
  const data = await craftedStore();
  const held = await LevelStore.open(join(data, 'db'));
  try {
    const io = captureIo();
    expect(await auditCommand(['--data', data], io)).toBe(2);
    expectOneLine(io.err());
    expect(io.err()).toBe(
      `cairn audit: the data folder ${join(dir(), SHOWN)} is in use by another Cairn process (a server running on it holds its store's lock); stop it first, or audit a copy of ${join(dir(), SHOWN)} taken while the server was stopped\n`,
    );
  } finally {
    await held.close();
  }
});
