import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { bundleEntry, MAX_ENTRY_SIZE, parseEntryBundle } from '../merkle/bundle.js';
import { showNonPrinting } from '../non-printing.js';
import { HashTile, TILE_WIDTH } from './hash-tile.js';
import { checkWriteAheadLogs, lockShown, mayCreateDatabase, mayHoldWrites, StoreFilesError } from './leveldb-folder.js';
import { ReadBatch } from './read-batch.js';
import { checkStateTransition, StoreCorruptError, StoreLayoutError, StoreLockedError, StoreUnavailableError, type LogState, type LogStore, type RoundWrite } from './store.js';

/*
 * Key layout (binary keys, so that LevelDB's ordering is numeric order):
 *   'S'                       → the latest LogState (JSON)
 *   'T' level:u8 n:u64        → a HashTile (see hash-tile.ts), rewritten as it
 *                               grows; format 2 (rows 1 and 3 left out) or, if
 *                               written by an earlier version, format 1
 *   'C' k:u64                 → entries 16·k .. 16·k+15 (as many as are
 *                               logged), bundle-encoded, rewritten as the
 *                               chunk grows. Entry bundle n is the
 *                               concatenation of chunks 16·n .. 16·n+15: one
 *                               range read. One entry is one point read of a
 *                               value of at most 16 entries; a range of
 *                               entries reads only the chunks it touches.
 *   'H' leafHash:32           → index, big-endian in as few bytes as it takes
 *                               (1..7; index 0 is one 0x00 byte). Earlier
 *                               versions wrote 8 bytes; any 1..8 are read.
 *                               (dedup and get-proof-by-hash)
 * Format 1 (earlier versions) stored entries in per-round segments, which
 * are read but never written any more:
 *   'E' n:u64 pos:u8          → the entries from 256·n+pos that one round
 *                               added to bundle n, bundle-encoded
 *   'M' n:u64                 → where the segments of bundle n start: one
 *                               byte (pos) per segment, ascending
 * Every bundle is either all segments (a full bundle written by format 1) or
 * all chunks: opening a format-1 store whose last bundle is partial rewrites
 * that bundle as chunks in one atomic batch before anything else is written
 * (unless it is opened with `keepLayout`, to be read only). The same batch
 * rewrites the partial tiles of the tree's right edge in tile format 2 and
 * the state naming its layout, so that Cairn 0.1.0, which decodes those
 * tiles as it starts and reads format 1 only, refuses the store from then on
 * instead of starting on a bundle it cannot read (see {@link OlderLayout}).
 * Where that would not stop 0.1.0 (each of those tiles holds one hash, the
 * same bytes in both formats), the open writes nothing, and the first round
 * that logs entries rewrites the bundle, which then holds one entry.
 *
 * Point reads for answers (tiles, a few leaf hashes, a few chunks) are
 * gathered over one turn of the event loop and made with one getMany
 * (read-batch.ts), so that neither a store too large for the CPU's caches
 * nor one that must go to the disk holds up the event loop. The sequencer's
 * large dedup lookups are split into parallel getMany calls; the segment
 * reads of format-1 bundles stay synchronous (old data, read rarely).
 */
const STATE_KEY = Uint8Array.of(0x53);
const TILE = 0x54;
const CHUNK = 0x43;
const ENTRY = 0x45;
const SEGMENTS = 0x4d;
const LEAF = 0x48;
/** {@link LevelStore.recover} tries to reopen a store at most this often (ms): health checks may come many a second. */
const RECOVER_INTERVAL_MS = 1000;
/** Entries per chunk; a bundle is this many chunks. */
const CHUNK_ENTRIES = 16;
const CHUNKS_PER_BUNDLE = TILE_WIDTH / CHUNK_ENTRIES;
/**
 * LevelDB's table files are written up to 8 MiB instead of its 2 MiB default.
 * LevelDB memory-maps at most 1000 of them; beyond that it reads a table with
 * pread and keeps the table's index and filter blocks on the heap. At 2 MiB
 * that began near 10^7 entries. A log of 3 * 10^7 entries in 2,781 tables of
 * 2 MiB, against the same entries in 706 tables of 8 MiB (all mapped), side
 * by side: 17% fewer inclusion proofs by index per second and 6% fewer by
 * hash (consistency proofs: within the noise), and 35 - 40 MB more private
 * memory. Writing costs about the same: growing that log from empty ran at
 * 118,000 entries/s with 2 MiB tables and 135,000 with 8 MiB (one run each),
 * and the benchmark's durable sequencing, alternating the two, 211,000 against
 * 228,000 entries/s for 2 * 10^6 entries (3 runs each) and 246,000 against
 * 239,000 for 2 * 10^5 on a fresh store (7 runs each).
 */
const MAX_FILE_SIZE = 8 * 1024 * 1024;
/**
 * Table files LevelDB keeps open: about 16 GiB of 8 MiB tables (8 * 10^7
 * entries) before it must reopen them. Not bound to the open-file limit:
 * LevelDB bounds the descriptors they hold by it (see
 * {@link storeFileDescriptors}), and a smaller cache only reopens tables:
 * with 1,154 tables of 1 MiB, 80 instead of 2000 read a quarter to a third
 * as many random entries in the same time, and held 23 - 150 fewer
 * descriptors under limits of 128 - 1,024.
 */
