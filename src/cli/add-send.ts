/**
 * The sending of `cairn add`: the batches and their requests (--stream's
 * flush timer, the retries of a log that does not answer, halving a batch
 * refused as too large), the receipts written for each, and what a stop
 * signal does meanwhile. One run's shared state is a {@link SendState}: the
 * sending, the stop listener and the command's summary read and change it.
 */

import { MAX_BATCH_ENTRIES, type BatchResult, type CairnClient } from '../client/client.js';
import type { TransportOptions } from '../client/http.js';
import { ClientError, isVerificationFailure } from '../client/errors.js';
import { encodeBase64 } from '../note/base64.js';
import { leafHash } from '../merkle/hash.js';
import type { Checkpoint } from '../note/checkpoint.js';
import type { AddProcess } from './add.js';
import type { LeafCounts } from './add-resume.js';
import { BadInputError, entriesOf, InputError, isSystemError, jsonLineEntries, openInput, orStop, STOP, type Checked, type Input, type Opened, type Reading } from './add-input.js';
import { cannotRead, EXIT_ERROR, jsonLine, OutputError, type CliIo, type Progress, writeOut } from './client-common.js';
import { ReceiptsWriteError, type ReceiptsWriter } from './receipts-file.js';
import { monotonicNow, stopSignalSorter } from './stop-signals.js';

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

/**
 * The slowest upload a request's timeout allows for, in bytes a second (256
 * kbit/s): a full batch (MAX_BATCH_BYTES of entries, about 11.2 MB as base64
 * JSON) gets 342 s on top of --timeout. The log gives a body at most 300 s to
 * arrive (BODY_MAX_MS in src/http/read-body.ts) and then refuses it, logging
 * nothing, so at this rate cairn add does not give up on an upload the log
 * would still take.
 */
