import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CairnClient } from '../client/client.js';
import { ClientError } from '../client/errors.js';
import { bytesEqual } from '../merkle/check.js';
import { eachNewTile, newTileCounts } from '../merkle/tile.js';
import { decodeBase64, encodeBase64 } from '../note/base64.js';
import { openCheckpoint, type Checkpoint } from '../note/checkpoint.js';
import type { Verifier } from '../note/keys.js';
import type { TreeHead } from '../note/sth.js';
import { parseCommandArgs, UsageError } from './args.js';
import { writableFolderProblem } from './os-error.js';
import { EXIT_ERROR, EXIT_OK, EXIT_VERIFY_FAILED, makeClient, parseHttpUrl, parseSeconds, processIo, Progress, resolveUrl, resolveVerifier, runClientCommand, writeJsonLine, type CliIo } from './client-common.js';

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

It alarms on: a signature that does not verify (bad-signature), two roots for
one tree size (fork), a tree that does not extend the last verified one
(inconsistent), a smaller tree or signed tree head (smaller-tree), tiles or
entries that do not match the signed root (tile-mismatch, entry-mismatch), a
signed tree head timestamp earlier than the last verified one, equal to it for
another tree, or more than 10 minutes ahead of this machine's clock
(timestamp), and, with --max-age, a newest signed tree head older than that
(stale; an idle Cairn log re-signs at least every 10 minutes). An alarm is a
line on standard error (with --json, a JSON line on standard output, with the
other events), a POST of a JSON description to --webhook, and exit status 1
under --once. The state only moves forward to a checkpoint and
signed tree head that passed every check.

Options:
  --url URL          the log (CAIRN_URL; default http://127.0.0.1:8080)
  --vkey KEY|FILE    the log's verifier key, or a file holding it (CAIRN_VKEY)
  CAIRN_TOKEN        env only: an access token, for a log that needs one
  --state FILE       where the last verified checkpoint is kept
  --interval S       seconds between rounds (default 60)
  --once             one round, then exit
  --webhook URL      POST each alarm there as JSON
  --max-age S        alarm (stale) when the newest signed tree head is older
                     than S seconds, also when the log cannot be reached and
                     the last one verified is that old
  --json             events as JSON lines on standard output
  -h, --help         show this help

Exit status:
  0  every check passed (without --once: stopped by SIGINT/SIGTERM, no alarm)
  1  an alarm was raised
  2  usage or operational error: the log unreachable or answering an error
     (without --once: reported and retried), the state file unreadable, or
     its folder missing or not writable (checked before the log is asked)
`;

/** How far ahead of the monitor's clock an STH timestamp may be: clocks drift, but not by more. */
const MAX_CLOCK_AHEAD_MS = 10 * 60 * 1000;

/** How many tiles one tile reader authenticates before the next takes over: a reader caches every tile it read. */
const TILES_PER_READER = 4096;

/** What the state file holds: the last checkpoint and STH that passed every check. */
interface MonitorState {
  version: 1;
  origin: string;
  url: string;
  /** The signed checkpoint note. */
  checkpoint: string;
  tree_size: number;
  root_hash: string;
  /** ms: the last verified STH's timestamp (files written before sth_tree_size existed: the newest one seen). */
  sth_timestamp: number | null;
  /** The last verified STH's tree size and root; absent in older state files (their STH size checks are skipped). */
  sth_tree_size?: number;
  sth_root_hash?: string;
  verified_at: string;
}

/** What a round starts from: the last verified checkpoint, and what is known of the last verified STH. */
interface Verified {
  readonly checkpoint: Checkpoint;
  readonly sthTimestamp: number | undefined;
  readonly sth: Checkpoint | undefined;
}

type AlarmKind = 'bad-signature' | 'fork' | 'inconsistent' | 'smaller-tree' | 'tile-mismatch' | 'entry-mismatch' | 'timestamp' | 'stale';

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

/** The round was stopped (SIGINT/SIGTERM, or the caller's signal) before every check ran. */
class RoundStopped extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RoundStopped';
  }
}

/** `ms` as an ISO date, or as a number where no Date can hold it. */
function describeTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms after the epoch` : date.toISOString();
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

async function readState(path: string, verifier: Verifier): Promise<{ state: MonitorState; verified: Verified } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the state file ${path}: ${(err as Error).message}`);
  }
  let state: MonitorState;
  try {
    state = JSON.parse(text) as MonitorState;
  } catch {
    throw new Error(`the state file ${path} is not JSON; move it away to start over`);
  }
  const notState = new Error(`the state file ${path} is not a cairn monitor state`);
  if (state?.version !== 1 || typeof state.checkpoint !== 'string') throw notState;
  const timestamp = state.sth_timestamp ?? undefined;
  if (timestamp !== undefined && !(Number.isSafeInteger(timestamp) && timestamp >= 0)) throw notState;
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(state.checkpoint, verifier).checkpoint;
  } catch (err) {
    throw new Error(`the state file ${path} holds a checkpoint that is not signed by ${verifier.name}: ${(err as Error).message}`);
  }
  let sth: Checkpoint | undefined;
  if (state.sth_tree_size !== undefined || state.sth_root_hash !== undefined) {
    const size = state.sth_tree_size;
    let root: Uint8Array | undefined;
    try {
      root = typeof state.sth_root_hash === 'string' ? decodeBase64(state.sth_root_hash) : undefined;
    } catch {
      root = undefined;
    }
    if (!(Number.isSafeInteger(size) && size! >= 0) || root?.length !== 32 || timestamp === undefined) throw notState;
    sth = { origin: checkpoint.origin, treeSize: size!, rootHash: root, extensions: [] };
  }
  return { state, verified: { checkpoint, sthTimestamp: timestamp, sth } };
}

/**
 * Checks a new STH against the last verified one and the monitor's clock
 * (CONTRACT §2: a log never signs a smaller size after a larger one, nor two
 * roots for one size, and its STH timestamps strictly increase); throws Alarm.
 * The very same STH again is fine: an idle log re-signs only every few minutes.
 */
function checkTreeHead(head: TreeHead, sth: Checkpoint, before: Verified | undefined, now: number): void {
  const alarm = (kind: AlarmKind, message: string) => new Alarm(kind, message, sth, undefined, head.timestamp);
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
    throw alarm('timestamp', `the signed tree head of size ${head.treeSize} is dated ${describeTime(head.timestamp)}, more than ${MAX_CLOCK_AHEAD_MS / 60_000} minutes ahead of this monitor's clock`);
  }
}

