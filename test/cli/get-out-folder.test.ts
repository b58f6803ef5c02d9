// cairn get --out names a file: a path spelled as a folder's (a trailing '/',
// a last part '.' or '..') is refused before the log is asked, whether or not
// it exists, instead of failing with EISDIR after the fetch.
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { getCommand } from '../../src/cli/get.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest } from './fake-log.js';

const ctx = fakeLogEachTest(3, 'cairn-get-out-folder-');

test('--out spelled as a folder is refused before the log is asked (exit 2), existing or not', async () => {
  const base = join(ctx.dir, 'spelled');
  await mkdir(base);
  await mkdir(join(base, 'there'));
  for (const [out, why] of [
    [join(base, 'newdir') + '/', "it names a folder (it ends in '/')"],
    [join(base, 'there') + '/', "it names a folder (it ends in '/')"],
    [`${join(base, 'newdir')}/.`, "it names a folder (its last part is '.')"],
    [`${join(base, 'newdir')}/..`, "it names a folder (its last part is '..')"],
    ['.', "it names a folder (its last part is '.')"],
    ['..', "it names a folder (its last part is '..')"],
  ] as const) {
    let asked = 0;
    const io = captureIo({ fetch: (url, init) => (asked++, fetch(url, init)) });
    expect([out, await getCommand([...ctx.common, '1', '--out', out], io)]).toEqual([out, 2]);
    expect(io.err()).toBe(`cairn get: cannot write --out ${out}: ${why}; give a file name\nRun 'cairn get --help' for its options.\n`);
    expect([out, asked]).toEqual([out, 0]);
  }
  expect(ctx.fake.requests).toEqual([]);
  expect((await readdir(base)).sort()).toEqual(['there']);
  // A file name in the same folder is taken.
  expect(await getCommand([...ctx.common, '1', '--out', join(base, 'newfile')], captureIo())).toBe(0);
  expect((await readdir(base)).sort()).toEqual(['newfile', 'there']);
});
