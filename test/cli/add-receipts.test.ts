// cairn add and its receipts file: each batch's receipts are written whole
// (a short write is continued, a failed one cut back to the last whole
// receipt, and the message names the entries logged without one) and made
// durable before the next request; the file is only appended to, never
// emptied, may not be an input, and is opened again if its path is removed
// or renamed meanwhile; SIGINT or SIGTERM lets the request in flight finish,
// then stops with a summary.
import { existsSync } from 'node:fs';
import { appendFile, readFile, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { jest } from '@jest/globals';
import { ADD_USAGE, addCommand, processAdd, type AddProcess } from '../../src/cli/add.js';
import { openReceiptsFile, ReceiptsWriteError, ReceiptsWriter, type ReceiptsFile } from '../../src/cli/receipts-file.js';
import { processStopSignals, REPEAT_SIGNAL_MS } from '../../src/cli/stop-signals.js';
import { enc, events, hashOf, receiptsOf, stdinOf } from './add-lines.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest, send } from './fake-log.js';

const t = fakeLogEachTest(600, 'cairn-add-receipts-');

let fileNumber = 0;
/** A path in the suite's folder not used before. */
const freshPath = (name: string) => join(t.dir, `${fileNumber++}-${name}`);
const batchRequests = () => t.fake.requests.filter((p) => p === 'v1/batch').length;

/**
 * A process for cairn add whose signals the test sends, whose exit (by status
 * or by a signal) is only recorded, and whose clock moves only by `later()`,
 * past the window in which a signal is the first one repeated.
 */
function fakeProcess(openReceipts: AddProcess['openReceipts'] = processAdd().openReceipts) {
  const listeners: ((signal: string) => void)[] = [];
  let clock = 0;
  const exits: number[] = [];
  /** Each signal the process was ended by, with how many listeners were left then. */
  const kills: { signal: string; listeners: number }[] = [];
  const proc: AddProcess = {
    onStop(listener) {
      listeners.push(listener);
      return () => {
        const at = listeners.indexOf(listener);
        if (at >= 0) listeners.splice(at, 1);
      };
    },
    exit: (status) => void exits.push(status),
    kill: (signal) => void kills.push({ signal, listeners: listeners.length }),
    now: () => clock,
    openReceipts,
  };
  const later = () => void (clock += REPEAT_SIGNAL_MS);
  return { proc, exits, kills, listeners, later, signal: (name: string) => [...listeners].forEach((l) => l(name)) };
}

/**
 * Opens a real file to append to, as cairn add does, with its writes replaced
 * by `write` and its fdatasync by `datasync`.
 */
function openWith(
  write: (real: ReceiptsFile, buffer: Uint8Array, offset: number, length: number) => Promise<{ bytesWritten: number }>,
  datasync: (real: ReceiptsFile) => Promise<void> = (real) => real.datasync(),
): AddProcess['openReceipts'] {
  return async (path) => {
    const { file, created } = await processAdd().openReceipts(path);
    const wrapped: ReceiptsFile = {
      write: (buffer, offset, length) => write(file, buffer, offset, length),
      read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
      stat: () => file.stat(),
      truncate: (length) => file.truncate(length),
      datasync: () => datasync(file),
      atPath: () => file.atPath!(),
      close: () => file.close(),
    };
    return { file: wrapped, created };
  };
}

const efbig = () => Object.assign(new Error('EFBIG: file too large, write'), { code: 'EFBIG' });

test('a write that writes fewer bytes than asked is continued: every receipt is written whole', async () => {
  const receipts = freshPath('short.jsonl');
  const lines = events(5, 'short');
  let calls = 0;
  const { proc } = fakeProcess(openWith((real, buffer, offset, length) => (calls++, real.write(buffer, offset, Math.min(length, 50)))));
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--receipts', receipts], io, proc)).toBe(0);
  expect(receiptsOf(await readFile(receipts, 'utf8')).map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
  expect(calls).toBeGreaterThan(5 * 3);
});

test('a write that fails part way through a batch: the file is cut back to its last whole receipt, and the message says what was logged and which entries have no receipt, with their log indexes', async () => {
  const receipts = freshPath('efbig.jsonl');
  const lines = events(12, 'efbig');
  let appends = 0;
  let failNext = false;
  // The second batch's write stops 10 bytes into its second receipt, as at a file size limit; the next write fails.
  const { proc } = fakeProcess(
    openWith(async (real, buffer, offset, length) => {
      if (failNext) throw efbig();
      if (++appends < 2) return real.write(buffer, offset, length);
      failNext = true;
      const firstLineEnd = buffer.indexOf(0x0a, offset) + 1;
      return real.write(buffer, offset, firstLineEnd - offset + 10);
    }),
  );
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '4', '--receipts', receipts], io, proc)).toBe(2);
  expect(io.err()).toBe(
    `cairn add: cannot write the receipts to ${receipts}: EFBIG: file too large, write: 8 entries were logged, the receipts of the first 5 (through <stdin>:5) written in full; ` +
      "the 3 entries <stdin>:6 to <stdin>:8 (log indexes 605 to 607) were logged without their receipts ('cairn prove INDEX' gives each one's proof); nothing after <stdin>:8 was sent\n",
  );
  const text = await readFile(receipts, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  expect(receiptsOf(text).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 5).map(hashOf));
  expect(t.fake.entries).toHaveLength(608);
  expect(batchRequests()).toBe(2);
});

