import { MAX_ENTRY_SIZE } from '../merkle/bundle.js';
import { EMPTY_ROOT, HASH_SIZE, leafHash } from '../merkle/hash.js';
import { proveConsistency, proveInclusion } from '../merkle/proof.js';
import { formatCheckpoint, openCheckpoint, type Checkpoint } from '../note/checkpoint.js';
import { formatKeyHash, type Signer, type Verifier } from '../note/keys.js';
import { NoteError, openNote, signNote } from '../note/note.js';
import { showNonPrinting } from '../non-printing.js';
import { signTreeHead } from '../note/sth.js';
import { tileWidth, TILE_WIDTH } from '../merkle/tile.js';
import type { HashTile } from '../storage/hash-tile.js';
import { bytesEqual } from '../merkle/check.js';
import { StateConflictError, StoreUnavailableError, type LogState, type LogStore } from '../storage/store.js';
import { LogError } from './errors.js';
import { LeafFilter } from './leaf-filter.js';
import { RoundDedup } from './round-dedup.js';
import { RoundProofs } from './round-proofs.js';
import { BoundedSubtreeMemo } from './subtree-memo.js';
import { TileCache } from './tile-cache.js';
import { TileHashReader } from './tile-reader.js';
import { TreeBuilder } from './tree-builder.js';
import { waitForClock } from './wait-for-clock.js';

/** CONTRACT §1: an entry is 1 to 65,535 bytes. */
export { MAX_ENTRY_SIZE };

/** CONTRACT §3: a batch holds 1 to 1000 entries. */
export const MAX_BATCH_ENTRIES = 1000;

/** What a submitter gets for one entry; the proof is against the round's checkpoint. */
export interface Receipt {
  readonly index: number;
  readonly leafHash: Uint8Array;
  readonly inclusionProof: Uint8Array[];
  readonly duplicate: boolean;
}

export interface SubmitResult {
  /** The signed checkpoint every receipt's proof leads to. */
  readonly checkpoint: string;
  readonly treeSize: number;
  readonly receipts: Receipt[];
}

/** Observations for metrics; every method optional. */
export interface LogObserver {
  roundCommitted?(info: { entries: number; duplicates: number; seconds: number; treeSize: number }): void;
  roundFailed?(error: unknown): void;
  /**
   * The leaf-hash filter could not be filled; every round looks up all its
   * hashes until a later fill succeeds: tried again once a round is
   * committed or the store is found available, FILL_RETRY_MS after the first
   * failure at the soonest, the wait doubled after each retry that fails
   * without adding a tile, up to FILL_RETRY_MAX_MS. A retry that fails as
   * the fill before it did (the same message) and added no tile is not told.
   */
  filterFailed?(error: unknown): void;
  /**
   * The leaf-hash filter's state, told once it is filled (or failed to be)
   * and after every committed round: `ready` false means rounds look up every
   * hash in the store (still filling, failed, or grown past its memory).
   */
  filterChanged?(state: { ready: boolean; bytes: number }): void;
  queueChanged?(entries: number): void;
  /** The log took up what its store holds after a failed write (see reload): a tree it signs now, not by a committed round. */
  storeStateAdopted?(info: { treeSize: number }): void;
  /**
   * An STH was signed (and written) dated `timestamp`, the last one's + 1,
   * with the clock behind the last one by `behindMs`, 1 s or more: the clock
   * was stepped back (or stood still for a thousand rounds), and the log's
   * STHs are ahead of real time until the clock passes them. Told for each
   * such STH.
   */
  clockBehind?(info: { behindMs: number; timestamp: number }): void;
  /** After {@link clockBehind}, the first STH dated by the clock again (`timestamp`). */
  clockCaughtUp?(info: { timestamp: number }): void;
}

export interface LogOptions {
  readonly store: LogStore;
  /**
   * Signs the log's tree heads. Absent, the log is read-only (a retired log,
   * served without its private key): it serves the tree head its store holds,
   * signs nothing (no first tree head, no re-signing), and refuses every
   * submission with FORBIDDEN; its store must hold a log.
   */
  readonly signer?: Signer;
  readonly verifier: Verifier;
  /** ms since the epoch; injected so tests can move time (also backwards). */
  readonly clock?: () => number;
  /**
   * ms on a clock that only goes forward, whatever is done to `clock` (default
   * performance.now): measures the re-sign interval, so that a step of the
   * clock back never delays the re-signing of an idle log.
   */
  readonly monotonic?: () => number;
  /**
   * Waits until the clock has moved on by `ms` (default: the wall clock,
   * watched on every turn of the event loop in the last millisecond): a round
   * whose STH would get a timestamp ahead of `clock` waits until the clock
   * has passed the last one. Injected so tests can let their clock move instead.
   */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Most entries one round takes (whole submissions only). */
  readonly maxRoundEntries?: number;
  /**
   * Most unsequenced entries held; past it submissions get QUEUE_FULL (503),
   * and one larger than it TOO_MANY_ENTRIES.
   */
  readonly maxQueueEntries?: number;
  /**
   * Most unsequenced entry bytes held; past it submissions get QUEUE_FULL
   * (503), and one larger than it BODY_TOO_LARGE.
   */
  readonly maxQueueBytes?: number;
  /** An idle log re-signs its STH this often (CONTRACT §2: at least every 10 minutes). */
  readonly resignIntervalMs?: number;
  /**
   * Full hash tiles of level 1 and up kept in memory for proofs (16 KiB
   * each; default 1024, 16 MiB: every one of them up to 2^26 entries).
   * Level-0 tiles are read from the store each time (see TileCache).
   */
  readonly tileCacheSize?: number;
  /**
   * Memory for the filter of logged leaf hashes that spares a round most of
   * its dedup lookups (1.25 to 2.5 bytes per entry; default 64 MiB, enough
   * for at least 2.6 × 10^7 entries). Past it, or at 0, every hash is looked up.
   */
  readonly leafFilterBytes?: number;
  readonly observer?: LogObserver;
  /** The file the signer's key was read from, named when the store's checkpoint is not signed by it. */
  readonly keyFile?: string;
}

