/**
 * What the client commands (add, get, prove, verify-receipt, monitor, audit)
 * share: their I/O (injectable, so tests run them in-process), the log's URL
 * and verifier key from options or the environment, one exit-status policy,
 * and a progress bar for terminals.
 *
 * Exit statuses, the same for every client command:
 *   0  done, and everything verified
 *   1  verification failed: the log (or store, receipt, proof) does not
 *      match what was signed — evidence worth alarming about
 *   2  usage or operational error: bad options, unreadable input, output
 *      that cannot be written (a closed pipe, a full disk), the log
 *      unreachable or answering an error
 *   3  (get, prove) not found, as the log says: the index is past the
 *      checkpoint it served (which may be stale, or shown only to this
 *      reader), or it answered that it holds no such leaf hash (unsigned)
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CairnClient } from '../client/client.js';
import { ClientError, escapeText, hasUnsafeCharacter } from '../client/errors.js';
import type { FetchLike, TransportOptions } from '../client/http.js';
import { isLoopbackHost, tokenProblem } from '../http/access.js';
import { canonicalizeJson, JsonError } from '../jcs/canonical.js';
import { MAX_JSON_BODY } from '../jcs/parse.js';
import { MAX_ENTRY_SIZE } from '../merkle/bundle.js';
import { newVerifier, parseVerifierKey, type Verifier } from '../note/keys.js';
import { BadInputError, checkSize, entryTooLarge, holdAll, isSystemError, openInput, type Opened } from './add-input.js';
import { envValue, UsageError } from './args.js';
import { fileProblem, folderProblem, osReason } from './os-error.js';
import { endBySignal, monotonicNow, processStopSignals, stopSignalSorter } from './stop-signals.js';

/** Exit status: done, and everything verified. */
export const EXIT_OK = 0;
/** Exit status: verification failed (or, for monitor, an alarm). */
export const EXIT_VERIFY_FAILED = 1;
/** Exit status: usage or operational error. */
export const EXIT_ERROR = 2;
/** Exit status (get, prove): not found, as the log says; never verified (see STALE_CHECKPOINT). */
export const EXIT_NOT_FOUND = 3;

/** The exit statuses as they appear in every client command's --help. */
export const EXIT_HELP = `Exit status:
  0  done, and everything verified
  1  verification failed (the log's answer contradicts what it signed)
  2  usage or operational error (bad options, unreadable input, output
     that cannot be written, the log unreachable or answering an error
     or something that is not what was asked: a tile cut off, an HTML page)`;