test('a write that fails after another run appended to the same FILE (a second descriptor): what that run wrote is not cut away, and the message says FILE may hold a cut-off receipt of this run', async () => {
  const receipts = freshPath('shared.jsonl');
  const lines = events(4, 'shared');
  const other = '{"index":1,"leaf_hash":"of another run"}\n';
  let appends = 0;
  const { proc } = fakeProcess(
    openWith(async (real, buffer, offset, length) => {
      appends++;
      if (appends === 1) return real.write(buffer, offset, length);
      if (appends === 2) {
        // The second batch's write stops 10 bytes into its second receipt, as at a file size limit.
        const firstLineEnd = buffer.indexOf(0x0a, offset) + 1;
        return real.write(buffer, offset, firstLineEnd - offset + 10);
      }
      // Another cairn add appends its receipt through a descriptor of its own; then this run's next write fails.
      await appendFile(receipts, other);
      throw efbig();
    }),
  );
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--receipts', receipts], io, proc)).toBe(2);
  expect(io.err()).toBe(
    `cairn add: cannot write the receipts to ${receipts}: EFBIG: file too large, write: 4 entries were logged, the receipts of the first 3 (through <stdin>:3) written in full; ` +
      `<stdin>:4 (log index 603) was logged without its receipt ('cairn prove 603' gives its proof); ${receipts} was not cut back, since something else appended to it meanwhile: ` +
      'it may hold a cut-off receipt of this run, run together with the line after it; nothing after <stdin>:4 was sent\n',
  );
  const text = await readFile(receipts, 'utf8');
  expect(text.endsWith(other)).toBe(true);
  const fileLines = text.split('\n');
  expect(receiptsOf(fileLines.slice(0, 3).join('\n')).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 3).map(hashOf));
  expect(fileLines[3]).toHaveLength(10 + other.length - 1);
  expect(fileLines.slice(4)).toEqual(['']);
});

test('a write that fails before any receipt is written names the one entry logged without it, with its index for cairn prove', async () => {
  const receipts = freshPath('full.jsonl');
  const { proc } = fakeProcess(openWith(() => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }))));
  const io = captureIo({ stdin: 'one entry' });
  expect(await addCommand([...t.common, '--receipts', receipts], io, proc)).toBe(2);
  expect(io.err()).toBe(
    `cairn add: cannot write the receipts to ${receipts}: ENOSPC: no space left on device, write: 1 entry was logged, no receipt written; <stdin> (log index 600) was logged without its receipt ('cairn prove 600' gives its proof); nothing after <stdin> was sent\n`,
  );
  expect(await readFile(receipts, 'utf8')).toBe('');
});

/**
 * A ReceiptsFile in memory that writes at most `chunk` bytes a call, and
 * fails once it holds `limit`; `regular` says whether it is a regular file
 * (else a character device). Each fdatasync is recorded as the length then
 * (`syncs`), and fails with `syncError` if one is set; `atPath` is what its
 * atPath says, if set.
 */
function memoryFile(limit: number, chunk: number, regular: boolean, initial = '') {
  let data = Buffer.from(initial);
  const truncations: number[] = [];
  const syncs: number[] = [];
  const state: { syncError?: Error; atPath?: boolean; closed: boolean } = { closed: false };
  const file: ReceiptsFile = {
    write: async (buffer, offset, length) => {
      const n = Math.min(length, chunk, limit - data.length);
      if (n === 0) throw efbig();
      data = Buffer.concat([data, buffer.subarray(offset, offset + n)]);
      return { bytesWritten: n };
    },
    read: async (buffer, offset, length, position) => {
      const part = data.subarray(position, position + length);
      buffer.set(part, offset);
      return { bytesRead: part.length };
    },
    stat: async () => ({ isFile: () => regular, isBlockDevice: () => false, size: data.length, nlink: 1 }) as unknown as Awaited<ReturnType<ReceiptsFile['stat']>>,
    truncate: async (length) => {
      truncations.push(length);
      if (!regular) throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
      data = data.subarray(0, length);
    },
    datasync: async () => {
      syncs.push(data.length);
      if (state.syncError !== undefined) throw state.syncError;
    },
    close: async () => void (state.closed = true),
  };
  const atPath = async () => state.atPath ?? true;
  return { file, fileByPath: { ...file, atPath }, text: () => data.toString('utf8'), truncations, syncs, state };
}

