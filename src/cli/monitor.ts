import { dirname } from 'node:path';
import type { CairnClient, SignedCheckpoint } from '../client/client.js';
import { ClientError } from '../client/errors.js';
import { networkReason } from '../client/http.js';
import { MAX_TILED_TREE_SIZE, TILES_PER_READER } from '../client/tile-reader.js';
import { bytesEqual } from '../merkle/check.js';
import { EMPTY_ROOT } from '../merkle/hash.js';
import { eachNewTile, newTileCounts, TILE_WIDTH } from '../merkle/tile.js';
import { decodeBase64, encodeBase64 } from '../note/base64.js';
import type { Checkpoint } from '../note/checkpoint.js';
import type { TreeHead } from '../note/sth.js';
import { parseCommandArgs, parseCount, UsageError } from './args.js';
import { MAX_CLOCK_AHEAD_MS } from '../clock-limits.js';
import { writableFolderProblem } from './os-error.js';
import { accessAdvice, EXIT_ERROR, EXIT_OK, EXIT_VERIFY_FAILED, jsonLine, listenForStop, makeClient, oneLine, OutputError, parseHttpUrl, parseSeconds, processIo, Progress, READ_RETRIES_HELP, readRetryPolicy, resolveUrl, resolveVerifier, runClientCommand, withheldError, withoutToken, writeOut, type CliIo } from './client-common.js';
import { lockState } from './monitor-lock.js';
import { readState, removeStaleTemps, stateFileTarget, writeState, type MonitorState, type Verified, type WalkProgress } from './monitor-state.js';

/** The help text of `cairn monitor`: what it does, its options and its exit statuses. */
export const MONITOR_USAGE = `usage: cairn monitor --vkey KEY --state FILE [options]

Follows a log's checkpoints and checks that it only grows. Every round it
fetches the checkpoint and the signed tree head and verifies their signatures;
checks the signed tree head against the last verified one (never smaller, a
later timestamp) and this machine's clock; checks the consistency from the
last verified checkpoint (kept in the state file, written atomically) to the
new one, computed from tiles and again from the log's endpoint (a log that
refuses its endpoint is still checked from its tiles); authenticates every new
or grown hash tile against the new root; and checks every new entry bundle
against its level-0 tile. The first run (no state file) checks the whole log
from its first entry.

A checkpoint smaller than the last verified tree or than the signed tree
head of its round is asked for again, past the caches that honour no-cache
(a CDN's "cache everything" rule may keep /checkpoint despite its
no-cache). Still smaller than a tree the state file holds, it must be that
tree's start (else a fork), and the signed tree head is asked for again
past those caches too (a cache's old copy must not hide a rollback); with
that head not smaller, it is a warning naming the cache (saying so when the
head is the very one last verified: the log signed nothing newer since), not
an alarm, and the round goes on from that tree; with it smaller too, an
alarm (smaller-tree). The tree the round goes on with still behind the
signed tree head is a warning naming both sizes, the entries past it are
left unchecked, and the lag counts toward --max-age: stale once the first
signed tree head past that tree (kept in the state file; never one dated
too far ahead) is older.

A round walks at most --max-round-entries new entries. A log further ahead
(a first run against a large log, say) is walked over several rounds, run
back to back: each verifies the newest heads and their consistency first,
then goes on where the last one stopped, and saves how far it got; the state's
verified checkpoint moves only once every entry up to it was checked.

${READ_RETRIES_HELP} A request that still fails is an error: the round
ends (exit 2 under --once), and the next one asks again.

It alarms on: a signature that does not verify (bad-signature), two roots for
one tree size (fork), a tree that does not extend the last verified one
(inconsistent), a smaller tree or signed tree head (smaller-tree), tiles or
entries that do not match the signed root (tile-mismatch, entry-mismatch), a
signed tree head timestamp earlier than the last verified one, equal to it for
another tree, or more than 10 minutes ahead of this machine's clock
(timestamp; one that far ahead is raised only once the round's other checks
ran, and a fork or mismatch they find is the alarm, naming it too: a clock
ahead cannot hide them; such a head is never kept as the last verified one,
so the log's next head dated right is no timestamp going back, but the
checkpoint and entries checked are kept, and so are its size and root: a
later head smaller than it, another root for its size or one that does not
extend it still alarms; its size and root are kept from a round that could
not fetch a consistency proof too, unless they would replace a far-ahead
head's kept before that the round did not show them to extend), a signed
tree of more than 2^52 leaves, too large for this monitor ever to check
(unverifiable), and, with
--max-age, a newest signed tree head older than that (stale, checked as
soon as it is verified, before the walk; an idle Cairn log re-signs at least every 10 minutes). An alarm is a line on
standard error (with --json, a JSON line on standard output, with the other
events), a POST of a JSON description to --webhook, and exit status 1 under
--once. An alarm whose cause lasts is raised again every round (stale, say,
while the log cannot be reached or its signed tree head stays old): a line
or event each round, but a POST only the first time a run raises it (the
same kind about the same checkpoint), so a monitor left running POSTs it
once, and a --once run from cron every run (a POST that failed, told as an
error, is tried again when the alarm is next raised). The state only moves forward
to a checkpoint and signed tree head that passed every check (a checkpoint
whose signed tree head is only dated too far ahead moves it, not the head). A newer
checkpoint whose signature and consistency with every earlier one verified is
kept too, as the newest seen, before the walk begins: a walk that then fails,
or a monitor killed during it, does not forget it, and a later round shown a
smaller tree still alarms.

SIGINT or SIGTERM (Ctrl-C) stops the monitor at once, with or without
--once: requests in flight and waits before their retries end. What earlier
rounds saved is kept, and so is what the stopped round's walk checked, up to
its first entry bundle not checked, if every other check of the round
passed; nothing unverified is saved. A line (with --json, a "stopped" event)
says where the walk stopped, or that it stopped while waiting for the next
round. Another signal less than 1 s after the first is the same request
(npm run passes Ctrl-C on as well) and is ignored; one later ends the process
at once. A walk also saves how far it got every 256 entry bundles (65,536
entries), as a stop saves it: only while every other check of the round
has passed. A monitor killed (kill -9, a crash) then loses at most that
many bundles of the round's walk. A walk that fails on a request (the log
unreachable, or refusing past its retries) saves how far it got the same
way, and the next round goes on from there; a round where another check
failed (a consistency proof the log could not serve, say) saves none of
its walk, and the next run goes on from what earlier rounds saved.

One monitor at a time works on a state file: it holds FILE.lock (made only
where there is none, holding its process id and, on Linux, its start time
and the boot id) from before it reads the state until it ends, however it
ends. Another one started on the same file exits (status 2), naming the
lock and the process holding it. A FILE that is a symbolic link is followed
once, at start: the file it leads to (there yet or not) is locked
(TARGET.lock), read and written, and the link stays a link. A stale lock is taken over: one whose
process is gone (killed by kill -9, a crash); on Linux, one made in an
earlier boot (its pid may run again after a reboot) and one whose pid is
another process's now (its start time differs); and one holding no process
id (a power cut can leave it empty) dated more than 10 seconds back or
ahead of the clock, once it is still unchanged 2 seconds later (a file
server's clock off dates a lock just made so too). The clock never
makes a lock whose process runs stale; one holding only a process id (an
older cairn's, or where /proc cannot be read) is held while that pid runs.

Options:
  --url URL          the log (CAIRN_URL; default http://127.0.0.1:8080)
  --vkey KEY|FILE    the log's verifier key, or a file holding it (CAIRN_VKEY)
  CAIRN_TOKEN        env only: an access token, for a log that needs one
  --state FILE       where the last verified checkpoint (and how far an
                     unfinished walk got, and the newest checkpoint seen
                     until a walk reaches it) is kept: a file, read
                     and written back ('-' is not standard input or output
                     here); only its checkpoints are signed, the rest (how
                     far a walk got, the last tree head's time, size and
                     root, a far-ahead head's size and root, when a lag
                     began) is trusted as it stands: protect it like any
                     local state
  --interval S       seconds between rounds, from 1 to 86400 (default 60;
                     none while a walk is unfinished)
  --once             check up to the checkpoint the log serves when it
                     starts, then exit (a log further ahead than
                     --max-round-entries takes several rounds, back to
                     back); every round still verifies the log's newest
                     heads and checks them against that checkpoint and the
                     newest ones before (also those of earlier runs, kept in
                     the state file), but walks only up to it, so that a log
                     growing faster than the walk cannot keep --once from
                     ending; the output says the size walked and, when the
                     log grew meanwhile, the newest size seen
  --max-round-entries N
                     new entries one round checks (default 1048576, at least
                     256); the next round goes on from there
  --webhook URL      POST each alarm there as JSON
  --max-age S        alarm (stale) when the newest signed tree head is older
                     than S seconds (1 to 2592000, 30 days), also when the
                     log cannot be reached and the last one verified is that
                     old; raised every round while so (the webhook: once a
                     run); and when the log's checkpoint has been behind its
                     signed tree heads for that long (see above)
  --json             events as JSON lines on standard output
  -h, --help         show this help

Exit status:
  0  every check passed (without --once: stopped by SIGINT/SIGTERM, no alarm)
  1  an alarm was raised
  2  usage or operational error: the log unreachable or answering an error
     (without --once: reported and retried), the state file unreadable or
     locked by another monitor that still runs, or its folder missing or
     not writable (checked before the log is asked),
     output that cannot be written (a closed pipe, a full disk); and under
     --once, stopped by SIGINT/SIGTERM before the checkpoint it set out for
     was checked (no alarm, but not every check ran)

Exit status 0 does not mean that every entry the log signed was checked:
entries past the tree walked (a checkpoint behind the signed tree head, or
under --once a log grown past the checkpoint the run set out for) are a
warning, not an alarm, and stay unchecked until a later round reaches them.
The last line says how many (with --json, its event's unchecked).
`;

/**
 * How many new entries one round walks unless --max-round-entries says
 * otherwise: 2^20, that is 4096 entry bundles, their level-0 tiles and a few
 * tiles above, about 8,200 requests: seconds against a local log, about a
 * minute against a remote one (8 in flight, 50 ms each). While the monitor
 * catches up (a first run against a log of 10^9 entries takes about a
 * thousand rounds, back to back), it thus re-checks the log's newest heads
 * and saves its progress about once a minute, and the whole walk takes no
 * longer than one unbounded round would.
 */