/** A round taken from the queue, looked up and built, but not yet signed or written. */
interface Prepared {
  readonly taken: Pending[];
  /** For each submission, for each of its entries, its slot among `unique`. */
  readonly slots: number[][];
  /** The round's distinct leaf hashes, and their lookup structure. */
  readonly unique: Uint8Array[];
  readonly dedup: RoundDedup;
  /** The index of each distinct hash: found in the log, or new. */
  readonly indexOf: number[];
  /** The tree size the round extends. */
  readonly oldSize: number;
  readonly newEntries: Uint8Array[];
  readonly newHashes: Uint8Array[];
  /** The tree with the round appended, and the tiles the round changed. */
  readonly builder: TreeBuilder;
  readonly tiles: HashTile[];
  readonly started: number;
  /** {@link Log.caughtUp} when the round took the tree it extends. */
  readonly caughtUp: number;
}

/** How a round's write ended: `again` if the store refused it, and it is to be built again on what the store holds. */
type Outcome = 'committed' | 'failed' | 'again';

/**
 * The oldest round under way, as {@link Log.roundUnderWay} tells it: what
 * /metrics, /healthz and the server's warnings see of a round the store
 * holds up (a stalled disk: a hung fsync, a frozen file system).
 */
export interface RoundProgress {
  /**
   * When it became the oldest round under way (ms on the log's monotonic
   * clock): when it was taken from the queue, or, if a round was being
   * written then, when that one ended, as it waited for it until then.
   */
  readonly since: number;
  /** `reading` while it looks its hashes up in the store, `writing` from when it is signed and written until the write returned. */
  readonly stage: 'reading' | 'writing';
  /** The entries of the submissions it took (0 for a re-sign). */
  readonly entries: number;
  /**
   * Once it is over: when (ms on the log's monotonic clock), and how:
   * `committed`, `failed` (its submitters were answered an error), or
   * `retried` (never written: its submissions went back to the queue).
   */
  readonly ended: { readonly at: number; readonly outcome: 'committed' | 'failed' | 'retried' } | undefined;
}

/** A round's {@link RoundProgress}, which the log updates as the round goes on. */
class RoundRecord implements RoundProgress {
  since = 0;
  stage: RoundProgress['stage'] = 'reading';
  ended: RoundProgress['ended'];
  constructor(readonly entries: number) {}
}

interface Pending {
  readonly entries: readonly Uint8Array[];
  readonly hashes: readonly Uint8Array[];
  readonly bytes: number;
  readonly resolve: (result: SubmitResult) => void;
  readonly reject: (error: unknown) => void;
}

/** The latest signed tree head, as served. */
export interface TreeHead {
  readonly treeSize: number;
  readonly rootHash: Uint8Array;
  readonly timestamp: number;
  readonly checkpoint: string;
  readonly sth: LogState['sth'];
}

/**
 * The most the last STH timestamp may be ahead of the clock for a round to
 * wait until the clock has passed it (ms). STH timestamps are whole ms and
 * strictly increase (CONTRACT §2): rounds faster than one per ms would
 * otherwise sign ever further ahead of the clock. A larger lead is a step of
 * the clock back, which the log does not wait out: it signs the last
 * timestamp + 1 at once.
 */
const MAX_TIMESTAMP_WAIT_MS = 1000;
/**
 * Times a round sleeps for the clock to pass the last STH timestamp before
 * it signs that timestamp + 1 all the same: a timer may fire a little before
 * the clock has moved on, and a clock that stands still must not stall the log
 * (a wait that ends with the clock unchanged is the last: see nextTimestamp).
 */
const TIMESTAMP_WAITS = 3;

/** Room the leaf filter's first layer leaves for growth past the size at open. */
const FILTER_HEADROOM = 2 ** 20;
/** Level-0 tiles (256 hashes each) the filter takes in per turn of the event loop. */
const FILL_TILES_PER_TURN = 16;
/** The least time (ms, monotonic) from a failed fill of the leaf filter to the next try. */
const FILL_RETRY_MS = 30_000;
/** The longest wait (ms, monotonic) from a failed fill to the next try, however often the fill failed. */
const FILL_RETRY_MAX_MS = 30 * 60_000;

function requireSize(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
}

/**
 * The checkpoint a store holds, opened with the log's own key. A store whose
 * checkpoint that key did not sign belongs to another key (or its key file
 * was replaced), and one whose signature fails was altered: both are said in
 * those words rather than in the note parser's. The first names the key (its
 * file `keyFile`, where given, its name and key ID), the log the checkpoint
 * is for (its origin) and the keys that signed it, as cairn audit does.
 */
function openStoredCheckpoint(note: string, verifier: Verifier, keyFile?: string): Checkpoint {
  try {
    return openCheckpoint(note, verifier).checkpoint;
  } catch (err) {
    if (err instanceof NoteError && err.code === 'UNVERIFIED') {
      throw new Error(unsignedCheckpointProblem(note, verifier, keyFile), { cause: err });
    }
    if (err instanceof NoteError && err.code === 'INVALID_SIGNATURE') {
      throw new Error(`the store's checkpoint does not verify with this log's key (${verifier.name}): the store was altered`, { cause: err });
    }
    throw err;
  }
}

/** What openStoredCheckpoint says of a stored checkpoint `note` that `verifier` did not sign. */
function unsignedCheckpointProblem(note: string, verifier: Verifier, keyFile: string | undefined): string {
  const signers: string[] = [];
  try {
    openNote(note, (name, keyHash) => {
      signers.push(`${name} key ID ${formatKeyHash(keyHash)}`);
      return undefined;
    });
  } catch {
    // UNVERIFIED, as it was opened: every signature was seen.
  }
  const origin = showNonPrinting(JSON.stringify(note.slice(0, note.indexOf('\n'))));
  const key = `${keyFile === undefined ? "this log's key" : `the key file ${showNonPrinting(keyFile)}`} (${showNonPrinting(verifier.name)}, key ID ${formatKeyHash(verifier.keyHash)})`;
  const signed = `it is signed by ${signers.length === 0 ? 'no key' : showNonPrinting(signers.join(', '))}`;
  if (note.startsWith(`${verifier.name}\n`)) {
    return `the store's checkpoint, for the log ${origin}, is not signed by ${key}; ${signed}: the store belongs to another key of that name (two logs made with one origin, say), or the key file was replaced. Name the key of the log the store holds`;
  }
  return (
    `the store's checkpoint is for the log ${origin} (its origin), but ${key} is for the log ${showNonPrinting(JSON.stringify(verifier.name))}; ${signed}: ` +
    `the store belongs to another log, or the key file was replaced. Name the key of the log the store holds`
  );
}

