// cairn add --json-lines --stream: the input is read once, as it comes, and
// sent in batches (at --batch-size, --flush-after from a batch's first line,
// at the end of the input), holding no more than the batch being filled; a
// bad line or a stop signal ends the reading once the lines read before are
// logged. Without --stream, a stop signal while standard input is read, or
// more of it than cairn add holds, ends cairn add with a message, nothing
// sent. In-process against a fake log; standard input is a PassThrough or a
// generator, and the flush waits go through io.sleep, which the test ends.
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { check, entriesOf, HELD_BLOCK_BYTES, HELD_SMALL_CHUNK_BYTES, heldTooMuch, MAX_HELD_INPUT_BYTES, MAX_LINE_BYTES, type Reading } from '../../src/cli/add-input.js';
import { ADD_USAGE, addCommand, IndexRuns, processAdd } from '../../src/cli/add.js';
import type { CliIo } from '../../src/cli/client-common.js';
import { MAX_ENTRY_SIZE } from '../../src/merkle/bundle.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { enc, events, fakeAddProcess, hashOf, receiptsOf, stdinOf } from './add-lines.js';
import { captureIo, type CapturedIo } from './client-io.js';
import { fakeLogEachTest, send } from './fake-log.js';

const t = fakeLogEachTest(600, 'cairn-add-stream-');

const batchRequests = () => t.fake.requests.filter((p) => p === 'v1/batch').length;

/** A process for cairn add whose signals the test sends, receipts files opened as the real one opens them. */
const fakeProcess = () => fakeAddProcess(processAdd().openReceipts);

/**
 * An io.sleep whose waits of `ms` (the --flush-after waits) end only when
 * the test calls `fire()`, or when cut short; any other wait ends at once.
 */
function heldSleep(ms: number) {
  const waiting = new Set<() => void>();
  const sleep = (asked: number, signal?: AbortSignal): Promise<void> => {
    if (asked !== ms) return Promise.resolve();
    return new Promise((resolve) => {
      const end = () => {
        waiting.delete(end);
        resolve();
      };
      if (signal?.aborted === true) return resolve();
      signal?.addEventListener('abort', end, { once: true });
      waiting.add(end);
    });
  };
  return { sleep, waiting: () => waiting.size, fire: () => [...waiting].forEach((end) => end()) };
}

/** A CliIo whose standard input comes as `chunks` yields it, a chunk at a time. */
function streamIo(chunks: AsyncIterable<Uint8Array>, sleep?: CliIo['sleep'], options: Parameters<typeof captureIo>[0] = {}): CapturedIo {
  const io = captureIo(options);
  return { ...io, readStdinChunks: () => chunks, ...(sleep === undefined ? {} : { sleep }) };
}

/**
 * Standard input that gives `lines`, one chunk each, then waits, as a
 * producer that has not ended, until `end()`: `waiting()` once all of them
 * were taken and the next asked for; `pulled()` counts the chunks taken.
 */
function producer(lines: string[]) {
  let waiting = false;
  let pulled = 0;
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (const line of lines) {
      pulled++;
      yield enc(`${line}\n`);
    }
    waiting = true;
    await ended;
  }
  return { chunks: chunks(), waiting: () => waiting, pulled: () => pulled, end };
}