export const MAX_OPEN_FILES = 2000;
/** Tables LevelDB memory-maps (its limit on a 64-bit system): a mapped table holds no file descriptor. */
const MAPPED_TABLES = 1000;
/** LevelDB's files other than its cached tables (kNumNonTableCacheFiles): its lock, info log, write-ahead log, MANIFEST, a compaction's output. */
const OTHER_LEVELDB_FILES = 10;
/** Table files opened for one read each at once: one per libuv thread (4) and LevelDB's compaction thread. */
const READS_UNDER_WAY = 5;

/**
 * The most file descriptors a LevelStore holds at once in a process whose
 * open-file limit is `openFiles`, as the LevelDB in classic-level (1.20)
 * uses them. Of the MAX_OPEN_FILES - 10 tables its cache keeps, the first
 * 1000 are memory-mapped and hold none; each other holds one only while
 * fewer than a fifth of the limit are held (util/env_posix.cc, which reads
 * the limit as the store first opens, once node has raised it), and past
 * that opens its file for each read. Measured with 1,154 tables of 1 MiB
 * under 32 random reads at once: at most 31, 56 and 158 held under limits of
 * 128, 256 and 1,024 (154 tables unmapped), against 40, 66 and 219 here.
 */
export function storeFileDescriptors(openFiles: number): number {
  const unmapped = Math.max(0, MAX_OPEN_FILES - OTHER_LEVELDB_FILES - MAPPED_TABLES);
  return Math.min(unmapped, Math.floor(openFiles / 5)) + OTHER_LEVELDB_FILES + READS_UNDER_WAY;
}
/** Up to this many leaf hashes are looked up in the turn's read batch. */
const BATCHED_LOOKUPS = 16;
/** Larger lookups are split into parallel reads of this many keys. */
const LOOKUP_CHUNK = 1024;
/** Up to this many chunks are read in the turn's read batch; more in a getMany of their own. */
const BATCHED_CHUNKS = 4;
/** A full format-1 bundle of at most this many segments is read with synchronous reads. */
const SYNC_SEGMENTS = 16;
/** The most a bundle can hold (256 entries of 65,535 bytes, with lengths). */
const BUNDLE_READ_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_SIZE);

function putU64(out: Uint8Array, offset: number, value: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(offset, Math.floor(value / 2 ** 32));
  view.setUint32(offset + 4, value % 2 ** 32);
}

function tileKey(level: number, n: number): Uint8Array {
  const key = new Uint8Array(10);
  key[0] = TILE;
  key[1] = level;
  putU64(key, 2, n);
  return key;
}

function chunkKey(k: number): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = CHUNK;
  putU64(key, 1, k);
  return key;
}

function segmentMapKey(n: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = SEGMENTS;
  putU64(key, 1, n);
  return key;
}

function segmentKey(n: number, pos: number): Uint8Array {
  const key = new Uint8Array(10);
  key[0] = ENTRY;
  putU64(key, 1, n);
  key[9] = pos;
  return key;
}

/*
 * The leaf-index keys and values of a round are views into one Buffer each:
 * classic-level copies a Buffer key with one call, but probes a plain
 * Uint8Array through several, which costs microseconds per key at 4096 keys a
 * round.
 */
const LEAF_KEY = 33;

/**
 * The leaf-index keys of `hashes` ('H' then the 32-byte leaf hash), back to
 * back in one Buffer: key i is {@link leafKeyAt}(keys, i). The one place
 * that lays out that key.
 */
function layLeafKeys(hashes: readonly Uint8Array[]): Buffer {
  const keys = Buffer.allocUnsafe(LEAF_KEY * hashes.length);
  for (let i = 0; i < hashes.length; i++) {
    const at = i * LEAF_KEY;
    keys[at] = LEAF;
    keys.set(hashes[i]!, at + 1);
  }
  return keys;
}

/** Key i of a Buffer {@link layLeafKeys} made: a view, not a copy. */
function leafKeyAt(keys: Buffer, i: number): Buffer {
  return keys.subarray(i * LEAF_KEY, (i + 1) * LEAF_KEY);
}

/** The leaf-index keys of `hashes`, as views into one Buffer. */
function leafKeys(hashes: readonly Uint8Array[]): Buffer[] {
  const all = layLeafKeys(hashes);
  const keys: Buffer[] = new Array<Buffer>(hashes.length);
  for (let i = 0; i < hashes.length; i++) keys[i] = leafKeyAt(all, i);
  return keys;
}

/** The most bytes an index takes (Number.MAX_SAFE_INTEGER < 2^56). */
const INDEX_BYTES = 7;

/**
 * Puts a round's leaf-index records (leaf hash → start, start+1, …, each
 * big-endian in as few bytes as it takes) into `batch`. Keys and values are
 * written into one Buffer each, and each view is made just before its put:
 * views made all at once for a round of 4096 would still be alive when the
 * puts' own allocations set off a collection, which would copy them.
 */
function putLeafIndex(batch: { put(key: Buffer, value: Buffer): unknown }, hashes: readonly Uint8Array[], start: number): void {
  const keys = layLeafKeys(hashes);
  const values = Buffer.allocUnsafe(INDEX_BYTES * hashes.length);
  let length = 1;
  let limit = 256;
  let offset = 0;
  for (let i = 0; i < hashes.length; i++) {
    let index = start + i;
    while (index >= limit) {
      length++;
      limit *= 256;
    }
    for (let b = length - 1; b >= 0; b--) {
      values[offset + b] = index % 256;
      index = Math.floor(index / 256);
    }
    batch.put(leafKeyAt(keys, i), values.subarray(offset, offset + length));
    offset += length;
  }
}

