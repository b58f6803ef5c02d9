/**
 * The one interface through which the Merkle math reads stored hashes, plus an
 * in-memory implementation and the computation of the hashes a log stores.
 */
import { checkHash, checkIndex, half, isOdd } from './check.js';
import { HASH_SIZE, leafHash as hashLeaf, nodeHash } from './hash.js';
import { storedHashIndex } from './stored.js';

/**
 * Reads stored hashes by stored-hash index (see `storedHashIndex`; the same
 * contract as Go tlog's HashReader).
 *
 * Contract: `readHashes(indexes)` resolves to an array of exactly
 * `indexes.length` hashes of 32 bytes, where element i is the hash stored at
 * `indexes[i]`: same order, duplicates answered twice. If any requested hash
 * is not available it rejects (it never resolves with a partial or padded
 * array). The returned arrays may be shared with the reader's own storage:
 * callers must not modify them (the functions in this module copy any hash
 * they hand out). The proof and tree functions call it at most once per
 * computation, with the indexes sorted in the order they need them.
 */
export interface HashReader {
  readHashes(indexes: readonly number[]): Promise<Uint8Array[]>;
}

/** A stored hash named by its place in the tree: node `n` of tree level `level` (level 0 are the leaves). */
export interface TreeNode {
  readonly level: number;
  readonly n: number;
}

/**
 * A HashReader that can also be asked by tree coordinates. The proof
 * functions name the hashes they need as (level, n) and would otherwise turn
 * each into a stored-hash index only for a tile-backed reader to split it
 * back; `readNodes(nodes)` must answer exactly what
 * `readHashes(nodes.map(({ level, n }) => storedHashIndex(level, n)))` would.
 */
export interface NodeReader extends HashReader {
  readNodes(nodes: readonly TreeNode[]): Promise<Uint8Array[]>;
}

/** Throws TypeError unless `reader` has a `readHashes` method. */
export function checkReader(reader: unknown, name: string): HashReader {
  if (typeof reader !== 'object' || reader === null || typeof (reader as HashReader).readHashes !== 'function') {
    throw new TypeError(`${name} must be a HashReader`);
  }
  return reader as HashReader;
}

/**
 * Reads `indexes` with one `readHashes` call and checks the answer against the
 * HashReader contract, throwing an Error if a reader breaks it.
 */
export async function readHashesChecked(reader: HashReader, indexes: readonly number[]): Promise<Uint8Array[]> {
  return checkAnswer(await reader.readHashes(indexes), indexes.length);
}

function checkAnswer(hashes: unknown, count: number): Uint8Array[] {
  if (!Array.isArray(hashes) || hashes.length !== count) {
    throw new Error(`merkle: HashReader returned ${Array.isArray(hashes) ? hashes.length : typeof hashes} hashes for ${count} indexes`);
  }
  for (const h of hashes) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new Error('merkle: HashReader returned a value that is not a 32-byte Uint8Array');
    }
  }
  return hashes as Uint8Array[];
}

/**
 * Reads `nodes` with one call, `readNodes` where the reader has it and
 * `readHashes` of their stored-hash indexes otherwise, and checks the answer
 * against the HashReader contract as readHashesChecked does.
 */
export async function readNodesChecked(reader: HashReader, nodes: readonly TreeNode[]): Promise<Uint8Array[]> {
  const fast = (reader as Partial<NodeReader>).readNodes;
  if (typeof fast !== 'function') return readHashesChecked(reader, nodes.map(({ level, n }) => storedHashIndex(level, n)));
  return checkAnswer(await fast.call(reader, nodes), nodes.length);
}

/**
 * Returns a HashReader over `hashes`, an array indexed by stored-hash index
 * (such as `buildStoredHashes` returns). The array is read live, so appending
 * to it extends the reader; each answer is a copy. Rejects with RangeError if
 * an index is not a safe non-negative integer or not present.
 */
export function memoryHashReader(hashes: readonly Uint8Array[]): HashReader {
  if (!Array.isArray(hashes)) throw new TypeError('memoryHashReader: hashes must be an array');
  return {
    readHashes(indexes: readonly number[]): Promise<Uint8Array[]> {
      try {
        if (!Array.isArray(indexes)) throw new TypeError('readHashes: indexes must be an array');
        const out = indexes.map((index) => {
          checkIndex(index, 'readHashes: index');
          const h = hashes[index];
          if (h === undefined) throw new RangeError(`readHashes: no stored hash at index ${index}`);
          return h.slice();
        });
        return Promise.resolve(out);
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };
}

/**
 * Returns the hashes to store when the leaf with hash `leafHash` is appended as
 * leaf `n`: the leaf hash, then each subtree it completes, bottom-up (Go
 * tlog's StoredHashesForRecordHash). `reader` must hold the stored hashes of
 * the tree of size n; the siblings are read in one `readHashes` call.
 */
export async function storedHashesForRecordHash(n: number, leafHash: Uint8Array, reader: HashReader): Promise<Uint8Array[]> {
  checkIndex(n, 'storedHashesForRecordHash: n');
  checkHash(leafHash, 'storedHashesForRecordHash: leafHash');
  checkReader(reader, 'storedHashesForRecordHash: reader');
  // Each trailing one bit of n completes a subtree whose left half is stored.
  const siblings: number[] = [];
  for (let level = 0, m = n; isOdd(m); level++, m = half(m)) {
    siblings.push(storedHashIndex(level, m - 1));
  }
  siblings.reverse(); // ascending storage order
  const old = siblings.length === 0 ? [] : await readHashesChecked(reader, siblings);
  let h: Uint8Array = leafHash.slice();
  const out = [h];
  for (let i = old.length - 1; i >= 0; i--) {
    h = nodeHash(old[i]!, h);
    out.push(h);
  }
  return out;
}

/**
 * Returns the hashes to store when `entry` is appended as leaf `n` (Go tlog's
 * StoredHashes): `storedHashesForRecordHash(n, leafHash(entry), reader)`.
 */
export async function storedHashes(n: number, entry: Uint8Array, reader: HashReader): Promise<Uint8Array[]> {
  return storedHashesForRecordHash(n, hashLeaf(entry), reader);
}

/**
 * Returns every stored hash of the tree whose leaf hashes are `leafHashes`,
 * indexed by stored-hash index (length `storedHashCount(leafHashes.length)`),
 * computed synchronously in Go tlog's order; the hashes of any smaller tree
 * are a prefix of it.
 */
export function buildStoredHashesFromLeafHashes(leafHashes: readonly Uint8Array[]): Uint8Array[] {
  if (!Array.isArray(leafHashes)) throw new TypeError('buildStoredHashes: leaf hashes must be an array');
  const out: Uint8Array[] = [];
  leafHashes.forEach((leaf, n) => {
    let h: Uint8Array = checkHash(leaf, `buildStoredHashes: leafHashes[${n}]`).slice();
    out.push(h);
    for (let level = 0, m = n; isOdd(m); level++, m = half(m)) {
      h = nodeHash(out[storedHashIndex(level, m - 1)]!, h);
      out.push(h);
    }
  });
  return out;
}

/**
 * Returns every stored hash of the log holding `entries` (RFC 6962 §2.1 leaf
 * hashes of each entry, then the complete subtrees), indexed by stored-hash
 * index, as `buildStoredHashesFromLeafHashes(entries.map(leafHash))`.
 */
export function buildStoredHashes(entries: readonly Uint8Array[]): Uint8Array[] {
  if (!Array.isArray(entries)) throw new TypeError('buildStoredHashes: entries must be an array');
  return buildStoredHashesFromLeafHashes(entries.map((e) => hashLeaf(e)));
}
