import type { Stats } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { MAX_BATCH_ENTRIES, type BatchResult } from '../client/client.js';
import { ClientError, isVerificationFailure } from '../client/errors.js';
import { encodeBase64 } from '../note/base64.js';
import type { Checkpoint } from '../note/checkpoint.js';
import { parseCommandArgs, parseCount, UsageError } from './args.js';
import { cannotRead, cannotWrite, EXIT_ERROR, EXIT_HELP, EXIT_OK, jsonLine, makeClient, oneLine, OutputError, parseSeconds, processIo, Progress, resolveUrl, resolveVerifier, retryPolicy, runClientCommand, writeJsonOut, writeOut, type CliIo } from './client-common.js';
import { BadInputError, check, entriesOf, isSystemError, jsonLineEntries, MAX_HELD_INPUT_BYTES, MAX_LINE_BYTES, openInput, orStop, STOP, StoppedReading, InputError, type Checked, type Input, type Opened, type Reading } from './add-input.js';
import { openReceiptsFile, ReceiptsWriteError, ReceiptsWriter, type ReceiptsFile, type ReceiptsWait } from './receipts-file.js';
import { endBySignal, monotonicNow, processStopSignals, stopSignalSorter, type StopSignal } from './stop-signals.js';
import { syncFolder } from './sync-folder.js';

/** Default of --max-wait: the most one request waits in all for the log's Retry-After answers (429 and 503), in seconds. */
const MAX_WAIT_SECONDS = 60;

/** Entries per request are also capped by size, to keep request bodies small. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * The largest body of a batch request that cairn add sends: at most
 * MAX_BATCH_ENTRIES entries of at most MAX_BATCH_BYTES in all, each a quoted
 * base64 string (4 characters for each 3 bytes or part of 3, so at most
 * (length + 2) / 3 groups), with commas between them and {"entries":[]}
 * around them: 11,190,489 bytes (10.7 MiB).
 */
export const MAX_BATCH_BODY_BYTES = '{"entries":[]}'.length + (MAX_BATCH_ENTRIES - 1) + 2 * MAX_BATCH_ENTRIES + 4 * Math.floor((MAX_BATCH_BYTES + 2 * MAX_BATCH_ENTRIES) / 3);

/** The body limit a proxy in front of the log needs for full batches, as nginx's client_max_body_size writes it: MAX_BATCH_BODY_BYTES in MiB, with one to spare ("12m"). */
export const PROXY_BODY_LIMIT = `${Math.ceil(MAX_BATCH_BODY_BYTES / 2 ** 20) + 1}m`;

/** Default of --timeout: the seconds one request may take, besides the time to send its body (UPLOAD_BYTES_PER_SECOND). */
const TIMEOUT_SECONDS = 30;

/**
 * The slowest upload a request's timeout allows for, in bytes a second (256
 * kbit/s): a full batch (MAX_BATCH_BYTES of entries, about 11.2 MB as base64
 * JSON) gets 342 s on top of --timeout. The log gives a body at most 300 s to
 * arrive (BODY_MAX_MS in src/http/read-body.ts) and then refuses it, logging
 * nothing, so at this rate cairn add does not give up on an upload the log
 * would still take.
 */
const UPLOAD_BYTES_PER_SECOND = 32 * 1024;

/**
 * The length of the body addBatch sends for `entries` (CONTRACT §1:
 * {"entries": [base64, ...]}), for the share of its timeout that is upload time.
 */
function batchBodyBytes(entries: readonly { readonly entry: Uint8Array }[]): number {
  let bytes = '{"entries":[]}'.length + Math.max(0, entries.length - 1);
  for (const { entry } of entries) bytes += 2 + 4 * Math.ceil(entry.length / 3);
  return bytes;
}

/** The 503 codes of the log's that refuse a request before it is queued (CONTRACT §3): nothing of it is logged. */
const UNLOGGED_503_CODES: ReadonlySet<string> = new Set(['QUEUE_FULL', 'SHUTTING_DOWN']);

/**
 * Whether an answer of `status` with the log's error code `serverCode` (from
 * its `{"error", "code"}` body) is a refusal of the whole request, which logs
 * nothing: the log's own 4xx, or its 503 QUEUE_FULL or SHUTTING_DOWN; or a
 * 413 (too large), whoever answered it. An answer
 * without the log's body (a proxy's HTML 502 or 503) may have come after the
 * log took the request, and so may a 500 or a 503 STORAGE_FAILED.
 */
function refusedUnlogged(status: number | undefined, serverCode: string | undefined): boolean {
  // A 413 refuses a request for its size, whoever answers it: a proxy's (nginx's client_max_body_size)
  // comes before the request is passed on, from its Content-Length, so none of it reached the log.
  if (status === 413) return true;
  if (status === undefined || serverCode === undefined) return false;
  return (status >= 400 && status < 500) || (status === 503 && UNLOGGED_503_CODES.has(serverCode));
}