/**
 * The sequencer: a group-commit loop over a LogStore. Submissions queue; a
 * round takes whole submissions up to `maxRoundEntries`, dedups them against
 * the store and each other, appends the new leaves to the right edge, signs a
 * checkpoint and an STH, writes all of it in one atomic synced batch, and only
 * then answers its waiters. The next round fills while one is on disk.
 */
export class Log {
  readonly origin: string;
  private readonly store: LogStore;
  /** Undefined for a read-only log (see LogOptions.signer). */
  private readonly signer: Signer | undefined;
  private readonly clock: () => number;
  private readonly monotonic: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly maxRoundEntries: number;
  private readonly maxQueueEntries: number;
  private readonly maxQueueBytes: number;
  private readonly resignIntervalMs: number;
  private readonly observer: LogObserver;
  private readonly cache: TileCache;
  private readonly reader: TileHashReader;
  /** Hashes of the incomplete subtrees proofs keep needing (the right edge). */
  private readonly memo = new BoundedSubtreeMemo();
  /** Which leaf hashes may be logged; filled from the store in the background after open. */
  private readonly filter: LeafFilter;
  private filling: Promise<void> = Promise.resolve();
  /** The tree size at open, whose leaf hashes the fill adds, and the level-0 tiles of it added so far. */
  private readonly fillSize: number;
  private filledTiles = 0;
  /** When (monotonic) the last fill failed; undefined while one is under way, or if none failed. */
  private fillFailedAt: number | undefined;
  /** Fills in a row that failed (one that added a tile counts as the first), and the message of the last one. */
  private fillFailures = 0;
  private fillFailure: string | undefined;

  private builder: TreeBuilder;
  private head: TreeHead;
  private queue: Pending[] = [];
  private queuedEntries = 0;
  private queuedBytes = 0;
  private running = false;
  private resignWanted = false;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();
  /** Receipts being computed for committed rounds; close() waits for them. */
  private readonly answering = new Set<Promise<void>>();
  private resignTimer: NodeJS.Timeout | undefined;
  /** When (on the monotonic clock) the log last signed a tree head, or started. */
  private signedAt: number;
  /** The clock's reading at which a wait for it ended without it moving, until it is seen to move (see nextTimestamp). */
  private stillClock: number | undefined;
  /** The last STH was signed past a clock behind it by MAX_TIMESTAMP_WAIT_MS or more, and none since carried the clock (see tellClock). */
  private clockBehind = false;
  /**
   * The tree of the last round whose write failed, since the log's tree last
   * moved on: the disk may have written it all the same (an fsync error after
   * the data landed), and the store may show it only once it is opened again,
   * later. If the store turns out to hold it, the log takes it up as it is:
   * the leaf-hash filter holds its hashes already (prepare put them there).
   */
  private unconfirmed: TreeBuilder | undefined;
  /**
   * How often the log took up a state of the store that it had written itself
   * but not known of (see reload): a round built before that extends a tree
   * the store has moved past, and is refused.
   */
  private caughtUp = 0;
  /**
   * The oldest round under way (see roundUnderWay), and the one taken after
   * it while it is written (the loop is two rounds deep): the latter becomes
   * the former when the former ends.
   */
  private headRound: RoundRecord | undefined;
  private nextRound: RoundRecord | undefined;

  private constructor(options: LogOptions, builder: TreeBuilder, head: TreeHead) {
    this.origin = options.verifier.name;
    this.store = options.store;
    this.signer = options.signer;
    this.clock = options.clock ?? Date.now;
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.sleep = options.sleep ?? waitForClock;
    this.signedAt = this.monotonic();
    this.maxRoundEntries = options.maxRoundEntries ?? 4096;
    this.maxQueueEntries = options.maxQueueEntries ?? 65536;
    this.maxQueueBytes = options.maxQueueBytes ?? 64 * 1024 * 1024;
    this.resignIntervalMs = options.resignIntervalMs ?? 5 * 60 * 1000;
    this.observer = options.observer ?? {};
    this.cache = new TileCache(options.tileCacheSize ?? 1024);
    this.builder = builder;
    this.head = head;
    this.fillSize = head.treeSize;
    this.filter = new LeafFilter({ capacity: head.treeSize + FILTER_HEADROOM, maxBytes: options.leafFilterBytes ?? 64 * 1024 * 1024 });
    this.reader = new TileHashReader(this.store, this.cache, (level, n) => this.builder.partialTile(level, n));
  }

  /**
   * Opens the log on a store: resumes from its stored state after checking
   * that the stored checkpoint is signed by this key and commits to the stored
   * root and right edge (O(log n), no replay); a new store first gets a signed
   * size-0 tree head (CONTRACT §2).
   */
  static async open(options: LogOptions): Promise<Log> {
    const { signer } = options;
    if (signer !== undefined && (signer.name !== options.verifier.name || signer.keyHash !== options.verifier.keyHash)) {
      throw new Error('the verifier key does not belong to the signer key');
    }
    const state = await options.store.readState();
    let log: Log;
    if (state === undefined && signer === undefined) throw new Error('the store holds no log: a read-only log serves what its store holds, and signs no first tree head');
    if (state === undefined) {
      const empty: TreeHead = { treeSize: 0, rootHash: EMPTY_ROOT, timestamp: 0, checkpoint: '', sth: undefined as never };
      log = new Log(options, TreeBuilder.empty(), empty);
      await log.commitHead(TreeBuilder.empty(), [], [], []);
    } else {
      const opened = openStoredCheckpoint(state.checkpoint, options.verifier, options.keyFile);
      const builder = await TreeBuilder.load(options.store, state);
      if (opened.treeSize !== state.treeSize || !bytesEqual(opened.rootHash, state.rootHash) || !bytesEqual(builder.root(), state.rootHash)) {
        throw new Error(`stored state is inconsistent: checkpoint, stored root and right edge disagree at size ${state.treeSize}`);
      }
      log = new Log(options, builder, {
        treeSize: state.treeSize,
        rootHash: state.rootHash,
        timestamp: state.timestamp,
        checkpoint: state.checkpoint,
        sth: state.sth,
      });
    }
    // A read-only log signs nothing: the tree head it serves ages, as a closed log's should.
    if (signer !== undefined) log.startResignTimer();
    log.filling = log.fillFilter();
    return log;
  }