/** A stored index: 1..8 bytes big-endian (8: as format 1 wrote it). */
function readIndex(value: Uint8Array): number {
  let index = 0;
  for (let i = 0; i < value.length; i++) index = index * 256 + value[i]!;
  if (value.length < 1 || value.length > 8 || !Number.isSafeInteger(index)) {
    throw new StoreCorruptError(`a stored leaf index of ${value.length} bytes (${Buffer.from(value).toString('hex')}) does not decode`);
  }
  return index;
}

/**
 * The bundle encoding of `entries` in one Buffer, and where each entry's
 * encoding starts (`starts[entries.length]` is the end): the chunks of a
 * round are views into it. Throws as encodeEntryBundle does.
 */
function encodeEntries(entries: readonly Uint8Array[]): { bytes: Buffer; starts: number[] } {
  const starts: number[] = new Array<number>(entries.length + 1);
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (!(e instanceof Uint8Array)) throw new TypeError('writeRound: entries must be Uint8Arrays');
    if (e.length === 0 || e.length > MAX_ENTRY_SIZE) throw new RangeError(`writeRound: an entry is 1..${MAX_ENTRY_SIZE} bytes, got ${e.length}`);
    starts[i] = size;
    size += 2 + e.length;
  }
  starts[entries.length] = size;
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const at = starts[i]!;
    bytes[at] = Math.floor(e.length / 256);
    bytes[at + 1] = e.length % 256;
    bytes.set(e, at + 2);
  }
  return { bytes, starts };
}

/** Appends to `out` those of `entries` (the first being entry `first`) whose index is in start..end-1. */
function takeRange(out: Uint8Array[], entries: readonly Uint8Array[], first: number, start: number, end: number): void {
  for (let j = Math.max(start - first, 0); j < entries.length && first + j < end; j++) out.push(entries[j]!);
}

/**
 * The store layout this build writes into every state it stores, and the
 * newest it opens: 2 is the key layout above (chunks; format 1 is read too).
 * States written before the layout was recorded have none and open as 2; of
 * those, a store that holds no entry chunks is still in layout 1, Cairn
 * 0.1.0's, which 0.1.0 can open (see {@link OlderLayout}). A later Cairn that
 * changes the layout raises it, so that this build refuses such a store
 * instead of half-working on it.
 */
export const STORE_LAYOUT = 2;

interface StoredState {
  /** STORE_LAYOUT when the state was written; absent in states written before it was recorded. */
  layout?: number;
  treeSize: number;
  rootHash: string;
  timestamp: number;
  checkpoint: string;
  sth: LogState['sth'];
  rightEdge: string[];
}

function encodeState(state: LogState): Uint8Array {
  const stored: StoredState = {
    layout: STORE_LAYOUT,
    treeSize: state.treeSize,
    rootHash: Buffer.from(state.rootHash).toString('base64'),
    timestamp: state.timestamp,
    checkpoint: state.checkpoint,
    sth: state.sth,
    rightEdge: state.rightEdge.map((h) => Buffer.from(h).toString('base64')),
  };
  return new TextEncoder().encode(JSON.stringify(stored));
}

/**
 * A store found in an earlier layout than STORE_LAYOUT as it was opened:
 * layout 1, that of Cairn 0.1.0 (entries in per-round segments, tiles with
 * all eight rows), whose state names no layout and which holds no entry
 * chunks. 0.1.0 can open it. Once a bundle of it is written as chunks (the
 * partial last bundle at an open, or the first entries logged) 0.1.0 must
 * not: it would answer errors for that bundle's entries, and the entries it
 * logged would make this version refuse the store. 0.1.0 refuses it as it
 * starts where a partial tile of the tree's right edge holds two hashes or
 * more and is stored in format 2 (format 1 is all 0.1.0 reads), as the open
 * that converts the last bundle leaves it, and a round that writes such a
 * tile; a tile of one hash is the same bytes in both formats.
 */
export interface OlderLayout {
  readonly layout: 1;
  /** The partial entry bundle this open rewrote as chunks, if any: 0.1.0 now refuses the store as it starts. */
  readonly convertedBundle?: number;
}

/**
 * The stored state, and whether it names its layout; StoreLayoutError if a
 * newer Cairn wrote it, and an Error if it does not decode.
 */
function decodeState(bytes: Uint8Array, path: string): { state: LogState; layoutRecorded: boolean } {
  const s = JSON.parse(new TextDecoder().decode(bytes)) as StoredState;
  const layout: unknown = s.layout ?? STORE_LAYOUT;
  if (!Number.isSafeInteger(layout) || (layout as number) < 1) throw new Error(`its layout ${JSON.stringify(layout)} is not a positive integer`);
  if ((layout as number) > STORE_LAYOUT) {
    throw new StoreLayoutError(`the store in ${showNonPrinting(path)} was written by a newer Cairn (store layout ${layout as number}; this version reads layouts up to ${STORE_LAYOUT}): it was not opened; use that newer version`);
  }
  const bytesOf = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
  const state = {
    treeSize: s.treeSize,
    rootHash: bytesOf(s.rootHash),
    timestamp: s.timestamp,
    checkpoint: s.checkpoint,
    sth: s.sth,
    rightEdge: s.rightEdge.map(bytesOf),
  };
  return { state, layoutRecorded: s.layout !== undefined };
}

/**
 * The partial tiles of the right edge of a tree of `size`: at each level, the
 * tile the level's last nodes are in if it is not full. A server resumes from
 * them (TreeBuilder.load), as Cairn 0.1.0 did.
 */