/** The codes, of an error or one of its causes, that say no connection was made: nothing was sent. */
const NOT_CONNECTED_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/** Whether `err` or one of its causes passes `test`. */
function causedBy(err: unknown, test: (e: { code?: unknown; name?: unknown }) => boolean): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    if (test(current as { code?: unknown; name?: unknown })) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Whether a batch request that failed with `err` may have been logged all
 * the same: unless the log's own refusal said it logged nothing, or no
 * connection was made, the log may have taken it before the failure (a
 * connection reset or a timeout after the upload, a proxy's 502 in place of
 * the log's answer, an answer cut off, receipts that do not verify).
 */
function mayHaveLogged(err: unknown): boolean {
  if (!(err instanceof ClientError)) return false;
  if (err.code === 'HTTP_STATUS') return !refusedUnlogged(err.status, err.serverCode);
  if (err.code === 'NETWORK') return !causedBy(err, (e) => typeof e.code === 'string' && NOT_CONNECTED_CODES.has(e.code));
  return true;
}

/**
 * Who refused a batch request `err` as more than it takes at once, which the
 * same entries in smaller requests may not be: 'log' for the log's own
 * refusal of that many entries (400 TOO_MANY_ENTRIES: more than its queue,
 * or a token's rate limit, ever takes) or bytes (413 BODY_TOO_LARGE: more
 * than its queue holds); 'proxy' for a 413 that is not the log's (a proxy's
 * body limit, such as nginx's client_max_body_size); undefined for any other
 * error, the log's 413 ENTRY_TOO_LARGE among them (one entry too large).
 */
function refusedAsTooLarge(err: unknown): 'log' | 'proxy' | undefined {
  if (!(err instanceof ClientError) || err.code !== 'HTTP_STATUS') return undefined;
  if (err.serverCode === 'TOO_MANY_ENTRIES' || (err.status === 413 && err.serverCode === 'BODY_TOO_LARGE')) return 'log';
  if (err.status === 413 && err.serverCode !== 'ENTRY_TOO_LARGE') return 'proxy';
  return undefined;
}

/** Whether `err` is a request that timed out (the transport's NETWORK error caused by a TimeoutError). */
function timedOut(err: unknown): boolean {
  return err instanceof ClientError && err.code === 'NETWORK' && causedBy(err.cause, (e) => e.name === 'TimeoutError');
}

/**
 * Whether a batch request that failed with `err` went without the log's
 * answer: no connection made, or one that broke, or timed out, before the
 * answer came (NETWORK), or a proxy's 502 or 504 without the log's error code
 * (the log behind it did not answer: a restart). The log may have logged it
 * all the same (mayHaveLogged), but sending it again is safe: it answers an
 * entry it holds with its first index and "duplicate": true.
 */
function unanswered(err: unknown): boolean {
  if (!(err instanceof ClientError)) return false;
  if (err.code === 'NETWORK') return true;
  return err.code === 'HTTP_STATUS' && err.serverCode === undefined && (err.status === 502 || err.status === 504);
}

/** With --stream, the first pause before a request the log did not answer is sent again, doubled after each try that fails so, up to OUTAGE_MAX_PAUSE_MS, in ms. */
const OUTAGE_FIRST_PAUSE_MS = 1000;
const OUTAGE_MAX_PAUSE_MS = 30_000;

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
first line not logged, from which to feed the input again.

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
also counts every batch request sent (retries included).

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

SIGINT, SIGTERM or SIGHUP (a closed terminal) sends no more requests: the
one in flight is finished and its receipts written, then cairn add stops
(exit 2) saying the same. With --stream it reads no more input, and the
lines it read are sent and their receipts written before it stops, naming
the last line logged: that is a clean stop, exit 0 (systemctl stop); if
they cannot all be logged, exit 2. While the input is read before anything
is sent (without --stream), or --receipts FILE waits for its reader, it
stops at once, nothing sent (exit 2; with --stream, which has read nothing
yet then, 0). Another signal less than 1 s after the first is the same
request (npm run passes Ctrl-C on as well) and is ignored; one later stops
cairn add at once (exit 2; or, while a write to FILE is stuck, as to a pipe
nobody reads, or a FILE that may not answer, as a device, is opened or
read, by the signal itself, which a shell shows as 130 for SIGINT, 143 for
SIGTERM).

${EXIT_HELP}
  A stop signal is exit 2; with --stream, 0 once every line read is logged
  and its receipt written (a second signal, or a stop that could not log
  them, is still 2).
`;

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

/** A stop signal stopped cairn add before the next request. */
class Stopped extends Error {}

/**
 * A set of log indexes held as sorted, disjoint runs [start, end): the
 * indexes one cairn add logs come mostly in runs (a batch's are
 * consecutive unless other submitters' come between), so what it holds
 * grows with those interleavings, not with the entries logged, which for a
 * --stream run that never ends would be without bound.
 */
export class IndexRuns {
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  #size = 0;

  /** How many indexes the set holds. */
  get size(): number {
    return this.#size;
  }

  /** How many runs hold them. */
  get runs(): number {
    return this.#starts.length;
  }

  has(index: number): boolean {
    const k = this.#runAtOrBefore(index);
    return k >= 0 && index < this.#ends[k]!;
  }

  add(index: number): void {
    if (this.has(index)) return;
    this.#size++;
    const k = this.#runAtOrBefore(index);
    const joinsBefore = k >= 0 && this.#ends[k] === index;
    const joinsAfter = k + 1 < this.#starts.length && this.#starts[k + 1] === index + 1;
    if (joinsBefore && joinsAfter) {
      this.#ends[k] = this.#ends[k + 1]!;
      this.#starts.splice(k + 1, 1);
      this.#ends.splice(k + 1, 1);
    } else if (joinsBefore) this.#ends[k] = index + 1;
    else if (joinsAfter) this.#starts[k + 1] = index;
    else {
      this.#starts.splice(k + 1, 0, index);
      this.#ends.splice(k + 1, 0, index + 1);
    }
  }

  /** The last run that starts at or before `index`, or -1. */
  #runAtOrBefore(index: number): number {
    let low = 0;
    let high = this.#starts.length;
    while (low < high) {
      const mid = Math.floor((low + high) / 2);
      if (this.#starts[mid]! <= index) low = mid + 1;
      else high = mid;
    }
    return low - 1;
  }
}

/** Log indexes for a message: "A to B" when they follow one another, else each of them. */
function indexText(indexes: readonly number[]): string {
  const first = indexes[0];
  const last = indexes[indexes.length - 1];
  if (first === undefined || last === undefined) return '';
  if (indexes.length === 1) return `log index ${first}`;
  if (indexes.every((x, i) => x === first + i)) return `log indexes ${first} to ${last}`;
  return `log indexes ${indexes.join(', ')}`;
}

/** The logged entries of `part` for a message: the one's FILE:LINE, or "the N entries A to B". */
function namedEntries(part: readonly Input[]): string {
  return part.length === 1 ? part[0]!.source : `the ${part.length} entries ${part[0]!.source} to ${part[part.length - 1]!.source}`;
}

/** Where the proofs of logged entries without a receipt are to be had, for a message. */
function proveHint(indexes: readonly number[]): string {
  return `('cairn prove ${indexes.length === 1 ? `${indexes[0]}' gives its proof` : "INDEX' gives each one's proof"})`;
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
    /** What a message adds for a request that timed out when a longer --timeout is the remedy. */
    const slowLogHint = () => `for a log slow to answer, give a --timeout of more than ${timeoutMs / 1000} s`;
    /** A line on standard error, on a line of its own when a progress bar is drawn there. */
    const notice = (text: string) => io.stderr.write(`${io.stderr.isTTY === true ? '\n' : ''}cairn add: ${oneLine(text)}\n`);
    const sources = positionals.length === 0 ? ['-'] : positionals;
    if (sources.filter((s) => s === '-').length > 1) throw new UsageError("standard input ('-') can be read only once");
    const jsonLines = values['json-lines'] === true;
    const stream = values.stream === true;
    if (stream && !jsonLines) throw new UsageError('--stream needs --json-lines: it sends the lines of JSON Lines as they are read, and any other input is one entry per FILE');
    if (!stream && values['flush-after'] !== undefined) throw new UsageError('--flush-after needs --stream: without it, all of the input is read before anything is sent');
    const flushAfterMs = parseSeconds(values['flush-after'] ?? String(FLUSH_AFTER_SECONDS), '--flush-after', 0.05, 3600);

    /** The progress bar, drawn once the input's entries are counted (never with --stream, whose input has no known end). */
    let progress = new Progress(io.stderr, 0, 'entries', false);
    let done = 0;
    /** The source of the last entry whose receipt is written. */
    let lastDone = '';
    /** Entries answered as duplicates of ones in the log before this run (at an index below `startSize`). */
    let before = 0;
    /** Entries answered as duplicates of an earlier entry of this run's input (their index is in `newIndexes`). */
    let repeats = 0;
    /**
     * The indexes counted as new: each receipt not a duplicate, and each duplicate at
     * `startSize` or past it seen for the first time (logged by an earlier try of its
     * request whose answer was lost, or meanwhile by another submitter).
     */
    const newIndexes = new IndexRuns();
    /** Batch requests (POST /v1/batch), each try of one counted. */
    let requests = 0;
    /** Batches whose checkpoint the log's tiles proved to extend the one before, the log's consistency proof having failed. */
    let tilesProved = 0;
    /** The tree size of the checkpoint fetched before anything is sent: an index below it was logged before this run. */
    let startSize = 0;
    const headText = (c: Checkpoint) => `tree size ${c.treeSize} (root ${encodeBase64(c.rootHash)})`;
    const entries = (n: number) => `${n} ${n === 1 ? 'entry' : 'entries'}`;
    const loggedAndWritten = (n: number) => (n === 1 ? 'was logged and its receipt written' : 'were logged and their receipts written');
    /** What is logged so far, for a message. */
    const soFar = () => (done === 0 ? 'nothing was logged' : `the ${entries(done)} through ${lastDone} ${loggedAndWritten(done)}`);
    /** Set once an error's message says what was logged, so the catch below adds nothing. */
    let told = false;

    // SIGINT or SIGTERM: no request is sent after the one in flight (with --stream: no more input is read,
    // and what was read is sent); while the input is read before sending, it stops at once. A second one,
    // REPEAT_SIGNAL_MS or more after the first (one sooner is the same signal passed on again, as by npm
    // run), ends the process. The listener is there before any input is read: a signal never finds the
    // process without it (node's default would end it, saying nothing).
    /** The signal that asked cairn add to stop. */
    let stopBy: string | undefined;
    const stopWait = new AbortController();
    /** The entries of the request in flight, from when it is sent until their receipts are written. */
    let inFlight: readonly Input[] | undefined;
    /** Whether cairn add is still reading its input before sending anything (without --stream): a stop then ends it at once. */
    let checking = !stream;
    /** The batch being filled (with --stream, all that is held of the input): the request in flight is its start. */
    let batch: Input[] = [];
    let batchBytes = 0;
    /** Whether a retry wait may be cut short by a stop: only while a request that logs nothing until answered waits. */
    let waitMayStop = false;
    /** Whether any request that logs entries was sent. */
    let sentAny = false;
    /** Whether the request in flight is the one that logs entries (not its consistency proof), until it is answered or fails. */
    let posting = false;
    /**
     * Whether an answer to the request in flight that was then tried again was
     * not the log's own refusal (a proxy's 503): the log may have taken it.
     */
    let triedAfterTaken = false;
    /** The entries of a request that failed once sent and may have been logged, for the message. */
    let maybeLogged: readonly Input[] | undefined;
    /** The entries of the request in flight once the log answered (they are logged), and their log indexes, until their receipts are written. */
    let answered: { readonly part: readonly Input[]; readonly indexes: readonly number[] } | undefined;
    /** Whether those receipts are being written to FILE (a write that may be stuck). */
    let writingFile = false;
    /**
     * With --stream, while the log does not answer the request of the batch
     * (unanswered): the tries since the first so, the pauses waited between
     * them, the next pause, whether one of them may have been logged, and
     * whether it is pausing now (else a try is under way).
     */
    let outage: { tries: number; waitedMs: number; pauseMs: number; mayHaveLogged: boolean; pausing: boolean } | undefined;
    /** Whether --receipts FILE is being opened (an open that may wait in node's thread pool: a file system that hangs). */
    let openingReceipts = false;
    /** Whether an input was read as it came by reads that may wait in node's thread pool (Opened.mayBlock: a device): one may still be pending. */
    let readMayBlock = false;
    /** `answered`'s entries named as logged, their receipts `where` (for a second signal's message). */
    const loggedWithout = (where: string): string => {
      const { part, indexes } = answered!;
      const one = part.length === 1;
      return `${namedEntries(part)} (${indexText(indexes)}) ${one ? 'was' : 'were'} logged, and ${one ? 'its receipt' : 'their receipts'} ${where} ${proveHint(indexes)}`;
    };
    const sortSignal = stopSignalSorter(() => proc.now?.() ?? monotonicNow());
    const stopListening = proc.onStop((signal) => {
      const kind = sortSignal();
      if (kind === 'repeat') return;
      if (kind === 'first') {
        stopBy = signal;
        stopWait.abort();
        // While the input is read, the stop message follows at once.
        if (quiet || checking || openingReceipts) return;
        if (stream) {
          if (batch.length === 0) return;
          const unlogged = `the ${entries(batch.length)} read and not yet logged`;
          notice(
            `${signal}: reading no more input; ` +
              (outage === undefined
                ? `sending ${unlogged}, then stopping`
                : outage.pausing
                  ? `the log is not answering, so ${unlogged} are not sent again: stopping`
                  : `the log is not answering: unless the try under way gets through, ${unlogged} are not sent again; then stopping`) +
              '; a second SIGINT or SIGTERM, 1 s or more later, stops at once',
          );
          return;
        }
        notice(`${signal}: ${inFlight === undefined ? 'sending nothing more' : 'finishing the request in flight, then sending nothing more'}; a second SIGINT or SIGTERM, 1 s or more later, stops at once`);
        return;
      }
      progress.finish(done);
      if (writingFile && answered !== undefined) {
        // A write to FILE may be stuck (a pipe whose reader does not read), and node's exit
        // waits for it: the process ends by the signal itself, as it would with no listener.
        notice(
          `stopped at once by a second ${signal} while writing receipts to ${receiptsPath ?? 'standard output'}: ${done === 0 ? '' : `${soFar()}; `}` +
            loggedWithout('may be missing or cut off there'),
        );
        stopListening();
        proc.kill(signal);
        return;
      }
      const first = inFlight?.[0];
      let maybe: string;
      if (answered !== undefined) {
        // The log answered: these entries are logged, whatever happens to their receipts now.
        maybe = `; ${loggedWithout(`may be missing from ${receiptsPath ?? 'standard output'}`)}`;
      } else if (inFlight === undefined || first === undefined) maybe = '';
      else {
        maybe =
          inFlight.length === 1
            ? `; ${first.source} was sent and may have been logged without its receipt written`
            : `; the ${entries(inFlight.length)} from ${first.source} on were sent and may have been logged without their receipts written`;
      }
      // "nothing was logged" would contradict what follows it when a request was sent.
      const before = done === 0 && maybe !== '' ? 'no receipt was written' : soFar();
      notice(`stopped at once by a second ${signal}: ${before}${maybe}`);
      if (checking || openingReceipts || readMayBlock) {
        // An open or a read of a FILE may be waiting in node's thread pool (a device, a file system that
        // hangs), and process.exit() would wait for that thread: the process ends by the signal itself.
        stopListening();
        proc.kill(signal);
        return;
      }
      proc.exit(EXIT_ERROR);
    });

    /** Whether standard input was opened, to stop reading it if cairn add ends before it does. */
    let stdinOpened = false;
    /** The input being read with --stream. */
    let streaming: Opened | undefined;
    /** Whether the reading of the input with --stream was given up (a stop, a bad line, a failure): an input opened since is let go of at once. */
    let givenUp = false;
    /** Aborted when it is given up: a FIFO's open that waits for its writer then returns (openInput). */
    const letGo = new AbortController();
    /** Gives up the reading of the input: no more of it is read, and nothing waits for its writer. */
    const giveUp = () => {
      givenUp = true;
      letGo.abort();
      streaming?.release();
    };
    const reading: Reading = {
      stdin: () => {
        stdinOpened = true;
        const chunks = io.readStdinChunks?.() ?? (async function* () {
          yield await io.readStdin();
        })();
        return { chunks, release: () => proc.stopStdin?.() };
      },
      signal: stopWait.signal,
    };
    /** Whether some input cannot be read again (standard input, a pipe): running the same cairn add again does not send the same lines. */
    let readOnce = sources.includes('-');
    let receipts: ReceiptsWriter | undefined;
    let created = false;
    /**
     * A stop before anything was sent: exit 2, or with --stream, where none
     * of the input was read yet, a clean stop (exit 0), as once the lines
     * read are logged.
     */
    const stoppedBeforeSending = (message: string): number => {
      if (!stream) throw new Error(message);
      notice(message);
      return EXIT_OK;
    };
    /** The first entry whose receipt went to FILE opened again, the file at its path having been moved or removed (said in the summary). */
    let reopenedAt: string | undefined;
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
          if (err instanceof StoppedReading) throw new Error(`stopped by ${stopBy ?? 'a signal'} while reading ${err.input}: nothing was sent`);
          throw err;
        }
        checking = false;
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
            throw new UsageError(cannotRead(source, err));
          }
          if (stamp.isDirectory()) throw new UsageError(`cannot read ${source}: it is a folder, not a file`);
          if (stamp.isFile()) files.push({ name: source, stamp });
          else readOnce = true;
        }
      }
      const total = checked.reduce((sum, c) => sum + c.entries, 0);
      if (!stream && total === 0) throw new BadInputError('nothing to add: the input holds no entries');

      // The receipts file is opened before anything is sent, so that one that cannot be
      // written to is found while nothing is logged; it is only appended to.
      if (receiptsPath !== undefined) {
        let opened: { file: ReceiptsFile; created: boolean };
        /** A FIFO without a reader is waited for (saying so), until a stop. */
        const wait: ReceiptsWait = {
          signal: stopWait.signal,
          onWait: () => {
            if (!quiet) notice(`waiting for a reader of ${receiptsPath} (a FIFO): nothing is sent before one opens it`);
          },
        };
        try {
          openingReceipts = true;
          opened = await proc.openReceipts(receiptsPath, wait);
        } catch (err) {
          if (stopBy !== undefined && (err as { name?: unknown } | undefined)?.name === 'AbortError') {
            return stoppedBeforeSending(`stopped by ${stopBy} while waiting for a reader of ${receiptsPath}: nothing was sent`);
          }
          throw new UsageError(cannotWrite(receiptsPath, err));
        } finally {
          openingReceipts = false;
        }
        try {
          const stat = await opened.file.stat();
          const input = files.find((c) => c.stamp.dev === stat.dev && c.stamp.ino === stat.ino);
          if (input !== undefined) throw new UsageError(`--receipts ${receiptsPath} is the input ${input.name}: receipts are appended to the receipts file, so give one that is not an input`);
          // A FILE removed or renamed while cairn add runs (logrotate) is opened again by its path.
          receipts = await ReceiptsWriter.open(opened.file, () => proc.openReceipts(receiptsPath, { onWait: wait.onWait }));
          created = opened.created;
        } catch (err) {
          await opened.file.close();
          if (opened.created) await unlink(receiptsPath).catch(() => undefined);
          throw err;
        }
      }

      progress = new Progress(io.stderr, total, 'entries', !quiet && values.json !== true && !stream);

      const client = makeClient(url, verifier, io, {
        // A refused request logged nothing (CONTRACT §3), so sending it again is safe.
        ...retryPolicy(retries, maxWaitMs),
        timeoutMs,
        uploadBytesPerSecond: UPLOAD_BYTES_PER_SECOND,
        sleep: async (ms) => {
          if (!waitMayStop) return io.sleep(ms);
          await io.sleep(ms, stopWait.signal);
          // The request waiting was refused (429 or 503): unless triedAfterTaken, it logged nothing.
          if (stopBy !== undefined) throw new Stopped();
        },
        onRetry: (info) => {
          if (posting) {
            requests++;
            if (!refusedUnlogged(info.status, info.serverCode)) triedAfterTaken = true;
          }
          if (quiet) return;
          // Only an answer with the log's JSON error body (CONTRACT §3) is the log's own; a proxy in between
          // (a load balancer's HTML page) may answer 429 or 503 for reasons of its own.
          const what =
            info.serverCode === undefined
              ? `a ${info.status} from the server or a proxy in between, without the log's error code`
              : `the log is ${info.status === 429 ? 'at its rate limit' : 'busy'} (${info.serverCode})`;
          notice(`${what}; retry ${info.attempt} of ${retries} in ${(info.delayMs / 1000).toFixed(1)} s`);
        },
      });
      // The key is checked before anything is sent: with a key that is not the
      // log's, every entry would be logged and then every receipt refused.
      // The newest checkpoint verified so far: each batch's must extend it
      // (CONTRACT §2: never a smaller size, nor two roots for one size).
      let newest: Checkpoint;
      try {
        waitMayStop = true;
        newest = (await client.getCheckpoint()).checkpoint;
        startSize = newest.treeSize;
        if (stopBy !== undefined) throw new Stopped();
      } catch (err) {
        if (err instanceof Stopped) return stoppedBeforeSending(`stopped by ${stopBy ?? 'a signal'}: nothing was sent`);
        if (err instanceof ClientError && err.code === 'BAD_SIGNATURE') {
          throw new ClientError(
            'BAD_SIGNATURE',
            `the log at ${url} does not sign its checkpoint with the verifier key given (${verifier.name}); nothing was sent. Is it this log's key? (${err.message})`,
            { cause: err },
          );
        }
        if (err instanceof Error) err.message += ' (nothing was sent)';
        // A GET without a body: its timeout is --timeout alone, and only a longer one helps.
        if (timedOut(err)) (err as Error).message += `; ${slowLogHint()}`;
        throw err;
      } finally {
        waitMayStop = false;
      }
      /**
       * Makes `next` the newest checkpoint once it is proved to extend the
       * newest one: no request for the same size, one consistency proof from
       * the log for a larger one; INCONSISTENT otherwise. A larger tree whose
       * proof from the log does not verify is checked again from the log's
       * tiles, authenticated against `next` (proofs are not signed: a cache
       * that ignores the query answers another pair's proof): tiles that
       * prove it extends stand for the proof, as strong as it, so `next` is
       * the newest and cairn add carries on, warning once that the log's
       * proof failed (`tilesProved` counts them, for the summary); tiles that
       * do not extend are INCONSISTENT. Tiles that cannot be read (a timeout,
       * an error status, a bad answer) prove nothing either way: `next` is
       * then not proved, as when the log does not give the proof, and the
       * error is the tiles' own operational one (its code, its cause), not
       * the proof's INCONSISTENT.
       */
      const extend = async (next: Checkpoint) => {
        try {
          await client.verifyConsistency(newest, next);
        } catch (thrown) {
          if (!(thrown instanceof ClientError)) throw thrown;
          let err = thrown;
          let fromTiles: 'extends' | 'does not extend' | undefined;
          if (err.code === 'INCONSISTENT' && next.treeSize > newest.treeSize) {
            try {
              await client.verifyConsistency(newest, next, { fromTiles: true });
              fromTiles = 'extends';
            } catch (tilesErr) {
              if (!(tilesErr instanceof ClientError)) throw tilesErr;
              if (tilesErr.code === 'INCONSISTENT') {
                err = tilesErr;
                fromTiles = 'does not extend';
              } else if (tilesErr.isVerificationFailure) {
                err.message += ` (its tiles, to check it again, did not match that checkpoint: ${tilesErr.message})`;
              } else {
                // Not read, so they settle nothing: the operational error of the tiles is this one's.
                err = new ClientError(tilesErr.code, `${err.message} (its tiles, to check it again, could not be read: ${tilesErr.message})`, {
                  cause: tilesErr,
                  ...(tilesErr.status === undefined ? {} : { status: tilesErr.status }),
                  ...(tilesErr.serverCode === undefined ? {} : { serverCode: tilesErr.serverCode }),
                  ...(tilesErr.url === undefined ? {} : { url: tilesErr.url }),
                });
              }
            }
          }
          if (fromTiles === 'extends') {
            // A warning, not a retry notice: --quiet does not hide it.
            if (tilesProved++ === 0) {
              notice(
                `warning: the log's consistency proof for a batch's checkpoint of ${headText(next)} did not verify (${err.message}), but its tiles, authenticated against that checkpoint, ` +
                  `proved that it extends its checkpoint of ${headText(newest)} verified before: the log's consistency endpoint, or a cache in front of it, answers a wrong proof (another pair's?), no fork; ` +
                  `carrying on, with the tiles standing for any proof of the log's that fails (said once)`,
              );
            }
            newest = next;
            return;
          }
          // Two signed heads show a smaller tree or a second root by themselves, and tiles
          // authenticated against the larger one show it by their proof; a larger tree whose
          // proof from the log fails is only not proved to extend (proofs are not signed).
          const shown = err.isVerificationFailure && (next.treeSize <= newest.treeSize || fromTiles === 'does not extend');
          const what = `the log's checkpoint of ${headText(next)} for this batch ${shown ? 'does not extend' : 'could not be proved to extend'} its checkpoint of ${headText(newest)} verified before`;
          throw new ClientError(err.code, `${what}: ${err.message}`, {
            cause: err,
            ...(err.status === undefined ? {} : { status: err.status }),
            ...(err.serverCode === undefined ? {} : { serverCode: err.serverCode }),
            ...(err.url === undefined ? {} : { url: err.url }),
          });
        }
        newest = next;
      };
      /**
       * Writes the receipts of `part`, logged: all of them, or an error that
       * says which entries were logged and which of their receipts are written.
       */
      const writeReceipts = async (part: readonly Input[], result: BatchResult) => {
        const lines = result.receipts.map((r) => jsonLine(r.receipt));
        try {
          if (receipts === undefined) await writeOut(io.stdout, lines.join(''));
          else {
            writingFile = true;
            try {
              await receipts.append(lines, (removed) => {
                // A warning, not a notice: --quiet does not hide it, since receipts are no longer all in FILE.
                const from = part[0]!.source;
                reopenedAt = from;
                notice(
                  removed
                    ? `warning: ${receiptsPath} was removed while cairn add ran, and with it the receipts written to it before ${from}; those from ${from} on are in a new ${receiptsPath}`
                    : `warning: ${receiptsPath} was moved or replaced while cairn add ran: the receipts written to it before ${from} are in the file moved; those from ${from} on are in the new ${receiptsPath}`,
                );
              });
            } finally {
              writingFile = false;
            }
          }
        } catch (thrown) {
          // Standard output takes a batch's receipts in one write: none counts as written in full.
          const err = thrown instanceof OutputError ? new ReceiptsWriteError(0, false, thrown.cause ?? thrown) : thrown;
          if (!(err instanceof ReceiptsWriteError)) throw err;
          done += err.written;
          if (err.written > 0) lastDone = part[err.written - 1]!.source;
          const missing = part.slice(err.written);
          const last = missing[missing.length - 1]!.source;
          const logged = done + missing.length;
          const one = missing.length === 1;
          told = true;
          const indexes = result.receipts.slice(err.written).map((r) => r.receipt.index);
          const cutText = (e: ReceiptsWriteError) =>
            !e.cut
              ? ''
              : e.othersWrote
                ? `; ${receiptsPath ?? ''} was not cut back, since something else appended to it meanwhile: it may hold a cut-off receipt of this run, run together with the line after it`
                : `; ${receiptsPath ?? ''} ends in a cut-off receipt that could not be removed`;
          const written = done === 0 ? 'no receipt written' : `the ${done === 1 ? 'receipt of the first' : `receipts of the first ${done}`} (through ${lastDone}) written in full`;
          // Written, but its fdatasync failed (EIO): the receipts are there until a crash or power cut.
          const without = err.notDurable
            ? `without ${one ? 'a durable receipt' : 'durable receipts'} (written to ${receiptsPath ?? ''}, but not made durable: a crash may lose ${one ? 'it' : 'them'}) `
            : `without ${one ? 'its receipt' : 'their receipts'} `;
          throw new Error(
            `${err.notDurable ? `cannot make the receipts in ${receiptsPath ?? ''} durable` : `cannot write the receipts to ${receiptsPath ?? 'standard output'}`}: ${err.message}: ` +
              `${entries(logged)} ${logged === 1 ? 'was' : 'were'} logged, ${written}; ` +
              `${namedEntries(missing)} (${indexText(indexes)}) ${one ? 'was' : 'were'} logged ${without}` +
              proveHint(indexes) +
              `${cutText(err)}; nothing after ${last} was sent`,
            { cause: err },
          );
        }
        done += part.length;
        lastDone = part[part.length - 1]!.source;
      };
      // The entries of the last batch request sent (its timeout allows for its body's upload, see the timeout hint).
      let lastSent: readonly Input[] = [];
      // Entries per request: --batch-size, until the log or a proxy says fewer (refusedAsTooLarge).
      let size = batchSize;
      /** Whether a proxy's 413 has made requests smaller (said once, in a warning). */
      let proxySplit = false;
      /**
       * Sends the batch, `size` entries a request, halving `size` while the
       * log, or a proxy in front of it, refuses that many as more than it
       * ever takes at once (refusedAsTooLarge); those refusals logged nothing,
       * and an entry sent again would come back as a duplicate with its
       * index, so the receipts stay in input order either way.
       */
      const send = async () => {
        while (batch.length > 0) {
          // With --stream, what was read cannot be read again: a stop sends it still (a second signal stops at once).
          if (stopBy !== undefined && !stream) throw new Stopped();
          const part = batch.slice(0, size);
          let result;
          inFlight = part;
          sentAny = true;
          requests++;
          lastSent = part;
          triedAfterTaken = false;
          try {
            waitMayStop = !stream;
            posting = true;
            result = await client.addBatch(part.map((c) => c.entry));
            answered = { part, indexes: result.receipts.map((r) => r.receipt.index) };
          } catch (err) {
            inFlight = undefined;
            const mayBeLogged = triedAfterTaken || mayHaveLogged(err) || outage?.mayHaveLogged === true;
            if (stream && unanswered(err) && err instanceof Error) {
              // With --stream, what was read cannot be read again: a log that does not answer (a restart, a
              // network break) is asked again after a pause, 1, 2, 4 ... s, for up to --max-wait in all.
              outage ??= { tries: 0, waitedMs: 0, pauseMs: OUTAGE_FIRST_PAUSE_MS, mayHaveLogged: false, pausing: false };
              outage.tries++;
              outage.mayHaveLogged = mayBeLogged;
              const pauseMs = Math.min(outage.pauseMs, OUTAGE_MAX_PAUSE_MS, maxWaitMs - outage.waitedMs);
              if (pauseMs > 0 && stopBy === undefined) {
                if (outage.tries === 1 && !quiet) {
                  notice(
                    `the log did not answer (${err.message}); sending ${namedEntries(part)} again in ${pauseMs / 1000} s, and again after each such failure, ` +
                      `pausing 1, 2, 4 ... s, for up to ${maxWaitMs / 1000} s in all (--max-wait); no more input is read meanwhile`,
                  );
                }
                // A second signal meanwhile names them as maybe logged.
                if (outage.mayHaveLogged) inFlight = part;
                outage.pausing = true;
                await io.sleep(pauseMs, stopWait.signal);
                outage.pausing = false;
                outage.waitedMs += pauseMs;
                outage.pauseMs *= 2;
                if (stopBy === undefined) continue;
              }
              if (mayBeLogged) maybeLogged = part;
              if (stopBy !== undefined) throw new Stopped();
              if (outage.tries > 1) err.message += ` (not answered in ${outage.tries} tries, with ${outage.waitedMs / 1000} s of pauses between them, all that --max-wait allows)`;
              throw err;
            }
            // More entries or bytes than the log (its queue), the token (its rate limit) or a proxy (its
            // body limit) ever takes at once: refused for good and logged nothing, so the same entries
            // are sent in smaller requests.
            const by = refusedAsTooLarge(err);
            if (by === undefined || part.length === 1) {
              if (mayBeLogged) maybeLogged = part;
              if (by === 'proxy' && err instanceof Error) {
                err.message +=
                  `; a proxy in front of the log refuses even one entry, ${part[0]!.source}, in a request of ${batchBodyBytes(part)} bytes, as too large: ` +
                  `raise its body limit (nginx: client_max_body_size; ${PROXY_BODY_LIMIT} takes cairn add's full batches), since no --batch-size sends less`;
              }
              throw err;
            }
            outage = undefined;
            size = Math.max(1, Math.floor(part.length / 2));
            if (by === 'log') {
              if (!quiet) notice(`the log refuses ${part.length} entries in one request (${(err as ClientError).serverCode ?? ''}); sending batches of ${size}`);
            } else if (!proxySplit) {
              proxySplit = true;
              // A warning, not a notice: --quiet does not hide it, since every batch now takes more requests.
              notice(
                `warning: a proxy in front of the log refused a request of ${part.length} entries (${batchBodyBytes(part)} bytes) as too large (413, an answer not the log's), ` +
                  `so the entries go in smaller requests: batches of ${size}, halved again while it refuses them; to send full batches, raise its body limit ` +
                  `(nginx: client_max_body_size ${PROXY_BODY_LIMIT}; its default is 1m), or give a --batch-size it takes (said once)`,
              );
            }
            continue;
          } finally {
            waitMayStop = false;
            posting = false;
          }
          if (outage !== undefined) {
            if (!quiet) notice(`the log answered again: ${namedEntries(part)} ${part.length === 1 ? 'is' : 'are'} logged, after ${outage.tries + 1} tries`);
            outage = undefined;
          }
          const from = part[0]!.source;
          // Each receipt is verified against the batch's signed checkpoint; before they are
          // written, that checkpoint must be proved to extend the ones before (one history).
          try {
            await extend(result.checkpoint.checkpoint);
          } catch (err) {
            if (!(err instanceof Error)) throw err;
            if (isVerificationFailure(err)) {
              // The log signed two histories (a smaller tree, a second root for one size, tiles
              // authenticated by this checkpoint that do not extend the one before), or its proof
              // of a larger tree failed and the tiles it served did not match its checkpoint. The
              // receipts file holds only receipts in the one history verified before (verify-receipt
              // would pass these on their own), so this batch's are left out; the message names both
              // checkpoints.
              const before = done === 0 ? 'no receipts were written' : `the ${entries(done)} before ${from} ${loggedAndWritten(done)}`;
              err.message += ` (${before}; the log's ${part.length === 1 ? 'receipt' : 'receipts'} for the ${entries(part.length)} from ${from} on, under that checkpoint, ${part.length === 1 ? 'was' : 'were'} not written)`;
              told = true;
              throw err;
            }
            // Not disproved, only not proved (the proof, or the tiles to check a failed one, could not
            // be had): the receipts, each verified against the batch's signed checkpoint, are kept,
            // and nothing more is sent.
            try {
              await writeReceipts(part, result);
            } catch (writeErr) {
              if (writeErr instanceof Error) writeErr.message = `${err.message}; then ${writeErr.message}`;
              throw writeErr;
            }
            const last = part[part.length - 1]!.source;
            err.message += ` (the ${entries(done)} through ${last} ${loggedAndWritten(done)}, each verified against its batch's signed checkpoint; nothing after ${last} was sent)`;
            // The proof is a GET without a body: its timeout is --timeout alone.
            if (timedOut(err)) err.message += `; ${slowLogHint()}`;
            told = true;
            throw err;
          }
          await writeReceipts(part, result);
          inFlight = undefined;
          answered = undefined;
          // A duplicate below startSize was in the log before this run; one at an index this run
          // already counted as new repeats an earlier entry of the input; any other was logged
          // during this run (by an earlier try of its request whose answer was lost, or by another
          // submitter) and is new, counted once.
          for (const { receipt } of result.receipts) {
            if (receipt.duplicate && receipt.index < startSize) before++;
            else if (receipt.duplicate && newIndexes.has(receipt.index)) repeats++;
            else newIndexes.add(receipt.index);
          }
          batch = batch.slice(part.length);
          progress.update(done);
        }
        batchBytes = 0;
      };
      /**
       * The entries of the inputs in order, each line read and checked as it
       * comes (--stream); `streaming` is the input being read, for a stop to
       * let go of it.
       */
      async function* streamed(): AsyncGenerator<Input> {
        for (const source of sources) {
          const name = source === '-' ? '<stdin>' : source;
          let opened: Opened;
          try {
            opened = source === '-' ? reading.stdin() : await openInput(source, letGo.signal);
          } catch (err) {
            if (isSystemError(err)) throw new Error(cannotRead(source, err), { cause: err });
            throw err;
          }
          // Given up while a FIFO's open waited for its writer.
          if (givenUp) return opened.release();
          if (opened.mayBlock === true) readMayBlock = true;
          streaming = opened;
          try {
            yield* jsonLineEntries(opened.chunks, name);
          } catch (err) {
            if (isSystemError(err)) throw new Error(cannotRead(name === '<stdin>' ? 'standard input' : name, err), { cause: err });
            throw err;
          } finally {
            opened.release();
            streaming = undefined;
          }
        }
      }
      /** What stopped the reading of the input with --stream, for a message when sending what was read fails. */
      let streamEnd = '';
      /**
       * --stream: reads the input as it comes, sending a batch once it holds
       * `size` entries, --flush-after from its first line read, and at the
       * end of the input. A stop signal, a bad line or an input that cannot
       * be read ends the reading; the lines read before are sent all the same,
       * and then cairn add stops, saying which were logged.
       */
      const sendAsRead = async () => {
        const lines = streamed();
        let pending: Promise<IteratorResult<Input>> | undefined;
        /** The wait of the batch being filled, from its first line: its end sends it. */
        let flush: { readonly due: Promise<'flush'>; readonly cancel: AbortController } | undefined;
        const unflush = () => {
          flush?.cancel.abort();
          flush = undefined;
        };
        let failure: unknown;
        let stopped = false;
        let ended = false;
        let read = 0;
        try {
          for (;;) {
            if (stopBy !== undefined) {
              stopped = true;
              break;
            }
            pending ??= lines.next();
            if (batch.length > 0 && flush === undefined) {
              const cancel = new AbortController();
              flush = { cancel, due: io.sleep(flushAfterMs, cancel.signal).then(() => 'flush' as const) };
            }
            let got: IteratorResult<Input> | typeof STOP | 'flush';
            try {
              got = await orStop(flush === undefined ? pending : Promise.race([pending, flush.due]), stopWait.signal);
            } catch (err) {
              failure = err;
              break;
            }
            if (got === STOP) {
              stopped = true;
              break;
            }
            if (got === 'flush') {
              // The line asked for (`pending`) is still awaited: at most one chunk more is read meanwhile.
              unflush();
              await send();
              continue;
            }
            pending = undefined;
            if (got.done === true) {
              ended = true;
              break;
            }
            const next = got.value;
            read++;
            if (batch.length > 0 && batchBytes + next.entry.length > MAX_BATCH_BYTES) {
              unflush();
              await send();
            }
            batch.push(next);
            batchBytes += next.entry.length;
            if (batch.length >= size) {
              unflush();
              await send();
            }
          }
        } finally {
          unflush();
          if (!ended) giveUp();
        }
        const givenUpBy = failure === undefined ? (stopped ? `at ${stopBy ?? 'a signal'}` : undefined) : `(${failure instanceof Error ? failure.message : String(failure)})`;
        if (givenUpBy !== undefined) streamEnd = `cairn add had stopped reading its input ${givenUpBy}`;
        // What was read is sent, at the end of the input and when the reading was given up: it cannot be read again.
        if (batch.length > 0) await send();
        streamEnd = '';
        if (givenUpBy === undefined) {
          if (read === 0) throw new BadInputError('nothing to add: the input holds no entries');
          return;
        }
        const last = done === 0 ? 'no line' : `no line after ${lastDone}`;
        if (stopped) {
          // A clean stop (systemctl stop, Ctrl-C): all that was read is logged, its receipts written. Said
          // even with --quiet, since the input must be fed again from the line after the last one logged.
          notice(`stopped by ${stopBy ?? 'a signal'}: ${soFar()}; ${last} was logged, and no more of the input was read`);
          return;
        }
        told = true;
        if (failure instanceof BadInputError) {
          failure.message += ` (${done === 0 ? 'nothing was logged' : `the ${entries(done)} before it ${loggedAndWritten(done)}`}; that line and the lines after it were not logged: cairn add read no further)`;
        } else if (failure instanceof Error) failure.message += ` (${soFar()}; ${last} was logged: cairn add read no further)`;
        throw failure;
      };
      try {
        if (stream) await sendAsRead();
        else {
          for (const input of checked) {
            for await (const next of entriesOf(input, jsonLines)) {
              if (batch.length >= size || (batch.length > 0 && batchBytes + next.entry.length > MAX_BATCH_BYTES)) await send();
              batch.push(next);
              batchBytes += next.entry.length;
            }
          }
          if (batch.length > 0) await send();
        }
      } catch (err) {
        progress.finish(done);
        if (told) throw err;
        const next = batch[0]?.source ?? 'the next input';
        /** With --stream, where the reading of the input ended, unless the message says it already (streamEnd). */
        const readNoFurther = stream && streamEnd === '' ? ', and cairn add read no further' : '';
        /** Standard input, or a pipe, gives its lines once: only its writer can give them again. */
        const feedAgain = (from: string) => (readOnce ? `feed the lines from ${from} on to cairn add again (it cannot read them twice itself)` : 'run the same cairn add again');
        /** The entries of a request that may have been logged, for a message: what became of them, and what running again does. */
        const maybeText = (sent: readonly Input[]) => {
          const one = sent.length === 1;
          const from = sent[0]!.source;
          return (
            `${namedEntries(sent)} ${one ? 'was' : 'were'} sent and may have been logged without ${one ? 'its receipt' : 'their receipts'}; ` +
            `nothing after ${sent[sent.length - 1]!.source} was sent${readNoFurther}; ` +
            (readOnce ? `${feedAgain(from)}; it logs no entry twice` : 'running the same cairn add again logs no entry twice') +
            `: the log answers one it holds with its first index and "duplicate": true`
          );
        };
        /** With --stream, of lines read and not logged (the batch): that they were not, and how to send them. */
        const unloggedText = () => `${next} and the lines after it were not logged${readNoFurther}: ${feedAgain(next)}`;
        if (err instanceof Stopped) {
          if (maybeLogged === undefined) {
            throw new Error(`stopped by ${stopBy ?? 'a signal'}: ${soFar()}; ${stream && batch.length > 0 ? unloggedText() : `nothing from ${next} on was logged`}`);
          }
          // An earlier try of the request was answered by something other than the log (a proxy's 503), maybe after the log took it.
          throw new Error(`stopped by ${stopBy ?? 'a signal'}: ${done === 0 ? 'no receipt was written' : soFar()}; ${maybeText(maybeLogged)}`);
        }
        if (!(err instanceof Error)) throw err;
        // The batch is never empty here (a send is made only for an entry that follows it), but a message must not throw.
        if (maybeLogged !== undefined) err.message += ` (${done === 0 ? '' : `the ${entries(done)} before ${next} ${loggedAndWritten(done)}; `}${maybeText(maybeLogged)})`;
        else if (stream && batch.length > 0) err.message += ` (${done === 0 ? 'nothing was logged' : `the ${entries(done)} before ${next} ${loggedAndWritten(done)}`}; ${unloggedText()})`;
        else if (done > 0) err.message += ` (the ${entries(done)} before ${next} ${loggedAndWritten(done)})`;
        else if (err instanceof InputError) err.message += ' (nothing was logged)';
        if (streamEnd !== '') err.message += `; ${streamEnd}`;
        // Only a batch request is sent here: its timeout grows with its body (UPLOAD_BYTES_PER_SECOND), yet a
        // slower link needs less in each. A smaller batch helps only when its upload time is a real part of it
        // (a quarter or more: over a slow link that part may be what ran out).
        if (timedOut(err)) {
          const uploadMs = Math.ceil((batchBodyBytes(lastSent) * 1000) / UPLOAD_BYTES_PER_SECOND);
          err.message +=
            uploadMs * 4 >= timeoutMs
              ? `; over a slow link, give a smaller --batch-size, or a --timeout of more than ${timeoutMs / 1000} s`
              : `; ${slowLogHint()}`;
        }
        throw err;
      }
      progress.finish(done);
      const gone = await receiptsAtEnd();
      // `new`: the entries not in the log before this run, each counted once (newIndexes); `duplicates`:
      // the others, in the log before this run or repeating an earlier entry of its input; `requests`:
      // every try of a batch request.
      const summary = {
        entries: done,
        new: newIndexes.size,
        duplicates: before + repeats,
        requests,
        tree_size: newest.treeSize,
        root_hash: encodeBase64(newest.rootHash),
        origin: verifier.name,
        receipts_verified: true,
        extended_by_tiles: tilesProved,
      };
      if (values.json === true) await writeJsonOut(io.stderr, summary, 'standard error');
      else if (!quiet) {
        io.stderr.write(
          `logged ${done} ${done === 1 ? 'entry' : 'entries'} (${newIndexes.size} new, ${before} already in the log before this run` +
            `${repeats === 0 ? '' : `, ${repeats} repeating an earlier entry of this run's input`}) in ${requests} ${requests === 1 ? 'request' : 'requests'}; ` +
            `every receipt verified against ${verifier.name} at ${headText(newest)}, each batch's checkpoint proved to extend the one before` +
            `${tilesProved === 0 ? '' : ` (${tilesProved === 1 ? 'one' : tilesProved} by the log's tiles, its consistency proof having failed)`}` +
            `${receiptsPath === undefined ? '' : gone === undefined ? `; receipts in ${oneLine(receiptsPath)}` : `; receipts written to ${oneLine(receiptsPath)}, since ${gone === 'removed' ? 'removed' : 'moved or replaced'}`}` +
            `${reopenedAt === undefined || gone !== undefined ? '' : ` from ${reopenedAt} on (the file there before was moved or removed while cairn add ran)`}\n`,
        );
      }
      return EXIT_OK;
    } finally {
      stopListening();
      // An input not read to its end (a stop, a failure) is let go of, so that the process need not wait for its writer.
      giveUp();
      if (stdinOpened) proc.stopStdin?.();
      if (receipts !== undefined) {
        await receiptsAtEnd();
        await receipts.close();
        // A receipts file made by this run that sent nothing is not left behind.
        if (created && !sentAny && !receipts.wroteAny && receiptsPath !== undefined) await unlink(receiptsPath).catch(() => undefined);
      }
    }
  });
}
