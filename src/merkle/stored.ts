/**
 * Stored-hash indexes: the linear order in which a log stores the hashes of
 * its complete subtrees, as in Go's golang.org/x/mod/sumdb/tlog.
 *
 * When leaf n is appended, the log stores the leaf hash and then the hash of
 * every subtree that leaf completes, bottom-up. Hash n at level L (the node
 * over leaves n·2^L … (n+1)·2^L − 1) is therefore stored right after the leaf
 * (n+1)·2^L − 1 and the L − 1 nodes below it on that path.
 */
import { checkIndex, half, trailingOnes, trailingZeros } from './check.js';

function checkResult(x: number, what: string): number {
  if (!Number.isSafeInteger(x)) {
    throw new RangeError(`${what} is beyond Number.MAX_SAFE_INTEGER`);
  }
  return x;
}

/**
 * Returns the stored-hash index of hash `n` at tree level `level` (level 0 are
 * the leaf hashes), the position of that RFC 6962 §2.1 subtree hash in the
 * order of Go tlog's StoredHashIndex. Throws RangeError if an argument or the
 * result is not a safe non-negative integer.
 */
export function storedHashIndex(level: number, n: number): number {
  checkIndex(level, 'storedHashIndex: level');
  checkIndex(n, 'storedHashIndex: n');
  // The node (level, n) is stored right after the leaf (n+1)·2^level − 1 and
  // the level − 1 nodes between them.
  for (let l = level; l > 0; l--) {
    n = checkResult(2 * n + 1, 'storedHashIndex: result');
  }
  // Leaf m is preceded by every hash of the tree of size m: m + m/2 + m/4 + …
  let index = 0;
  for (let m = n; m > 0; m = half(m)) {
    index = checkResult(index + m, 'storedHashIndex: result');
  }
  return checkResult(index + level, 'storedHashIndex: result');
}

/**
 * Returns the level and number of the hash stored at `index`, the inverse of
 * `storedHashIndex` (Go tlog's SplitStoredHashIndex). Throws RangeError if
 * `index` is not a safe non-negative integer.
 */
export function splitStoredHashIndex(index: number): { level: number; n: number } {
  checkIndex(index, 'splitStoredHashIndex: index');
  // storedHashIndex(0, m) <= 2m, so the last leaf stored at or before index
  // is in [index/2, index/2 + log2(index)].
  let n = half(index);
  let indexN = storedHashIndex(0, n);
  if (indexN > index) throw new Error('merkle: bad math in splitStoredHashIndex');
  for (;;) {
    // Leaf n + 1 comes after leaf n and the nodes that leaf n completes.
    const next = indexN + 1 + trailingZeros(n + 1);
    if (next > index) break;
    n++;
    indexN = next;
  }
  const level = index - indexN;
  return { level, n: Math.floor(n / 2 ** level) };
}

/**
 * Returns how many hashes a log of `treeSize` leaves stores: the number of
 * complete RFC 6962 §2.1 subtrees (Go tlog's StoredHashCount). Throws
 * RangeError if `treeSize` or the result is not a safe non-negative integer
 * (so for tree sizes above about 2^52).
 */
export function storedHashCount(treeSize: number): number {
  checkIndex(treeSize, 'storedHashCount: treeSize');
  if (treeSize === 0) return 0;
  const last = treeSize - 1;
  // Everything up to the last leaf, then the subtrees that leaf completes.
  return checkResult(storedHashIndex(0, last) + 1 + trailingOnes(last), 'storedHashCount: result');
}
