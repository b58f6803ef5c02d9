// The stop signals of the real process, through which serve, add, monitor
// and get hear them (processStopSignals), in child processes of node. One
// Ctrl-C often reaches a command twice (the terminal signals the process
// group, `npm run` passes it on): the copy that comes once the command has
// stopped cleanly must not change its exit status, whether it comes after
// the command removed its listeners or while node ends the process. The
// copy is sent at a known point: by the child itself, right after it
// removed its listeners; or, while node ends the process, by a helper that
// signals once a pipe the process holds is closed (node closes its handles,
// its signal watchers with them, before the process is gone; the kernel
// closes what is left only once it is).
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI } from '../helpers/server-process.js';
import { vector } from '../helpers/keys.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { startFakeLog, type FakeLog } from './fake-log.js';

const dir = useTempDir('cairn-stop-process-');

/** A module of dist/src/cli/, as the child imports it. */
const built = (name: string) => JSON.stringify(pathToFileURL(join(CLI, '..', name)).href);

interface Child {
  /** Resolves once its standard output or error matches `pattern`; rejects if it ends first. */
  printed(pattern: RegExp): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  readonly ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** The children still running: one a failed test left is killed after it. */
const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});

function start(args: string[]): Child {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const seen = () => {
    for (const w of waiters) if (w.pattern.test(stdout) || w.pattern.test(stderr)) w.resolve();
  };
  child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), seen()));
  child.stderr.on('data', (d: Buffer) => ((stderr += d.toString()), seen()));
  // 'close', not 'exit': the last of its output may still be on its way when the process has exited.
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    printed: (pattern) =>
      Promise.race([
        new Promise<void>((resolve) => {
          waiters.push({ pattern, resolve });
          seen();
        }),
        ended.then(({ code, signal }) => {
          throw new Error(`${args.join(' ')} ended (${code ?? signal}) before printing ${pattern}: ${stdout} ${stderr}`);
        }),
      ]),
    kill: (signal) => child.kill(signal),
    ended,
  };
}

/** Runs `script` (ESM) in a child node to its end. */
const runScript = (script: string) => start(['--input-type=module', '--eval', script]).ended;

test("a repeat right after monitor's and get's listeners are removed (listenForStop's dispose) is ignored: exit 0, not 130", async () => {
  const end = await runScript(`
    import { listenForStop, processIo } from ${built('client-common.js')};
    // Alive until the first SIGINT is heard: node's signal watchers keep no process alive.
    const alive = setInterval(() => undefined, 60_000);
    const stop = listenForStop(processIo(), () => {
      clearInterval(alive);
      // Stopped cleanly, as monitor's and get's finally do; then the copy npm run passed on.
      stop.dispose();
      process.kill(process.pid, 'SIGINT');
    });
    process.kill(process.pid, 'SIGINT');
  `);
  expect(end).toEqual({ code: 0, signal: null, stdout: '', stderr: '' });
});

test("a repeat right after cairn add's listener is removed (processAdd's onStop) is ignored: exit 0, not 130", async () => {
  const end = await runScript(`
    import { processAdd } from ${built('add.js')};
    const alive = setInterval(() => undefined, 60_000);
    const stopListening = processAdd().onStop(() => {
      clearInterval(alive);
      stopListening();
      process.kill(process.pid, 'SIGINT');
    });
    process.kill(process.pid, 'SIGINT');
  `);
  expect(end).toEqual({ code: 0, signal: null, stdout: '', stderr: '' });
});

// These tests catch the bug they guard against (a repeat that ends a cleanly stopped process by the
// signal, exit 130) only when the helper's SIGINT lands in node's teardown window: after node has given
// the signals their default action back, before the process is gone. The helper signals as soon as the
// pipe closes, which is in that window most of the time, but a loaded host may deliver it before node's
// handlers are gone (then it is heard, and ignored as a repeat) or after the process is gone: a pass is
// not proof, only a failure is.
describe('a repeat that comes while node ends the process is ignored: the command ends with the status of its clean stop', () => {
  /** Loaded before the command (--import): the helper sends SIGINT as soon as the pipe to its standard input is closed. */
  const PRELOAD = `
    import { spawn } from 'node:child_process';
    const helper = spawn('sh', ['-c', 'cat >/dev/null; kill -INT $PPID 2>/dev/null'], { stdio: ['pipe', 'ignore', 'ignore'] });
    // Neither the helper nor its pipe keeps the process alive.
    helper.unref();
    helper.stdin.unref();
  `;
  let fake: FakeLog;
  /** Requests the fake log holds unanswered until `release`. */
  let held: (() => void)[];
  beforeEach(async () => {
    fake = await startFakeLog(3);
    held = [];
  });
  afterEach(async () => {
    for (const release of held) release();
    await fake.close();
  });

  /** `cairn <args>`, with the helper loaded first. */
  async function cairn(args: string[]): Promise<Child> {
    const preload = join(dir(), 'repeat-at-exit.mjs');
    await writeFile(preload, PRELOAD);
    return start(['--import', pathToFileURL(preload).href, CLI, ...args]);
  }

  /** Resolves once the fake log is asked for `path`, which it then holds unanswered until the test ends (or `release`). */
  function hold(path: string): { asked: Promise<void>; release: () => void } {
    let asked!: () => void;
    let release!: () => void;
    const answer = new Promise<void>((resolve) => (release = resolve));
    held.push(release);
    const seen = new Promise<void>((resolve) => (asked = resolve));
    fake.hook = async (p) => {
      if (p !== path) return false;
      asked();
      await answer;
      return false;
    };
    return { asked: seen, release };
  }

  test('serve', async () => {
    const serve = await cairn(['serve', '--data', join(dir(), 'data'), '--port', '0', '--quiet']);
    await serve.printed(/listening on /);
    serve.kill('SIGINT');
    const end = await serve.ended;
    expect([end.code, end.signal, end.stdout]).toEqual([0, null, expect.stringMatching(/\nstopped\n$/)]);
  });

  test('monitor', async () => {
    const { asked } = hold('checkpoint');
    const monitor = await cairn(['monitor', '--url', fake.url, '--vkey', vector.verifier_key, '--state', join(dir(), 'state.json')]);
    await Promise.race([asked, monitor.ended]);
    monitor.kill('SIGINT');
    const end = await monitor.ended;
    expect([end.code, end.signal, end.stderr]).toEqual([0, null, expect.stringMatching(/ stopped before the newest checkpoint and signed tree head were verified; the state stays at tree size 0\n$/)]);
  });

  test('get', async () => {
    const { asked } = hold('checkpoint');
    const get = await cairn(['get', '0-', '--url', fake.url, '--vkey', vector.verifier_key]);
    await Promise.race([asked, get.ended]);
    get.kill('SIGINT');
    const end = await get.ended;
    expect([end.code, end.signal, end.stderr]).toEqual([2, null, expect.stringMatching(/\ncairn get: stopped by SIGINT before the log's checkpoint came: no entry was printed\n$/)]);
  });

  test('add', async () => {
    const input = join(dir(), 'input.jsonl');
    await writeFile(input, '{"n":1}\n');
    const { asked, release } = hold('checkpoint');
    const add = await cairn(['add', '--url', fake.url, '--vkey', vector.verifier_key, '--json-lines', input]);
    await Promise.race([asked, add.ended]);
    add.kill('SIGINT');
    await add.printed(/SIGINT: sending nothing more/);
    release();
    const end = await add.ended;
    expect([end.code, end.signal, end.stderr]).toEqual([2, null, expect.stringMatching(/\ncairn add: stopped by SIGINT: nothing was sent\n$/)]);
  });
});
