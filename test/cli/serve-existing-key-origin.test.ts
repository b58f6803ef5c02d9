// The visible-text rule for origins (test/cli/new-key-origin.test.ts) is for
// keys Cairn makes. A key an earlier version made, whose origin holds a
// character the rule now refuses (the variation selector U+FE0F of an emoji,
// say), must keep starting when --origin or CAIRN_ORIGIN names it, as a
// service unit that always sets CAIRN_ORIGIN does: with an existing key the
// origin given is only compared with the key's.
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateSignerKey } from '../../src/note/keys.js';
import { runCli, startServerProcess } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-existing-key-origin-');

/** U+2764 U+FE0F: a red heart drawn as an emoji. */
const HEART = 'example.org/\u2764\ufe0f';

/** Writes a key for `origin` to `path` as an earlier version (or another tool) would have made it. */
async function oldKey(path: string, origin: string): Promise<void> {
  await writeFile(path, `${generateSignerKey(origin)}\n`, { mode: 0o600 });
}

/** Runs serve with `args` until it listens, stops it; resolves to its stdout. */
async function startOut(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const server = await startServerProcess(args, env);
  expect(await server.stop()).toBe(0);
  return server.stdout();
}

test('an existing default key whose origin holds U+FE0F starts with --origin or CAIRN_ORIGIN naming it', async () => {
  const data = join(dir(), 'data');
  await mkdir(data, { mode: 0o700 });
  await oldKey(join(data, 'log.key'), HEART);
  expect(await startOut(['--data', data, '--origin', HEART, '--new-log'])).toContain(`log ${HEART} at tree size 0\n`);
  // Restarted as a service unit that always sets the variable.
  expect(await startOut(['--data', data], { CAIRN_ORIGIN: HEART })).toContain(`log ${HEART} at tree size 0\n`);
});

test('an existing --key whose origin holds U+FE0F starts with --origin naming it', async () => {
  const key = join(dir(), 'log.key');
  await oldKey(key, HEART);
  expect(await startOut(['--data', join(dir(), 'data'), '--key', key, '--origin', HEART, '--new-log'])).toContain(`log ${HEART} at tree size 0\n`);
});

test("with an existing key, another origin is refused as not the key's, its hidden characters escaped", async () => {
  const data = join(dir(), 'data');
  await mkdir(data, { mode: 0o700 });
  const key = join(data, 'log.key');
  await oldKey(key, HEART);
  const res = await runCli(['serve', '--data', data, '--port', '0', '--origin', 'example.org/\u2764']);
  expect([res.code, res.stdout, res.stderr]).toEqual([1, '', `cairn serve: the key in ${key} is for origin example.org/\u2764\\u{FE0F}, not example.org/\u2764\n`]);
});

test('a key about to be made is still held to the rule: U+FE0F and a zero-width joiner are refused before anything is made', async () => {
  const data = join(dir(), 'data');
  const refused = await runCli(['serve', '--data', data, '--port', '0', '--origin', HEART]);
  expect([refused.code, refused.stderr]).toEqual([2, expect.stringMatching(/^cairn serve: invalid origin "example\.org\/\u2764\\u\{FE0F\}" \(from --origin\): it holds U\+FE0F, /)]);
  // A family emoji: man, ZWJ, woman, ZWJ, girl.
  const joined = await runCli(['serve', '--data', data, '--port', '0'], { CAIRN_ORIGIN: 'example.org/\u{1F468}\u200d\u{1F469}\u200d\u{1F467}' });
  expect([joined.code, joined.stderr]).toEqual([2, expect.stringContaining('(from CAIRN_ORIGIN): it holds U+200D, ')]);
  await expect(stat(data)).rejects.toThrow(/ENOENT/);
  // A data folder that exists without a key is a key about to be made too.
  await mkdir(data, { mode: 0o700 });
  expect((await runCli(['serve', '--data', data, '--port', '0', '--origin', HEART])).code).toBe(2);
  expect(await readdir(data)).toEqual([]);
});
