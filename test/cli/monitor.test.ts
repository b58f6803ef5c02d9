// cairn monitor against real servers: a log that grows honestly, then the
// same key serving a different history (a fork) and a truncated one, plus
// tiles, bundles and signatures changed in transit. Each must alarm: a line
// on stderr, a webhook POST, exit 1; the state file must not move.
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorCommand } from '../../src/cli/monitor.js';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { CairnClient } from '../../src/client/client.js';
import { flip } from '../client/helpers.js';
import { captureIo, editingFetch } from './client-io.js';

const enc = (s: string) => new TextEncoder().encode(s);
let dir: string;
let keyFile: string;
let vkey: string;
let statePath: string;
let webhook: Server;
let webhookUrl: string;
const posted: Record<string, unknown>[] = [];

async function start(name: string): Promise<{ server: RunningServer; client: CairnClient }> {
  const server = await startServer({ data: join(dir, name), key: keyFile, host: '127.0.0.1', port: 0 });
  return { server, client: new CairnClient({ baseUrl: server.url, verifierKey: server.verifierKey }) };
}

async function add(client: CairnClient, prefix: string, count: number, from = 0): Promise<void> {
  for (let i = from; i < from + count; i += 1000) {
    await client.addBatch(Array.from({ length: Math.min(1000, from + count - i) }, (_, j) => enc(`${prefix} ${i + j}`)));
  }
}

async function monitor(url: string, extra: string[] = [], io = captureIo()) {
  const code = await monitorCommand(['--url', url, '--vkey', vkey, '--state', statePath, '--once', '--json', '--webhook', webhookUrl, ...extra], io);
  const events = io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, events, io };
}