const DEFAULT_MAX_ROUND_ENTRIES = 2 ** 20;

/**
 * How many entry bundles (of 256 entries) a walk checks between two saves of
 * how far it got: a monitor killed during a long walk (kill -9, a crash, a
 * power cut) goes on from there, losing at most that many, when every other
 * check of the round passed (else the walk saves nothing). A save is a write
 * and an fsync of a small file; the default round of 4096 bundles makes 16.
 */
const SAVE_EVERY_BUNDLES = 256;

/** --interval's range in seconds: at least 1, so that the log is never polled in a tight loop; at most a day. */
const INTERVAL_SECONDS = { min: 1, max: 86_400 } as const;

/** --max-age's range in seconds: at most 30 days. */
const MAX_AGE_SECONDS = { min: 1, max: 30 * 86_400 } as const;

/** The smallest --max-round-entries: one entry bundle, so that every round ends on a bundle boundary and gets somewhere. */
const MIN_ROUND_ENTRIES = TILE_WIDTH;


type AlarmKind = 'bad-signature' | 'fork' | 'inconsistent' | 'smaller-tree' | 'tile-mismatch' | 'entry-mismatch' | 'timestamp' | 'unverifiable' | 'stale';

class Alarm extends Error {
  constructor(
    readonly kind: AlarmKind,
    message: string,
    readonly observed?: Checkpoint,
    readonly observedNote?: string,
    readonly observedTimestamp?: number,
  ) {
    super(message);
    this.name = 'Alarm';
  }
}

/**
 * The round was stopped (SIGINT/SIGTERM, or the caller's signal) before every
 * check ran. `progress`, when there is one, is what it verified before that:
 * the entries from `from` up to `to` of a tree whose every other check passed.
 */
class RoundStopped extends Error {
  constructor(
    message: string,
    readonly progress?: RoundOutcome,
  ) {
    super(message);
    this.name = 'RoundStopped';
  }
}

/** `ms` as an ISO date, or as a number where no Date can hold it. */
function describeTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms after the epoch` : date.toISOString();
}

/** The tree a signed tree head `head` of the log `origin` signs, as a checkpoint with no extensions (what the consistency checks compare). */
function treeOfHead(origin: string, head: TreeHead): Checkpoint {
  return { origin, treeSize: head.treeSize, rootHash: head.rootHash, extensions: [] };
}

function sameTree(a: Checkpoint, b: Checkpoint): boolean {
  return a.treeSize === b.treeSize && bytesEqual(a.rootHash, b.rootHash);
}

function alarmKindOf(err: ClientError, older: Checkpoint | undefined, newer: Checkpoint | undefined): AlarmKind {
  switch (err.code) {
    case 'BAD_SIGNATURE':
      return 'bad-signature';
    case 'TILE_MISMATCH':
      return 'tile-mismatch';
    case 'ENTRY_MISMATCH':
      return 'entry-mismatch';
    default:
      if (older !== undefined && newer !== undefined) {
        if (newer.treeSize < older.treeSize) return 'smaller-tree';
        if (newer.treeSize === older.treeSize) return 'fork';
      }
      return 'inconsistent';
  }
}


/**
 * Checks a new STH against the last verified one (CONTRACT §2: a log never
 * signs a smaller size after a larger one, nor two roots for one size, and
 * its STH timestamps strictly increase); throws Alarm. The very same STH
 * again is fine: an idle log re-signs only every few minutes. Returns, not
 * throws, the alarm for an STH dated more than MAX_CLOCK_AHEAD_MS ahead of
 * the monitor's clock: the round raises it only once its other checks ran
 * (see checkRound), so that a log whose clock is ahead (or a monitor's
 * behind) cannot hide a fork or a mismatch behind it.
 */
function checkTreeHead(head: TreeHead, sth: Checkpoint, before: Verified | undefined, now: number, aheadSth?: Checkpoint): Alarm | undefined {
  const alarm = (kind: AlarmKind, message: string) => new Alarm(kind, message, sth, undefined, head.timestamp);
  // A head an earlier round saw dated too far ahead (not kept as the last
  // verified one, see the save in watch): later heads are not held to its
  // timestamp, but never smaller than it, nor another root for its size.
  if (aheadSth !== undefined) {
    const was = 'the signed tree head an earlier round saw dated too far ahead of this monitor\'s clock';
    if (head.treeSize < aheadSth.treeSize) throw alarm('smaller-tree', `the signed tree head shrank from ${aheadSth.treeSize} leaves (${was}) to ${head.treeSize}`);
    if (head.treeSize === aheadSth.treeSize && !sameTree(sth, aheadSth)) {
      throw alarm('fork', `two roots for tree size ${head.treeSize} in signed tree heads: ${encodeBase64(aheadSth.rootHash)} (${was}) and ${encodeBase64(head.rootHash)} (a fork)`);
    }
  }
  const last = before?.sth;
  if (last !== undefined) {
    if (head.treeSize < last.treeSize) throw alarm('smaller-tree', `the signed tree head shrank from ${last.treeSize} to ${head.treeSize} leaves`);
    if (head.treeSize === last.treeSize && !sameTree(sth, last)) {
      throw alarm('fork', `two roots for tree size ${head.treeSize} in signed tree heads: ${encodeBase64(last.rootHash)} and ${encodeBase64(head.rootHash)} (a fork)`);
    }
  }
  const lastTime = before?.sthTimestamp;
  if (lastTime !== undefined) {
    if (head.timestamp < lastTime) throw alarm('timestamp', `the signed tree head's timestamp went back from ${describeTime(lastTime)} to ${describeTime(head.timestamp)}`);
    if (head.timestamp === lastTime && last !== undefined && !sameTree(sth, last)) {
      throw alarm('timestamp', `two signed tree heads with the timestamp ${describeTime(head.timestamp)}: tree sizes ${last.treeSize} and ${head.treeSize}`);
    }
  }
  if (head.timestamp > now + MAX_CLOCK_AHEAD_MS) {
    return alarm('timestamp', `the signed tree head of size ${head.treeSize} is dated ${describeTime(head.timestamp)}, more than ${MAX_CLOCK_AHEAD_MS / 60_000} minutes ahead of this monitor's clock`);
  }
  return undefined;
}


interface RoundOutcome {
  /** The checkpoint whose tree the round walked: the newest one, or under --once the one the walk set out for. */
  readonly checkpoint: Checkpoint;
  readonly note: string;
  /** The newest checkpoint, verified and consistent with every other, when larger than `checkpoint`. */
  readonly newest?: { readonly checkpoint: Checkpoint; readonly note: string };
  readonly head: TreeHead;
  /** The entries this round walked: from `from` up to (not including) `to`; `to` is the checkpoint's size when the walk is finished. */
  readonly from: number;
  readonly to: number;
  readonly tiles: number;
  readonly bundles: number;
  /**
   * The checkpoint the log served, when smaller than `checkpoint`: a tree the
   * state held, which the round went on with, the log's signed tree head not
   * being smaller than it (see checkRound).
   */
  readonly served?: { readonly checkpoint: Checkpoint; readonly note: string };
  /** The log's checkpoint lags behind its signed tree heads (see CheckpointBehind). */
  readonly behind?: CheckpointBehind;
  /**
   * The round's signed tree head is dated too far ahead of this machine's
   * clock: the alarm to raise once the outcome is saved. The rest of the
   * round's checks passed, the checkpoint's included (none of them depends on
   * a timestamp: checkpoints carry none), so the outcome is saved as any
   * other, but not its signed tree head: the state keeps the one verified
   * before (see the save in watch).
   */
  readonly ahead?: Alarm;
}

/**
 * A checkpoint the log serves, asked for again past caches, smaller than its
 * signed tree head: a cache in front of the log keeps /checkpoint (ignoring
 * its no-cache), or the log's checkpoint stopped or rolled back. No entry
 * past it can be walked. The lag is measured from the tree the round goes
 * on with (a tree the state holds, when the checkpoint served is smaller):
 * `since` is the first signed tree head larger than that tree (seen this
 * round, or by earlier rounds, kept in the state file as
 * checkpoint_behind), never one dated too far ahead of this machine's
 * clock: since then, at the latest, entries the log signed have gone
 * unchecked, and --max-age counts from its timestamp.
 */
interface CheckpointBehind {
  /** The size of the checkpoint the log served. */
  readonly servedSize: number;
  /** Absent when the only head to date it from is dated too far ahead of this machine's clock: the lag is warned of, not counted. */
  readonly since?: { readonly treeSize: number; readonly timestamp: number };
}

/** The state file as this module writes it: MonitorState, and the first signed tree head a lagging checkpoint fell behind (see CheckpointBehind). */
type SavedState = MonitorState & {
  checkpoint_behind?: { sth_tree_size: number; sth_timestamp: number };
  /**
   * The newest signed tree head a round saw dated too far ahead of this
   * machine's clock, its size and root (not its timestamp): not kept as the
   * last verified one (sth_*), yet later heads must not be smaller or
   * another root for its size, and must extend it. Dropped once a head
   * dated right, not smaller and consistent with it, is kept.
   */
  sth_ahead?: { tree_size: number; root_hash: string };
};

/**
 * `state` with the version it is written as (see MonitorState.version): the
 * lowest whose readers know every field it holds, so that an older cairn
 * refuses it rather than write it back without the checks it does not know.
 */
function versioned(state: Omit<SavedState, 'version'>): SavedState {
  const version = state.checkpoint_behind !== undefined || state.sth_ahead !== undefined ? 3 : state.newest !== undefined ? 2 : 1;
  return { ...state, version };
}