function partialTiles(size: number): { level: number; n: number }[] {
  const out: { level: number; n: number }[] = [];
  for (let level = 0, nodes = size; nodes > 0; level++, nodes = Math.floor(nodes / TILE_WIDTH)) {
    if (nodes % TILE_WIDTH > 0) out.push({ level, n: Math.floor(nodes / TILE_WIDTH) });
  }
  return out;
}

/** What the keys of each kind (by first byte) hold, as keyKinds names them. */
const KEY_KINDS: Readonly<Record<number, string>> = {
  [TILE]: 'hash tiles',
  [CHUNK]: 'entry chunks',
  [LEAF]: 'leaf-hash index keys',
  [ENTRY]: 'format-1 entry segments',
  [SEGMENTS]: 'format-1 segment maps',
};

/** The kinds of key `db` holds, by first byte, in key order: one read of one key per kind. */
async function keyKinds(db: Level<Uint8Array, Uint8Array>): Promise<string[]> {
  const kinds: string[] = [];
  let [key] = await db.keys({ limit: 1 }).all();
  while (key !== undefined) {
    if (key.length === 0) {
      kinds.push('an empty key');
      [key] = await db.keys({ gte: Uint8Array.of(0), limit: 1 }).all();
      continue;
    }
    const first = key[0]!;
    kinds.push(KEY_KINDS[first] ?? `keys starting with byte 0x${first.toString(16).padStart(2, '0')}`);
    if (first === 255) break;
    [key] = await db.keys({ gte: Uint8Array.of(first + 1), limit: 1 }).all();
  }
  return kinds;
}

/**
 * Whether another process (or another open in this one) holds the LevelDB
 * lock of the store in `path`: true or false, or undefined when the probe
 * cannot tell. A lock the system's lock table shows (lockShown) is held;
 * otherwise LevelDB probes it, and the probe stops before LevelDB reads
 * anything (it refuses an existing database, and makes none): it changes no
 * file but LevelDB's info log, LOG, which it starts anew (the last one kept
 * as LOG.old).
 */