const eio = (call: string) => Object.assign(new Error(`EIO: i/o error, ${call}`), { code: 'EIO' });

test('ReceiptsWriter: lines cut off by a failed write are removed from a regular file; a pipe or device, which cannot be cut back, is said to end in a cut-off line', async () => {
  const regular = memoryFile(25, 4, true);
  const w = await ReceiptsWriter.open(regular.file);
  await w.append(['{"a":1}\n']);
  const err = await w.append(['{"b":2}\n', '{"c":3}\n', '{"d":4}\n']).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ReceiptsWriteError);
  expect(err).toMatchObject({ written: 2, cut: false, message: 'EFBIG: file too large, write' });
  expect(regular.text()).toBe('{"a":1}\n{"b":2}\n{"c":3}\n');
  expect(regular.truncations).toEqual([24]);

  const device = memoryFile(12, 100, false);
  const d = await ReceiptsWriter.open(device.file);
  await expect(d.append(['{"a":1}\n', '{"b":2}\n'])).rejects.toMatchObject({ written: 1, cut: true });
  expect(device.text()).toBe('{"a":1}\n{"b"');
  expect(device.truncations).toEqual([]);
});

test('ReceiptsWriter: a file whose last line was cut off (an earlier crash) is written to from a new line', async () => {
  const m = memoryFile(1000, 1000, true);
  await m.file.write(enc('{"cut'), 0, 5);
  const w = await ReceiptsWriter.open(m.file);
  await w.append(['{"a":1}\n']);
  await w.append(['{"b":2}\n']);
  expect(m.text()).toBe('{"cut\n{"a":1}\n{"b":2}\n');
});

test('receipts are appended to FILE: receipts written before stay, and a cut-off last line is ended first', async () => {
  const receipts = freshPath('append.jsonl');
  const first = events(2, 'append-1');
  expect(await addCommand([...t.common, '--json-lines', '--receipts', receipts], captureIo({ stdin: stdinOf(first) }), fakeProcess().proc)).toBe(0);
  await writeFile(receipts, `${await readFile(receipts, 'utf8')}{"index":6`);
  const second = events(2, 'append-2');
  expect(await addCommand([...t.common, '--json-lines', '--receipts', receipts], captureIo({ stdin: stdinOf(second) }), fakeProcess().proc)).toBe(0);
  const text = await readFile(receipts, 'utf8');
  const lines = text.split('\n');
  expect(lines[2]).toBe('{"index":6');
  expect(receiptsOf([...lines.slice(0, 2), ...lines.slice(3)].join('\n')).map((r) => r.leaf_hash)).toEqual([...first, ...second].map(hashOf));
});

test('a run that logs nothing (401 without a token) leaves the receipts of an earlier run as they were', async () => {
  const receipts = freshPath('kept.jsonl');
  const before = '{"index":1,"leaf_hash":"x"}\n';
  await writeFile(receipts, before);
  t.fake.hook = (path, _req, res) => {
    if (path !== 'v1/batch') return false;
    send(res, 401, { error: 'a token is needed', code: 'UNAUTHORIZED' });
    return true;
  };
  const io = captureIo({ stdin: 'refused' });
  expect(await addCommand([...t.common, '--receipts', receipts], io, fakeProcess().proc)).toBe(2);
  expect(io.err()).toMatch(/401/);
  expect(await readFile(receipts, 'utf8')).toBe(before);
});

test('--receipts that is one of the inputs (by its name or through a link) is refused before anything is sent, and the input is left whole', async () => {
  const input = freshPath('same.jsonl');
  const text = stdinOf(events(3, 'same'));
  await writeFile(input, text);
  const link = freshPath('link.jsonl');
  await symlink(input, link);
  for (const receipts of [input, link]) {
    const io = captureIo();
    expect(await addCommand([...t.common, '--json-lines', '--receipts', receipts, input], io, fakeProcess().proc)).toBe(2);
    expect(io.err()).toBe(`cairn add: --receipts ${receipts} is the input ${input}: receipts are appended to the receipts file, so give one that is not an input\nRun 'cairn add --help' for its options.\n`);
    expect(await readFile(input, 'utf8')).toBe(text);
  }
  expect(t.fake.requests).toEqual([]);
});

