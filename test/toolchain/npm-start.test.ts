// `npm start` runs the server as npm's own child (the script execs node), so
// that the SIGTERM a service manager or a container runtime sends npm
// reaches the server, which then stops cleanly: run under `sh -c` without
// exec, npm's signal ended the shell and left the server running, orphaned.
// Linux only: the server's process is found under /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-npm-start-');
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The processes that descend from `ancestor`, with their command lines. */
function descendants(ancestor: number): { pid: number; cmdline: string }[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The parent is the field after the command's name, which is in parentheses and may hold spaces.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const found: { pid: number; cmdline: string }[] = [];
  for (const [pid] of parents) {
    for (let at = parents.get(pid); at !== undefined && at > 1; at = parents.get(at)) {
      if (at !== ancestor) continue;
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      } catch {
        // Gone meanwhile.
      }
      found.push({ pid, cmdline });
      break;
    }
  }
  return found;
}

/** Whether process `pid` still exists (a zombie counts as gone: it has exited). */
function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A running `npm start`: npm, the server's pid, what it printed so far, and its ends. */
interface NpmStart {
  readonly npm: ChildProcess;
  readonly server: number;
  readonly out: () => string;
  readonly exited: Promise<unknown>;
  /** After exit, once the server (which shares npm's stdout) has closed it too. */
  readonly closed: Promise<unknown>;
}

/**
 * Runs `npm start` on a new data folder until the server listens, then `use`;
 * whatever failed, nothing npm started is left running after it: its
 * descendants first (a server not found would be orphaned by npm's end),
 * then npm.
 */
async function withNpmStart(env: NodeJS.ProcessEnv, use: (started: NpmStart) => Promise<void>): Promise<void> {
  const npm = spawn('npm', ['start', '--', '--data', join(dir(), 'data'), '--port', '0'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  npm.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  npm.stderr!.resume();
  const exited = once(npm, 'exit');
  const closed = once(npm, 'close');
  let server: number | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      npm.stdout!.on('data', () => {
        if (out.includes('\nlistening on ')) resolve();
      });
      npm.on('exit', () => reject(new Error(`npm start exited before the server listened: ${out}`)));
    });
    // node itself, not a shell that runs it (whose command line names main.js too).
    server = descendants(npm.pid!).find((p) => /^(\S*\/)?node .*main\.js serve /.test(p.cmdline))?.pid;
    expect(server).toBeDefined();
    await use({ npm, server: server!, out: () => out, exited, closed });
  } finally {
    const left = npm.pid === undefined ? [] : descendants(npm.pid).map((p) => p.pid);
    for (const pid of [...left, ...(server === undefined ? [] : [server])]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    if (npm.exitCode === null && npm.signalCode === null) {
      npm.kill('SIGKILL');
      await exited;
    }
  }
}

test('SIGTERM to npm start stops the server it started, which says stopped', async () => {
  await withNpmStart(process.env, async ({ npm, server, out, exited, closed }) => {
    npm.kill('SIGTERM');
    await exited;
    expect(alive(server)).toBe(false);
    await closed;
    expect(out()).toMatch(/\nstopped\n$/);
  });
});

/** The value of `name` in process `pid`'s environment (/proc/PID/environ), undefined without it. */
function environValue(pid: number, name: string): string | undefined {
  const entry = readFileSync(`/proc/${pid}/environ`, 'latin1')
    .split('\0')
    .find((e) => e.startsWith(`${name}=`));
  return entry?.slice(name.length + 1);
}

// glibc keeps the memory large request bodies freed unless the trim threshold
// is set (README, Performance): npm start sets it, and keeps one given.
test.each([
  { given: undefined, what: 'none', expected: '131072' },
  { given: '262144', what: '262144', expected: '262144' },
])("npm start runs the server with MALLOC_TRIM_THRESHOLD_=$expected when npm's environment has $what", async ({ given, expected }) => {
  const env = { ...process.env };
  delete env.MALLOC_TRIM_THRESHOLD_;
  if (given !== undefined) env.MALLOC_TRIM_THRESHOLD_ = given;
  await withNpmStart(env, async ({ server }) => {
    expect(environValue(server, 'MALLOC_TRIM_THRESHOLD_')).toBe(expected);
  });
});