/** Writes `state` to `path` atomically: a temporary file in the same folder, fsync'd, then renamed over it. */
async function writeState(path: string, state: MonitorState): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const handle = await open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // Make the rename itself durable; not every platform can open a folder.
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // best effort
  }
}

interface RoundOutcome {
  readonly checkpoint: Checkpoint;
  readonly note: string;
  readonly head: TreeHead;
  readonly tiles: number;
  readonly bundles: number;
}

/**
 * One round of checks from `before` (undefined: from the empty log); throws
 * Alarm, RoundStopped when `signal` aborts during the tile walk, or an
 * operational error.
 */
async function checkRound(client: CairnClient, before: Verified | undefined, io: CliIo, showProgress: boolean, signal: AbortSignal | undefined): Promise<RoundOutcome> {
  const last = before?.checkpoint;
  const guard = async <T>(work: () => Promise<T>, older?: Checkpoint, newer?: Checkpoint, note?: string): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (err instanceof ClientError && err.isVerificationFailure) throw new Alarm(alarmKindOf(err, older, newer), err.message, newer, note);
      throw err;
    }
  };
  const { checkpoint, note } = await guard(() => client.getCheckpoint());
  const head = await guard(() => client.getTreeHead(), undefined, checkpoint, note);
  const sth: Checkpoint = { origin: checkpoint.origin, treeSize: head.treeSize, rootHash: head.rootHash, extensions: [] };
  checkTreeHead(head, sth, before, io.now());

  // Every pair must be one history. The STH is a second signed statement; the
  // last verified STH is covered by the last checkpoint unless it was ahead of it.
  const pairs: [Checkpoint, Checkpoint][] = [];
  if (last !== undefined) pairs.push([last, checkpoint]);
  pairs.push(sth.treeSize <= checkpoint.treeSize ? [sth, checkpoint] : [checkpoint, sth]);
  const lastSth = before?.sth;
  if (lastSth !== undefined && (last === undefined || !sameTree(lastSth, last))) pairs.push([lastSth, sth.treeSize > checkpoint.treeSize ? sth : checkpoint]);
  // First from authenticated tiles, then from the log's endpoint, each whatever
  // the other did: a forked log that refuses get-sth-consistency must not turn
  // the fork its tiles prove into a mere error. A failure to fetch is reported
  // only once every other check of the round has passed.
  let failure: unknown;
  const attempt = async (work: () => Promise<unknown>, older: Checkpoint, newer: Checkpoint) => {
    try {
      await guard(work, older, newer, newer === checkpoint ? note : undefined);
    } catch (err) {
      if (err instanceof Alarm) throw err;
      failure ??= err;
    }
  };
  for (const [older, newer] of pairs) await attempt(() => client.verifyConsistency(older, newer, { fromTiles: true }), older, newer);
  for (const [older, newer] of pairs) await attempt(() => client.verifyConsistency(older, newer), older, newer);

  // The new tiles are walked, never listed: a signed size of 2^53 - 1 has 2^45
  // level-0 tiles. Each level-0 tile is authenticated by reading its entry
  // bundle (readEntryBundle checks the tile, then the entries against it), so
  // it counts as a tile and a bundle. A fresh reader every TILES_PER_READER
  // tiles drops the tiles the last one cached.
  const oldSize = last?.treeSize ?? 0;
  const counts = newTileCounts(oldSize, checkpoint.treeSize);
  const tiles = counts.reduce((sum, c) => sum + c, 0);
  const bundles = counts[0] ?? 0;
  const progress = new Progress(io.stderr, tiles + bundles, 'tiles and bundles', showProgress);
  const walk = eachNewTile(oldSize, checkpoint.treeSize);
  let reader = client.tileReader(checkpoint);
  let taken = 0;
  let done = 0;
  let finished = false;
  let failed = false;
  // Up to 8 checks in flight: against a remote log the round trips dominate.
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (!failed && signal?.aborted !== true) {
        const step = walk.next();
        if (step.done === true) {
          finished = true;
          return;
        }
        const tile = step.value;
        if (++taken % TILES_PER_READER === 0) reader = client.tileReader(checkpoint);
        const r = reader;
        try {
          if (tile.level === 0) await guard(() => client.readEntryBundle(tile.n, checkpoint, r), last, checkpoint, note);
          else await guard(() => r.readTile(tile.level, tile.n), last, checkpoint, note);
        } catch (err) {
          failed = true;
          throw err;
        }
        done += tile.level === 0 ? 2 : 1;
        progress.update(done);
      }
    }),
  );
  progress.finish(done);
  if (!finished && done < tiles + bundles) throw new RoundStopped(`stopped after ${done} of ${tiles + bundles} tiles and bundles of the tree of size ${checkpoint.treeSize}`);
  if (failure !== undefined) throw failure;
  return { checkpoint, note, head, tiles, bundles };
}