/** An output stream: process.stdout or a test's buffer. */
export interface Output {
  /**
   * Writes `chunk`. With `callback`, calls it once the chunk was handed on,
   * with the error when it could not be (a closed pipe, a full disk), as
   * Node's Writable does: {@link writeOut} waits for it.
   */
  write(chunk: string | Uint8Array, callback?: (err?: Error | null) => void): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Everything a client command touches outside itself. */
export interface CliIo {
  readonly stdout: Output;
  readonly stderr: Output;
  /** Reads all of standard input. */
  readStdin(): Promise<Uint8Array>;
  /**
   * Standard input as it comes, for a command that reads it a line at a
   * time without holding it (verify-receipt); without this, such a command
   * reads it whole with readStdin.
   */
  readStdinChunks?(): AsyncIterable<Uint8Array>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The fetch the client uses; default the global one. */
  readonly fetch?: FetchLike;
  /** ms since the epoch. */
  now(): number;
  /** Waits `ms`, ending early (resolving) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Aborted when a long-running command (monitor) should stop. */
  readonly signal?: AbortSignal;
  /**
   * Where SIGINT and SIGTERM come from for a command that stops between
   * steps when asked to (monitor): `process` for the real process, an
   * EventEmitter in tests. Without it (and without `signal`) nothing stops
   * such a command but its own end.
   */
  readonly signals?: SignalSource;
}

/** The signals a command listens for to stop cleanly. */
export type StopSignalName = 'SIGINT' | 'SIGTERM';

/**
 * What {@link CliIo.signals} needs of the process: adding and removing a
 * listener for a signal, a clock to tell a signal repeated at once from a
 * second one, and how to end the process by a signal.
 */
export interface SignalSource {
  on(event: StopSignalName, listener: () => void): unknown;
  off(event: StopSignalName, listener: () => void): unknown;
  /** A clock that never goes back, in ms (default {@link monotonicNow}). */
  now?(): number;
  /**
   * Ends the process by `signal` as its default action does, its listeners
   * removed (see {@link endBySignal}). Without it (a test's EventEmitter,
   * where a signal nobody listens for does nothing), the listeners are only
   * removed.
   */
  kill?(signal: StopSignalName): void;
}

/**
 * The real process's SIGINT and SIGTERM, as a {@link SignalSource}: heard
 * through {@link processStopSignals}, which keeps hearing them (and ignores a
 * repeat) once the command has stopped listening, until the process is gone.
 */
export const processSignals: SignalSource = {
  on: (event, listener) => processStopSignals.on(event, listener),
  off: (event, listener) => processStopSignals.off(event, listener),
  now: monotonicNow,
  kill: endBySignal,
};

/**
 * What stops a command that runs until done or stopped (monitor, get's
 * ranges): the first SIGINT or SIGTERM from io.signals (the process), or
 * io.signal. `stopped()` names what asked to stop (after `onStop` was told),
 * and `signal` aborts then, and at `dispose()`, to cut the requests in
 * flight short. Another signal of either kind less than REPEAT_SIGNAL_MS
 * after the first is the same request passed on twice (Ctrl-C on `npm
 * run` reaches it from the terminal and from npm) and is ignored;
 * one later removes the listeners of both kinds and ends the process by
 * itself, as node's default does (exit status 130 or 143).
 */
export function listenForStop(io: CliIo, onStop: (name: string) => void = () => undefined): { signal: AbortSignal; stopped: () => string | undefined; dispose: () => void } {
  const controller = new AbortController();
  const sortSignal = stopSignalSorter(() => io.signals?.now?.() ?? monotonicNow());
  let by: string | undefined;
  const unlisten = () => {
    io.signals?.off('SIGINT', onSigint);
    io.signals?.off('SIGTERM', onSigterm);
    io.signal?.removeEventListener('abort', onAbort);
  };
  const stop = (name: string) => {
    io.signal?.removeEventListener('abort', onAbort);
    if (by !== undefined) return;
    by = name;
    onStop(name);
    controller.abort();
  };
  const onSignal = (name: StopSignalName) => () => {
    const kind = sortSignal();
    if (kind === 'repeat') return;
    if (kind === 'second') {
      unlisten();
      io.signals?.kill?.(name);
      return;
    }
    stop(name);
  };
  const onSigint = onSignal('SIGINT');
  const onSigterm = onSignal('SIGTERM');
  const onAbort = () => stop('a stop request');
  io.signals?.on('SIGINT', onSigint);
  io.signals?.on('SIGTERM', onSigterm);
  if (io.signal?.aborted === true) stop('a stop request');
  else io.signal?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    stopped: () => by,
    dispose: () => {
      unlisten();
      controller.abort();
    },
  };
}

/**
 * The longest delay setTimeout keeps, 2^31 - 1 ms (about 24.8 days): node
 * runs a timer of a longer delay after 1 ms instead, with a warning.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Waits `ms` milliseconds, ending early (resolving) when `signal` aborts. A
 * wait longer than {@link MAX_TIMER_MS} is made of several timers, so that it
 * never ends at once the way one overlong setTimeout would.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    let left = ms;
    let timer: ReturnType<typeof setTimeout>;
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const next = () => {
      if (left <= 0) return done();
      const step = Math.min(left, MAX_TIMER_MS);
      left -= step;
      timer = setTimeout(next, step);
    };
    signal?.addEventListener('abort', done, { once: true });
    next();
  });
}

/** The real process's I/O. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return new Uint8Array(Buffer.concat(chunks));
    },
    readStdinChunks: () => process.stdin as AsyncIterable<Uint8Array>,
    env: process.env,
    now: Date.now,
    sleep,
    signals: processSignals,
  };
}

/**
 * A command's output could not be written: standard output is a pipe whose
 * reader went away (EPIPE: `cairn get 5 | head -1`), a full disk or device
 * (ENOSPC: `> /dev/full`), or closed after such a failure. An operational
 * error: {@link runClientCommand} prints its message as one line on standard
 * error and gives exit status 2, never 1 (which says that something did not
 * verify).
 */
export class OutputError extends Error {
  /** The OS's error code (EPIPE, ENOSPC, ...), when there is one. */
  readonly code: string | undefined;

  constructor(
    /** What could not be written to: 'standard output', 'standard error'. */
    readonly stream: string,
    cause: unknown,
  ) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const reason =
      code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END'
        ? 'it is closed (an earlier write to it failed)'
        : code === 'EPIPE'
          ? `${osReason(cause)} (whatever reads it stopped reading)`
          : osReason(cause);
    super(`cannot write to ${stream}: ${reason}`, { cause });
    this.name = 'OutputError';
    this.code = code;
  }
}

