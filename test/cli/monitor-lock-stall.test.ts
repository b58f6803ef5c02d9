// A monitor stalled between making its lock and writing its pid (for more
// than the 2 s another monitor watches an empty lock dated far from the
// clock) may find its lock taken over: the other monitor removed the empty
// file and made its own. Once its pid is written and synced, the stalled
// monitor checks that the file at the lock's path is still the one it made,
// and does not run when it is not. The stall is injected as the lock is
// about to be written (node:fs/promises mocked); the other monitor runs in-process,
// against a real server on port 0.
import { jest } from '@jest/globals';
import { EventEmitter } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { withMethod } from '../helpers/file-handle.js';

const real = await import('node:fs/promises');

/** Run (once) when the next lock file made is about to be written, still empty: the stall. */
let stall: ((lock: string) => Promise<void>) | undefined;

jest.unstable_mockModule('node:fs/promises', () => ({
  ...real,
  open: async (...args: Parameters<typeof real.open>) => {
    const handle = await real.open(...args);
    if (!String(args[0]).endsWith('.lock') || args[1] !== 'wx') return handle;
    return withMethod(handle, 'writeFile', async (...write: Parameters<FileHandle['writeFile']>) => {
      const run = stall;
      stall = undefined;
      await run?.(String(args[0]));
      return handle.writeFile(...write);
    });
  },
}));

const { monitorCommand } = await import('../../src/cli/monitor.js');
const { CairnClient } = await import('../../src/client/client.js');
const { useCliServer } = await import('../helpers/cli-server.js');
const { captureIo } = await import('./client-io.js');

const t = useCliServer('cairn-monitor-lock-stall-', { origin: 'stall.test/log' });
let states = 0;

beforeAll(async () => {
  await new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey }).addBatch([new TextEncoder().encode('entry')]);
});

afterEach(() => {
  stall = undefined;
});

test('a monitor whose empty lock another monitor took over while it stalled (a file server\'s clock behind dated it a minute back) does not run: exit 2, the other monitor\'s lock and state left to it', async () => {
  const statePath = join(t.dir, `state-${++states}.json`);
  const lock = `${statePath}.lock`;
  const signals = new EventEmitter();
  const other = captureIo({ signals });
  let otherRan: Promise<number> | undefined;
  let otherWakes: (() => void) | undefined;
  let otherLock = '';
  let stateOfOther = '';
  stall = async (made) => {
    expect(made).toBe(lock);
    // Still empty as another monitor finds it: the file server's clock dates it a minute back.
    expect(await real.readFile(lock, 'utf8')).toBe('');
    const when = (Date.now() - 60_000) / 1000;
    await real.utimes(lock, when, when);
    // The other monitor watches it (unchanged), takes it over and runs its first round; this one goes on once it waits for its next.
    await new Promise<void>((resolve) => {
      otherRan = monitorCommand([...t.common, '--interval', '30', '--state', statePath], {
        ...other,
        sleep: async (ms, signal) => {
          await other.sleep(ms, signal);
          if (ms !== 2000) {
            otherLock = await real.readFile(lock, 'utf8');
            stateOfOther = await real.readFile(statePath, 'utf8');
            resolve();
            // Between its rounds until this test stops it.
            await new Promise<void>((wake) => (otherWakes = wake));
          }
        },
      });
    });
  };
  const io = captureIo();
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], io)).toBe(2);
  expect(io.err()).toBe(`cairn monitor: the state file ${statePath} is in use: another monitor took its lock file ${lock} over while this one was starting (this one stalled between making the lock and writing its pid)\n`);
  expect(io.out()).toBe('');
  expect(other.sleeps[0]).toBe(2000);
  expect(other.out()).toMatch(/verified stall\.test\/log at tree size 1/);
  // The other monitor's lock and state, as they were.
  expect(otherLock).toMatch(new RegExp(`^${process.pid}[ \\n]`));
  expect(await real.readFile(lock, 'utf8')).toBe(otherLock);
  expect(await real.readFile(statePath, 'utf8')).toBe(stateOfOther);
  // The stalled one's failure left the other's hold known to this process: a third monitor here finds the lock held, not left behind by this pid.
  const third = captureIo();
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], third)).toBe(2);
  expect(third.err()).toBe(
    `cairn monitor: the state file ${statePath} is in use: its lock file ${lock} is held by process ${process.pid}, which still runs (another cairn monitor: wait for it to end, or stop it; if no monitor runs, its pid went to another process after a crash: remove the lock file)\n`,
  );
  expect(await real.readFile(lock, 'utf8')).toBe(otherLock);
  expect(await real.readFile(statePath, 'utf8')).toBe(stateOfOther);
  signals.emit('SIGINT');
  otherWakes?.();
  expect(await otherRan).toBe(0);
  await expect(real.access(lock)).rejects.toThrow(/ENOENT/);
});

test('a monitor whose lock is gone once its pid is written (taken over, and the other monitor not yet made its own) does not run either', async () => {
  const statePath = join(t.dir, `state-${++states}.json`);
  const lock = `${statePath}.lock`;
  stall = (made) => real.unlink(made);
  const io = captureIo();
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], io)).toBe(2);
  expect(io.err()).toContain(`another monitor took its lock file ${lock} over while this one was starting`);
  await expect(real.access(statePath)).rejects.toThrow(/ENOENT/);
  await expect(real.access(lock)).rejects.toThrow(/ENOENT/);
});