test('a receipts FILE that cannot be opened is refused before any request is sent', async () => {
  const io = captureIo({ stdin: 'never sent' });
  const receipts = join(t.dir, 'no-such-folder', 'r.jsonl');
  expect(await addCommand([...t.common, '--receipts', receipts], io, fakeProcess().proc)).toBe(2);
  const folder = join(t.dir, 'no-such-folder');
  expect(io.err()).toBe(
    `cairn add: cannot write ${receipts}: the folder ${folder} does not exist (ENOENT: no such file or directory); make it first: mkdir -p ${folder}\nRun 'cairn add --help' for its options.\n`,
  );
  // A folder given as the receipts FILE says so.
  const intoFolder = captureIo({ stdin: 'never sent' });
  expect(await addCommand([...t.common, '--receipts', t.dir], intoFolder, fakeProcess().proc)).toBe(2);
  expect(intoFolder.err()).toMatch(new RegExp(`^cairn add: cannot write ${t.dir}: it is a folder; give the path of a file, in it or elsewhere \\(EISDIR: `));
  expect(t.fake.requests).toEqual([]);
});

test("--receipts - is standard output, as an input '-' is standard input: no file named '-' is made", async () => {
  const lines = events(2, 'dash');
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--receipts', '-'], io, fakeProcess().proc)).toBe(0);
  expect(receiptsOf(io.out()).map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
  expect(existsSync(join(process.cwd(), '-'))).toBe(false);
  expect(io.err()).not.toContain('receipts in');
});

test('receipts on standard output that cannot be written (a closed pipe): exit 2, saying which entries were logged without their receipts, and no success line', async () => {
  const lines = events(4, 'pipe');
  const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
  const io = captureIo({ stdin: stdinOf(lines), stdoutError: epipe, failStdoutAfter: 1 });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2'], io, fakeProcess().proc)).toBe(2);
  expect(receiptsOf(io.out()).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 2).map(hashOf));
  expect(io.err()).toBe(
    "cairn add: cannot write the receipts to standard output: write EPIPE: 4 entries were logged, the receipts of the first 2 (through <stdin>:2) written in full; the 2 entries <stdin>:3 to <stdin>:4 (log indexes 602 to 603) were logged without their receipts ('cairn prove INDEX' gives each one's proof); nothing after <stdin>:4 was sent\n",
  );
});

test('SIGINT while a request is in flight: that request is finished and its receipts written, no other is sent, and the summary says how far it got (exit 2)', async () => {
  const receipts = freshPath('sigint.jsonl');
  const lines = events(10, 'sigint');
  const f = fakeProcess();
  let batches = 0;
  t.fake.hook = (path) => {
    if (path === 'v1/batch' && ++batches === 2) f.signal('SIGINT');
    return false;
  };
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--receipts', receipts], io, f.proc)).toBe(2);
  expect(io.err()).toBe(
    'cairn add: SIGINT: finishing the request in flight, then sending nothing more; a second SIGINT or SIGTERM, 1 s or more later, stops at once\n' +
      'cairn add: stopped by SIGINT: the 4 entries through <stdin>:4 were logged and their receipts written; nothing from <stdin>:5 on was logged\n',
  );
  expect(receiptsOf(await readFile(receipts, 'utf8')).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 4).map(hashOf));
  expect(t.fake.entries).toHaveLength(604);
  expect(batchRequests()).toBe(2);
  expect(f.exits).toEqual([]);
  expect(f.listeners).toHaveLength(0);
});

test('a signal repeated less than REPEAT_SIGNAL_MS after the first, of the same kind or the other (npm run passes Ctrl-C on as well), is the same stop: the request in flight is finished (exit 2)', async () => {
  for (const [first, repeat] of [['SIGINT', 'SIGINT'], ['SIGTERM', 'SIGINT']] as const) {
    const receipts = freshPath(`repeat-${first}-${repeat}.jsonl`);
    const lines = events(10, `repeat-${first}-${repeat}`);
    const f = fakeProcess();
    let batches = 0;
    t.fake.hook = (path) => {
      if (path === 'v1/batch' && ++batches === 2) {
        f.signal(first);
        f.signal(repeat);
      }
      return false;
    };
    const io = captureIo({ stdin: stdinOf(lines) });
    const start = t.fake.entries.length;
    expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--receipts', receipts], io, f.proc)).toBe(2);
    expect(io.err()).toBe(
      `cairn add: ${first}: finishing the request in flight, then sending nothing more; a second SIGINT or SIGTERM, 1 s or more later, stops at once\n` +
        `cairn add: stopped by ${first}: the 4 entries through <stdin>:4 were logged and their receipts written; nothing from <stdin>:5 on was logged\n`,
    );
    expect(receiptsOf(await readFile(receipts, 'utf8')).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 4).map(hashOf));
    expect(t.fake.entries.length - start).toBe(4);
    expect([f.exits, f.kills, f.listeners.length]).toEqual([[], [], 0]);
  }
});