/**
 * Writes `chunk` to `out` and resolves once it was handed on (to the OS, for
 * process.stdout); rejects with an {@link OutputError} naming `stream` when
 * it could not be written. What a command prints as its result goes through
 * this (or {@link writeJsonOut}) and is awaited, so that a broken pipe or a
 * full disk ends the command with exit status 2 and one line on standard
 * error, and never passes for success:
 *
 *     await writeOut(io.stdout, `${text}\n`);
 *     await writeOut(io.stderr, summary, 'standard error');
 *
 * Awaiting each write also holds a command back while a slow reader has not
 * taken what it already wrote. The `'error'` event node also emits on
 * process.stdout is caught by main.ts, so it never crashes the process.
 */
export function writeOut(out: Output, chunk: string | Uint8Array, stream = 'standard output'): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      out.write(chunk, (err) => (err === undefined || err === null ? resolve() : reject(new OutputError(stream, err))));
    } catch (err) {
      reject(new OutputError(stream, err));
    }
  });
}

/**
 * Text for one line of a terminal: the characters a terminal would act on
 * (C0 controls, newline and tab too, DEL, C1, bidi overrides and isolates)
 * written as visible \uXXXX escapes, nothing cut. For what others wrote (a
 * file name, a log's words) quoted in a line of a command's own.
 */
export function oneLine(text: string): string {
  return escapeText(text, { maxLength: Number.POSITIVE_INFINITY });
}

/**
 * Runs a client command's body with the common exit-status policy: usage
 * mistakes and operational errors print one line and give 2, verification
 * failures give 1. An error's message is printed as one line (see
 * {@link oneLine}): whatever it quotes (a log's words, a file name) has the
 * characters a terminal would act on escaped, newlines too, so a quoted name
 * cannot start a line that looks like cairn's own.
 */
export async function runClientCommand(name: string, usage: string, io: CliIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const message = oneLine(withoutToken((err instanceof Error ? err.message : String(err)) + accessAdvice(err, io.env), io.env));
    if (err instanceof UsageError) {
      io.stderr.write(`cairn ${name}: ${message}\nRun 'cairn ${name} --help' for its options.\n`);
      return EXIT_ERROR;
    }
    if (err instanceof ClientError && err.isVerificationFailure) {
      io.stderr.write(`cairn ${name}: VERIFICATION FAILED (${err.code}): ${message}\n`);
      return EXIT_VERIFY_FAILED;
    }
    io.stderr.write(`cairn ${name}: ${message}\n`);
    return EXIT_ERROR;
  }
}

/**
 * What a command adds to the log's words when it answered 401 or 403 (its
 * text is for curl users: send Authorization: Bearer): where cairn takes an
 * access token from (CAIRN_TOKEN, never an option: command lines show in
 * ps), and whether the one given was refused; '' for any other error.
 */
export function accessAdvice(err: unknown, env: CliIo['env']): string {
  let answer: unknown = err;
  while (answer instanceof Error && !(answer instanceof ClientError)) answer = answer.cause;
  if (!(answer instanceof ClientError) || answer.code !== 'HTTP_STATUS' || (answer.status !== 401 && answer.status !== 403)) return '';
  if (env.CAIRN_TOKEN === undefined || env.CAIRN_TOKEN === '') {
    return '; this log needs an access token: put it in the environment variable CAIRN_TOKEN (cairn reads it from there only, never from an option, which other users could read in ps)';
  }
  if (answer.status === 401) return "; the log does not take the token in CAIRN_TOKEN: check it, or ask the log's operator for one";
  return "; the token in CAIRN_TOKEN does not have the role this needs: ask the log's operator for one that has";
}

/**
 * Writes `report`, the output of command `name` that says something failed
 * to verify, and resolves to exit status 1 even when it cannot be written
 * (see {@link writeOut}): the failure outranks the lost output, which is
 * told on standard error with `summary`, the failure in one line.
 */
export async function writeFailureReport(io: CliIo, name: string, report: string, summary: string): Promise<number> {
  try {
    await writeOut(io.stdout, report);
  } catch (err) {
    if (!(err instanceof OutputError)) throw err;
    io.stderr.write(`cairn ${name}: ${oneLine(summary)}; ${oneLine(err.message)}\n`);
  }
  return EXIT_VERIFY_FAILED;
}

