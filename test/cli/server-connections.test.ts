// The server's cap on open connections: idle connections (a client that
// connects and sends nothing is kept for node's 60-s header timeout) must not
// take the file descriptors the store needs to write, so the server holds at
// most what its open-file limit leaves, and drops connections past that.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { DROPPED_CONNECTIONS_MESSAGE } from '../../src/cli/dropped-connections.js';
import { connectionLimit, FEW_CONNECTIONS, PROCESS_FILES, processLimits, RESERVED_FILES, RESERVED_FILES_AT_LEAST } from '../../src/cli/process-limits.js';
import { startServer } from '../../src/cli/server.js';
import { storeFileDescriptors } from '../../src/storage/level-store.js';
import { CLI } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { capture } from '../helpers/log-lines.js';

const dir = useTempDir('cairn-connections-');

test("connectionLimit leaves RESERVED_FILES of the open-file limit to the store, or half of a small limit but at least RESERVED_FILES_AT_LEAST, never more than the store's descriptors and the process's own leave, and no cap when the limit is unknown", () => {
  expect(connectionLimit(20_000)).toBe(20_000 - RESERVED_FILES);
  expect(connectionLimit(1_048_576)).toBe(1_048_576 - RESERVED_FILES);
  expect(connectionLimit(2 * RESERVED_FILES + 1)).toBe(RESERVED_FILES + 1);
  expect(connectionLimit(2 * RESERVED_FILES)).toBe(RESERVED_FILES);
  expect(connectionLimit(1024)).toBe(512);
  expect(connectionLimit(256)).toBe(128);
  // Node and an idle store hold some 26 descriptors: half of 44 or 48 left
  // LevelDB too few (EMFILE), so a small limit keeps 64 back.
  expect(connectionLimit(80)).toBe(80 - RESERVED_FILES_AT_LEAST);
  // Between, what the store may hold (a fifth of the limit in tables, 15
  // more) and the process's own leave less than half.
  expect(connectionLimit(100)).toBe(100 - 35 - PROCESS_FILES);
  expect(connectionLimit(2 * RESERVED_FILES_AT_LEAST)).toBe(128 - 40 - PROCESS_FILES);
  expect(connectionLimit(48)).toBe(1);
  expect(connectionLimit(44)).toBe(1);
  expect(connectionLimit(1)).toBe(1);
  for (const unknown of [undefined, 0, -5, Number.NaN, 2 ** 60]) expect(connectionLimit(unknown)).toBeUndefined();
});

test('storeFileDescriptors is a fifth of the open-file limit, up to the tables LevelDB does not map, and 15 more', () => {
  expect(storeFileDescriptors(128)).toBe(25 + 15);
  expect(storeFileDescriptors(1024)).toBe(204 + 15);
  expect(storeFileDescriptors(4096)).toBe(819 + 15);
  // 2000 tables cached (MAX_OPEN_FILES), 10 kept for other files, 1000 mapped.
  expect(storeFileDescriptors(20_000)).toBe(990 + 15);
  expect(storeFileDescriptors(1_048_576)).toBe(990 + 15);
});

test("the connections, the store's descriptors and the process's own fit in the open-file limit together, wherever it leaves room for a connection", () => {
  for (const limit of [85, 100, 128, 140, 157, 200, 256, 512, 1024, 2048, 2400, 2401, 4096, 8192, 20_000, 65_536, 1_048_576]) {
    expect([limit, connectionLimit(limit)! + storeFileDescriptors(limit) + PROCESS_FILES <= limit]).toEqual([limit, true]);
  }
});

const linux = existsSync('/proc/self/limits');

test('processLimits reads the soft open-file limit from /proc/self/limits (Linux), and startServer caps connections by it', async () => {
  const limit = (await processLimits()).openFiles;
  if (!linux) {
    expect(limit).toBeUndefined();
    return;
  }
  expect(Number.isSafeInteger(limit) && limit! > 0).toBe(true);
  const server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0 });
  try {
    expect(server.server.maxConnections).toBe(connectionLimit(limit));
  } finally {
    await server.close();
  }
});

/** A loopback connection to `url`'s port, once connected. */
async function open(url: string): Promise<Socket> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/** The status line of a GET /healthz sent on `socket`, or 'closed' if the server drops the connection instead. */
function healthz(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('\r\n')) resolve(text.slice(0, text.indexOf('\r\n')));
    });
    socket.on('close', () => resolve(text === '' ? 'closed' : text.slice(0, text.indexOf('\r\n'))));
    socket.on('error', () => undefined);
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

test('past maxConnections idle connections, a new one is dropped, and the server answers again once one closes', async () => {
  const server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, maxConnections: 3 });
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < 3; i++) sockets.push(await open(server.url));
    const extra = await open(server.url);
    sockets.push(extra);
    expect(await healthz(extra)).toBe('closed');
    sockets[0]!.destroy();
    await once(sockets[0]!, 'close');
    // The server learns of the close on its next turn; retry until it has.
    let status = 'closed';
    for (let i = 0; i < 50 && status === 'closed'; i++) {
      const next = await open(server.url);
      sockets.push(next);
      status = await healthz(next);
    }
    expect(status).toBe('HTTP/1.1 200 OK');
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
  }
});


/** How many connections `server` holds open now. */
function connections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

test('dropped connections are logged, the first at once with the limit, the rest at most every 10 s or at close, and counted in /metrics', async () => {
  const { lines, logger } = capture();
  const server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, maxConnections: 2, logger });
  const sockets: Socket[] = [];
  const dropLines = () => lines.filter((line) => line.msg === DROPPED_CONNECTIONS_MESSAGE);
  try {
    for (let i = 0; i < 2; i++) sockets.push(await open(server.url));
    for (let i = 0; i < 3; i++) {
      const extra = await open(server.url);
      sockets.push(extra);
      expect(await healthz(extra)).toBe('closed');
    }
    expect(dropLines()).toEqual([{ level: 'warn', msg: DROPPED_CONNECTIONS_MESSAGE, fields: { dropped: 1, maxConnections: 2, remote: '127.0.0.1' } }]);
    for (const s of sockets) s.destroy();
    // The server learns of the closes on its next turns.
    while ((await connections(server.server)) > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^cairn_connections_dropped_total 3$/m);
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
  }
  // The two dropped within 10 s of the first line are logged as the server stops.
  expect(dropLines().map((line) => line.fields.dropped)).toEqual([1, 2]);
  expect(dropLines()[1]!.level).toBe('warn');
});

test('an open-file limit that leaves fewer than FEW_CONNECTIONS connections is warned of at start', async () => {
  if (!linux) return;
  const data = join(dir(), 'data');
  // Where the hard limit is under 150 already, ulimit cannot raise it, and that limit is warned of too.
  const child = spawn('bash', ['-c', 'ulimit -n 150 2>/dev/null; exec "$@"', 'bash', process.execPath, CLI, 'serve', '--data', data, '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening on')) resolve();
    });
    void closed.then((code) => reject(new Error(`serve exited (${code}) before listening: ${out} ${err}`)));
  });
  child.kill('SIGTERM');
  expect(await closed).toBe(0);
  const lines = err
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { level: string; msg: string; openFiles?: number; maxConnections?: number });
  const few = connectionLimit(150)!;
  expect(few).toBeLessThan(FEW_CONNECTIONS);
  expect(lines).toEqual([expect.objectContaining({ level: 'warn', openFiles: 150, maxConnections: few, msg: expect.stringContaining(`only ${few} connections`) })]);
});
