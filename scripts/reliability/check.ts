/**
 * Checks a running Cairn log from the outside, as a monitor would: every
 * checkpoint it ever showed is remembered (two roots for one size is a
 * fork), receipts are verified when received and again against the newest
 * checkpoint, and old checkpoints are proven consistent with the newest.
 */
import { leafHash } from '../../src/merkle/hash.js';
import { verifyConsistency, verifyInclusion } from '../../src/merkle/proof.js';
import { CompactRange } from '../../src/merkle/range.js';
import { formatTilePath } from '../../src/merkle/tile.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { openCheckpoint, type Checkpoint } from '../../src/note/checkpoint.js';
import type { Verifier } from '../../src/note/keys.js';
import { verifyTreeHead } from '../../src/note/sth.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** An entry the log answered with a receipt for. */
export interface RecordedReceipt {
  readonly entry: Uint8Array;
  readonly index: number;
  /** Tree size of the checkpoint the receipt came with. */
  readonly treeSize: number;
}

/** fetch with a deadline, so that no check can hang. */
export async function fetchWithin(url: string, init: RequestInit = {}, ms = 15_000): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
}

/** Runs `work` over `items` with at most `limit` at once. */
export async function eachLimit<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class LogChecker {
  readonly verifier: Verifier;
  /** size → root (hex) of every checkpoint or STH observed. */
  readonly roots = new Map<number, string>();
  readonly receipts: RecordedReceipt[] = [];
  readonly problems: string[] = [];
  private largestSeen = 0;

  constructor(verifier: Verifier) {
    this.verifier = verifier;
  }

  /** The largest tree size ever observed (so durable, as it was served). */
  get largest(): number {
    return this.largestSeen;
  }

  private problem(message: string): void {
    if (this.problems.length < 1000) this.problems.push(message);
  }

  /** Records a (size, root) the log showed; two roots for one size is a problem. */
  observe(treeSize: number, rootHash: Uint8Array, where: string): void {
    const root = hex(rootHash);
    const known = this.roots.get(treeSize);
    if (known !== undefined && known !== root) this.problem(`two roots for tree size ${treeSize} (${known} and ${root}, the latter from ${where})`);
    if (known === undefined) this.roots.set(treeSize, root);
    this.largestSeen = Math.max(this.largestSeen, treeSize);
  }

  /** Opens and records a signed checkpoint note; a bad signature is a problem. */
  observeCheckpoint(note: string, where: string): Checkpoint | undefined {
    try {
      const { checkpoint } = openCheckpoint(note, this.verifier);
      this.observe(checkpoint.treeSize, checkpoint.rootHash, where);
      return checkpoint;
    } catch (err) {
      this.problem(`a checkpoint from ${where} does not verify: ${(err as Error).message}`);
      return undefined;
    }
  }

  /**
   * Verifies a receipt as received (signature, leaf hash, inclusion proof
   * against its own checkpoint) and records it. Returns whether it verified.
   */
  recordReceipt(entry: Uint8Array, receipt: object, note: string, where: string): boolean {
    const checkpoint = this.observeCheckpoint(note, where);
    if (checkpoint === undefined) return false;
    const { index, leaf_hash: leaf, inclusion_proof: proof } = receipt as { index?: unknown; leaf_hash?: unknown; inclusion_proof?: unknown };
    const hash = leafHash(entry);
    if (
      typeof index !== 'number' ||
      leaf !== encodeBase64(hash) ||
      !Array.isArray(proof) ||
      !proof.every((p) => typeof p === 'string') ||
      !verifyInclusion(hash, index, checkpoint.treeSize, (proof as string[]).map(decodeBase64), checkpoint.rootHash)
    ) {
      this.problem(`a receipt from ${where} does not verify (index ${String(index)})`);
      return false;
    }
    this.receipts.push({ entry, index, treeSize: checkpoint.treeSize });
    return true;
  }

  /** Fetches and records the newest checkpoint and STH; they must agree. */
  async newest(url: string): Promise<Checkpoint> {
    const note = await (await fetchWithin(`${url}/checkpoint`)).text();
    const checkpoint = this.observeCheckpoint(note, 'GET /checkpoint');
    if (checkpoint === undefined) throw new Error(`GET /checkpoint does not verify: ${this.problems.at(-1) ?? ''}`);
    const sth = verifyTreeHead(await (await fetchWithin(`${url}/ct/v1/get-sth`)).json(), this.verifier);
    if (sth === null) this.problem('GET /ct/v1/get-sth does not verify');
    else this.observe(sth.treeSize, sth.rootHash, 'GET /ct/v1/get-sth');
    return checkpoint;
  }

  /**
   * Checks `receipts` against `newest` with get-entry-and-proof: each entry
   * must be at its index, proven against the newest root. Returns how many
   * are missing or wrong (lost).
   */
  async checkReceipts(url: string, newest: Checkpoint, receipts: readonly RecordedReceipt[], concurrency = 16): Promise<number> {
    let lost = 0;
    await eachLimit(receipts, concurrency, async (r) => {
      if (r.index >= newest.treeSize) {
        lost++;
        this.problem(`receipt for index ${r.index} (answered at size ${r.treeSize}) is beyond the newest tree size ${newest.treeSize}`);
        return;
      }
      const res = await fetchWithin(`${url}/ct/v1/get-entry-and-proof?leaf_index=${r.index}&tree_size=${newest.treeSize}`);
      if (res.status !== 200) {
        lost++;
        this.problem(`get-entry-and-proof for receipt index ${r.index}: ${res.status} ${await res.text()}`);
        return;
      }
      const body = (await res.json()) as { leaf_input: string; audit_path: string[] };
      const entry = decodeBase64(body.leaf_input);
      const ok =
        Buffer.from(entry).equals(Buffer.from(r.entry)) &&
        verifyInclusion(leafHash(entry), r.index, newest.treeSize, body.audit_path.map(decodeBase64), newest.rootHash);
      if (!ok) {
        lost++;
        this.problem(`the entry of the receipt for index ${r.index} is not there, or its proof fails, at size ${newest.treeSize}`);
      }
    });
    return lost;
  }

  /** Proves every observed size up to `newest` consistent with it (or equal, at its size). */
  async checkConsistency(url: string, newest: Checkpoint, sizes: readonly number[] = [...this.roots.keys()], concurrency = 16): Promise<void> {
    const newRoot = hex(newest.rootHash);
    await eachLimit(sizes, concurrency, async (size) => {
      const root = this.roots.get(size);
      if (root === undefined) return;
      if (size > newest.treeSize) {
        this.problem(`a checkpoint of size ${size} was observed but the newest is ${newest.treeSize} (the log went back)`);
        return;
      }
      if (size === newest.treeSize) {
        if (root !== newRoot) this.problem(`two roots for tree size ${size}`);
        return;
      }
      if (size === 0) return; // the empty tree is a prefix of every tree
      const res = await fetchWithin(`${url}/ct/v1/get-sth-consistency?first=${size}&second=${newest.treeSize}`);
      if (res.status !== 200) {
        this.problem(`get-sth-consistency ${size}..${newest.treeSize}: ${res.status}`);
        return;
      }
      const proof = ((await res.json()) as { consistency: string[] }).consistency.map(decodeBase64);
      if (!verifyConsistency(size, newest.treeSize, Buffer.from(root, 'hex'), newest.rootHash, proof)) {
        this.problem(`the checkpoint of size ${size} is not consistent with the newest of size ${newest.treeSize}`);
      }
    });
  }

  /** Rebuilds the root from every entry bundle and level-0 tile; they must match `newest`. */
  async checkWholeTree(url: string, newest: Checkpoint): Promise<void> {
    const range = CompactRange.empty();
    for (let n = 0; n * 256 < newest.treeSize; n++) {
      const width = Math.min(256, newest.treeSize - n * 256);
      const [bundleRes, tileRes] = await Promise.all([
        fetchWithin(`${url}/${formatTilePath({ level: -1, n, width })}`),
        fetchWithin(`${url}/${formatTilePath({ level: 0, n, width })}`),
      ]);
      if (bundleRes.status !== 200 || tileRes.status !== 200) {
        this.problem(`bundle or tile ${n} (width ${width}): ${bundleRes.status}/${tileRes.status}`);
        return;
      }
      const bundle = new Uint8Array(await bundleRes.arrayBuffer());
      const tile = new Uint8Array(await tileRes.arrayBuffer());
      let offset = 0;
      for (let i = 0; i < width; i++) {
        if (offset + 2 > bundle.length) {
          this.problem(`bundle ${n} is short`);
          return;
        }
        const len = bundle[offset]! * 256 + bundle[offset + 1]!;
        const h = leafHash(bundle.subarray(offset + 2, offset + 2 + len));
        offset += 2 + len;
        if (hex(h) !== hex(tile.subarray(i * 32, i * 32 + 32))) this.problem(`bundle ${n} entry ${i} does not match its tile hash`);
        range.append(h);
      }
      if (offset !== bundle.length) this.problem(`bundle ${n} has trailing bytes`);
    }
    if (hex(range.root()) !== hex(newest.rootHash)) this.problem(`the entries rebuild root ${hex(range.root())}, not the signed ${hex(newest.rootHash)}`);
  }
}