/** Resolves once `condition` holds (checked every few ms: a wait for an event, not a timed assertion). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 2));
}

test('with --stream, receipts come back while the input goes on: a batch that is not full is sent once its --flush-after wait ends, and the rest at the end of the input', async () => {
  const lines = events(5, 'flush');
  const input = new PassThrough();
  const flush = heldSleep(250);
  const io = streamIo(input, flush.sleep, { tty: true });
  let finished = false;
  const run = addCommand([...t.common, '--json-lines', '--stream', '--flush-after', '0.25', '--batch-size', '10'], io, fakeProcess().proc).then((status) => {
    finished = true;
    return status;
  });
  input.write(stdinOf(lines.slice(0, 3)));
  // The three lines are held, less than a batch, until their wait ends: nothing is sent before.
  await until(() => flush.waiting() === 1);
  expect(batchRequests()).toBe(0);
  flush.fire();
  await until(() => receiptsOf(io.out()).length === 3);
  expect(finished).toBe(false);
  expect(receiptsOf(io.out()).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 3).map(hashOf));
  // The end of the input sends what is held, with no wait.
  input.end(stdinOf(lines.slice(3)));
  expect(await run).toBe(0);
  expect(receiptsOf(io.out()).map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
  expect(batchRequests()).toBe(2);
  expect(t.fake.entries).toHaveLength(605);
  // No progress bar: the input has no known end.
  expect(io.err()).not.toContain('\r[');
  expect(io.err()).toMatch(/^logged 5 entries \(5 new, 0 already in the log before this run\) in 2 requests; /);
});

test('with --stream, what is held of the input is the batch being filled: each batch is sent once it holds --batch-size entries, before more is read', async () => {
  const lines = events(20, 'bounded');
  const input = producer(lines);
  // Lines read and not yet logged when each batch request reaches the log.
  const held: number[] = [];
  t.fake.hook = (path) => {
    if (path === 'v1/batch') held.push(input.pulled() - (t.fake.entries.length - 600));
    return false;
  };
  const io = streamIo(input.chunks, heldSleep(1000).sleep);
  const run = addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '4'], io, fakeProcess().proc);
  await until(() => input.waiting());
  // All 20 lines are logged while the producer has not ended; the --flush-after wait never ended.
  await until(() => receiptsOf(io.out()).length === 20);
  expect(held).toEqual([4, 4, 4, 4, 4]);
  input.end();
  expect(await run).toBe(0);
  expect(receiptsOf(io.out()).map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
});

test('with --stream, a bad line mid-stream: the lines before it are logged and their receipts written, then exit 2 naming it; it and the lines after it are not logged', async () => {
  const lines = [...events(5, 'bad'), '{"tag":"bad","i":', ...events(3, 'after')];
  const f = fakeProcess();
  const io = streamIo(producer(lines).chunks, heldSleep(1000).sleep);
  expect(await addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '2'], io, f.proc)).toBe(2);
  expect(io.err()).toMatch(
    /^cairn add: <stdin>:6: not an I-JSON value: .* \(the 5 entries before it were logged and their receipts written; that line and the lines after it were not logged: cairn add read no further\)\n$/,
  );
  expect(receiptsOf(io.out()).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 5).map(hashOf));
  expect(t.fake.entries).toHaveLength(605);
  expect(batchRequests()).toBe(3);
  // Standard input is let go of: the producer is not waited for.
  expect(f.stdinStops()).toBeGreaterThanOrEqual(1);

  // Sending the lines read before it may fail in turn: that error is told, and the bad line after it.
  t.fake.hook = (path, _req, res) => {
    if (path !== 'v1/batch') return false;
    send(res, 500, { error: 'injected', code: 'INTERNAL' });
    return true;
  };
  const failing = streamIo(producer([...events(1, 'failing'), '{"tag":']).chunks, heldSleep(1000).sleep);
  expect(await addCommand([...t.common, '--json-lines', '--stream', '--quiet'], failing, fakeProcess().proc)).toBe(2);
  expect(failing.err()).toMatch(
    /^cairn add: POST \S+\/v1\/batch: 500 INTERNAL: injected .*; cairn add had stopped reading its input \(<stdin>:2: not an I-JSON value: .*\)\n$/,
  );
  t.fake.hook = undefined;

  // A last line cut off at the end of the input (its producer killed while writing it) is such a
  // bad line, said so; a whole one without its line break is logged.
  const cut = new PassThrough();
  cut.end(`${events(2, 'cut').join('\n')}\n{"tag":"cut","i":`);
  const cutIo = streamIo(cut, heldSleep(1000).sleep);
  expect(await addCommand([...t.common, '--json-lines', '--stream'], cutIo, fakeProcess().proc)).toBe(2);
  expect(cutIo.err()).toMatch(
    /^cairn add: <stdin>:3: not an I-JSON value: .* \(the last line, with no line break after it: cut off where its producer stopped writing\?\) \(the 2 entries before it were logged and their receipts written; that line and the lines after it were not logged: cairn add read no further\)\n$/,
  );
  expect(receiptsOf(cutIo.out())).toHaveLength(2);
  const whole = new PassThrough();
  whole.end(events(2, 'whole').join('\n'));
  const wholeIo = streamIo(whole, heldSleep(1000).sleep);
  expect(await addCommand([...t.common, '--json-lines', '--stream'], wholeIo, fakeProcess().proc)).toBe(0);
  expect(receiptsOf(wholeIo.out())).toHaveLength(2);
});

test('with --stream, SIGINT mid-stream: no more is read, the lines read are sent and their receipts written, then exit 0 (a clean stop) naming the last line logged', async () => {
  const lines = events(3, 'stop');
  const input = producer(lines);
  const f = fakeProcess();
  const io = streamIo(input.chunks, heldSleep(1000).sleep);
  const run = addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '10'], io, f.proc);
  // The three lines are read and held (less than a batch, their wait not over); the producer goes on.
  await until(() => input.waiting());
  expect(batchRequests()).toBe(0);
  f.signal('SIGINT');
  // Not 2: systemctl stop (SIGTERM) would mark the service failed at every stop.
  expect(await run).toBe(0);
  expect(io.err()).toMatch(
    new RegExp(
      '^cairn add: SIGINT: reading no more input; sending the 3 entries read and not yet logged, then stopping; a second SIGINT or SIGTERM, 1 s or more later, stops at once\n' +
        'cairn add: stopped by SIGINT: the 3 entries through <stdin>:3 were logged and their receipts written; no line after <stdin>:3 was logged, and no more of the input was read\n' +
        'logged 3 entries \\(3 new, 0 already in the log before this run\\) in 1 request; [^\n]*\n$',
    ),
  );
  expect(receiptsOf(io.out()).map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
  expect(batchRequests()).toBe(1);
  expect(f.stdinStops()).toBeGreaterThanOrEqual(1);
});

test('with --json, the summary of a --stream run stopped cleanly by a signal names it ("stopped_by"); one that read all of its input says null', async () => {
  const lines = events(2, 'json-stop');
  const input = producer(lines);
  const f = fakeProcess();
  const io = streamIo(input.chunks, heldSleep(1000).sleep);
  const run = addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '10', '--json'], io, f.proc);
  await until(() => input.waiting());
  f.signal('SIGTERM');
  expect(await run).toBe(0);
  // The notices stay lines of text; the summary is the last line, JSON.
  expect(io.err()).toContain('cairn add: stopped by SIGTERM: the 2 entries through <stdin>:2 were logged and their receipts written; ');
  expect(JSON.parse(io.err().trim().split('\n').pop()!)).toMatchObject({ entries: 2, new: 2, stopped_by: 'SIGTERM', receipts_remade_from: null });

  const whole = new PassThrough();
  whole.end(stdinOf(events(2, 'json-whole')));
  const wholeIo = streamIo(whole, heldSleep(1000).sleep);
  expect(await addCommand([...t.common, '--json-lines', '--stream', '--json'], wholeIo, fakeProcess().proc)).toBe(0);
  expect(JSON.parse(wholeIo.err().trim())).toMatchObject({ entries: 2, stopped_by: null, receipts_remade_from: null });
});

test('with --json, a --stream run stopped cleanly before anything was sent writes the summary too: stopped_by, no entries, the tree of the first checkpoint if it came (null if not), its fields as in any summary', async () => {
  /** The summary, the last line of standard error, with its fields and their types (null apart). */
  const summaryOf = (err: string) => JSON.parse(err.trim().split('\n').pop()!) as Record<string, unknown>;
  const typesOf = (summary: Record<string, unknown>) => Object.fromEntries(Object.entries(summary).filter(([, v]) => v !== null).map(([k, v]) => [k, typeof v]));
  const whole = new PassThrough();
  whole.end(stdinOf(events(1, 'json-types')));
  const wholeIo = streamIo(whole, heldSleep(1000).sleep);
  expect(await addCommand([...t.common, '--json-lines', '--stream', '--json'], wholeIo, fakeProcess().proc)).toBe(0);
  const normal = summaryOf(wholeIo.err());

  // Stopped while the first checkpoint is fetched: it came, so the summary names its tree.
  const head = await t.fake.head();
  let asked = false;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  t.fake.hook = async (path) => {
    if (path !== 'checkpoint') return false;
    asked = true;
    await released;
    return false;
  };
  const f = fakeProcess();
  const io = streamIo(producer([]).chunks, heldSleep(1000).sleep);
  const run = addCommand([...t.common, '--json-lines', '--stream', '--json'], io, f.proc);
  await until(() => asked);
  f.signal('SIGTERM');
  release();
  expect(await run).toBe(0);
  expect(io.err()).toMatch(/^cairn add: stopped by SIGTERM: nothing was sent\n\{.*\}\n$/);
  const summary = summaryOf(io.err());
  expect(summary).toEqual({ ...normal, entries: 0, new: 0, duplicates: 0, requests: 0, tree_size: head.treeSize, root_hash: encodeBase64(head.rootHash), extended_by_tiles: 0, stopped_by: 'SIGTERM' });
  expect(typesOf(summary)).toEqual({ ...typesOf(normal), stopped_by: 'string' });
  expect(batchRequests()).toBe(1);

  // Stopped in a wait to fetch it again (the log refused it, 503): no checkpoint came, so no tree.
  t.fake.hook = (path, _req, res) => {
    if (path !== 'checkpoint') return false;
    send(res, 503, { error: 'injected', code: 'UNAVAILABLE' });
    return true;
  };
  let waiting = false;
  const refusedIo: CapturedIo = {
    ...streamIo(producer([]).chunks),
    sleep: (_ms, signal) =>
      new Promise<void>((resolve) => {
        waiting = true;
        signal?.addEventListener('abort', () => resolve(), { once: true });
      }),
  };
  const refused = fakeProcess();
  const refusedRun = addCommand([...t.common, '--json-lines', '--stream', '--json', '--quiet'], refusedIo, refused.proc);
  await until(() => waiting);
  refused.signal('SIGINT');
  expect(await refusedRun).toBe(0);
  expect(refusedIo.err()).toMatch(/^cairn add: stopped by SIGINT: nothing was sent\n\{.*\}\n$/);
  expect(summaryOf(refusedIo.err())).toEqual({ ...summary, tree_size: null, root_hash: null, stopped_by: 'SIGINT' });
  expect(ADD_USAGE).toMatch(/"tree_size" and "root_hash" are null for a run stopped before the log's\s+checkpoint came/);
});