  /**
   * Adds the leaf hashes of entries 0 … fillSize−1 (what the store held at
   * open) to the filter from the level-0 tiles, a few tiles per turn of the
   * event loop, then declares it filled. Until then rounds look up every
   * hash in the store; if a tile cannot be read, until a later fill (see
   * retryFill) takes up from that tile. A filter given up (for its memory,
   * or for another writer) is not filled further.
   */
  private async fillFilter(): Promise<void> {
    const from = this.filledTiles;
    try {
      const size = this.fillSize;
      const tiles = Math.ceil(size / TILE_WIDTH);
      while (this.filledTiles < tiles) {
        if (this.closed) return;
        if (this.filter.abandoned) break;
        const keys: { level: number; n: number }[] = [];
        for (let n = this.filledTiles; n < Math.min(tiles, this.filledTiles + FILL_TILES_PER_TURN); n++) keys.push({ level: 0, n });
        const read = await this.store.readTiles(keys);
        read.forEach((tile, i) => {
          const n = keys[i]!.n;
          const width = Math.min(TILE_WIDTH, size - n * TILE_WIDTH);
          if (tile === undefined || tile.width < width) throw new Error(`level-0 tile ${n} is missing or short`);
          const row = tile.bottomRow(width);
          for (let p = 0; p < width; p++) this.filter.add(row, HASH_SIZE * p);
          this.filledTiles = n + 1;
        });
        await new Promise((resolve) => setImmediate(resolve));
      }
      this.filter.markFilled();
      this.fillFailures = 0;
      this.fillFailure = undefined;
    } catch (err) {
      this.fillFailedAt = this.monotonic();
      const moved = this.filledTiles > from;
      this.fillFailures = moved ? 1 : this.fillFailures + 1;
      const message = err instanceof Error ? err.message : String(err);
      if (moved || message !== this.fillFailure) this.observer.filterFailed?.(err);
      this.fillFailure = message;
    }
    this.tellFilterState();
  }

  /**
   * Fills the filter again from where a failed fill stopped (a store that ran
   * out of file descriptors, or an I/O error that has passed), if one did
   * and none is under way, once it has waited FILL_RETRY_MS after the first
   * failure in a row and twice as long after each later one, FILL_RETRY_MAX_MS
   * at most (a tile that stays unreadable is not read every 30 s for days):
   * called once a round is committed or storeRecovered found the store
   * available. A filter given up for its memory, or for another writer,
   * stays given up.
   */
  private retryFill(): void {
    const failedAt = this.fillFailedAt;
    if (failedAt === undefined || this.closed || this.filter.abandoned) return;
    const wait = Math.min(FILL_RETRY_MS * 2 ** (this.fillFailures - 1), FILL_RETRY_MAX_MS);
    if (this.monotonic() - failedAt < wait) return;
    this.fillFailedAt = undefined;
    this.filling = this.fillFilter();
  }

  private tellFilterState(): void {
    this.observer.filterChanged?.({ ready: this.filter.ready, bytes: this.filter.bytes });
  }

  /**
   * Resolves once the fill of the leaf-hash filter under way (at open, or a
   * retry of a failed one) has filled it from the store (or failed to), with
   * whether rounds now skip most dedup lookups, and the filter's memory.
   */
  async leafFilterState(): Promise<{ ready: boolean; bytes: number }> {
    await this.filling;
    return { ready: this.filter.ready, bytes: this.filter.bytes };
  }

  /** The stored index of each hash; asks the store only about those the filter cannot rule out. */
  private async lookUp(hashes: readonly Uint8Array[]): Promise<(number | undefined)[]> {
    if (!this.filter.ready) return this.store.findLeafHashes(hashes);
    const maybe: number[] = [];
    for (let i = 0; i < hashes.length; i++) if (this.filter.mightContain(hashes[i]!)) maybe.push(i);
    const out = new Array<number | undefined>(hashes.length).fill(undefined);
    if (maybe.length === 0) return out;
    const found = await this.store.findLeafHashes(maybe.map((i) => hashes[i]!));
    maybe.forEach((i, j) => (out[i] = found[j]));
    return out;
  }

  /** The latest signed tree head (everything in it is durable). */
  latest(): TreeHead {
    return this.head;
  }

  /**
   * How far (ms) the clock is behind the latest tree head's timestamp, when
   * by MAX_TIMESTAMP_WAIT_MS or more (stepped back, or standing still): the
   * tree heads the log signs now are dated just after that one, ahead of
   * real time, until the clock passes it. 0 otherwise, and on a read-only
   * log, which signs none. Read now, not at the last round: an idle log's
   * clock that caught up shows so at once.
   */
  clockBehindMs(): number {
    if (this.readOnly) return 0;
    const behind = this.head.timestamp - this.clock();
    return behind >= MAX_TIMESTAMP_WAIT_MS ? behind : 0;
  }

  /** Whether the store can be read and written (see LogStore.available). */
  storeAvailable(): boolean {
    return this.store.available?.() ?? true;
  }

  /**
   * Whether the store can be read and written, after waiting for a
   * reopening under way or trying to open again a store that a failed write
   * left unavailable (LogStore.recover): /healthz, which an idle server may
   * get and nothing else, must see a store whose fault has passed as
   * available, and one still failing as unavailable.
   */
  async storeRecovered(): Promise<boolean> {
    const recovered = (await this.store.recover?.()) ?? this.storeAvailable();
    // Opened again after a failed write, the store may hold that round: the
    // size /healthz answers with is the store's.
    if (recovered && this.unconfirmed !== undefined) await this.reload().catch(() => undefined);
    if (recovered) this.retryFill();
    return recovered;
  }

  /**
   * The oldest round under way, undefined when none is: rounds that take
   * milliseconds come and go; one that stays (its `since` long past) is
   * held up by the store, whose write (or lookups) has not returned. Its
   * `ended` is set once it is over, so that whoever kept it learns how.
   */
  roundUnderWay(): RoundProgress | undefined {
    return this.headRound;
  }