/**
 * What get and prove add when an index is at or past the tree size of the
 * checkpoint the log served: a signed checkpoint is evidence of a tree, not
 * that it is the log's latest, and nothing a client can fetch proves that.
 */
export const STALE_CHECKPOINT = 'a checkpoint does not show that it is the latest: it may be an old one, or one shown only to this reader';

/**
 * The error for a log that answered 404 for `what` although its signed
 * checkpoint of `treeSize` covers it: an operational error (exit 2), not
 * "not in the log"; a 404 is not signed, so it is no evidence either.
 */
export function withheldError(what: string, treeSize: number, err: ClientError): Error {
  // A 404 that is not the log's own (a proxy's or a cache's page) is not said to be the log's.
  const who = err.serverCode === undefined ? `a 404 was answered for ${what}, which the log's` : `the log answered 404 for ${what}, which its`;
  return new Error(`${who} signed checkpoint of tree size ${treeSize} covers: ${err.message}`, { cause: err });
}

/**
 * An http(s) URL given as option or variable `name` (`--url`, `CAIRN_URL`,
 * `--webhook`); a bad one is a usage error that names it as the user gave it,
 * but for a user name and password, which are never shown (nor taken: fetch
 * refuses them). One without a scheme (`127.0.0.1:8080`) is told to start
 * with http://. A log's base URL (`base`) has no query or fragment either:
 * the paths of CONTRACT §3 go below it.
 */
export function parseHttpUrl(text: string, name: string, base = false): string {
  let u: URL | undefined;
  try {
    u = new URL(text);
  } catch {
    u = undefined;
  }
  if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    // Everything up to the last '@' may be a user name and password, however mistyped the rest (http//u:pw@h).
    const shown = JSON.stringify(text.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/is, '$1...@'));
    // A host with a dot or a port, or an IPv6 literal, then perhaps a path: not a word that is no URL at all.
    const host = /^(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+\.?(?::[0-9]{1,5})?|[A-Za-z0-9_-]+:[0-9]{1,5}|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?)(?:\/\S*)?$/;
    const bare = host.test(text) && URL.canParse(`http://${text}`);
    // An IPv6 address with a zone, as serve prints one it listens on (http://[fe80::1%25eth0]:8080): WHATWG URLs, which fetch takes, have none.
    const zone = /^(?:https?:\/\/)?\[[0-9A-Fa-f:.]+(%(?:25)?[^\]/]*)\]/i.exec(text);
    if (zone !== null) {
      throw new UsageError(
        `${name} must be an http(s) URL, got ${shown}: an IPv6 address with a zone (${escapeText(zone[1]!)}) cannot be in a URL here; give an address without a zone (not a link-local fe80:: one), or a host name`,
      );
    }
    throw new UsageError(`${name} must be an http(s) URL, got ${shown}${bare ? `: give its scheme, as in ${JSON.stringify(`http://${text}`)}` : ''}`);
  }
  const credentials = u.username !== '' || u.password !== '';
  const extra = base && (u.search !== '' || u.hash !== '');
  if (!credentials && !extra) return text;
  u.username = '';
  u.password = '';
  if (base) {
    u.search = '';
    u.hash = '';
  }
  const instead = `give ${JSON.stringify(u.href)}`;
  if (credentials) throw new UsageError(`${name} must hold no user name or password (cairn sends none): ${instead}${base ? '; for a log that needs an access token, put it in CAIRN_TOKEN' : ''}`);
  throw new UsageError(`${name} must be the log's base URL, without a query (?...) or fragment (#...): ${instead}`);
}

/**
 * The log's URL: --url, else $CAIRN_URL, else http://127.0.0.1:8080. Also
 * checks $CAIRN_TOKEN, which goes with every request to it (accessToken):
 * the commands that talk to a log call this first, so a token no log could
 * take is refused before any work (makeClient checks it again).
 */
export function resolveUrl(value: string | undefined, env: CliIo['env']): string {
  accessToken(env);
  if (value !== undefined) return parseHttpUrl(value, '--url', true);
  const fromEnv = envValue(env, 'CAIRN_URL');
  if (fromEnv !== undefined) return parseHttpUrl(fromEnv, 'CAIRN_URL', true);
  return 'http://127.0.0.1:8080';
}

/** Where a log's verifier key is to be had, for a message that asked for one and got something else. */
const WHERE_THE_KEY_IS = "cairn serve prints it at every start (its line 'verifier key: ...'), GET /v1/log has it (verifier_key), and cairn keygen printed it";

