// A fresh folder under the system's temp folder for every test of a file.
import { mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Makes a new temporary folder (named `prefix` + random) before each test
 * and removes it, with all it holds, after; returns a getter for the current
 * one. Call it at the top of a file, before the file's own beforeEach, which
 * then already has the folder. Its removal runs before the file's own
 * afterEach hooks, so a file that must close something in the folder first
 * should not use it.
 *
 * With `closedAbove`, for tests of serve's walk up the folders above its
 * files (src/file-trust.ts), the folder is made where no folder above it may
 * be written by group or others without the sticky bit, nor belongs to
 * another user than this one and root: under the system's temp folder
 * (TMPDIR) where that holds there, else under /tmp where it holds there,
 * else the test fails saying so. A TMPDIR under a 0775 folder (made under
 * umask 002, a Kubernetes fsGroup volume) would otherwise add its own
 * refusals or warnings to every start.
 */
export function useTempDir(prefix: string, options: { closedAbove?: boolean } = {}): () => string {
  let dir: string | undefined;
  let root: Promise<string> | undefined;
  beforeEach(async () => {
    root ??= options.closedAbove === true ? closedTempRoot() : Promise.resolve(tmpdir());
    dir = await mkdtemp(join(await root, prefix));
  });
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => {
    if (dir === undefined) throw new Error('useTempDir: the folder exists only while a test runs');
    return dir;
  };
}

/** TMPDIR, else /tmp, where every folder from it up to / is closed (see useTempDir's `closedAbove`). */
async function closedTempRoot(): Promise<string> {
  const euid = process.geteuid?.() ?? 0;
  const openAbove = async (start: string): Promise<string | undefined> => {
    for (let folder = await realpath(start); ; folder = dirname(folder)) {
      const info = await stat(folder);
      const sticky = (info.mode & 0o1000) !== 0;
      if ((info.uid !== euid && info.uid !== 0) || (!sticky && (info.mode & 0o022) !== 0)) return folder;
      if (dirname(folder) === folder) return undefined;
    }
  };
  for (const candidate of [tmpdir(), '/tmp']) {
    if ((await openAbove(candidate)) === undefined) return candidate;
  }
  throw new Error(`useTempDir: neither ${tmpdir()} nor /tmp is in folders closed to other users (${await openAbove(tmpdir())} is not); set TMPDIR to one that is`);
}
