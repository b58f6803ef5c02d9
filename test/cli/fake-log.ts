// A small Cairn log that the test controls: its entries are a plain array,
// each answer is computed from them and signed with the test key, and hooks
// may answer a request otherwise. For checking what the client commands do
// when a log lies, forks or answers garbage. Listens on 127.0.0.1, port 0.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEntryBundle } from '../../src/merkle/bundle.js';
import { leafHash } from '../../src/merkle/hash.js';
import { proveConsistency, proveInclusion } from '../../src/merkle/proof.js';
import { buildStoredHashes, memoryHashReader } from '../../src/merkle/reader.js';
import { storedHashIndex } from '../../src/merkle/stored.js';
import { parseTilePath, TILE_HEIGHT, TILE_WIDTH, tileWidth } from '../../src/merkle/tile.js';
import { treeHash } from '../../src/merkle/tree.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint, type Checkpoint } from '../../src/note/checkpoint.js';
import { signTreeHead } from '../../src/note/sth.js';
import { TEST_ORIGIN, testSigner, vector } from '../helpers/keys.js';

/** Answers a request itself (true) or leaves it to the fake log (false). */
export type Hook = (path: string, req: IncomingMessage, res: ServerResponse, body: Uint8Array) => boolean | Promise<boolean>;

export interface FakeLog {
  readonly url: string;
  /** The log's entries: change them to make it lie. */
  entries: Uint8Array[];
  /** The extension lines of every checkpoint it signs (default none). */
  extensions: string[];
  /** The path (with query) of every request, in order. */
  readonly requests: string[];
  /** Tried first for every request. */
  hook: Hook | undefined;
  /** The signed checkpoint of the first `size` entries (default all). */
  head(size?: number): Promise<Checkpoint>;
  close(): Promise<void>;
}

const enc = (s: string) => new TextEncoder().encode(s);

export function send(res: ServerResponse, status: number, body: string | Uint8Array | object, type = 'application/json'): void {
  const data = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': type });
  res.end(data);
}

/**
 * Answers a tile or entry-bundle path (`tile/…`) from `entries` as a Cairn
 * log would (404 past them); false for any other path. `bundle` may change
 * a bundle's entries before it is sent (a log that lies about them).
 */
export function sendTile(path: string, entries: readonly Uint8Array[], res: ServerResponse, bundle?: (n: number, entries: Uint8Array[]) => Uint8Array[]): boolean {
  if (!path.startsWith('tile/')) return false;
  const tile = parseTilePath(path);
  if (tileWidth(Math.max(tile.level, 0), tile.n, entries.length) < tile.width) {
    send(res, 404, { error: 'not found', code: 'NOT_FOUND' });
    return true;
  }
  const from = tile.n * TILE_WIDTH;
  if (tile.level === -1) {
    const held = entries.slice(from, from + tile.width);
    send(res, 200, encodeEntryBundle(bundle === undefined ? held : bundle(tile.n, held)), 'application/octet-stream');
    return true;
  }
  const hashes = buildStoredHashes(entries);
  const data = new Uint8Array(tile.width * 32);
  for (let i = 0; i < tile.width; i++) data.set(hashes[storedHashIndex(tile.level * TILE_HEIGHT, from + i)]!, i * 32);
  send(res, 200, data, 'application/octet-stream');
  return true;
}

/** Starts a fake log of `size` entries `e0`, `e1`, ... */
export async function startFakeLog(size: number): Promise<FakeLog> {
  const requests: string[] = [];
  const reader = () => memoryHashReader(buildStoredHashes(fake.entries));
  const head = async (n = fake.entries.length): Promise<Checkpoint> => ({ origin: TEST_ORIGIN, treeSize: n, rootHash: await treeHash(n, reader()), extensions: [...fake.extensions] });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      answer(req, res, new Uint8Array(Buffer.concat(chunks))).catch((err: unknown) => send(res, 500, { error: String(err), code: 'INTERNAL' }));
    });
  });
  const answer = async (req: IncomingMessage, res: ServerResponse, body: Uint8Array) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.slice(1);
    requests.push(`${path}${url.search}`);
    if (fake.hook !== undefined && (await fake.hook(path, req, res, body))) return;
    const q = (name: string) => Number(url.searchParams.get(name));
    switch (path) {
      case 'checkpoint':
        return send(res, 200, signCheckpoint(await head(), testSigner), 'text/plain; charset=utf-8');
      case 'ct/v1/get-sth': {
        const h = await head();
        return send(res, 200, signTreeHead({ timestamp: 1_700_000_000_000, treeSize: h.treeSize, rootHash: h.rootHash }, testSigner));
      }
      case 'ct/v1/get-sth-consistency':
        return send(res, 200, { consistency: (await proveConsistency(q('first'), q('second'), reader())).map(encodeBase64) });
      case 'ct/v1/get-entry-and-proof':
        return send(res, 200, {
          leaf_input: encodeBase64(fake.entries[q('leaf_index')]!),
          extra_data: '',
          audit_path: (await proveInclusion(q('tree_size'), q('leaf_index'), reader())).map(encodeBase64),
        });
      case 'v1/batch': {
        const submitted = (JSON.parse(new TextDecoder().decode(body)) as { entries: string[] }).entries.map(decodeBase64);
        const known = new Map(fake.entries.map((e, i) => [encodeBase64(e), i]));
        const indexes = submitted.map((e) => {
          const at = known.get(encodeBase64(e));
          if (at !== undefined) return { index: at, duplicate: true };
          fake.entries.push(e);
          known.set(encodeBase64(e), fake.entries.length - 1);
          return { index: fake.entries.length - 1, duplicate: false };
        });
        const h = await head();
        const r = reader();
        const receipts = await Promise.all(
          submitted.map(async (e, i) => ({
            index: indexes[i]!.index,
            leaf_hash: encodeBase64(leafHash(e)),
            inclusion_proof: (await proveInclusion(h.treeSize, indexes[i]!.index, r)).map(encodeBase64),
            duplicate: indexes[i]!.duplicate,
          })),
        );
        return send(res, 200, { checkpoint: signCheckpoint(h, testSigner), receipts });
      }
      default:
        return send(res, 404, { error: 'not found', code: 'NOT_FOUND' });
    }
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fake: FakeLog = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    entries: Array.from({ length: size }, (_, i) => enc(`e${i}`)),
    extensions: [],
    requests,
    hook: undefined,
    head,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return fake;
}

/** What {@link fakeLogEachTest} sets up; read its fields inside tests. */
export interface FakeLogContext {
  /** A fake log of the given size, fresh for each test. */
  readonly fake: FakeLog;
  /** A temporary folder for the whole suite. */
  readonly dir: string;
  /** `--url` and `--vkey` of the fake log, for a command's arguments. */
  readonly common: string[];
}

/**
 * Jest hooks for a suite of client-command tests: a temporary folder named
 * after `prefix` for the suite, and a fresh fake log of `size` entries for
 * each test, closed after it.
 */
export function fakeLogEachTest(size: number, prefix: string): FakeLogContext {
  let fake: FakeLog | undefined;
  let dir: string | undefined;
  const context: FakeLogContext = {
    get fake(): FakeLog {
      if (fake === undefined) throw new Error('fakeLogEachTest: no fake log outside a test');
      return fake;
    },
    get dir(): string {
      if (dir === undefined) throw new Error('fakeLogEachTest: no folder outside the suite');
      return dir;
    },
    get common(): string[] {
      return ['--url', context.fake.url, '--vkey', vector.verifier_key];
    },
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    fake = await startFakeLog(size);
  });
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });
  return context;
}
