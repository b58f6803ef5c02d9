// End to end: the real CLI server in a temporary folder, driven over HTTP,
// checked from the outside after every step (Sunlight style).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leafHash } from '../../src/merkle/hash.js';
import { verifyConsistency, verifyInclusion } from '../../src/merkle/proof.js';
import { CompactRange } from '../../src/merkle/range.js';
import { formatTilePath } from '../../src/merkle/tile.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { openCheckpoint, type Checkpoint } from '../../src/note/checkpoint.js';
import { newVerifier, type Verifier } from '../../src/note/keys.js';
import { verifyTreeHead } from '../../src/note/sth.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

let dir: string;
let server: ServerProcess;
let verifier: Verifier;
const seen: Checkpoint[] = []; // every checkpoint observed, in order

async function fetchOk(url: string, init?: RequestInit): Promise<Response> {
  const res = await fetch(url, init);
  if (!res.ok && res.status !== 200 && res.status !== 201) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return res;
}

function checkReceipt(r: { index: number; leaf_hash: string; inclusion_proof: string[] }, note: string, entry: Uint8Array): Checkpoint {
  const { checkpoint } = openCheckpoint(note, verifier);
  expect(r.leaf_hash).toBe(encodeBase64(leafHash(entry)));
  expect(verifyInclusion(leafHash(entry), r.index, checkpoint.treeSize, r.inclusion_proof.map(decodeBase64), checkpoint.rootHash)).toBe(true);
  seen.push(checkpoint);
  return checkpoint;
}

/** The whole-log check: tiles and bundles rebuild the signed root; every seen checkpoint is consistent with it. */
async function checkWholeLog(expectedEntries: Map<number, string>): Promise<Checkpoint> {
  const { checkpoint } = openCheckpoint(await (await fetchOk(`${server.url}/checkpoint`)).text(), verifier);
  const sth = verifyTreeHead(await (await fetchOk(`${server.url}/ct/v1/get-sth`)).json(), verifier);
  expect(sth?.treeSize).toBe(checkpoint.treeSize);
  expect(hex(sth!.rootHash)).toBe(hex(checkpoint.rootHash));
  const size = checkpoint.treeSize;
  const range = CompactRange.empty();
  for (let n = 0; n * 256 < size; n++) {
    const width = Math.min(256, size - n * 256);
    const bundle = new Uint8Array(await (await fetchOk(`${server.url}/${formatTilePath({ level: -1, n, width })}`)).arrayBuffer());
    const tile = new Uint8Array(await (await fetchOk(`${server.url}/${formatTilePath({ level: 0, n, width })}`)).arrayBuffer());
    expect(tile.length).toBe(width * 32);
    let offset = 0;
    for (let i = 0; i < width; i++) {
      const len = bundle[offset]! * 256 + bundle[offset + 1]!;
      const entry = bundle.subarray(offset + 2, offset + 2 + len);
      offset += 2 + len;
      const h = leafHash(entry);
      expect(hex(h)).toBe(hex(tile.subarray(i * 32, (i + 1) * 32)));
      const want = expectedEntries.get(n * 256 + i);
      if (want !== undefined) expect(new TextDecoder().decode(entry)).toBe(want);
      range.append(h);
    }
    expect(offset).toBe(bundle.length);
  }
  expect(hex(range.root())).toBe(hex(checkpoint.rootHash));
  for (const old of seen) {
    if (old.treeSize === 0 || old.treeSize > size) continue;
    const res = await (await fetchOk(`${server.url}/ct/v1/get-sth-consistency?first=${old.treeSize}&second=${size}`)).json();
    const proof = (res as { consistency: string[] }).consistency.map(decodeBase64);
    expect(verifyConsistency(old.treeSize, size, old.rootHash, checkpoint.rootHash, proof)).toBe(true);
  }
  seen.push(checkpoint);
  return checkpoint;
}

async function addSingle(text: string): Promise<{ index: number }> {
  const res = await fetchOk(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: enc(text) });
  const body = (await res.json()) as { index: number; leaf_hash: string; inclusion_proof: string[]; checkpoint: string };
  checkReceipt(body, body.checkpoint, enc(text));
  return body;
}

async function addBatch(texts: string[]): Promise<number[]> {
  const res = await fetchOk(`${server.url}/v1/batch`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ entries: texts.map((t) => encodeBase64(enc(t))) }),
  });
  const body = (await res.json()) as { checkpoint: string; receipts: { index: number; leaf_hash: string; inclusion_proof: string[] }[] };
  body.receipts.forEach((r, i) => checkReceipt(r, body.checkpoint, enc(texts[i]!)));
  return body.receipts.map((r) => r.index);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-e2e-'));
  server = await startServerProcess(['--data', dir, '--origin', 'e2e.example/log']);
  const vkey = /verifier key: (\S+)/.exec(server.stdout())![1]!;
  verifier = newVerifier(vkey);
  expect(verifier.name).toBe('e2e.example/log');
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a new log serves a signed empty tree', async () => {
  const cp = await checkWholeLog(new Map());
  expect(cp.treeSize).toBe(0);
});

test('concurrent single and batch submissions, whole-log checks, restart, and growth after it', async () => {
  const expected = new Map<number, string>();
  const singles = Array.from({ length: 120 }, (_, i) => `single ${i}`);
  const batches = Array.from({ length: 6 }, (_, b) => Array.from({ length: 100 }, (_, i) => `batch ${b} item ${i}`));
  const [singleResults, batchResults] = await Promise.all([
    Promise.all(singles.map(addSingle)),
    Promise.all(batches.map(addBatch)),
  ]);
  singleResults.forEach((r, i) => expected.set(r.index, singles[i]!));
  batchResults.forEach((indexes, b) => indexes.forEach((index, i) => expected.set(index, batches[b]![i]!)));
  expect(expected.size).toBe(720);
  const before = await checkWholeLog(expected);
  expect(before.treeSize).toBe(720);

  // Restart: everything is still there, and the tree keeps growing from it.
  expect(await server.stop()).toBe(0);
  server = await startServerProcess(['--data', dir]);
  const afterRestart = await checkWholeLog(expected);
  expect(afterRestart.treeSize).toBe(720);
  expect(hex(afterRestart.rootHash)).toBe(hex(before.rootHash));
  const dup = await addSingle('single 7');
  expect(dup.index).toBe([...expected].find(([, v]) => v === 'single 7')![0]);
  const more = await addBatch(Array.from({ length: 300 }, (_, i) => `after restart ${i}`));
  more.forEach((index, i) => expected.set(index, `after restart ${i}`));
  const grown = await checkWholeLog(expected);
  expect(grown.treeSize).toBe(1020);
});
