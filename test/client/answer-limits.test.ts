// Every request reads no more of an answer than its endpoint can legitimately
// send (CONTRACT §1, §3: entries of at most 65,535 bytes, proofs of at most 64
// hashes, batches and get-entries of at most 1000): a longer answer is
// BAD_RESPONSE, neither read to its end nor parsed. Against a local HTTP
// server on port 0.
import { gzipSync } from 'node:zlib';
import { CairnClient } from '../../src/client/client.js';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint, type Checkpoint } from '../../src/note/checkpoint.js';
import { TEST_ORIGIN, testSigner } from '../helpers/keys.js';
import { clientFailure, scriptedLog } from '../helpers/scripted-log.js';

const log = scriptedLog();

/** `[{},{},…]`: valid JSON of exactly `n` bytes (n ≥ 4), the cheapest answer to parse into the most objects. */
function objects(n: number): Buffer {
  const k = Math.floor((n - 2) / 3);
  const body = `[${'{},'.repeat(k - 1)}{}${' '.repeat(n - 2 - (3 * k - 1))}]`;
  return Buffer.from(body);
}

const entry = new Uint8Array(65_535).fill(0x61);
/** A tree of one leaf, `entry`: its root is the leaf hash and every proof is empty. */
const one: Checkpoint = { origin: TEST_ORIGIN, treeSize: 1, rootHash: leafHash(entry), extensions: [] };
const two: Checkpoint = { origin: TEST_ORIGIN, treeSize: 2, rootHash: new Uint8Array(32), extensions: [] };

// The limit of each request, from CONTRACT maxima: 64 KiB for an answer
// without entries; the base64 of a 65,535-byte entry is 87,380 characters.
// A hash tile has exactly its width's length: a longer one is no tile at all
// (BAD_RESPONSE, as a shorter one is), refused without being read on. Tiles
// and bundles are served as application/octet-stream, as the log serves them.
const requests: [string, number, (c: CairnClient) => Promise<unknown>, string][] = [
  ['GET /checkpoint', 65_536, (c) => c.getCheckpoint(), 'BAD_RESPONSE'],
  ['GET get-sth', 65_536, (c) => c.getTreeHead(), 'BAD_RESPONSE'],
  ['GET /v1/log', 65_536, (c) => c.getLogInfo(), 'BAD_RESPONSE'],
  ['GET get-sth-consistency', 65_536, (c) => c.getConsistencyProof(1, 2), 'BAD_RESPONSE'],
  ['GET get-proof-by-hash', 65_536, (c) => c.proveHash(new Uint8Array(32), two), 'BAD_RESPONSE'],
  ['GET get-entry-and-proof', 65_536 + 87_380, (c) => c.getEntry(0, one), 'BAD_RESPONSE'],
  ['GET get-entries of 1', 65_536 + 87_380 + 256, (c) => c.getEntries(0, 0), 'BAD_RESPONSE'],
  ['GET get-entries of 2', 65_536 + 2 * (87_380 + 256), (c) => c.getEntries(5, 6), 'BAD_RESPONSE'],
  ['POST /v1/entries', 2 * 65_536, (c) => c.addEntry(entry), 'BAD_RESPONSE'],
  ['POST /v1/batch of 1', 65_536 + 8192, (c) => c.addBatch([entry]), 'BAD_RESPONSE'],
  ['POST /v1/batch of 3', 65_536 + 3 * 8192, (c) => c.addBatch([entry, entry.subarray(1), entry.subarray(2)]), 'BAD_RESPONSE'],
  ['GET a hash tile of width 3', 3 * 32, (c) => c.readTile({ level: 0, n: 0, width: 3 }), 'BAD_RESPONSE'],
  ['GET an entry bundle of width 2', 2 * (2 + 65_535), (c) => c.readTile({ level: -1, n: 0, width: 2 }), 'BAD_RESPONSE'],
];