test('with --stream, a FIFO FILE is read as it comes, and a stop lets go of it although its writer goes on', async () => {
  const fifo = join(t.dir, 'events.fifo');
  execFileSync('mkfifo', [fifo]);
  const lines = events(2, 'fifo');
  const writer = createWriteStream(fifo);
  writer.on('error', () => undefined);
  const f = fakeProcess();
  const flush = heldSleep(1000);
  const io = streamIo(new PassThrough(), flush.sleep);
  const run = addCommand([...t.common, '--json-lines', '--stream', fifo], io, f.proc);
  writer.write(stdinOf(lines));
  // Each wait that has begun is ended until both lines are logged (they may come in one read or two).
  await until(() => {
    flush.fire();
    return receiptsOf(io.out()).length === 2;
  });
  f.signal('SIGTERM');
  expect(await run).toBe(0);
  expect(io.err()).toMatch(
    new RegExp(`^cairn add: stopped by SIGTERM: the 2 entries through \\S+:2 were logged and their receipts written; no line after \\S+:2 was logged, and no more of the input was read\nlogged 2 entries `),
  );
  expect(io.err()).toContain(`through ${fifo}:2 were logged`);
  writer.destroy();
});

test('without --stream, SIGINT while standard input is read (a producer that has not ended) is exit 2 at once, nothing sent, and standard input is let go of', async () => {
  const input = producer(events(2, 'reading'));
  const f = fakeProcess();
  const io = streamIo(input.chunks);
  const run = addCommand([...t.common, '--json-lines'], io, f.proc);
  await until(() => input.waiting());
  f.signal('SIGINT');
  expect(await run).toBe(2);
  expect(io.err()).toBe('cairn add: stopped by SIGINT while reading standard input: nothing was sent\n');
  expect(t.fake.requests).toEqual([]);
  expect(f.stdinStops()).toBeGreaterThanOrEqual(1);

  // The same where standard input can only be read whole (readStdin), and for a FIFO FILE whose writer goes on.
  const whole = fakeProcess();
  const wholeIo: CapturedIo = { ...captureIo(), readStdin: () => new Promise<Uint8Array>(() => undefined) };
  const wholeRun = addCommand([...t.common, '--json-lines', '--quiet'], wholeIo, whole.proc);
  // Once cairn add listens: a signal before would go to no one.
  await until(whole.listening);
  whole.signal('SIGTERM');
  expect(await wholeRun).toBe(2);
  expect(wholeIo.err()).toBe('cairn add: stopped by SIGTERM while reading standard input: nothing was sent\n');
  const fifo = join(t.dir, 'held.fifo');
  execFileSync('mkfifo', [fifo]);
  const writer = createWriteStream(fifo);
  writer.on('error', () => undefined);
  writer.write('{"a":1}\n');
  const pipe = fakeProcess();
  const pipeIo = captureIo();
  const pipeRun = addCommand([...t.common, '--json-lines', fifo], pipeIo, pipe.proc);
  await new Promise((resolve) => writer.once('open', resolve));
  pipe.signal('SIGINT');
  expect(await pipeRun).toBe(2);
  expect(pipeIo.err()).toBe(`cairn add: stopped by SIGINT while reading ${fifo}: nothing was sent\n`);
  writer.destroy();
  expect(t.fake.requests).toEqual([]);
});

