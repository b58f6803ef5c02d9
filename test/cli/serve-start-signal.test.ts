// `cairn serve` as a real process, signalled while it is still starting: it
// stops cleanly (the start finishes, the request that waited for it is
// answered, the store is closed), prints 'stopping' then 'stopped' and never
// 'listening on', exit status 0; the same signal passed on again at once is
// ignored, and a second one a while later ends it at once, as after
// start-up. To hold the start at a known point, the store's CURRENT file is
// made a named pipe: the server blocks reading it after it took its port and
// before it opens the store, and the test learns it got there when its own
// open of the pipe for writing returns.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readdir, readFile, readlink, rename, unlink, writeFile, open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { REPEAT_SIGNAL_MS } from '../../src/cli/stop-signals.js';
import { CLI, startServerProcess } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitAtLeast } from '../helpers/wait-at-least.js';

const dir = useTempDir('cairn-start-signal-');

interface Child {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  /** Resolves once stdout holds `text`; rejects if the process exits before it does. */
  readonly printed: (text: string) => Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnServe(data: string): Child {
  const child = spawn(process.execPath, [CLI, 'serve', '--data', data, '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiting: { text: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiting.filter((w) => out.includes(w.text))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const printed = async (text: string) => {
    if (out.includes(text)) return;
    const seen = new Promise<'seen'>((resolve) => waiting.push({ text, resolve: () => resolve('seen') }));
    const first = await Promise.race([seen, exited]);
    if (first !== 'seen') throw new Error(`serve exited (${first.code ?? first.signal}) without printing ${JSON.stringify(text)}: ${JSON.stringify(out)}`);
  };
  return { child, stdout: () => out, printed, exited };
}

/**
 * Makes the store's CURRENT file a named pipe holding nothing yet; returns
 * what the file held, to be given back with {@link releaseCurrent}.
 */
async function blockCurrent(data: string): Promise<string> {
  const current = join(data, 'db', 'CURRENT');
  const text = await readFile(current, 'latin1');
  await unlink(current);
  execFileSync('mkfifo', ['-m', '600', current]);
  return text;
}

/**
 * Waits until `serve` has opened the pipe to read it (it is then starting,
 * its port taken, its store not yet opened); a server that exits first fails it.
 */
async function pipeOpened(data: string, serve: Child): Promise<FileHandle> {
  const current = join(data, 'db', 'CURRENT');
  const opened = open(current, 'w');
  const result = await Promise.race([opened, serve.exited]);
  if ('code' in result) {
    // Lets the pending open return, so that nothing is left blocked.
    await (await open(current, constants.O_RDONLY | constants.O_NONBLOCK)).close();
    await (await opened).close();
    throw new Error(`serve exited (${result.code ?? result.signal}) before it read the store: ${serve.stdout()}`);
  }
  return result;
}

/** Puts a regular CURRENT file back, then gives the server that waits on the pipe the same text. */
async function releaseCurrent(data: string, pipe: FileHandle, text: string): Promise<void> {
  const current = join(data, 'db', 'CURRENT');
  await writeFile(`${current}.test`, text);
  await rename(`${current}.test`, current);
  await pipe.writeFile(text);
  await pipe.close();
}

/** The inodes of the sockets process `pid` holds open, and the rows of Linux's TCP table (/proc/net/tcp), split into fields. */
async function tcpSockets(pid: number): Promise<{ inodes: Set<string>; rows: string[][] }> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''));
    if (m !== null) inodes.add(m[1]!);
  }
  // Fields: sl, local address:port, remote address:port, state, tx:rx queue, …, inode (10th).
  const rows = (await readFile(`/proc/${pid}/net/tcp`, 'utf8')).split('\n').slice(1).map((line) => line.trim().split(/\s+/));
  return { inodes, rows };
}

/** The TCP port a process listens on (it was started with --port 0 and has printed nothing yet). */
async function listeningPort(pid: number): Promise<number> {
  const { inodes, rows } = await tcpSockets(pid);
  const row = rows.find((f) => f[3] === '0A' && inodes.has(f[9] ?? ''));
  if (row === undefined) throw new Error(`process ${pid} listens on no TCP port`);
  return parseInt(row[1]!.split(':')[1]!, 16);
}

/**
 * Whether the process `pid` has accepted the connection from local port
 * `clientPort` to `port` and read every byte sent on it (its receive queue
 * is empty): node then has parsed the request, which the start-up gate holds.
 */
async function requestRead(pid: number, port: number, clientPort: number): Promise<boolean> {
  const { inodes, rows } = await tcpSockets(pid);
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  const row = rows.find((f) => f[1]?.endsWith(`:${hex(port)}`) && f[2]?.endsWith(`:${hex(clientPort)}`) && inodes.has(f[9] ?? ''));
  return row !== undefined && parseInt(row[4]!.split(':')[1]!, 16) === 0;
}