async function lockHeld(path: string): Promise<boolean | undefined> {
  // No LOCK file, no lock: and none is made in a folder that has none.
  try {
    await access(join(path, 'LOCK'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? false : undefined;
  }
  if (await lockShown(path)) return true;
  const probe = new Level(path, { createIfMissing: false, errorIfExists: true });
  try {
    await probe.open();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') return true;
    // The refusal of an existing database comes once the lock is taken.
    return /error_if_exists/.test(cause?.message ?? '') ? false : undefined;
  }
  await probe.close();
  return undefined;
}

/** Whether another process holds the LevelDB lock of the store in `path` (see lockHeld). */
async function lockedByAnother(path: string): Promise<boolean> {
  return (await lockHeld(path)) === true;
}

/**
 * The embedded default store: LevelDB through `level`, one folder, one
 * process. Every round is one chained batch written with `sync: true`.
 * Opens stores of format 1 (see the key layout above) as they are and
 * writes format 2 from then on.
 */
export class LevelStore implements LogStore {
  private db: Level<Uint8Array, Uint8Array>;
  private state: LogState | undefined;
  /**
   * Set when a write failed: LevelDB may have appended part of the batch to
   * its write-ahead log and not know it (a full disk), so that the records it
   * appends next would be unreadable on its next open, and lost. The store
   * is opened afresh, which replays the log, before it writes again; reads
   * wait for that too, and if it fails, the next read or write tries again.
   */
  private reopenNeeded = false;
  /**
   * When the last reopening that {@link recover} started failed (ms on
   * performance.now, which a step of the system clock does not move).
   */
  private recoverFailedAt = -Infinity;
  /** The reopening under way, which every reader and writer waits for. */
  private reopening: Promise<void> | undefined;
  /**
   * The stored value of the chunk the tree ends inside (entries 16·k ..
   * treeSize-1), or undefined when the tree ends on a chunk boundary: a
   * round extends it without reading it back. Never changed in place.
   */
  private tail: Uint8Array | undefined;
  /**
   * The segments and segment map of the bundle the tree ends inside, where
   * the open left that bundle as format 1 wrote it (see convertSegments): the
   * first round that logs entries deletes them, writing the bundle as chunks.
   */
  private segmentsLeft: Uint8Array[] | undefined;

  /** The point reads of this turn of the event loop, made together. */
  private readonly reads: ReadBatch;
  /** The earlier layout the store was found in as it opened (see {@link olderLayout}). */
  private foundLayout: OlderLayout | undefined;

  private constructor(
    db: Level<Uint8Array, Uint8Array>,
    state: LogState | undefined,
    private readonly path: string,
    /** Opened to be read only, a format-1 store left as it is (see {@link LevelStore.open}). */
    private readonly keepLayout: boolean,
  ) {
    this.db = db;
    this.state = state;
    this.reads = new ReadBatch((keys) => (this.reopenNeeded ? this.reopen().then(() => this.db.getMany(keys)) : this.db.getMany(keys)));
  }

  /**
   * Whether `path` holds a store: false for a folder that does not exist or
   * is empty; StoreFilesError for one that holds LevelDB files but no
   * CURRENT file (see open). Reads the folder only.
   */
  static async exists(path: string): Promise<boolean> {
    return !(await mayCreateDatabase(path));
  }

  /**
   * Why the store in `path`, which this process has closed, may be in use
   * or hold a write, in words; undefined only when it provably is neither:
   * LevelDB's lock probe finds its lock free, and no file in it may hold a
   * write (mayHoldWrites of leveldb-folder.ts). What a caller made for that
   * store alone (the key of a first start whose log never opened) may then
   * go. Changes no file but LevelDB's info log.
   */
  static async inUseOrWritten(path: string): Promise<string | undefined> {
    const held = await lockHeld(path);
    if (held !== false) return held === true ? 'another process holds its lock' : 'its lock cannot be probed';
    return mayHoldWrites(path);
  }

  /**
   * Opens the store in `path`, making a new one only where the folder does
   * not exist or is empty; StoreLockedError if another process has it.
   * StoreFilesError (a StoreCorruptError), with no file in the folder
   * changed but LevelDB's info log, if it holds LevelDB files but no
   * CURRENT file, or a write-ahead log record that does not read back is
   * followed by a later write, or the write-ahead log its MANIFEST names is
   * missing (see leveldb-folder.ts), or LevelDB finds its files corrupt;
   * StoreCorruptError if the state or the entries the tree ends with do not
   * decode, or the store holds keys but no state; StoreLayoutError if a
   * newer Cairn wrote the state (see STORE_LAYOUT). LevelDB replays its write-ahead log as it opens (dropping a
   * write a crash cut off) and may compact it into a table: the folder must
   * be writable. A format-1 store whose last bundle is partial has that
   * bundle rewritten as chunks, its right edge's partial tiles in tile
   * format 2 and its state naming its layout (one atomic batch), after which
   * Cairn 0.1.0 refuses it as it starts (see {@link olderLayout}); but where
   * that would not stop 0.1.0 (each of those tiles holds one hash), nothing
   * is written before the first round that logs entries. A missing or
   * undecodable one of those tiles is StoreCorruptError, nothing converted.
   * Not so with `keepLayout`: the store is then opened to be read only
   * (writeRound refuses), its layout left as it is (`cairn audit`, which
   * must not change what it checks), and such a bundle is not decoded at the
   * open but when it is read.
   * With `existing`, a folder that holds no store is StoreFilesError too,
   * and nothing is made.
   * Every message names `path`, and quotes what LevelDB, the OS or the
   * stored bytes said, with their non-printing characters shown as escapes
   * (showNonPrinting of src/non-printing.ts): printed as it is, a message is
   * one line read in the order it holds, whatever the folder is named, and
   * printed through showNonPrinting again it is unchanged.
   */
  static async open(path: string, options: { existing?: boolean; keepLayout?: boolean } = {}): Promise<LevelStore> {
    const shown = showNonPrinting(path);
    const create = await mayCreateDatabase(path);
    if (create && options.existing === true) {
      throw new StoreFilesError(`the store in ${shown} is gone (the folder is missing or empty): it was not made anew; restore it from a backup`);
    }
    if (!create) {
      // Before LevelDB opens it: its open renames the info log of the process holding the store.
      if (await lockShown(path)) throw new StoreLockedError(path);
      try {
        await checkWriteAheadLogs(path);
      } catch (err) {
        // A process running on the store may have replaced a file as it was
        // read (a log, a MANIFEST): its lock, not the files, is the answer.
        if (await lockedByAnother(path)) throw new StoreLockedError(path, { cause: err });
        if (err instanceof StoreCorruptError) throw err;
        throw new Error(`cannot open the store in ${shown}: ${showNonPrinting((err as Error).message)}`, { cause: err });
      }
    }
    // Table size and how many stay open: see MAX_FILE_SIZE and MAX_OPEN_FILES.
    const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view', maxOpenFiles: MAX_OPEN_FILES, maxFileSize: MAX_FILE_SIZE, createIfMissing: create });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') throw new StoreLockedError(path, { cause: err });
      if (cause?.code === 'LEVEL_CORRUPTION') throw new StoreFilesError(`LevelDB finds the store in ${shown} corrupt (${showNonPrinting(cause.message ?? 'no reason given')}); restore it from a backup`, { cause: err });
      // LevelDB's own words ("IO error: …: Permission denied") say why; its wrapper's only that it failed.
      throw new Error(`cannot open the store in ${shown}: ${showNonPrinting(cause?.message ?? (err as Error).message)}`, { cause: err });
    }
    // A store we cannot read must not stay open and keep its lock.
    let state: LogState | undefined;
    let layoutRecorded = true;
    try {
      const raw = await db.get(STATE_KEY);
      if (raw !== undefined) ({ state, layoutRecorded } = decodeState(raw, path));
    } catch (err) {
      await db.close().catch(() => undefined);
      if (err instanceof StoreLayoutError) throw err;
      throw new StoreCorruptError(`the stored state in ${shown} does not decode: ${showNonPrinting((err as Error).message)}`, { cause: err });
    }
    // No state is an empty log only in an empty store: with entries or tiles
    // left, an empty log would sign new tree heads for sizes already signed.
    if (state === undefined) {
      let kinds: string[];
      try {
        kinds = await keyKinds(db);
      } catch (err) {
        await db.close().catch(() => undefined);
        throw err;
      }
      if (kinds.length > 0) {
        await db.close().catch(() => undefined);
        throw new StoreCorruptError(
          `the store in ${shown} holds ${kinds.length === 1 ? kinds[0]! : `${kinds.slice(0, -1).join(', ')} and ${kinds.at(-1)!}`} but no state (key 'S': its tree size and latest checkpoint): ` +
            'it was not opened as an empty log, which would sign new tree heads for sizes already signed; restore the store from a backup',
        );
      }
    }
    const store = new LevelStore(db, state, path, options.keepLayout === true);
    try {
      // A state that names no layout, in a store without entry chunks: layout 1 (0.1.0's).
      if (state !== undefined && !layoutRecorded) {
        const [chunk] = await db.keys({ gte: chunkKey(0), lt: Buffer.of(CHUNK + 1), limit: 1 }).all();
        if (chunk === undefined) store.foundLayout = { layout: 1 };
      }
      await store.resume();
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
    return store;
  }

  /**
   * Makes the bundle the tree ends inside chunks (if format 1 left it as
   * segments; not with keepLayout, which reads it as segments) and loads the
   * last partial chunk.
   */
  private async resume(): Promise<void> {
    const size = this.state?.treeSize ?? 0;
    const inBundle = size % TILE_WIDTH;
    if (inBundle === 0) return; // a chunk boundary too: nothing partial
    const n = Math.floor(size / TILE_WIDTH);
    const [firstChunk] = await this.db.keys({ gte: chunkKey(n * CHUNKS_PER_BUNDLE), lt: chunkKey((n + 1) * CHUNKS_PER_BUNDLE), limit: 1 }).all();
    if (firstChunk === undefined) {
      if (this.keepLayout) return;
      if (!(await this.convertSegments(n, inBundle))) return; // left for the first round, the tail loaded
      if (this.foundLayout !== undefined) this.foundLayout = { ...this.foundLayout, convertedBundle: n };
    }
    const inChunk = size % CHUNK_ENTRIES;
    if (inChunk === 0) return;
    const k = Math.floor(size / CHUNK_ENTRIES);
    const tail = await this.db.get(chunkKey(k));
    try {
      if (tail === undefined) throw new Error('it is missing');
      parseEntryBundle(tail, inChunk);
    } catch (err) {
      throw new StoreCorruptError(`entry chunk ${k} (entries ${k * CHUNK_ENTRIES}..) does not hold the ${inChunk} entries of tree size ${size}: ${(err as Error).message}`, { cause: err });
    }
    this.tail = new Uint8Array(tail); // a plain Uint8Array, whose slice() copies
  }

  /**
   * Rewrites format-1 bundle n, which the tree ends inside with `count`
   * entries, as chunks, and with it the partial tiles of the tree's right
   * edge in tile format 2 and the state naming its layout, in one atomic
   * batch, which makes Cairn 0.1.0 refuse the store as it starts (see
   * OlderLayout): resolves to true. Where it would not, each of those tiles
   * holding one hash (the bundle one entry), nothing is written: the bundle
   * stays as 0.1.0 wrote it, its entry is loaded as the tail, and the first
   * round that logs entries writes it as a chunk and deletes its segments
   * (segmentsLeft); resolves to false. A tile that is missing or does not
   * decode fails the open, nothing written.
   */
  private async convertSegments(n: number, count: number): Promise<boolean> {
    const state = this.state!;
    const segments = await this.db.iterator({ gte: segmentKey(n, 0), lte: segmentKey(n, TILE_WIDTH - 1), highWaterMarkBytes: BUNDLE_READ_BYTES } as never).all();
    let entries: Uint8Array[];
    try {
      entries = parseEntryBundle(Buffer.concat(segments.map(([, value]) => value)), count);
    } catch (err) {
      throw new StoreCorruptError(`entry bundle ${n} (format 1 segments) does not hold the ${count} entries the tree ends with: ${(err as Error).message}`, { cause: err });
    }
    const edge = partialTiles(state.treeSize);
    const stored = await this.db.getMany(edge.map((t) => tileKey(t.level, t.n)));
    const tiles = edge.map((t, i) => {
      const value = stored[i];
      const shown = `tile ${t.level}/${t.n}, which the tree of size ${state.treeSize} ends inside,`;
      if (value === undefined) throw new StoreCorruptError(`${shown} is missing`);
      try {
        return HashTile.decode(t.level, t.n, value);
      } catch (err) {
        throw new StoreCorruptError(`${shown} does not decode: ${(err as Error).message}`, { cause: err });
      }
    });
    const { bytes, starts } = encodeEntries(entries);
    const deletes = [...segments.map(([key]) => key), segmentMapKey(n)];
    if (count === 1 && tiles.every((tile) => tile.width === 1)) {
      this.tail = new Uint8Array(bytes);
      this.segmentsLeft = deletes;
      return false;
    }
    const batch = this.db.batch();
    for (let i = 0; i < count; i += CHUNK_ENTRIES) {
      batch.put(chunkKey(n * CHUNKS_PER_BUNDLE + i / CHUNK_ENTRIES), bytes.subarray(starts[i], starts[Math.min(i + CHUNK_ENTRIES, count)]));
    }
    for (const key of deletes) batch.del(key);
    for (const tile of tiles) batch.put(tileKey(tile.level, tile.n), tile.encode());
    batch.put(STATE_KEY, encodeState(state));
    await batch.write({ sync: true });
    return true;
  }

  /**
   * The earlier layout the store was in when it was opened (layout 1, Cairn
   * 0.1.0's, and the bundle the open rewrote, if any), or undefined for one
   * in this version's layout or a new one. A server says so as it starts.
   */
  get olderLayout(): OlderLayout | undefined {
    return this.foundLayout;
  }

  /** The underlying database, for tools that inspect or corrupt it on purpose (audit tests). */
  get database(): Level<Uint8Array, Uint8Array> {
    return this.db;
  }

  async readState(): Promise<LogState | undefined> {
    return this.state;
  }

  async writeRound(round: RoundWrite): Promise<void> {
    if (this.keepLayout) throw new Error(`level-store: the store in ${showNonPrinting(this.path)} was opened to be read only (keepLayout)`);
    if (this.reopenNeeded) await this.reopen();
    checkStateTransition(this.state, round);
    const batch = this.db.batch();
    const start = round.state.treeSize - round.entries.length;
    let tail = this.tail;
    if (round.entries.length > 0) {
      for (const key of this.segmentsLeft ?? []) batch.del(key);
      const { bytes, starts } = encodeEntries(round.entries);
      let i = 0;
      while (i < round.entries.length) {
        const k = Math.floor((start + i) / CHUNK_ENTRIES);
        const pos = start + i - k * CHUNK_ENTRIES;
        const end = Math.min(i + CHUNK_ENTRIES - pos, round.entries.length);
        let value = bytes.subarray(starts[i], starts[end]);
        if (pos > 0) {
          if (tail === undefined) throw new Error(`level-store: chunk ${k} holds ${pos} entries, but none are loaded`);
          value = Buffer.concat([tail, value]);
        }
        batch.put(chunkKey(k), value);
        // A copy: a view would keep the whole round's encoding alive.
        tail = pos + end - i === CHUNK_ENTRIES ? undefined : new Uint8Array(value);
        i = end;
      }
    }
    putLeafIndex(batch, round.leafHashes, start);
    for (const tile of round.tiles) batch.put(tileKey(tile.level, tile.n), tile.encode());
    batch.put(STATE_KEY, encodeState(round.state));
    try {
      await batch.write({ sync: true });
    } catch (err) {
      this.reopenNeeded = true;
      // At once, so that the state read next is what the disk holds (a batch
      // whose sync failed may be there); if that fails too, the next write
      // tries again.
      await this.reopen().catch(() => undefined);
      throw err;
    }
    this.state = round.state;
    this.tail = tail;
    if (round.entries.length > 0) this.segmentsLeft = undefined;
  }

  /**
   * Closes the database and opens it again as {@link LevelStore.open} does,
   * taking up the state it finds; one reopening at a time, which all callers
   * share.
   */
  private reopen(): Promise<void> {
    this.reopening ??= (async () => {
      try {
        await this.db.close();
        // The store was there: if its folder is gone now, an empty new one
        // must not take its place (the log would start again from 0).
        const fresh = await LevelStore.open(this.path, { existing: true });
        this.db = fresh.db;
        this.state = fresh.state;
        this.tail = fresh.tail;
        this.segmentsLeft = fresh.segmentsLeft;
        this.reopenNeeded = false;
      } catch (err) {
        throw new StoreUnavailableError(`the store in ${showNonPrinting(this.path)} could not be opened again after a failed write: ${showNonPrinting((err as Error).message)}`, { cause: err });
      } finally {
        this.reopening = undefined;
      }
    })();
    return this.reopening;
  }

  available(): boolean {
    return !this.reopenNeeded || this.reopening !== undefined;
  }

  async recover(): Promise<boolean> {
    if (this.reopening !== undefined) {
      await this.reopening.catch(() => undefined);
    } else if (this.reopenNeeded && performance.now() - this.recoverFailedAt >= RECOVER_INTERVAL_MS) {
      await this.reopen().catch(() => {
        this.recoverFailedAt = performance.now();
      });
    }
    return !this.reopenNeeded;
  }

  async findLeafHashes(hashes: readonly Uint8Array[]): Promise<(number | undefined)[]> {
    if (this.reopenNeeded) await this.reopen();
    if (hashes.length === 0) return [];
    const keys = leafKeys(hashes);
    let values: (Uint8Array | undefined)[];
    if (keys.length <= BATCHED_LOOKUPS) values = await this.reads.getAll(keys);
    else {
      // Several reads at once on LevelDB's threads: a round's 4096 lookups
      // are on its critical path.
      const parts: Promise<(Uint8Array | undefined)[]>[] = [];
      for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) parts.push(this.db.getMany(keys.slice(i, i + LOOKUP_CHUNK)));
      values = (await Promise.all(parts)).flat();
    }
    return values.map((v) => (v === undefined ? undefined : readIndex(v)));
  }

  async readTiles(keys: readonly { level: number; n: number }[]): Promise<(HashTile | undefined)[]> {
    const values = await this.reads.getAll(keys.map((k) => tileKey(k.level, k.n)));
    return values.map((v, i) => (v === undefined ? undefined : HashTile.decode(keys[i]!.level, keys[i]!.n, v)));
  }

  async readEntry(index: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`readEntry: index must be a non-negative safe integer, got ${String(index)}`);
    const size = this.state?.treeSize ?? 0;
    if (index >= size) throw new Error(`entry ${index} is not stored (the tree has ${size} entries)`);
    const k = Math.floor(index / CHUNK_ENTRIES);
    const pos = index - k * CHUNK_ENTRIES;
    // The caller gets its own copy of an entry of the in-memory chunk.
    if (this.tail !== undefined && k === Math.floor(size / CHUNK_ENTRIES)) return bundleEntry(this.tail, pos).slice();
    const chunk = await this.reads.get(chunkKey(k));
    if (chunk !== undefined) return bundleEntry(chunk, pos);
    return this.readSegmentEntry(index);
  }

  async readEntries(start: number, count: number): Promise<Uint8Array[]> {
    if (this.reopenNeeded) await this.reopen();
    if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`readEntries: start must be a non-negative safe integer, got ${String(start)}`);
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`readEntries: count must be a positive safe integer, got ${String(count)}`);
    const size = this.state?.treeSize ?? 0;
    const end = start + count;
    if (end > size) throw new Error(`entries ${start}..${end - 1} are not stored (the tree has ${size} entries)`);
    const first = Math.floor(start / CHUNK_ENTRIES);
    const keys = Array.from({ length: Math.floor((end - 1) / CHUNK_ENTRIES) - first + 1 }, (_, i) => chunkKey(first + i));
    const chunks = keys.length <= BATCHED_CHUNKS ? await this.reads.getAll(keys) : await this.db.getMany(keys);
    // A bundle written by format 1 has no chunks: read the bundles instead.
    if (chunks.some((chunk) => chunk === undefined)) return this.entriesOfBundles(start, end);
    const out: Uint8Array[] = [];
    chunks.forEach((chunk, i) => takeRange(out, parseEntryBundle(chunk!), (first + i) * CHUNK_ENTRIES, start, end));
    if (out.length !== count) throw new StoreCorruptError(`entry chunks ${first}..${first + keys.length - 1} hold ${out.length} of the entries ${start}..${end - 1}`);
    return out;
  }

  /** Entries start..end-1, bundle by bundle (for bundles format 1 wrote). */
  private async entriesOfBundles(start: number, end: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (let n = Math.floor(start / TILE_WIDTH); n * TILE_WIDTH < end; n++) {
      takeRange(out, parseEntryBundle(await this.readBundle(n)), n * TILE_WIDTH, start, end);
    }
    if (out.length !== end - start) throw new StoreCorruptError(`entry bundles hold ${out.length} of the entries ${start}..${end - 1}`);
    return out;
  }

  /** Entry `index` of a bundle stored as format-1 segments. */
  private async readSegmentEntry(index: number): Promise<Uint8Array> {
    const n = Math.floor(index / TILE_WIDTH);
    const pos = index - n * TILE_WIDTH;
    const map = this.db.getSync(segmentMapKey(n));
    let start = -1;
    if (map !== undefined) for (const s of map) if (s <= pos) start = s;
    if (start >= 0) {
      const segment = this.db.getSync(segmentKey(n, start));
      if (segment !== undefined) return bundleEntry(segment, pos - start);
    }
    // A store written before segment maps existed: the whole bundle.
    const bundle = await this.readSegments(n);
    if (bundle.length === 0) throw new Error(`entry ${index} is not in the store`);
    return bundleEntry(bundle, pos);
  }

  async readBundle(n: number): Promise<Uint8Array> {
    if (this.reopenNeeded) await this.reopen();
    const first = n * CHUNKS_PER_BUNDLE;
    if ((n + 1) * TILE_WIDTH <= (this.state?.treeSize ?? 0)) {
      // A full bundle: its sixteen chunks in one getMany, one trip to
      // LevelDB's thread (a range read costs about twice as much, sixteen
      // synchronous reads about four times).
      const chunks = await this.db.getMany(Array.from({ length: CHUNKS_PER_BUNDLE }, (_, i) => chunkKey(first + i)));
      if (chunks[0] === undefined) return this.readSegments(n);
      if (chunks.some((c) => c === undefined)) throw new StoreCorruptError(`entry bundle ${n}: a chunk is missing`);
      return Buffer.concat(chunks as Uint8Array[]);
    }
    // The last bundle, or one past the tree (which must be empty), by a range
    // read, so that it also shows chunks the tree does not reach.
    const chunks = await this.concatRange(chunkKey(first), chunkKey(first + CHUNKS_PER_BUNDLE));
    if (chunks.length > 0) return chunks;
    const segments = await this.readSegments(n);
    if (segments.length > 0) return segments;
    // The first round after an open that left this bundle as format 1 wrote
    // it (segmentsLeft) writes its chunks and deletes its segments at once: a
    // read that looked for chunks before that and for segments after it
    // finds the chunks now.
    return this.concatRange(chunkKey(first), chunkKey(first + CHUNKS_PER_BUNDLE));
  }

  /**
   * The values of the keys from `gte` up to (not including) `lt`, joined: one
   * trip to LevelDB's thread, which may hand back up to a whole bundle (16 MiB)
   * in one batch.
   */
  private async concatRange(gte: Uint8Array, lt: Uint8Array): Promise<Uint8Array> {
    const values = await this.db.values({ gte, lt, highWaterMarkBytes: BUNDLE_READ_BYTES } as never).all();
    return values.length === 1 ? values[0]! : Buffer.concat(values);
  }

  /** Bundle n as format 1 stored it (empty if it has no segments). */
  private async readSegments(n: number): Promise<Uint8Array> {
    // A full bundle, by its segment map; bundles written before segment maps
    // existed, by a range read.
    if (this.state !== undefined && (n + 1) * TILE_WIDTH <= this.state.treeSize) {
      const map = this.db.getSync(segmentMapKey(n));
      if (map !== undefined && map.length <= SYNC_SEGMENTS) {
        const segments = Array.from(map, (pos) => this.db.getSync(segmentKey(n, pos)));
        if (segments.every((v) => v !== undefined)) return segments.length === 1 ? segments[0]! : Buffer.concat(segments);
      }
    }
    return this.concatRange(segmentKey(n, 0), segmentKey(n + 1, 0));
  }

  async close(): Promise<void> {
    await this.reopening?.catch(() => undefined);
    await this.db.close();
  }
}
