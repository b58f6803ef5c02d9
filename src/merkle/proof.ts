/**
 * Inclusion (audit path) and consistency proofs: generation as RFC 6962
 * §2.1.1–2.1.2 over stored hashes (Go tlog's ProveRecord/ProveTree), and
 * verification as RFC 9162 §2.1.3.2 and §2.1.4.2.
 */
import { bytesEqual, checkHash, checkHashList, checkIndex, half, isOdd, isPowerOfTwo, splitPoint } from './check.js';
import { nodeHash } from './hash.js';
import { type HashReader, type TreeNode, checkReader, readNodesChecked } from './reader.js';
import { HashCursor, MemoPass, type SubtreeMemo } from './tree.js';

// Each proof is computed twice over the same walk or recursion: first listing the
// stored hashes it needs, then, after one read (readNodesChecked), hashing them.

/**
 * Calls `visit(lo, hi)` for each hash of the audit path of leaf `index` in the
 * tree of `treeSize` leaves, bottom-up, with the leaf range [lo, hi) it is the
 * hash of. This is the walk of RFC 9162 §2.1.3.2 run forwards: at each level
 * the path's node is fn and the level's last node sn; an odd fn has a left
 * sibling, always complete; an even fn below sn has a right sibling, cut at
 * the tree's end when it is on the right edge; an even fn equal to sn has no
 * sibling and moves up unchanged. It lists the same hashes, in the same
 * order, as the recursion PATH(m, D[n]) of RFC 6962 §2.1.1.
 */
function inclusionSiblings(index: number, treeSize: number, visit: (lo: number, hi: number) => void): void {
  let fn = index;
  let sn = treeSize - 1;
  let width = 1; // leaves under a node of this level
  while (sn > 0) {
    if (isOdd(fn)) visit((fn - 1) * width, fn * width);
    else if (fn < sn) visit((fn + 1) * width, Math.min((fn + 2) * width, treeSize));
    fn = half(fn);
    sn = half(sn);
    width *= 2;
  }
}

/**
 * Returns the audit path PATH(index, D[0:treeSize]) of RFC 6962 §2.1.1 for
 * leaf `index` in the tree of `treeSize` leaves, bottom-up, reading the stored
 * hashes it needs in one read (none for a tree of one leaf): `readNodes` when
 * the reader has it, else `readHashes`. `memo`, if given, supplies and keeps
 * the hashes of incomplete subtrees. Throws RangeError unless
 * 0 <= index < treeSize (safe integers), TypeError for a non-reader; rejects
 * if the reader does.
 */
export async function proveInclusion(treeSize: number, index: number, reader: HashReader, memo?: SubtreeMemo): Promise<Uint8Array[]> {
  checkIndex(treeSize, 'proveInclusion: treeSize');
  checkIndex(index, 'proveInclusion: index');
  checkReader(reader, 'proveInclusion: reader');
  if (index >= treeSize) {
    throw new RangeError(`proveInclusion: index ${index} is not in a tree of size ${treeSize}`);
  }
  const pass = new MemoPass(memo);
  const nodes: TreeNode[] = [];
  inclusionSiblings(index, treeSize, (lo, hi) => pass.nodes(lo, hi, nodes));
  const cursor = new HashCursor(nodes.length === 0 ? [] : await readNodesChecked(reader, nodes));
  const path: Uint8Array[] = [];
  inclusionSiblings(index, treeSize, (lo, hi) => path.push(pass.hash(lo, hi, cursor)));
  if (!cursor.done) throw new Error('merkle: bad math in proveInclusion');
  return path;
}

/** The RFC 9162 §2.1.3.2 walk: the root the proof implies, or undefined if its length does not fit. */
function inclusionRoot(leaf: Uint8Array, index: number, treeSize: number, proof: readonly Uint8Array[]): Uint8Array | undefined {
  if (index >= treeSize) return undefined;
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return undefined; // too many hashes
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      // Skip the levels where this node has no right sibling.
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return undefined; // too few hashes
  return r === leaf ? leaf.slice() : r;
}

function checkInclusionArgs(fn: string, leaf: unknown, index: unknown, treeSize: unknown, proof: unknown): void {
  checkHash(leaf, `${fn}: leafHash`);
  checkIndex(index, `${fn}: index`);
  checkIndex(treeSize, `${fn}: treeSize`);
  checkHashList(proof, `${fn}: proof`);
}

/**
 * Returns the root hash that the audit path `proof` implies for the leaf hash
 * `leafHash` at `index` in a tree of `treeSize` leaves (RFC 9162 §2.1.3.2
 * without the final comparison). Throws RangeError if index >= treeSize or the
 * proof has the wrong number of hashes for that shape, and the usual
 * TypeError/RangeError for malformed arguments.
 */
export function rootFromInclusionProof(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
): Uint8Array {
  checkInclusionArgs('rootFromInclusionProof', leafHash, index, treeSize, proof);
  const root = inclusionRoot(leafHash, index, treeSize, proof);
  if (root === undefined) {
    throw new RangeError(
      `rootFromInclusionProof: a proof of ${proof.length} hashes does not fit index ${index} in a tree of size ${treeSize}`,
    );
  }
  return root;
}