const state = async () => JSON.parse(await readFile(statePath, 'utf8')) as { tree_size: number; root_hash: string; checkpoint: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-monitor-'));
  statePath = join(dir, 'monitor-state.json');
  // The first server makes the key; the others reuse it, as a rogue or rolled-back operator would.
  const first = await startServer({ data: join(dir, 'genuine'), host: '127.0.0.1', port: 0, origin: 'monitor.test/log' });
  keyFile = join(dir, 'genuine', 'log.key');
  vkey = first.verifierKey;
  await first.close();
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      posted.push(JSON.parse(body) as Record<string, unknown>);
      res.end('ok');
    });
  });
  webhook.listen(0, '127.0.0.1');
  await once(webhook, 'listening');
  const address = webhook.address();
  webhookUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/hook`;
});
afterAll(async () => {
  webhook.close();
  await rm(dir, { recursive: true, force: true });
});

test('an honest log: the first run checks it all, later runs check what is new, the state moves forward', async () => {
  const { server, client } = await start('genuine');
  try {
    await add(client, 'genuine', 10);
    const first = await monitor(server.url);
    expect(first.code).toBe(0);
    expect(first.events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 10, grew: 10, tiles: 1, bundles: 1 })]);
    expect((await state()).tree_size).toBe(10);

    await add(client, 'genuine', 600, 10);
    const second = await monitor(server.url);
    expect(second.code).toBe(0);
    // 10 → 610: tiles 0/000 (full), 0/001 (full), 0/002.p/98, 1/000.p/2 and the three bundles.
    expect(second.events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 610, grew: 600, tiles: 4, bundles: 3 })]);
    const third = await monitor(server.url);
    expect(third.events).toEqual([expect.objectContaining({ event: 'unchanged', tree_size: 610 })]);
    // Written atomically: no temporary files are left beside the state.
    expect((await readdir(dir)).filter((f) => f.startsWith('monitor-state'))).toEqual(['monitor-state.json']);
    expect(posted).toEqual([]);
  } finally {
    await server.close();
  }
});

test('a fork: the same key signs a different history of the same size, then a longer one', async () => {
  const before = await state();
  const { server, client } = await start('fork');
  try {
    await add(client, 'forged', 610);
    const same = await monitor(server.url);
    expect(same.code).toBe(1);
    expect(same.events).toEqual([expect.objectContaining({ event: 'alarm', kind: 'fork' })]);
    expect(same.io.err()).toBe('');
    expect(posted.at(-1)).toMatchObject({
      type: 'cairn.monitor.alarm',
      kind: 'fork',
      origin: 'monitor.test/log',
      url: server.url,
      last_verified: { tree_size: 610, root_hash: before.root_hash },
      observed: { tree_size: 610 },
    });
    expect((posted.at(-1)!.observed as { root_hash: string }).root_hash).not.toBe(before.root_hash);

    await add(client, 'forged', 5, 610);
    const longer = await monitor(server.url);
    expect(longer.code).toBe(1);
    expect(longer.events).toEqual([expect.objectContaining({ event: 'alarm', kind: 'inconsistent' })]);
    expect(posted.at(-1)).toMatchObject({ kind: 'inconsistent', observed: { tree_size: 615 } });
    expect(await state()).toEqual(before);

    // Human output: the alarm is a line on standard error.
    const io = captureIo();
    expect(await monitorCommand(['--url', server.url, '--vkey', vkey, '--state', statePath, '--once'], io)).toBe(1);
    expect(io.err()).toMatch(/^\S+Z ALARM inconsistent: the tree of size 615 .* does not extend the tree of size 610/);
  } finally {
    await server.close();
  }
});

test('a truncated log: the first entries again, but fewer', async () => {
  const before = await state();
  const { server, client } = await start('truncated');
  try {
    await add(client, 'genuine', 300);
    const run = await monitor(server.url);
    expect(run.code).toBe(1);
    expect(run.events).toEqual([expect.objectContaining({ event: 'alarm', kind: 'smaller-tree', message: expect.stringMatching(/shrank from 610 to 300/) })]);
    expect(posted.at(-1)).toMatchObject({ kind: 'smaller-tree', observed: { tree_size: 300 } });
    expect(await state()).toEqual(before);
  } finally {
    await server.close();
  }
});

test('tiles, bundles and signatures changed in transit; staleness; the genuine log passes again', async () => {
  const { server, client } = await start('genuine');
  try {
    await add(client, 'genuine', 158, 610); // 768: tile 0/002 becomes full, 1/000 grows to width 3
    const before = await state();
    const cases: [RegExp, (b: Uint8Array) => Uint8Array, string][] = [
      [/\/tile\/0\/002$/, (b) => flip(b, 32 * 200 + 3), 'tile-mismatch'],
      [/\/tile\/1\/000\.p\/3$/, (b) => flip(b, 40), 'tile-mismatch'],
      [/\/tile\/entries\/002$/, (b) => flip(b, b.length - 1), 'entry-mismatch'],
      [/\/checkpoint$/, (b) => enc(new TextDecoder().decode(b).replace(/(— \S+ .{20})(.)/, (_m, head: string, c: string) => `${head}${c === 'A' ? 'B' : 'A'}`)), 'bad-signature'],
      [/\/ct\/v1\/get-sth$/, (b) => enc(new TextDecoder().decode(b).replace(/"timestamp":(\d+)/, (_m, t: string) => `"timestamp":${Number(t) + 1}`)), 'bad-signature'],
      [/\/ct\/v1\/get-sth-consistency/, (b) => enc(new TextDecoder().decode(b).replace(/"consistency":\["(.)/, (_m, c: string) => `"consistency":["${c === 'A' ? 'B' : 'A'}`)), 'inconsistent'],
    ];
    for (const [pattern, change, kind] of cases) {
      const io = captureIo({ fetch: editingFetch((url, body) => (pattern.test(url) ? change(body) : undefined)) });
      const run = await monitor(server.url, [], io);
      expect([pattern.source, run.code, run.events[0]?.kind]).toEqual([pattern.source, 1, kind]);
      expect(await state()).toEqual(before);
    }
    const stale = await monitor(server.url, ['--max-age', '60'], captureIo({ now: () => Date.now() + 3_600_000 }));
    expect(stale.code).toBe(1);
    expect(stale.events.map((e) => e.event)).toEqual(['verified', 'alarm']);
    expect(stale.events[1]).toMatchObject({ kind: 'stale', message: expect.stringMatching(/signed tree head is \d+ s old/) });
    expect((await state()).tree_size).toBe(768); // the history itself checked out

    await add(client, 'genuine', 1, 768);
    const fresh = await monitor(server.url, ['--max-age', '600']);
    expect(fresh.code).toBe(0);
    expect(fresh.events).toEqual([expect.objectContaining({ event: 'verified', tree_size: 769, grew: 1 })]);
  } finally {
    await server.close();
  }
});