/**
 * Standard input as a pipe gives it: the chunks of `first`, then `then` again
 * and again (the same chunk each time: what is held is counted, never
 * copied); `counted.pulled` is how many chunks were taken.
 */
function endlessStdin(first: Uint8Array[], then: Uint8Array) {
  const counted = { pulled: 0 };
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (const c of first) {
      counted.pulled++;
      yield c;
    }
    for (;;) {
      counted.pulled++;
      yield then;
    }
  }
  return { chunks: chunks(), counted };
}

/**
 * `cairn add --json-lines` without --stream on endless standard input
 * (endlessStdin): exit 2, nothing sent, standard input stopped; what it said
 * and how many chunks it took.
 */
async function refusedEndless(first: Uint8Array[], then: Uint8Array): Promise<{ err: string; pulled: number }> {
  const f = fakeProcess();
  const stdin = endlessStdin(first, then);
  const io = streamIo(stdin.chunks);
  expect(await addCommand([...t.common, '--json-lines'], io, f.proc)).toBe(2);
  expect(t.fake.requests).toEqual([]);
  expect(f.stdinStops()).toBeGreaterThanOrEqual(1);
  return { err: io.err(), pulled: stdin.counted.pulled };
}

test(`without --stream, standard input of more than MAX_HELD_INPUT_BYTES (${MAX_HELD_INPUT_BYTES / 2 ** 30} GiB) stops cairn add once that much is read, nothing sent, saying what to do instead`, async () => {
  // One 64 MiB chunk given again and again: what is held is counted, never copied.
  const chunk = new Uint8Array(64 * 2 ** 20).fill(0x0a);
  const held = await refusedEndless([], chunk);
  expect(held.err).toBe(
    `cairn add: standard input holds more than ${MAX_HELD_INPUT_BYTES} bytes (1 GiB), more than cairn add holds to check all of it before sending: nothing was sent; ` +
      'give it as a FILE (read twice, never held), or add --stream to send its lines as they are read\n',
  );
  expect(held.pulled).toBe(MAX_HELD_INPUT_BYTES / chunk.length + 1);
  // A FILE that is held (a pipe, a device such as /dev/zero) is one already given: a regular file is what to give instead.
  expect(heldTooMuch('/dev/zero').message).toBe(
    `/dev/zero holds more than ${MAX_HELD_INPUT_BYTES} bytes (1 GiB), more than cairn add holds to check all of it before sending: nothing was sent; ` +
      'give a regular file in its place (read twice, never held), or add --stream to send its lines as they are read',
  );
  // One entry (no --json-lines) is held up to the most an entry holds.
  const oneStdin = endlessStdin([], chunk);
  const one = streamIo(oneStdin.chunks);
  expect(await addCommand([...t.common], one, fakeProcess().proc)).toBe(2);
  expect(one.err()).toBe(`cairn add: <stdin>: more than ${MAX_ENTRY_SIZE} bytes; an entry holds at most ${MAX_ENTRY_SIZE} (nothing was sent)\n`);
  expect(oneStdin.counted.pulled).toBe(1);
});