/**
 * Why `text` is not a verifier key, in words (parseVerifierKey's, without
 * its name), or undefined when it is one. Serve's start-up line `verifier
 * key: <key>`, pasted whole, is told apart: only the key goes in.
 */
function verifierKeyProblem(text: string): string | undefined {
  try {
    parseVerifierKey(text);
    return undefined;
  } catch (err) {
    const line = text.split('\n').find((l) => l.startsWith('verifier key:'));
    if (line !== undefined) return `serve's line ${JSON.stringify(line.trim())} was given whole: keep only the key (<origin>+<hash>+<base64>), without 'verifier key:'`;
    return (err as Error).message.replace(/^parseVerifierKey: /, '');
  }
}

/** Whether `text` has the shape of a verifier key `<origin>+<hash>+...` (one with a typo, say), not of a path. */
function looksLikeKey(text: string): boolean {
  return /^[^\s+]+\+[0-9A-Fa-f]{1,16}\+\S*$/.test(text) || text.startsWith('verifier key:');
}

/**
 * The log's verifier: --vkey (else $CAIRN_VKEY) is either a verifier key
 * `<origin>+<hash>+<base64>` or a file holding one. What is neither says
 * why: a key's flaw (a hash that does not match), a private key, serve's
 * whole start-up line.
 */
export async function resolveVerifier(value: string | undefined, env: CliIo['env']): Promise<{ verifier: Verifier; key: string }> {
  const given = value ?? envValue(env, 'CAIRN_VKEY');
  if (given === undefined) throw new UsageError('--vkey is required: the log\'s verifier key, or a file holding it');
  const name = value === undefined ? 'CAIRN_VKEY' : '--vkey';
  let key = given.trim();
  // Never echo a private key given inline (--vkey "$(cat log.key)").
  if (key.includes('PRIVATE+KEY+')) throw new UsageError(`${name} is a private key; it wants the log's verifier key: ${WHERE_THE_KEY_IS}`);
  const inline = verifierKeyProblem(key);
  if (inline !== undefined) {
    let text: string;
    try {
      text = await readFile(given, 'utf8');
    } catch (err) {
      // Not a file: a key with a typo is told what is wrong with it.
      if (looksLikeKey(key)) throw new UsageError(`${name} ${JSON.stringify(given)} is not a valid verifier key: ${inline}`);
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' || code === 'ENAMETOOLONG' ? '' : ` (as a file: ${fileProblem(err)})`;
      throw new UsageError(`${name} ${JSON.stringify(given)} is neither a verifier key (<origin>+<hash>+<base64>) nor a readable file${why}`);
    }
    key = text.trim();
    // Never echo the file's content: it may be a private key.
    if (key.includes('PRIVATE+KEY+')) throw new UsageError(`${given} holds a private key; ${name} wants the log's verifier key: ${WHERE_THE_KEY_IS}`);
    const problem = verifierKeyProblem(key);
    if (problem !== undefined) throw new UsageError(`${given} does not hold a verifier key (<origin>+<hash>+<base64>): ${problem}`);
  }
  return { verifier: newVerifier(key), key };
}

/**
 * The first wait before sending again a request refused without a
 * Retry-After (a proxy's 429 or 503 often has none), doubled at each retry
 * after: 1 s, 2 s, 4 s, ..., within the bounds of retryPolicy.
 */
const RETRY_BASE_DELAY_MS = 1000;

/**
 * How often one request of `cairn get`, `prove` and `monitor` is sent again
 * after a 429 or 503, and (READ_MAX_WAIT_SECONDS) the most it waits in all:
 * a read token's rate limit of so many a second or minute (Retry-After up
 * to 60 s), or a proxy's limit_req, is waited out; a log that keeps
 * refusing ends the command (or the monitor's round) within about 2
 * minutes, saying so.
 */
export const READ_RETRIES = 10;
export const READ_MAX_WAIT_SECONDS = 120;

/**
 * The client commands' retry policy: an answer of 429 (a rate limit, RFC
 * 6585 §4) or 503 (a full queue, a busy proxy) is sent again after its
 * Retry-After (RFC 9110 §10.2.3), else after 1 s, 2 s, 4 s, ..., at most
 * `retries` times and `maxWaitMs` of waiting in all for one request: an
 * answer asking for a longer wait than is left fails at once, saying so. A
 * refused request changed nothing at the log (CONTRACT §3), so sending it
 * again is safe, a POST too.
 */
export function retryPolicy(retries: number, maxWaitMs: number): Partial<TransportOptions> {
  return { maxRetries: retries, retryStatuses: [429, 503], maxRetryDelayMs: maxWaitMs, maxRetryTotalMs: maxWaitMs, retryBaseDelayMs: RETRY_BASE_DELAY_MS };
}

