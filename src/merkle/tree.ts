/**
 * The Merkle Tree Hash (RFC 6962 §2.1) of a log prefix, computed from the
 * stored hashes of its complete subtrees, as in Go tlog's TreeHash.
 */
import { checkIndex, floorLog2, isPowerOfTwo, largestPowerOfTwoAtMost } from './check.js';
import { EMPTY_ROOT, nodeHash } from './hash.js';
import { type HashReader, type TreeNode, checkReader, readNodesChecked } from './reader.js';
import { storedHashIndex } from './stored.js';

/**
 * Appends to `need` the complete subtrees that make up leaves [lo, hi), as
 * tree nodes, largest (leftmost) first.
 */
export function subTreeNodes(lo: number, hi: number, need: TreeNode[]): TreeNode[] {
  if (lo < hi && isPowerOfTwo(hi - lo) && lo % (hi - lo) === 0) {
    // One complete subtree: most of what a proof asks for.
    const level = floorLog2(hi - lo);
    need.push({ level, n: lo / (hi - lo) });
    return need;
  }
  while (lo < hi) {
    const { k, level } = largestPowerOfTwoAtMost(hi - lo);
    if (lo % k !== 0) throw new Error('merkle: bad math in subTreeNodes');
    need.push({ level, n: lo / k });
    lo += k;
  }
  return need;
}

/**
 * Appends to `need` the stored-hash indexes of the complete subtrees that make
 * up leaves [lo, hi), largest (leftmost) first.
 */
export function subTreeIndexes(lo: number, hi: number, need: number[]): number[] {
  for (const { level, n } of subTreeNodes(lo, hi, [])) need.push(storedHashIndex(level, n));
  return need;
}

/** Hashes consumed in order, by the functions that rebuild hashes from one read. */
export class HashCursor {
  #hashes: readonly Uint8Array[];
  #next = 0;

  constructor(hashes: readonly Uint8Array[]) {
    this.#hashes = hashes;
  }

  /** The next hash; throws if the answer had fewer hashes than the computation needs. */
  take(): Uint8Array {
    const h = this.#hashes[this.#next++];
    if (h === undefined) throw new Error('merkle: ran out of hashes');
    return h;
  }

  /** Whether every hash has been consumed (a check that the two passes agreed). */
  get done(): boolean {
    return this.#next === this.#hashes.length;
  }
}

/**
 * Returns the RFC 6962 hash of leaves [lo, hi) from the hashes `subTreeIndexes`
 * listed for it, taken from `cursor`: the subtrees are folded right to left.
 * The result is always fresh memory, never one of the cursor's hashes.
 */
export function subTreeHash(lo: number, hi: number, cursor: HashCursor): Uint8Array {
  if (isPowerOfTwo(hi - lo)) return cursor.take().slice(); // one complete subtree: the usual case in a proof
  const parts: Uint8Array[] = [];
  while (lo < hi) {
    lo += largestPowerOfTwoAtMost(hi - lo).k;
    parts.push(cursor.take());
  }
  let h = parts[parts.length - 1];
  if (h === undefined) throw new Error('merkle: empty subtree');
  if (parts.length === 1) return h.slice();
  for (let i = parts.length - 2; i >= 0; i--) {
    h = nodeHash(parts[i]!, h);
  }
  return h;
}

/**
 * Hashes of leaf ranges [lo, hi) that are not one complete subtree, kept by a
 * caller between proofs. In an append-only log the hash of a leaf range never
 * changes, so a memo never goes stale; proofs against the same tree size
 * share the ranges along its right edge, which otherwise cost a hash per
 * complete subtree in them on every proof.
 */
export interface SubtreeMemo {
  get(lo: number, hi: number): Uint8Array | undefined;
  set(lo: number, hi: number, hash: Uint8Array): void;
}

/**
 * One proof's use of a SubtreeMemo: the first pass looks ranges up once and
 * the second uses exactly those answers, even if the memo changes while the
 * proof waits for its read. Both passes walk the same ranges in the same
 * order, so the answers are kept as a list (checked range by range), not
 * under keys built for each lookup.
 */
export class MemoPass {
  readonly #memo: SubtreeMemo | undefined;
  // The first pass's lookups, in order: range [los[i], his[i]) and what the memo held.
  readonly #los: number[] = [];
  readonly #his: number[] = [];
  readonly #found: (Uint8Array | undefined)[] = [];
  #next = 0;

  constructor(memo: SubtreeMemo | undefined) {
    this.#memo = memo;
  }

  /** First pass: lists the nodes of [lo, hi) in `need` unless the memo knows its hash. */
  nodes(lo: number, hi: number, need: TreeNode[]): TreeNode[] {
    if (this.#memo !== undefined && !isPowerOfTwo(hi - lo)) {
      const known = this.#memo.get(lo, hi);
      this.#los.push(lo);
      this.#his.push(hi);
      this.#found.push(known);
      if (known !== undefined) return need;
    }
    return subTreeNodes(lo, hi, need);
  }

  /** Second pass: the hash of [lo, hi), from the first pass's memo answer or from `cursor` (then remembered). */
  hash(lo: number, hi: number, cursor: HashCursor): Uint8Array {
    if (this.#memo === undefined || isPowerOfTwo(hi - lo)) return subTreeHash(lo, hi, cursor);
    const i = this.#next++;
    if (this.#los[i] !== lo || this.#his[i] !== hi) throw new Error(`merkle: the second pass asked for [${lo}, ${hi}), out of the first pass's order`);
    const known = this.#found[i];
    if (known !== undefined) return known.slice();
    const h = subTreeHash(lo, hi, cursor);
    this.#memo.set(lo, hi, h.slice());
    return h;
  }
}

/**
 * Returns the Merkle Tree Hash MTH(D[0:treeSize]) of RFC 6962 §2.1 (Go tlog's
 * TreeHash), reading the at most log2(treeSize) + 1 complete-subtree hashes it
 * needs in one read (`readNodes` or `readHashes`); EMPTY_ROOT (SHA-256 of "") for 0.
 * Throws TypeError/RangeError for bad arguments (including tree sizes whose
 * stored-hash indexes are not safe integers) and rejects if the reader does.
 */
export async function treeHash(treeSize: number, reader: HashReader): Promise<Uint8Array> {
  checkIndex(treeSize, 'treeHash: treeSize');
  checkReader(reader, 'treeHash: reader');
  if (treeSize === 0) return EMPTY_ROOT.slice();
  const nodes = subTreeNodes(0, treeSize, []);
  const cursor = new HashCursor(await readNodesChecked(reader, nodes));
  const root = subTreeHash(0, treeSize, cursor);
  if (!cursor.done) throw new Error('merkle: bad math in treeHash');
  return root;
}