test(`without --stream, a line of standard input longer than MAX_LINE_BYTES stops cairn add soon after that much of it is read, naming it, not after ${MAX_HELD_INPUT_BYTES / 2 ** 30} GiB`, async () => {
  // 64 KiB chunks, as a pipe gives them: each one given again and again is counted, never copied.
  const chunk = (text: string) => new Uint8Array(64 * 1024).fill(text.charCodeAt(0));
  const xs = chunk('x');
  const newlines = chunk('\n');
  const most = MAX_LINE_BYTES / xs.length + 3;

  // A line that never ends (a 1.2 GB one used to be held to 1 GiB, then named as too much input to hold).
  const endless = await refusedEndless([enc('{"a":1}\n\r\n{"b":')], xs);
  expect(endless.err).toBe(`cairn add: <stdin>:3: a line longer than ${MAX_LINE_BYTES} bytes, too long for a JSON event (nothing was sent)\n`);
  expect(endless.pulled).toBeLessThanOrEqual(most);
  // One that ends in a later chunk, more lines after it.
  const long = [enc('{"a":1}\n{"b":"'), ...Array.from({ length: 15 }, () => xs), enc(`${'x'.repeat(70_000)}"}\n{"c":3}\n`)];
  const ended = await refusedEndless(long, newlines);
  expect(ended.err).toBe(`cairn add: <stdin>:2: a line longer than ${MAX_LINE_BYTES} bytes, too long for a JSON event (nothing was sent)\n`);
  expect(ended.pulled).toBe(long.length);
  // A bad line before it is the one named, as in a FILE.
  const bad = await refusedEndless([enc('{"a":1}\n{bad\n')], xs);
  expect(bad.err).toBe('cairn add: <stdin>:2: not an I-JSON value: unexpected character "b" (expected a string key in an object) at column 2 (nothing was sent)\n');
  expect(bad.pulled).toBeLessThanOrEqual(most);
  // A line of MAX_LINE_BYTES and its "\r\n", its "\r" and "\n" in different chunks, is not too long.
  const io = streamIo(endlessStdin([enc(`{"a":${' '.repeat(MAX_LINE_BYTES - 7)}1}\r`), enc('\n')], newlines).chunks);
  expect(await addCommand([...t.common, '--json-lines'], io, fakeProcess().proc)).toBe(2);
  expect(io.err()).toMatch(/^cairn add: standard input holds more than/);
});

test(`without --stream, a bad line of standard input stops cairn add where it is read, naming it, not after ${MAX_HELD_INPUT_BYTES / 2 ** 30} GiB`, async () => {
  // 64 KiB chunks, as a pipe gives them, given again and again: counted, never copied.
  const fill = (line: string) => enc(line.repeat(Math.floor((64 * 1024) / line.length)));
  // yes '{"a":' | cairn add --json-lines: every line bad, the first named (it was read to 1 GiB, then called too much to hold).
  const every = await refusedEndless([], fill('{"a":\n'));
  expect(every.err).toBe('cairn add: <stdin>:1: not an I-JSON value: unexpected end of JSON input at column 6 (nothing was sent)\n');
  expect(every.pulled).toBe(1);
  // Good lines, blank ones (a chunk of 65,536), then a bad one in a later chunk, ended by the chunk after it.
  const good = fill('{"a":1}\n');
  const lines = good.length / 8;
  const blank = new Uint8Array(64 * 1024).fill(0x0a);
  const later = await refusedEndless([good, blank, enc('\r\n \t\n{"b":2}\n{"c":')], fill('3,}\n'));
  expect(later.err).toBe(
    `cairn add: <stdin>:${lines + blank.length + 4}: not an I-JSON value: unexpected character "}" (expected a string key in an object) at column 8 (nothing was sent)\n`,
  );
  expect(later.pulled).toBe(4);
});

/** Standard input, for check(), that gives `given`, a chunk at a time. */
const readingOf = (given: Iterable<Uint8Array>): Reading => ({
  stdin: () => ({
    chunks: (async function* () {
      yield* given;
    })(),
    release: () => undefined,
  }),
  signal: new AbortController().signal,
});

test('without --stream, standard input is held as the chunks read, not copied into one array as well, and sent as read', async () => {
  const reading = readingOf;
  // Chunks of HELD_SMALL_CHUNK_BYTES or more (a pipe's are 64 KiB), their lines padded with blanks.
  const pad = ' '.repeat(HELD_SMALL_CHUNK_BYTES);
  const given = [enc(`{"a":1}\n{"b":${pad}`), enc(`2}\r\n\n{"c":3}${pad}`), enc(`\n{"d":4}${pad}`)];
  const checked = await check('-', true, reading(given));
  expect(checked).toMatchObject({ kind: 'held', name: '<stdin>', entries: 4 });
  // The very chunks read (900 MB of JSON Lines peaked at 2.7 GB while they were copied into one array).
  const held = (checked as { chunks?: readonly Uint8Array[] }).chunks;
  expect(held?.length).toBe(given.length);
  given.forEach((chunk, i) => expect(held?.[i]).toBe(chunk));
  const sent: [string, string][] = [];
  for await (const { entry, source } of entriesOf(checked, true)) sent.push([source, new TextDecoder().decode(entry)]);
  expect(sent).toEqual([
    ['<stdin>:1', '{"a":1}'],
    ['<stdin>:2', '{"b":2}'],
    ['<stdin>:4', '{"c":3}'],
    ['<stdin>:5', '{"d":4}'],
  ]);
  // One entry (no --json-lines) in several chunks is sent whole.
  const one = await check('-', false, reading([enc('ab'), enc('c'), enc('d\n')]));
  const entries: string[] = [];
  for await (const { entry } of entriesOf(one, false)) entries.push(new TextDecoder().decode(entry));
  expect(entries).toEqual(['abcd\n']);
});

