import type { Stats } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { MAX_BATCH_ENTRIES } from '../client/client.js';
import { ClientError } from '../client/errors.js';
import { encodeBase64 } from '../note/base64.js';
import type { Checkpoint } from '../note/checkpoint.js';
import { parseCommandArgs, parseCount, UsageError } from './args.js';
import { cannotRead, cannotWrite, EXIT_HELP, EXIT_OK, makeClient, oneLine, parseSeconds, processIo, Progress, resolveUrl, resolveVerifier, retryPolicy, runClientCommand, writeJsonOut, type CliIo } from './client-common.js';
import { BadInputError, check, MAX_HELD_INPUT_BYTES, MAX_LINE_BYTES, StoppedReading, type Checked, type Reading } from './add-input.js';
import { BatchSender, headText, listenForStops, MAX_BATCH_BODY_BYTES, newSendState, PROXY_BODY_LIMIT, retryHooks, slowLogHint, Stopped, timedOut, UPLOAD_BYTES_PER_SECOND, type SendOptions } from './add-send.js';
import { readHeldReceipts, ResumeStopped, type HeldReceipts } from './add-resume.js';
import { checkReceiptTrees, type TreesCheck } from './receipt-consistency.js';
import { openReceiptsFile, ReceiptsWriter, type ReceiptsFile, type ReceiptsWait } from './receipts-file.js';
import { endBySignal, monotonicNow, processStopSignals, type StopSignal } from './stop-signals.js';
import { syncFolder } from '../sync-folder.js';

export { IndexRuns, MAX_BATCH_BODY_BYTES, PROXY_BODY_LIMIT } from './add-send.js';

/** Default of --max-wait: the most one request waits in all for the log's Retry-After answers (429 and 503), in seconds. */
const MAX_WAIT_SECONDS = 60;

/** Default of --timeout: the seconds one request may take, besides the time to send its body (UPLOAD_BYTES_PER_SECOND). */
const TIMEOUT_SECONDS = 30;

/** Default of --flush-after: the most a batch that is not full waits, from its first line, before it is sent (--stream), in seconds. */
const FLUSH_AFTER_SECONDS = 1;

