// A monitor stalled between making its lock and writing its pid (for more
// than the 2 s another monitor watches an empty lock dated far from the
// clock) may find its lock taken over: the other monitor removed the empty
// file and made its own. Once its pid is written and synced, the stalled
// monitor checks that the file at the lock's path is still the one it made,
// and does not run when it is not; one whose pid cannot be written (a full
// disk) removes the lock only if it is still the file it made. The stall (and
// the failure) is injected as the lock is about to be written
// (node:fs/promises mocked); the other monitor runs in-process, against a
// real server on port 0.
import { jest } from '@jest/globals';
import { EventEmitter } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { withMethod } from '../helpers/file-handle.js';

const real = await import('node:fs/promises');

/** Run (once) when the next lock file made is about to be written, still empty: the stall; the write fails with what it throws. */
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

/** Another monitor of this process, on its state file with --interval, waiting for its second round (see otherTakesOver). */
interface Other {
  readonly io: ReturnType<typeof captureIo>;
  /** Its lock and its state file, as they were once it had run its first round. */
  readonly lock: string;
  readonly state: string;
  /** Stops it; resolves to its exit code. */
  stop(): Promise<number>;
}

/**
 * Dates the still empty lock `lock` a minute back, as a file server's clock
 * behind does, and starts another monitor on `statePath`, which watches that
 * lock (unchanged), takes it over and runs its first round; resolves once it
 * waits for its next, holding its own lock.
 */
async function otherTakesOver(statePath: string, lock: string): Promise<Other> {
  expect(await real.readFile(lock, 'utf8')).toBe('');
  const when = (Date.now() - 60_000) / 1000;
  await real.utimes(lock, when, when);
  const signals = new EventEmitter();
  const io = captureIo({ signals });
  let ran: Promise<number> | undefined;
  let wakes: (() => void) | undefined;
  const held = await new Promise<{ lock: string; state: string }>((resolve) => {
    ran = monitorCommand([...t.common, '--interval', '30', '--state', statePath], {
      ...io,
      sleep: async (ms, signal) => {
        await io.sleep(ms, signal);
        if (ms !== 2000) {
          resolve({ lock: await real.readFile(lock, 'utf8'), state: await real.readFile(statePath, 'utf8') });
          // Between its rounds until the test stops it.
          await new Promise<void>((wake) => (wakes = wake));
        }
      },
    });
  });
  return {
    io,
    ...held,
    stop: () => {
      signals.emit('SIGINT');
      wakes?.();
      return ran!;
    },
  };
}

/** Runs a third monitor of this process on `statePath` and expects it refused, the lock of `other` held by this pid left as it was. */
async function expectHeld(statePath: string, other: Other): Promise<void> {
  const lock = `${statePath}.lock`;
  const third = captureIo();
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], third)).toBe(2);
  expect(third.err()).toBe(
    `cairn monitor: the state file ${statePath} is in use: its lock file ${lock} is held by process ${process.pid}, which still runs (another cairn monitor: wait for it to end, or stop it; if no monitor runs, its pid went to another process after a crash: remove the lock file)\n`,
  );
  expect(await real.readFile(lock, 'utf8')).toBe(other.lock);
  expect(await real.readFile(statePath, 'utf8')).toBe(other.state);
}

test('a monitor whose empty lock another monitor took over while it stalled (a file server\'s clock behind dated it a minute back) does not run: exit 2, the other monitor\'s lock and state left to it', async () => {
  const statePath = join(t.dir, `state-${++states}.json`);
  const lock = `${statePath}.lock`;
  let other: Other | undefined;
  stall = async (made) => {
    expect(made).toBe(lock);
    // The other monitor takes it over and runs its first round; this one goes on once it waits for its next.
    other = await otherTakesOver(statePath, lock);
  };
  const io = captureIo();
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], io)).toBe(2);
  expect(io.err()).toBe(`cairn monitor: the state file ${statePath} is in use: another monitor took its lock file ${lock} over while this one was starting (this one stalled between making the lock and writing its pid)\n`);
  expect(io.out()).toBe('');
  expect(other!.io.sleeps[0]).toBe(2000);
  expect(other!.io.out()).toMatch(/verified stall\.test\/log at tree size 1/);
  // The other monitor's lock and state, as they were.
  expect(other!.lock).toMatch(new RegExp(`^${process.pid}[ \\n]`));
  expect(await real.readFile(lock, 'utf8')).toBe(other!.lock);
  expect(await real.readFile(statePath, 'utf8')).toBe(other!.state);
  // The stalled one's failure left the other's hold known to this process: a third monitor here finds the lock held, not left behind by this pid.
  await expectHeld(statePath, other!);
  expect(await other!.stop()).toBe(0);
  await expect(real.access(lock)).rejects.toThrow(/ENOENT/);
});

/** What a write to a full disk throws. */
const noSpace = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

test('a monitor that cannot write its pid into its lock (a full disk) removes the lock it made, and runs no round: exit 2; the next monitor runs', async () => {
  const statePath = join(t.dir, `state-${++states}.json`);
  const lock = `${statePath}.lock`;
  stall = () => Promise.reject(noSpace());
  const io = captureIo();
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], io)).toBe(2);
  expect(io.err()).toBe(`cairn monitor: cannot write the lock file ${lock}: ENOSPC\n`);
  await expect(real.access(lock)).rejects.toThrow(/ENOENT/);
  await expect(real.access(statePath)).rejects.toThrow(/ENOENT/);
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], captureIo())).toBe(0);
  await expect(real.access(lock)).rejects.toThrow(/ENOENT/);
});

test('a monitor that cannot write its pid into its lock after another monitor took the lock over, still empty, and made its own, leaves the other\'s lock: it removes only the file it made', async () => {
  const statePath = join(t.dir, `state-${++states}.json`);
  const lock = `${statePath}.lock`;
  let other: Other | undefined;
  stall = async () => {
    other = await otherTakesOver(statePath, lock);
    throw noSpace();
  };
  const io = captureIo();
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], io)).toBe(2);
  expect(io.err()).toBe(`cairn monitor: cannot write the lock file ${lock}: ENOSPC\n`);
  expect(other!.io.out()).toMatch(/verified stall\.test\/log at tree size 1/);
  await expectHeld(statePath, other!);
  expect(await other!.stop()).toBe(0);
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