test('without --stream, standard input read in small chunks (a writer that writes a line at a time) is held copied into blocks, not as each chunk, whose own cost is some 500 bytes', async () => {
  // 20,000 lines, each in two chunks split at a different place; a chunk of HELD_SMALL_CHUNK_BYTES amid them.
  const lines = Array.from({ length: 20_000 }, (_, i) => `{"n":${i}}${i % 3 === 0 ? '\r' : ''}\n`);
  const large = enc(`{"large":1}${' '.repeat(HELD_SMALL_CHUNK_BYTES)}\n`);
  const given: Uint8Array[] = [];
  lines.forEach((line, i) => {
    const bytes = enc(line);
    const at = i % (bytes.length + 1);
    given.push(bytes.subarray(0, at), bytes.subarray(at));
    if (i === 12_345) given.push(large);
  });
  const total = given.reduce((sum, c) => sum + c.length, 0);
  const checked = await check('-', true, readingOf(given));
  expect(checked).toMatchObject({ kind: 'held', entries: lines.length + 1 });
  const held = (checked as { chunks: readonly Uint8Array[] }).chunks;
  // A block of at least HELD_BLOCK_BYTES each, but the one before the large chunk and the last.
  expect(held.length).toBeLessThanOrEqual(Math.ceil(total / HELD_BLOCK_BYTES) + 2);
  expect(held).toContain(large);
  expect(Buffer.concat(held).equals(Buffer.concat(given))).toBe(true);
  const sent: [string, string][] = [];
  for await (const { entry, source } of entriesOf(checked, true)) sent.push([source, new TextDecoder().decode(entry)]);
  const expected = lines.map((line, i) => [`<stdin>:${i + 1 + (i > 12_345 ? 1 : 0)}`, line.replace(/\r?\n$/, '')]);
  expected.splice(12_346, 0, ['<stdin>:12347', '{"large":1}']);
  expect(sent).toEqual(expected);

  // A line that never ends, in small chunks after them, is still named by its number soon after MAX_LINE_BYTES of it.
  let pulled = 0;
  const xs = new Uint8Array(1000).fill(0x78);
  const endless = (function* () {
    for (const chunk of given) yield chunk;
    yield enc('{"x":"');
    for (;;) {
      pulled++;
      yield xs;
    }
  })();
  await expect(check('-', true, readingOf(endless))).rejects.toThrow(`<stdin>:${lines.length + 2}: a line longer than ${MAX_LINE_BYTES} bytes, too long for a JSON event`);
  expect(pulled).toBeLessThanOrEqual(MAX_LINE_BYTES / xs.length + 2);
});

test('--stream needs --json-lines, --flush-after needs --stream and takes 0.05 to 3600 seconds: usage errors', async () => {
  const cases: [string[], string][] = [
    [['--stream'], '--stream needs --json-lines'],
    [['--json-lines', '--flush-after', '1'], '--flush-after needs --stream'],
    [['--json-lines', '--stream', '--flush-after', '0.01'], '--flush-after must be a number of seconds from 0.05 to 3600'],
    [['--json-lines', '--stream', '--flush-after', '3601'], '--flush-after must be a number of seconds from 0.05 to 3600'],
  ];
  for (const [args, message] of cases) {
    const io = captureIo({ stdin: '{"a":1}\n' });
    expect(await addCommand([...t.common, ...args], io, fakeProcess().proc)).toBe(2);
    expect(io.err()).toContain(`cairn add: ${message}`);
    expect(io.err()).toContain("Run 'cairn add --help' for its options.");
  }
  expect(t.fake.requests).toEqual([]);
  // An input with no entries is said so at its end, the receipts file made for it removed.
  const empty = new PassThrough();
  empty.end('\n \n');
  const io = streamIo(empty);
  const receipts = join(t.dir, 'none.jsonl');
  expect(await addCommand([...t.common, '--json-lines', '--stream', '--receipts', receipts], io, fakeProcess().proc)).toBe(2);
  expect(io.err()).toBe('cairn add: nothing to add: the input holds no entries\n');
  expect(existsSync(receipts)).toBe(false);
});

test('IndexRuns, the indexes counted as new, holds what a Set would, in runs: a run that logs consecutive indexes holds one, however many', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(60), { maxLength: 80 }), fc.array(fc.nat(60), { maxLength: 20 }), (added, probes) => {
      const runs = new IndexRuns();
      const set = new Set<number>();
      for (const i of added) {
        runs.add(i);
        set.add(i);
        expect(runs.size).toBe(set.size);
      }
      for (const i of [...added, ...probes]) expect(runs.has(i)).toBe(set.has(i));
      // As few runs as the set's members make: one per gap.
      const sorted = [...set].sort((a, b) => a - b);
      expect(runs.runs).toBe(sorted.filter((x, k) => k === 0 || sorted[k - 1] !== x - 1).length);
    }),
    { numRuns: 300 },
  );
  const big = new IndexRuns();
  for (let i = 2 ** 40; i < 2 ** 40 + 100_000; i++) big.add(i);
  expect([big.size, big.runs, big.has(2 ** 40 + 99_999), big.has(2 ** 40 + 100_000)]).toEqual([100_000, 1, true, false]);
});

