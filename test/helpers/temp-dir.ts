// A fresh folder under the system's temp folder for every test of a file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Makes a new temporary folder (named `prefix` + random) before each test
 * and removes it, with all it holds, after; returns a getter for the current
 * one. Call it at the top of a file, before the file's own beforeEach, which
 * then already has the folder. Its removal runs before the file's own
 * afterEach hooks, so a file that must close something in the folder first
 * should not use it.
 */
export function useTempDir(prefix: string): () => string {
  let dir: string | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
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
