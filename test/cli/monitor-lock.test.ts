// cairn monitor holds a lock on its state file, `<state>.lock` holding its
// pid (and on Linux its start time and the boot id), from before it reads the state until it ends: a second monitor on the
// same file (cron starting one while a slow run goes on) is refused rather
// than let the last rename take the state back; a lock whose process is gone
// is taken over; the lock goes however the monitor ends (only the file it
// made: not another monitor's of this process, of the same text). A real server on
// port 0; signals come from an injected EventEmitter, never sent to the test
// process. (A monitor killed with SIGKILL, whose lock the next one takes
// over, is in monitor-rounds.test.ts.)
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { access, lstat, mkdir, readdir, readFile, readlink, realpath, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorCommand } from '../../src/cli/monitor.js';
import { CairnClient } from '../../src/client/client.js';
import type { FetchLike } from '../../src/client/http.js';
import { useCliServer } from '../helpers/cli-server.js';
import { captureIo, type CapturedIo } from './client-io.js';

const enc = (s: string) => new TextEncoder().encode(s);
const t = useCliServer('cairn-monitor-lock-', { origin: 'lock.test/log' });
let states = 0;

beforeAll(async () => {
  await new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey }).addBatch(Array.from({ length: 300 }, (_, i) => enc(`entry ${i}`)));
});

const freshState = () => join(t.dir, `state-${++states}.json`);
const lockGone = (statePath: string) => expect(access(`${statePath}.lock`)).rejects.toThrow(/ENOENT/);

/** An io that counts the requests it makes. */
function counting(): { io: CapturedIo; requests: () => number } {
  let requests = 0;
  const io = captureIo({ fetch: (url, init) => (requests++, fetch(url, init)) });
  return { io, requests: () => requests };
}

