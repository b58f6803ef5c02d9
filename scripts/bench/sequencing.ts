/**
 * In-process measurements: Cairn's sequencer without HTTP, the raw limit of
 * the machine (hashing plus one synced LevelDB batch per round, no log
 * logic), and a naive log on merkletreejs.
 */
import { hash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { MerkleTree } from 'merkletreejs';
import { createKeyFile, readKeyFile } from '../../src/cli/key-file.js';
import { Log } from '../../src/log/log.js';
import { newNativeSigner } from '../../src/log/native-signer.js';
import { newVerifier } from '../../src/note/keys.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { benchLeafHash, benchNodeHash, entryAt, entryRange, ENTRY_SIZE } from './entries.js';
import { quantile } from './stats.js';

/** The origin of the benchmark's logs. */
export const BENCH_ORIGIN = 'bench.cairn.localhost/log';

/**
 * Opens a Log the way `cairn serve` does on a data folder (`<data>/db`,
 * `<data>/log.key`, made if missing, Ed25519 through node:crypto).
 */
export async function openDataFolder(data: string): Promise<Log> {
  await mkdir(data, { recursive: true, mode: 0o700 });
  const keyPath = join(data, 'log.key');
  let key;
  try {
    key = await readKeyFile(keyPath);
  } catch {
    await createKeyFile(keyPath, BENCH_ORIGIN);
    key = await readKeyFile(keyPath);
  }
  return Log.open({
    store: await LevelStore.open(join(data, 'db')),
    signer: newNativeSigner(key.signerKey),
    verifier: newVerifier(key.verifierKey),
  });
}

/** Entries a round takes by default; also the raw limit's round. */
export const ROUND = 4096;

/**
 * Submits entries in submissions of `batch`, keeping about two rounds of
 * entries outstanding, and returns entries/s from the first submission to
 * the last receipt. The entries are made before the clock starts.
 */
export async function sequence(log: Log, entries: readonly Uint8Array[], batch: number): Promise<number> {
  const submissions: Uint8Array[][] = [];
  for (let i = 0; i < entries.length; i += batch) submissions.push(entries.slice(i, i + batch));
  const parallel = Math.max(1, Math.floor((2 * ROUND) / batch));
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < submissions.length) {
      const mine = submissions[next++]!;
      const result = await log.submit(mine);
      if (result.receipts.length !== mine.length || result.receipts.some((r) => r.duplicate)) {
        throw new Error('benchmark entries were not all logged as new');
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return entries.length / ((performance.now() - started) / 1000);
}

/** One entry at a time, each waiting for its receipt: the fsync-bound floor. Returns entries/s and p50/p99 ms. */
export async function sequenceOneByOne(log: Log, entries: readonly Uint8Array[], ms: number): Promise<{ rate: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  let i = 0;
  while (i < entries.length && performance.now() - started < ms) {
    const t = performance.now();
    await log.submit([entries[i++]!]);
    latencies.push(performance.now() - t);
  }
  const sorted = Float64Array.from(latencies).sort();
  return { rate: i / ((performance.now() - started) / 1000), p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
}

/** Appends `count` entries of stream `seed` from index `first` in rounds of 4096, two outstanding; returns entries/s. */
export async function grow(log: Log, seed: number, first: number, count: number): Promise<number> {
  let next = first;
  const end = first + count;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < end) {
      const n = Math.min(ROUND, end - next);
      const entries = entryRange(seed, next, n);
      next += n;
      await log.submit(entries);
    }
  };
  await Promise.all([worker(), worker()]);
  return count / ((performance.now() - started) / 1000);
}

/**
 * How the raw limit overlaps hashing with writing: `depth` synced batch
 * writes may be in flight while the next round is hashed and its batch
 * built. 0 is serial (each round hashed only once the previous one is
 * durable); 1 is Cairn's sequencer (src/log/log.ts: the next round prepared
 * while one is written and synced); 2 lets a second write queue behind the
 * one syncing. Every round is still its own batch with its own sync.
 */
export type RawDepth = 0 | 1 | 2;

/**
 * The depth the benchmark's raw limit uses: 1, like Cairn. On the 2-vCPU
 * machine the benchmark was written on, 200,000 entries, fresh process per
 * run: depth 0 gave 405,000-438,000 entries/s, depth 1 498,000-539,000 and
 * depth 2 491,000-530,000 (run in pairs with depth 1, 10 pairs: median 0.99 of it):
 * a second write in flight only queues behind the sync. strace counted the
 * same fdatasync calls at every depth: one per round.
 */
export const RAW_LIMIT_DEPTH: RawDepth = 1;

/** What the raw limit overlaps, as the benchmark's table says it. */
export const RAW_LIMIT_OVERLAP = 'next round hashed while one syncs';

/**
 * Runs rounds 0 to count-1, each `prepare`d on the event loop and then
 * `write`n, keeping at most `depth` writes in flight while the next round is
 * prepared (depth 0: round k+1 is prepared only once round k's write has
 * resolved). Writes are started in round order; resolves once all have, and
 * rejects as soon as an awaited write does.
 */
export async function pipelineRounds<B>(count: number, depth: RawDepth, prepare: (k: number) => B, write: (batch: B) => Promise<void>): Promise<void> {
  const limit = Math.max(depth, 1);
  const writing: Promise<void>[] = [];
  for (let k = 0; k < count; k++) {
    const batch = prepare(k);
    if (writing.length === limit) await writing.shift();
    const written = write(batch);
    written.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    writing.push(written);
    if (depth === 0) await writing.shift();
  }
  await Promise.all(writing);
}

/**
 * The raw limit: per round of 4096 entries, two SHA-256 per entry (the leaf
 * hash and one node hash) and one LevelDB batch written with `sync: true`
 * holding the entries and their leaf hashes, 256 to a value (the least a
 * tiled log must write). No dedup, no proofs, no signatures. Rounds are
 * overlapped as `depth` says (default RAW_LIMIT_DEPTH): a limit must not be
 * slowed by waiting that Cairn itself does not do. Returns entries/s.
 */
export async function rawLimit(dir: string, entries: readonly Uint8Array[], depth: RawDepth = RAW_LIMIT_DEPTH): Promise<number> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    const started = performance.now();
    const node = Buffer.alloc(65);
    node[0] = 1;
    let carry = Buffer.alloc(32);
    // Hashes the round from entry `start` (leaf hash, then one node hash,
    // per entry) and builds its batch: entry bundles and leaf-hash tiles,
    // 256 entries to a key.
    const prepare = (start: number) => {
      const round = entries.slice(start, start + ROUND);
      const hashes = Buffer.allocUnsafe(32 * round.length);
      round.forEach((e, i) => {
        const leaf = benchLeafHash(e);
        leaf.copy(hashes, 32 * i);
        carry.copy(node, 1);
        leaf.copy(node, 33);
        carry = hash('sha256', node, 'buffer');
      });
      const batch = db.batch();
      for (let t = 0; t * 256 < round.length; t++) {
        const part = round.slice(t * 256, (t + 1) * 256);
        const bundle = Buffer.allocUnsafe(part.length * (ENTRY_SIZE + 2));
        part.forEach((e, i) => {
          bundle.writeUInt16BE(e.length, i * (ENTRY_SIZE + 2));
          bundle.set(e, i * (ENTRY_SIZE + 2) + 2);
        });
        const key = Buffer.alloc(9);
        key[0] = 0x45;
        key.writeUInt32BE(Math.floor(start / 256) + t, 5);
        batch.put(key, bundle);
        const hkey = Buffer.from(key);
        hkey[0] = 0x54;
        batch.put(hkey, hashes.subarray(t * 256 * 32, (t * 256 + part.length) * 32));
      }
      return batch;
    };
    await pipelineRounds(Math.ceil(entries.length / ROUND), depth, (k) => prepare(k * ROUND), (batch) => batch.write({ sync: true }));
    return entries.length / ((performance.now() - started) / 1000);
  } finally {
    await db.close();
  }
}

