// cairn add as a process (the real `cairn` binary, dist/, against the fake
// log) where a stop signal must end it although a FILE waits: --receipts
// FIFO without a reader, a FIFO input nobody writes to, a terminal given as
// the input. An open or a read of these in node's thread pool would keep the
// process up after its stop message (its exit joins that thread), so each
// test asserts that the process ends, and how. Also SIGHUP, a closed
// terminal, which stops it as SIGINT does. Linux: a thread waiting in a
// FIFO's open is found by its wchan (wait_for_partner), the FILE a process
// has open by /proc/PID/fd, and a terminal is made by script(1).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { CLI } from '../helpers/server-process.js';
import { events, freshFiles, hashOf, receiptsOf } from './add-lines.js';
import { fakeLogEachTest } from './fake-log.js';

/** How long a child may run before the test gives up on it as hung and kills it (well within the test's timeout). */
const HANG_GUARD_MS = 20_000;

const t = fakeLogEachTest(600, 'cairn-add-process-');

const { freshPath, fifo } = freshFiles(() => t.dir);

interface Run {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once its standard error matches `pattern`; rejects if it ends first. */
  waitForStderr(pattern: RegExp): Promise<void>;
  /** Its end; rejects (after killing it) if it has not ended within HANG_GUARD_MS. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The children still running: one a failed test left is killed after it. */
const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts `cairn add` with the fake log's --url and --vkey. */
function startAdd(args: string[]): Run {
  const child = spawn(process.execPath, [CLI, 'add', ...t.common, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stderr = '';
  let stdout = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters) if (w.pattern.test(stderr)) w.resolve();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cairn add ${args.join(' ')} did not end within ${HANG_GUARD_MS} ms (hung); stderr: ${stderr}`));
    }, HANG_GUARD_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStderr: (pattern) =>
      Promise.race([
        new Promise<void>((resolve) => (pattern.test(stderr) ? resolve() : waiters.push({ pattern, resolve }))),
        exited.then(({ code, signal }) => {
          throw new Error(`cairn add ended (${code ?? signal}) before its stderr matched ${pattern}: ${stderr} ${stdout}`);
        }),
      ]),
    exited,
  };
}

/** Resolves once `condition` holds (looked at every 10 ms: a wait for an event, not a timed assertion); rejects if `ended` settles first. */
async function until(condition: () => boolean, ended: Promise<unknown>): Promise<void> {
  let over = false;
  void ended.then(
    () => (over = true),
    () => (over = true),
  );
  while (!condition()) {
    if (over) throw new Error('the process ended first');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Whether a thread of process `pid` waits in the open of a FIFO for its other end (the kernel's wait_for_partner). */
function waitsInFifoOpen(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).some((tid) => {
      try {
        return readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8') === 'wait_for_partner';
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

test('--receipts FIFO that no reader opens: cairn add says it waits for one, and a stop ends it (exit 2, nothing sent), not left hanging in the open', async () => {
  const path = fifo('unread.fifo');
  const input = freshPath('one.jsonl');
  await writeFile(input, `${events(1, 'unread').join('\n')}\n`);
  const run = startAdd(['--json-lines', '--receipts', path, input]);
  await run.waitForStderr(/waiting for a reader of \S+unread\.fifo \(a FIFO\): nothing is sent before one opens it\n/);
  run.child.kill('SIGINT');
  expect(await run.exited).toEqual({ code: 2, signal: null });
  expect(run.stderr()).toBe(
    `cairn add: waiting for a reader of ${path} (a FIFO): nothing is sent before one opens it\ncairn add: stopped by SIGINT while waiting for a reader of ${path}: nothing was sent\n`,
  );
  expect(t.fake.requests).toEqual([]);

  // With --stream, a stop before anything is read is a clean one.
  const streamed = startAdd(['--json-lines', '--stream', '--receipts', path, input]);
  await streamed.waitForStderr(/waiting for a reader of /);
  streamed.child.kill('SIGTERM');
  expect(await streamed.exited).toEqual({ code: 0, signal: null });
  expect(streamed.stderr()).toMatch(/\ncairn add: stopped by SIGTERM while waiting for a reader of \S+unread\.fifo: nothing was sent\n$/);

  // With --json too, the summary follows: nothing sent, stopped_by the signal, no checkpoint fetched yet.
  const json = startAdd(['--json-lines', '--stream', '--json', '--receipts', path, input]);
  await json.waitForStderr(/waiting for a reader of /);
  json.child.kill('SIGTERM');
  expect(await json.exited).toEqual({ code: 0, signal: null });
  expect(json.stderr()).toMatch(/\ncairn add: stopped by SIGTERM while waiting for a reader of \S+unread\.fifo: nothing was sent\n\{.*\}\n$/);
  expect(JSON.parse(json.stderr().trim().split('\n').pop()!)).toEqual({
    entries: 0,
    new: 0,
    duplicates: 0,
    already_receipted: 0,
    requests: 0,
    tree_size: null,
    root_hash: null,
    origin: expect.any(String),
    receipts_verified: true,
    extended_by_tiles: 0,
    stopped_by: 'SIGTERM',
    receipts_remade_from: null,
  });
  expect(t.fake.requests).toEqual([]);
});

describe('a FIFO input that nobody ever writes to: a stop ends its open, and cairn add ends', () => {
  test('without --stream: exit 2, nothing sent', async () => {
    const path = fifo('silent.fifo');
    const run = startAdd(['--json-lines', path]);
    await until(() => waitsInFifoOpen(run.child.pid!), run.exited);
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 2, signal: null });
    expect(run.stderr()).toBe(`cairn add: stopped by SIGTERM while reading ${path}: nothing was sent\n`);
    expect(t.fake.requests).toEqual([]);
  });

  test('with --stream: exit 0 (a clean stop: every line read, none, is logged)', async () => {
    const path = fifo('silent-stream.fifo');
    const run = startAdd(['--json-lines', '--stream', path]);
    await until(() => waitsInFifoOpen(run.child.pid!), run.exited);
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.stderr()).toMatch(/^cairn add: stopped by SIGTERM: nothing was logged; no line was logged, and no more of the input was read\nlogged 0 entries /);
  });
});

test('a FILE that is a terminal nobody types into (/dev/stdin of a pty): a stop ends cairn add (exit 2, nothing sent), not left hanging in its read', async () => {
  const pidFile = freshPath('add.pid');
  const errFile = freshPath('add.err');
  // script(1) gives the command a terminal; its own standard input stays open, so no end of input is typed.
  // Standard output and error are not the terminal, so the only descriptors of it past 0, 1 and 2 are
  // the FILE's (node opens a terminal of its own for a standard stream that is one).
  const command = 'echo $$ >"$PID_FILE"; exec "$NODE" "$CLI" add --url "$URL" --vkey "$VKEY" --json-lines /dev/stdin >/dev/null 2>"$ERR_FILE"';
  const script = spawn('script', ['-qec', command, '/dev/null'], {
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { ...process.env, PID_FILE: pidFile, ERR_FILE: errFile, NODE: process.execPath, CLI, URL: t.fake.url, VKEY: t.common[t.common.indexOf('--vkey') + 1]! },
  });
  running.add(script);
  const ended = new Promise<number | null>((resolve, reject) => {
    script.on('error', reject);
    script.on('close', (code) => {
      running.delete(script);
      resolve(code);
    });
  });
  let pid = 0;
  const killAll = () => {
    if (pid !== 0) process.kill(pid, 'SIGKILL');
    script.kill('SIGKILL');
  };
  const guard = setTimeout(killAll, HANG_GUARD_MS);
  try {
    // Once cairn add has the terminal open as its FILE (a descriptor past 0, 1 and 2), it reads it. Only once
    // the shell has become node: as it writes the pid file, bash keeps its standard output, the terminal, as
    // descriptor 10 or above for a moment, and a SIGINT then would end the shell (exit 130).
    const node = realpathSync(process.execPath);
    await until(() => {
      try {
        pid = Number(readFileSync(pidFile, 'utf8'));
        if (readlinkSync(`/proc/${pid}/exe`) !== node) return false;
        return readdirSync(`/proc/${pid}/fd`).some((fd) => Number(fd) > 2 && readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('/dev/pts/'));
      } catch {
        return false;
      }
    }, ended);
    process.kill(pid, 'SIGINT');
    // script -e ends with the command's status: a hang is killed by the guard, and its status is not 2.
    expect(await ended).toBe(2);
    expect(readFileSync(errFile, 'utf8')).toBe('cairn add: stopped by SIGINT while reading /dev/stdin: nothing was sent\n');
  } finally {
    clearTimeout(guard);
  }
  expect(t.fake.requests).toEqual([]);
});

test('SIGHUP (a closed terminal or ssh session) stops cairn add as SIGINT does: the request in flight is finished and its receipts written, then exit 2', async () => {
  const input = freshPath('hup.jsonl');
  const lines = events(4, 'hup');
  await writeFile(input, `${lines.join('\n')}\n`);
  let release!: () => void;
  const answer = new Promise<void>((resolve) => (release = resolve));
  t.fake.hook = async (path) => {
    if (path === 'v1/batch') await answer;
    return false;
  };
  const run = startAdd(['--json-lines', '--batch-size', '2', input]);
  try {
    await until(() => t.fake.requests.includes('v1/batch'), run.exited);
    run.child.kill('SIGHUP');
    await run.waitForStderr(/SIGHUP: finishing the request in flight, then sending nothing more/);
  } finally {
    release();
  }
  expect(await run.exited).toEqual({ code: 2, signal: null });
  expect(run.stderr()).toMatch(/\ncairn add: stopped by SIGHUP: the 2 entries through \S+:2 were logged and their receipts written; nothing from \S+:3 on was logged\n$/);
  expect(receiptsOf(run.stdout()).map((r) => r.leaf_hash)).toEqual(lines.slice(0, 2).map(hashOf));
  expect(t.fake.entries).toHaveLength(602);
  expect(t.fake.requests.filter((p) => p === 'v1/batch')).toHaveLength(1);
});

test('SIGHUP with --stream, once the lines read are logged: exit 0', async () => {
  const path = fifo('hup-stream.fifo');
  const run = startAdd(['--json-lines', '--stream', '--flush-after', '0.05', path]);
  const lines = events(2, 'hup-stream');
  // A producer that goes on: its write end stays open.
  const writer = createWriteStream(path);
  writer.on('error', () => undefined);
  try {
    writer.write(`${lines.join('\n')}\n`);
    await until(() => receiptsOf(run.stdout()).length === 2, run.exited);
    run.child.kill('SIGHUP');
    expect(await run.exited).toEqual({ code: 0, signal: null });
  } finally {
    writer.destroy();
  }
  expect(run.stderr()).toMatch(/^cairn add: stopped by SIGHUP: the 2 entries through \S+:2 were logged and their receipts written; no line after \S+:2 was logged, and no more of the input was read\n/);
});
