import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CairnClient } from '../client/client.js';
import { ClientError } from '../client/errors.js';
import { newTiles } from '../merkle/tile.js';
import { encodeBase64 } from '../note/base64.js';
import { openCheckpoint, type Checkpoint } from '../note/checkpoint.js';
import type { Verifier } from '../note/keys.js';
import { parseCommandArgs, UsageError } from './args.js';
import { EXIT_ERROR, EXIT_OK, EXIT_VERIFY_FAILED, makeClient, parseHttpUrl, parseSeconds, processIo, Progress, resolveUrl, resolveVerifier, runClientCommand, writeJsonLine, type CliIo } from './client-common.js';

/** The help text of `cairn monitor`: what it does, its options and its exit statuses. */
export const MONITOR_USAGE = `usage: cairn monitor --url URL --vkey KEY --state FILE [options]

Follows a log's checkpoints and checks that it only grows. Every round it
fetches the checkpoint and the signed tree head and verifies their signatures;
checks the consistency proof from the last verified checkpoint (kept in the
state file, written atomically) to the new one, both from the log's endpoint
and computed from tiles; authenticates every new or grown hash tile against
the new root; and checks every new entry bundle against its level-0 tile.
The first run (no state file) checks the whole log from its first entry.

It alarms on: a signature that does not verify (bad-signature), two roots for
one tree size (fork), a tree that does not extend the last verified one
(inconsistent), a smaller tree (smaller-tree), tiles or entries that do not
match the signed root (tile-mismatch, entry-mismatch), and, with --max-age,
a newest signed tree head older than that (stale; an idle Cairn log re-signs
at least every 10 minutes). An alarm is a line on standard error, a POST of a
JSON description to --webhook, and exit status 1 under --once. The state only
moves forward to a checkpoint that passed every check.

Options:
  --url URL          the log (CAIRN_URL)
  --vkey KEY|FILE    the log's verifier key, or a file holding it (CAIRN_VKEY)
  CAIRN_TOKEN        env only: an access token, for a log that needs one
  --state FILE       where the last verified checkpoint is kept
  --interval S       seconds between rounds (default 60)
  --once             one round, then exit
  --webhook URL      POST each alarm there as JSON
  --max-age S        alarm when the newest signed tree head is older than S seconds
  --json             events as JSON lines on standard output
  -h, --help         show this help

Exit status:
  0  every check passed (without --once: stopped by SIGINT/SIGTERM, no alarm)
  1  an alarm was raised
  2  usage or operational error (the log or the state file unreachable or
     unreadable; without --once these are reported and retried)
`;

/** What the state file holds: the last checkpoint that passed every check. */
interface MonitorState {
  version: 1;
  origin: string;
  url: string;
  /** The signed checkpoint note. */
  checkpoint: string;
  tree_size: number;
  root_hash: string;
  /** ms: the newest verified STH timestamp. */
  sth_timestamp: number | null;
  verified_at: string;
}

type AlarmKind = 'bad-signature' | 'fork' | 'inconsistent' | 'smaller-tree' | 'tile-mismatch' | 'entry-mismatch' | 'stale';

