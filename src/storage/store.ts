import { bytesEqual } from '../merkle/check.js';
import { showNonPrinting } from '../non-printing.js';
import type { HashTile } from './hash-tile.js';

/**
 * The latest signed state of the log: what a restart resumes from.
 *
 * `rightEdge` is the compact range of the tree (the roots of its perfect
 * subtrees, left to right), so appending after a restart needs no replay.
 */
export interface LogState {
  readonly treeSize: number;
  readonly rootHash: Uint8Array;
  /** ms since the epoch of the STH; strictly increasing from one state to the next. */
  readonly timestamp: number;
  /** The C2SP signed checkpoint note for (treeSize, rootHash). */
  readonly checkpoint: string;
  /** The RFC 6962 STH JSON for (treeSize, timestamp, rootHash). */
  readonly sth: {
    tree_size: number;
    timestamp: number;
    sha256_root_hash: string;
    tree_head_signature: string;
  };
  readonly rightEdge: readonly Uint8Array[];
}

/** One sequencing round: everything it adds, written as one atomic batch. */
export interface RoundWrite {
  /** New entries, contiguous from the previous tree size, in index order. */
  readonly entries: readonly Uint8Array[];
  /** Leaf hash of each new entry (same order), for the leaf-hash index. */
  readonly leafHashes: readonly Uint8Array[];
  /** Every hash tile the round touched, at its new width. */
  readonly tiles: readonly HashTile[];
  /** The new state; its tree size is the old one plus entries.length. */
  readonly state: LogState;
}

/**
 * Cairn's storage contract. Implementations must keep every promise below;
 * `test/storage/conformance.ts` checks them against each backend.
 *
 * - Single writer: `open` fails with StoreLockedError while another process
 *   holds the store.
 * - `writeRound` is atomic and durable when it resolves (fsync'd): after a
 *   crash at any moment, either all of a round is there or none of it.
 * - `writeRound` is a compare-and-swap on the state: it rejects, writing
 *   nothing, a state whose tree size is smaller than the stored one, equal with
 *   a different root (a split view), or not exactly the old size plus the
 *   round's entries; and a timestamp that does not increase.
 * - Reads see only what a resolved `writeRound` wrote. Stored hashes and
 *   entries never change once written (tiles only grow).
 */
export interface LogStore {
  /** The latest state, or undefined for a store nothing was ever written to. */
  readState(): Promise<LogState | undefined>;
  /** Atomically and durably applies a round (see the contract above). */
  writeRound(round: RoundWrite): Promise<void>;
  /** The index of each leaf hash, or undefined where it is not logged; one batched read. */
  findLeafHashes(hashes: readonly Uint8Array[]): Promise<(number | undefined)[]>;
  /** Hash tiles by (level, n), undefined where none is stored; one batched read. */
  readTiles(keys: readonly { level: number; n: number }[]): Promise<(HashTile | undefined)[]>;
  /**
   * Entry bundle n (entries 256·n .. 256·n+255) as stored so far, in the
   * C2SP tlog-tiles bundle encoding: uint16 big-endian length || bytes, each.
   */
  readBundle(n: number): Promise<Uint8Array>;
  /**
   * The entry at `index` (its bytes, without the bundle's length prefix);
   * rejects with an Error if it is not stored (at or past the tree size),
   * and with RangeError for an index that is not a non-negative safe integer.
   */
  readEntry(index: number): Promise<Uint8Array>;
  /**
   * Entries `start` .. `start + count - 1` (their bytes, in order), reading
   * no more of the store than holds them; rejects with an Error if any is
   * not stored, and with RangeError unless start is a non-negative and count
   * a positive safe integer.
   */
  readEntries(start: number, count: number): Promise<Uint8Array[]>;
  /** Closes the store; pending writes finish first. */
  close(): Promise<void>;
  /**
   * False while the store can neither be read nor written until it is
   * opened again (LevelStore: it could not be reopened after a failed
   * write); a store without this method is always available.
   */
  available?(): boolean;
  /**
   * Whether the store can be read and written now: waits for a reopening
   * under way, and tries once to open again a store that is not
   * {@link available} (LevelStore: at most once a second), so that a store
   * whose fault has passed is available without waiting for a read or
   * write to try; never throws.
   */
  recover?(): Promise<boolean>;
}

/** Thrown by a store's open when another process already holds it; the message names `path` with its non-printing characters shown as escapes. */
export class StoreLockedError extends Error {
  constructor(path: string, options?: { cause?: unknown }) {
    super(`the store ${showNonPrinting(path)} is in use by another Cairn process (it holds LevelDB's lock)`, options);
    this.name = 'StoreLockedError';
  }
}

/** Thrown when what a store holds cannot be read: a damaged state record or entry chunk at open, a damaged leaf index. */
export class StoreCorruptError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreCorruptError';
  }
}

/**
 * Thrown by a store's open when a newer Cairn wrote the store, in a layout
 * this version does not know: it is not opened, which an older version
 * would half-work on.
 */
export class StoreLayoutError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreLayoutError';
  }
}

/** Thrown by reads and writes of a store that could not be opened again after a failed write (see LogStore.available). */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** Thrown by writeRound when a state would break append-only or split-view rules. */
export class StateConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateConflictError';
  }
}

/** Checks the compare-and-swap rules of the contract; shared by every backend. */
export function checkStateTransition(old: LogState | undefined, round: RoundWrite): void {
  const next = round.state;
  const oldSize = old?.treeSize ?? 0;
  if (round.entries.length !== round.leafHashes.length) {
    throw new StateConflictError(`${round.entries.length} entries but ${round.leafHashes.length} leaf hashes`);
  }
  if (next.treeSize < oldSize) {
    throw new StateConflictError(`refusing to shrink the log from ${oldSize} to ${next.treeSize}`);
  }
  if (next.treeSize !== oldSize + round.entries.length) {
    throw new StateConflictError(`state size ${next.treeSize} != ${oldSize} + ${round.entries.length} new entries`);
  }
  if (old !== undefined && next.treeSize === old.treeSize && !bytesEqual(next.rootHash, old.rootHash)) {
    throw new StateConflictError(`refusing a second root for tree size ${old.treeSize} (split view)`);
  }
  if (old !== undefined && next.timestamp <= old.timestamp) {
    throw new StateConflictError(`timestamp ${next.timestamp} does not increase past ${old.timestamp}`);
  }
}