  /** Seconds since the oldest round under way became so (see {@link RoundProgress.since}); 0 when none is. */
  roundInProgressSeconds(): number {
    const round = this.headRound;
    return round === undefined ? 0 : Math.max(0, this.monotonic() - round.since) / 1000;
  }

  /** A round taken from the queue with `entries` entries: the oldest under way, unless one is being written. */
  private beginRound(entries: number): RoundRecord {
    const round = new RoundRecord(entries);
    if (this.headRound === undefined) {
      round.since = this.monotonic();
      this.headRound = round;
    } else {
      this.nextRound = round;
    }
    return round;
  }

  /** A round is over; the one taken after it, if any, is now the oldest under way, from now. */
  private endRound(round: RoundRecord, outcome: Outcome | 'retried'): void {
    const at = this.monotonic();
    round.ended = { at, outcome: outcome === 'again' ? 'retried' : outcome };
    if (this.headRound === round) {
      this.headRound = this.nextRound;
      this.nextRound = undefined;
      if (this.headRound !== undefined) this.headRound.since = at;
    } else if (this.nextRound === round) {
      this.nextRound = undefined;
    }
  }

  /** Unsequenced entries waiting for a round. */
  get queueDepth(): number {
    return this.queuedEntries;
  }

  /**
   * Throws the LogError that {@link submit} would refuse `entries` with for
   * good: any, on a read-only log (FORBIDDEN, see checkWritable); none given
   * (MALFORMED_REQUEST), an empty entry (EMPTY_ENTRY), one over 65,535
   * bytes (ENTRY_TOO_LARGE), or more entries or bytes than the
   * queue could ever hold (TOO_MANY_ENTRIES, BODY_TOO_LARGE). Callers that
   * charge a submission somewhere (a token's rate limit) check it first.
   * Returns the entries' total bytes. QUEUE_FULL, which a retry may clear,
   * is not checked here.
   */
  checkSubmission(entries: readonly Uint8Array[]): number {
    this.checkWritable();
    if (entries.length === 0) throw new LogError('MALFORMED_REQUEST', 'no entries given');
    let bytes = 0;
    for (const entry of entries) {
      if (!(entry instanceof Uint8Array)) throw new TypeError('entries must be Uint8Arrays');
      if (entry.length === 0) throw new LogError('EMPTY_ENTRY', 'an entry must hold at least one byte');
      if (entry.length > MAX_ENTRY_SIZE) throw new LogError('ENTRY_TOO_LARGE', `an entry may hold at most ${MAX_ENTRY_SIZE} bytes, got ${entry.length}`);
      bytes += entry.length;
    }
    // A submission the queue could never hold is refused for good: "retry
    // shortly" would be a promise no retry keeps.
    if (entries.length > this.maxQueueEntries) {
      throw new LogError('TOO_MANY_ENTRIES', `this log queues at most ${this.maxQueueEntries} entries at once; submit at most that many together`);
    }
    if (bytes > this.maxQueueBytes) {
      throw new LogError('BODY_TOO_LARGE', `this log queues at most ${this.maxQueueBytes} bytes of entries at once; these hold ${bytes}`);
    }
    return bytes;
  }

  /** Whether the log is read-only (opened without a signer, see LogOptions.signer): it signs nothing and takes no entries. */
  get readOnly(): boolean {
    return this.signer === undefined;
  }

  /**
   * Throws FORBIDDEN if the log is read-only: the write routes call it before
   * they read a body, and every submission is refused with it.
   */
  checkWritable(): void {
    if (this.signer === undefined) {
      throw new LogError('FORBIDDEN', `this log (${this.origin}) is read-only: it takes no entries; it serves what it holds, and signs no new tree heads`);
    }
  }

  /**
   * Submits entries (CONTRACT §3 write API) and resolves once they, their
   * hashes and a checkpoint covering them are durable. Entries already in the
   * log, or earlier in the same submission, get the first copy's index with
   * `duplicate: true`. Rejects with QUEUE_FULL when the queue is at its bound
   * and STORAGE_FAILED when the round could not be written.
   */
  submit(entries: readonly Uint8Array[]): Promise<SubmitResult> {
    if (this.closed) return Promise.reject(new LogError('SHUTTING_DOWN', 'the log is shutting down', { retryAfter: 5 }));
    let bytes: number;
    try {
      bytes = this.checkSubmission(entries);
    } catch (err) {
      if (err instanceof LogError) return Promise.reject(err);
      throw err;
    }
    const full =
      this.queuedEntries + entries.length > this.maxQueueEntries
        ? `${this.maxQueueEntries} entries`
        : this.queuedBytes + bytes > this.maxQueueBytes
          ? `${this.maxQueueBytes} bytes of entries`
          : undefined;
    if (full !== undefined) {
      // Which bound, so that an operator reading the answer knows which limit to raise.
      return Promise.reject(new LogError('QUEUE_FULL', `too many entries are waiting to be logged (at most ${full} may wait); retry shortly`, { retryAfter: 1 }));
    }
    const hashes = entries.map((e) => leafHash(e));
    return new Promise<SubmitResult>((resolve, reject) => {
      this.queue.push({ entries, hashes, bytes, resolve, reject });
      this.queuedEntries += entries.length;
      this.queuedBytes += bytes;
      this.observer.queueChanged?.(this.queuedEntries);
      this.kick();
    });
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    this.idle = this.loop();
  }

  /** Takes whole submissions from the head of the queue, up to maxRoundEntries. */
  private take(): Pending[] {
    const taken: Pending[] = [];
    let count = 0;
    while (this.queue.length > 0 && (taken.length === 0 || count + this.queue[0]!.entries.length <= this.maxRoundEntries)) {
      const next = this.queue.shift()!;
      taken.push(next);
      count += next.entries.length;
      this.queuedBytes -= next.bytes;
    }
    this.queuedEntries -= count;
    if (count > 0) this.observer.queueChanged?.(this.queuedEntries);
    return taken;
  }

  /** Puts submissions of a round that was never written back at the head of the queue. */
  private requeue(taken: Pending[]): void {
    for (const p of taken) {
      this.queuedEntries += p.entries.length;
      this.queuedBytes += p.bytes;
    }
    this.queue.unshift(...taken);
    this.observer.queueChanged?.(this.queuedEntries);
  }