/** The help of the commands that only read on readRetryPolicy: a paragraph of its own. */
export const READ_RETRIES_HELP = `An answer of 429 or 503 (a rate limit, such as a read token's, or a busy
log or proxy), or a connection that breaks before its answer, is asked
again after its Retry-After, or after 1, 2, 4, ... s without one: at most
${READ_RETRIES} times, and for at most ${READ_MAX_WAIT_SECONDS} s of waiting in all for one request; a
request asked to wait longer than is left fails at once, saying so.`;

/** retryPolicy for the commands that only read: READ_RETRIES, READ_MAX_WAIT_SECONDS. */
export function readRetryPolicy(): Partial<TransportOptions> {
  return retryPolicy(READ_RETRIES, READ_MAX_WAIT_SECONDS * 1000);
}

/**
 * $CAIRN_TOKEN, checked against the rule the server holds a token to (see
 * tokenProblem): one that no log could take (a line break in it, say, from
 * `openssl rand -base64 64`, which breaks its output into lines) is a
 * usage error that says what is wrong with it, and where, without quoting
 * it; fetch would refuse it as a header, quoting it whole.
 */
export function accessToken(env: CliIo['env']): string | undefined {
  const token = envValue(env, 'CAIRN_TOKEN');
  if (token === undefined) return undefined;
  const problem = tokenProblem(token);
  if (problem !== undefined) throw new UsageError(`CAIRN_TOKEN ${problem}`);
  return token;
}

/** Whether a request to `url` goes unencrypted to another machine: http:// to a host other than localhost, 127.0.0.0/8 or ::1 (also IPv4-mapped, as URL writes it: [::ffff:7f00:1]). */
function sentInTheClear(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && !isLoopbackHost(u.hostname);
}

/**
 * The shortest CAIRN_TOKEN {@link withoutToken} hides: a shorter one could
 * stand for parts of ordinary words, which would be hidden all through the
 * message (and such a token is guessed with little work anyway).
 */
const MIN_HIDDEN_TOKEN_LENGTH = 8;

/**
 * `text` with CAIRN_TOKEN, wherever it occurs, written `<CAIRN_TOKEN>`: for
 * an error message about to be printed, which may quote what a log or a
 * library said (a log could echo the header it was sent). A second guard:
 * the token is checked before anything is sent (see accessToken).
 */
export function withoutToken(text: string, env: CliIo['env']): string {
  const token = env.CAIRN_TOKEN;
  if (token === undefined || token.length < MIN_HIDDEN_TOKEN_LENGTH) return text;
  return text.split(token).join('<CAIRN_TOKEN>');
}

/**
 * A CairnClient for a command, with the io's fetch and its sleep (for the
 * waits before retries; `options` may give its own). An access token for a log
 * that needs one comes from $CAIRN_TOKEN (never a flag: command lines are
 * visible to other users through ps) and is sent as `Authorization: Bearer`.
 */
export function makeClient(url: string, verifier: Verifier, io: CliIo, options: Partial<TransportOptions> = {}): CairnClient {
  const token = accessToken(io.env);
  if (token !== undefined && sentInTheClear(url)) {
    io.stderr.write(`cairn: warning: the access token in CAIRN_TOKEN is sent unencrypted over http:// to ${new URL(url).host}: anyone on the way can read and use it; give the log's https:// URL\n`);
  }
  const headers = token === undefined ? {} : { headers: { Authorization: `Bearer ${token}`, ...options.headers } };
  return new CairnClient({ baseUrl: url, verifierKey: verifier, ...(io.fetch === undefined ? {} : { fetch: io.fetch }), sleep: (ms, signal) => io.sleep(ms, signal), ...options, ...headers });
}

/**
 * Reads an entry as it was logged: the file's bytes, or with `jcs` the RFC
 * 8785 canonical form of the JSON it holds (what the log stores for a JSON
 * submission). What cannot be an entry (CONTRACT §1: 1 to 65,535 bytes as
 * logged, from at most 1 MiB of JSON) is refused as `cairn add` refuses it,
 * before the log is asked about it, and reading stops as soon as it is seen
 * to be too much: a FILE that never ends (/dev/zero) is not read on.
 */
