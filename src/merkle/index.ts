/**
 * Cairn's pure RFC 6962 Merkle core: hashing, stored-hash indexes, tree
 * hashes, inclusion and consistency proofs, compact ranges and C2SP tiles.
 */
export { HASH_SIZE, EMPTY_ROOT, SHA256_BACKEND, sha256, sha256Native, sha256Portable, leafHash, nodeHash } from './hash.js';
export { storedHashIndex, splitStoredHashIndex, storedHashCount } from './stored.js';
export {
  type HashReader,
  type NodeReader,
  type TreeNode,
  readNodesChecked,
  memoryHashReader,
  storedHashes,
  storedHashesForRecordHash,
  buildStoredHashes,
  buildStoredHashesFromLeafHashes,
} from './reader.js';
export { treeHash } from './tree.js';
export { proveInclusion, verifyInclusion, rootFromInclusionProof, proveConsistency, verifyConsistency } from './proof.js';
export { CompactRange, type OnNode } from './range.js';
export {
  TILE_HEIGHT,
  TILE_WIDTH,
  MAX_TILE_LEVEL,
  type Tile,
  formatTilePath,
  parseTilePath,
  tileForIndex,
  hashFromTile,
  newTiles,
  newTileCounts,
  eachNewTile,
  tileWidth,
} from './tile.js';