function stopSignal(io: CliIo): { signal: AbortSignal; dispose: () => void } {
  if (io.signal !== undefined) return { signal: io.signal, dispose: () => undefined };
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/** `cairn monitor`: see MONITOR_USAGE. */
export async function monitorCommand(argv: string[], io: CliIo = processIo()): Promise<number> {
  return runClientCommand('monitor', MONITOR_USAGE, io, async () => {
    const { values } = parseCommandArgs(argv, {
      url: { type: 'string' },
      vkey: { type: 'string' },
      state: { type: 'string' },
      interval: { type: 'string' },
      once: { type: 'boolean' },
      webhook: { type: 'string' },
      'max-age': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (values.help === true) {
      io.stdout.write(MONITOR_USAGE);
      return EXIT_OK;
    }
    const url = resolveUrl(values.url, io.env);
    const { verifier } = await resolveVerifier(values.vkey, io.env);
    if (values.state === undefined) throw new UsageError('--state FILE is required: it keeps the last verified checkpoint');
    const statePath = values.state;
    const intervalMs = parseSeconds(values.interval ?? '60', '--interval');
    const maxAgeMs = values['max-age'] === undefined ? undefined : parseSeconds(values['max-age'], '--max-age');
    const webhook = values.webhook === undefined ? undefined : parseHttpUrl(values.webhook, '--webhook');
    const once = values.once === true;
    const json = values.json === true;
    const client = makeClient(url, verifier, io, { maxRetries: 2 });
    const fetchFn = io.fetch ?? globalThis.fetch;

    const stamp = () => new Date(io.now()).toISOString();
    const emit = (event: Record<string, unknown>, human: string, toStderr = false) => {
      if (json) writeJsonLine(io.stdout, { time: stamp(), ...event });
      else (toStderr ? io.stderr : io.stdout).write(`${stamp()} ${human}\n`);
    };

    // Checked before any work: a state that cannot be written loses the round.
    const stateFolderProblem = await writableFolderProblem(dirname(statePath));
    if (stateFolderProblem !== undefined) throw new Error(`cannot keep the state file ${statePath}: ${stateFolderProblem}`);
    let loaded = await readState(statePath, verifier);
    if (loaded !== undefined && loaded.verified.checkpoint.origin !== verifier.name) throw new Error(`the state file ${statePath} is for ${loaded.verified.checkpoint.origin}`);
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
      emit({ event: 'alarm', kind: alarm.kind, message: alarm.message, last_verified: description.last_verified, observed: description.observed }, `ALARM ${alarm.kind}: ${alarm.message}`, true);
      // One webhook call per distinct alarm, not one per round.
      const key = `${alarm.kind} ${alarm.observedNote ?? alarm.message}`;
      if (webhook === undefined || sent.has(key)) return;
      sent.add(key);
      try {
        const res = await fetchFn(webhook, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(description), signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`status ${res.status}`);
      } catch (err) {
        emit({ event: 'error', message: `webhook ${webhook} failed: ${(err as Error).message}` }, `error: the webhook ${webhook} failed: ${(err as Error).message}`, true);
      }
    };

    /**
     * The stale alarm (--max-age) for a signed tree head of `sthTime`, or
     * undefined when there is no --max-age or it is recent enough. With
     * `failure`, the round could not verify a newer one: why is told.
     */
    const staleAlarm = (sthTime: number, checkpoint: Checkpoint, note: string, failure?: string): Alarm | undefined => {
      if (maxAgeMs === undefined) return undefined;
      const age = io.now() - sthTime;
      if (age <= maxAgeMs) return undefined;
      const which = failure === undefined ? 'the newest signed tree head is' : 'no newer signed tree head could be verified, and the last verified one is';
      const why = failure === undefined ? '' : `; the round failed: ${failure}`;
      return new Alarm('stale', `${which} ${Math.round(age / 1000)} s old (timestamp ${describeTime(sthTime)}); --max-age is ${maxAgeMs / 1000} s${why}`, checkpoint, note, sthTime);
    };

    const round = async (signal: AbortSignal | undefined): Promise<'ok' | 'alarm' | 'error' | 'stopped'> => {
      const last = loaded?.verified.checkpoint;
      let outcome: RoundOutcome;
      try {
        outcome = await checkRound(client, loaded?.verified, io, !json, signal);
      } catch (err) {
        if (err instanceof Alarm) {
          await raise(err);
          return 'alarm';
        }
        if (err instanceof RoundStopped) {
          emit({ event: 'stopped', message: err.message }, `${err.message}; the state stays at tree size ${last?.treeSize ?? 0}`, true);
          return 'stopped';
        }
        const message = err instanceof Error ? err.message : String(err);
        emit({ event: 'error', message }, `error: ${message}`, true);
        // A log that cannot be checked is stale once what was last verified
        // of it is older than --max-age: silence must not look like health.
        const verified = loaded?.verified;
        const stale = verified?.sthTimestamp === undefined ? undefined : staleAlarm(verified.sthTimestamp, verified.checkpoint, loaded!.state.checkpoint, message);
        if (stale !== undefined) {
          await raise(stale);
          return 'alarm';
        }
        return 'error';
      }
      const cp = outcome.checkpoint;
      const grew = cp.treeSize - (last?.treeSize ?? 0);
      const state: MonitorState = {
        version: 1,
        origin: verifier.name,
        url,
        checkpoint: outcome.note,
        tree_size: cp.treeSize,
        root_hash: encodeBase64(cp.rootHash),
        sth_timestamp: outcome.head.timestamp,
        sth_tree_size: outcome.head.treeSize,
        sth_root_hash: encodeBase64(outcome.head.rootHash),
        verified_at: stamp(),
      };
      try {
        await writeState(statePath, state);
      } catch (err) {
        emit({ event: 'error', message: `cannot write the state file: ${(err as Error).message}` }, `error: cannot write the state file ${statePath}: ${(err as Error).message}`, true);
        return 'error';
      }
      const sth: Checkpoint = { origin: cp.origin, treeSize: outcome.head.treeSize, rootHash: outcome.head.rootHash, extensions: [] };
      loaded = { state, verified: { checkpoint: cp, sthTimestamp: outcome.head.timestamp, sth } };
      emit(
        { event: grew > 0 || last === undefined ? 'verified' : 'unchanged', tree_size: cp.treeSize, root_hash: state.root_hash, grew, tiles: outcome.tiles, bundles: outcome.bundles, sth_timestamp: outcome.head.timestamp },
        last === undefined
          ? `verified ${verifier.name} at tree size ${cp.treeSize}, root ${state.root_hash}: first run (no earlier checkpoint), the whole log checked from its first entry; ${outcome.tiles} tiles and ${outcome.bundles} entry bundles authenticated`
          : grew > 0
            ? `verified ${verifier.name} at tree size ${cp.treeSize} (+${grew}), root ${state.root_hash}: consistent with the last checkpoint; ${outcome.tiles} tiles and ${outcome.bundles} entry bundles authenticated`
            : `unchanged: ${verifier.name} at tree size ${cp.treeSize}, root ${state.root_hash}`,
      );
      const stale = staleAlarm(outcome.head.timestamp, cp, outcome.note);
      if (stale !== undefined) {
        await raise(stale);
        return 'alarm';
      }
      return 'ok';
    };

    if (once) {
      const result = await round(io.signal);
      return result === 'ok' ? EXIT_OK : result === 'alarm' ? EXIT_VERIFY_FAILED : EXIT_ERROR;
    }
    const { signal, dispose } = stopSignal(io);
    try {
      while (!signal.aborted) {
        await round(signal);
        await io.sleep(intervalMs, signal);
      }
    } finally {
      dispose();
    }
    return alarms > 0 ? EXIT_VERIFY_FAILED : EXIT_OK;
  });
}