test('a second signal, REPEAT_SIGNAL_MS or more after the first, ends the process at once (exit 2), saying what was logged and that the request in flight may have been', async () => {
  const lines = events(6, 'twice');
  const f = fakeProcess();
  let batches = 0;
  t.fake.hook = (path) => {
    if (path === 'v1/batch' && ++batches === 2) {
      f.signal('SIGTERM');
      f.later();
      f.signal('SIGINT');
    }
    return false;
  };
  const io = captureIo({ stdin: stdinOf(lines) });
  await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--quiet'], io, f.proc);
  expect(f.exits).toEqual([2]);
  expect(io.err().split('\n')[0]).toBe(
    'cairn add: stopped at once by a second SIGINT: the 2 entries through <stdin>:2 were logged and their receipts written; the 2 entries from <stdin>:3 on were sent and may have been logged without their receipts written',
  );
});

test('a second signal (after the window) once the log has answered (the entries are logged) but before their receipts are written says they were logged, with their indexes', async () => {
  const lines = events(6, 'answered');
  const f = fakeProcess();
  let proofs = 0;
  t.fake.hook = (path) => {
    // The batch's checkpoint is proved to extend the one before it before its receipts are written.
    if (path.startsWith('ct/v1/get-sth-consistency') && ++proofs === 1) {
      f.signal('SIGTERM');
      f.later();
      f.signal('SIGINT');
    }
    return false;
  };
  const io = captureIo({ stdin: stdinOf(lines) });
  await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--quiet'], io, f.proc);
  expect(proofs).toBe(1);
  expect(f.exits).toEqual([2]);
  const logged = t.fake.entries.length;
  expect(io.err().split('\n')[0]).toBe(
    `cairn add: stopped at once by a second SIGINT: no receipt was written; the 2 entries <stdin>:1 to <stdin>:2 (log indexes ${logged - 2} to ${logged - 1}) were logged, ` +
      "and their receipts may be missing from standard output ('cairn prove INDEX' gives each one's proof)",
  );
});

test('a second signal (after the window) while receipts are being written to FILE (a write that may be stuck, as to a pipe nobody reads) ends the process by that signal, its listeners removed, not by exit (which would wait for the write)', async () => {
  const receipts = freshPath('stuck.jsonl');
  const lines = events(6, 'stuck');
  let appends = 0;
  const f = fakeProcess(
    openWith((real, buffer, offset, length) => {
      if (++appends === 2) {
        f.signal('SIGTERM');
        f.later();
        f.signal('SIGINT');
      }
      return real.write(buffer, offset, length);
    }),
  );
  const io = captureIo({ stdin: stdinOf(lines) });
  await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--quiet', '--receipts', receipts], io, f.proc);
  expect(f.kills).toEqual([{ signal: 'SIGINT', listeners: 0 }]);
  expect(f.exits).toEqual([]);
  expect(io.err().split('\n')[0]).toBe(
    `cairn add: stopped at once by a second SIGINT while writing receipts to ${receipts}: the 2 entries through <stdin>:2 were logged and their receipts written; ` +
      "the 2 entries <stdin>:3 to <stdin>:4 (log indexes 602 to 603) were logged, and their receipts may be missing or cut off there ('cairn prove INDEX' gives each one's proof)",
  );
});

test('a second signal (after the window) while --receipts FILE is being opened (an open that may hang in node\'s thread pool, as on a file system that does not answer) ends the process by that signal, not by exit (which would wait for the open)', async () => {
  let fail: ((err: Error) => void) | undefined;
  const f = fakeProcess(() => new Promise((_resolve, reject) => (fail = reject)));
  const io = captureIo({ stdin: stdinOf(events(1, 'hung-open')) });
  const run = addCommand([...t.common, '--json-lines', '--quiet', '--receipts', freshPath('hung.jsonl')], io, f.proc);
  // Resolves once the open is under way (a wait for an event, looked at every few ms).
  while (fail === undefined) await new Promise((resolve) => setTimeout(resolve, 2));
  f.signal('SIGINT');
  f.later();
  f.signal('SIGINT');
  expect(f.kills).toEqual([{ signal: 'SIGINT', listeners: 0 }]);
  expect(f.exits).toEqual([]);
  expect(io.err()).toBe('cairn add: stopped at once by a second SIGINT: nothing was logged\n');
  // The open that was stuck fails in the end; nothing was sent.
  fail(new Error('EIO: i/o error, open'));
  expect(await run).toBe(2);
  expect(t.fake.requests).toEqual([]);
});