  /**
   * The group-commit loop, two rounds deep: while one round's batch is being
   * written and synced, the next is taken from the queue, looked up in the
   * store and appended to a copy of the tree. It is signed and written only
   * once the round before it is durable, and dropped (its submissions go back
   * to the queue) if that round failed. Writes never overlap.
   */
  private async loop(): Promise<void> {
    try {
      let writing: Promise<Outcome> | undefined; // how the round in flight ended
      let inFlight: Prepared | undefined;
      for (;;) {
        if (this.queue.length === 0 && !this.resignWanted) {
          if (writing === undefined) break;
          if ((await writing) === 'again') this.requeue(inFlight!.taken);
          writing = undefined;
          inFlight = undefined;
          continue;
        }
        const queued = this.queuedEntries;
        const taken = this.take();
        this.resignWanted = false;
        const progress = this.beginRound(queued - this.queuedEntries);
        let prepared: Prepared;
        try {
          prepared = await this.prepare(taken, inFlight);
        } catch (err) {
          this.fail(taken, err);
          this.endRound(progress, 'failed');
          continue;
        }
        if (writing !== undefined) {
          const outcome = await writing;
          const previous = inFlight!;
          writing = undefined;
          inFlight = undefined;
          if (outcome !== 'committed') {
            this.requeue(taken);
            this.endRound(progress, 'retried');
            // In front of this round's, which came later.
            if (outcome === 'again') this.requeue(previous.taken);
            continue;
          }
        }
        progress.stage = 'writing';
        writing = this.commit(prepared).then((outcome) => {
          this.endRound(progress, outcome);
          return outcome;
        });
        inFlight = prepared;
      }
    } finally {
      // Cleared in the same step as the last look at the queue: a submission
      // that finds `running` set is always seen by that look.
      this.running = false;
    }
  }

  /**
   * Everything of a round that needs no signature: dedup within the round,
   * one batched lookup in the store, then against the round still in flight
   * (`before`, whose batch the lookup may not see yet), index assignment and
   * the new tiles, built on a copy of the tree as `before` leaves it.
   */
  private async prepare(taken: Pending[], before: Prepared | undefined): Promise<Prepared> {
    const started = performance.now();
    const dedup = new RoundDedup();
    const unique: Uint8Array[] = [];
    const uniqueEntries: Uint8Array[] = [];
    const slots: number[][] = taken.map((p) =>
      p.hashes.map((h, i) => {
        let slot = dedup.find(h, unique);
        if (slot === undefined) {
          slot = unique.length;
          dedup.add(h, slot);
          unique.push(h);
          uniqueEntries.push(p.entries[i]!);
        }
        return slot;
      }),
    );
    const existing = await this.lookUp(unique);
    const base = before?.builder ?? this.builder;
    const caughtUp = this.caughtUp;
    const oldSize = base.treeSize;
    const newHashes: Uint8Array[] = [];
    const newEntries: Uint8Array[] = [];
    const indexOf = existing.map((found, slot) => {
      if (found !== undefined) return found;
      const earlier = before?.dedup.find(unique[slot]!, before.unique);
      if (earlier !== undefined) return before!.indexOf[earlier]!;
      newHashes.push(unique[slot]!);
      newEntries.push(uniqueEntries[slot]!);
      return oldSize + newHashes.length - 1;
    });
    // Into the filter before the round is written: a round that then fails
    // leaves only false positives behind.
    for (const h of newHashes) this.filter.add(h);
    const builder = base.clone();
    const tiles = builder.append(newHashes);
    return { taken, slots, unique, dedup, indexOf, oldSize, newEntries, newHashes, builder, tiles, started, caughtUp };
  }

  /**
   * Signs and writes a prepared round, adopts its state once the write
   * resolved, and answers its waiters. Resolves to `failed`, having answered
   * STORAGE_FAILED, if the write failed; to `again`, answering nothing, if
   * the store refused a round built before the log took up what the store
   * holds (see caughtUp). Never rejects.
   */
  private async commit(round: Prepared): Promise<Outcome> {
    try {
      await this.commitHead(round.builder, round.newEntries, round.newHashes, round.tiles);
    } catch (err) {
      // A round the store refused wrote nothing, and neither did one the
      // store could not be opened for: an earlier round may still turn up.
      const refused = err instanceof StateConflictError;
      if (!refused) {
        this.fail(round.taken, err);
        if (!(err instanceof StoreUnavailableError)) this.unconfirmed = round.builder;
      }
      await this.reload().catch(() => undefined);
      if (!refused) return 'failed';
      // Refused because the store, opened again after a failed write, holds
      // that round after all, which the log takes up now (or took up while
      // this one was under way): built again on it, this round gets its
      // answers (a retry of the failed round's entries "duplicate" with
      // their indexes) rather than a 503.
      if (this.caughtUp !== round.caughtUp) return 'again';
      this.fail(round.taken, err);
      return 'failed';
    }
    this.unconfirmed = undefined;
    const head = this.head;
    this.observer.roundCommitted?.({
      entries: round.newEntries.length,
      duplicates: round.taken.reduce((sum, p) => sum + p.entries.length, 0) - round.newEntries.length,
      seconds: (performance.now() - round.started) / 1000,
      treeSize: head.treeSize,
    });
    this.tellFilterState();
    this.retryFill();
    if (round.taken.length > 0) this.answer(round, head);
    return 'committed';
  }

  /**
   * Answers a committed round's waiters; every proof is against the round's
   * own checkpoint. New leaves get theirs from the round's tiles at once;
   * only leaves logged before the round (duplicates) need the store.
   */
  private answer(round: Prepared, head: TreeHead): void {
    const { taken, slots, indexOf, oldSize } = round;
    const prover = new RoundProofs(head.treeSize, oldSize, round.builder.rightEdge, round.tiles, round.newHashes);
    const seen = new Uint8Array(round.unique.length);
    for (let k = 0; k < taken.length; k++) {
      const pending = taken[k]!;
      const pendingSlots = slots[k]!;
      const receipts: Receipt[] = new Array<Receipt>(pendingSlots.length);
      let later: Promise<void>[] | undefined;
      for (let i = 0; i < pendingSlots.length; i++) {
        const slot = pendingSlots[i]!;
        const index = indexOf[slot]!;
        const duplicate = index < oldSize || seen[slot] === 1;
        seen[slot] = 1;
        const leafHash = pending.hashes[i]!;
        const proof = index < oldSize ? undefined : prover.prove(index);
        if (proof !== undefined) {
          receipts[i] = { index, leafHash, inclusionProof: proof, duplicate };
        } else {
          (later ??= []).push(
            proveInclusion(head.treeSize, index, this.reader, this.memo).then((inclusionProof) => {
              receipts[i] = { index, leafHash, inclusionProof, duplicate };
            }),
          );
        }
      }
      const result: SubmitResult = { checkpoint: head.checkpoint, treeSize: head.treeSize, receipts };
      if (later === undefined) {
        pending.resolve(result);
        continue;
      }
      const answered: Promise<void> = Promise.all(later)
        .then(
          () => pending.resolve(result),
          (err: unknown) => pending.reject(err),
        )
        .finally(() => this.answering.delete(answered));
      this.answering.add(answered);
    }
  }