/** What one round may do, and whom it tells that the newest heads verified. */
interface RoundOptions {
  readonly showProgress: boolean;
  readonly signal: AbortSignal | undefined;
  /** The most new entries the round walks (--max-round-entries). */
  readonly maxEntries: number;
  /**
   * Called once the newest checkpoint and signed tree head are verified,
   * before the consistency checks and the walk; `behind` when the checkpoint
   * the log serves lags behind its signed tree head; `ahead`, the alarm for
   * a signed tree head dated too far ahead of this machine's clock, which the
   * round raises once its other checks ran (or failed otherwise than by an
   * alarm); an alarm they raise outranks it.
   */
  readonly onHeads: (head: TreeHead, checkpoint: Checkpoint, note: string, behind: CheckpointBehind | undefined, ahead: Alarm | undefined) => Promise<void>;
  /**
   * Called once the newest checkpoint is shown to extend every checkpoint and
   * signed tree head the round holds to, before the walk: whatever the walk
   * then does, a later round must not be shown less. `lag` is this round's
   * lag (kept in place of an earlier round's) and its signed tree head when
   * dated too far ahead (kept apart: SavedState.sth_ahead).
   */
  readonly onConsistent: (checkpoint: Checkpoint, note: string, lag: { readonly behind: CheckpointBehind | undefined; readonly ahead: Checkpoint | undefined }) => Promise<void>;
  /**
   * Called instead, with the round's signed tree head dated too far ahead,
   * when a consistency proof could not be fetched (the round then fails),
   * unless a head kept from earlier rounds (aheadSth) is larger or was not
   * shown to be its start: its size and root are kept apart all the same
   * (SavedState.sth_ahead), as a signed statement of the log's that later
   * heads must extend, whatever it was not yet shown to extend.
   */
  readonly onAheadUnproven: (sth: Checkpoint) => Promise<void>;
  /**
   * Called every SAVE_EVERY_BUNDLES entry bundles of the walk with what it
   * verified so far, as a stop would save it, and once more when a check
   * fails otherwise than by an alarm (a fetch the log refused), only when
   * every other check of the round passed; one call at a time, the last one
   * ended before the round does. Resolves to whether it was saved.
   */
  readonly onWalked: (walked: RoundOutcome) => Promise<boolean>;
  /**
   * The checkpoint to walk the tree of, instead of the newest one (--once:
   * the one its first round found, so that a log growing faster than the
   * walk cannot keep it from ending). The newest one is still verified and
   * checked against it and every other, as in any round.
   */
  readonly walkTo?: { readonly checkpoint: Checkpoint; readonly note: string };
  /** The signed note of the last verified checkpoint (before.checkpoint), as the state file holds it. */
  readonly lastNote?: string;
  /** The first signed tree head the log's checkpoint fell behind, as earlier rounds saw it (SavedState.checkpoint_behind). */
  readonly behindSince?: CheckpointBehind['since'];
  /** The newest signed tree head earlier rounds saw dated too far ahead (SavedState.sth_ahead). */
  readonly aheadSth?: Checkpoint;
}

/**
 * Where a walk from entry `from` stops in a tree of `treeSize` leaves when it
 * may take `maxEntries` (at least one bundle): the end of the tree if that is
 * near enough, else the last entry-bundle boundary within reach, so that the
 * next round starts on a fresh bundle.
 */
function walkEnd(from: number, treeSize: number, maxEntries: number): number {
  if (treeSize - from <= maxEntries) return treeSize;
  const end = from + maxEntries;
  return end - (end % TILE_WIDTH);
}

/**
 * The entry from which the entries of a stopped walk are not known to be
 * checked: the start of the first entry bundle not checked (`nextBundle`),
 * within the walk from `from` to `to` of the tree of `treeSize` leaves, or
 * `from` when none was. Never the whole tree: a walk that checked every
 * bundle but was stopped before its last hash tiles leaves the checkpoint
 * to the round that finishes it (the last bundle is checked again then).
 */
function stoppedWalkEnd(from: number, to: number, treeSize: number, nextBundle: number): number {
  let end = Math.min(nextBundle * TILE_WIDTH, to);
  if (end >= treeSize) end = (Math.ceil(treeSize / TILE_WIDTH) - 1) * TILE_WIDTH;
  return Math.max(from, end);
}

/**
 * A 404 for a tile or entry bundle of the tree of `treeSize` leaves, which
 * its signed checkpoint covers, in the words of cairn get: the log withholds
 * it, or a cache in front of it serves a 404 it kept from before the tile was
 * full (the client asked once more past the caches that honour no-cache).
 * Any other error as it is.
 */
function withheldTile(err: unknown, baseUrl: string, treeSize: number): unknown {
  if (!(err instanceof ClientError) || err.status !== 404 || err.url === undefined || !err.url.startsWith(`${baseUrl}/tile/`)) return err;
  return withheldError(err.url.slice(baseUrl.length + 1), treeSize, err);
}

/**
 * One round of checks from `before` (undefined: from the empty log); throws
 * Alarm, RoundStopped when `signal` aborts (with the entries it verified
 * before that, when there are any), or an operational error. It walks at
 * most `maxEntries` new entries, from where an unfinished walk stopped
 * (before.partial) or else from the last verified checkpoint; the outcome
 * says how far it got.
 */
