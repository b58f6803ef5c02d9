/**
 * Cairn's client library: submit entries and verify receipts, fetch and
 * verify checkpoints, prove inclusion and consistency through the RFC 6962
 * endpoints or from authenticated C2SP tiles, and read verified entry
 * bundles and ranges of entries; the RFC 8785 (JCS) canonical bytes that the
 * log stores for a JSON value, and the JsonError thrown for a value (or text)
 * that has none, as addJson throws it; newVerifier, which builds the
 * Verifier that checkReceipt takes from a verifier key, and the types the
 * public signatures name. Browser-safe (fetch, Uint8Array; no Node-only APIs).
 */
export { CairnClient, MAX_BATCH_ENTRIES } from './client.js';
export type { BatchResult, CairnClientOptions, EntryRangeOptions, EntryResult, InclusionResult, LogInfo, SignedCheckpoint, VerifiedEntries, VerifiedReceipt } from './client.js';
export { ClientError, CLIENT_ERROR_CODES, isVerificationFailure } from './errors.js';
export type { ClientErrorCode, ClientErrorDetails } from './errors.js';
export { HttpTransport, normalizeBaseUrl, parseRetryAfter } from './http.js';
export type { CacheMode, FetchLike, RequestSpec, RetryInfo, TransportOptions } from './http.js';
export { canonicalizeJson, canonicalizeValue, JsonError } from '../jcs/canonical.js';
export { checkReceipt, checkReceiptProof, parseReceipt, verifyReceipt } from './receipt.js';
export type { Receipt, ReceiptCheck } from './receipt.js';
export { encodeEntryBundle, firstMismatchedEntry, MAX_ENTRY_SIZE, parseEntryBundle } from '../merkle/bundle.js';
export { MAX_TILED_TREE_SIZE, TileHashReader, tileParent } from './tile-reader.js';
export type { TileFetcher, TreeRef } from './tile-reader.js';
export { newVerifier } from '../note/keys.js';
export type { Verifier } from '../note/keys.js';
export type { Checkpoint } from '../note/checkpoint.js';
export type { TreeHead } from '../note/sth.js';
export type { Tile } from '../merkle/tile.js';
export type { HashReader } from '../merkle/reader.js';