/** Sends a GET for `/v1/log` on a raw connection; resolves to the local port and, later, the whole answer. */
function rawGet(port: number): Promise<{ clientPort: number; answer: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('GET /v1/log HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      const answer = new Promise<string>((done, fail) => {
        socket.on('close', () => done(text));
        socket.on('error', fail);
      });
      resolve({ clientPort: socket.localPort!, answer });
    });
    socket.once('error', reject);
  });
}

/** A store holding one entry, its server stopped. */
async function storeWithOneEntry(data: string): Promise<void> {
  const server = await startServerProcess(['--data', data]);
  try {
    const res = await fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: 'one' });
    expect(res.status).toBe(201);
  } finally {
    expect(await server.stop()).toBe(0);
  }
}

async function treeSizeAfterRestart(data: string): Promise<number> {
  const server = await startServerProcess(['--data', data]);
  try {
    return ((await (await fetch(`${server.url}/v1/log`)).json()) as { tree_size: number }).tree_size;
  } finally {
    expect(await server.stop()).toBe(0);
  }
}

test('SIGTERM while serve starts: the start finishes, the waiting request is answered, then it stops (exit 0, "stopped", no "listening on")', async () => {
  const data = join(dir(), 'data');
  await storeWithOneEntry(data);
  const text = await blockCurrent(data);
  const serve = spawnServe(data);
  const pipe = await pipeOpened(data, serve);
  // Starting, its port taken: a request now waits at the start-up gate.
  const port = await listeningPort(serve.child.pid!);
  const { clientPort, answer } = await rawGet(port);
  while (!(await requestRead(serve.child.pid!, port, clientPort))) await new Promise((resolve) => setTimeout(resolve, 10));
  serve.child.kill('SIGTERM');
  await serve.printed('stopping\n');
  await releaseCurrent(data, pipe, text);
  expect(await serve.exited).toEqual({ code: 0, signal: null });
  expect(serve.stdout()).toBe('stopping\nstopped\n');
  const reply = await answer;
  expect(reply).toMatch(/^HTTP\/1\.1 200 /);
  expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4))).toMatchObject({ tree_size: 1 });
  // The store was closed (its lock let go) and holds what it held.
  expect(await treeSizeAfterRestart(data)).toBe(1);
});

test('SIGINT and SIGHUP while serve starts stop it the same way', async () => {
  const data = join(dir(), 'data');
  await storeWithOneEntry(data);
  for (const signal of ['SIGINT', 'SIGHUP'] as const) {
    const text = await blockCurrent(data);
    const serve = spawnServe(data);
    const pipe = await pipeOpened(data, serve);
    serve.child.kill(signal);
    await serve.printed('stopping\n');
    await releaseCurrent(data, pipe, text);
    expect([signal, await serve.exited]).toEqual([signal, { code: 0, signal: null }]);
    expect(serve.stdout()).toBe('stopping\nstopped\n');
  }
  expect(await treeSizeAfterRestart(data)).toBe(1);
});

test('a signal repeated at once while serve starts, of the same kind or another (Ctrl-C on npm start: from the terminal and from npm), is the same stop: exit 0, "stopped"', async () => {
  const data = join(dir(), 'data');
  await storeWithOneEntry(data);
  for (const [first, repeat] of [['SIGINT', 'SIGINT'], ['SIGINT', 'SIGTERM'], ['SIGTERM', 'SIGHUP']] as const) {
    const text = await blockCurrent(data);
    const serve = spawnServe(data);
    const pipe = await pipeOpened(data, serve);
    serve.child.kill(first);
    // 'stopping' is printed by the first signal's listener: the repeat comes after it was heard.
    await serve.printed('stopping\n');
    serve.child.kill(repeat);
    await releaseCurrent(data, pipe, text);
    expect([first, repeat, await serve.exited]).toEqual([first, repeat, { code: 0, signal: null }]);
    expect(serve.stdout()).toBe('stopping\nstopped\n');
  }
  expect(await treeSizeAfterRestart(data)).toBe(1);
});

test('a second signal while serve starts, REPEAT_SIGNAL_MS after the first, ends it at once, as after start-up; the store is left whole', async () => {
  const data = join(dir(), 'data');
  await storeWithOneEntry(data);
  const text = await blockCurrent(data);
  const serve = spawnServe(data);
  const pipe = await pipeOpened(data, serve);
  serve.child.kill('SIGTERM');
  await serve.printed('stopping\n');
  // Measured from after serve heard the first (it printed 'stopping' then), so more than the window.
  await waitAtLeast(REPEAT_SIGNAL_MS);
  serve.child.kill('SIGTERM');
  expect(await serve.exited).toEqual({ code: null, signal: 'SIGTERM' });
  expect(serve.stdout()).toBe('stopping\n');
  await pipe.close();
  await unlink(join(data, 'db', 'CURRENT'));
  await writeFile(join(data, 'db', 'CURRENT'), text);
  expect(await treeSizeAfterRestart(data)).toBe(1);
});