async function checkRound(client: CairnClient, before: Verified | undefined, io: CliIo, options: RoundOptions): Promise<RoundOutcome> {
  const { showProgress, signal, maxEntries } = options;
  // The transport ends what is in flight at once when the signal aborts: an
  // error then (not an alarm, which still counts) is the stop's doing.
  const stoppedBy = (err: unknown) => signal?.aborted === true && !(err instanceof Alarm) && !(err instanceof OutputError);
  const last = before?.checkpoint;
  const guard = async <T>(work: () => Promise<T>, older?: Checkpoint, newer?: Checkpoint, note?: string): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (err instanceof ClientError && err.isVerificationFailure) throw new Alarm(alarmKindOf(err, older, newer), err.message, newer, note);
      throw err;
    }
  };
  // The largest signed checkpoint the state holds: the last verified one, an unfinished walk's, or the newest one seen.
  let held: { readonly checkpoint: Checkpoint; readonly note: string } | undefined = last === undefined || options.lastNote === undefined ? undefined : { checkpoint: last, note: options.lastNote };
  for (const other of [before?.partial, before?.newest]) if (other !== undefined && other.checkpoint.treeSize > (held?.checkpoint.treeSize ?? -1)) held = other;
  let heads: [SignedCheckpoint, TreeHead];
  // The other checkpoint the log served this round, when it was asked twice and answered two trees: the smaller one.
  let other: SignedCheckpoint | undefined;
  // The signed tree head served first this round, when get-sth asked again past caches answered another tree:
  // not kept, yet it must be that tree's start (a fork or rollback the log signed must not be set aside unchecked).
  let setAside: Checkpoint | undefined;
  try {
    const newest = await guard(() => client.getCheckpoint());
    heads = [newest, await guard(() => client.getTreeHead(), undefined, newest.checkpoint, newest.note)];
    // An honest log signs no smaller tree after a larger one, and its
    // checkpoint, asked for after its signed tree head, is not smaller than
    // that: a smaller one may be a cache's old copy (a CDN's "cache
    // everything" rule keeps /checkpoint despite its no-cache). Asked for
    // again past the caches that honour no-cache, as verify-receipt --url does.
    if (newest.checkpoint.treeSize < Math.max(held?.checkpoint.treeSize ?? 0, heads[1].treeSize)) {
      const fresh = await guard(() => client.getCheckpoint({ cache: 'reload' }));
      const [larger, smaller] = fresh.checkpoint.treeSize >= newest.checkpoint.treeSize ? [fresh, newest] : [newest, fresh];
      heads = [larger, heads[1]];
      if (!sameTree(larger.checkpoint, smaller.checkpoint)) other = smaller;
      // Still smaller than a tree the state holds: the signed tree head may
      // be a cache's old copy too (one the state verified before, say, hiding
      // a rollback). Asked for again past the caches that honour no-cache;
      // the log's own answer is never smaller or earlier than a copy of an
      // earlier one.
      if (larger.checkpoint.treeSize < (held?.checkpoint.treeSize ?? 0)) {
        const first = heads[1];
        const fresh = await guard(() => client.getTreeHead({ cache: 'reload' }), undefined, larger.checkpoint, larger.note);
        const firstSth = treeOfHead(larger.checkpoint.origin, first);
        const freshSth = treeOfHead(larger.checkpoint.origin, fresh);
        try {
          checkTreeHead(fresh, freshSth, { checkpoint: undefined, sthTimestamp: first.timestamp, sth: firstSth, partial: undefined, newest: undefined }, Number.POSITIVE_INFINITY);
        } catch (err) {
          if (err instanceof Alarm) err.message += ' (the second asked for past the caches that honour no-cache, the first as served first this round)';
          throw err;
        }
        if (!sameTree(firstSth, freshSth)) setAside = firstSth;
        heads = [larger, fresh];
      }
    }
  } catch (err) {
    if (stoppedBy(err)) throw new RoundStopped('stopped before the newest checkpoint and signed tree head were verified');
    throw err;
  }
  const [served, head] = heads;
  let { checkpoint, note } = served;
  // Still smaller than a tree the state holds, while the log's signed tree
  // head is not: no rollback by the log's own newest statement, but an old
  // checkpoint (or one rolled back alone). It must be the start of that
  // tree (checked below, from its tiles: else a fork), and the round goes on
  // with that tree; --max-age counts how long the checkpoint lags behind
  // (`behind`). With the signed tree head smaller too, the round goes on
  // with the smaller checkpoint, and that alarms (smaller-tree).
  const lagging = held !== undefined && checkpoint.treeSize < held.checkpoint.treeSize && head.treeSize >= held.checkpoint.treeSize;
  if (lagging) ({ checkpoint, note } = held!);
  const sth = treeOfHead(checkpoint.origin, head);
  // Dated too far ahead of this machine's clock: held back until every other
  // check of the round ran (see onHeads), and the head not kept as verified.
  const aheadSth = options.aheadSth;
  const ahead = checkTreeHead(head, sth, before, io.now(), aheadSth);
  // Behind the signed tree head is the tree the round goes on with (the one
  // held, for a checkpoint served smaller): only entries past it go
  // unchecked. A lag kept from earlier rounds counts only when it was past
  // that tree; a head dated too far ahead dates no lag.
  let behind: CheckpointBehind | undefined;
  if (checkpoint.treeSize < head.treeSize) {
    const kept = options.behindSince;
    const since = kept !== undefined && kept.treeSize > checkpoint.treeSize && kept.timestamp <= head.timestamp ? kept : ahead === undefined ? { treeSize: head.treeSize, timestamp: head.timestamp } : undefined;
    behind = { servedSize: served.checkpoint.treeSize, ...(since === undefined ? {} : { since }) };
  }
  // Whatever the rest of the round does, or however long it takes (the stale check).
  await options.onHeads(head, served.checkpoint, served.note, behind, ahead);

  // A size past what a tile reader can number cannot be checked now or ever:
  // a log never signs a smaller tree after it (CONTRACT §2).
  for (const [tree, what, treeNote, timestamp] of [
    [checkpoint, 'checkpoint', note, undefined],
    [sth, 'signed tree head', undefined, head.timestamp],
  ] as const) {
    if (tree.treeSize > MAX_TILED_TREE_SIZE) {
      throw new Alarm(
        'unverifiable',
        `the log signed a ${what} of ${tree.treeSize} leaves, past the 2^52 (${MAX_TILED_TREE_SIZE}) whose tiles this monitor can read: none of its new entries can be checked, now or later, since a log never signs a smaller tree after a larger one`,
        tree,
        treeNote,
        timestamp,
      );
    }
  }

  // Every pair must be one history. The newest checkpoint an earlier round saw
  // must be extended whatever tree that round walked (a log must not sign a
  // smaller tree, or another root for its size, after it). The STH is a
  // second signed statement; the last verified STH is covered by the last
  // checkpoint unless it was ahead of it; an unfinished walk's checkpoint,
  // and the one this round walks, must be extended too.
  const partial = before?.partial;
  // The walk goes on where an unfinished one stopped, in the tree of the
  // newest checkpoint or of the one it is told to walk to.
  const from = partial?.checkedTo ?? last?.treeSize ?? 0;
  const walkTo = options.walkTo !== undefined && options.walkTo.checkpoint.treeSize >= from ? options.walkTo : undefined;
  const target = walkTo?.checkpoint ?? checkpoint;
  const targetNote = walkTo?.note ?? note;
  const pairs: [Checkpoint, Checkpoint][] = [];
  if (last !== undefined) pairs.push([last, checkpoint]);
  const seen = before?.newest?.checkpoint;
  if (seen !== undefined) pairs.push([seen, checkpoint]);
  const sthPair = pairs.push(sth.treeSize <= checkpoint.treeSize ? [sth, checkpoint] : [checkpoint, sth]) - 1;
  const lastSth = before?.sth;
  if (lastSth !== undefined && (last === undefined || !sameTree(lastSth, last))) pairs.push([lastSth, sth.treeSize > checkpoint.treeSize ? sth : checkpoint]);
  const aheadPair = aheadSth === undefined ? -1 : pairs.push([aheadSth, sth.treeSize > checkpoint.treeSize ? sth : checkpoint]) - 1;
  if (partial !== undefined) pairs.push([partial.checkpoint, checkpoint]);
  if (walkTo !== undefined && (partial === undefined || !sameTree(partial.checkpoint, walkTo.checkpoint))) pairs.push([walkTo.checkpoint, checkpoint]);
  // The checkpoints the log served and the round does not go on with: each the start of the one it does.
  const servedPair = lagging ? pairs.push([served.checkpoint, checkpoint]) - 1 : -1;
  if (other !== undefined) pairs.push([other.checkpoint, checkpoint]);
  if (setAside !== undefined) pairs.push([setAside, sth.treeSize > checkpoint.treeSize ? sth : checkpoint]);
  // First from authenticated tiles, then from the log's endpoint, each whatever
  // the other did: a forked log that refuses get-sth-consistency must not turn
  // the fork its tiles prove into a mere error. A failure to fetch is reported
  // only once every other check of the round has passed.
  let failure: unknown;
  // The pairs shown to be one history, by either way.
  const proven = new Set<number>();
  const attempt = async (work: () => Promise<unknown>, older: Checkpoint, newer: Checkpoint, pair: number) => {
    try {
      await guard(work, older, newer, newer === checkpoint ? note : undefined);
      proven.add(pair);
    } catch (err) {
      // A smaller checkpoint served that is not the start of the tree held: two roots for its size.
      if (err instanceof Alarm && pair === servedPair && (err.kind === 'inconsistent' || err.kind === 'fork')) {
        throw new Alarm(
          'fork',
          `the log serves a checkpoint of tree size ${older.treeSize} (root ${encodeBase64(older.rootHash)}), though asked for again past the caches that honour no-cache, smaller than the tree of size ${newer.treeSize} (root ${encodeBase64(newer.rootHash)}) verified before, and it is not that tree's start: two roots for tree size ${older.treeSize} (a fork): ${err.message}`,
          older,
          served.note,
        );
      }
      // Still smaller once asked for past caches, with the signed tree head smaller too: a rollback (or both kept by caches), as the alarm says.
      if (err instanceof Alarm && err.kind === 'smaller-tree' && newer === served.checkpoint && held !== undefined && older.treeSize > newer.treeSize) {
        const sthSays = head.treeSize < older.treeSize ? `its signed tree head, of size ${head.treeSize}, is smaller than ${older.treeSize} too` : `its signed tree head is of size ${head.treeSize}`;
        throw new Alarm(err.kind, `${err.message} (the log's checkpoint, asked for again past the caches that honour no-cache; ${sthSays})`, err.observed, err.observedNote);
      }
      if (err instanceof Alarm) throw err;
      failure ??= withheldTile(err, client.baseUrl, newer.treeSize);
    }
  };
  for (const [i, [older, newer]] of pairs.entries()) await attempt(() => client.verifyConsistency(older, newer, { fromTiles: true }), older, newer, i);
  // The log's own proof for a pair its tiles proved: one that fails to
  // verify is no fork (the tiles, authenticated against the newer root, hold
  // the older root at its size) but an answer that is not that pair's proof,
  // unsigned, as a cache that ignores the query serves: an operational
  // failure of the endpoint, not an alarm. For a pair the tiles could not
  // prove, it stays the alarm it is.
  const fromLog = async (older: Checkpoint, newer: Checkpoint, pair: number) => {
    try {
      return await client.verifyConsistency(older, newer);
    } catch (err) {
      if (!proven.has(pair) || !(err instanceof ClientError) || err.code !== 'INCONSISTENT') throw err;
      throw new ClientError(
        'BAD_RESPONSE',
        `${err.message}; the tiles, authenticated against the tree of size ${newer.treeSize}, proved that it extends the tree of size ${older.treeSize}: the log's consistency endpoint, or a cache in front of it, answers a wrong proof (no fork)`,
        { cause: err },
      );
    }
  };
  for (const [i, [older, newer]] of pairs.entries()) await attempt(() => fromLog(older, newer, i), older, newer, i);
  if (failure !== undefined && stoppedBy(failure)) throw new RoundStopped(`stopped while checking that the tree of size ${checkpoint.treeSize} extends the last verified ones`);
  if (proven.size === pairs.length) await options.onConsistent(checkpoint, note, { behind, ahead: ahead === undefined ? undefined : sth });
  else if (ahead !== undefined && (aheadSth === undefined || (proven.has(aheadPair) && proven.has(sthPair)))) {
    // A proof could not be fetched (the round fails below): the head dated
    // too far ahead is not shown to extend the trees held, yet the log signed
    // it, and every later head must extend it, whether or not it extends
    // them. Kept apart (not its timestamp: see save), so that the next round
    // still holds the log to it; not in place of a head kept from earlier
    // rounds unless shown to extend that one (both pairs proven: each the
    // start of the larger of the round's checkpoint and signed tree head),
    // which would drop a check never made.
    await options.onAheadUnproven(sth);
  }

  // What an unfinished walk checked against an older tree holds in every tree
  // that extends it, and the tiles it read there only partly are read again
  // below, at their width in the tree walked.
  const to = walkEnd(from, target.treeSize, maxEntries);
  // The new tiles are walked, never listed: even one round's may be many.
  // Each level-0 tile is authenticated by checking its entry bundle
  // (verifyEntryBundle checks the tile, then the entries against it, and
  // copies none of them out), so it counts as a tile and a bundle. Every
  // tile is read at its width in the tree walked. A fresh reader every
  // TILES_PER_READER tiles drops the tiles the last one cached.
  const counts = newTileCounts(from, to);
  const tiles = counts.reduce((sum, c) => sum + c, 0);
  const bundles = counts[0] ?? 0;
  const progress = new Progress(io.stderr, tiles + bundles, 'tiles and bundles', showProgress);
  const walk = eachNewTile(from, to);
  let reader = client.tileReader(target);
  let taken = 0;
  let done = 0;
  let finished = false;
  let failed = false;
  // What every outcome of the walk carries besides (saved with each: the lag too, so that a monitor killed keeps it).
  const newest = { ...(sameTree(target, checkpoint) ? {} : { newest: { checkpoint, note } }), ...(behind === undefined ? {} : { behind }), ...(ahead === undefined ? {} : { ahead }) };
  // The entry bundles come first, in order: every one before nextBundle is
  // checked, and so are those in checkedAhead (at most one per check in flight).
  let nextBundle = Math.floor(from / TILE_WIDTH);
  const checkedAhead = new Set<number>();
  // How far the walk got is saved every SAVE_EVERY_BUNDLES bundles, one save
  // after the other; a save that fails (its output lost) is thrown once the walk ends.
  let savedBundle = nextBundle;
  let saving: Promise<void> = Promise.resolve();
  let savingFailure: unknown;
  // Up to 8 checks in flight: against a remote log the round trips dominate.
  const checks = Array.from({ length: 8 }, async () => {
    while (!failed && signal?.aborted !== true) {
      const step = walk.next();
      if (step.done === true) {
        finished = true;
        return;
      }
      const tile = step.value;
      if (++taken % TILES_PER_READER === 0) reader = client.tileReader(target);
      const r = reader;
      try {
        if (tile.level === 0) await guard(() => client.verifyEntryBundle(tile.n, target, r), last, target, targetNote);
        else await guard(() => r.readTile(tile.level, tile.n), last, target, targetNote);
      } catch (err) {
        failed = true;
        throw withheldTile(err, client.baseUrl, target.treeSize);
      }
      if (tile.level === 0) {
        checkedAhead.add(tile.n);
        while (checkedAhead.delete(nextBundle)) nextBundle++;
        // What a stop here would save (see below), saved without one.
        if (nextBundle - savedBundle >= SAVE_EVERY_BUNDLES && failure === undefined && !failed) {
          savedBundle = nextBundle;
          const walked: RoundOutcome = { checkpoint: target, note: targetNote, ...newest, head, from, to: stoppedWalkEnd(from, to, target.treeSize, nextBundle), tiles, bundles };
          if (walked.to > from) saving = saving.then(async () => void (await options.onWalked(walked))).catch((err: unknown) => void (savingFailure ??= err));
        }
      }
      done += tile.level === 0 ? 2 : 1;
      progress.update(done);
    }
  });
  // Whether a check was cut short by the stop: the walk may have handed out its
  // every tile (`finished`) while that check was still in flight.
  let cut = false;
  // A check that failed otherwise (a fetch the log refused, a log gone): its error, once the others ended.
  let broken: { readonly err: unknown } | undefined;
  try {
    await Promise.all(checks);
  } catch (err) {
    if (err instanceof Alarm) throw err;
    // Stopped, what is in flight ends at once; failed otherwise, the checks in
    // flight end as they do (they start no more), and the bundles they finish
    // count among those checked. Either way an alarm one of them raises
    // outranks the stop or the failure.
    const stopped = stoppedBy(err);
    const alarm = (await Promise.allSettled(checks)).find((r) => r.status === 'rejected' && r.reason instanceof Alarm);
    if (alarm !== undefined) throw (alarm as PromiseRejectedResult).reason;
    if (stopped) cut = true;
    else broken = { err };
  } finally {
    // No save of this round may land after what the round's end saves. (No
    // check starts one once the walk failed or was stopped.)
    await saving;
  }
  if (savingFailure !== undefined) throw savingFailure;
  progress.finish(done);
  if (broken !== undefined) {
    // What the walk checked before the failure is saved, as a stop saves it
    // (see below), so that the next round goes on from there rather than
    // from where the last save left it: a log that refuses a request now and
    // then (a rate limit past the retries) is still walked to its end.
    const { err } = broken;
    const checkedTo = stoppedWalkEnd(from, to, target.treeSize, nextBundle);
    if (failure === undefined && nextBundle > savedBundle && checkedTo > from) {
      const saved = await options.onWalked({ checkpoint: target, note: targetNote, ...newest, head, from, to: checkedTo, tiles, bundles });
      if (saved && err instanceof Error) err.message += ` (entries ${from} to ${checkedTo - 1} of the tree of size ${target.treeSize}, checked before this, are saved: the next round, or run, goes on from there)`;
    }
    throw err;
  }
  if (cut || (!finished && done < tiles + bundles)) {
    // Each entry bundle checked its level-0 tile, and the reader authenticated
    // that tile through its parent tiles up to the signed root: the entries
    // before the first bundle not checked are checked, with the tiles above
    // them, as a finished walk to there would have checked them. Saved only
    // when every other check of the round passed.
    const checkedTo = stoppedWalkEnd(from, to, target.treeSize, nextBundle);
    const verified = failure === undefined && checkedTo > from;
    const walked: RoundOutcome | undefined = verified ? { checkpoint: target, note: targetNote, ...newest, head, from, to: checkedTo, tiles, bundles } : undefined;
    throw new RoundStopped(`stopped after ${done} of ${tiles + bundles} tiles and bundles of the entries from ${from} up to ${to} of the tree of size ${target.treeSize}`, walked);
  }
  if (failure !== undefined) throw failure;
  return { checkpoint: target, note: targetNote, ...newest, head, from, to, tiles, bundles, ...(lagging ? { served } : {}) };
}