/**
 * Returns whether `proof` proves that `leafHash` is leaf `index` of the tree
 * of `treeSize` leaves whose root is `root` (RFC 9162 §2.1.3.2). The proof
 * binds the leaf to `root`; `treeSize` only fixes the proof's shape, so take
 * the size and root from the same signed tree head. Returns false for a
 * well-formed but wrong proof (index >= treeSize, wrong number of hashes,
 * wrong hashes); throws TypeError for wrong types and RangeError for hashes
 * that are not 32 bytes or sizes that are not safe non-negative integers.
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  checkInclusionArgs('verifyInclusion', leafHash, index, treeSize, proof);
  checkHash(root, 'verifyInclusion: root');
  const computed = inclusionRoot(leafHash, index, treeSize, proof);
  return computed !== undefined && bytesEqual(computed, root);
}

function consistencyNodes(lo: number, hi: number, n: number, need: TreeNode[], memo: MemoPass): TreeNode[] {
  if (n === hi) {
    // The old tree is this whole subtree: its hash is the verifier's own root
    // at the top level, and otherwise part of the proof.
    return lo === 0 ? need : memo.nodes(lo, hi, need);
  }
  const { k } = splitPoint(hi - lo);
  if (n <= lo + k) {
    consistencyNodes(lo, lo + k, n, need, memo);
    memo.nodes(lo + k, hi, need);
  } else {
    memo.nodes(lo, lo + k, need);
    consistencyNodes(lo + k, hi, n, need, memo);
  }
  return need;
}

function consistencyPath(lo: number, hi: number, n: number, cursor: HashCursor, memo: MemoPass): Uint8Array[] {
  if (n === hi) {
    return lo === 0 ? [] : [memo.hash(lo, hi, cursor)];
  }
  const { k } = splitPoint(hi - lo);
  let path: Uint8Array[];
  let other: Uint8Array;
  if (n <= lo + k) {
    path = consistencyPath(lo, lo + k, n, cursor, memo);
    other = memo.hash(lo + k, hi, cursor);
  } else {
    other = memo.hash(lo, lo + k, cursor);
    path = consistencyPath(lo + k, hi, n, cursor, memo);
  }
  path.push(other);
  return path;
}

/**
 * Returns the consistency proof PROOF(oldSize, D[0:newSize]) of RFC 6962
 * §2.1.2 between the trees of `oldSize` and `newSize` leaves, reading the
 * stored hashes it needs in one read (`readNodes` or `readHashes`); [] when
 * the sizes are equal. `memo`, if given, supplies and keeps the hashes of
 * incomplete subtrees. Throws RangeError unless 0 < oldSize <= newSize (safe
 * integers), TypeError for a non-reader; rejects if the reader does.
 */
export async function proveConsistency(oldSize: number, newSize: number, reader: HashReader, memo?: SubtreeMemo): Promise<Uint8Array[]> {
  checkIndex(oldSize, 'proveConsistency: oldSize');
  checkIndex(newSize, 'proveConsistency: newSize');
  checkReader(reader, 'proveConsistency: reader');
  if (oldSize === 0) throw new RangeError('proveConsistency: oldSize must be at least 1');
  if (oldSize > newSize) {
    throw new RangeError(`proveConsistency: oldSize ${oldSize} is larger than newSize ${newSize}`);
  }
  const pass = new MemoPass(memo);
  const nodes = consistencyNodes(0, newSize, oldSize, [], pass);
  const cursor = new HashCursor(nodes.length === 0 ? [] : await readNodesChecked(reader, nodes));
  const path = consistencyPath(0, newSize, oldSize, cursor, pass);
  if (!cursor.done) throw new Error('merkle: bad math in proveConsistency');
  return path;
}

/**
 * Returns whether `proof` proves that the tree of `oldSize` leaves with root
 * `oldRoot` is a prefix of the tree of `newSize` leaves with root `newRoot`
 * (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal roots. There
 * is no proof from the empty tree: oldSize 0 returns false, as does any
 * well-formed but wrong proof (oldSize > newSize, wrong number of hashes, wrong
 * hashes). Throws TypeError for wrong types and RangeError for hashes that are
 * not 32 bytes or sizes that are not safe non-negative integers.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  checkIndex(oldSize, 'verifyConsistency: oldSize');
  checkIndex(newSize, 'verifyConsistency: newSize');
  checkHash(oldRoot, 'verifyConsistency: oldRoot');
  checkHash(newRoot, 'verifyConsistency: newRoot');
  checkHashList(proof, 'verifyConsistency: proof');
  if (oldSize === 0 || oldSize > newSize) return false;
  if (oldSize === newSize) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  if (proof.length === 0) return false;

  // When the old tree is a complete subtree its root is the proof's implicit first hash.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return false; // too many hashes
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}