class Alarm extends Error {
  constructor(
    readonly kind: AlarmKind,
    message: string,
    readonly observed?: Checkpoint,
    readonly observedNote?: string,
  ) {
    super(message);
    this.name = 'Alarm';
  }
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

async function readState(path: string, verifier: Verifier): Promise<{ state: MonitorState; checkpoint: Checkpoint } | undefined> {
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
  if (state?.version !== 1 || typeof state.checkpoint !== 'string') throw new Error(`the state file ${path} is not a cairn monitor state`);
  try {
    return { state, checkpoint: openCheckpoint(state.checkpoint, verifier).checkpoint };
  } catch (err) {
    throw new Error(`the state file ${path} holds a checkpoint that is not signed by ${verifier.name}: ${(err as Error).message}`);
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
  readonly sthTimestamp: number;
  readonly tiles: number;
  readonly bundles: number;
}

/** One round of checks from `last` (undefined: from the empty log); throws Alarm or an operational error. */
async function checkRound(client: CairnClient, last: Checkpoint | undefined, io: CliIo, showProgress: boolean): Promise<RoundOutcome> {
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

  if (last !== undefined) await guard(() => client.verifyConsistency(last, checkpoint), last, checkpoint, note);
  // The STH is a second signed statement: it must be the same history.
  if (sth.treeSize <= checkpoint.treeSize) await guard(() => client.verifyConsistency(sth, checkpoint), sth, checkpoint, note);
  else await guard(() => client.verifyConsistency(checkpoint, sth), checkpoint, sth, note);

  const oldSize = last?.treeSize ?? 0;
  const reader = client.tileReader(checkpoint);
  if (last !== undefined && last.treeSize > 0 && last.treeSize < checkpoint.treeSize) {
    await guard(async () => {
      // The same consistency, computed from authenticated tiles rather than taken from the log.
      await client.verifyConsistency(last, checkpoint, { fromTiles: true });
    }, last, checkpoint, note);
  }
  const tiles = newTiles(oldSize, checkpoint.treeSize);
  const bundles = tiles.filter((t) => t.level === 0);
  const progress = new Progress(io.stderr, tiles.length + bundles.length, 'tiles and bundles', showProgress);
  // Up to 8 checks in flight: against a remote log the round trips dominate.
  const work: (() => Promise<unknown>)[] = [...tiles.map((t) => () => reader.readTile(t.level, t.n)), ...bundles.map((t) => () => client.readEntryBundle(t.n, checkpoint, reader))];
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(8, work.length) }, async () => {
      while (next < work.length) {
        const check = work[next++]!;
        await guard(check, last, checkpoint, note);
        progress.update(++done);
      }
    }),
  );
  progress.finish(done);
  return { checkpoint, note, sthTimestamp: head.timestamp, tiles: tiles.length, bundles: bundles.length };
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
    if (values.url === undefined && io.env.CAIRN_URL === undefined) throw new UsageError('--url is required');
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

    let loaded = await readState(statePath, verifier);
    if (loaded !== undefined && loaded.checkpoint.origin !== verifier.name) throw new Error(`the state file ${statePath} is for ${loaded.checkpoint.origin}`);
    const sent = new Set<string>();
    let alarms = 0;

    const raise = async (alarm: Alarm) => {
      alarms++;
      const last = loaded?.checkpoint;
      const description = {
        type: 'cairn.monitor.alarm',
        kind: alarm.kind,
        message: alarm.message,
        origin: verifier.name,
        url,
        time: stamp(),
        last_verified: last === undefined ? null : { tree_size: last.treeSize, root_hash: encodeBase64(last.rootHash), checkpoint: loaded!.state.checkpoint },
        observed: alarm.observed === undefined ? null : { tree_size: alarm.observed.treeSize, root_hash: encodeBase64(alarm.observed.rootHash), checkpoint: alarm.observedNote ?? null },
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

    const round = async (): Promise<'ok' | 'alarm' | 'error'> => {
      const last = loaded?.checkpoint;
      let outcome: RoundOutcome;
      try {
        outcome = await checkRound(client, last, io, !json);
      } catch (err) {
        if (err instanceof Alarm) {
          await raise(err);
          return 'alarm';
        }
        const message = err instanceof Error ? err.message : String(err);
        emit({ event: 'error', message }, `error: ${message}`, true);
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
        sth_timestamp: Math.max(outcome.sthTimestamp, loaded?.state.sth_timestamp ?? 0),
        verified_at: stamp(),
      };
      try {
        await writeState(statePath, state);
      } catch (err) {
        emit({ event: 'error', message: `cannot write the state file: ${(err as Error).message}` }, `error: cannot write the state file ${statePath}: ${(err as Error).message}`, true);
        return 'error';
      }
      loaded = { state, checkpoint: cp };
      emit(
        { event: grew > 0 || last === undefined ? 'verified' : 'unchanged', tree_size: cp.treeSize, root_hash: state.root_hash, grew, tiles: outcome.tiles, bundles: outcome.bundles, sth_timestamp: outcome.sthTimestamp },
        grew > 0 || last === undefined
          ? `verified ${verifier.name} at tree size ${cp.treeSize} (+${grew}), root ${state.root_hash}: consistent with the last checkpoint; ${outcome.tiles} tiles and ${outcome.bundles} entry bundles authenticated`
          : `unchanged: ${verifier.name} at tree size ${cp.treeSize}, root ${state.root_hash}`,
      );
      if (maxAgeMs !== undefined) {
        const age = io.now() - outcome.sthTimestamp;
        if (age > maxAgeMs) {
          await raise(new Alarm('stale', `the newest signed tree head is ${Math.round(age / 1000)} s old (timestamp ${new Date(outcome.sthTimestamp).toISOString()}); --max-age is ${maxAgeMs / 1000} s`, cp, outcome.note));
          return 'alarm';
        }
      }
      return 'ok';
    };

    if (once) {
      const result = await round();
      return result === 'ok' ? EXIT_OK : result === 'alarm' ? EXIT_VERIFY_FAILED : EXIT_ERROR;
    }
    const { signal, dispose } = stopSignal(io);
    try {
      while (!signal.aborted) {
        await round();
        await io.sleep(intervalMs, signal);
      }
    } finally {
      dispose();
    }
    return alarms > 0 ? EXIT_VERIFY_FAILED : EXIT_OK;
  });
}