/** Logs the entries of a batch body in the fake log, as the log does before an answer that is lost. */
function take(body: Uint8Array): void {
  const known = new Set(t.fake.entries.map((e) => Buffer.from(e).toString('base64')));
  for (const e of (JSON.parse(new TextDecoder().decode(body)) as { entries: string[] }).entries) {
    if (!known.has(e)) t.fake.entries.push(new Uint8Array(Buffer.from(e, 'base64')));
    known.add(e);
  }
}

/** What fetch throws for a connection refused (a log restarting): nothing was sent. */
const refused = () => new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });

/** A fetch that passes batch requests to the fake log, or for the Nth of them (from 1) does what `nth` gives instead. */
function batchFetch(nth: (n: number) => 'refuse' | undefined): CliIo['fetch'] {
  let n = 0;
  return (url, init) => {
    if (String(url).endsWith('/v1/batch') && nth(++n) === 'refuse') return Promise.reject(refused());
    return fetch(url, init);
  };
}

/** The --flush-after waits (500 ms here) held for good; every other wait (the pauses of an outage) recorded, and over at once. */
function pauseRecorder() {
  const pauses: number[] = [];
  const held = heldSleep(500);
  const sleep: CliIo['sleep'] = (ms, signal) => {
    if (ms !== 500) pauses.push(ms);
    return held.sleep(ms, signal);
  };
  return { pauses, sleep };
}

test('with --stream, a log that does not answer (a reset after the upload, a refused connection, a proxy 502) is asked again after 1, 2, 4 s: every line is logged once, counted new, with one notice as it begins and one as it ends', async () => {
  const lines = events(6, 'outage');
  let batches = 0;
  t.fake.hook = (path, _req, res, body) => {
    if (path !== 'v1/batch') return false;
    batches++;
    // The log takes the second batch, and the connection breaks before its answer; later a proxy
    // answers 502 for it while the log behind it restarts.
    if (batches === 2) {
      take(body);
      res.socket?.destroy();
      return true;
    }
    if (batches === 3) {
      send(res, 502, '<html><head><title>502 Bad Gateway</title></head></html>', 'text/html');
      return true;
    }
    return false;
  };
  const input = new PassThrough();
  input.end(stdinOf(lines));
  const { pauses, sleep } = pauseRecorder();
  const io: CapturedIo = { ...streamIo(input, sleep), fetch: batchFetch((n) => (n === 3 ? 'refuse' : undefined)) };
  expect(await addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '2', '--flush-after', '0.5'], io, fakeProcess().proc)).toBe(0);
  const receipts = receiptsOf(io.out());
  expect(receipts.map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
  expect(receipts.map((r) => r.index)).toEqual([600, 601, 602, 603, 604, 605]);
  // Logged once: the try that got through was answered with the entries the lost one logged, as duplicates.
  expect(t.fake.entries).toHaveLength(606);
  expect(receipts.map((r) => r.duplicate)).toEqual([false, false, true, true, false, false]);
  expect(pauses).toEqual([1000, 2000, 4000]);
  const notices = io.err().split('\n').slice(0, -2);
  expect(notices).toEqual([
    expect.stringMatching(
      /^cairn add: the log did not answer \(POST \S+\/v1\/batch: .*\); sending the 2 entries <stdin>:3 to <stdin>:4 again in 1 s, and again after each such failure, pausing 1, 2, 4 \.\.\. s, for up to 60 s in all \(--max-wait\); no more input is read meanwhile$/,
    ),
    'cairn add: the log answered again: the 2 entries <stdin>:3 to <stdin>:4 are logged, after 4 tries',
  ]);
  // Every try counted as a request; the entries the lost try logged are new to the log, not duplicates of this run.
  expect(io.err()).toMatch(/\nlogged 6 entries \(6 new, 0 already in the log before this run\) in 6 requests; /);
});

test('with --stream, a log that does not answer for longer than --max-wait: exit 2 naming the first line not logged, from which to feed the input again', async () => {
  const lines = events(6, 'down');
  const input = producer(lines);
  const { pauses, sleep } = pauseRecorder();
  const io: CapturedIo = { ...streamIo(input.chunks, sleep), fetch: batchFetch((n) => (n >= 2 ? 'refuse' : undefined)) };
  expect(await addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '2', '--flush-after', '0.5', '--max-wait', '7', '--quiet'], io, fakeProcess().proc)).toBe(2);
  expect(pauses).toEqual([1000, 2000, 4000]);
  expect(io.err()).toMatch(
    new RegExp(
      '^cairn add: POST \\S+/v1/batch: .*ECONNREFUSED.* \\(not answered in 4 tries, with 7 s of pauses between them, all that --max-wait allows\\) ' +
        '\\(the 2 entries before <stdin>:3 were logged and their receipts written; <stdin>:3 and the lines after it were not logged, and cairn add read no further: ' +
        'feed the lines from <stdin>:3 on to cairn add again \\(it cannot read them twice itself\\)\\)\\n$',
    ),
  );
  expect(receiptsOf(io.out())).toHaveLength(2);
  input.end();

  // --max-wait 0: not sent again.
  const once = pauseRecorder();
  const onceIo: CapturedIo = { ...streamIo(producer(lines).chunks, once.sleep), fetch: batchFetch(() => 'refuse') };
  expect(await addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '2', '--flush-after', '0.5', '--max-wait', '0'], onceIo, fakeProcess().proc)).toBe(2);
  expect(once.pauses).toEqual([]);
  expect(onceIo.err()).toMatch(/ECONNREFUSED.* \(nothing was logged; <stdin>:1 and the lines after it were not logged, and cairn add read no further: feed the lines from <stdin>:1 on to cairn add again \(it cannot read them twice itself\)\)\n$/);
});

