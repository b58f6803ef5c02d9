// The benchmark's load generator (scripts/bench/load.ts) verifies the
// consistency proofs it samples for real: against roots of smaller trees it
// computed from the server's authenticated tiles. A server that answers
// made-up proof hashes is caught; one that also makes up its tiles cannot
// even start a run. It reports its measured window (for the CPU readings).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/http/app.js';
import type { Log } from '../../src/log/log.js';
import { buildStoredHashes, memoryHashReader } from '../../src/merkle/reader.js';
import { treeHash } from '../../src/merkle/tree.js';
import { entryRange } from '../../scripts/bench/entries.js';
import { consistencyRoots, runLoad, type LoadKind, type LoadResult } from '../../scripts/bench/load.js';
import { grow, openDataFolder } from '../../scripts/bench/sequencing.js';
import { httpGet } from '../../scripts/bench/server.js';

const SEED = 0x6361_6972;
const SIZE = 1000;

let dir: string;
let log: Log;
const servers: Server[] = [];
let real: string;
let rootHash: string;

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Forwards every request to the real server, but swaps each hash of a consistency proof for random bytes. */
function forgingProxy(): Promise<string> {
  return listen((req, res) => {
    const upstream = request(`${real}${req.url}`, { agent: false }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (d: Buffer) => chunks.push(d));
      answer.on('end', () => {
        let body = Buffer.concat(chunks);
        if (req.url!.startsWith('/ct/v1/get-sth-consistency') && answer.statusCode === 200) {
          const r = JSON.parse(body.toString('utf8')) as { consistency: string[] };
          body = Buffer.from(JSON.stringify({ consistency: r.consistency.map(() => randomBytes(32).toString('base64')) }));
        }
        res.writeHead(answer.statusCode ?? 502, { 'content-type': answer.headers['content-type'] ?? 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      });
    });
    upstream.end();
  });
}

function load(url: string, kind: LoadKind): Promise<LoadResult> {
  return runLoad({ url, kind, connections: 2, durationMs: 200, warmupMs: 0, seed: SEED, treeSize: SIZE, rootHash, verifyEvery: 1 });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-bench-cons-'));
  log = await openDataFolder(dir);
  await grow(log, SEED, 0, SIZE);
  real = await listen(createApp({ log, verifierKey: 'unused' }));
  const sth = JSON.parse((await httpGet(`${real}/ct/v1/get-sth`)).body) as { tree_size: number; sha256_root_hash: string };
  expect(sth.tree_size).toBe(SIZE);
  rootHash = sth.sha256_root_hash;
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
  await log?.close();
  await rm(dir, { recursive: true, force: true });
});

test('the older roots are those of the prefixes of the log', async () => {
  const roots = await consistencyRoots(real, SIZE, new Uint8Array(Buffer.from(rootHash, 'base64')));
  const sizes = roots.map((r) => r.size);
  for (const edge of [1, 2, 255, 256, 257, SIZE - 1, SIZE]) expect(sizes).toContain(edge);
  expect(sizes.length).toBeGreaterThan(8);
  // Each against the tree hash of the first entries, computed here from the entries themselves.
  const reader = memoryHashReader(buildStoredHashes(entryRange(SEED, 0, SIZE)));
  for (const r of roots) expect(Buffer.from(r.root).equals(Buffer.from(await treeHash(r.size, reader)))).toBe(true);
});

test('every sampled consistency proof of the real server verifies, and so do its inclusion proofs', async () => {
  for (const kind of ['consistency', 'inclusion'] as const) {
    const r = await load(real, kind);
    expect(r.errors).toBe(0);
    expect(r.verifyFailures).toBe(0);
    expect(r.verified).toBeGreaterThan(0);
  }
});

test('made-up consistency proof hashes fail verification', async () => {
  const r = await load(await forgingProxy(), 'consistency');
  expect(r.errors).toBe(0);
  expect(r.verifyFailures).toBeGreaterThan(0);
});

test('a server that makes up its tiles too cannot start a consistency run', async () => {
  const junk = await listen((_req, res) => {
    const body = randomBytes(32 * 256);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
  await expect(load(junk, 'consistency')).rejects.toThrow(/tile/);
});

test('the measured window is reported as it opens and as it closes, once each', async () => {
  const edges: string[] = [];
  const r = await runLoad({ url: real, kind: 'inclusion', connections: 3, durationMs: 100, warmupMs: 50, seed: SEED, treeSize: SIZE, rootHash, verifyEvery: 0 }, (edge) =>
    edges.push(edge),
  );
  expect(r.errors).toBe(0);
  expect(edges).toEqual(['start', 'end']);
});
