// cairn add --receipts on a pipe (a FIFO, /dev/stdout), through the real
// `cairn` binary (dist/, built by `npm test` before jest runs) against the
// fake log: the receipts file is opened write-only, so cairn add waits for a
// reader, a reader that goes away ends it with EPIPE (exit 2), and a second
// signal while a write to a pipe nobody reads is stuck ends it by the signal.
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { REPEAT_SIGNAL_MS } from '../../src/cli/stop-signals.js';
import { CLI } from '../helpers/server-process.js';
import { waitAtLeast } from '../helpers/wait-at-least.js';
import { events, freshFiles, hashOf } from './add-lines.js';
import { fakeLogEachTest } from './fake-log.js';

/** How long a child may run before the test gives up on it as hung and kills it (well within jest's 60 s test timeout). */
const HANG_GUARD_MS = 20_000;

const t = fakeLogEachTest(600, 'cairn-add-pipes-');

const { freshPath, fifo } = freshFiles(() => t.dir);

/** A JSON Lines input file of `n` events. */
async function input(n: number, tag: string): Promise<{ path: string; lines: string[] }> {
  const path = freshPath(`${tag}.jsonl`);
  const lines = events(n, tag);
  await writeFile(path, `${lines.join('\n')}\n`);
  return { path, lines };
}

interface Run {
  readonly child: ChildProcess;
  /** Its standard error so far. */
  stderr(): string;
  /** Resolves once its standard error matches `pattern`. */
  waitForStderr(pattern: RegExp): Promise<void>;
  /** Its end; rejects (after killing it) if it has not ended within HANG_GUARD_MS. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `cairn add` with the fake log's --url and --vkey, in a process group
 * of its own (killed whole if hung). Its standard output is a socket to the
 * test, or with `pipeTo`, a real pipe to that shell command.
 */
function startAdd(args: string[], pipeTo?: string): Run {
  const argv = [CLI, 'add', ...t.common, ...args];
  const child =
    pipeTo === undefined
      ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      : spawn('bash', ['-c', `"$0" "$@" | ${pipeTo}; echo "cairn add exit status $\{PIPESTATUS[0]}" >&2`, process.execPath, ...argv], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters) if (w.pattern.test(stderr)) w.resolve();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const guard = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL');
      reject(new Error(`cairn add ${args.join(' ')} did not end within ${HANG_GUARD_MS} ms (hung); stderr: ${stderr}`));
    }, HANG_GUARD_MS);
    child.on('error', reject);
    // 'close', not 'exit': the last of stderr may still be on its way when the process has exited.
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal });
    });
  });
  return {
    child,
    stderr: () => stderr,
    waitForStderr: (pattern) =>
      Promise.race([
        new Promise<void>((resolve) => (pattern.test(stderr) ? resolve() : waiters.push({ pattern, resolve }))),
        exited.then(({ code, signal }) => {
          throw new Error(`cairn add ended (${code ?? signal}) before its stderr matched ${pattern}: ${stderr}`);
        }),
      ]),
    exited,
  };
}

/** All a FIFO gives until its last writer closes it. */
function readAll(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    createReadStream(path, 'utf8')
      .on('data', (d) => (text += String(d)))
      .on('end', () => resolve(text))
      .on('error', reject);
  });
}

test('--receipts FIFO: cairn add waits for the reader, which gets every receipt', async () => {
  const path = fifo('receipts.fifo');
  const { path: file, lines } = await input(5, 'fifo');
  const run = startAdd(['--json-lines', '--batch-size', '2', '--receipts', path, file]);
  const [text, end] = await Promise.all([readAll(path), run.exited]);
  expect(end).toEqual({ code: 0, signal: null });
  // The notice that cairn add waits for a reader comes if it opens the FIFO before the test does.
  expect(run.stderr()).toMatch(/^(cairn add: waiting for a reader of \S+receipts\.fifo \(a FIFO\): nothing is sent before one opens it\n)?logged 5 entries .*; receipts in .*receipts\.fifo\n$/);
  const receipts = text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { leaf_hash: string });
  expect(receipts.map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
});

test('--receipts FIFO whose reader goes away before the receipts are written: exit 2 with EPIPE, naming the entries logged without their receipts', async () => {
  const path = fifo('closed.fifo');
  const { path: file } = await input(3, 'closed');
  // The batch is answered only once the reader has opened the FIFO and closed it again.
  let readerClosed!: () => void;
  const closed = new Promise<void>((resolve) => (readerClosed = resolve));
  t.fake.hook = async (p) => {
    if (p === 'v1/batch') await closed;
    return false;
  };
  const run = startAdd(['--json-lines', '--receipts', path, file]);
  const reader = await open(path, 'r');
  await reader.close();
  readerClosed();
  const end = await run.exited;
  expect(end).toEqual({ code: 2, signal: null });
  expect(run.stderr()).toMatch(/^cairn add: cannot write the receipts to \S*closed\.fifo: .*EPIPE.*: 3 entries were logged, no receipt written; .*\(log indexes 600 to 602\) were logged without their receipts/);
  expect(run.stderr()).not.toMatch(/^logged/m);
});

test('--receipts /dev/stdout when standard output is a pipe whose reader goes away (| head -c 100): exit 2 with EPIPE, not a hang', async () => {
  // 400 receipts, more than a pipe holds, so cairn add is still writing when head is gone.
  const { path: file } = await input(400, 'stdout');
  const run = startAdd(['--json-lines', '--batch-size', '10', '--receipts', '/dev/stdout', file], 'head -c 100 >/dev/null');
  expect(await run.exited).toEqual({ code: 0, signal: null });
  expect(run.stderr()).toMatch(/^cairn add: cannot write the receipts to \/dev\/stdout: .*EPIPE.*\ncairn add exit status 2\n$/);
});

test('a second SIGINT while a receipts write to a FIFO is stuck (its reader does not read) ends cairn add by SIGINT, after its one-line message', async () => {
  const path = fifo('stuck.fifo');
  // One batch of 256 receipts, far more than a pipe holds, so its write cannot end while nothing is read.
  const { path: file } = await input(256, 'stuck');
  const run = startAdd(['--json-lines', '--receipts', path, file]);
  const reader = await open(path, 'r');
  try {
    // One byte read: the write has begun, and the rest of it cannot be written.
    const { bytesRead } = await reader.read(new Uint8Array(1), 0, 1, null);
    expect(bytesRead).toBe(1);
    run.child.kill('SIGINT');
    await run.waitForStderr(/SIGINT: finishing the request in flight/);
    // Measured from after cairn add heard the first (it said so then), so more than the window: a second SIGINT, not a repeat.
    // On the clock cairn add measures it on, not by a timer alone, which may end up to 1 ms early.
    await waitAtLeast(REPEAT_SIGNAL_MS);
    run.child.kill('SIGINT');
    const end = await run.exited;
    expect(end).toEqual({ code: null, signal: 'SIGINT' });
    expect(run.stderr()).toMatch(
      /\ncairn add: stopped at once by a second SIGINT while writing receipts to \S*stuck\.fifo: the 256 entries \S+ to \S+ \(log indexes 600 to 855\) were logged, and their receipts may be missing or cut off there/,
    );
  } finally {
    await reader.close();
  }
});