test('with --stream, a stop while the log does not answer ends the wait: exit 2, the lines read named as not logged', async () => {
  const lines = events(4, 'stopdown');
  const f = fakeProcess();
  // The first pause of the outage brings the stop; it lasts until the stop ends it.
  const sleep: CliIo['sleep'] = (ms, signal) => {
    if (ms !== 1000) return heldSleep(500).sleep(ms, signal);
    f.signal('SIGINT');
    return new Promise((resolve) => (signal?.aborted === true ? resolve() : signal?.addEventListener('abort', () => resolve(), { once: true })));
  };
  const io: CapturedIo = { ...streamIo(producer(lines).chunks, sleep), fetch: batchFetch((n) => (n >= 2 ? 'refuse' : undefined)) };
  expect(await addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '2', '--flush-after', '0.5'], io, f.proc)).toBe(2);
  expect(io.err().split('\n').slice(1)).toEqual([
    'cairn add: SIGINT: reading no more input; the log is not answering, so the 2 entries read and not yet logged are not sent again: stopping; a second SIGINT or SIGTERM, 1 s or more later, stops at once',
    'cairn add: stopped by SIGINT: the 2 entries through <stdin>:2 were logged and their receipts written; <stdin>:3 and the lines after it were not logged, and cairn add read no further: ' +
      'feed the lines from <stdin>:3 on to cairn add again (it cannot read them twice itself)',
    '',
  ]);
  expect(receiptsOf(io.out())).toHaveLength(2);
});

test('with --stream, a batch the log refuses: exit 2, saying that cairn add read no further and from which line to feed the input again', async () => {
  const lines = events(6, 'refused');
  let batches = 0;
  t.fake.hook = (path, _req, res) => {
    if (path !== 'v1/batch' || ++batches !== 2) return false;
    send(res, 500, { error: 'injected', code: 'INTERNAL' });
    return true;
  };
  const io = streamIo(producer(lines).chunks, heldSleep(500).sleep);
  expect(await addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '2', '--flush-after', '0.5'], io, fakeProcess().proc)).toBe(2);
  // A 500 may come after the log took the request: named as maybe logged, and fed again from its first line.
  expect(io.err()).toMatch(
    /^cairn add: POST \S+\/v1\/batch: 500 INTERNAL: injected \(the 2 entries before <stdin>:3 were logged and their receipts written; the 2 entries <stdin>:3 to <stdin>:4 were sent and may have been logged without their receipts; nothing after <stdin>:4 was sent, and cairn add read no further; feed the lines from <stdin>:3 on to cairn add again \(it cannot read them twice itself\); it logs no entry twice: /,
  );
  batches = 0;
  t.fake.hook = (path, _req, res) => {
    if (path !== 'v1/batch' || ++batches !== 2) return false;
    send(res, 400, { error: 'injected', code: 'BAD_REQUEST' });
    return true;
  };
  const refusedIo = streamIo(producer(lines).chunks, heldSleep(500).sleep);
  expect(await addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '2', '--flush-after', '0.5'], refusedIo, fakeProcess().proc)).toBe(2);
  expect(refusedIo.err()).toMatch(
    /^cairn add: POST \S+\/v1\/batch: 400 BAD_REQUEST: injected \(the 2 entries before <stdin>:3 were logged and their receipts written; <stdin>:3 and the lines after it were not logged, and cairn add read no further: feed the lines from <stdin>:3 on to cairn add again \(it cannot read them twice itself\)\)\n$/,
  );
});

test('with --stream, a --receipts FILE removed or moved after the last batch (an idle input, then a stop) is said so as cairn add ends, not named as holding the receipts', async () => {
  for (const how of ['removed', 'moved'] as const) {
    const receipts = join(t.dir, `${how}-end.jsonl`);
    const input = producer(events(2, `end-${how}`));
    const f = fakeProcess();
    const io = streamIo(input.chunks, heldSleep(500).sleep);
    const run = addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '2', '--flush-after', '0.5', '--receipts', receipts], io, f.proc);
    await until(() => input.waiting() && batchRequests() > 0 && existsSync(receipts) && readFileSync(receipts, 'utf8').split('\n').length === 3);
    if (how === 'removed') unlinkSync(receipts);
    else renameSync(receipts, `${receipts}.1`);
    f.signal('SIGTERM');
    expect(await run).toBe(0);
    const [stop, warning, summary] = io.err().split('\n');
    expect(stop).toMatch(/^cairn add: stopped by SIGTERM: the 2 entries through <stdin>:2 were logged and their receipts written; /);
    expect(warning).toBe(
      how === 'removed'
        ? `cairn add: warning: ${receipts} was removed after cairn add last wrote receipts to it, and the receipts cairn add wrote to it went with it ('cairn prove INDEX' gives an entry's proof)`
        : `cairn add: warning: ${receipts} was moved or replaced after cairn add last wrote receipts to it: the receipts cairn add wrote to it are in the file moved, not at ${receipts}`,
    );
    expect(summary).toMatch(new RegExp(`; receipts written to \\S+, since ${how === 'removed' ? 'removed' : 'moved or replaced'}$`));
    t.fake.requests.length = 0;
  }
});