/** The help text of `cairn add`: what it does, its options and its exit statuses. */
export const ADD_USAGE = `usage: cairn add [options] [FILE ...]

Logs entries and verifies every receipt against the log's key. Each FILE (or
standard input, when there is none or for '-') is one entry; with
--json-lines every non-blank line of the input is one JSON event, logged as
its RFC 8785 (JCS) canonical bytes. Entries go in POST /v1/batch requests;
an answer of 429 or 503 (the log's rate limit or a full queue, or a proxy's)
is sent again after its Retry-After, for at most --max-wait seconds of
waiting per request. A batch refused as more than is ever taken at once is
sent again in halves, and later batches are of that smaller size: one the
log refuses as too many entries (400 TOO_MANY_ENTRIES: more than its queue,
or than the token's rate limit allows per period) or bytes (413
BODY_TOO_LARGE), or a proxy in front of it refuses as too large (a 413
without the log's error code: its body limit, 1m by default in nginx, where
full batches of up to ${(MAX_BATCH_BODY_BYTES / 1e6).toFixed(1)} MB need client_max_body_size ${PROXY_BODY_LIMIT}); a warning says
so once. One entry alone that a proxy refuses stops cairn add (exit 2). Each
receipt (index, leaf_hash, checkpoint, inclusion_proof, duplicate) is
written as one JSON line, in input order, to standard output or appended to
--receipts FILE; 'cairn verify-receipt' checks one offline.

All of the input is checked before anything is sent, and so is the key: the
log's current checkpoint must verify with --vkey. That checkpoint is the
first of the log's signed statements that every later one must extend: each
batch's checkpoint of a larger tree is checked with a consistency proof from
the log (GET /ct/v1/get-sth-consistency). One of a smaller tree, or of the
same size with another root, is a verification failure (exit 1), since the
log signed two histories; that batch's receipts are not written. A proof
that fails is checked again from the log's tiles, authenticated against the
batch's checkpoint: tiles that show the tree does not extend, or that do not
match that checkpoint, are exit 1 the same way; tiles that prove it extends
(the proof was another pair's, as from a cache that ignores the query) stand
for the proof, which they are as strong as: cairn add carries on, warns once
on standard error (also with --quiet) that the log's proof failed, and may
end with exit 0; the summary counts those batches ("extended_by_tiles" with
--json). A proof the log does not give (unreachable, timed out, an error
status, a bad answer), or a failed one whose tiles cannot be read (the
same), proves nothing either way: it stops cairn add (exit 2) after that
batch's receipts, each verified against its signed checkpoint, are written.
The proof is one more request per batch whose tree grew, charged to
CAIRN_TOKEN's rate limit like any other: with --batch-size 1 that is twice
the requests, with large batches next to nothing. Where tiles stand for a
failed proof, the tile requests that proof takes are charged too: a few
more for each such batch.

A FILE is read twice, first to check it, then to send it a batch at a time,
so it may be of any size; if it changes in between, cairn add stops, saying
how many entries were logged. Standard input, or a FILE that is a pipe, is
read once and held in memory, up to ${MAX_HELD_INPUT_BYTES / 2 ** 30} GiB: more stops cairn add, nothing
sent; for more, give a file, or use --stream.

With --stream (and --json-lines), the input is read once, as it comes, and
sent as it is read: for a producer that does not end, as in
'tail -F app.log | cairn add --json-lines --stream'. Each line is checked
as it arrives; a batch is sent once it holds --batch-size entries, or
--flush-after seconds after its first line was read, and at the end of the
input. Only that batch (and the request in flight) is held; while a request
is in flight at most one more chunk of the input (64 KiB) is read, so a slow
log holds the producer back once the pipe is full. A bad line (not I-JSON,
too long, too large; a last line cut off at the end of the input, unless it
is JSON) stops cairn add (exit 2) once the lines before it are logged and
their receipts written: the message names it, and says that it and the
lines after it were not logged. A request the log does not answer (it
cannot be reached, or the connection breaks or times out before its answer,
or a proxy answers 502 or 504 for it: a restart) is sent again after a pause
of 1, 2, 4 ... s (at most 30 s), for up to --max-wait seconds of pauses in
all for that batch, reading no more meanwhile, with a notice when it begins
and when the log answers again; sending it again logs no entry twice (the
log answers one it holds as a duplicate, with its first index). Past that,
or on any other failure to log a batch, cairn add stops (exit 2) naming the
first line not logged, from which to feed the input again; with --receipts
FILE, feeding all of it again with --resume is safe too, and sends only
what has no receipt in FILE (the message says so).

Options:
  --url URL          the log (CAIRN_URL; default http://127.0.0.1:8080)
  --vkey KEY|FILE    the log's verifier key, or a file holding it (CAIRN_VKEY)
  CAIRN_TOKEN        env only: an access token, for a log that needs one
  --json-lines       the input is JSON Lines: one JSON event per line, of at
                     most ${MAX_LINE_BYTES} bytes
  --stream           with --json-lines: send the lines as they are read,
                     without reading all of the input first (see above)
  --flush-after S    with --stream: send a batch that is not full S seconds
                     after its first line was read, 0.05..3600 (default ${FLUSH_AFTER_SECONDS})
  --receipts FILE    append the receipts to FILE (created if need be), not
                     standard output ('-', the default); FILE is never
                     emptied, and may not be one of the inputs
  --resume           with --receipts FILE: pass over each entry whose receipt
                     is in FILE already, neither sending it nor writing a
                     second receipt (see below)
  --batch-size N     entries per request, 1..${MAX_BATCH_ENTRIES} (default ${MAX_BATCH_ENTRIES})
  --retries N        retries of a 429 or 503 answer per request (default 10)
  --max-wait S       the most one request waits in all for the Retry-After of
                     those answers, in seconds, 0..86400 (default ${MAX_WAIT_SECONDS});
                     a token limited per hour wants up to 3600. With
                     --stream, also the most a batch waits in all for a log
                     that does not answer (see above)
  --timeout S        the most one request may take, in seconds, 1..86400
                     (default ${TIMEOUT_SECONDS}), and 1 s more for each 32 KiB of its
                     body: a full batch (8 MiB of entries, 11 MB as JSON)
                     gets 342 s more. The log gives a body at most 300 s
                     to arrive, so over a link slower than about 300
                     kbit/s, give a smaller --batch-size
  --json             the closing summary as a JSON line (on standard error)
  --quiet            no progress bar, retry notices or summary (warnings
                     and errors are still shown)
  -h, --help         show this help

A progress bar is drawn on standard error when it is a terminal (not with
--stream, whose input has no known end). The closing summary counts the
entries new to the log, each once: not one that was in the log before this
run (its index is below the tree size of the checkpoint fetched first), nor
a repeat of an earlier entry of the input (answered with that one's index);
one logged since by an earlier try of a request whose answer was lost, or by
another submitter, is new. With --json "duplicates" counts the others. It
also counts every batch request sent (retries included). With --json,
"stopped_by" names the signal that stopped a --stream run cleanly (null when
it read all of its input), and "receipts_remade_from" the first entry
(FILE:LINE) whose receipt went to --receipts FILE made again, the file there
before having been moved or removed while cairn add ran (null when not), and
"already_receipted" the entries --resume passed over (0 without it).
"tree_size" and "root_hash" are null for a run stopped before the log's
checkpoint came.

Receipts of requests that completed are kept even if a later one fails. A
request that fails once sent may have been logged all the same: a connection
that broke or timed out after the upload, an answer that is not the log's (a
proxy's HTML 502), receipts that do not verify. The message then names its
entries, and sending them again logs none of them twice: the log answers an
entry it holds with its first index and "duplicate": true (run the same
cairn add again on FILEs; feed standard input, or a pipe, its lines again
from the first one named). Only a refusal says that nothing of it was
logged: the log's own (a 4xx, or a 503 QUEUE_FULL, with its error code), or
a 413 (too large) from whatever answered. Each batch's receipts are written
whole: if a write to FILE fails (a full disk), FILE is cut back to its last
whole receipt (unless another run appended to it meanwhile: what others
wrote is never cut away) and the message says how many entries were logged,
how many of their receipts were written, and which entries were logged
without one (by FILE:LINE and log index: 'cairn prove INDEX' gives the
proof). A regular FILE is synced (fdatasync) after each batch's receipts,
before the next request, and one removed or renamed meanwhile (logrotate)
is made again at its path, with a warning. FILE may be a pipe (a FIFO,
/dev/stdout): cairn add waits for its reader before sending anything (a
notice says so), and a reader that goes away stops it the same way.

With --resume, the receipts already in --receipts FILE are read before
anything is sent, and each entry of the input that one of them is for is
passed over: not sent, and no second receipt written. Run after a crash or
a stop, the same cairn add --resume sends only what has no receipt yet (with
--stream, or standard input, feeding it all of the input again is safe). An
entry is matched by its leaf hash, of the bytes logged (with --json-lines,
its canonical ones), and each receipt stands for one entry: of an entry
repeated in the input, as many are passed over as FILE holds receipts of it.
Every receipt in FILE must verify with --vkey (its checkpoint signed by the
log's key, its inclusion proof leading to that checkpoint's root), and the
log's current checkpoint is then proved to extend every one of their trees
(from its tiles, or its consistency proofs), before anything is sent; the
batches' checkpoints are proved to extend that one. Nothing is sent if
they do not: a line of FILE that is not a receipt, or a receipt of another
log or key, is exit 2; a receipt of this log's whose proof fails, two of
one tree size with different roots, or a log that no longer extends their
tree, is exit 1. A line that begins as a receipt but is cut off (cairn add
was killed while writing it; the next run writes on a line after it) is
passed over with a notice: its entry is sent again, and the log answers it
as a duplicate; so is a line holding NUL bytes (the machine stopped before
its disk got the last receipts). A FILE not there yet (or empty) makes it an ordinary run,
so that a cron job may always give --resume. FILE must be a regular file.
Reading FILE holds 20 to 40 bytes for each receipt (at most 64 MB for a
million) and about 1 KB for each tree (one per batch a run sent), and
checking their proofs takes about a minute per million, and each distinct
checkpoint's signature 2 or 3 ms more (a batch of one entry has one of its
own, as --stream's of a quiet input).

SIGINT, SIGTERM or SIGHUP (a closed terminal) sends no more requests: the
one in flight is finished and its receipts written, then cairn add stops
(exit 2) saying the same. With --stream it reads no more input, and the
lines it read are sent and their receipts written before it stops, naming
the last line logged: that is a clean stop, exit 0 (systemctl stop); if
they cannot all be logged, exit 2. While the input is read before anything
is sent (without --stream), --receipts FILE waits for its reader, or
--resume reads it, it stops at once, nothing sent (exit 2; with --stream,
which has read nothing yet then, 0). Another signal less than 1 s after the
first is the same request (npm run passes Ctrl-C on as well) and is
ignored; one later stops cairn add at once (exit 2; or, while a write to
FILE is stuck, as to a pipe nobody reads, or a FILE that may not answer, as
a device, is opened or read, by the signal itself, which a shell shows as
130 for SIGINT, 143 for SIGTERM).

${EXIT_HELP}
  A stop signal is exit 2; with --stream, 0 once every line read is logged
  and its receipt written (a second signal, or a stop that could not log
  them, is still 2).
`;

