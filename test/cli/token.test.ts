// Client commands against a log that needs write tokens: the token comes from
// $CAIRN_TOKEN and goes out as a bearer token.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addCommand } from '../../src/cli/add.js';
import { monitorCommand } from '../../src/cli/monitor.js';
import { createKeyFile } from '../../src/cli/key-file.js';
import { hashToken } from '../../src/http/access.js';
import { useCliServer } from '../helpers/cli-server.js';
import { captureIo } from './client-io.js';

const TOKEN = 'submitter-secret-token-0123456789';
const READER = 'reader-secret-token-0123456789';
const t = useCliServer('cairn-cli-token-', async (dir) => {
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, `ci submit ${hashToken(TOKEN)}\nviewer read ${hashToken(READER)}\n`, { mode: 0o600 });
  return { tokens };
});

test('cairn add sends $CAIRN_TOKEN; without it the log refuses the write', async () => {
  const file = join(t.dir, 'entry.txt');
  await writeFile(file, 'needs a token');
  const args = [...t.common, file];
  const without = captureIo();
  expect(await addCommand(args, without)).toBe(2);
  expect(without.err()).toMatch(/401|token/i);
  const withToken = captureIo({ env: { CAIRN_TOKEN: TOKEN } });
  expect(await addCommand(args, withToken)).toBe(0);
  expect(t.server.log.latest().treeSize).toBe(1);
  const wrong = captureIo({ env: { CAIRN_TOKEN: 'not-the-token' } });
  expect(await addCommand(args, wrong)).toBe(2);
});

test("a log's 401 or 403 keeps its words and says where cairn takes a token from: CAIRN_TOKEN, and whether the one given was refused", async () => {
  const file = join(t.dir, 'refused.txt');
  await writeFile(file, 'refused');
  const args = [...t.common, file];
  const size = t.server.log.latest().treeSize;
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /: 401 UNAUTHORIZED: this needs an access token with role submit \(send Authorization: Bearer <token>\); this log needs an access token: put it in the environment variable CAIRN_TOKEN \(cairn reads it from there only, never from an option, which other users could read in ps\)/],
    [{ CAIRN_TOKEN: 'not-the-token' }, /: 401 UNAUTHORIZED: unknown or malformed access token .*; the log does not take the token in CAIRN_TOKEN: check it, or ask the log's operator for one/],
    [{ CAIRN_TOKEN: READER }, /: 403 FORBIDDEN: the token viewer has role read; this needs submit; the token in CAIRN_TOKEN does not have the role this needs: ask the log's operator for one that has/],
  ];
  for (const [env, message] of cases) {
    const io = captureIo({ env });
    expect(await addCommand(args, io)).toBe(2);
    expect(io.err()).toMatch(new RegExp(`^cairn add: (GET|POST) \\S+${message.source}`));
  }
  expect(t.server.log.latest().treeSize).toBe(size);
});

test('--token is refused, saying the token comes from CAIRN_TOKEN only (a command line shows in ps), and echoing no token', async () => {
  for (const args of [['--token', 'abc-secret'], ['--token=abc-secret']]) {
    const io = captureIo();
    expect(await addCommand([...t.common, ...args, 'f'], io)).toBe(2);
    expect(io.err()).toBe(
      "cairn add: Unknown option '--token': an access token is read from the environment variable CAIRN_TOKEN only, never from an option, which other users could read in ps\nRun 'cairn add --help' for its options.\n",
    );
  }
  // A command that takes no arguments (node words its unknown options apart) says it too.
  const io = captureIo();
  expect(await monitorCommand(['--token', 'abc-secret'], io)).toBe(2);
  expect(io.err()).toMatch(/^cairn monitor: Unknown option '--token': an access token is read from the environment variable CAIRN_TOKEN only/);
});

test('key files are made whole or not at all, never overwritten', async () => {
  const path = join(t.dir, 'made.key');
  await createKeyFile(path, 'keys.test/log');
  await expect(createKeyFile(path, 'keys.test/log')).rejects.toThrow(/refusing to overwrite/);
  const { readdir } = await import('node:fs/promises');
  expect((await readdir(t.dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});