test('SIGTERM while a refused request (429) waits to be sent again: it is not sent again, and nothing of it was logged', async () => {
  const lines = events(6, 'wait');
  const f = fakeProcess();
  let batches = 0;
  t.fake.hook = (path, _req, res) => {
    if (path !== 'v1/batch' || ++batches !== 2) return false;
    res.setHeader('Retry-After', '30');
    send(res, 429, { error: 'slow down', code: 'RATE_LIMITED' });
    return true;
  };
  const io = captureIo({ stdin: stdinOf(lines), onSleep: () => f.signal('SIGTERM') });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--quiet'], io, f.proc)).toBe(2);
  expect(io.err()).toBe('cairn add: stopped by SIGTERM: the 2 entries through <stdin>:2 were logged and their receipts written; nothing from <stdin>:3 on was logged\n');
  expect(receiptsOf(io.out())).toHaveLength(2);
  expect(batchRequests()).toBe(2);
  expect(t.fake.entries).toHaveLength(602);
});

test('by default cairn add listens for SIGINT, SIGTERM and SIGHUP only while it runs, through processStopSignals, whose own listeners stay on the process (for a repeat after it is done)', async () => {
  const on = jest.spyOn(processStopSignals, 'on');
  const off = jest.spyOn(processStopSignals, 'off');
  try {
    const during: { removed: number; process: number[] }[] = [];
    t.fake.hook = () => {
      during.push({ removed: off.mock.calls.length, process: [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM'), process.listenerCount('SIGHUP')] });
      return false;
    };
    expect(await addCommand([...t.common, '--quiet'], captureIo({ stdin: 'default process' }))).toBe(0);
    const listener = on.mock.calls[0]?.[1];
    expect(on.mock.calls).toEqual([
      ['SIGINT', listener],
      ['SIGTERM', listener],
      // A closed terminal or ssh session: without a listener, node would end cairn add at once, without the receipts of the request in flight.
      ['SIGHUP', listener],
    ]);
    expect(during.map((d) => d.removed)).toEqual(during.map(() => 0));
    expect(off.mock.calls).toEqual(on.mock.calls);
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM'), process.listenerCount('SIGHUP')]).toEqual(during.at(-1)?.process);
  } finally {
    on.mockRestore();
    off.mockRestore();
  }
});

test('ReceiptsWriter: each append to a regular file is made durable (fdatasync) before it resolves; a character device or pipe is not synced, and a file whose fsync says EINVAL or ENOTSUP is written on unsynced', async () => {
  const regular = memoryFile(1000, 1000, true);
  const w = await ReceiptsWriter.open(regular.file);
  await w.append(['{"a":1}\n']);
  expect(regular.syncs).toEqual([8]);
  await w.append(['{"b":2}\n', '{"c":3}\n']);
  expect(regular.syncs).toEqual([8, 24]);

  const device = memoryFile(1000, 1000, false);
  await (await ReceiptsWriter.open(device.file)).append(['{"a":1}\n']);
  expect(device.syncs).toEqual([]);

  for (const code of ['EINVAL', 'ENOTSUP']) {
    const unsyncable = memoryFile(1000, 1000, true);
    unsyncable.state.syncError = Object.assign(new Error(code), { code });
    const u = await ReceiptsWriter.open(unsyncable.file);
    await u.append(['{"a":1}\n']);
    await u.append(['{"b":2}\n']);
    expect([unsyncable.text(), unsyncable.syncs]).toEqual(['{"a":1}\n{"b":2}\n', [8]]);
  }
});

test('ReceiptsWriter: an fdatasync that fails (EIO) rejects as a failed write does, with none of the lines counted as written and notDurable set; they stay in the file', async () => {
  const m = memoryFile(1000, 1000, true);
  const w = await ReceiptsWriter.open(m.file);
  await w.append(['{"a":1}\n']);
  m.state.syncError = eio('fdatasync');
  const err = await w.append(['{"b":2}\n', '{"c":3}\n']).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ReceiptsWriteError);
  expect(err).toMatchObject({ written: 0, cut: false, notDurable: true, message: 'EIO: i/o error, fdatasync' });
  expect(m.text()).toBe('{"a":1}\n{"b":2}\n{"c":3}\n');
  expect(m.truncations).toEqual([]);
});

test("each batch's receipts are synced to FILE before the next request is sent", async () => {
  const receipts = freshPath('synced.jsonl');
  const lines = events(6, 'synced');
  const order: string[] = [];
  t.fake.hook = (path) => {
    if (path === 'v1/batch') order.push('batch');
    return false;
  };
  const { proc } = fakeProcess(
    openWith(
      (real, buffer, offset, length) => real.write(buffer, offset, length),
      async (real) => {
        order.push(`sync ${receiptsOf(await readFile(receipts, 'utf8')).length}`);
        return real.datasync();
      },
    ),
  );
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--quiet', '--receipts', receipts], captureIo({ stdin: stdinOf(lines) }), proc)).toBe(0);
  expect(order).toEqual(['batch', 'sync 2', 'batch', 'sync 4', 'batch', 'sync 6']);
});

test('an fdatasync of FILE that fails (EIO) stops cairn add (exit 2) as a failed write does, naming the entries logged without a durable receipt; nothing more is sent', async () => {
  const receipts = freshPath('eio.jsonl');
  const lines = events(6, 'eio');
  let syncs = 0;
  const { proc } = fakeProcess(
    openWith(
      (real, buffer, offset, length) => real.write(buffer, offset, length),
      (real) => (++syncs === 2 ? Promise.reject(eio('fdatasync')) : real.datasync()),
    ),
  );
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--receipts', receipts], io, proc)).toBe(2);
  expect(io.err()).toBe(
    `cairn add: cannot make the receipts in ${receipts} durable: EIO: i/o error, fdatasync: 4 entries were logged, the receipts of the first 2 (through <stdin>:2) written in full; ` +
      `the 2 entries <stdin>:3 to <stdin>:4 (log indexes 602 to 603) were logged without durable receipts (written to ${receipts}, but not made durable: a crash may lose them) ` +
      "('cairn prove INDEX' gives each one's proof); nothing after <stdin>:4 was sent\n",
  );
  expect(batchRequests()).toBe(2);
});

test('openReceiptsFile: a FILE it makes is made durable in its folder (an fsync of the folder) before it is given; one already there is not; a folder that cannot be synced (EIO) fails the open and leaves no file behind', async () => {
  const synced: string[] = [];
  const record = async (folder: string) => void synced.push(folder);
  const made = freshPath('made.jsonl');
  const opened = await openReceiptsFile(made, record);
  await opened.file.close();
  expect([opened.created, synced]).toEqual([true, [dirname(made)]]);
  const again = await openReceiptsFile(made, record);
  await again.file.close();
  expect([again.created, synced]).toEqual([false, [dirname(made)]]);

  const failed = freshPath('folder-eio.jsonl');
  await expect(openReceiptsFile(failed, () => Promise.reject(eio('fsync')))).rejects.toThrow('EIO: i/o error, fsync');
  expect(existsSync(failed)).toBe(false);
  // A folder this user may not open to read, or a file system without a folder fsync: the file is given all the same.
  for (const code of ['EACCES', 'EINVAL']) {
    const unsynced = await openReceiptsFile(freshPath(`folder-${code}.jsonl`), () => Promise.reject(Object.assign(new Error(code), { code })));
    await unsynced.file.close();
    expect(unsynced.created).toBe(true);
  }
});

test('ReceiptsWriter: a regular file its path no longer names is closed and the path opened again before the next append; the writer goes on from the new file as it is, and cuts back only its own bytes there', async () => {
  const old = memoryFile(1000, 1000, true);
  const other = '{"of":"another run"}\n';
  // The new file, made by another writer meanwhile, holds a line of its own, and takes 12 bytes more at most.
  const next = memoryFile(other.length + 12, 1000, true, other);
  const reopened: boolean[] = [];
  const w = await ReceiptsWriter.open(old.fileByPath, async () => ({ file: next.fileByPath, created: false }));
  await w.append(['{"a":1}\n'], (removed) => reopened.push(removed));
  expect(reopened).toEqual([]);
  old.state.atPath = false;
  await expect(w.append(['{"b":2}\n', '{"c":3}\n'], (removed) => reopened.push(removed))).rejects.toMatchObject({ written: 1, cut: false });
  expect(reopened).toEqual([false]);
  expect(old.state.closed).toBe(true);
  expect(old.text()).toBe('{"a":1}\n');
  expect(next.text()).toBe(`${other}{"b":2}\n`);
  expect(next.truncations).toEqual([other.length + 8]);
});

test('a FILE renamed while cairn add runs (logrotate): the receipts from then on go to a new FILE, with a warning even with --quiet; those before stay in the renamed file', async () => {
  for (const touch of [false, true]) {
    const receipts = freshPath(`rotated-${touch}.jsonl`);
    const lines = events(6, `rotated-${touch}`);
    let batches = 0;
    t.fake.hook = async (path) => {
      if (path === 'v1/batch' && ++batches === 2) {
        await rename(receipts, `${receipts}.1`);
        // logrotate's create: a new empty FILE at once.
        if (touch) await writeFile(receipts, '');
      }
      return false;
    };
    const io = captureIo({ stdin: stdinOf(lines) });
    expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--quiet', '--receipts', receipts], io, fakeProcess().proc)).toBe(0);
    expect(io.err()).toBe(
      `cairn add: warning: ${receipts} was moved or replaced while cairn add ran: the receipts written to it before <stdin>:3 are in the file moved; those from <stdin>:3 on are in the new ${receipts}\n`,
    );
    expect(receiptsOf(await readFile(`${receipts}.1`, 'utf8')).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 2).map(hashOf));
    expect(receiptsOf(await readFile(receipts, 'utf8')).map((r) => r.leaf_hash)).toEqual(lines.slice(2).map(hashOf));
  }
});

test("a FILE removed while cairn add runs: the receipts from then on go to a new FILE, the warning says those before went with it, and the summary says from which entry FILE holds this run's receipts", async () => {
  const receipts = freshPath('removed.jsonl');
  const lines = events(6, 'removed');
  let batches = 0;
  t.fake.hook = async (path) => {
    if (path === 'v1/batch' && ++batches === 3) await unlink(receipts);
    return false;
  };
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--receipts', receipts], io, fakeProcess().proc)).toBe(0);
  const [warning, summary] = io.err().split('\n');
  expect(warning).toBe(`cairn add: warning: ${receipts} was removed while cairn add ran, and with it the receipts written to it before <stdin>:5; those from <stdin>:5 on are in a new ${receipts}`);
  expect(summary).toMatch(new RegExp(`; receipts in ${receipts} from <stdin>:5 on \\(the file there before was moved or removed while cairn add ran\\)$`));
  expect(receiptsOf(await readFile(receipts, 'utf8')).map((r) => r.leaf_hash)).toEqual(lines.slice(4).map(hashOf));
});

test('with --json, the summary names the first entry whose receipt went to a FILE made again ("receipts_remade_from"), null when FILE stayed, and says "stopped_by": null for a run that was not stopped', async () => {
  const receipts = freshPath('remade.jsonl');
  const lines = events(6, 'remade');
  let batches = 0;
  t.fake.hook = async (path) => {
    if (path === 'v1/batch' && ++batches === 2) await unlink(receipts);
    return false;
  };
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--json', '--receipts', receipts], io, fakeProcess().proc)).toBe(0);
  const [warning, summary] = io.err().trim().split('\n');
  expect(warning).toMatch(/^cairn add: warning: .* was removed while cairn add ran/);
  expect(JSON.parse(summary!)).toMatchObject({ entries: 6, receipts_remade_from: '<stdin>:3', stopped_by: null });
  t.fake.hook = undefined;

  const stayed = captureIo({ stdin: stdinOf(events(2, 'stayed')) });
  expect(await addCommand([...t.common, '--json-lines', '--json', '--receipts', freshPath('stayed.jsonl')], stayed, fakeProcess().proc)).toBe(0);
  expect(JSON.parse(stayed.err().trim())).toMatchObject({ entries: 2, receipts_remade_from: null, stopped_by: null });
  expect(ADD_USAGE).toMatch(/With --json,\s+"stopped_by" names the signal that stopped a --stream run cleanly/);
  expect(ADD_USAGE).toMatch(/"receipts_remade_from" the first entry\s+\(FILE:LINE\) whose receipt went to --receipts FILE made again/);
});

test('a FILE removed while cairn add runs that cannot be made again: exit 2, as a failed write, naming the entries logged without their receipts', async () => {
  const receipts = freshPath('gone.jsonl');
  const lines = events(6, 'gone');
  let opens = 0;
  const { proc } = fakeProcess(async (path) => {
    if (++opens === 1) return processAdd().openReceipts(path);
    throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
  });
  let batches = 0;
  t.fake.hook = async (path) => {
    if (path === 'v1/batch' && ++batches === 2) await unlink(receipts);
    return false;
  };
  const io = captureIo({ stdin: stdinOf(lines) });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--receipts', receipts], io, proc)).toBe(2);
  expect(io.err()).toBe(
    `cairn add: cannot write the receipts to ${receipts}: it was removed while receipts were written to it, and it cannot be opened again: EACCES: permission denied, open '${receipts}': ` +
      '4 entries were logged, the receipts of the first 2 (through <stdin>:2) written in full; ' +
      "the 2 entries <stdin>:3 to <stdin>:4 (log indexes 602 to 603) were logged without their receipts ('cairn prove INDEX' gives each one's proof); nothing after <stdin>:4 was sent\n",
  );
  expect(batchRequests()).toBe(2);
  expect(existsSync(receipts)).toBe(false);
});