/** The media type the log serves `url` as: tiles and bundles are application/octet-stream. */
const typeOf = (url: string | undefined) => (url?.startsWith('/tile/') === true ? 'application/octet-stream' : 'application/json');

test.each(requests)('%s: an answer declaring 1 MiB is refused by its length, at the limit of %d bytes', async (_name, limit, call, code) => {
  log.handler = (req, res) => {
    const body = objects(1024 * 1024);
    res.writeHead(200, { 'Content-Type': typeOf(req.url), 'Content-Length': body.length });
    res.end(body);
  };
  const err = await clientFailure(call(log.client()));
  expect(err.code).toBe(code);
  expect(err.message).toContain(`declares 1048576 bytes, more than the ${limit} `);
});

test.each(requests)('%s: an answer of one byte more than its limit (%d), without Content-Length, is refused', async (_name, limit, call, code) => {
  log.handler = (req, res) => {
    res.writeHead(200, { 'Content-Type': typeOf(req.url) });
    res.write(objects(limit + 1));
    res.end();
  };
  const err = await clientFailure(call(log.client()));
  expect(err.code).toBe(code);
  expect(err.message).toContain(`longer than the ${limit} bytes`);
});

test('an answer without end to get-sth is cut off at 64 KiB, not read on', async () => {
  let sent = 0;
  let closed: () => void = () => undefined;
  const gone = new Promise<void>((resolve) => (closed = resolve));
  log.handler = (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const chunk = Buffer.from('{},'.repeat(20_000));
    res.write('[');
    const pump = () => {
      while (!res.destroyed && sent < 256 * 2 ** 20) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
    };
    res.on('close', () => closed());
    pump();
  };
  const err = await clientFailure(log.client().getTreeHead());
  expect(err.code).toBe('BAD_RESPONSE');
  expect(err.message).toContain('longer than the 65536 bytes');
  await gone;
  // What the kernel's buffers took before the client hung up, far from the 256 MiB offered.
  expect(sent).toBeLessThan(32 * 2 ** 20);
});

test('the largest legitimate answers are read: an entry of 65,535 bytes with its proof, a full-width tile, a bundle of the largest entry', async () => {
  log.handler = (req, res) => {
    if (req.url?.startsWith('/ct/v1/get-entry-and-proof') === true) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      // Pretty-printed, as some servers write it.
      res.end(JSON.stringify({ leaf_input: encodeBase64(entry), extra_data: '', audit_path: [] }, null, 2));
    } else if (req.url === '/tile/0/000') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.end(Buffer.alloc(256 * 32, 7));
    } else if (req.url === '/tile/entries/000.p/1') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.end(Buffer.concat([Buffer.from([0xff, 0xff]), Buffer.from(entry)]));
    } else if (req.url === '/checkpoint') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(signCheckpoint(one, testSigner));
    } else {
      res.writeHead(404).end();
    }
  };
  const c = log.client();
  expect((await c.getCheckpoint()).checkpoint.treeSize).toBe(1);
  expect((await c.getEntry(0, one)).entry).toEqual(entry);
  expect((await c.readTile({ level: 0, n: 0, width: 256 })).length).toBe(256 * 32);
  expect((await c.readTile({ level: -1, n: 0, width: 1 })).length).toBe(2 + 65_535);
});

test('a gzip-encoded answer is held to its limit by its decoded bytes: a tile longer compressed than plain is read, a gzip bomb is not', async () => {
  const tile = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256));
  let body = gzipSync(tile);
  expect(body.length).toBeGreaterThan(32);
  log.handler = (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip', 'Content-Length': body.length });
    res.end(body);
  };
  expect(Buffer.from(await log.client().readTile({ level: 0, n: 0, width: 1 }))).toEqual(tile);

  body = gzipSync(Buffer.alloc(64 * 2 ** 20));
  expect(body.length).toBeLessThan(65_536);
  const err = await clientFailure(log.client().getTreeHead());
  expect(err.code).toBe('BAD_RESPONSE');
  expect(err.message).toContain('longer than the 65536 bytes');
});
