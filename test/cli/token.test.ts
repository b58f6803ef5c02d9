// Client commands against a log that needs write tokens: the token comes from
// $CAIRN_TOKEN and goes out as a bearer token.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addCommand } from '../../src/cli/add.js';
import { createKeyFile } from '../../src/cli/key-file.js';
import { hashToken } from '../../src/http/access.js';
import { useCliServer } from '../helpers/cli-server.js';
import { captureIo } from './client-io.js';

const TOKEN = 'submitter-secret-token-0123456789';
const t = useCliServer('cairn-cli-token-', async (dir) => {
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, `ci submit ${hashToken(TOKEN)}\n`, { mode: 0o600 });
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

test('key files are made whole or not at all, never overwritten', async () => {
  const path = join(t.dir, 'made.key');
  await createKeyFile(path, 'keys.test/log');
  await expect(createKeyFile(path, 'keys.test/log')).rejects.toThrow(/refusing to overwrite/);
  const { readdir } = await import('node:fs/promises');
  expect((await readdir(t.dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});
