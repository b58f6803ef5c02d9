// Starting the server (startServer, which `cairn serve` runs): what it makes
// on disk, and in which order, when it cannot start or another server starts
// on the same data folder at the same moment.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { chmod, readdir, readFile, rename, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { listenAdvice, startServer, type RunningServer } from '../../src/cli/server.js';
import { readKeyFile } from '../../src/cli/key-file.js';
import type { LogState } from '../../src/storage/store.js';
import { CLI, runCli } from '../helpers/server-process.js';
import { passThroughStore } from '../helpers/store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-start-');

/** A TCP server on a free loopback port, holding it. */
async function occupy(): Promise<{ port: number; holder: NetServer }> {
  const holder = createNetServer().listen(0, '127.0.0.1');
  await once(holder, 'listening');
  return { port: (holder.address() as AddressInfo).port, holder };
}

/** A loopback port free a moment ago. */
async function freePort(): Promise<number> {
  const { port, holder } = await occupy();
  holder.close();
  await once(holder, 'close');
  return port;
}

/** A store wrapper whose first readState (Log.open's first call) waits until `release` is called; `reached` resolves when it is made. */
function stalledStart(after: (state: LogState | undefined) => LogState | undefined = (state) => state) {
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
  return {
    release,
    reached: reachedPromise,
    wrapStore: (inner: Parameters<typeof passThroughStore>[0]) =>
      passThroughStore(inner, {
        readState: async () => {
          reached();
          await released;
          return after(await inner.readState());
        },
      }),
  };
}

