// cairn add --json-lines --stream: the input is read once, as it comes, and
// sent in batches (at --batch-size, --flush-after from a batch's first line,
// at the end of the input), holding no more than the batch being filled; a
// bad line or a stop signal ends the reading once the lines read before are
// logged. Without --stream, a stop signal while standard input is read, or
// more of it than cairn add holds, ends cairn add with a message, nothing
// sent. In-process against a fake log; standard input is a PassThrough or a
// generator, and the flush waits go through io.sleep, which the test ends.
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { MAX_HELD_INPUT_BYTES } from '../../src/cli/add-input.js';
import { addCommand, IndexRuns, processAdd, type AddProcess } from '../../src/cli/add.js';
import type { CliIo } from '../../src/cli/client-common.js';
import { MAX_ENTRY_SIZE } from '../../src/merkle/bundle.js';
import { enc, events, hashOf, receiptsOf, stdinOf } from './add-lines.js';
import { captureIo, type CapturedIo } from './client-io.js';
import { fakeLogEachTest, send } from './fake-log.js';

const t = fakeLogEachTest(600, 'cairn-add-stream-');

const batchRequests = () => t.fake.requests.filter((p) => p === 'v1/batch').length;

/** A process for cairn add whose signals the test sends, which counts how often standard input was let go of. */
function fakeProcess() {
  const listeners: ((signal: string) => void)[] = [];
  let stdinStops = 0;
  const proc: AddProcess = {
    onStop(listener) {
      listeners.push(listener);
      return () => void listeners.splice(listeners.indexOf(listener), 1);
    },
    exit: () => undefined,
    kill: () => undefined,
    now: () => 0,
    openReceipts: processAdd().openReceipts,
    stopStdin: () => void stdinStops++,
  };
  return { proc, signal: (name: string) => [...listeners].forEach((l) => l(name)), stdinStops: () => stdinStops };
}

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

test('with --stream, SIGINT mid-stream: no more is read, the lines read are sent and their receipts written, then exit 2 naming the last line logged', async () => {
  const lines = events(3, 'stop');
  const input = producer(lines);
  const f = fakeProcess();
  const io = streamIo(input.chunks, heldSleep(1000).sleep);
  const run = addCommand([...t.common, '--json-lines', '--stream', '--batch-size', '10'], io, f.proc);
  // The three lines are read and held (less than a batch, their wait not over); the producer goes on.
  await until(() => input.waiting());
  expect(batchRequests()).toBe(0);
  f.signal('SIGINT');
  expect(await run).toBe(2);
  expect(io.err()).toBe(
    'cairn add: SIGINT: reading no more input; sending the 3 entries read and not yet logged, then stopping; a second SIGINT or SIGTERM, 1 s or more later, stops at once\n' +
      'cairn add: stopped by SIGINT: the 3 entries through <stdin>:3 were logged and their receipts written; no line after <stdin>:3 was logged, and no more of the input was read\n',
  );
  expect(receiptsOf(io.out()).map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
  expect(batchRequests()).toBe(1);
  expect(f.stdinStops()).toBeGreaterThanOrEqual(1);
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
  expect(await run).toBe(2);
  expect(io.err()).toBe(`cairn add: stopped by SIGTERM: the 2 entries through ${fifo}:2 were logged and their receipts written; no line after ${fifo}:2 was logged, and no more of the input was read\n`);
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
  await new Promise((resolve) => setTimeout(resolve, 10));
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

test(`without --stream, standard input of more than MAX_HELD_INPUT_BYTES (${MAX_HELD_INPUT_BYTES / 2 ** 30} GiB) stops cairn add once that much is read, nothing sent, saying what to do instead`, async () => {
  // One 64 MiB chunk given again and again: what is held is counted, never copied.
  const chunk = new Uint8Array(64 * 2 ** 20).fill(0x0a);
  let pulled = 0;
  async function* endless(): AsyncGenerator<Uint8Array> {
    for (;;) {
      pulled++;
      yield chunk;
    }
  }
  const f = fakeProcess();
  const io = streamIo(endless());
  expect(await addCommand([...t.common, '--json-lines'], io, f.proc)).toBe(2);
  expect(io.err()).toBe(
    `cairn add: standard input holds more than ${MAX_HELD_INPUT_BYTES} bytes (1 GiB), more than cairn add holds to check all of it before sending: nothing was sent; ` +
      'give it as a FILE (read twice, never held), or add --stream to send its lines as they are read\n',
  );
  expect(pulled).toBe(MAX_HELD_INPUT_BYTES / chunk.length + 1);
  expect(t.fake.requests).toEqual([]);
  expect(f.stdinStops()).toBeGreaterThanOrEqual(1);
  // One entry (no --json-lines) is held up to the most an entry holds.
  pulled = 0;
  const one = streamIo(endless());
  expect(await addCommand([...t.common], one, fakeProcess().proc)).toBe(2);
  expect(one.err()).toBe(`cairn add: <stdin>: more than ${MAX_ENTRY_SIZE} bytes; an entry holds at most ${MAX_ENTRY_SIZE}\n`);
  expect(pulled).toBe(1);
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
