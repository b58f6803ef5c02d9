// The logger over a stream (src/log/logger.ts): a reader that stops reading
// costs bounded memory and loses counted lines, and one that goes away never
// crashes the process. Fake streams in process; the real process.stderr in a
// child process (dist/, built by `npm test`).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DROPPED_MESSAGE, jsonLogger } from '../../src/log/logger.js';

/** A stream that takes writes only while `reading`: until then they queue in its buffer, as in a pipe nobody reads. */
class StalledStream extends Writable {
  readonly lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  maxBuffered = 0;
  #held: (() => void) | undefined;
  #reading = false;

  constructor() {
    super({ highWaterMark: 256, decodeStrings: false });
  }

  override _write(chunk: string, _encoding: BufferEncoding, callback: () => void): void {
    this.maxBuffered = Math.max(this.maxBuffered, this.writableLength);
    this.lines.push(JSON.parse(chunk) as { level: string; msg: string });
    if (this.#reading) callback();
    else this.#held = callback;
  }

  /** Starts reading: what is buffered is taken, and so is whatever comes after. */
  read(): void {
    this.#reading = true;
    const held = this.#held;
    this.#held = undefined;
    held?.();
  }
}

/** A stream whose every write fails, as a pipe whose reader is gone (EPIPE). */
class BrokenPipe extends Writable {
  writes = 0;
  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: (err?: Error) => void): void {
    this.writes++;
    callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('while the stream is not read, info lines past the bound are dropped and counted; once it drains, one warning says how many', async () => {
  const stream = new StalledStream();
  const bound = 1000;
  const logger = jsonLogger(stream, { maxBufferedBytes: bound });
  for (let i = 0; i < 500; i++) logger.info('request', { i, status: 200 });
  // The first line is taken by the stream (and held); the rest wait in its buffer.
  const buffered = stream.writableLength;
  expect(buffered).toBeGreaterThanOrEqual(bound);
  expect(buffered).toBeLessThan(bound + 200);
  stream.read();
  expect(await logger.flush(10_000)).toBe(true);
  const requests = stream.lines.filter((l) => l.msg === 'request');
  const notes = stream.lines.filter((l) => l.msg === DROPPED_MESSAGE);
  expect(notes).toHaveLength(1);
  expect(notes[0]).toMatchObject({ level: 'warn', dropped: 500 - requests.length });
  expect(requests.length).toBeLessThan(30);
  // The lines kept are the first ones, in order: the rest were dropped, not reordered.
  expect(requests.map((l) => l.i)).toEqual(requests.map((_, i) => i));
  expect(stream.lines.at(-1)).toBe(notes[0]);
  // Read again, lines pass again, with no second note.
  logger.info('request', { i: 'after' });
  await turn();
  expect(stream.lines.at(-1)).toMatchObject({ msg: 'request', i: 'after' });
});

test('warnings and errors pass past the bound of info lines, up to twice it; then they are dropped and counted too', async () => {
  const stream = new StalledStream();
  const bound = 1000;
  const logger = jsonLogger(stream, { maxBufferedBytes: bound });
  for (let i = 0; i < 100; i++) logger.info('request', { i });
  logger.warn('a warning past the info bound');
  logger.error('an error past the info bound');
  for (let i = 0; i < 100; i++) logger.error('an error', { i });
  expect(stream.writableLength).toBeGreaterThanOrEqual(2 * bound);
  expect(stream.writableLength).toBeLessThan(2 * bound + 200);
  stream.read();
  expect(await logger.flush(10_000)).toBe(true);
  expect(stream.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['a warning past the info bound', 'an error past the info bound']));
  const kept = stream.lines.filter((l) => l.msg !== DROPPED_MESSAGE).length;
  expect(kept).toBeLessThan(202);
  expect(stream.lines.at(-1)).toMatchObject({ msg: DROPPED_MESSAGE, dropped: 202 - kept });
  expect(stream.maxBuffered).toBeLessThan(2 * bound + 200);
});

test('flush resolves false while the stream is not read, and true once what was written is out', async () => {
  const stream = new StalledStream();
  const logger = jsonLogger(stream, { maxBufferedBytes: 1000 });
  expect(await logger.flush(10)).toBe(true);
  for (let i = 0; i < 5; i++) logger.info('request', { i });
  expect(await logger.flush(10)).toBe(false);
  const both = Promise.all([logger.flush(10_000), logger.flush(10_000)]);
  stream.read();
  expect(await both).toEqual([true, true]);
  expect(stream.lines).toHaveLength(5);
});

test('an error of the stream is not thrown: logging stops quietly, and flush has nothing to wait for', async () => {
  const stream = new BrokenPipe();
  const errors: unknown[] = [];
  const logger = jsonLogger(stream);
  // Another listener, to see the error come (the logger's own keeps it from being thrown without this one).
  stream.on('error', (err) => errors.push(err));
  logger.info('request', { i: 0 });
  await turn();
  expect(errors).toHaveLength(1);
  expect(() => {
    logger.info('request', { i: 1 });
    logger.warn('a warning');
    logger.error('an error');
  }).not.toThrow();
  await turn();
  expect(stream.writes).toBe(1);
  expect(await logger.flush(10_000)).toBe(true);
});

test('a stream that errs with only the logger listening does not crash the process', async () => {
  const stream = new BrokenPipe();
  const logger = jsonLogger(stream);
  expect(stream.listenerCount('error')).toBe(1);
  logger.info('request', { i: 0 });
  await turn();
  await turn();
  expect(stream.destroyed).toBe(true);
  logger.info('request', { i: 1 });
  expect(stream.writes).toBe(1);
});

const LOGGER = fileURLToPath(new URL('../../dist/src/log/logger.js', import.meta.url));

/** Runs `script` (an ES module, `jsonLogger` imported) in a child whose stderr is a pipe `stderr` handles; resolves to its exit code and stdout. */
function runChild(script: string, stderr: (pipe: NodeJS.ReadableStream, stdin: NodeJS.WritableStream) => void): Promise<{ code: number | null; stdout: string }> {
  const source = `import { jsonLogger } from ${JSON.stringify(LOGGER)};\n${script}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  stderr(child.stderr!, child.stdin!);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  // All of stdout, which may still come after 'exit'.
  const ended = once(child.stdout!, 'end');
  return Promise.all([exited, ended]).then(([code]) => {
    child.stderr!.destroy();
    return { code, stdout };
  });
}

test('process.stderr: a reader that goes away (EPIPE) does not crash the process', async () => {
  // Logs only once told to on stdin, which comes after its stderr's reader is gone.
  const script = `
    const logger = jsonLogger();
    process.stdin.once('data', async () => {
      for (let i = 0; i < 50; i++) {
        logger.info('request', { i });
        logger.warn('a warning', { i });
        await new Promise((r) => setTimeout(r, 1));
      }
      process.stdout.write('survived\\n');
      process.stdin.destroy();
    });`;
  const { code, stdout } = await runChild(script, (stderr, stdin) => {
    (stderr as unknown as { destroy(): void }).destroy();
    stdin.write('go\n');
  });
  expect(stdout).toBe('survived\n');
  expect(code).toBe(0);
});

test('process.stderr: a reader that does not read holds at most the bound, and flush tells that output is pending', async () => {
  // Far more than the pipe and the parent take before they stop reading (64 KiB each).
  const bound = 1024 * 1024;
  const script = `
    const logger = jsonLogger(process.stderr, { maxBufferedBytes: ${bound} });
    let most = 0;
    for (let i = 0; i < 20000; i++) {
      logger.info('request', { i, pad: 'x'.repeat(100) }); // 3 MB in all
      most = Math.max(most, process.stderr.writableLength);
    }
    const flushed = await logger.flush(100);
    process.stdout.write(JSON.stringify({ most, flushed }) + '\\n');
    process.exit(0);`;
  // The child's stderr is never read: the parent takes what fits its stream's buffer and then stops.
  const { code, stdout } = await runChild(script, () => undefined);
  expect(code).toBe(0);
  const { most, flushed } = JSON.parse(stdout) as { most: number; flushed: boolean };
  expect(flushed).toBe(false);
  expect(most).toBeLessThan(bound + 1000);
});