  /** Answers a round that could not be made durable. */
  private fail(taken: readonly Pending[], err: unknown): void {
    this.observer.roundFailed?.(err);
    const failure = new LogError('STORAGE_FAILED', 'the entries could not be made durable; they are not logged unless the disk wrote them before it reported the error; a retry is safe: it answers "duplicate": true if they were', {
      retryAfter: 1,
      cause: err,
    });
    for (const p of taken) p.reject(failure);
  }

  /**
   * Signs the head of a built tree (once the clock has passed the last STH
   * timestamp, see nextTimestamp) and writes the round; adopts the new
   * state only after the write resolved. Nothing is signed before the round
   * it extends is durable, and nothing is signed that is not in the batch.
   */
  private async commitHead(builder: TreeBuilder, entries: Uint8Array[], hashes: Uint8Array[], tiles: HashTile[]): Promise<void> {
    const treeSize = builder.treeSize;
    const rootHash = builder.root();
    const signer = this.signer;
    if (signer === undefined) throw new Error('a read-only log signs nothing');
    const { timestamp, behindMs } = await this.nextTimestamp();
    const checkpoint = signNote(formatCheckpoint({ origin: this.origin, treeSize, rootHash, extensions: [] }), [signer]);
    const sth = signTreeHead({ timestamp, treeSize, rootHash }, signer);
    const state: LogState = { treeSize, rootHash, timestamp, checkpoint, sth, rightEdge: builder.rightEdge };
    await this.store.writeRound({ entries, leafHashes: hashes, tiles, state });
    this.builder = builder;
    this.head = { treeSize, rootHash, timestamp, checkpoint, sth };
    this.signedAt = this.monotonic();
    for (const tile of tiles) this.cache.add(tile);
    this.tellClock(timestamp, behindMs);
  }

  /**
   * The timestamp of the next STH (and, unless it is the clock's, `behindMs`,
   * how far the clock is behind the last one): the clock, once it has passed
   * the last STH's timestamp. If the last one is ahead by
   * less than MAX_TIMESTAMP_WAIT_MS (rounds came faster than one per ms),
   * waits for the clock to pass it rather than sign ahead of the clock; if it
   * is further ahead (the clock stepped back), or the clock does not move, it
   * is the last timestamp + 1 at once: timestamps strictly increase (CONTRACT
   * §2). A wait that ends with the clock where it was (it stands still: the
   * default sleep ends on the monotonic clock too) is not waited again: until
   * the clock is seen to move, rounds sign the last timestamp + 1 at once,
   * rather than each wait the lead, which grows by a millisecond a round.
   */
  private async nextTimestamp(): Promise<{ timestamp: number; behindMs?: number }> {
    let waited: number | undefined;
    for (let waits = 0; ; waits++) {
      const now = this.clock();
      const last = this.head.timestamp;
      if (now > last) {
        this.stillClock = undefined;
        return { timestamp: now };
      }
      if (now === waited) this.stillClock = now;
      else if (now !== this.stillClock) this.stillClock = undefined;
      if (this.stillClock !== undefined || last - now >= MAX_TIMESTAMP_WAIT_MS || waits === TIMESTAMP_WAITS) return { timestamp: last + 1, behindMs: last - now };
      await this.sleep(last - now + 1);
      waited = now;
    }
  }

  /**
   * Tells the observer of an STH signed (and written) past a clock behind the
   * last one by MAX_TIMESTAMP_WAIT_MS or more (`behindMs`; undefined for one
   * dated by the clock), and of the first one dated by the clock again.
   */
  private tellClock(timestamp: number, behindMs: number | undefined): void {
    if (behindMs !== undefined && behindMs >= MAX_TIMESTAMP_WAIT_MS) {
      this.clockBehind = true;
      this.observer.clockBehind?.({ behindMs, timestamp });
    } else if (behindMs === undefined && this.clockBehind) {
      this.clockBehind = false;
      this.observer.clockCaughtUp?.({ timestamp });
    }
  }

  /**
   * After a failed write, or once the store was opened again after one,
   * resume from what the store really holds. Outside the loop (/healthz)
   * too: a reload that finds the log moved on meanwhile (a round committed,
   * another reload) leaves it, and a round built on the tree before a
   * reload is refused by the store.
   */
  private async reload(): Promise<void> {
    const from = this.head;
    const state = await this.store.readState();
    if (state === undefined || this.head !== from) return;
    if (state.treeSize === this.head.treeSize && bytesEqual(state.rootHash, this.head.rootHash)) {
      // The same tree, but a round that did not grow it (duplicates only, or
      // a re-sign) may have reached the disk though its write reported an
      // error: adopt its newer STH, or every later round would sign a
      // timestamp the store refuses (they strictly increase) for as long as
      // the clock stays behind it.
      if (state.timestamp > this.head.timestamp) {
        this.adopt(this.builder, state);
        this.caughtUp++;
      }
      return;
    }
    if (this.adoptUnconfirmed(state)) return;
    const builder = await TreeBuilder.load(this.store, state);
    if (this.head !== from) return;
    // A round whose write landed before the state was read, but failed only
    // while it was: its handler set `unconfirmed` since the look above.
    if (this.adoptUnconfirmed(state)) return;
    // Someone else wrote to the store (a wiring bug: two sequencers on one
    // store): the filter does not know their hashes, so stop trusting it.
    this.filter.abandon();
    this.tellFilterState();
    this.adopt(builder, state);
  }