/** A GET sent once its connection is up; `connected` resolves then, `answer` with the status and body (or the socket's error code). */
function get(port: number, path: string) {
  const req = request({ host: '127.0.0.1', port, path, agent: false });
  const connected = new Promise<void>((resolve, reject) => {
    req.on('socket', (socket) => socket.once('connect', () => resolve()));
    req.on('error', reject);
  });
  const answer = new Promise<{ status: number; body: string } | string>((resolve) => {
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
  req.end();
  return { connected, answer };
}

test('of two servers started at once on one fresh data folder, one starts and the other says the folder is in use, leaving the key alone', async () => {
  const data = join(dir(), 'data');
  const made: string[] = [];
  const config = { data, host: '127.0.0.1', port: 0, onKeyCreated: (path: string) => made.push(path) };
  const results = await Promise.allSettled([startServer(config), startServer(config)]);
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  try {
    expect([started.length, refused.length]).toEqual([1, 1]);
    expect(refused[0]!.message).toBe(`the data folder ${data} is in use by another Cairn process (a server running or starting on it, or cairn audit checking it, holds its store's lock); stop that one first`);
    expect(made).toEqual([join(data, 'log.key')]);
    const server = started[0] as RunningServer;
    expect((await readKeyFile(join(data, 'log.key'))).verifierKey).toBe(server.verifierKey);
    const health = await fetch(`${server.url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok', tree_size: 0 });
  } finally {
    for (const server of started) await server.close();
  }
  expect((await readFile(join(data, 'log.key'), 'utf8')).startsWith('PRIVATE+KEY+cairn.localhost/log+')).toBe(true);
});

test('a port in use is reported before anything is made on disk', async () => {
  const data = join(dir(), 'fresh');
  const { port, holder } = await occupy();
  try {
    await expect(startServer({ data, host: '127.0.0.1', port })).rejects.toHaveProperty(
      'message',
      `cannot listen on 127.0.0.1:${port}: the address is in use (EADDRINUSE: address already in use); stop what listens there (another Cairn server?), or give another port with --port`,
    );
    const res = await runCli(['serve', '--data', data, '--port', String(port)]);
    expect([res.code, res.stdout, res.stderr]).toEqual([
      1,
      '',
      `cairn serve: cannot listen on 127.0.0.1:${port}: the address is in use (EADDRINUSE: address already in use); stop what listens there (another Cairn server?), or give another port with --port\n`,
    ]);
  } finally {
    holder.close();
  }
  await expect(stat(data)).rejects.toThrow(/ENOENT/);
});

test('a port refused for want of privileges gets advice only when it is below the first unprivileged port, which it names', () => {
  const advice = (unprivileged: number) =>
    `; ports below ${unprivileged} need privileges (root, or the capability CAP_NET_BIND_SERVICE): give a port of ${unprivileged} or above with --port (the default is 8080), or give serve that privilege`;
  expect(listenAdvice('EACCES', 80, 1024)).toBe(advice(1024));
  expect(listenAdvice('EACCES', 800, 1000)).toBe(advice(1000));
  // No port is privileged (a container's 0), or this one is not: the EACCES has another cause.
  expect(listenAdvice('EACCES', 80, 0)).toBe('');
  expect(listenAdvice('EACCES', 1024, 1024)).toBe('');
  expect(listenAdvice('EPERM', 80, 1024)).toBe('');
  expect(listenAdvice('EADDRINUSE', 80, 1024)).toBe('; stop what listens there (another Cairn server?), or give another port with --port');
});

// Needs a port this kernel keeps for privileged users (net.ipv4.ip_unprivileged_port_start above 1;
// 1024 unless set, but containers often set 0, where no port is refused and there is nothing to see).
const unprivileged = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  } catch {
    return 1024;
  }
})();
(unprivileged > 1 ? test : test.skip)('a privileged port, which a user other than root may not take, is reported with what to do, before anything is made on disk', async () => {
  // Run as uid 65534 (nobody); run as root, the test may start it so.
  await chmod(dir(), 0o755);
  const data = join(dir(), 'data');
  const port = Math.min(unprivileged, 1024) - 1;
  const res = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, 'serve', '--data', data, '--port', String(port)], { uid: 65534, gid: 65534 }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr });
    });
  });
  expect(res).toEqual({ code: 1, stderr: `cairn serve: cannot listen on 127.0.0.1:${port}: EACCES: permission denied${listenAdvice('EACCES', port, unprivileged)}\n` });
  expect(listenAdvice('EACCES', port, unprivileged)).not.toBe('');
  await expect(stat(data)).rejects.toThrow(/ENOENT/);
});

test('a request that comes while the server opens its store is answered once it is ready', async () => {
  const port = await freePort();
  const stall = stalledStart();
  const starting = startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port, wrapStore: stall.wrapStore });
  await stall.reached;
  // The key is made and the store open, but the log is not: the port already takes connections.
  const early = get(port, '/healthz');
  await early.connected;
  stall.release();
  const server = await starting;
  try {
    expect(server.url).toBe(`http://127.0.0.1:${port}`);
    expect(await early.answer).toEqual({ status: 200, body: JSON.stringify({ status: 'ok', tree_size: 0 }) });
  } finally {
    await server.close();
  }
});

test('a server that fails to start after binding lets the port go and does not leave a waiting request hanging', async () => {
  const port = await freePort();
  const data = join(dir(), 'data');
  const stall = stalledStart(() => {
    throw new Error('the disk went away');
  });
  const starting = startServer({ data, host: '127.0.0.1', port, wrapStore: stall.wrapStore });
  starting.catch(() => undefined);
  await stall.reached;
  const early = get(port, '/healthz');
  await early.connected;
  stall.release();
  await expect(starting).rejects.toThrow('the disk went away');
  // Answered 503 if the server had read the request when it gave up, else its connection is closed.
  const answer = await early.answer;
  if (typeof answer === 'string') expect(answer).toBe('ECONNRESET');
  else expect(answer).toEqual({ status: 503, body: JSON.stringify({ error: 'the server could not start', code: 'SHUTTING_DOWN' }) });
  // The port and the store's lock are free again.
  const again = await startServer({ data, host: '127.0.0.1', port });
  await again.close();
});

/** The refusal of a start whose key `key` is missing beside the store `db` that holds a log (`why`: what in it may hold one). */
const lostKey = (db: string, key: string, why: string) =>
  `the store in ${db} may hold a log (${why}), and its key ${key} is missing: the store was not opened and no key was made, as a new key cannot sign for that log. ` +
  `Put that key file back, or name the log's key with --key FILE (to begin another log here instead, move ${db} away first)`;

/** What in the store `db`, closed, may hold its log: its one table, or its write-ahead log (LevelDB folds that into a table as it opens). */
async function storeWrite(db: string): Promise<string> {
  const names = (await readdir(db)).sort();
  const table = names.find((name) => name.endsWith('.ldb'));
  if (table !== undefined) return `it holds the table file ${table}`;
  return `its write-ahead log ${names.find((name) => name.endsWith('.log'))!} holds a write`;
}

/** Each file of the store folder `db` with its size and modification time. */
async function storeFiles(db: string): Promise<string[]> {
  const names = (await readdir(db)).sort();
  return Promise.all(names.map(async (name) => {
    const info = await stat(join(db, name));
    return `${name} ${info.size} ${info.mtimeMs}`;
  }));
}

test('a log whose default key went missing does not start, and no new key is made in its place', async () => {
  const data = join(dir(), 'data');
  const keyPath = join(data, 'log.key');
  const first = await startServer({ data, host: '127.0.0.1', port: 0 });
  try {
    const added = await fetch(`${first.url}/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'an entry' });
    expect(added.status).toBe(201);
  } finally {
    await first.close();
  }
  await rename(keyPath, join(dir(), 'moved.key'));
  const made: string[] = [];
  const db = join(data, 'db');
  const files = await storeFiles(db);
  const message = lostKey(db, keyPath, await storeWrite(db));
  await expect(startServer({ data, host: '127.0.0.1', port: 0, onKeyCreated: (path) => made.push(path) })).rejects.toHaveProperty('message', message);
  const res = await runCli(['serve', '--data', data, '--port', '0']);
  expect([res.code, res.stdout, res.stderr]).toEqual([1, '', `cairn serve: ${message}\n`]);
  expect(made).toEqual([]);
  await expect(stat(keyPath)).rejects.toThrow(/ENOENT/);
  // Refused before the store was opened: LevelDB changed none of its files (opening writes a new MANIFEST).
  expect(await storeFiles(db)).toEqual(files);
  // With the key named, the same log starts and still holds its entry.
  const again = await startServer({ data, key: join(dir(), 'moved.key'), host: '127.0.0.1', port: 0 });
  try {
    expect(await (await fetch(`${again.url}/healthz`)).json()).toEqual({ status: 'ok', tree_size: 1 });
  } finally {
    await again.close();
  }
  // A fresh data folder still makes its key on first start.
  const fresh = join(dir(), 'fresh');
  const first2 = await startServer({ data: fresh, host: '127.0.0.1', port: 0, onKeyCreated: (path) => made.push(path) });
  await first2.close();
  expect(made).toEqual([join(fresh, 'log.key')]);
  expect(first2.startup).toMatchObject({ madeKey: true, newLog: true });
});

test('a second start whose key is missing beside a store that a running server holds says the folder is in use, and changes no file', async () => {
  const data = join(dir(), 'data');
  const first = await startServer({ data, host: '127.0.0.1', port: 0 });
  try {
    const added = await fetch(`${first.url}/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'an entry' });
    expect(added.status).toBe(201);
    const inUse = `the data folder ${data} is in use by another Cairn process (a server running or starting on it, or cairn audit checking it, holds its store's lock); stop that one first`;
    const db = join(data, 'db');
    const files = await storeFiles(db);
    const wrong = join(dir(), 'wrong.key');
    await expect(startServer({ data, key: wrong, host: '127.0.0.1', port: 0 })).rejects.toHaveProperty('message', inUse);
    const res = await runCli(['serve', '--data', data, '--key', wrong, '--port', '0']);
    expect([res.code, res.stdout, res.stderr]).toEqual([1, '', `cairn serve: ${inUse}\n`]);
    // The running server's key moved away, its default key is missing too.
    await rename(join(data, 'log.key'), join(dir(), 'moved.key'));
    await expect(startServer({ data, host: '127.0.0.1', port: 0 })).rejects.toHaveProperty('message', inUse);
    await expect(stat(join(data, 'log.key'))).rejects.toThrow(/ENOENT/);
    // Not opened: LevelDB did not move the running server's info log to LOG.old.
    expect(await storeFiles(db)).toEqual(files);
  } finally {
    await first.close();
  }
  // Stopped, the store says its key is lost.
  await expect(startServer({ data, host: '127.0.0.1', port: 0 })).rejects.toThrow(/may hold a log \(.*\), and its key .* is missing/);
});

test("a restarted server's cairn_tree_size and cairn_tree_timestamp_seconds are its log's from the start, before any new round", async () => {
  const data = join(dir(), 'data');
  const sample = async (server: RunningServer, name: string) => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return text.split('\n').find((line) => line.startsWith(`${name} `));
  };
  const treeSize = (server: RunningServer) => sample(server, 'cairn_tree_size');
  const first = await startServer({ data, host: '127.0.0.1', port: 0 });
  try {
    for (const body of ['one', 'two', 'three']) {
      expect((await fetch(`${first.url}/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body })).status).toBe(201);
    }
    expect(await treeSize(first)).toBe('cairn_tree_size 3');
  } finally {
    await first.close();
  }
  const again = await startServer({ data, host: '127.0.0.1', port: 0 });
  try {
    expect(await treeSize(again)).toBe('cairn_tree_size 3');
    const sth = (await (await fetch(`${again.url}/ct/v1/get-sth`)).json()) as { tree_size: number; timestamp: number };
    expect(sth.tree_size).toBe(3);
    expect(await sample(again, 'cairn_tree_timestamp_seconds')).toBe(`cairn_tree_timestamp_seconds ${sth.timestamp / 1000}`);
    expect(await (await fetch(`${again.url}/healthz`)).json()).toEqual({ status: 'ok', tree_size: 3 });
  } finally {
    await again.close();
  }
});

test("a --key that names no file, given for a data folder whose store holds a log, says the log has lost its key, not to make one", async () => {
  const data = join(dir(), 'data');
  const first = await startServer({ data, host: '127.0.0.1', port: 0 });
  await first.close();
  const wrong = join(dir(), 'wrong.key');
  const db = join(data, 'db');
  const files = await storeFiles(db);
  const message = lostKey(db, wrong, await storeWrite(db));
  await expect(startServer({ data, key: wrong, host: '127.0.0.1', port: 0 })).rejects.toHaveProperty('message', message);
  const res = await runCli(['serve', '--data', data, '--key', wrong, '--port', '0']);
  expect([res.code, res.stdout, res.stderr]).toEqual([1, '', `cairn serve: ${message}\n`]);
  await expect(stat(wrong)).rejects.toThrow(/ENOENT/);
  expect(await storeFiles(db)).toEqual(files);
  // Where no store is yet, it still says to make the key, and makes nothing.
  const fresh = join(dir(), 'fresh');
  await expect(startServer({ data: fresh, key: wrong, host: '127.0.0.1', port: 0 })).rejects.toHaveProperty(
    'message',
    `no key file at ${wrong}; make one with: cairn keygen --origin <origin> --out ${wrong}`,
  );
  await expect(stat(fresh)).rejects.toThrow(/ENOENT/);
  // With the right key named, the log starts.
  const again = await startServer({ data, key: join(data, 'log.key'), host: '127.0.0.1', port: 0 });
  await again.close();
});