/** How a round ended, and whether an unfinished walk is left for the next one. */
interface RoundResult {
  readonly result: 'ok' | 'alarm' | 'error' | 'stopped';
  readonly more: boolean;
  /** The round was stopped during its walk, and has said where (its result may be 'alarm' all the same: a stale STH). */
  readonly stopped?: boolean;
}

/** Where tests look in on a monitor's work; cairn itself passes none. */
export interface MonitorHooks {
  /**
   * Called before each write of the state file, with what it writes, and
   * awaited: a test holds a write back to see that the monitor waits for it.
   */
  readonly beforeWrite?: (state: Readonly<Record<string, unknown>>) => Promise<void>;
}

/** `cairn monitor`: see MONITOR_USAGE. */
export async function monitorCommand(argv: string[], io: CliIo = processIo(), hooks: MonitorHooks = {}): Promise<number> {
  // The state file's lock is released however the command ends: done, stopped, or failed.
  const held: { unlock?: () => Promise<void> } = {};
  try {
    return await watch(argv, io, held, hooks);
  } finally {
    await held.unlock?.();
  }
}

/** A state file's mode before and after a write that closed it to group and others (see writeState). */
type Narrowed = Awaited<ReturnType<typeof writeState>>;

/** `cairn monitor`'s work, with the state file's lock, once taken, in `held` for the caller to release. */
function watch(argv: string[], io: CliIo, held: { unlock?: () => Promise<void> }, hooks: MonitorHooks): Promise<number> {
  return runClientCommand('monitor', MONITOR_USAGE, io, async () => {
    const { values } = parseCommandArgs(argv, {
      url: { type: 'string' },
      vkey: { type: 'string' },
      state: { type: 'string' },
      interval: { type: 'string' },
      once: { type: 'boolean' },
      webhook: { type: 'string' },
      'max-age': { type: 'string' },
      'max-round-entries': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (values.help === true) {
      await writeOut(io.stdout, MONITOR_USAGE);
      return EXIT_OK;
    }
    const url = resolveUrl(values.url, io.env);
    const { verifier } = await resolveVerifier(values.vkey, io.env);
    if (values.state === undefined) throw new UsageError('--state FILE is required: it keeps the last verified checkpoint');
    if (values.state === '-') throw new UsageError("--state must name a file, which is read and written back; '-' is not standard input or output here (give ./- for a file of that name)");
    const intervalMs = parseSeconds(values.interval ?? '60', '--interval', INTERVAL_SECONDS.min, INTERVAL_SECONDS.max);
    const maxAgeMs = values['max-age'] === undefined ? undefined : parseSeconds(values['max-age'], '--max-age', MAX_AGE_SECONDS.min, MAX_AGE_SECONDS.max);
    const maxEntries = values['max-round-entries'] === undefined ? DEFAULT_MAX_ROUND_ENTRIES : parseCount(values['max-round-entries'], '--max-round-entries', MIN_ROUND_ENTRIES, Number.MAX_SAFE_INTEGER);
    const webhook = values.webhook === undefined ? undefined : parseHttpUrl(values.webhook, '--webhook');
    /** The webhook as messages name it: its scheme, host and port only, since its path or query is often its secret (a chat service's webhook URL is). */
    const webhookShown = webhook === undefined ? '' : ((u) => (u.pathname === '/' && u.search === '' ? u.origin : `${u.origin}/…`))(new URL(webhook));
    const once = values.once === true;
    const json = values.json === true;
    const fetchFn = io.fetch ?? globalThis.fetch;
    // A state file that is a symbolic link: its target is locked, read and written (see stateFileTarget).
    const statePath = await stateFileTarget(values.state);

    const stamp = () => new Date(io.now()).toISOString();
    // Every event is awaited: output that cannot be written (a closed pipe) ends the monitor, exit 2 (1 after an alarm).
    const emit = (event: Record<string, unknown>, human: string, toStderr = false): Promise<void> => {
      if (json) return writeOut(io.stdout, jsonLine({ time: stamp(), ...event }));
      return toStderr ? writeOut(io.stderr, `${stamp()} ${human}\n`, 'standard error') : writeOut(io.stdout, `${stamp()} ${human}\n`);
    };

    // Checked before any work: a state that cannot be written loses the round.
    const stateFolderProblem = await writableFolderProblem(dirname(statePath));
    if (stateFolderProblem !== undefined) throw new Error(`cannot keep the state file ${statePath}: ${stateFolderProblem}`);
    // Before the state is read: another monitor's writes must not slip in between.
    held.unlock = await lockState(statePath, (ms) => io.sleep(ms));
    await removeStaleTemps(statePath);
    let loaded = await readState(statePath, verifier);
    const loadedOrigin = loaded?.verified.checkpoint?.origin ?? loaded?.verified.partial?.checkpoint.origin ?? loaded?.verified.newest?.checkpoint.origin;
    if (loadedOrigin !== undefined && loadedOrigin !== verifier.name) throw new Error(`the state file ${statePath} is for ${loadedOrigin}`);
    const sent = new Set<string>();
    let alarms = 0;

    const raise = async (alarm: Alarm) => {
      alarms++;
      const last = loaded?.verified.checkpoint;
      const description = {
        type: 'cairn.monitor.alarm',
        kind: alarm.kind,
        message: alarm.message,
        origin: verifier.name,
        url,
        time: stamp(),
        last_verified: last === undefined ? null : { tree_size: last.treeSize, root_hash: encodeBase64(last.rootHash), checkpoint: loaded!.state.checkpoint },
        observed:
          alarm.observed === undefined
            ? null
            : {
                tree_size: alarm.observed.treeSize,
                root_hash: encodeBase64(alarm.observed.rootHash),
                checkpoint: alarm.observedNote ?? null,
                ...(alarm.observedTimestamp === undefined ? {} : { sth_timestamp: alarm.observedTimestamp }),
              },
      };
      // Output that cannot be written must not keep the alarm from the webhook: it is thrown after the POST.
      let outputFailure: unknown;
      const told = (event: Record<string, unknown>, human: string) => emit(event, human, true).catch((err: unknown) => void (outputFailure ??= err));
      await told({ event: 'alarm', kind: alarm.kind, message: alarm.message, last_verified: description.last_verified, observed: description.observed }, `ALARM ${alarm.kind}: ${alarm.message}`);
      // One webhook call per distinct alarm, not one per round.
      const key = `${alarm.kind} ${alarm.observedNote ?? alarm.message}`;
      if (webhook !== undefined && !sent.has(key)) {
        sent.add(key);
        try {
          const res = await fetchFn(webhook, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(description), signal: AbortSignal.timeout(10_000) });
          if (!res.ok) throw new Error(`status ${res.status}`);
        } catch (err) {
          // Not POSTed: tried again when the alarm is raised again (the next round), not left untold for the rest of the run.
          sent.delete(key);
          // fetch's own message is only "fetch failed": the reason (refused, unknown host, a TLS certificate) is in its cause.
          const reason = networkReason(err);
          await told({ event: 'error', message: `webhook ${webhookShown} failed: ${reason}` }, `error: the webhook ${webhookShown} failed: ${reason}`);
        }
      }
      if (outputFailure !== undefined) throw outputFailure;
    };

    /** Where the state is after a stop: what the rounds before it saved, and (`saved`) what the stopped round checked. */
    const keptState = (saved = false): string => {
      const v = loaded?.verified;
      const size = v?.checkpoint?.treeSize ?? 0;
      const where = saved ? 'what it checked is saved: the state is at' : 'the state stays at';
      return v?.partial === undefined
        ? `${where} tree size ${size}`
        : `${where} tree size ${size}, with the entries up to ${v.partial.checkedTo} checked against the tree of size ${v.partial.checkpoint.treeSize}`;
    };

    /** The stopped event: its message, and where the state is (see keptState). */
    const stopped = (message: string, saved = false): Promise<void> => {
      const v = loaded?.verified;
      const where = { verified_tree_size: v?.checkpoint?.treeSize ?? 0, ...(v?.partial === undefined ? {} : { tree_size: v.partial.checkpoint.treeSize, checked_to: v.partial.checkedTo }), saved };
      return emit({ event: 'stopped', message, ...where }, `${message}; ${keptState(saved)}`, true);
    };

    /**
     * Saves what a round verified (`outcome`) as the state: the walk's
     * checkpoint as the verified one when the walk reached it, else the walk
     * as progress beside the last verified one. Says so and returns false
     * when the state file cannot be written.
     */
    /** Writes `state` to the state file (tests look at it first: hooks.beforeWrite). */
    const persist = async (state: MonitorState): Promise<Narrowed> => {
      await hooks.beforeWrite?.({ ...state });
      return writeState(statePath, state);
    };

    /**
     * Says that the state file was open to group or others (an older cairn
     * wrote it 0644, or it was made so by hand) and that its rewrite closed
     * it (see writeState); nothing when it was not. Called after the write,
     * out of its try: output that fails is not a state file that cannot be
     * written.
     */
    const toldNarrowed = async (narrowed: Narrowed): Promise<void> => {
      if (narrowed === undefined) return;
      const mode = (m: number) => m.toString(8).padStart(3, '0');
      const message = `the state file ${statePath} was open to group or others (mode ${mode(narrowed.was)}); it is now ${mode(narrowed.now)}, so that only this user can change what the monitor trusts`;
      await emit({ event: 'warning', message }, `warning: ${message}`, true);
    };

    /** A checkpoint as the state file keeps one (MonitorState.partial, .newest): its note, size and root. */
    const checkpointAsSaved = (checkpoint: Checkpoint, note: string) => ({ checkpoint: note, tree_size: checkpoint.treeSize, root_hash: encodeBase64(checkpoint.rootHash) });

    /** The last verified signed tree head as `state` keeps it (none without a state). */
    const keptSth = (state: MonitorState | undefined): Pick<MonitorState, 'sth_timestamp' | 'sth_tree_size' | 'sth_root_hash'> => {
      if (state === undefined) return { sth_timestamp: null };
      const { sth_timestamp, sth_tree_size, sth_root_hash } = state;
      return { sth_timestamp, ...(sth_tree_size === undefined ? {} : { sth_tree_size }), ...(sth_root_hash === undefined ? {} : { sth_root_hash }) };
    };

    const save = async (outcome: RoundOutcome): Promise<boolean> => {
      const last = loaded?.verified.checkpoint;
      const cp = outcome.checkpoint;
      const head = outcome.head;
      const rootHash = encodeBase64(cp.rootHash);
      // Only a walk that reached the checkpoint makes it the verified one;
      // an unfinished one is kept as progress beside the last verified one.
      const complete = outcome.to === cp.treeSize;
      const behind = outcome.behind?.since;
      // A signed tree head dated too far ahead of this machine's clock
      // (outcome.ahead) is not kept as the last verified one: the state keeps
      // the one before (none on a first run). Kept, it would make every head
      // the log signs once its clock (or this machine's) is right again look
      // earlier, a timestamp alarm until real time passed it. The rest of what
      // the round verified is kept: the checkpoint's signature, its consistency
      // with every tree held (the far-future head's too) and the entries walked
      // do not depend on a timestamp, and the next rounds check from there
      // (the head's alarm is raised again every round while it stays ahead).
      const sthState = outcome.ahead === undefined ? { sth_timestamp: head.timestamp, sth_tree_size: head.treeSize, sth_root_hash: encodeBase64(head.rootHash) } : keptSth(loaded?.state);
      // The far-ahead head's size and root are kept apart all the same (see
      // SavedState.sth_ahead): the next heads must not shrink from it or fork
      // it. A head dated right, checked against it, replaces it; so does the
      // last verified one when the far-ahead head is no larger (it is then
      // that very tree: checked, not smaller and no other root).
      const aheadState = outcome.ahead === undefined || head.treeSize <= (loaded?.verified.sth?.treeSize ?? -1) ? {} : { sth_ahead: { tree_size: head.treeSize, root_hash: encodeBase64(head.rootHash) } };
      const state = versioned({
        origin: verifier.name,
        url,
        checkpoint: complete ? outcome.note : (loaded?.state.checkpoint ?? null),
        tree_size: complete ? cp.treeSize : (last?.treeSize ?? 0),
        root_hash: complete ? rootHash : encodeBase64(last?.rootHash ?? EMPTY_ROOT),
        ...sthState,
        ...(complete ? {} : { partial: { ...checkpointAsSaved(cp, outcome.note), checked_to: outcome.to } }),
        ...(outcome.newest === undefined ? {} : { newest: checkpointAsSaved(outcome.newest.checkpoint, outcome.newest.note) }),
        ...(behind === undefined ? {} : { checkpoint_behind: { sth_tree_size: behind.treeSize, sth_timestamp: behind.timestamp } }),
        ...aheadState,
        verified_at: stamp(),
      });
      let narrowed: Narrowed;
      try {
        narrowed = await persist(state);
      } catch (err) {
        await emit({ event: 'error', message: `cannot write the state file: ${(err as Error).message}` }, `error: cannot write the state file ${statePath}: ${(err as Error).message}`, true);
        return false;
      }
      const sth = treeOfHead(cp.origin, head);
      const progress: WalkProgress | undefined = complete ? undefined : { checkpoint: cp, note: outcome.note, checkedTo: outcome.to };
      const sthVerified = outcome.ahead === undefined ? { sthTimestamp: head.timestamp, sth } : { sthTimestamp: loaded?.verified.sthTimestamp, sth: loaded?.verified.sth };
      loaded = { state, verified: { checkpoint: complete ? cp : last, ...sthVerified, partial: progress, newest: outcome.newest } };
      await toldNarrowed(narrowed);
      return true;
    };

    /**
     * Keeps `checkpoint` as the newest one seen (MonitorState.newest) once a
     * round verified it and showed it to extend every checkpoint the state
     * holds, before the round walks: a round whose walk then fails (a log
     * that answers its heads but not its bundles) keeps it all the same, so
     * that a later round shown a smaller tree alarms. Nothing is written when
     * the state holds a checkpoint as large. The rest of the state stays as
     * it is: the signed tree head kept is still the last one a round passed
     * with (--max-age's check of a failed round goes by it).
     */
    const keepNewest = async (checkpoint: Checkpoint, note: string, lag: { readonly behind: CheckpointBehind | undefined; readonly ahead: Checkpoint | undefined }): Promise<void> => {
      const v = loaded?.verified;
      const known = Math.max(v?.checkpoint?.treeSize ?? 0, v?.partial?.checkpoint.treeSize ?? 0, v?.newest?.checkpoint.treeSize ?? 0);
      // A signed tree head dated too far ahead, larger than what the state
      // holds of it, is kept apart (SavedState.sth_ahead) here too: the walk
      // may fail before the round's save.
      const keptAhead = keptAheadSth();
      const ahead = lag.ahead !== undefined && lag.ahead.treeSize > Math.max(keptAhead?.treeSize ?? -1, v?.sth?.treeSize ?? -1) ? lag.ahead : undefined;
      if (checkpoint.treeSize <= known && (ahead === undefined || loaded === undefined)) return;
      const newest = checkpointAsSaved(checkpoint, note);
      // The lag of this round, not an earlier one's (which the state may hold from a round since caught up).
      const since = lag.behind?.since;
      const lagState = {
        ...(since === undefined ? {} : { checkpoint_behind: { sth_tree_size: since.treeSize, sth_timestamp: since.timestamp } }),
        ...(ahead === undefined ? {} : { sth_ahead: { tree_size: ahead.treeSize, root_hash: encodeBase64(ahead.rootHash) } }),
      };
      let state: SavedState;
      if (loaded === undefined) {
        state = versioned({ origin: verifier.name, url, checkpoint: null, tree_size: 0, root_hash: encodeBase64(EMPTY_ROOT), sth_timestamp: null, newest, ...lagState, verified_at: stamp() });
      } else {
        const { checkpoint_behind: _behind, ...rest } = loaded.state as SavedState;
        state = versioned(checkpoint.treeSize > known ? { ...rest, newest, ...lagState, verified_at: stamp() } : { ...rest, ...lagState, verified_at: stamp() });
      }
      let narrowed: Narrowed;
      try {
        narrowed = await persist(state);
      } catch (err) {
        throw new Error(`cannot write the state file ${statePath}: ${(err as Error).message}`);
      }
      loaded = { state, verified: { checkpoint: undefined, sthTimestamp: undefined, sth: undefined, partial: undefined, ...v, newest: checkpoint.treeSize > known ? { checkpoint, note } : v?.newest } };
      await toldNarrowed(narrowed);
    };

    /**
     * Keeps the size and root of a signed tree head dated too far ahead
     * (SavedState.sth_ahead) that a round whose consistency proofs could not
     * be fetched saw (see RoundOptions.onAheadUnproven), when larger than
     * the one kept and the last verified one; the rest of the state stays as
     * it is. None on a first run: the state then holds no checkpoint to keep
     * it beside.
     */
    const keepAhead = async (sth: Checkpoint): Promise<void> => {
      if (loaded === undefined || sth.treeSize <= Math.max(keptAheadSth()?.treeSize ?? -1, loaded.verified.sth?.treeSize ?? -1)) return;
      const state = versioned({ ...loaded.state, sth_ahead: { tree_size: sth.treeSize, root_hash: encodeBase64(sth.rootHash) }, verified_at: stamp() });
      let narrowed: Narrowed;
      try {
        narrowed = await persist(state);
      } catch (err) {
        throw new Error(`cannot write the state file ${statePath}: ${(err as Error).message}`);
      }
      loaded = { state, verified: loaded.verified };
      await toldNarrowed(narrowed);
    };

    /**
     * The stale alarm (--max-age) for a signed tree head of `sthTime`, or
     * undefined when there is no --max-age or it is recent enough. With
     * `failure`, the round failed: why is told, and whether it had verified
     * a newer signed tree head (`headsVerified`) before it did. With
     * `grew`, the tree grew since the last verified signed tree head (the
     * last round that verified one, failed rounds since not counted): the log
     * runs, and its head may be old only by the clocks (its own behind: a log
     * whose clock is behind signs the last timestamp + 1, as Cairn does; or
     * this machine's ahead), which the message says; without it, the message
     * says in brief that a clock may be off. The alarm stays all the same:
     * --max-age is the operator's rule.
     */
    const staleAlarm = (
      sthTime: number,
      checkpoint: Checkpoint,
      note: string,
      how: { failure?: string; headsVerified?: boolean; grew?: { from: number; to: number } } = {},
    ): Alarm | undefined => {
      if (maxAgeMs === undefined) return undefined;
      const age = io.now() - sthTime;
      if (age <= maxAgeMs) return undefined;
      const { failure, headsVerified = false, grew } = how;
      const which =
        failure === undefined
          ? 'the newest signed tree head is'
          : headsVerified
            ? 'the round failed after verifying a newer signed tree head, and the last one a round passed with is'
            : 'no newer signed tree head could be verified, and the last verified one is';
      const clocks = grew === undefined ? "; by this machine's clock, which may be ahead, or the log's behind" : '';
      const growth =
        grew === undefined ? '' : `; yet the tree grew by ${grew.to - grew.from} leaves since the last verified round (from ${grew.from} to ${grew.to}): the log's clock may be behind, or this machine's ahead`;
      const why = failure === undefined ? '' : `; the round failed: ${failure}`;
      return new Alarm('stale', `${which} ${Math.round(age / 1000)} s old (timestamp ${describeTime(sthTime)}${clocks}); --max-age is ${maxAgeMs / 1000} s${growth}${why}`, checkpoint, note, sthTime);
    };

    /** The first signed tree head the log's checkpoint fell behind, as the state holds it (SavedState.checkpoint_behind), when it holds a sound one. */
    const keptBehind = (): CheckpointBehind['since'] | undefined => {
      const kept = (loaded?.state as SavedState | undefined)?.checkpoint_behind;
      if (typeof kept !== 'object' || kept === null) return undefined;
      const { sth_tree_size: treeSize, sth_timestamp: timestamp } = kept;
      return Number.isSafeInteger(treeSize) && Number.isSafeInteger(timestamp) && treeSize > 0 && timestamp >= 0 ? { treeSize, timestamp } : undefined;
    };

    /** The signed tree head an earlier round saw dated too far ahead, as the state holds it (SavedState.sth_ahead), when it holds a sound one. */
    const keptAheadSth = (): Checkpoint | undefined => {
      const kept = (loaded?.state as SavedState | undefined)?.sth_ahead;
      if (typeof kept !== 'object' || kept === null) return undefined;
      const { tree_size: treeSize, root_hash: rootHash } = kept;
      let root: Uint8Array | undefined;
      try {
        root = typeof rootHash === 'string' ? decodeBase64(rootHash) : undefined;
      } catch {
        root = undefined;
      }
      return Number.isSafeInteger(treeSize) && treeSize >= 0 && root?.length === 32 ? { origin: verifier.name, treeSize, rootHash: root, extensions: [] } : undefined;
    };

    // This module's own fields of the state file (SavedState), read at each
    // round: one present but malformed (edited by hand, damaged) is refused
    // at start as readState refuses a malformed sth_* field, rather than
    // dropping the checks it stands for without a word.
    for (const [field, sound] of [
      ['sth_ahead', keptAheadSth],
      ['checkpoint_behind', keptBehind],
    ] as const) {
      if ((loaded?.state as SavedState | undefined)?.[field] !== undefined && sound() === undefined) {
        throw new Error(`the state file ${statePath} is not a cairn monitor state (its ${field} is malformed)`);
      }
    }

    /**
     * The stale alarm (--max-age) for a checkpoint that lags behind the
     * log's signed tree heads for longer than --max-age (see
     * CheckpointBehind): its entries past it go unchecked however fresh the
     * signed tree head is. Undefined without --max-age, without a lag, or
     * within it.
     */
    const behindAlarm = (head: TreeHead, checkpoint: Checkpoint, note: string, behind: CheckpointBehind | undefined): Alarm | undefined => {
      if (maxAgeMs === undefined || behind?.since === undefined) return undefined;
      const age = io.now() - behind.since.timestamp;
      if (age <= maxAgeMs) return undefined;
      const then = behind.since.treeSize === head.treeSize ? '' : `, and is of size ${head.treeSize} now`;
      return new Alarm(
        'stale',
        `the log's checkpoint, of tree size ${behind.servedSize}, though asked for again past the caches that honour no-cache, has been behind its signed tree head for ${Math.round(age / 1000)} s: since the one of size ${behind.since.treeSize}, dated ${describeTime(behind.since.timestamp)}${then}; --max-age is ${maxAgeMs / 1000} s. The entries that signed tree head shows past the checkpoints this monitor holds cannot be checked until the log serves a checkpoint that reaches them: a cache in front of the log most likely keeps /checkpoint (one that ignores its no-cache, as a CDN's "cache everything" rule does: purge /checkpoint, or let it through uncached), or the log's checkpoint stopped or rolled back`,
        checkpoint,
        note,
      );
    };

    /**
     * The warning for a round whose log served a checkpoint smaller than a
     * tree the state held (outcome.served) or than its signed tree head
     * (outcome.behind), though asked for again past caches: most likely a
     * cache that keeps /checkpoint. Undefined when neither.
     */
    const laggingWarning = (outcome: RoundOutcome, before: Verified | undefined): { event: Record<string, unknown> & { message: string } } | undefined => {
      const { served, behind, head, checkpoint } = outcome;
      if (served === undefined && behind === undefined) return undefined;
      const size = (served?.checkpoint ?? checkpoint).treeSize;
      const parts: string[] = [];
      if (served !== undefined) {
        // The very head last verified, asked for again past caches too: the log (or a cache that keeps get-sth as well) shows nothing newer.
        const lastSth = before?.sth;
        const same = lastSth !== undefined && before?.sthTimestamp === head.timestamp && lastSth.treeSize === head.treeSize && bytesEqual(lastSth.rootHash, head.rootHash);
        const sthSays = same
          ? `its signed tree head, asked for again past those caches too, is the one last verified, of size ${head.treeSize}, dated ${describeTime(head.timestamp)}: the log signed nothing newer since (or a cache keeps that too)`
          : `its signed tree head, of size ${head.treeSize}, is not smaller, so this is no rollback by the log's own newest statement`;
        parts.push(
          `the log serves a checkpoint of tree size ${size}, though asked for again past the caches that honour no-cache, smaller than the tree of size ${checkpoint.treeSize} verified before, whose start it is; ${sthSays}: the round went on from the tree of size ${checkpoint.treeSize}`,
        );
      }
      if (behind !== undefined) {
        const since =
          behind.since === undefined
            ? " (its signed tree head is dated too far ahead of this machine's clock: the lag is counted from the next one dated right)"
            : behind.since.timestamp === head.timestamp
              ? ''
              : ` (behind since the signed tree head of size ${behind.since.treeSize}, dated ${describeTime(behind.since.timestamp)})`;
        // Entries the signed tree head shows that no checkpoint held reaches: left unchecked.
        const unchecked = head.treeSize > checkpoint.treeSize ? `: no entry past ${checkpoint.treeSize} can be checked until the log serves a checkpoint that reaches it` : '';
        const counted = maxAgeMs === undefined || behind.since === undefined ? '' : `${unchecked === '' ? ':' : ','} --max-age counts the lag as staleness`;
        parts.push(`${served === undefined ? `the log's checkpoint, of tree size ${size}, though asked for again past the caches that honour no-cache, is` : 'that checkpoint is'} behind its signed tree head, of tree size ${head.treeSize}${since}${unchecked}${counted}`);
      }
      const message = `${parts.join('; ')}. A cache in front of the log most likely keeps /checkpoint (one that ignores its no-cache, as a CDN's "cache everything" rule does): purge /checkpoint, or let it through uncached`;
      return {
        event: {
          event: 'warning',
          message,
          served_tree_size: size,
          tree_size: checkpoint.treeSize,
          sth_tree_size: head.treeSize,
          ...(behind?.since === undefined ? {} : { behind_since: { sth_tree_size: behind.since.treeSize, sth_timestamp: behind.since.timestamp } }),
        },
      };
    };

    const round = async (signal: AbortSignal | undefined, walkTo?: RoundOptions['walkTo']): Promise<RoundResult> => {
      const before = loaded?.verified;
      const last = before?.checkpoint;
      const lastSize = last?.treeSize ?? 0;
      // The stale check runs as soon as the newest heads verified: a long walk must not put it off.
      let staleRaised = false;
      let headsVerified = false;
      // The newest signed tree head is dated too far ahead of this machine's
      // clock: raised once the round's other checks ran, or failed otherwise
      // than by an alarm (a log whose clock is ahead, or a hostile one dating
      // its heads so, must not make a fork or a mismatch look like clock
      // noise). An alarm they raise outranks it, and says it in its message:
      // one alarm a round from its checks, the most serious one (stale aside).
      let ahead: Alarm | undefined;
      let aheadRaised = false;
      const raiseAhead = async () => {
        if (ahead === undefined) return;
        aheadRaised = true;
        await raise(ahead);
      };
      const onHeads = async (head: TreeHead, checkpoint: Checkpoint, note: string, behind: CheckpointBehind | undefined, aheadAlarm: Alarm | undefined) => {
        headsVerified = true;
        ahead = aheadAlarm;
        const lastSize = before?.sth?.treeSize;
        const grew = lastSize !== undefined && head.treeSize > lastSize ? { from: lastSize, to: head.treeSize } : undefined;
        const stale = staleAlarm(head.timestamp, checkpoint, note, { grew }) ?? behindAlarm(head, checkpoint, note, behind);
        if (stale === undefined) return;
        staleRaised = true;
        await raise(stale);
      };
      const ended = (result: 'error' | 'stopped'): RoundResult => ({ result: staleRaised || aheadRaised ? 'alarm' : result, more: false });
      let outcome: RoundOutcome;
      try {
        const lastNote = loaded?.state.checkpoint ?? undefined;
        const behindSince = keptBehind();
        const aheadSth = keptAheadSth();
        outcome = await checkRound(client, before, io, {
          showProgress: !json,
          signal,
          maxEntries,
          onHeads,
          onConsistent: keepNewest,
          onAheadUnproven: keepAhead,
          onWalked: save,
          ...(walkTo === undefined ? {} : { walkTo }),
          ...(lastNote === undefined ? {} : { lastNote }),
          ...(behindSince === undefined ? {} : { behindSince }),
          ...(aheadSth === undefined ? {} : { aheadSth }),
        });
      } catch (err) {
        // From an event of the round (a stale alarm): the monitor's output is gone.
        if (err instanceof OutputError) throw err;
        if (err instanceof Alarm) {
          if (ahead !== undefined && err !== ahead) err.message += `; besides, ${ahead.message} (a timestamp alarm too)`;
          await raise(err);
          return { result: 'alarm', more: false };
        }
        if (err instanceof RoundStopped) {
          // What the walk verified before the stop is kept, as a round that walked that far would keep it.
          const saved = err.progress !== undefined && (await save(err.progress));
          // Not the far-future head's alarm: the stop ends the monitor at once, before every check ran (the next round raises it).
          await stopped(err.message, saved);
          return { ...ended('stopped'), stopped: true };
        }
        const message = withoutToken((err instanceof Error ? err.message : String(err)) + accessAdvice(err, io.env), io.env);
        await emit({ event: 'error', message }, `error: ${message}`, true);
        await raiseAhead();
        // A log that cannot be checked is stale once what was last verified
        // of it is older than --max-age: silence must not look like health.
        // What was last verified is what the state holds now: a save of how
        // far the walk got, earlier in this round, keeps the round's head.
        const kept = loaded?.verified;
        const recorded = kept?.checkpoint !== undefined ? { checkpoint: kept.checkpoint, note: loaded!.state.checkpoint! } : kept?.partial;
        const stale = staleRaised || kept?.sthTimestamp === undefined || recorded === undefined ? undefined : staleAlarm(kept.sthTimestamp, recorded.checkpoint, recorded.note, { failure: message, headsVerified });
        if (stale !== undefined) {
          await raise(stale);
          return { result: 'alarm', more: false };
        }
        return ended('error');
      }
      if (!(await save(outcome))) {
        await raiseAhead();
        return ended('error');
      }
      const cp = outcome.checkpoint;
      const head = outcome.head;
      const lag = laggingWarning(outcome, before);
      if (lag !== undefined) await emit(lag.event, `warning: ${lag.event.message}`, true);
      // The log's signed tree head, when the checkpoint it serves is behind it (or behind the tree held).
      const sthJson = outcome.behind === undefined && outcome.served === undefined ? {} : { sth_tree_size: head.treeSize };
      const rootHash = encodeBase64(cp.rootHash);
      const complete = outcome.to === cp.treeSize;
      // Under --once, a log that grew past the checkpoint the walk set out for: how far (verified, its entries left for the next run).
      const newest = outcome.newest?.checkpoint;
      const newestJson = newest === undefined ? {} : { newest_tree_size: newest.treeSize };
      // Entries the log signed past the tree walked (a checkpoint behind its
      // signed tree head, or under --once the log grown past the checkpoint
      // the walk set out for): a warning, not an alarm, so exit status 0 may
      // leave them unchecked, which the last line and event say in a number.
      const signedSize = Math.max(head.treeSize, newest?.treeSize ?? 0);
      const unchecked = complete ? signedSize - cp.treeSize : 0;
      const uncheckedJson = unchecked > 0 ? { unchecked } : {};
      const leftUnchecked = `${unchecked} ${unchecked === 1 ? 'entry' : 'entries'} the log signed past it (up to tree size ${signedSize})`;
      const newestText =
        newest === undefined
          ? ''
          : `; the log is at tree size ${newest.treeSize} now (that checkpoint verified and consistent with this one; --once walks up to the one it found first${complete ? `, so the ${leftUnchecked} are left for the next run` : ''})`;
      const uncheckedText = newest === undefined && unchecked > 0 ? `; ${leftUnchecked} left unchecked` : '';
      const walked = `${outcome.tiles} ${outcome.tiles === 1 ? 'tile' : 'tiles'} and ${outcome.bundles} ${outcome.bundles === 1 ? 'entry bundle' : 'entry bundles'} authenticated`;
      // A round that went on from an unfinished walk checked only the entries
      // from there: those before it were checked as far as the state file
      // says, which is trusted as it stands (it carries no signature of its own).
      const resumed = outcome.from !== lastSize;
      const earlier = `the entries before ${outcome.from} were checked by earlier rounds, as the state file records`;
      const how =
        last === undefined
          ? resumed
            ? `first run (no earlier checkpoint), going on from entry ${outcome.from} (${earlier})`
            : 'first run (no earlier checkpoint), walked from the first entry'
          : 'consistent with the last checkpoint';
      if (!complete) {
        const left = cp.treeSize - outcome.to;
        await emit(
          { event: 'progress', tree_size: cp.treeSize, root_hash: rootHash, verified_tree_size: lastSize, checked_from: outcome.from, checked_to: outcome.to, remaining: left, tiles: outcome.tiles, bundles: outcome.bundles, sth_timestamp: head.timestamp, ...sthJson, ...newestJson },
          `checking ${verifier.name} at tree size ${cp.treeSize}, root ${rootHash}: ${how}; entries ${outcome.from} to ${outcome.to - 1} checked (${walked}), ${left} left for the next rounds (--max-round-entries ${maxEntries}); ${last === undefined ? 'no checkpoint is kept as verified before the walk is done' : `the verified checkpoint stays at tree size ${lastSize} until it is done`}${newestText}`,
        );
        await raiseAhead();
        return { result: staleRaised || aheadRaised ? 'alarm' : 'ok', more: true };
      }
      const grew = cp.treeSize - lastSize;
      const checked = resumed ? `entries ${outcome.from} to ${cp.treeSize - 1} checked this round (${walked}); ${earlier}` : walked;
      // Where a round that went on from a saved walk began, as its text line says (absent when it walked from the last verified checkpoint).
      const resumedJson = resumed ? { checked_from: outcome.from } : {};
      await emit(
        { event: grew > 0 || last === undefined ? 'verified' : 'unchanged', tree_size: cp.treeSize, root_hash: rootHash, grew, ...resumedJson, tiles: outcome.tiles, bundles: outcome.bundles, sth_timestamp: head.timestamp, ...sthJson, ...newestJson, ...uncheckedJson },
        (last === undefined
          ? `verified ${verifier.name} at tree size ${cp.treeSize}, root ${rootHash}: first run (no earlier checkpoint), ${resumed ? checked : `the whole log checked from its first entry; ${walked}`}`
          : grew > 0
            ? `verified ${verifier.name} at tree size ${cp.treeSize} (+${grew}), root ${rootHash}: consistent with the last checkpoint; ${checked}`
            : `unchanged: ${verifier.name} at tree size ${cp.treeSize}, root ${rootHash}`) +
          newestText +
          uncheckedText,
      );
      await raiseAhead();
      return { result: staleRaised || aheadRaised ? 'alarm' : 'ok', more: false };
    };

    // io.signal or the first SIGINT or SIGTERM; a second, 1 s or more after the first, ends the process at once.
    const { signal, dispose } = listenForStop(io);
    // The stop reaches the requests in flight and the waits before their retries (a 503's Retry-After): they end at once.
    const client = makeClient(url, verifier, io, { ...readRetryPolicy(), signal });
    try {
      if (once) {
        // One round, or as many back to back as the walk takes, unless
        // stopped. The walk goes to the checkpoint the first round found, not
        // on to each newer one: a log growing faster than the walk would keep
        // it from ever ending. Each round still checks the newest heads
        // against that checkpoint and the newest ones the round before saw.
        let r: RoundResult;
        let walkTo: RoundOptions['walkTo'];
        do {
          r = await round(signal, walkTo);
          walkTo ??= loaded?.verified.partial;
        } while (r.result === 'ok' && r.more && !signal.aborted);
        if (r.result === 'ok' && r.more) {
          await stopped('stopped between rounds, before the walk reached the checkpoint it set out for');
          return EXIT_ERROR;
        }
        return r.result === 'ok' ? EXIT_OK : r.result === 'alarm' ? EXIT_VERIFY_FAILED : EXIT_ERROR;
      }
      let last: RoundResult | undefined;
      while (!signal.aborted) {
        last = await round(signal);
        // An unfinished walk goes on at once: waiting would only put the rest off.
        if (last.more) continue;
        await io.sleep(intervalMs, signal);
      }
      // A round stopped during its walk has said where; a stop between rounds is told here.
      if (last?.stopped !== true) await stopped(last?.more === true ? 'stopped between rounds, before the walk reached the newest checkpoint' : 'stopped while waiting for the next round');
      return alarms > 0 ? EXIT_VERIFY_FAILED : EXIT_OK;
    } catch (err) {
      // An alarm outranks the output lost after it: exit status 1 still says the log misbehaved.
      if (!(err instanceof OutputError) || alarms === 0) throw err;
      io.stderr.write(`cairn monitor: ${oneLine(err.message)}\n`);
      return EXIT_VERIFY_FAILED;
    } finally {
      dispose();
    }
  });
}