/** Why --resume cannot read the receipts in --receipts `path`, which is not a regular file (`kind`). */
function resumeNeedsFile(path: string, kind: Stats): string {
  const what = kind.isDirectory() ? 'a folder' : kind.isFIFO() ? 'a FIFO' : 'not a regular file';
  return `--resume reads the receipts already in --receipts ${path} before anything is sent, so it must be a regular file, and ${path} is ${what}`;
}

/**
 * What cairn add uses of its process besides {@link CliIo}: where it hears
 * its stop signals (ADD_STOP_SIGNALS), how it ends at once, and how it opens
 * --receipts FILE. A test passes its own, as it passes its own CliIo.
 */
export interface AddProcess {
  /** Calls `listener` with the signal's name at each of ADD_STOP_SIGNALS, until the function returned is called. */
  onStop(listener: (signal: string) => void): () => void;
  /** Ends the process at once with exit status `status`. */
  exit(status: number): void;
  /** A clock that never goes back, in ms, to tell a signal repeated at once from a second one (default {@link monotonicNow}). */
  now?(): number;
  /**
   * Ends the process by `signal` (one of ADD_STOP_SIGNALS), as its default
   * action would, once cairn add's listeners are removed: for when a write
   * or an open may be stuck in node's thread pool (a pipe nobody reads, a
   * device), since node's exit waits for that thread.
   */
  kill(signal: string): void;
  /**
   * Opens `path` to append to it, creating it if there is none (then
   * `created`); a FIFO without a reader is waited for as `wait` says
   * (openReceiptsFile).
   */
  openReceipts(path: string, wait?: ReceiptsWait): Promise<{ file: ReceiptsFile; created: boolean }>;
  /**
   * Stops reading standard input before its end, when cairn add stops early
   * (a stop signal, a bad line, more than it holds): else the process would
   * wait for its writer to end it, a producer that may never.
   */
  stopStdin?(): void;
}

