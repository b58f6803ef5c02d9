// A server out of file descriptors (its open-file limit reached: LevelDB's
// reads fail "Too many open files", its reopen EMFILE), out of address space
// to map a table into (ENOMEM under ulimit -v: "Cannot allocate memory"),
// past its file-size limit (EFBIG under ulimit -f: "File too large") or out
// of disk: the answers are 503 STORAGE_FAILED with Retry-After, never 500,
// and say which it is rather than guessing "is the disk full?"; a read that
// failed so is logged for the operator (paced), who is to raise the limit.
import { join } from 'node:path';
import request from 'supertest';
import { createApp } from '../../src/http/app.js';
import { shortageOf, storeUnavailable, toLogError } from '../../src/http/errors.js';
import { Log } from '../../src/log/log.js';
import type { Logger } from '../../src/log/logger.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { StoreUnavailableError, type LogStore } from '../../src/storage/store.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';
import { useTempDir } from '../helpers/temp-dir.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dir = useTempDir('cairn-shortage-');

/** A read error as LevelDB gives one when the process has no descriptor left: only its text says why. */
function levelTooManyFiles(): Error {
  return Object.assign(new Error('IO error: /var/lib/cairn/db/001046.ldb: Too many open files'), { code: 'LEVEL_IO_ERROR' });
}

/** A read error as LevelDB gives one when it cannot map a table file (mmap failed ENOMEM: an address-space limit): only its text says why. */
function levelCannotMap(): Error {
  return Object.assign(new Error('IO error: /var/lib/cairn/db/000532.ldb: Cannot allocate memory'), { code: 'LEVEL_IO_ERROR' });
}

/** A write error as LevelDB gives one when a file would pass the process's file-size limit (EFBIG). */
function levelFileTooLarge(): Error {
  return Object.assign(new Error('IO error: /var/lib/cairn/db/000045.log: File too large'), { code: 'LEVEL_IO_ERROR' });
}

/** The error of a store that could not be reopened after a failed write, because an open failed `code`. */
function notReopened(code: 'EMFILE' | 'ENOSPC' | 'EFBIG', text: string): StoreUnavailableError {
  const os = Object.assign(new Error(`${code}: ${text}, open '/var/lib/cairn/db/001074.log'`), { code });
  const open = new Error(`cannot open the store in /var/lib/cairn/db: ${os.message}`, { cause: os });
  return new StoreUnavailableError(`the store in /var/lib/cairn/db could not be opened again after a failed write: ${open.message}`, { cause: open });
}

test('shortageOf finds too many open files, a full disk, no memory to map a file or the file-size limit in an error or its causes, by code or by text', () => {
  expect(shortageOf(levelTooManyFiles())).toBe('files');
  expect(shortageOf(notReopened('EMFILE', 'too many open files'))).toBe('files');
  expect(shortageOf(Object.assign(new Error('x'), { code: 'ENFILE' }))).toBe('files');
  expect(shortageOf(notReopened('ENOSPC', 'no space left on device'))).toBe('disk');
  expect(shortageOf(new Error('IO error: write failed', { cause: new Error('No space left on device') }))).toBe('disk');
  expect(shortageOf(levelCannotMap())).toBe('memory');
  expect(shortageOf(Object.assign(new Error('x'), { code: 'ENOMEM' }))).toBe('memory');
  expect(shortageOf(levelFileTooLarge())).toBe('file-size');
  expect(shortageOf(notReopened('EFBIG', 'file too large'))).toBe('file-size');
  for (const other of [new Error('IO error: bad block'), new TypeError('a bug'), 'a string', undefined, null]) expect(shortageOf(other)).toBeUndefined();
  // A cause that points back at its error ends the walk.
  const loop = new Error('a');
  (loop as { cause?: unknown }).cause = loop;
  expect(shortageOf(loop)).toBeUndefined();
});