/**
 * A naive log: every leaf hash in memory, the whole merkletreejs tree rebuilt
 * for each batch, and a proof from it for each entry of the batch (its
 * receipt). Nothing is written to disk. With RFC 6962 leaf and node hashes
 * its roots are the same as Cairn's. Returns entries/s.
 */
export function naiveAppends(entries: readonly Uint8Array[], batch: number): { rate: number; root: Buffer } {
  const leaves: Buffer[] = [];
  let tree: MerkleTree | undefined;
  const started = performance.now();
  for (let start = 0; start < entries.length; start += batch) {
    const part = entries.slice(start, start + batch);
    for (const e of part) leaves.push(benchLeafHash(e));
    tree = new MerkleTree(leaves, benchNodeHash, { hashLeaves: false });
    for (let i = start; i < leaves.length; i++) tree.getProof(leaves[i]!, i);
  }
  return { rate: entries.length / ((performance.now() - started) / 1000), root: tree?.getRoot() ?? Buffer.alloc(0) };
}

/** A naive in-memory tree of `size` entries of stream `seed`, for proof rates. */
export function naiveTree(seed: number, size: number): { tree: MerkleTree; leaves: Buffer[]; buildSeconds: number } {
  const leaves: Buffer[] = new Array<Buffer>(size);
  for (let i = 0; i < size; i++) leaves[i] = benchLeafHash(entryAt(seed, i));
  const started = performance.now();
  const tree = new MerkleTree(leaves, benchNodeHash, { hashLeaves: false });
  return { tree, leaves, buildSeconds: (performance.now() - started) / 1000 };
}

/**
 * Naive proofs/s for `ms`: by index (`getProof(leaf, index)`) or by hash
 * (`getProof(leaf)`, which searches the leaves).
 */
export function naiveProofRate(naive: { tree: MerkleTree; leaves: Buffer[] }, byHash: boolean, ms: number): number {
  const started = performance.now();
  let count = 0;
  while (performance.now() - started < ms) {
    const i = Math.floor(Math.random() * naive.leaves.length);
    const proof = byHash ? naive.tree.getProof(naive.leaves[i]!) : naive.tree.getProof(naive.leaves[i]!, i);
    if (naive.leaves.length > 1 && proof.length === 0) throw new Error('naive log: empty proof');
    count++;
  }
  return count / ((performance.now() - started) / 1000);
}

export type ProofKind = 'inclusion' | 'by-hash' | 'consistency';

/** Cairn's proofs/s through the Log API (no HTTP), `parallel` callers for `ms`. */
export async function logProofRate(log: Log, seed: number, kind: ProofKind, ms: number, parallel = 16): Promise<number> {
  const size = log.latest().treeSize;
  let count = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() - started < ms) {
      const i = Math.floor(Math.random() * size);
      if (kind === 'inclusion') {
        await log.inclusionProof(i, size);
        await log.entry(i);
      } else if (kind === 'by-hash') {
        const index = await log.findLeaf(new Uint8Array(benchLeafHash(entryAt(seed, i))));
        if (index !== i) throw new Error(`benchmark entry ${i} not found by its hash`);
        await log.inclusionProof(i, size);
      } else {
        await log.consistencyProof(i + 1, size);
      }
      count++;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return count / ((performance.now() - started) / 1000);
}