/** Field 22 (starttime) of /proc/<pid>/stat. */
async function startTime(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

/** This boot's id. */
const bootId = async (): Promise<string> => (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();

/** What the lock of process `pid` holds on Linux: `<pid> <starttime> <boot_id>\n`. */
const lockOf = async (pid: number): Promise<string> => `${pid} ${await startTime(pid)} ${await bootId()}\n`;

/** Runs `body` with a child process that sleeps, alive all along, killed after. */
async function withSleeper(body: (child: ChildProcess & { pid: number }) => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  try {
    await once(child, 'spawn');
    await body(child as ChildProcess & { pid: number });
  } finally {
    child.kill('SIGKILL');
  }
}

/** The pid of a process that ran and is gone. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

test('a second monitor on the same state file is refused (exit 2), naming the lock file and the pid holding it, before it reads the state or asks the log; the first goes on, and its lock goes when it is stopped', async () => {
  const statePath = freshState();
  const signals = new EventEmitter();
  let lockDuringRun: string | undefined;
  let stateBefore: string | undefined;
  let second: { code: number; err: string; requests: number; stateAfter: string } | undefined;
  const base = captureIo({ signals });
  const io: CapturedIo = {
    ...base,
    // Between the first monitor's rounds: its state written, its lock held.
    sleep: async (ms, signal) => {
      await base.sleep(ms, signal);
      lockDuringRun = await readFile(`${statePath}.lock`, 'utf8');
      stateBefore = await readFile(statePath, 'utf8');
      const other = counting();
      const code = await monitorCommand([...t.common, '--once', '--state', statePath], other.io);
      second = { code, err: other.io.err(), requests: other.requests(), stateAfter: await readFile(statePath, 'utf8') };
      signals.emit('SIGINT');
    },
  };
  expect(await monitorCommand([...t.common, '--interval', '30', '--state', statePath], io)).toBe(0);
  expect(lockDuringRun).toBe(process.platform === 'linux' ? await lockOf(process.pid) : `${process.pid}\n`);
  expect(second).toEqual({
    code: 2,
    err: `cairn monitor: the state file ${statePath} is in use: its lock file ${statePath}.lock is held by process ${process.pid}, which still runs (another cairn monitor: wait for it to end, or stop it; if no monitor runs, its pid went to another process after a crash: remove the lock file)\n`,
    requests: 0,
    stateAfter: stateBefore,
  });
  expect(io.out()).toMatch(/verified lock\.test\/log at tree size 300/);
  expect(io.err()).toMatch(/stopped while waiting for the next round/);
  await lockGone(statePath);
  // The first one's lock gone, a monitor on the file runs again.
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], captureIo())).toBe(0);
  await lockGone(statePath);
});

test('a second monitor of this process on the same state file through a symbolic link to its folder is refused too: it does not take the first one\'s lock for one its pid left', async () => {
  const real = join(t.dir, `real-${++states}`);
  const linked = join(t.dir, `link-${states}`);
  await mkdir(real);
  await symlink(real, linked);
  const signals = new EventEmitter();
  let second: { code: number; err: string; requests: number } | undefined;
  const base = captureIo({ signals });
  const io: CapturedIo = {
    ...base,
    sleep: async (ms, signal) => {
      await base.sleep(ms, signal);
      const other = counting();
      const code = await monitorCommand([...t.common, '--once', '--state', join(linked, 'state.json')], other.io);
      second = { code, err: other.io.err(), requests: other.requests() };
      signals.emit('SIGINT');
    },
  };
  expect(await monitorCommand([...t.common, '--interval', '30', '--state', join(real, 'state.json')], io)).toBe(0);
  expect(second).toEqual({ code: 2, err: expect.stringContaining(`its lock file ${join(linked, 'state.json')}.lock is held by process ${process.pid}, which still runs`), requests: 0 });
  await lockGone(join(real, 'state.json'));
});

test('a state file that is a symbolic link (made before the first run, its target not there yet): the monitor locks, reads and writes its target, so a monitor on the target, or on the link, is refused naming the target\'s lock; the link stays a link', async () => {
  const a = join(t.dir, `a-${++states}`);
  const b = join(t.dir, `b-${states}`);
  await mkdir(a);
  await mkdir(b);
  // As the link leads to it, in its folder's real path.
  const target = join(await realpath(a), 'state.json');
  const link = join(b, 'state.json');
  await symlink(`../a-${states}/state.json`, link);
  const signals = new EventEmitter();
  const refusal = `is held by process ${process.pid}, which still runs`;
  let during: { link: boolean; size: number; second: Array<{ code: number; err: string; requests: number }> } | undefined;
  const base = captureIo({ signals });
  const io: CapturedIo = {
    ...base,
    // Between rounds: the first round's state written, the lock held.
    sleep: async (ms, signal) => {
      await base.sleep(ms, signal);
      const second = [];
      for (const statePath of [target, link]) {
        const other = counting();
        const code = await monitorCommand([...t.common, '--once', '--state', statePath], other.io);
        second.push({ code, err: other.io.err(), requests: other.requests() });
      }
      during = { link: (await lstat(link)).isSymbolicLink(), size: JSON.parse(await readFile(target, 'utf8')).tree_size, second };
      signals.emit('SIGINT');
    },
  };
  expect(await monitorCommand([...t.common, '--interval', '30', '--state', link], io)).toBe(0);
  const refused = { code: 2, err: expect.stringContaining(`the state file ${target} is in use: its lock file ${target}.lock ${refusal}`), requests: 0 };
  expect(during).toEqual({ link: true, size: 300, second: [refused, refused] });
  expect(io.out()).toMatch(/verified lock\.test\/log at tree size 300/);
  expect([(await lstat(link)).isSymbolicLink(), await readlink(link)]).toEqual([true, `../a-${states}/state.json`]);
  expect(await readdir(b)).toEqual(['state.json']);
  await lockGone(target);
  // The other way round: a monitor on the target holds the lock, one on the link is refused.
  const signals2 = new EventEmitter();
  const base2 = captureIo({ signals: signals2 });
  let viaLink: { code: number; err: string } | undefined;
  const io2: CapturedIo = {
    ...base2,
    sleep: async (ms, signal) => {
      await base2.sleep(ms, signal);
      const other = captureIo();
      viaLink = { code: await monitorCommand([...t.common, '--once', '--state', link], other), err: other.err() };
      signals2.emit('SIGINT');
    },
  };
  expect(await monitorCommand([...t.common, '--interval', '30', '--state', target], io2)).toBe(0);
  expect(viaLink).toEqual({ code: 2, err: expect.stringContaining(`its lock file ${target}.lock ${refusal}`) });
  expect(io2.out()).toMatch(/unchanged: lock\.test\/log at tree size 300/);
  expect((await lstat(link)).isSymbolicLink()).toBe(true);
  expect(await readFile(link, 'utf8')).toBe(await readFile(target, 'utf8'));
});

test('a state file that is a symbolic link in a loop is refused (exit 2), saying so, before any lock is made or the log asked', async () => {
  const loop = join(t.dir, `loop-${++states}`);
  await mkdir(loop);
  await symlink('two.json', join(loop, 'one.json'));
  await symlink('one.json', join(loop, 'two.json'));
  const { io, requests } = counting();
  expect(await monitorCommand([...t.common, '--once', '--state', join(loop, 'one.json')], io)).toBe(2);
  expect(io.err()).toBe(`cairn monitor: the state file ${join(loop, 'one.json')} is a symbolic link that leads through more than 40 links (a loop?)\n`);
  expect(requests()).toBe(0);
  expect((await readdir(loop)).sort()).toEqual(['one.json', 'two.json']);
});

test('a monitor ending removes only the lock file it made: not a fresh one another monitor of this process made after its own went (removed by hand), which holds the same text', async () => {
  const statePath = freshState();
  const lock = `${statePath}.lock`;
  const signals = new EventEmitter();
  const otherSignals = new EventEmitter();
  const other = captureIo({ signals: otherSignals });
  let otherRan: Promise<number> | undefined;
  let otherWakes: (() => void) | undefined;
  let otherLock: string | undefined;
  let firstLock: string | undefined;
  const base = captureIo({ signals });
  const io: CapturedIo = {
    ...base,
    // Between the first monitor's rounds: its lock removed, the other monitor makes its own and runs its first round.
    sleep: async (ms, signal) => {
      await base.sleep(ms, signal);
      firstLock = await readFile(lock, 'utf8');
      await unlink(lock);
      await new Promise<void>((resolve) => {
        otherRan = monitorCommand([...t.common, '--interval', '30', '--state', statePath], {
          ...other,
          sleep: async (ms2, signal2) => {
            await other.sleep(ms2, signal2);
            otherLock = await readFile(lock, 'utf8');
            resolve();
            await new Promise<void>((wake) => (otherWakes = wake));
          },
        });
      });
      signals.emit('SIGINT');
    },
  };
  expect(await monitorCommand([...t.common, '--interval', '30', '--state', statePath], io)).toBe(0);
  expect(other.out()).toMatch(/unchanged: lock\.test\/log at tree size 300/);
  // One text, this pid's; the other monitor's lock is left to it.
  expect(otherLock).toBe(firstLock);
  expect(await readFile(lock, 'utf8')).toBe(otherLock);
  await expectRefused(statePath, process.pid);
  otherSignals.emit('SIGINT');
  otherWakes?.();
  expect(await otherRan).toBe(0);
  await lockGone(statePath);
});

test('the lock of a process that is gone is taken over, and so is one of this process\'s pid that it does not hold (a restarted container\'s monitor gets its old pid back)', async () => {
  for (const pid of [await deadPid(), process.pid]) {
    const statePath = freshState();
    await writeFile(`${statePath}.lock`, `${pid}\n`);
    const io = captureIo();
    expect([pid, await monitorCommand([...t.common, '--once', '--state', statePath], io), io.err()]).toEqual([pid, 0, '']);
    expect(io.out()).toMatch(/verified lock\.test\/log at tree size 300/);
    await lockGone(statePath);
  }
});

test('a lock of a process that still runs, or holding no pid, is not taken over: exit 2, the lock and the state left as they are', async () => {
  const statePath = freshState();
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], captureIo())).toBe(0);
  const state = await readFile(statePath, 'utf8');
  const cases: [string, string][] = [
    [`${process.ppid}\n`, `its lock file ${statePath}.lock is held by process ${process.ppid}, which still runs`],
    ['', `its lock file ${statePath}.lock holds no process id (another monitor may be starting; if none is, it is taken over once 10 s old)`],
    ['monitor\n', `its lock file ${statePath}.lock holds no process id`],
  ];
  for (const [text, message] of cases) {
    await writeFile(`${statePath}.lock`, text);
    const { io, requests } = counting();
    expect([text, await monitorCommand([...t.common, '--once', '--state', statePath], io), requests()]).toEqual([text, 2, 0]);
    expect(io.err()).toContain(`cairn monitor: the state file ${statePath} is in use: ${message}`);
    expect(await readFile(`${statePath}.lock`, 'utf8')).toBe(text);
    expect(await readFile(statePath, 'utf8')).toBe(state);
  }
});

/** Writes the file `file` holding `text`, last changed `ago` ms before now. */
async function oldLockFile(file: string, text: string, ago: number): Promise<void> {
  await writeFile(file, text);
  const when = (Date.now() - ago) / 1000;
  await utimes(file, when, when);
}

/** Writes a lock file holding `text` beside `statePath`, last changed `ago` ms before now. */
const oldLock = (statePath: string, text: string, ago: number) => oldLockFile(`${statePath}.lock`, text, ago);

/** Runs a monitor on `statePath` and expects it refused: exit 2, naming `pid`, no request made, the lock left as it was. */
async function expectRefused(statePath: string, pid: number): Promise<void> {
  const before = await readFile(`${statePath}.lock`, 'utf8');
  const { io, requests } = counting();
  expect([before, await monitorCommand([...t.common, '--once', '--state', statePath], io), requests()]).toEqual([before, 2, 0]);
  expect(io.err()).toContain(`its lock file ${statePath}.lock is held by process ${pid}, which still runs`);
  expect(await readFile(`${statePath}.lock`, 'utf8')).toBe(before);
}

/** Runs a monitor on `statePath` and expects it to take the lock over and run (exit 0), its lock gone after. */
async function expectTakenOver(statePath: string, text: string): Promise<void> {
  const io = captureIo();
  expect([text, await monitorCommand([...t.common, '--once', '--state', statePath], io), io.err()]).toEqual([text, 0, '']);
  expect(io.out()).toMatch(/verified lock\.test\/log at tree size 300/);
  await lockGone(statePath);
}

/** Far enough from now that the lock's mtime is before this boot, or a day ahead: a clock stepped since, a file server's clock. */
const CLOCK_STEPS = [-10 * 365 * 86_400_000, -3_600_000, 86_400_000];

test('the clock never makes a running monitor\'s lock stale: with its mtime years back (before this boot), an hour back or a day ahead, a second monitor is refused', async () => {
  // This process's own monitor, holding its lock between rounds.
  const statePath = freshState();
  const signals = new EventEmitter();
  const seen: string[] = [];
  const base = captureIo({ signals });
  const io: CapturedIo = {
    ...base,
    sleep: async (ms, signal) => {
      await base.sleep(ms, signal);
      for (const step of CLOCK_STEPS) {
        const when = (Date.now() + step) / 1000;
        await utimes(`${statePath}.lock`, when, when);
        const other = counting();
        seen.push(`${step} ${await monitorCommand([...t.common, '--once', '--state', statePath], other.io)} ${other.requests()}`);
      }
      signals.emit('SIGINT');
    },
  };
  expect(await monitorCommand([...t.common, '--interval', '30', '--state', statePath], io)).toBe(0);
  expect(seen).toEqual(CLOCK_STEPS.map((step) => `${step} 2 0`));
  await lockGone(statePath);
  // Another process's lock, as its monitor wrote it (on Linux) or as an older cairn did.
  await withSleeper(async (child) => {
    const texts = process.platform === 'linux' ? [await lockOf(child.pid), `${child.pid}\n`] : [`${child.pid}\n`];
    for (const text of texts) {
      for (const step of CLOCK_STEPS) {
        const other = freshState();
        await oldLock(other, text, -step);
        await expectRefused(other, child.pid);
      }
    }
  });
});

test('on Linux, a lock whose pid runs is taken over when it records another start time (the pid went to another process since) or another boot id (made before the machine last started: pids start low again); with both matching it is refused', async () => {
  if (process.platform !== 'linux') return;
  await withSleeper(async (child) => {
    const start = await startTime(child.pid);
    const boot = await bootId();
    const held = freshState();
    await writeFile(`${held}.lock`, `${child.pid} ${start} ${boot}\n`);
    await expectRefused(held, child.pid);
    for (const text of [`${child.pid} ${Number(start) - 1} ${boot}\n`, `${child.pid} ${Number(start) + 100} ${boot}\n`, `${child.pid} ${start} ${randomUUID()}\n`, `${process.ppid} ${await startTime(process.ppid)} ${randomUUID()}\n`]) {
      const statePath = freshState();
      await writeFile(`${statePath}.lock`, text);
      await expectTakenOver(statePath, text);
    }
  });
});

test('on Linux, a lock whose process has ended but is not yet reaped (a zombie: kill() still reaches it) is taken over', async () => {
  if (process.platform !== 'linux') return;
  // sh starts `sleep 0` and becomes `sleep 30`, which never reaps it: a zombie for as long as sleep 30 runs.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
    const zombie = Number(line.toString().trim());
    let state = '';
    for (let i = 0; i < 500 && state !== 'Z'; i++) {
      const stat = await readFile(`/proc/${zombie}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
      if (state !== 'Z') await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(state).toBe('Z');
    for (const text of [`${zombie}\n`, await lockOf(zombie)]) {
      const statePath = freshState();
      await writeFile(`${statePath}.lock`, text);
      await expectTakenOver(statePath, text);
    }
  } finally {
    parent.kill('SIGKILL');
  }
});

test('two monitors of one process started at once on one state file: one runs, the other is refused, every time', async () => {
  for (let i = 0; i < 10; i++) {
    const statePath = freshState();
    const [a, b] = [captureIo(), captureIo()];
    const codes = await Promise.all([monitorCommand([...t.common, '--once', '--state', statePath], a), monitorCommand([...t.common, '--once', '--state', statePath], b)]);
    expect([i, codes.sort()]).toEqual([i, [0, 2]]);
    expect(a.err() + b.err()).toMatch(/is in use: its lock file .*\.lock (is held by process \d+, which still runs|holds no process id)/);
    await lockGone(statePath);
  }
});

test('a lock whose process is gone is taken over at once, whatever it records; so is one holding no pid dated more than 10 s back (a power cut left it empty) or ahead (made while the clock ran ahead), once unchanged after a wait', async () => {
  const dead = await deadPid();
  const texts: (readonly [string, number])[] = [
    [`${dead}\n`, 0],
    ['', 60_000],
    ['monitor\n', 60_000],
    [`${dead}\n`, 10 * 365 * 86_400_000],
    ['', -86_400_000],
    ['monitor\n', -60_000],
  ];
  if (process.platform === 'linux') texts.push([`${dead} ${await startTime(process.pid)} ${await bootId()}\n`, 0]);
  for (const [text, ago] of texts) {
    const statePath = freshState();
    await oldLock(statePath, text, ago);
    const io = captureIo();
    expect([text, ago, await monitorCommand([...t.common, '--once', '--state', statePath], io), io.err(), io.sleeps]).toEqual([text, ago, 0, '', /^[1-9]/.test(text) ? [] : [2000]]);
    await lockGone(statePath);
  }
});

test('a lock holding no pid dated more than 10 s back or ahead (a file server\'s clock behind or ahead) is stale only if it is unchanged after a wait: one whose monitor writes its pid meanwhile is refused; one within 10 s is refused at once', async () => {
  for (const ago of [-86_400_000, 60_000, 86_400_000]) {
    await withSleeper(async (child) => {
      // Another monitor has just made it (empty) and writes its pid while this one waits, the file server's clock still off.
      const statePath = freshState();
      const lock = `${statePath}.lock`;
      await oldLock(statePath, '', ago);
      const { io, requests } = counting();
      const waits: number[] = [];
      const watching: CapturedIo = {
        ...io,
        sleep: async (ms) => {
          waits.push(ms);
          await oldLockFile(lock, `${child.pid}\n`, ago);
        },
      };
      expect([ago, await monitorCommand([...t.common, '--once', '--state', statePath], watching), requests()]).toEqual([ago, 2, 0]);
      expect(waits).toEqual([2000]);
      expect(io.err()).toContain(`its lock file ${lock} is held by process ${child.pid}, which still runs`);
      expect(await readFile(lock, 'utf8')).toBe(`${child.pid}\n`);
    });
    // Unchanged after the wait: stale, taken over.
    for (const text of ['', 'monitor\n']) {
      const statePath = freshState();
      await oldLock(statePath, text, ago);
      const io = captureIo();
      expect([text, ago, await monitorCommand([...t.common, '--once', '--state', statePath], io), io.err(), io.sleeps]).toEqual([text, ago, 0, '', [2000]]);
      await lockGone(statePath);
    }
  }
  // Within 10 s of the clock: refused at once.
  const young = freshState();
  await oldLock(young, '', 2_000);
  const youngIo = captureIo();
  expect([await monitorCommand([...t.common, '--once', '--state', young], youngIo), youngIo.sleeps]).toEqual([2, []]);
  expect(youngIo.err()).toContain(`its lock file ${young}.lock holds no process id`);
});

test('a stale lock is taken over under <lock>.takeover: while another monitor holds that file, the lock is left to it (exit 2, naming it); one its monitor left when killed is stale as a lock is, and goes too', async () => {
  const statePath = freshState();
  const lock = `${statePath}.lock`;
  const stale = `${await deadPid()}\n`;
  await writeFile(lock, stale);
  // Another monitor (the test's parent, which runs) is taking the lock over: it is left to it.
  await writeFile(`${lock}.takeover`, `${process.ppid}\n`);
  const { io, requests } = counting();
  expect([await monitorCommand([...t.common, '--once', '--state', statePath], io), requests()]).toEqual([2, 0]);
  expect(io.err()).toBe(`cairn monitor: cannot take over the stale lock file ${lock}: another monitor is taking it over (${lock}.takeover, held by process ${process.ppid}); if none is, remove ${lock}.takeover\n`);
  expect([await readFile(lock, 'utf8'), await readFile(`${lock}.takeover`, 'utf8')]).toEqual([stale, `${process.ppid}\n`]);
  // Its monitor killed: the takeover file and the lock are stale, and both go.
  for (const [text, ago] of [[`${await deadPid()}\n`, 0], ['', 60_000], ['', -86_400_000]] as const) {
    await writeFile(lock, stale);
    await oldLockFile(`${lock}.takeover`, text, ago);
    const done = captureIo();
    expect([text, await monitorCommand([...t.common, '--once', '--state', statePath], done), done.err()]).toEqual([text, 0, '']);
    await lockGone(statePath);
    await expect(access(`${lock}.takeover`)).rejects.toThrow(/ENOENT/);
  }
  // A takeover file holding no pid dated ahead, whose monitor writes its pid while this one waits: left to it.
  await writeFile(lock, stale);
  await oldLockFile(`${lock}.takeover`, '', -86_400_000);
  const base = captureIo();
  const waiting: CapturedIo = { ...base, sleep: (ms) => (ms === 2000 ? oldLockFile(`${lock}.takeover`, `${process.ppid}\n`, -86_400_000) : base.sleep(ms)) };
  expect(await monitorCommand([...t.common, '--once', '--state', statePath], waiting)).toBe(2);
  expect(base.err()).toContain(`another monitor is taking it over (${lock}.takeover, held by process ${process.ppid})`);
  expect([await readFile(lock, 'utf8'), await readFile(`${lock}.takeover`, 'utf8')]).toEqual([stale, `${process.ppid}\n`]);
});

/** A fetch that records, at each request, what the lock file of `statePath` holds, then calls `next`. */
function lockWatching(statePath: string, seen: string[], next: FetchLike = fetch): FetchLike {
  return async (url, init) => {
    seen.push(await readFile(`${statePath}.lock`, 'utf8').catch(() => 'none'));
    return next(url, init);
  };
}

test('the lock goes however the monitor ends: an error, an unreadable state, an alarm, a stop in a round', async () => {
  const held = process.platform === 'linux' ? await lockOf(process.pid) : `${process.pid}\n`;
  // The log unreachable: exit 2.
  const down = freshState();
  const downSeen: string[] = [];
  expect(await monitorCommand(['--url', 'http://127.0.0.1:9', '--vkey', t.server.verifierKey, '--once', '--state', down], captureIo({ fetch: lockWatching(down, downSeen) }))).toBe(2);
  expect(downSeen[0]).toBe(held);
  await lockGone(down);
  // A state file that is not one: exit 2 before the log is asked.
  const garbled = freshState();
  await writeFile(garbled, '{"version":1}');
  expect(await monitorCommand([...t.common, '--once', '--state', garbled], captureIo())).toBe(2);
  await lockGone(garbled);
  // An alarm (a stale signed tree head, an hour ahead of the log's clock): exit 1.
  const stale = freshState();
  const staleSeen: string[] = [];
  expect(await monitorCommand([...t.common, '--once', '--max-age', '60', '--state', stale], captureIo({ now: () => Date.now() + 3_600_000, fetch: lockWatching(stale, staleSeen) }))).toBe(1);
  expect(staleSeen[0]).toBe(held);
  await lockGone(stale);
  // SIGTERM as the round asks for its first entry bundle: exit 2 under --once.
  const stopped = freshState();
  const signals = new EventEmitter();
  const stoppedSeen: string[] = [];
  const io = captureIo({ signals, fetch: lockWatching(stopped, stoppedSeen, (url, init) => (url.includes('/tile/entries/') && signals.emit('SIGTERM'), fetch(url, init))) });
  expect(await monitorCommand([...t.common, '--once', '--state', stopped], io)).toBe(2);
  expect(io.err()).toMatch(/ stopped after /);
  expect(stoppedSeen[0]).toBe(held);
  await lockGone(stopped);
});

test('a usage error comes before the lock is looked at: another monitor\'s lock is neither reported nor touched', async () => {
  const statePath = freshState();
  const foreign = `${process.ppid}\n`;
  await writeFile(`${statePath}.lock`, foreign);
  const io = captureIo();
  expect(await monitorCommand([...t.common, '--once', '--interval', '0', '--state', statePath], io)).toBe(2);
  expect(io.err()).toMatch(/^cairn monitor: --interval /);
  expect(io.err()).not.toContain('.lock');
  expect(await readFile(`${statePath}.lock`, 'utf8')).toBe(foreign);
});