/**
 * The signals that stop cairn add cleanly: SIGINT (Ctrl-C), SIGTERM (kill,
 * systemctl stop) and SIGHUP (the terminal or ssh session closed), which
 * would otherwise end it at once, without the receipts of the request in
 * flight.
 */
export const ADD_STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The real process's signals (through {@link processStopSignals}, which ignores a repeat that comes after cairn add stopped listening), exit and files. */
export function processAdd(): AddProcess {
  return {
    onStop(listener) {
      for (const signal of ADD_STOP_SIGNALS) processStopSignals.on(signal, listener);
      return () => {
        for (const signal of ADD_STOP_SIGNALS) processStopSignals.off(signal, listener);
      };
    },
    exit: (status) => process.exit(status),
    now: monotonicNow,
    kill: endBySignal,
    openReceipts: (path, wait) => openReceiptsFile(path, syncFolder, wait),
    stopStdin: () => void process.stdin.destroy(),
  };
}

/** `cairn add`: see ADD_USAGE. */
export async function addCommand(argv: string[], io: CliIo = processIo(), proc: AddProcess = processAdd()): Promise<number> {
  return runClientCommand('add', ADD_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        url: { type: 'string' },
        vkey: { type: 'string' },
        'json-lines': { type: 'boolean' },
        receipts: { type: 'string' },
        'batch-size': { type: 'string' },
        retries: { type: 'string' },
        'max-wait': { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
        stream: { type: 'boolean' },
        'flush-after': { type: 'string' },
        resume: { type: 'boolean' },
      },
      'files',
    );
    if (values.help === true) {
      io.stdout.write(ADD_USAGE);
      return EXIT_OK;
    }
    const url = resolveUrl(values.url, io.env);
    const { verifier } = await resolveVerifier(values.vkey, io.env);
    const batchSize = parseCount(values['batch-size'] ?? String(MAX_BATCH_ENTRIES), '--batch-size', 1, MAX_BATCH_ENTRIES);
    const retries = parseCount(values.retries ?? '10', '--retries', 0, 1000);
    const maxWaitMs = 1000 * parseCount(values['max-wait'] ?? String(MAX_WAIT_SECONDS), '--max-wait', 0, 86_400);
    const timeoutMs = 1000 * parseCount(values.timeout ?? String(TIMEOUT_SECONDS), '--timeout', 1, 86_400);
    const quiet = values.quiet === true;
    // '-' is standard output, as an input '-' is standard input.
    const receiptsPath = values.receipts === '-' ? undefined : values.receipts;
    /** A line on standard error, on a line of its own when a progress bar is drawn there. */
    const notice = (text: string) => io.stderr.write(`${io.stderr.isTTY === true ? '\n' : ''}cairn add: ${oneLine(text)}\n`);
    const sources = positionals.length === 0 ? ['-'] : positionals;
    if (sources.filter((s) => s === '-').length > 1) throw new UsageError("standard input ('-') can be read only once");
    const jsonLines = values['json-lines'] === true;
    const stream = values.stream === true;
    if (stream && !jsonLines) throw new UsageError('--stream needs --json-lines: it sends the lines of JSON Lines as they are read, and any other input is one entry per FILE');
    if (!stream && values['flush-after'] !== undefined) throw new UsageError('--flush-after needs --stream: without it, all of the input is read before anything is sent');
    const resume = values.resume === true;
    if (resume && receiptsPath === undefined) throw new UsageError('--resume needs --receipts FILE: it passes over the entries whose receipts are in FILE already');
    const flushAfterMs = parseSeconds(values['flush-after'] ?? String(FLUSH_AFTER_SECONDS), '--flush-after', 0.05, 3600);

    // The run's state: the sending changes it, the stop listener (there before any input is read) and the summary read it.
    const state = newSendState(new Progress(io.stderr, 0, 'entries', false), stream);
    /** Whether standard input was opened, to stop reading it if cairn add ends before it does. */
    let stdinOpened = false;
    const reading: Reading = {
      stdin: () => {
        stdinOpened = true;
        const chunks = io.readStdinChunks?.() ?? (async function* () {
          yield await io.readStdin();
        })();
        return { chunks, release: () => proc.stopStdin?.() };
      },
      signal: state.stopWait.signal,
    };
    const options: SendOptions = { io, notice, quiet, stream, jsonLines, receiptsPath, batchSize, retries, maxWaitMs, timeoutMs, flushAfterMs, sources, reading };
    const stopListening = listenForStops(state, options, proc);
    let sender: BatchSender | undefined;

    /** Whether some input cannot be read again (standard input, a pipe): running the same cairn add again does not send the same lines. */
    let readOnce = sources.includes('-');
    let receipts: ReceiptsWriter | undefined;
    let created = false;
    /** Whether --receipts FILE is a regular file, which --resume can read. */
    let receiptsRegular = false;
    /** With --resume, the receipts in FILE before this run. */
    let held: HeldReceipts | undefined;
    /**
     * A stop before anything was sent: exit 2, or with --stream, where none
     * of the input was read yet, a clean stop (exit 0), as once the lines
     * read are logged, with the --json summary (of `start`, the first
     * checkpoint, if it came).
     */
    const stoppedBeforeSending = async (message: string, start?: Checkpoint): Promise<number> => {
      if (!stream) throw new Error(message);
      notice(message);
      if (values.json === true) await writeJsonOut(io.stderr, summaryOf(start, state.stopBy ?? 'a signal'), 'standard error');
      return EXIT_OK;
    };
    /**
     * The --json summary. `new`: the entries not in the log before this run,
     * each counted once (newIndexes); `duplicates`: the others, in the log
     * before this run or repeating an earlier entry of its input; `requests`:
     * every try of a batch request; `tree_size` and `root_hash`: the newest
     * checkpoint, null when none came (a stop before the first one);
     * `stopped_by` and `receipts_remade_from`: what the stop notice and the
     * summary's "from X on" say, null when there was none.
     */
    const summaryOf = (newest: Checkpoint | undefined, stoppedBy: string | undefined) => {
      const { done, newIndexes, before, repeats, requests, tilesProved, reopenedAt, skipped } = state;
      return {
        entries: done,
        new: newIndexes.size,
        duplicates: before + repeats,
        already_receipted: skipped,
        requests,
        tree_size: newest?.treeSize ?? null,
        root_hash: newest === undefined ? null : encodeBase64(newest.rootHash),
        origin: verifier.name,
        // Every receipt written was verified (none, when nothing was sent).
        receipts_verified: true,
        extended_by_tiles: tilesProved,
        stopped_by: stoppedBy ?? null,
        receipts_remade_from: reopenedAt ?? null,
      };
    };
    let endChecked = false;
    /**
     * Whether --receipts FILE is still at its path, looked at once as cairn
     * add ends, since no append follows to find out (a FILE removed or
     * renamed after the last batch, as by logrotate while the input is idle):
     * if not, a warning says where the receipts are.
     */
    const receiptsAtEnd = async (): Promise<'removed' | 'moved' | undefined> => {
      if (endChecked || receipts === undefined || !receipts.wroteAny) return undefined;
      endChecked = true;
      const gone = await receipts.gone();
      if (gone !== undefined) {
        const { reopenedAt } = state;
        const written = `the receipts cairn add wrote to it${reopenedAt === undefined ? '' : ` (from ${reopenedAt} on)`}`;
        // A warning, not a notice: --quiet does not hide it, since the receipts are not where they were said to go.
        notice(
          gone === 'removed'
            ? `warning: ${receiptsPath} was removed after cairn add last wrote receipts to it, and ${written} went with it ('cairn prove INDEX' gives an entry's proof)`
            : `warning: ${receiptsPath} was moved or replaced after cairn add last wrote receipts to it: ${written} are in the file moved, not at ${receiptsPath}`,
        );
      }
      return gone;
    };
    try {
      // Without --stream, the checking pass: a bad input anywhere is found before anything is sent.
      // With it, each FILE is only looked at (there, not a folder) and read when its turn comes.
      const checked: Checked[] = [];
      /** The inputs that are regular files, which the receipts file may not be. */
      const files: { readonly name: string; readonly stamp: Stats }[] = [];
      if (!stream) {
        try {
          for (const source of sources) checked.push(await check(source, jsonLines, reading));
        } catch (err) {
          if (err instanceof StoppedReading) throw new Error(`stopped by ${state.stopBy ?? 'a signal'} while reading ${err.input}: nothing was sent`);
          // One bad input among many, or one that cannot be read (a UsageError: missing, a folder): none of the others was sent either.
          // Told by a flag, not by the message's words: a FILE's name may hold them.
          if ((err instanceof BadInputError && err.saysNothingSent !== true) || err instanceof UsageError) err.message += ' (nothing was sent)';
          throw err;
        }
        state.readingOrOpening = false;
        for (const c of checked) {
          if (c.kind === 'file') files.push(c);
          else readOnce = true;
        }
      } else {
        for (const source of sources) {
          if (source === '-') continue;
          let stamp: Stats;
          try {
            stamp = await stat(source);
          } catch (err) {
            throw new UsageError(`${cannotRead(source, err)} (nothing was sent)`);
          }
          if (stamp.isDirectory()) throw new UsageError(`cannot read ${source}: it is a folder, not a file (nothing was sent)`);
          if (stamp.isFile()) files.push({ name: source, stamp });
          else readOnce = true;
        }
      }
      const total = checked.reduce((sum, c) => sum + c.entries, 0);
      if (!stream && total === 0) throw new BadInputError('nothing to add: the input holds no entries');

      // The receipts file is opened before anything is sent, so that one that cannot be
      // written to is found while nothing is logged; it is only appended to.
      if (receiptsPath !== undefined) {
        // With --resume, FILE is read first: a FIFO or a device, read, would be emptied of what another reads of it, or never end.
        if (resume) {
          let kind: Stats | undefined;
          try {
            kind = await stat(receiptsPath);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(cannotRead(receiptsPath, err));
          }
          if (kind !== undefined && !kind.isFile()) throw new UsageError(resumeNeedsFile(receiptsPath, kind));
        }
        let opened: { file: ReceiptsFile; created: boolean };
        /** A FIFO without a reader is waited for (saying so), until a stop. */
        const wait: ReceiptsWait = {
          signal: state.stopWait.signal,
          onWait: () => {
            if (!quiet) notice(`waiting for a reader of ${receiptsPath} (a FIFO): nothing is sent before one opens it`);
          },
        };
        try {
          state.readingOrOpening = true;
          opened = await proc.openReceipts(receiptsPath, wait);
        } catch (err) {
          if (state.stopBy !== undefined && (err as { name?: unknown } | undefined)?.name === 'AbortError') {
            return await stoppedBeforeSending(`stopped by ${state.stopBy} while waiting for a reader of ${receiptsPath}: nothing was sent`);
          }
          throw new UsageError(cannotWrite(receiptsPath, err));
        } finally {
          state.readingOrOpening = false;
        }
        try {
          const stat = await opened.file.stat();
          receiptsRegular = stat.isFile();
          const input = files.find((c) => c.stamp.dev === stat.dev && c.stamp.ino === stat.ino);
          if (input !== undefined) throw new UsageError(`--receipts ${receiptsPath} is the input ${input.name}: receipts are appended to the receipts file, so give one that is not an input`);
          // A FILE made by this run holds no receipts: resuming is then a run from the start.
          if (resume && !opened.created) {
            // Replaced by something else than a regular file between the look above and the open.
            if (!stat.isFile()) throw new UsageError(resumeNeedsFile(receiptsPath, stat));
            try {
              state.readingOrOpening = true;
              held = await readHeldReceipts(opened.file, receiptsPath, verifier, () => state.stopBy !== undefined);
            } finally {
              state.readingOrOpening = false;
            }
            const { cutOff } = held;
            if (cutOff !== undefined && !quiet) {
              notice(
                cutOff.lines === 1
                  ? `${receiptsPath}:${cutOff.first} is a receipt cut off (cairn add or the machine stopped while writing it): passed over; its entry is sent again, and the log answers it as a duplicate`
                  : `${cutOff.lines} lines of ${receiptsPath}, from ${receiptsPath}:${cutOff.first} on, are receipts cut off (cairn add or the machine stopped while writing them): passed over; their entries are sent again, and the log answers each as a duplicate`,
              );
            }
          }
          // A FILE removed or renamed while cairn add runs (logrotate) is opened again by its path.
          receipts = await ReceiptsWriter.open(opened.file, () => proc.openReceipts(receiptsPath, { onWait: wait.onWait }));
          created = opened.created;
        } catch (err) {
          await opened.file.close();
          if (opened.created) await unlink(receiptsPath).catch(() => undefined);
          if (err instanceof ResumeStopped) return await stoppedBeforeSending(`stopped by ${state.stopBy ?? 'a signal'} while reading the receipts in ${receiptsPath}: nothing was sent`);
          throw err;
        }
      }

      state.progress = new Progress(io.stderr, total, 'entries', !quiet && values.json !== true && !stream);

      const client = makeClient(url, verifier, io, {
        // A refused request logged nothing (CONTRACT §3), so sending it again is safe.
        ...retryPolicy(retries, maxWaitMs),
        timeoutMs,
        uploadBytesPerSecond: UPLOAD_BYTES_PER_SECOND,
        ...retryHooks(state, options),
      });
      // The key is checked before anything is sent: with a key that is not the
      // log's, every entry would be logged and then every receipt refused.
      let start: Checkpoint | undefined;
      try {
        state.waitMayStop = true;
        start = (await client.getCheckpoint()).checkpoint;
        state.startSize = start.treeSize;
        if (state.stopBy !== undefined) throw new Stopped();
      } catch (err) {
        // A stop once the checkpoint came names it in the --json summary.
        if (err instanceof Stopped) return await stoppedBeforeSending(`stopped by ${state.stopBy ?? 'a signal'}: nothing was sent`, start);
        if (err instanceof ClientError && err.code === 'BAD_SIGNATURE') {
          throw new ClientError(
            'BAD_SIGNATURE',
            `the log at ${url} does not sign its checkpoint with the verifier key given (${verifier.name}); nothing was sent. Is it this log's key? (${err.message})`,
            { cause: err },
          );
        }
        if (err instanceof Error) err.message += ' (nothing was sent)';
        // A GET without a body: its timeout is --timeout alone, and only a longer one helps.
        if (timedOut(err)) (err as Error).message += `; ${slowLogHint(timeoutMs)}`;
        throw err;
      } finally {
        state.waitMayStop = false;
      }
      /** With --resume, the log's checkpoint proved to extend every tree of the receipts in FILE. */
      let heldExtended: Checkpoint | undefined;
      if (held?.newest !== undefined) {
        const tree = held.newest;
        let shown: TreesCheck;
        try {
          // Every tree, not only the largest: a receipt under a tree the log no longer extends proves nothing of it now.
          shown = await checkReceiptTrees(client, held.trees);
        } catch (err) {
          if (err instanceof Error) err.message += ` (the newest receipt in ${receiptsPath ?? ''} is ${tree.where}; nothing was sent)`;
          throw err;
        }
        if (!shown.consistent) {
          throw new ClientError(
            shown.shownBy === 'signature' ? 'BAD_SIGNATURE' : 'INCONSISTENT',
            `the log does not show that it still holds what the receipts in ${receiptsPath ?? ''} prove: ${shown.reason} (the receipt ${shown.tree.where} is under ${headText(shown.tree.checkpoint)}); nothing was sent`,
          );
        }
        // The batches' checkpoints are proved to extend this one, which extends the receipts' largest tree.
        heldExtended = start = shown.latest.checkpoint;
        if (state.stopBy !== undefined) return await stoppedBeforeSending(`stopped by ${state.stopBy}: nothing was sent`, start);
      }
      sender = new BatchSender(state, options, {
        client,
        newest: start,
        receipts,
        readOnce,
        ...(held === undefined ? {} : { held: held.counts }),
        ...(receiptsRegular && receiptsPath !== undefined ? { resumable: { file: receiptsPath, given: resume } } : {}),
      });
      await sender.sendAll(checked);
      const gone = await receiptsAtEnd();
      const { done, newIndexes, before, repeats, requests, tilesProved, reopenedAt, skipped } = state;
      const newest = sender.newest;
      /** With --resume, the entries passed over, and what was checked of the receipts in FILE that stand for them. */
      const resumed = !resume
        ? ''
        : `; ${skipped} ${skipped === 1 ? 'entry' : 'entries'} already receipted in ${oneLine(receiptsPath ?? '')}, not sent again` +
          (held?.newest === undefined || heldExtended === undefined
            ? ''
            : ` (the ${held.receipts} ${held.receipts === 1 ? 'receipt' : 'receipts'} there verified against ${verifier.name}, the log's checkpoint of ${headText(heldExtended)} ` +
              `proved to extend ${held.trees.length === 1 ? 'their tree' : `each of their ${held.trees.length} trees`}, ${held.trees.length === 1 ? 'of size' : 'up to size'} ${held.newest.checkpoint.treeSize})`);
      if (values.json === true) await writeJsonOut(io.stderr, summaryOf(newest, sender.stoppedBy), 'standard error');
      else if (!quiet) {
        io.stderr.write(
          `logged ${done} ${done === 1 ? 'entry' : 'entries'} (${newIndexes.size} new, ${before} already in the log before this run` +
            `${repeats === 0 ? '' : `, ${repeats} repeating an earlier entry of this run's input`}) in ${requests} ${requests === 1 ? 'request' : 'requests'}; ` +
            `every receipt verified against ${verifier.name} at ${headText(newest)}, each batch's checkpoint proved to extend the one before` +
            `${tilesProved === 0 ? '' : ` (${tilesProved === 1 ? 'one' : tilesProved} by the log's tiles, its consistency proof having failed)`}` +
            resumed +
            `${receiptsPath === undefined ? '' : gone === undefined ? `; receipts in ${oneLine(receiptsPath)}` : `; receipts written to ${oneLine(receiptsPath)}, since ${gone === 'removed' ? 'removed' : 'moved or replaced'}`}` +
            `${reopenedAt === undefined || gone !== undefined ? '' : ` from ${reopenedAt} on (the file there before was moved or removed while cairn add ran)`}\n`,
        );
      }
      return EXIT_OK;
    } finally {
      stopListening();
      // An input not read to its end (a stop, a failure) is let go of, so that the process need not wait for its writer.
      sender?.giveUp();
      if (stdinOpened) proc.stopStdin?.();
      if (receipts !== undefined) {
        await receiptsAtEnd();
        await receipts.close();
        // A receipts file made by this run that sent nothing is not left behind.
        if (created && !state.sentAny && !receipts.wroteAny && receiptsPath !== undefined) await unlink(receiptsPath).catch(() => undefined);
      }
    }
  });
}
