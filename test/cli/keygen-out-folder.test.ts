// keygen --out naming a folder is told so, not called an existing key file
// (nor, for a path ending in '/', a missing folder above it); nothing is made.
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-keygen-folder-');

test('an existing folder, with or without a final slash or as ".", is refused as a folder, exit 2', async () => {
  const folder = join(dir(), 'keys');
  await mkdir(folder);
  for (const out of [folder, `${folder}/`, `${folder}/.`]) {
    const res = await runCli(['keygen', '--origin', 'keys.example/log', '--out', out]);
    expect([out, res.code, res.stdout, res.stderr]).toEqual([out, 2, '', `cairn keygen: --out ${out} is a folder; give the path of a new file, such as ${join(folder, 'log.key')}\nRun 'cairn keygen --help' for its options.\n`]);
  }
  expect(await readdir(folder)).toEqual([]);
});

test("a path ending in '/' names a folder even where none exists", async () => {
  const out = `${join(dir(), 'missing')}/`;
  const res = await runCli(['keygen', '--origin', 'keys.example/log', '--out', out]);
  expect([res.code, res.stderr]).toEqual([2, `cairn keygen: --out ${out} names a folder (it ends in '/'); give the path of a new file, such as ${join(out, 'log.key')}\nRun 'cairn keygen --help' for its options.\n`]);
  expect(await readdir(dir())).toEqual([]);
});

test('a folder path typed with a newline or an ESC is shown escaped, on one line', async () => {
  const out = `${join(dir(), 'x\nverifier key: forged+1+AA\u001b[31m')}/`;
  const res = await runCli(['keygen', '--origin', 'keys.example/log', '--out', out]);
  const shown = `${join(dir(), 'x\\u{000A}verifier key: forged+1+AA\\u{001B}[31m')}/`;
  expect([res.code, res.stdout, res.stderr]).toEqual([2, '', `cairn keygen: --out ${shown} names a folder (it ends in '/'); give the path of a new file, such as ${shown}log.key\nRun 'cairn keygen --help' for its options.\n`]);
});