test('the store-unavailable answer names too many open files or a full disk when that is the cause, and guesses among the likely ones otherwise', () => {
  const files = toLogError(notReopened('EMFILE', 'too many open files'));
  expect([files.code, files.retryAfter]).toEqual(['STORAGE_FAILED', 5]);
  expect(files.message).toMatch(/too many open files \(EMFILE\)/);
  expect(files.message).not.toMatch(/disk/);
  expect(toLogError(notReopened('ENOSPC', 'no space left on device')).message).toMatch(/the disk is full \(ENOSPC\)/);
  const unknown = storeUnavailable();
  expect(unknown.code).toBe('STORAGE_FAILED');
  expect(unknown.message).toMatch(/is the disk full, are too many files open, or is the server's file-size limit reached\?/);
  expect(storeUnavailable(notReopened('ENOSPC', 'x').cause).message).toMatch(/ENOSPC/);
});

test('a store that could not be reopened for the file-size limit (EFBIG) says so, rather than guessing a full disk or too many files', () => {
  const error = toLogError(notReopened('EFBIG', 'file too large'));
  expect([error.code, error.retryAfter]).toEqual(['STORAGE_FAILED', 5]);
  expect(error.message).toMatch(/file-size limit \(EFBIG\)/);
  expect(error.message).not.toMatch(/disk|open files/);
});

test('a read that fails with too many open files is 503 STORAGE_FAILED with Retry-After, not 500 INTERNAL; other read failures stay 500', () => {
  const error = toLogError(levelTooManyFiles());
  expect([error.code, error.retryAfter]).toEqual(['STORAGE_FAILED', 5]);
  expect(error.message).toMatch(/EMFILE/);
  expect(toLogError(Object.assign(new Error('IO error: bad block'), { code: 'LEVEL_IO_ERROR' })).code).toBe('INTERNAL');
});

test('a read that fails for want of address space (a table LevelDB cannot map: ENOMEM) is 503 STORAGE_FAILED with Retry-After, not 500 INTERNAL', () => {
  const error = toLogError(levelCannotMap());
  expect([error.code, error.retryAfter]).toEqual(['STORAGE_FAILED', 5]);
  expect(error.message).toMatch(/ENOMEM/);
  expect(error.message).not.toMatch(/disk|open files/);
  expect(toLogError(levelFileTooLarge()).code).toBe('STORAGE_FAILED');
});

/** Serves a log of 300 entries whose store reads fail with `readError()` once asked to; `check` gets its app and the log lines so far. */
async function withFailingReads(readError: () => Error, check: (app: ReturnType<typeof createApp>, lines: { level: string; msg: string; fields: Record<string, unknown> }[], failReads: (on: boolean) => void) => Promise<void>): Promise<void> {
  const inner = await LevelStore.open(join(dir(), 'db'));
  let failReads = false;
  // Every read fails as LevelDB's does for the shortage `readError` gives.
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (failReads && typeof name === 'string' && /^(read(Tiles|Bundle|Entry|Entries)|findLeafHashes)$/.test(name)) {
        return () => Promise.reject(readError());
      }
      return (value as (...args: unknown[]) => unknown).bind(target);
    },
  }) as LogStore;
  const log = await Log.open({ store, signer: testSigner, verifier: testVerifier });
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const add = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void lines.push({ level, msg, fields });
  const logger: Logger = { info: add('info'), warn: add('warn'), error: add('error') };
  const app = createApp({ log, verifierKey: vector.verifier_key, logger });
  try {
    await log.submit(Array.from({ length: 300 }, (_, i) => enc(`entry ${i}`)));
    await check(app, lines, (on) => (failReads = on));
  } finally {
    await log.close();
  }
}

test('a proof whose store read fails with too many open files: 503 with Retry-After, and an error line telling the operator to raise the limit', async () => {
  await withFailingReads(levelTooManyFiles, async (app, lines, failReads) => {
    failReads(true);
    const res = await request(app).get('/ct/v1/get-entry-and-proof?leaf_index=5&tree_size=300');
    expect([res.status, res.body.code, Number(res.headers['retry-after'])]).toEqual([503, 'STORAGE_FAILED', 5]);
    expect(res.body.error).toMatch(/too many open files \(EMFILE\)/);
    // More requests failed so within 10 s add no line: one while the shortage lasts, not one per request.
    for (const path of ['/ct/v1/get-entry-and-proof?leaf_index=6&tree_size=300', '/ct/v1/get-entries?start=0&end=3']) {
      expect((await request(app).get(path)).status).toBe(503);
    }
    const errors = lines.filter((line) => line.level === 'error');
    expect(errors).toEqual([expect.objectContaining({ msg: expect.stringMatching(/too many open files \(EMFILE\).*ulimit -n/), fields: expect.objectContaining({ path: '/ct/v1/get-entry-and-proof', failed: 1 }) })]);
    failReads(false);
    expect((await request(app).get('/ct/v1/get-entry-and-proof?leaf_index=5&tree_size=300')).status).toBe(200);
  });
});

test('reads that fail for a table LevelDB cannot map (ENOMEM under an address-space limit): 503 with Retry-After, and one paced error line naming the limit', async () => {
  await withFailingReads(levelCannotMap, async (app, lines, failReads) => {
    failReads(true);
    for (const path of ['/ct/v1/get-entry-and-proof?leaf_index=5&tree_size=300', '/tile/entries/000', '/ct/v1/get-entries?start=0&end=3']) {
      const res = await request(app).get(path);
      expect([res.status, res.body.code, Number(res.headers['retry-after'])]).toEqual([503, 'STORAGE_FAILED', 5]);
      expect(res.body.error).toMatch(/ENOMEM/);
    }
    const errors = lines.filter((line) => line.level === 'error');
    expect(errors).toEqual([expect.objectContaining({ msg: expect.stringMatching(/ENOMEM.*address-space limit \(ulimit -v, or LimitAS in systemd\).*MemoryMax=/), fields: expect.objectContaining({ path: '/ct/v1/get-entry-and-proof', failed: 1 }) })]);
    expect(errors.some((line) => line.msg === 'internal error')).toBe(false);
  });
});