export async function readEntry(path: string, jcs: boolean, io: CliIo): Promise<Uint8Array> {
  const name = path === '-' ? '<stdin>' : path;
  if (!jcs) {
    const bytes = await readInput(path, io, MAX_ENTRY_SIZE, (read) => {
      const err = entryTooLarge(name);
      // Such a JSON FILE may be logged all the same, in its canonical form (which has no blanks).
      if (startsLikeJson(read)) err.message += "; if it is JSON whose canonical form (RFC 8785: what the log stores for a JSON submission) was logged, add --jcs";
      return err;
    });
    checkSize(bytes.length, name);
    return bytes;
  }
  const json = await readInput(path, io, MAX_JSON_BODY, () => new BadInputError(`${name}: more than ${MAX_JSON_BODY} bytes, more JSON than the log takes for one entry`));
  let entry: Uint8Array;
  try {
    entry = canonicalizeJson(json);
  } catch (err) {
    if (err instanceof JsonError) throw new UsageError(`${path}: not an I-JSON value: ${err.message}`);
    throw err;
  }
  checkSize(entry.length, name, true);
  return entry;
}

/** Whether `chunks` could begin a JSON object or array: JSON's blanks (space, tab, CR, LF), then '{' or '['. */
function startsLikeJson(chunks: readonly Uint8Array[]): boolean {
  for (const chunk of chunks) {
    for (const byte of chunk) {
      if (byte === 0x20 || byte === 0x09 || byte === 0x0d || byte === 0x0a) continue;
      return byte === 0x7b || byte === 0x5b;
    }
  }
  return false;
}

/**
 * Reads a file, or standard input for '-', while it holds at most `limit`
 * bytes: one more throws `tooMuch(read)`, and no more of it is read (holdAll).
 */
export async function readInput(path: string, io: CliIo, limit: number, tooMuch: (read: readonly Uint8Array[]) => Error): Promise<Uint8Array> {
  const signal = io.signal ?? new AbortController().signal;
  if (path === '-') {
    const stdin = io.readStdinChunks?.()[Symbol.asyncIterator]();
    const chunks: AsyncIterable<Uint8Array> =
      stdin === undefined
        ? (async function* () {
            yield await io.readStdin();
          })()
        : { [Symbol.asyncIterator]: () => stdin };
    // Ending the iteration of process.stdin destroys it: nothing more is read, and nothing waits for its writer.
    return holdAll({ chunks, release: () => void stdin?.return?.() }, 'standard input', limit, tooMuch, signal);
  }
  let opened: Opened | undefined;
  try {
    opened = await openInput(path, signal);
    return await holdAll(opened, path, limit, tooMuch, signal);
  } catch (err) {
    if (isSystemError(err)) throw new UsageError(cannotRead(path, err));
    throw err;
  } finally {
    opened?.release();
  }
}

/**
 * `cannot read PATH: ...` for a file the user named that could not be read,
 * in words (see fileProblem in os-error.ts), then the OS's reason: it does
 * not exist, is a folder, or may not be read. The one wording of this for
 * the client commands' inputs.
 */
export function cannotRead(path: string, err: unknown, again = false): string {
  const why = (err as NodeJS.ErrnoException).code === 'EISDIR' ? `it is a folder, not a file (${osReason(err)})` : fileProblem(err);
  return `cannot read ${path}${again ? ' again' : ''}: ${why}`;
}

/**
 * `cannot write PATH: ...` for a file the user named that could not be
 * made or opened to write, in words, then the OS's reason: its folder does
 * not exist (with the mkdir -p that makes it, as folderProblem in
 * os-error.ts says), a part of its path is a file, it is a folder, or this
 * user may not write it.
 */
export function cannotWrite(path: string, err: unknown): string {
  const reason = osReason(err);
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      // Its folder is there, and yet refuses to hold it (/proc, say): the OS's words alone.
      if (existsSync(dirname(path))) return `cannot write ${path}: ${reason}`;
      return `cannot write ${path}: ${folderProblem(dirname(path), err)}`;
    case 'ENOTDIR':
      return `cannot write ${path}: ${folderProblem(dirname(path), err)}`;
    case 'EISDIR':
      return `cannot write ${path}: it is a folder; give the path of a file, in it or elsewhere (${reason})`;
    case 'EACCES':
    case 'EPERM':
      return `cannot write ${path}: this user may not write it, or may not make files in its folder (${reason})`;
    case 'EROFS':
      return `cannot write ${path}: it is on a read-only file system (${reason})`;
    default:
      return `cannot write ${path}: ${reason}`;
  }
}

/**
 * A number of seconds from `minSeconds` to `maxSeconds` for option `name`, as
 * milliseconds: canonical decimal like the integer options (no sign, no
 * exponent, no leading zero but in `0.5`), with at most 3 decimals (the
 * milliseconds). Out of range is a usage error that names the range: a wait
 * of 0 ms would poll the log in a tight loop.
 */
