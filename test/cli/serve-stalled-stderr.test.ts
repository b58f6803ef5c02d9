// `cairn serve` whose standard error nobody reads any more (a log shipper
// that stalled): its request lines fill the pipe, and the writes still
// pending would keep the process alive after it stopped. On SIGTERM it
// stops, prints 'stopped', gives the log lines a moment to be written, and
// then exits with status 0 all the same.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CLI } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-stalled-stderr-');

/** Far more request lines (about 110 bytes each) than a pipe (64 KiB) and its reader's buffer hold. */
const REQUESTS = 4000;

test('SIGTERM ends a server whose stderr pipe is full and unread: it prints stopped and exits 0', async () => {
  const child = spawn(process.execPath, [CLI, 'serve', '--data', join(dir(), 'data'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // The reader of stderr reads nothing: what the server writes there stays in the pipe.
  child.stderr!.pause();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', () => {
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m !== null) resolve(m[1]!);
      });
      void exited.then(({ code }) => reject(new Error(`serve exited (${code}) before listening: ${out}`)));
    });
    // Every request is logged on stderr; 16 at a time.
    let next = 0;
    const worker = async () => {
      while (next < REQUESTS) {
        next++;
        const res = await fetch(`${url}/healthz`);
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    child.kill('SIGTERM');
    // A hang guard, not a measure of speed: without the flush deadline the process never exits.
    let guard: NodeJS.Timeout | undefined;
    const hung = new Promise<'hung'>((resolve) => (guard = setTimeout(() => resolve('hung'), 30_000)));
    const result = await Promise.race([exited, hung]);
    clearTimeout(guard);
    expect(result).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/\nstopped\n$/);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child.stderr!.destroy();
    await exited;
  }
});