export const UPLOAD_BYTES_PER_SECOND = 32 * 1024;

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
export function timedOut(err: unknown): boolean {
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

/** A stop signal stopped cairn add before the next request. */
export class Stopped extends Error {}

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


/** `n` entries, for a message. */
function entries(n: number): string {
  return `${n} ${n === 1 ? 'entry' : 'entries'}`;
}

function loggedAndWritten(n: number): string {
  return n === 1 ? 'was logged and its receipt written' : 'were logged and their receipts written';
}

/**
 * With --resume, the `skipped` entries passed over (their receipts in FILE already), for a message that counts
 * what this run logged: " (N entries already receipted passed over)", or nothing without any.
 */
function passedOver(skipped: number): string {
  return skipped === 0 ? '' : ` (${entries(skipped)} already receipted passed over)`;
}

/**
 * The `done` entries written before the entry `next`, for a message: "the N entries before X were logged and
 * their receipts written"; with `skipped` ones passed over by --resume (among them), it says so.
 */
function loggedBefore(done: number, next: string, skipped = 0): string {
  return `the ${entries(done)} before ${next} ${loggedAndWritten(done)}${passedOver(skipped)}`;
}

/** That this run logged nothing, for a message; with --resume, and how many entries it passed over. */
function nothingLogged(skipped: number): string {
  return `nothing was logged${passedOver(skipped)}`;
}

/** A checkpoint's tree size and root, for a message. */
export function headText(c: Checkpoint): string {
  return `tree size ${c.treeSize} (root ${encodeBase64(c.rootHash)})`;
}

/** What a message adds for a request that timed out when a longer --timeout is the remedy. */
export function slowLogHint(timeoutMs: number): string {
  return `for a log slow to answer, give a --timeout of more than ${timeoutMs / 1000} s`;
}

/** `err` said again with `message` (its code, status, log's code and URL kept), caused by it. */
function restated(err: ClientError, message: string): ClientError {
  return new ClientError(err.code, message, {
    cause: err,
    ...(err.status === undefined ? {} : { status: err.status }),
    ...(err.serverCode === undefined ? {} : { serverCode: err.serverCode }),
    ...(err.url === undefined ? {} : { url: err.url }),
  });
}

/** What cairn add's sending is given, from its options and its process. */
export interface SendOptions {
  readonly io: CliIo;
  /** A line on standard error, on a line of its own when a progress bar is drawn there. */
  readonly notice: (text: string) => void;
  readonly quiet: boolean;
  readonly stream: boolean;
  readonly jsonLines: boolean;
  /** --receipts FILE; undefined for standard output. */
  readonly receiptsPath: string | undefined;
  /** --batch-size. */
  readonly batchSize: number;
  /** --retries (for the retry notices). */
  readonly retries: number;
  readonly maxWaitMs: number;
  readonly timeoutMs: number;
  readonly flushAfterMs: number;
  /** The inputs, '-' for standard input: with --stream, read as they come. */
  readonly sources: readonly string[];
  readonly reading: Reading;
}

/**
 * With --stream, while the log does not answer the request of the batch
 * (unanswered): the tries since the first so, the pauses waited between
 * them, the next pause, whether one of them may have been logged, and
 * whether it is pausing now (else a try is under way).
 */
interface Outage {
  tries: number;
  waitedMs: number;
  pauseMs: number;
  mayHaveLogged: boolean;
  pausing: boolean;
}

/** What one cairn add run has done and is doing: its sending changes it, its stop listener and its summary read it. */
export interface SendState {
  /** The progress bar, drawn once the input's entries are counted (never with --stream, whose input has no known end). */
  progress: Progress;
  /** Entries whose receipts are written. */
  done: number;
  /** With --resume, entries passed over, their receipts being in FILE already: neither sent nor counted in `done`. */
  skipped: number;
  /** The source of the last entry whose receipt is written. */
  lastDone: string;
  /** Entries answered as duplicates of ones in the log before this run (at an index below `startSize`). */
  before: number;
  /** Entries answered as duplicates of an earlier entry of this run's input (their index is in `newIndexes`). */
  repeats: number;
  /**
   * The indexes counted as new: each receipt not a duplicate, and each duplicate at
   * `startSize` or past it seen for the first time (logged by an earlier try of its
   * request whose answer was lost, or meanwhile by another submitter).
   */
  readonly newIndexes: IndexRuns;
  /** Batch requests (POST /v1/batch), each try of one counted. */
  requests: number;
  /** Batches whose checkpoint the log's tiles proved to extend the one before, the log's consistency proof having failed. */
  tilesProved: number;
  /** The tree size of the checkpoint fetched before anything is sent: an index below it was logged before this run. */
  startSize: number;
  /** Set once an error's message says what was logged, so that nothing is added to it. */
  told: boolean;
  /** The signal that asked cairn add to stop. */
  stopBy: string | undefined;
  /** Aborted by the first stop signal: the waits it cuts short. */
  readonly stopWait: AbortController;
  /**
   * Whether cairn add is reading its input before sending anything (without
   * --stream) or opening --receipts FILE: a read or an open that may wait in
   * node's thread pool (a device, a file system that hangs). A first stop
   * then ends it at once, its message following; a second ends the process by the signal.
   */
  readingOrOpening: boolean;
  /** Whether an input was read as it came by reads that may wait in node's thread pool (Opened.mayBlock: a device): one may still be pending. */
  readMayBlock: boolean;
  /** The batch being filled (with --stream, all that is held of the input): the request in flight is its start. */
  batch: Input[];
  batchBytes: number;
  /** The entries of the request in flight, from when it is sent until their receipts are written. */
  inFlight: readonly Input[] | undefined;
  /** Whether a retry wait may be cut short by a stop: only while a request that logs nothing until answered waits. */
  waitMayStop: boolean;
  /** Whether any request that logs entries was sent. */
  sentAny: boolean;
  /** Whether the request in flight is the one that logs entries (not its consistency proof), until it is answered or fails. */
  posting: boolean;
  /**
   * Whether an answer to the request in flight that was then tried again was
   * not the log's own refusal (a proxy's 503): the log may have taken it.
   */
  triedAfterTaken: boolean;
  /** The entries of a request that failed once sent and may have been logged, for the message. */
  maybeLogged: readonly Input[] | undefined;
  /** The entries of the request in flight once the log answered (they are logged), and their log indexes, until their receipts are written. */
  answered: { readonly part: readonly Input[]; readonly indexes: readonly number[] } | undefined;
  /** Whether those receipts are being written to FILE (a write that may be stuck). */
  writingFile: boolean;
  /** With --stream, while the log does not answer the batch's request. */
  outage: Outage | undefined;
  /** The first entry whose receipt went to FILE opened again, the file at its path having been moved or removed (said in the summary). */
  reopenedAt: string | undefined;
}

/** The state of a run that has done nothing yet; `stream` is --stream (without it, the input is read first). */
export function newSendState(progress: Progress, stream: boolean): SendState {
  return {
    progress,
    done: 0,
    skipped: 0,
    lastDone: '',
    before: 0,
    repeats: 0,
    newIndexes: new IndexRuns(),
    requests: 0,
    tilesProved: 0,
    startSize: 0,
    told: false,
    stopBy: undefined,
    stopWait: new AbortController(),
    readingOrOpening: !stream,
    readMayBlock: false,
    batch: [],
    batchBytes: 0,
    inFlight: undefined,
    waitMayStop: false,
    sentAny: false,
    posting: false,
    triedAfterTaken: false,
    maybeLogged: undefined,
    answered: undefined,
    writingFile: false,
    outage: undefined,
    reopenedAt: undefined,
  };
}

/** What is logged so far, for a message; with --resume, and how many entries were passed over. */
function soFar(s: SendState): string {
  return `${s.done === 0 ? 'nothing was logged' : `the ${entries(s.done)} through ${s.lastDone} ${loggedAndWritten(s.done)}`}${passedOver(s.skipped)}`;
}

/** `answered`'s entries named as logged, their receipts `where` (for a second signal's message). */
function loggedWithout(s: SendState, where: string): string {
  const { part, indexes } = s.answered!;
  const one = part.length === 1;
  return `${namedEntries(part)} (${indexText(indexes)}) ${one ? 'was' : 'were'} logged, and ${one ? 'its receipt' : 'their receipts'} ${where} ${proveHint(indexes)}`;
}

/**
 * Listens for the stop signals of `proc` until the function returned is
 * called. SIGINT or SIGTERM: no request is sent after the one in flight
 * (with --stream: no more input is read, and what was read is sent); while
 * the input is read before sending, it stops at once. A second one,
 * REPEAT_SIGNAL_MS or more after the first (one sooner is the same signal
 * passed on again, as by npm run), ends the process. Called before any
 * input is read: a signal never finds the process without its listener
 * (node's default would end it, saying nothing).
 */
export function listenForStops(s: SendState, options: SendOptions, proc: AddProcess): () => void {
  const { quiet, stream, notice, receiptsPath } = options;
  const sortSignal = stopSignalSorter(() => proc.now?.() ?? monotonicNow());
  const stopListening = proc.onStop((signal) => {
    const kind = sortSignal();
    if (kind === 'repeat') return;
    if (kind === 'first') {
      s.stopBy = signal;
      s.stopWait.abort();
      // While the input is read, the stop message follows at once.
      if (quiet || s.readingOrOpening) return;
      if (stream) {
        if (s.batch.length === 0) return;
        const unlogged = `the ${entries(s.batch.length)} read and not yet logged`;
        notice(
          `${signal}: reading no more input; ` +
            (s.outage === undefined
              ? `sending ${unlogged}, then stopping`
              : s.outage.pausing
                ? `the log is not answering, so ${unlogged} are not sent again: stopping`
                : `the log is not answering: unless the try under way gets through, ${unlogged} are not sent again; then stopping`) +
            '; a second SIGINT or SIGTERM, 1 s or more later, stops at once',
        );
        return;
      }
      notice(`${signal}: ${s.inFlight === undefined ? 'sending nothing more' : 'finishing the request in flight, then sending nothing more'}; a second SIGINT or SIGTERM, 1 s or more later, stops at once`);
      return;
    }
    s.progress.finish(s.done + s.skipped);
    if (s.writingFile && s.answered !== undefined) {
      // A write to FILE may be stuck (a pipe whose reader does not read), and node's exit
      // waits for it: the process ends by the signal itself, as it would with no listener.
      notice(
        `stopped at once by a second ${signal} while writing receipts to ${receiptsPath ?? 'standard output'}: ${s.done === 0 ? '' : `${soFar(s)}; `}` +
          loggedWithout(s, 'may be missing or cut off there'),
      );
      stopListening();
      proc.kill(signal);
      return;
    }
    const inFlight = s.inFlight;
    const first = inFlight?.[0];
    let maybe: string;
    if (s.answered !== undefined) {
      // The log answered: these entries are logged, whatever happens to their receipts now.
      maybe = `; ${loggedWithout(s, `may be missing from ${receiptsPath ?? 'standard output'}`)}`;
    } else if (inFlight === undefined || first === undefined) maybe = '';
    else {
      maybe =
        inFlight.length === 1
          ? `; ${first.source} was sent and may have been logged without its receipt written`
          : `; the ${entries(inFlight.length)} from ${first.source} on were sent and may have been logged without their receipts written`;
    }
    // "nothing was logged" would contradict what follows it when a request was sent.
    const before = s.done === 0 && maybe !== '' ? 'no receipt was written' : soFar(s);
    notice(`stopped at once by a second ${signal}: ${before}${maybe}`);
    if (s.readingOrOpening || s.readMayBlock) {
      // An open or a read of a FILE may be waiting in node's thread pool (a device, a file system that
      // hangs), and process.exit() would wait for that thread: the process ends by the signal itself.
      stopListening();
      proc.kill(signal);
      return;
    }
    proc.exit(EXIT_ERROR);
  });
  return stopListening;
}

/**
 * The client's waits and retry notices for a run: a wait cut short by a
 * stop while `waitMayStop` (a request refused, which logged nothing unless
 * `triedAfterTaken`), each retry of a batch request counted, and a notice
 * for each retry unless --quiet.
 */
export function retryHooks(s: SendState, options: SendOptions): Pick<TransportOptions, 'sleep' | 'onRetry'> {
  const { io, quiet, notice, retries } = options;
  return {
    sleep: async (ms) => {
      if (!s.waitMayStop) return io.sleep(ms);
      await io.sleep(ms, s.stopWait.signal);
      // The request waiting was refused (429 or 503): unless triedAfterTaken, it logged nothing.
      if (s.stopBy !== undefined) throw new Stopped();
    },
    onRetry: (info) => {
      if (s.posting) {
        s.requests++;
        if (!refusedUnlogged(info.status, info.serverCode)) s.triedAfterTaken = true;
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
  };
}

/** What a {@link BatchSender} sends with and to, once the run is set up. */
export interface SendTo {
  readonly client: CairnClient;
  /** The log's checkpoint fetched before anything is sent, verified with its key: each batch's must extend it. */
  readonly newest: Checkpoint;
  /** --receipts FILE, opened; undefined for standard output. */
  readonly receipts: ReceiptsWriter | undefined;
  /** Whether some input cannot be read again (standard input, a pipe): running the same cairn add again does not send the same lines. */
  readonly readOnce: boolean;
  /** With --resume, the leaf hashes of the receipts in FILE: an entry of one not yet matched is passed over (see skips). */
  readonly held?: LeafCounts;
  /** --receipts FILE when it is a regular file, which --resume can read, and whether --resume was given: for what to send again. */
  readonly resumable?: { readonly file: string; readonly given: boolean };
}

/**
 * Sends one run's entries in batches, writes each batch's receipts once its
 * checkpoint is proved to extend the ones before, and says, when it stops
 * early, what was logged and what to send again. Its progress is in the
 * {@link SendState} it is given.
 */
export class BatchSender {
  readonly #s: SendState;
  readonly #options: SendOptions;
  readonly #to: SendTo;
  /** The newest checkpoint verified so far: each batch's must extend it (CONTRACT §2: never a smaller size, nor two roots for one size). */
  #newest: Checkpoint;
  /** The entries of the last batch request sent (its timeout allows for its body's upload, see the timeout hint). */
  #lastSent: readonly Input[] = [];
  /** Entries per request: --batch-size, until the log or a proxy says fewer (refusedAsTooLarge). */
  #size: number;
  /** Whether a proxy's 413 has made requests smaller (said once, in a warning). */
  #proxySplit = false;
  /** What stopped the reading of the input with --stream, for a message when sending what was read fails. */
  #streamEnd = '';
  /** The input being read with --stream. */
  #streaming: Opened | undefined;
  /** Whether the reading of the input with --stream was given up (a stop, a bad line, a failure): an input opened since is let go of at once. */
  #givenUp = false;
  /** Aborted when it is given up: a FIFO's open that waits for its writer then returns (openInput). */
  readonly #letGo = new AbortController();
  /** With --stream, the signal that stopped the reading of the input before its end, once what was read is logged. */
  #stoppedBy: string | undefined;

  constructor(state: SendState, options: SendOptions, to: SendTo) {
    this.#s = state;
    this.#options = options;
    this.#to = to;
    this.#newest = to.newest;
    this.#size = options.batchSize;
  }

  /** The newest checkpoint verified: the given one, or the last batch's. */
  get newest(): Checkpoint {
    return this.#newest;
  }

  /**
   * The signal that stopped the run cleanly (--stream: the reading of the
   * input stopped, all that was read logged and its receipts written), or
   * undefined once all of the input is sent.
   */
  get stoppedBy(): string | undefined {
    return this.#stoppedBy;
  }

  /** Gives up the reading of the input: no more of it is read, and nothing waits for its writer. */
  giveUp(): void {
    this.#givenUp = true;
    this.#letGo.abort();
    this.#streaming?.release();
  }

  /**
   * Sends all of the input: `checked`, without --stream, or what is read as
   * it comes, with it. A failure or a stop is thrown with a message that
   * says what was logged, what may have been, and what to send again.
   */
  async sendAll(checked: readonly Checked[]): Promise<void> {
    const s = this.#s;
    const { stream, jsonLines, timeoutMs } = this.#options;
    try {
      if (stream) await this.#sendAsRead();
      else {
        for (const input of checked) {
          for await (const next of entriesOf(input, jsonLines)) {
            if (this.#skips(next)) continue;
            if (s.batch.length >= this.#size || (s.batch.length > 0 && s.batchBytes + next.entry.length > MAX_BATCH_BYTES)) await this.#send();
            s.batch.push(next);
            s.batchBytes += next.entry.length;
          }
        }
        if (s.batch.length > 0) await this.#send();
      }
    } catch (err) {
      s.progress.finish(s.done + s.skipped);
      if (s.told) throw err;
      const { done, batch, maybeLogged } = s;
      const readOnce = this.#to.readOnce;
      const next = batch[0]?.source ?? 'the next input';
      /** With --stream, where the reading of the input ended, unless the message says it already (streamEnd). */
      const readNoFurther = stream && this.#streamEnd === '' ? ', and cairn add read no further' : '';
      /** Standard input, or a pipe, gives its lines once: only its writer can give them again. */
      const feedAgain = (from: string) => (readOnce ? `feed the lines from ${from} on to cairn add again (it cannot read them twice itself)` : 'run the same cairn add again');
      /** With --receipts FILE, a regular one: that --resume sends only what has no receipt there of all of the input sent again (unless given, for FILEs run again). */
      const { resumable } = this.#to;
      const resumeText =
        resumable === undefined || (resumable.given && !readOnce)
          ? ''
          : !readOnce
            ? `; add --resume for it to send only what has no receipt in ${resumable.file}`
            : resumable.given
              ? `; or feed it all of the input again: --resume sends only what has no receipt in ${resumable.file}`
              : `; or feed it all of the input again with --resume, which sends only what has no receipt in ${resumable.file}`;
      /** The entries of a request that may have been logged, for a message: what became of them, and what running again does. */
      const maybeText = (sent: readonly Input[]) => {
        const one = sent.length === 1;
        const from = sent[0]!.source;
        return (
          `${namedEntries(sent)} ${one ? 'was' : 'were'} sent and may have been logged without ${one ? 'its receipt' : 'their receipts'}; ` +
          `nothing after ${sent[sent.length - 1]!.source} was sent${readNoFurther}; ` +
          (readOnce ? `${feedAgain(from)}; it logs no entry twice` : 'running the same cairn add again logs no entry twice') +
          `: the log answers one it holds with its first index and "duplicate": true${resumeText}`
        );
      };
      /** Of lines not logged (the batch, and without --stream those after it): that they were not, and how to send them. */
      const unloggedText = () => `${next} and the lines after it were not logged${readNoFurther}: ${feedAgain(next)}${resumeText}`;
      if (err instanceof Stopped) {
        if (maybeLogged === undefined) {
          throw new Error(`stopped by ${s.stopBy ?? 'a signal'}: ${soFar(s)}; ${stream && batch.length > 0 ? unloggedText() : `nothing from ${next} on was logged`}`);
        }
        // An earlier try of the request was answered by something other than the log (a proxy's 503), maybe after the log took it.
        throw new Error(`stopped by ${s.stopBy ?? 'a signal'}: ${done === 0 ? 'no receipt was written' : soFar(s)}; ${maybeText(maybeLogged)}`);
      }
      if (!(err instanceof Error)) throw err;
      // The batch is never empty here (a send is made only for an entry that follows it), but a message must not throw.
      if (maybeLogged !== undefined) err.message += ` (${done === 0 ? '' : `${loggedBefore(done, next, s.skipped)}; `}${maybeText(maybeLogged)})`;
      // Without --stream too once lines were logged or passed over (a refusal part way), but for a FILE that changed, which says how.
      else if (batch.length > 0 && (stream || (jsonLines && done + s.skipped > 0 && !(err instanceof InputError)))) err.message += ` (${done === 0 ? nothingLogged(s.skipped) : loggedBefore(done, next, s.skipped)}; ${unloggedText()})`;
      else if (done > 0) err.message += ` (${loggedBefore(done, next, s.skipped)})`;
      else if (err instanceof InputError) err.message += ' (nothing was logged)';
      if (this.#streamEnd !== '') err.message += `; ${this.#streamEnd}`;
      // Only a batch request is sent here: its timeout grows with its body (UPLOAD_BYTES_PER_SECOND), yet a
      // slower link needs less in each. A smaller batch helps only when its upload time is a real part of it
      // (a quarter or more: over a slow link that part may be what ran out).
      if (timedOut(err)) {
        const uploadMs = Math.ceil((batchBodyBytes(this.#lastSent) * 1000) / UPLOAD_BYTES_PER_SECOND);
        err.message +=
          uploadMs * 4 >= timeoutMs
            ? `; over a slow link, give a smaller --batch-size, or a --timeout of more than ${timeoutMs / 1000} s`
            : `; ${slowLogHint(timeoutMs)}`;
      }
      throw err;
    }
    s.progress.finish(s.done + s.skipped);
  }

  /**
   * With --resume, whether `next` is passed over: a receipt in FILE has its
   * leaf hash, and is not yet matched to an entry before it (each receipt
   * stands for one entry, so that of an entry repeated in the input, as many
   * are passed over as FILE has receipts of). It is then taken, and counted.
   */
  #skips(next: Input): boolean {
    const held = this.#to.held;
    if (held === undefined || held.left === 0 || !held.take(leafHash(next.entry))) return false;
    const s = this.#s;
    s.skipped++;
    s.progress.update(s.done + s.skipped);
    return true;
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
  async #extend(next: Checkpoint): Promise<void> {
    const { client } = this.#to;
    const newest = this.#newest;
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
            err = restated(tilesErr, `${err.message} (its tiles, to check it again, could not be read: ${tilesErr.message})`);
          }
        }
      }
      if (fromTiles === 'extends') {
        // A warning, not a retry notice: --quiet does not hide it.
        if (this.#s.tilesProved++ === 0) {
          this.#options.notice(
            `warning: the log's consistency proof for a batch's checkpoint of ${headText(next)} did not verify (${err.message}), but its tiles, authenticated against that checkpoint, ` +
              `proved that it extends its checkpoint of ${headText(newest)} verified before: the log's consistency endpoint, or a cache in front of it, answers a wrong proof (another pair's?), no fork; ` +
              `carrying on, with the tiles standing for any proof of the log's that fails (said once)`,
          );
        }
        this.#newest = next;
        return;
      }
      // Two signed heads show a smaller tree or a second root by themselves, and tiles
      // authenticated against the larger one show it by their proof; a larger tree whose
      // proof from the log fails is only not proved to extend (proofs are not signed).
      const shown = err.isVerificationFailure && (next.treeSize <= newest.treeSize || fromTiles === 'does not extend');
      const what = `the log's checkpoint of ${headText(next)} for this batch ${shown ? 'does not extend' : 'could not be proved to extend'} its checkpoint of ${headText(newest)} verified before`;
      throw restated(err, `${what}: ${err.message}`);
    }
    this.#newest = next;
  }

  /**
   * Writes the receipts of `part`, logged: all of them, or an error that
   * says which entries were logged and which of their receipts are written.
   */
  async #writeReceipts(part: readonly Input[], result: BatchResult): Promise<void> {
    const s = this.#s;
    const { io, notice, receiptsPath } = this.#options;
    const { receipts } = this.#to;
    const lines = result.receipts.map((r) => jsonLine(r.receipt));
    try {
      if (receipts === undefined) await writeOut(io.stdout, lines.join(''));
      else {
        s.writingFile = true;
        try {
          await receipts.append(lines, (removed) => {
            // A warning, not a notice: --quiet does not hide it, since receipts are no longer all in FILE.
            const from = part[0]!.source;
            s.reopenedAt = from;
            notice(
              removed
                ? `warning: ${receiptsPath} was removed while cairn add ran, and with it the receipts written to it before ${from}; those from ${from} on are in a new ${receiptsPath}`
                : `warning: ${receiptsPath} was moved or replaced while cairn add ran: the receipts written to it before ${from} are in the file moved; those from ${from} on are in the new ${receiptsPath}`,
            );
          });
        } finally {
          s.writingFile = false;
        }
      }
    } catch (thrown) {
      // Standard output takes a batch's receipts in one write: none counts as written in full.
      const err = thrown instanceof OutputError ? new ReceiptsWriteError(0, false, thrown.cause ?? thrown) : thrown;
      if (!(err instanceof ReceiptsWriteError)) throw err;
      s.done += err.written;
      if (err.written > 0) s.lastDone = part[err.written - 1]!.source;
      const { done, lastDone } = s;
      const missing = part.slice(err.written);
      const last = missing[missing.length - 1]!.source;
      const logged = done + missing.length;
      const one = missing.length === 1;
      s.told = true;
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
    s.done += part.length;
    s.lastDone = part[part.length - 1]!.source;
  }

  /**
   * Sends the batch, `size` entries a request, halving `size` while the
   * log, or a proxy in front of it, refuses that many as more than it
   * ever takes at once (refusedAsTooLarge); those refusals logged nothing,
   * and an entry sent again would come back as a duplicate with its
   * index, so the receipts stay in input order either way.
   */
  async #send(): Promise<void> {
    const s = this.#s;
    const { io, notice, quiet, stream, maxWaitMs, timeoutMs } = this.#options;
    while (s.batch.length > 0) {
      // With --stream, what was read cannot be read again: a stop sends it still (a second signal stops at once).
      if (s.stopBy !== undefined && !stream) throw new Stopped();
      const part = s.batch.slice(0, this.#size);
      let result;
      s.inFlight = part;
      s.sentAny = true;
      s.requests++;
      this.#lastSent = part;
      s.triedAfterTaken = false;
      try {
        s.waitMayStop = !stream;
        s.posting = true;
        result = await this.#to.client.addBatch(part.map((c) => c.entry));
        s.answered = { part, indexes: result.receipts.map((r) => r.receipt.index) };
      } catch (err) {
        s.inFlight = undefined;
        const mayBeLogged = s.triedAfterTaken || mayHaveLogged(err) || s.outage?.mayHaveLogged === true;
        if (stream && unanswered(err) && err instanceof Error) {
          // With --stream, what was read cannot be read again: a log that does not answer (a restart, a
          // network break) is asked again after a pause, 1, 2, 4 ... s, for up to --max-wait in all.
          const outage = (s.outage ??= { tries: 0, waitedMs: 0, pauseMs: OUTAGE_FIRST_PAUSE_MS, mayHaveLogged: false, pausing: false });
          outage.tries++;
          outage.mayHaveLogged = mayBeLogged;
          const pauseMs = Math.min(outage.pauseMs, OUTAGE_MAX_PAUSE_MS, maxWaitMs - outage.waitedMs);
          if (pauseMs > 0 && s.stopBy === undefined) {
            if (outage.tries === 1 && !quiet) {
              notice(
                `the log did not answer (${err.message}); sending ${namedEntries(part)} again in ${pauseMs / 1000} s, and again after each such failure, ` +
                  `pausing 1, 2, 4 ... s, for up to ${maxWaitMs / 1000} s in all (--max-wait); no more input is read meanwhile`,
              );
            }
            // A second signal meanwhile names them as maybe logged.
            if (outage.mayHaveLogged) s.inFlight = part;
            outage.pausing = true;
            await io.sleep(pauseMs, s.stopWait.signal);
            outage.pausing = false;
            outage.waitedMs += pauseMs;
            outage.pauseMs *= 2;
            if (s.stopBy === undefined) continue;
          }
          if (mayBeLogged) s.maybeLogged = part;
          if (s.stopBy !== undefined) throw new Stopped();
          if (outage.tries > 1) err.message += ` (not answered in ${outage.tries} tries, with ${outage.waitedMs / 1000} s of pauses between them, all that --max-wait allows)`;
          throw err;
        }
        // More entries or bytes than the log (its queue), the token (its rate limit) or a proxy (its
        // body limit) ever takes at once: refused for good and logged nothing, so the same entries
        // are sent in smaller requests.
        const by = refusedAsTooLarge(err);
        if (by === undefined || part.length === 1) {
          if (mayBeLogged) s.maybeLogged = part;
          if (by === 'proxy' && err instanceof Error) {
            err.message +=
              `; a proxy in front of the log refuses even one entry, ${part[0]!.source}, in a request of ${batchBodyBytes(part)} bytes, as too large: ` +
              `raise its body limit (nginx: client_max_body_size; ${PROXY_BODY_LIMIT} takes cairn add's full batches), since no --batch-size sends less`;
          }
          throw err;
        }
        s.outage = undefined;
        this.#size = Math.max(1, Math.floor(part.length / 2));
        if (by === 'log') {
          if (!quiet) notice(`the log refuses ${part.length} entries in one request (${(err as ClientError).serverCode ?? ''}); sending batches of ${this.#size}`);
        } else if (!this.#proxySplit) {
          this.#proxySplit = true;
          // A warning, not a notice: --quiet does not hide it, since every batch now takes more requests.
          notice(
            `warning: a proxy in front of the log refused a request of ${part.length} entries (${batchBodyBytes(part)} bytes) as too large (413, an answer not the log's), ` +
              `so the entries go in smaller requests: batches of ${this.#size}, halved again while it refuses them; to send full batches, raise its body limit ` +
              `(nginx: client_max_body_size ${PROXY_BODY_LIMIT}; its default is 1m), or give a --batch-size it takes (said once)`,
          );
        }
        continue;
      } finally {
        s.waitMayStop = false;
        s.posting = false;
      }
      if (s.outage !== undefined) {
        if (!quiet) notice(`the log answered again: ${namedEntries(part)} ${part.length === 1 ? 'is' : 'are'} logged, after ${s.outage.tries + 1} tries`);
        s.outage = undefined;
      }
      const from = part[0]!.source;
      // Each receipt is verified against the batch's signed checkpoint; before they are
      // written, that checkpoint must be proved to extend the ones before (one history).
      try {
        await this.#extend(result.checkpoint.checkpoint);
      } catch (err) {
        if (!(err instanceof Error)) throw err;
        const { done } = s;
        if (isVerificationFailure(err)) {
          // The log signed two histories (a smaller tree, a second root for one size, tiles
          // authenticated by this checkpoint that do not extend the one before), or its proof
          // of a larger tree failed and the tiles it served did not match its checkpoint. The
          // receipts file holds only receipts in the one history verified before (verify-receipt
          // would pass these on their own), so this batch's are left out; the message names both
          // checkpoints.
          const before = done === 0 ? `no receipts were written${passedOver(s.skipped)}` : loggedBefore(done, from, s.skipped);
          err.message += ` (${before}; the log's ${part.length === 1 ? 'receipt' : 'receipts'} for the ${entries(part.length)} from ${from} on, under that checkpoint, ${part.length === 1 ? 'was' : 'were'} not written)`;
          s.told = true;
          throw err;
        }
        // Not disproved, only not proved (the proof, or the tiles to check a failed one, could not
        // be had): the receipts, each verified against the batch's signed checkpoint, are kept,
        // and nothing more is sent.
        try {
          await this.#writeReceipts(part, result);
        } catch (writeErr) {
          if (writeErr instanceof Error) writeErr.message = `${err.message}; then ${writeErr.message}`;
          throw writeErr;
        }
        const last = part[part.length - 1]!.source;
        err.message += ` (the ${entries(s.done)} through ${last} ${loggedAndWritten(s.done)}, each verified against its batch's signed checkpoint; nothing after ${last} was sent)`;
        // The proof is a GET without a body: its timeout is --timeout alone.
        if (timedOut(err)) err.message += `; ${slowLogHint(timeoutMs)}`;
        s.told = true;
        throw err;
      }
      await this.#writeReceipts(part, result);
      s.inFlight = undefined;
      s.answered = undefined;
      // A duplicate below startSize was in the log before this run; one at an index this run
      // already counted as new repeats an earlier entry of the input; any other was logged
      // during this run (by an earlier try of its request whose answer was lost, or by another
      // submitter) and is new, counted once.
      for (const { receipt } of result.receipts) {
        if (receipt.duplicate && receipt.index < s.startSize) s.before++;
        else if (receipt.duplicate && s.newIndexes.has(receipt.index)) s.repeats++;
        else s.newIndexes.add(receipt.index);
      }
      s.batch = s.batch.slice(part.length);
      s.progress.update(s.done + s.skipped);
    }
    s.batchBytes = 0;
  }

  /**
   * The entries of the inputs in order, each line read and checked as it
   * comes (--stream); `streaming` is the input being read, for a stop to
   * let go of it.
   */
  async *#streamed(): AsyncGenerator<Input> {
    const { sources, reading } = this.#options;
    for (const source of sources) {
      const name = source === '-' ? '<stdin>' : source;
      let opened: Opened;
      try {
        opened = source === '-' ? reading.stdin() : await openInput(source, this.#letGo.signal);
      } catch (err) {
        if (isSystemError(err)) throw new Error(cannotRead(source, err), { cause: err });
        throw err;
      }
      // Given up while a FIFO's open waited for its writer.
      if (this.#givenUp) return opened.release();
      if (opened.mayBlock === true) this.#s.readMayBlock = true;
      this.#streaming = opened;
      try {
        yield* jsonLineEntries(opened.chunks, name);
      } catch (err) {
        if (isSystemError(err)) throw new Error(cannotRead(name === '<stdin>' ? 'standard input' : name, err), { cause: err });
        throw err;
      } finally {
        opened.release();
        this.#streaming = undefined;
      }
    }
  }

  /**
   * --stream: reads the input as it comes, sending a batch once it holds
   * `size` entries, --flush-after from its first line read, and at the
   * end of the input. A stop signal, a bad line or an input that cannot
   * be read ends the reading; the lines read before are sent all the same,
   * and then cairn add stops, saying which were logged.
   */
  async #sendAsRead(): Promise<void> {
    const s = this.#s;
    const { io, notice, flushAfterMs } = this.#options;
    const lines = this.#streamed();
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
        if (s.stopBy !== undefined) {
          stopped = true;
          break;
        }
        pending ??= lines.next();
        if (s.batch.length > 0 && flush === undefined) {
          const cancel = new AbortController();
          flush = { cancel, due: io.sleep(flushAfterMs, cancel.signal).then(() => 'flush' as const) };
        }
        let got: IteratorResult<Input> | typeof STOP | 'flush';
        try {
          got = await orStop(flush === undefined ? pending : Promise.race([pending, flush.due]), s.stopWait.signal);
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
          await this.#send();
          continue;
        }
        pending = undefined;
        if (got.done === true) {
          ended = true;
          break;
        }
        const next = got.value;
        read++;
        if (this.#skips(next)) continue;
        if (s.batch.length > 0 && s.batchBytes + next.entry.length > MAX_BATCH_BYTES) {
          unflush();
          await this.#send();
        }
        s.batch.push(next);
        s.batchBytes += next.entry.length;
        if (s.batch.length >= this.#size) {
          unflush();
          await this.#send();
        }
      }
    } finally {
      unflush();
      if (!ended) this.giveUp();
    }
    const givenUpBy = failure === undefined ? (stopped ? `at ${s.stopBy ?? 'a signal'}` : undefined) : `(${failure instanceof Error ? failure.message : String(failure)})`;
    if (givenUpBy !== undefined) this.#streamEnd = `cairn add had stopped reading its input ${givenUpBy}`;
    // What was read is sent, at the end of the input and when the reading was given up: it cannot be read again.
    if (s.batch.length > 0) await this.#send();
    this.#streamEnd = '';
    if (givenUpBy === undefined) {
      if (read === 0) throw new BadInputError('nothing to add: the input holds no entries');
      return;
    }
    // With --resume, a line passed over may come after the last one logged: it was logged before this run.
    const last = `${s.done === 0 ? 'no line' : `no line after ${s.lastDone}`} was logged${s.skipped === 0 ? '' : ' by this run'}`;
    if (stopped) {
      // A clean stop (systemctl stop, Ctrl-C): all that was read is logged, its receipts written. Said
      // even with --quiet, since the input must be fed again from the line after the last one logged.
      this.#stoppedBy = s.stopBy ?? 'a signal';
      notice(`stopped by ${this.#stoppedBy}: ${soFar(s)}; ${last}, and no more of the input was read`);
      return;
    }
    s.told = true;
    if (failure instanceof BadInputError) {
      failure.message += ` (${s.done === 0 ? nothingLogged(s.skipped) : loggedBefore(s.done, 'it', s.skipped)}; that line and the lines after it were not logged: cairn add read no further)`;
    } else if (failure instanceof Error) failure.message += ` (${soFar(s)}; ${last}: cairn add read no further)`;
    throw failure;
  }
}