export function parseSeconds(text: string, name: string, minSeconds: number, maxSeconds: number): number {
  const valid = /^(0|[1-9][0-9]{0,9})(\.[0-9]{1,3})?$/.test(text);
  if (!valid || Number(text) < minSeconds || Number(text) > maxSeconds) {
    throw new UsageError(`${name} must be a number of seconds from ${minSeconds} to ${maxSeconds} (at most 3 decimals), got ${JSON.stringify(text)}`);
  }
  return Math.round(Number(text) * 1000);
}

/**
 * One JSON value as a line of JSON text (RFC 8259), its newline included,
 * with no character a terminal would act on: JSON.stringify escapes C0
 * controls but leaves DEL, C1 controls and bidi overrides and isolates raw
 * (from a log's checkpoint, say), so those are written as \uXXXX escapes
 * too. The text parses to the same value; they can occur only inside its
 * strings, where an escape means the character itself (RFC 8259 §7).
 */
export function jsonLine(value: unknown): string {
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) throw new TypeError('jsonLine: the value has no JSON form');
  return `${oneLine(text)}\n`;
}

/** Writes one JSON value as a line (see {@link jsonLine}) with {@link writeOut}: resolves once written, rejects with an OutputError. */
export function writeJsonOut(out: Output, value: unknown, stream = 'standard output'): Promise<void> {
  return writeOut(out, jsonLine(value), stream);
}

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

/**
 * The entry as text if it is UTF-8 that a terminal shows as it is: no
 * control characters (C0 but tab and newline, DEL, C1) and no bidi
 * embeddings, overrides or isolates; else undefined.
 */
export function printableText(entry: Uint8Array): string | undefined {
  let text: string;
  try {
    text = UTF8_STRICT.decode(entry);
  } catch {
    return undefined;
  }
  return hasUnsafeCharacter(text, '\t\n') ? undefined : text;
}

/** How often a progress that is not on a terminal writes a line, when it writes lines at all (see Progress). */
export const PROGRESS_LINE_MS = 60_000;

/**
 * A one-line progress bar on a terminal (redrawn at most every 100 ms, by
 * the monotonic clock: a step of the wall clock back must not stop the
 * redraws for as long); silent when `out` is not a TTY, unless `lines`
 * names the command: then, for a run that takes long under cron or a
 * service manager, a line of its own every PROGRESS_LINE_MS
 * (`cairn audit: 2010000/100000000 entries audited (2%)`), none at the start
 * or the end.
 */
export class Progress {
  readonly #out: Output;
  readonly #total: number;
  readonly #label: string;
  readonly #enabled: boolean;
  readonly #lines: string | undefined;
  /** When (performance.now) it last drew; none yet, whenever the process started. */
  #last = Number.NEGATIVE_INFINITY;
  #drawn = false;

  constructor(out: Output, total: number, label: string, enabled = true, lines?: string) {
    this.#out = out;
    this.#total = total;
    this.#label = label;
    this.#enabled = enabled && out.isTTY === true;
    this.#lines = enabled && out.isTTY !== true ? lines : undefined;
  }

  update(done: number, force = false): void {
    if (this.#lines !== undefined) {
      this.#line(done);
      return;
    }
    if (!this.#enabled) return;
    const now = performance.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const width = Math.max(10, Math.min(40, (this.#out.columns ?? 80) - 40));
    const fraction = this.#total === 0 ? 1 : Math.min(1, done / this.#total);
    const filled = Math.round(fraction * width);
    this.#out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(fraction * 100)}% ${done}/${this.#total} ${this.#label}\u001b[K`);
    this.#drawn = true;
  }

  /** A line of its own, when PROGRESS_LINE_MS passed since the first update or the last line. */
  #line(done: number): void {
    const now = performance.now();
    if (this.#last === Number.NEGATIVE_INFINITY) this.#last = now;
    if (now - this.#last < PROGRESS_LINE_MS) return;
    this.#last = now;
    const percent = this.#total === 0 ? 100 : Math.floor(Math.min(1, done / this.#total) * 100);
    this.#out.write(`${this.#lines}: ${done}/${this.#total} ${this.#label} (${percent}%)\n`);
  }

  /** Draws the final state and ends the line. */
  finish(done: number): void {
    if (!this.#enabled) return;
    this.update(done, true);
    if (this.#drawn) this.#out.write('\n');
  }
}
