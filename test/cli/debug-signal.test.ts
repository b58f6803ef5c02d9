// SIGUSR1, by node's default, opens its inspector (an unauthenticated
// debugger on 127.0.0.1:9229 through which any local user could run code in
// the process and read a server's signing key or a client's CAIRN_TOKEN); it
// is also logrotate's usual "reopen your logs" signal. Every cairn command
// ignores it: serve with a warning in its JSON log, the others with a line on
// stderr. The children run with --inspect-port=0, so that a debugger opened
// by mistake takes a free port (and says so on stderr) rather than 9229.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { SourceTextModule } from 'node:vm';
import { CLI } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-debug-signal-');

const linux = existsSync('/proc/self/net/tcp');

/** A verifier key of the right form; the log it names is never reached. */
const VKEY = 'cairn.localhost/log+29bcccaa+AcgyMt/URSzXGXbzYSq65teSo9dkRQvxxf85cYr6tQ6o';

interface Child {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the first of `texts` that stdout or stderr holds; rejects if the process exits before either does. */
  readonly printed: (...texts: string[]) => Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the CLI with node's --inspect-port=0 (a debugger opened by SIGUSR1 would take a free port, and say so on stderr). */
function spawnCli(args: string[]): Child {
  const child = spawn(process.execPath, ['--inspect-port=0', CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiting: { texts: string[]; resolve: (text: string) => void }[] = [];
  const check = () => {
    for (const w of [...waiting]) {
      const seen = w.texts.find((t) => out.includes(t) || err.includes(t));
      if (seen === undefined) continue;
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(seen);
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    check();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    check();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const printed = async (...texts: string[]) => {
    const seen = new Promise<string>((resolve) => {
      waiting.push({ texts, resolve });
      check();
    });
    const first = await Promise.race([seen, exited]);
    if (typeof first !== 'string') throw new Error(`exited (${first.code ?? first.signal}) without printing ${JSON.stringify(texts)}: ${JSON.stringify(out)} ${JSON.stringify(err)}`);
    return first;
  };
  return { child, stdout: () => out, stderr: () => err, printed, exited };
}

/** The TCP ports (IPv4 and IPv6) that process `pid` listens on, from Linux's /proc. */
async function listeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''));
    if (m !== null) inodes.add(m[1]!);
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    // Fields: sl, local address:port, remote address:port, state (0A: listening), …, inode (10th).
    for (const f of text.split('\n').slice(1).map((line) => line.trim().split(/\s+/))) {
      if (f[3] === '0A' && inodes.has(f[9] ?? '')) ports.push(parseInt(f[1]!.split(':').at(-1)!, 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

// Node loads and links a module's whole static import graph before it runs
// any of it: the listener is in place before the commands load (some 0.1 s)
// only if main.js statically imports debug-signal.js alone, which imports
// nothing, and the rest comes by a dynamic import after.
test('main.js statically imports debug-signal.js alone, which imports nothing, so its listener comes before the commands load', async () => {
  const staticImports = async (file: string) => new SourceTextModule(await readFile(file, 'utf8')).dependencySpecifiers;
  expect(await staticImports(CLI)).toEqual(['./debug-signal.js']);
  expect(await staticImports(join(dirname(CLI), 'debug-signal.js'))).toEqual([]);
  // (In a try: an open-file limit too low to load them is said in one line.)
  expect(await readFile(CLI, 'utf8')).toMatch(/^\s*await import\('\.\/commands\.js'\);$/m);
});

test('serve, sent SIGUSR1, logs a warning, opens no debugger, keeps serving, and stops as usual', async () => {
  const serve = spawnCli(['serve', '--data', join(dir(), 'data'), '--port', '0', '--quiet']);
  try {
    await serve.printed('listening on ');
    const url = /listening on (http:\/\/\S+)/.exec(serve.stdout())![1]!;
    serve.child.kill('SIGUSR1');
    // Whichever comes first: the warning, or node's line for a debugger it opened.
    expect(await serve.printed('SIGUSR1 ignored', 'Debugger listening')).toBe('SIGUSR1 ignored');
    expect(serve.stderr()).not.toContain('Debugger listening');
    const lines = serve.stderr().trim().split('\n').map((line) => JSON.parse(line) as { level: string; msg: string });
    // Only that line about the signal (a machine with a small open-file limit adds a warning of its own at start).
    expect(lines.filter((line) => line.msg.includes('SIGUSR1'))).toEqual([expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/^SIGUSR1 ignored: /) })]);
    if (linux) expect(await listeningPorts(serve.child.pid!)).toEqual([Number(new URL(url).port)]);
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toEqual({ code: 0, signal: null });
    expect(serve.stdout()).toMatch(/\nstopped\n$/);
  } finally {
    serve.child.kill('SIGKILL');
  }
});

// The clients that may run long and hold CAIRN_TOKEN: each is sent SIGUSR1
// while its first request waits on a log that never answers.
test.each([
  ['monitor', (d: string, url: string) => ['monitor', '--url', url, '--vkey', VKEY, '--state', join(d, 'state.json')]],
  ['add', (_d: string, url: string) => ['add', '--url', url, '--vkey', VKEY]],
])('cairn %s, sent SIGUSR1, says it is ignored on stderr and opens no debugger', async (name, args) => {
  const sockets: Socket[] = [];
  const stalled = createServer((socket) => sockets.push(socket));
  stalled.listen(0, '127.0.0.1');
  await once(stalled, 'listening');
  const connected = once(stalled, 'connection');
  const port = (stalled.address() as { port: number }).port;
  const cli = spawnCli(args(dir(), `http://127.0.0.1:${port}`));
  try {
    cli.child.stdin!.end('an entry\n');
    // Its request came: the command is running, past main's start.
    await Promise.race([connected, cli.exited.then((e) => Promise.reject(new Error(`exited (${e.code ?? e.signal}): ${cli.stderr()}`)))]);
    cli.child.kill('SIGUSR1');
    expect(await cli.printed('SIGUSR1 ignored', 'Debugger listening')).toBe('SIGUSR1 ignored');
    expect(cli.stderr()).not.toContain('Debugger listening');
    expect(cli.stderr()).toMatch(new RegExp(`^cairn ${name}: SIGUSR1 ignored: `, 'm'));
    if (linux) expect(await listeningPorts(cli.child.pid!)).toEqual([]);
    // Still running: it ends only when killed.
    expect(cli.child.exitCode).toBeNull();
  } finally {
    cli.child.kill('SIGKILL');
    await cli.exited;
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => stalled.close(resolve));
  }
});