  /**
   * Takes up the store's state if it is the tree of the round that failed
   * (written after all), whose hashes the filter holds already; false if not.
   */
  private adoptUnconfirmed(state: LogState): boolean {
    const mine = this.unconfirmed;
    if (mine === undefined || state.treeSize !== mine.treeSize || !bytesEqual(state.rootHash, mine.root())) return false;
    this.adopt(mine, state);
    this.caughtUp++;
    return true;
  }

  /** Takes up the store's state, of which `builder` is the tree. */
  private adopt(builder: TreeBuilder, state: LogState): void {
    this.builder = builder;
    this.head = { treeSize: state.treeSize, rootHash: state.rootHash, timestamp: state.timestamp, checkpoint: state.checkpoint, sth: state.sth };
    this.unconfirmed = undefined;
    this.observer.storeStateAdopted?.({ treeSize: state.treeSize });
  }

  private startResignTimer(): void {
    const every = Math.max(1000, Math.floor(this.resignIntervalMs / 4));
    this.resignTimer = setInterval(() => {
      if (this.closed) return;
      // Due by the monotonic clock since the last signing (or the start), so
      // that a step of the clock back never delays it; or by the clock, for
      // a stored STH that was already old when the log started.
      const due = this.monotonic() - this.signedAt >= this.resignIntervalMs || this.clock() - this.head.timestamp >= this.resignIntervalMs;
      if (!due) return;
      this.resignWanted = true;
      this.kick();
    }, every);
    this.resignTimer.unref();
  }

  private checkTreeSize(treeSize: number, name = 'tree_size'): void {
    requireSize(treeSize, name);
    if (treeSize > this.head.treeSize) {
      throw new LogError('TREE_SIZE_TOO_LARGE', `${name} ${treeSize} is beyond the current tree size ${this.head.treeSize}`);
    }
  }

  /** RFC 6962 §2.1.1 audit path for leaf `index` in the tree of `treeSize` (0 < treeSize ≤ current). */
  async inclusionProof(index: number, treeSize: number): Promise<Uint8Array[]> {
    requireSize(index, 'leaf_index');
    this.checkTreeSize(treeSize);
    if (treeSize === 0) throw new LogError('INVALID_PARAMETER', 'tree_size must be at least 1 for a proof');
    if (index >= treeSize) throw new LogError('INVALID_PARAMETER', `leaf_index ${index} is not below tree_size ${treeSize}`);
    return proveInclusion(treeSize, index, this.reader, this.memo);
  }

  /** RFC 6962 §2.1.2 consistency proof between sizes 0 < first ≤ second ≤ current. */
  async consistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    requireSize(first, 'first');
    this.checkTreeSize(second, 'second');
    if (first === 0) throw new LogError('INVALID_PARAMETER', 'first must be at least 1');
    if (first > second) throw new LogError('INVALID_PARAMETER', `first ${first} is larger than second ${second}`);
    return proveConsistency(first, second, this.reader, this.memo);
  }

  /** The index of a logged leaf hash, or undefined. */
  async findLeaf(hash: Uint8Array): Promise<number | undefined> {
    if (this.filter.ready && !this.filter.mightContain(hash)) return undefined;
    const [index] = await this.store.findLeafHashes([hash]);
    return index !== undefined && index < this.head.treeSize ? index : undefined;
  }

  /** The logged entry at `index` (below the current tree size); get-entry-and-proof's leaf_input. */
  async entry(index: number): Promise<Uint8Array> {
    requireSize(index, 'leaf_index');
    const size = this.head.treeSize;
    if (index >= size) throw new LogError('INVALID_PARAMETER', `leaf_index ${index} is not below the tree size ${size}`);
    return this.store.readEntry(index);
  }

  /** Entries start..end inclusive (end clamped to the tree, at most `limit`); CONTRACT get-entries. */
  async entries(start: number, end: number, limit = 1000): Promise<Uint8Array[]> {
    requireSize(start, 'start');
    requireSize(end, 'end');
    const size = this.head.treeSize;
    if (start > end) throw new LogError('INVALID_PARAMETER', `start ${start} is after end ${end}`);
    if (start >= size) throw new LogError('INVALID_PARAMETER', `start ${start} is not below the tree size ${size}`);
    const last = Math.min(end, size - 1, start + limit - 1);
    const out = await this.store.readEntries(start, last - start + 1);
    if (out.length !== last - start + 1) throw new Error(`store returned ${out.length} entries for ${start}..${last}`);
    return out;
  }

  /** Bottom row of hash tile (level, n) at `width` hashes; NOT_FOUND unless that much of it exists. */
  async tile(level: number, n: number, width: number): Promise<Uint8Array> {
    if (tileWidth(level, n, this.head.treeSize) < width) throw new LogError('NOT_FOUND', 'no such tile in this tree');
    const tile = this.builder.partialTile(level, n) ?? this.cache.get(level, n) ?? (await this.store.readTiles([{ level, n }]))[0];
    if (tile === undefined) throw new Error(`tile ${level}/${n} missing from the store`);
    this.cache.add(tile);
    return tile.bottomRow(width);
  }

  /** Entry bundle n cut to `width` entries; NOT_FOUND unless that much of it exists. */
  async bundle(n: number, width: number): Promise<Uint8Array> {
    if (tileWidth(-1, n, this.head.treeSize) < width) throw new LogError('NOT_FOUND', 'no such entry bundle in this tree');
    const bundle = await this.store.readBundle(n);
    return bundle.subarray(0, bundlePrefixLength(bundle, width));
  }

  /** Stops taking submissions, finishes the rounds under way and closes the store. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.resignTimer !== undefined) clearInterval(this.resignTimer);
    await this.filling;
    await this.idle;
    await Promise.all([...this.answering]);
    await this.store.close();
  }
}

/** Byte length of the first `entries` entries of a bundle (a partial bundle is a prefix). */
function bundlePrefixLength(bundle: Uint8Array, entries: number): number {
  let offset = 0;
  for (let i = 0; i < entries; i++) {
    if (offset + 2 > bundle.length) throw new RangeError('entry bundle shorter than its width');
    offset += 2 + bundle[offset]! * 256 + bundle[offset + 1]!;
  }
  return offset;
}