test('operational errors exit 2; without --once it keeps watching until stopped', async () => {
  const down = await monitor('http://127.0.0.1:9');
  expect(down.code).toBe(2);
  expect(down.events).toEqual([expect.objectContaining({ event: 'error' })]);
  expect(await monitorCommand(['--url', 'http://127.0.0.1:9', '--vkey', vkey], captureIo())).toBe(2);
  const help = captureIo();
  expect(await monitorCommand(['--help'], help)).toBe(0);
  expect(help.out()).toMatch(/Exit status:\n  0 .*\n  1  an alarm was raised\n  2 /);

  const { server, client } = await start('genuine');
  try {
    const controller = new AbortController();
    let rounds = 0;
    let growing: Promise<void> = Promise.resolve();
    const io = captureIo({
      signal: controller.signal,
      onSleep: () => {
        rounds++;
        if (rounds === 1) growing = add(client, 'genuine', 3, 769); // the log grows between rounds 1 and 2
        if (rounds === 3) controller.abort();
      },
    });
    const waitingIo = { ...io, sleep: async (ms: number) => { await io.sleep(ms); await growing; } };
    expect(await monitorCommand(['--url', server.url, '--vkey', vkey, '--state', statePath, '--interval', '0.5', '--json'], waitingIo)).toBe(0);
    expect(io.sleeps).toEqual([500, 500, 500]);
    const events = io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { event: string; tree_size: number });
    expect(events.map((e) => e.event)).toEqual(['unchanged', 'verified', 'unchanged']);
    expect(events[1]!.tree_size).toBe(772);
  } finally {
    await server.close();
  }
});

test('a URL that is not http(s) is named as the user gave it: --webhook, --url or CAIRN_URL', async () => {
  const cases: [string[], Record<string, string>, string][] = [
    [['--url', 'http://127.0.0.1:9', '--webhook', 'notaurl'], {}, '--webhook must be an http(s) URL, got "notaurl"'],
    [['--url', 'http://127.0.0.1:9', '--webhook', 'ftp://hooks.example/alarm'], {}, '--webhook must be an http(s) URL, got "ftp://hooks.example/alarm"'],
    [['--url', 'notaurl'], {}, '--url must be an http(s) URL, got "notaurl"'],
    [[], { CAIRN_URL: 'notaurl' }, 'CAIRN_URL must be an http(s) URL, got "notaurl"'],
  ];
  for (const [args, env, message] of cases) {
    const io = captureIo({ env });
    expect(await monitorCommand([...args, '--vkey', vkey, '--state', statePath, '--once'], io)).toBe(2);
    expect(io.err()).toBe(`cairn monitor: ${message}\nRun 'cairn monitor --help' for its options.\n`);
  }
});

test('a verifier key that is neither a key nor a file is named as the user gave it: --vkey or CAIRN_VKEY', async () => {
  const cases: [string[], Record<string, string>, string][] = [
    [['--vkey', 'nokey'], {}, '--vkey "nokey" is neither a verifier key (<origin>+<hash>+<base64>) nor a readable file'],
    [[], { CAIRN_VKEY: 'nokey' }, 'CAIRN_VKEY "nokey" is neither a verifier key (<origin>+<hash>+<base64>) nor a readable file'],
  ];
  for (const [args, env, message] of cases) {
    const io = captureIo({ env });
    expect(await monitorCommand(['--url', 'http://127.0.0.1:9', ...args, '--state', statePath, '--once'], io)).toBe(2);
    expect(io.err()).toBe(`cairn monitor: ${message}\nRun 'cairn monitor --help' for its options.\n`);
  }
});
