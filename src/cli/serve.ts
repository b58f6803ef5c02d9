import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { joinAsGiven } from '../file-trust.js';
import { jsonLogger, withoutRequestLines } from '../log/logger.js';
import { envValue, parseCommandArgs, parseCount, parseHost, parseOrigin, parsePort, parsePositive, UsageError } from './args.js';
import { CHECK_CLOCK_ADVICE, MAX_CLOCK_AHEAD_MS } from '../clock-limits.js';
import { reportIgnoredDebugSignal } from './debug-signal.js';
import { removeStaleKeyTemps } from './key-file.js';
import { printableError, quoteVisibly, showNonPrinting } from './visible-text.js';
import { resolveVerifier, writeOut } from './client-common.js';
import { parseNewKeyOrigin } from './keygen.js';
import { accessOptionsProblem, DEFAULT_ORIGIN, startServer, type StartupFacts } from './server.js';
import { endBySignal, processStopSignals, stopSignalSorter, type StopSignal } from './stop-signals.js';

export const SERVE_USAGE = `usage: cairn serve [--data <dir>] [--key <file>] [--origin <name>]
                  [--new-log] [--host <host>] [--port <port>] [--max-queue <n>]
                  [--max-upload-mib <n>] [--tokens <file>] [--public-writes]
                  [--private] [--quiet] [--read-only --vkey <key|file>]

Runs the transparency log server on an embedded LevelDB store.

Options (each also read from the environment variable shown; the option wins;
an empty value, or an option given twice, is refused):
  --data <dir>      data folder (CAIRN_DATA; default ./cairn-data)
  --key <file>      signer key file (CAIRN_KEY; default <data>/log.key, made on
                    first start, when its verifier key is printed; never
                    made again for a store that holds a log)
  --origin <name>   the log's name for a key made on first start, for good
                    (CAIRN_ORIGIN; default ${DEFAULT_ORIGIN}, a placeholder
                    it warns about; visible characters only, no spaces or
                    '+'); with an existing key, only compared with its origin
  --new-log         begin a new log with a key that existed already (one
                    made with cairn keygen): for its first start only
                    (CAIRN_NEW_LOG=1). Without it, a start whose key it did
                    not make and whose store holds no log is refused (the
                    data folder on a volume not mounted? a wrong --data?):
                    a second log under a key that signed one is a fork. With
                    it, a start whose store holds a log is refused: leave it
                    out of later starts (and of a service's unit)
  --host <host>     address to listen on: an IP address (an IPv6 one with or
                    without brackets) or a host name (CAIRN_HOST; default
                    127.0.0.1)
  --port <port>     port, 0 for any free one (CAIRN_PORT; default 8080)
  --max-queue <n>   most entries waiting for a round before 503 (default 65536;
                    the queue also holds at most 64 MiB of entries); a batch
                    of more entries than that is refused (400)
  --max-upload-mib <n>
                    most MiB of request bodies held at once; an upload past
                    what is free is answered 503 with Retry-After before it
                    is read, one larger than the whole bound 413 (default
                    128; a batch of 1000 large entries needs 94)
  --tokens <file>   access tokens (CAIRN_TOKENS), sent as 'Authorization:
                    Bearer <token>': /metrics then needs one of role admin,
                    writes one of role submit or admin (unless
                    --public-writes), reads one of any role with --private.
                    A token sent where none is needed is still checked (an
                    unknown one is refused, 401) and counted against its
                    rate limit. One line per token:
                      <name> <read|submit|admin> <sha256 hex> [<n>/<s|min|h>]
                    where the hash is:
                      printf %s "$TOKEN" | sha256sum | cut -d' ' -f1
                    and the optional rate limit counts entries and requests
                    (429 with Retry-After past it). A token is 1 to 512
                    characters: letters, digits and - . _ ~ + /, then at
                    its end any number of = (openssl rand -base64 32 makes
                    one); any other token never matches, though its hash
                    is listed without complaint. The file must belong to
                    this user or root, not be writable by group or others,
                    and be in no folder (nor under one, up to /) that
                    another user owns or that group or others may write
                    without the sticky bit.
  --public-writes   anyone may write without a token; needed to listen on a
                    non-loopback address without --tokens (else serve
                    refuses); with --tokens, the tokens then guard /metrics.
                    Not with --private: a write's receipt (checkpoint,
                    proof, the index of an entry logged before) would tell
                    anyone what reads keep to token holders; give
                    submitters tokens of role submit instead
  --private         reads need a token too (any role); /healthz stays open
  --quiet           no request log lines on stderr (errors and warnings, such
                    as a failing disk, still go there)
  --read-only       serve a retired log (its key suspected compromised, or
                    the log closed) without its private key (CAIRN_READ_ONLY:
                    1, true or yes; 0, false or no is off): every read is
                    answered as before, from the checkpoint and the STH the
                    store holds, and nothing is ever signed: no re-signing,
                    so monitors that watch the age of its tree head (cairn
                    monitor's max-age) report it stale, as is right for a
                    closed log. Writes are 403 FORBIDDEN. Needs --vkey, and
                    refuses to start unless the stored tree head verifies
                    with it. No key file is read: --key and CAIRN_KEY are
                    refused, and so are --max-queue, --max-upload-mib and
                    --public-writes; --origin must be the verifier key's;
                    any --host may be given without --tokens (nobody can
                    write)
  --vkey <key|file> with --read-only: the log's verifier key, or a file
                    holding it, as cairn audit takes it (CAIRN_VKEY)
  -h, --help        show this help

The data folder must belong to the user serve runs as (or root) and must not
be writable by group or others (chmod go-w), or another user could put a key
in it or move its store away; one of root's that serve is to make files in
needs a chown to that user first. Its store folder, db/, is kept 0700. The key
file must not be readable by group or others (chmod 600), and must belong to
that user or root (one of root's cannot then be read by another user: one
made by keygen run as root needs a chown to the user serve runs as).
Memory stays bounded under overload: roughly 3 x --max-upload-mib for bodies
being parsed, plus 2 x 64 MiB for queued and sequencing entries, plus about
150 MiB of caches and runtime (about 700 MiB with the defaults); past these
bounds writers get 503 with Retry-After, and the server recovers by itself.

On start it takes the port first, so that a port in use is reported before
anything is made on disk; requests that come while it opens the key and the
store wait for it. Once it answers, it prints the data folder, the key file,
whether it made a new store, the log's origin and tree size, its verifier key
and access, then 'listening on http://HOST:PORT'. Before that line, a new log
begun with a key that existed already is stated: one begun with --new-log,
or the data folder's own log.key beside a store that holds no log, which a
first start interrupted before it signed anything leaves (harmless). A
'warning: ' line tells of a key made for the placeholder origin, and of a
store folder it had to close to other users or cannot close (a file system
without Unix modes).
A second server on the same data folder refuses to start. SIGINT, SIGTERM or
SIGHUP finishes the rounds under way and stops: it prints 'stopping' as it
hears the signal, then 'stopped' once it has stopped; requests still being
received after 5 s are cut off, and log lines that stderr has not taken 1 s
after 'stopped' (nobody reads it) are dropped. One that comes while it
starts lets the start finish (the requests waiting for it are answered),
then stops the same way, without 'listening on'. A round that a stalled
disk holds up is waited for, and warned of in the log. Another of these
signals less than 1 s after the first is the same request (Ctrl-C on 'npm
start' sends SIGINT twice: from the terminal and from npm) and is ignored;
one later ends the process at once (the store stays whole, as after a
crash). SIGUSR1, which logrotate and
others send to mean "reopen your log files", is ignored with a warning in
the log: serve keeps no log files (its log goes to stderr), and node would
open its debugger to every local user on it. The token file and the key
are read at start only: after changing them (to revoke a token, say),
restart the server.

Exit status:
  0  stopped by SIGINT, SIGTERM or SIGHUP (it prints 'stopped' once it has;
     a standard output that was lost is said on standard error, status 0)
  1  could not start: the port taken, the data folder or store unusable, open
     to other users or in use by another server, the key file missing, open
     to or owned by another user or not the store's key, a key that existed
     already beside a store that holds no log without --new-log (or one
     that holds a log with it), or a bad --tokens file (also one that
     another user owns, or could change or replace); with --read-only, a
     data folder that holds no log, or a stored tree head that does not
     verify with --vkey
  2  usage error (bad options; also --private without --tokens or with
     --public-writes, or a non-loopback --host with neither --tokens nor
     --public-writes)
`;

/** How long serve, once stopped, waits for its log lines to be written to stderr before it exits without them. */
const LOG_FLUSH_MS = 1000;

/** The most --max-upload-mib takes: 1 TiB, far past any machine's memory, and still exact in bytes. */
const MAX_UPLOAD_MIB = 1024 * 1024;

/**
 * `cairn serve`: see SERVE_USAGE; resolves to the exit status. Its usage
 * errors and start-up failures are printed as `cairn serve: <why>`.
 */
export async function serveCommand(argv: string[]): Promise<number> {
  try {
    return await serve(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`cairn serve: ${printableError(err)}\nRun 'cairn serve --help' for its options.\n`);
      return 2;
    }
    throw err;
  }
}

/** The options `cairn serve` takes (besides -h, --help), each listed in {@link SERVE_USAGE}. */
export const SERVE_OPTIONS = {
  data: { type: 'string' },
  key: { type: 'string' },
  origin: { type: 'string' },
  'new-log': { type: 'boolean' },
  host: { type: 'string' },
  port: { type: 'string' },
  'max-queue': { type: 'string' },
  'max-upload-mib': { type: 'string' },
  tokens: { type: 'string' },
  'public-writes': { type: 'boolean' },
  private: { type: 'boolean' },
  quiet: { type: 'boolean' },
  'read-only': { type: 'boolean' },
  vkey: { type: 'string' },
} as const;

async function serve(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, SERVE_OPTIONS);
  if (values.help === true) {
    // Awaited: the help is this run's result, whose loss is exit 2 (writeOut's OutputError), unlike the notices a server prints.
    await writeOut(process.stdout, SERVE_USAGE);
    return 0;
  }
  // Each setting from its option, else its variable; an empty one of either is refused.
  const env = process.env;
  const setting = (value: string | undefined, variable: string) => value ?? envValue(env, variable);
  const key = setting(values.key, 'CAIRN_KEY');
  const origin = setting(values.origin, 'CAIRN_ORIGIN');
  const data = setting(values.data, 'CAIRN_DATA') ?? './cairn-data';
  const hostText = setting(values.host, 'CAIRN_HOST');
  const portText = setting(values.port, 'CAIRN_PORT');
  const maxQueue = values['max-queue'];
  const maxUpload = values['max-upload-mib'];
  const tokens = setting(values.tokens, 'CAIRN_TOKENS');
  const readOnly = values['read-only'] === true || envSwitch(env, 'CAIRN_READ_ONLY') ? await readOnlySetting(values, env, key, origin) : undefined;
  if (readOnly === undefined && values.vkey !== undefined) throw new UsageError('--vkey goes with --read-only: a server that signs reads its key file');
  const newLog = values['new-log'] === true || envSwitch(env, 'CAIRN_NEW_LOG');
  if (newLog && readOnly !== undefined) throw new UsageError('--new-log (or CAIRN_NEW_LOG) begins a new log, which a read-only server never does: give one or the other');
  // Checked before anything is made on disk; the host first, as the access set-up depends on it.
  const host = hostText === undefined ? '127.0.0.1' : parseHost(hostText, values.host === undefined ? 'CAIRN_HOST' : '--host');
  // Options that would make an unsafe server are usage errors, as bad ones are.
  const accessProblem = accessOptionsProblem(host, { tokens: tokens !== undefined, publicWrites: values['public-writes'] === true, privateReads: values.private === true, readOnly: readOnly !== undefined });
  if (accessProblem !== undefined) throw new UsageError(accessProblem);
  if (origin !== undefined && readOnly === undefined) await checkOrigin(origin, values.origin === undefined ? 'CAIRN_ORIGIN' : '--origin', key === undefined ? joinAsGiven(data, 'log.key') : undefined);
  const port = portText === undefined ? 8080 : parsePort(portText, values.port === undefined ? 'CAIRN_PORT' : '--port');
  const maxUploadBytes = maxUpload === undefined ? undefined : parseCount(maxUpload, '--max-upload-mib', 1, MAX_UPLOAD_MIB) * 1024 * 1024;
  const maxQueueEntries = maxQueue === undefined ? undefined : parsePositive(maxQueue, '--max-queue');
  // The JSON log on stderr; its handle is kept to wait for its last lines at stop.
  const output = jsonLogger();
  const logger = values.quiet === true ? withoutRequestLines(output) : output;
  // SIGUSR1 (logrotate's "reopen your logs") is ignored, as in every command,
  // and said in the JSON log rather than as a line of text among its lines.
  reportIgnoredDebugSignal((message) => logger.warn(message));
  // The signals are listened for before the start begins, so that one that
  // comes while the key and the store are opened (a while, on a large store)
  // stops the server cleanly rather than killing it. startServer takes no
  // cancel: the start, which is bounded (it opens the store and reads the
  // tree's right edge, replaying nothing), is let finish, and the server is
  // then closed as after start-up. SIGHUP (the terminal went away, or a
  // service manager's reload) stops it as SIGTERM does, rather than killing
  // it at once: the tokens and the key are read at start only, so there is
  // nothing to reload. A signal less than REPEAT_SIGNAL_MS after the first,
  // of any of the three, is the same request come twice (Ctrl-C on `npm
  // start` reaches serve from the terminal and from npm) and is ignored; a
  // second one after that, during the start or after it, kills the process
  // as signals do by default: the way out of a stop that hangs. They are
  // heard through processStopSignals, which goes on hearing them until the
  // process is gone: a repeat that comes as it ends is ignored too.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const sortSignal = stopSignalSorter();
  let stopRequested = false;
  let resolveStopped = () => {};
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  const stop = (signal: StopSignal) => {
    const kind = sortSignal();
    if (kind === 'repeat') return;
    if (kind === 'second') {
      endBySignal(signal);
      return;
    }
    stopRequested = true;
    // Said at once, during the start or after it: whoever sent it learns it
    // was heard, however long the stop then takes (a round held up by a
    // stalled disk, which it waits for).
    process.stdout.write('stopping\n');
    resolveStopped();
  };
  for (const signal of signals) processStopSignals.on(signal, stop);
  let running;
  // The verifier key is printed once: with the new key, or else on start.
  let madeKey = false;
  try {
    running = await startServer({
      data,
      host,
      port,
      // --quiet drops the request lines only: errors and warnings (a failing disk) still show.
      logger,
      ...(key === undefined ? {} : { key }),
      ...(origin === undefined ? {} : { origin }),
      ...(newLog ? { newLog } : {}),
      ...(maxQueueEntries === undefined ? {} : { maxQueueEntries }),
      ...(maxUploadBytes === undefined ? {} : { maxInflightBodyBytes: maxUploadBytes }),
      ...(tokens === undefined ? {} : { tokens }),
      ...(readOnly === undefined ? {} : { readOnly }),
      publicWrites: values['public-writes'] === true,
      privateReads: values.private === true,
      onKeyCreated: (path, verifierKey) => {
        madeKey = true;
        process.stdout.write(`made a new signing key in ${showNonPrinting(path)}\nverifier key: ${verifierKey}\n`);
      },
    });
  } catch (err) {
    for (const signal of signals) processStopSignals.off(signal, stop);
    // Every failure to start is the operator's to fix (the store, the key,
    // the folder, the port): one line naming the command, no stack. One
    // line indeed: a message from below (LevelDB's, the store's) may name the
    // data folder as it is, and a folder named with a line break must not
    // print a line of its own.
    process.stderr.write(`cairn serve: ${showNonPrinting(err instanceof Error ? err.message : String(err))}\n`);
    return 1;
  }
  // A key creation killed midway (a crash on first start, or of keygen) can
  // leave its temporary file, a complete private key, beside the key file.
  // Now that the key file exists (read, or made, with the store's lock held),
  // no creation of it can succeed any more: see removeStaleKeyTemps.
  const keyPath = key ?? join(running.startup.dataFolder, 'log.key');
  for (const problem of readOnly !== undefined ? [] : await removeStaleKeyTemps(keyPath)) {
    logger.warn(
      problem.kind === 'list'
        ? `cannot look for temporary key files left by an interrupted key creation beside ${showNonPrinting(keyPath)}`
        : 'cannot remove a temporary key file left by an interrupted key creation; it holds a private key: remove it by hand',
      { path: problem.path, reason: problem.reason },
    );
  }
  // The warnings are the start-up lines' own (stderr carries the server's
  // JSON log lines), and are printed even when a signal stops the start:
  // they are about what it made or changed.
  const facts = running.startup;
  const notices = startupNotices(facts)
    .map((notice) => `${notice}\n`)
    .join('');
  const now = Date.now();
  const warnings = startupWarnings(facts, now)
    .map((warning) => `warning: ${warning}\n`)
    .join('');
  if (stopRequested) {
    process.stdout.write(notices + warnings);
  } else {
    const { dataFolder, storeFolder, keyFile } = shownPaths(facts);
    const store = !facts.newLog ? '' : facts.madeStore ? `made a new store in ${storeFolder}\n` : `starting a new log in the empty store ${storeFolder}\n`;
    // A restart names the tree head it found in the store, and when it was
    // signed: an old backup restored, or a --data that names another store,
    // shows there.
    // A read-only start reads the tree head it serves, for good.
    const head = facts.storedTreeHead ?? (facts.readOnly === true ? running.log.latest() : undefined);
    const treeHead = head === undefined ? '' : `latest tree head: ${treeHeadSigned(head.timestamp, now)}\n${facts.readOnly === true ? READ_ONLY_LINE : ''}`;
    process.stdout.write(
      `data folder: ${dataFolder}\n${store}${madeKey || facts.readOnly === true ? '' : `key file: ${keyFile}\n`}` +
        `log ${running.log.origin} at tree size ${head?.treeSize ?? running.log.latest().treeSize}\n${treeHead}${madeKey ? '' : `verifier key: ${running.verifierKey}\n`}` +
        `access: ${running.accessSummary}\n${notices}${warnings}listening on ${running.url}\n`,
    );
  }
  await stopped;
  await running.close();
  process.stdout.write('stopped\n');
  // A write to a stderr nobody reads any more (a log shipper that stalled)
  // would keep the process alive after the stop for as long as it stays
  // unread: its last lines get a moment, then the process ends without them,
  // once main has set the exit status this returns (process.exitCode).
  if (!(await output.flush(LOG_FLUSH_MS))) setImmediate(() => process.exit()).unref();
  return 0;
}

/** What a read-only start says after its tree head's line. */
const READ_ONLY_LINE = 'read-only: serving that tree head for good; nothing is signed, and writes are refused (403)\n';

/**
 * Whether the switch variable `name` is on: unset, or 0, false or no, is
 * off; 1, true or yes on (any letter case); anything else a usage error.
 */
function envSwitch(env: NodeJS.ProcessEnv, name: string): boolean {
  const value = envValue(env, name);
  if (value === undefined) return false;
  const word = value.trim().toLowerCase();
  if (['1', 'true', 'yes'].includes(word)) return true;
  if (['0', 'false', 'no'].includes(word)) return false;
  throw new UsageError(`${name} must be 1, true or yes (on), or 0, false or no (off), not ${quoteVisibly(value)}`);
}

/**
 * The verifier key a read-only start (--read-only, CAIRN_READ_ONLY) serves
 * its log with, read as cairn audit reads it (--vkey, else CAIRN_VKEY: the
 * key or a file holding it). Usage errors: a private key named (`key`, by
 * --key or CAIRN_KEY: a read-only start reads none), options for writes,
 * and an `origin` that is not the verifier key's.
 */
async function readOnlySetting(
  values: { vkey?: string; key?: string; 'max-queue'?: string; 'max-upload-mib'?: string },
  env: NodeJS.ProcessEnv,
  key: string | undefined,
  origin: string | undefined,
): Promise<{ verifierKey: string; source: string }> {
  if (key !== undefined) {
    const given = values.key !== undefined ? '--key' : 'CAIRN_KEY (unset it)';
    throw new UsageError(`--read-only reads no private key: leave out ${given}, and give the log's verifier key with --vkey; keep the private key offline, or destroy it`);
  }
  for (const name of ['max-queue', 'max-upload-mib'] as const) {
    if (values[name] !== undefined) throw new UsageError(`--${name} bounds writes, and --read-only takes none: leave it out`);
  }
  const { verifier, key: verifierKey } = await resolveVerifier(values.vkey, env);
  if (origin !== undefined && origin !== verifier.name) throw new UsageError(`the verifier key is for the log ${JSON.stringify(verifier.name)}, not the origin given (${JSON.stringify(origin)})`);
  return { verifierKey, source: values.vkey === undefined ? 'CAIRN_VKEY' : '--vkey' };
}

/**
 * Checks the origin `origin` given by option or variable `name` before
 * anything is made on disk, throwing a UsageError: every origin must be a
 * note key name (parseOrigin), and one for a key about to be made must also
 * be visible text (parseNewKeyOrigin). A key is made only at the default
 * path `madeAt` (undefined with --key, which is never made), and only when no
 * file is there: an existing key keeps the origin it was made with, by an
 * earlier version perhaps, under rules that let more through, and the origin
 * given is then only compared with it (startServer refuses a mismatch). Were
 * a key to appear meanwhile, it is compared all the same; createKeyFile
 * applies the same rule to the key it makes.
 */
async function checkOrigin(origin: string, name: string, madeAt: string | undefined): Promise<void> {
  const keyMissing =
    madeAt !== undefined &&
    (await stat(madeAt).then(
      () => false,
      (err: NodeJS.ErrnoException) => err.code === 'ENOENT' || err.code === 'ENOTDIR',
    ));
  if (keyMissing) parseNewKeyOrigin(origin, name);
  else parseOrigin(origin, name);
}

/**
 * The paths of a start as its lines print them: their line breaks and other
 * non-printing characters shown as escapes, so that a crafted folder name
 * cannot start a line that looks like serve's own.
 */
function shownPaths(facts: StartupFacts): { dataFolder: string; storeFolder: string; keyFile: string } {
  return { dataFolder: showNonPrinting(facts.dataFolder), storeFolder: showNonPrinting(facts.storeFolder), keyFile: showNonPrinting(facts.keyFile) };
}

/** The time units of {@link treeHeadSigned}'s spans, largest first, in ms. */
const SPAN_UNITS: readonly (readonly [string, number])[] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1000],
];

/** `ms` (1000 or more) in the largest unit it holds at least two of, seconds at least: "90 minutes", "36 hours", "3 days". */
function span(ms: number): string {
  const [unit, size] = SPAN_UNITS.find(([, size]) => ms >= 2 * size) ?? SPAN_UNITS.at(-1)!;
  const count = Math.floor(ms / size);
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/**
 * `ms` (1000 or more) in the largest unit it holds at least one of, and what
 * is left of it in the next unit, if any: "2 hours 59 minutes", "9 minutes 59
 * seconds", "3 hours". For a tree head ahead of the clock, where {@link span}
 * would call 2 h 59 min "2 hours": rounded down in the smaller unit only.
 */
function preciseSpan(ms: number): string {
  const at = SPAN_UNITS.findIndex(([, size]) => ms >= size);
  const [unit, size] = SPAN_UNITS[at === -1 ? SPAN_UNITS.length - 1 : at]!;
  const count = Math.floor(ms / size);
  const shown = `${count} ${unit}${count === 1 ? '' : 's'}`;
  const next = SPAN_UNITS[at + 1];
  if (at === -1 || next === undefined) return shown;
  const rest = Math.floor((ms - count * size) / next[1]);
  return rest === 0 ? shown : `${shown} ${rest} ${next[0]}${rest === 1 ? '' : 's'}`;
}

/**
 * When a tree head stamped `timestamp` (ms since the epoch) was signed, as
 * the line serve starts with names it, `now` being the clock's time: `signed
 * 2026-11-26T10:00:00Z (3 days ago)`, to the second; a timestamp ahead of the
 * clock is said to be ahead (the clock stepped back, or the store comes from
 * a machine whose clock was ahead), by how much in two units (`2 hours 59
 * minutes ahead of this machine's clock`: more than 10 minutes is also a
 * warning, see startupWarnings), one no date can hold is given as a number.
 */
export function treeHeadSigned(timestamp: number, now: number): string {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return `signed at ${timestamp} ms after the epoch`;
  const ago = now - timestamp;
  const when = Math.abs(ago) < 1000 ? `less than a second ${ago < 0 ? "ahead of this machine's clock" : 'ago'}` : ago < 0 ? `${preciseSpan(-ago)} ahead of this machine's clock` : `${span(ago)} ago`;
  return `signed ${isoSecond(date)} (${when})`;
}

/** `date` as an ISO date to the second, as serve's lines give tree head times. */
function isoSecond(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Facts of a start the operator should know of, stated calmly (start-up
 * lines of their own, before 'listening on'): a new log begun with a key that
 * existed already, as --new-log asked (how a key made first with keygen is
 * meant to be used), or with the data folder's own key beside a store that a
 * first start, interrupted before it signed anything, left with no log; a
 * store in Cairn 0.1.0's layout, which this start or its first round
 * converts for good (README, Upgrading).
 */
export function startupNotices(facts: StartupFacts): string[] {
  const notices: string[] = [];
  const { storeFolder, keyFile } = shownPaths(facts);
  if (facts.existingKeyNewLog === 'asked') {
    notices.push(`starting a new log with the key in ${keyFile}, as --new-log asks: leave --new-log out of later starts, which it would refuse once this log holds its first checkpoint`);
  }
  if (facts.existingKeyNewLog === 'interrupted') {
    notices.push(
      `starting the log in ${storeFolder}, which holds no log, with the data folder's own key ${keyFile}: an earlier first start made both and was interrupted before it signed anything (harmless); ` +
        'the verifier key is the one that start printed',
    );
  }
  const older = facts.olderLayout;
  if (older !== undefined) {
    notices.push(
      older.convertedBundle !== undefined
        ? `converted the store in ${storeFolder} from Cairn 0.1.0's layout: its last, partial entry bundle (${older.convertedBundle}) was rewritten in this version's layout, ` +
            'in which new rounds are written too, so 0.1.0 can no longer open this store (to go back to 0.1.0, use a copy of the data folder taken before this start)'
        : `the store in ${storeFolder} is in Cairn 0.1.0's layout: it is read as it is, and the first entries logged are written in this version's layout, ` +
            'after which 0.1.0 must not open it (to keep a copy 0.1.0 can open, stop now and copy the data folder first)',
    );
  }
  return notices;
}

/**
 * What the operator should hear (start-up lines of their own,
 * `warning: …`, before 'listening on'): a key made for the placeholder
 * origin; a store folder that was open to others and has
 * been closed, or that is open and cannot be closed; a folder above the
 * key file, the data folder or the token file that a group may write; a
 * stored tree head more than {@link MAX_CLOCK_AHEAD_MS} ahead of the clock
 * `now` (ms since the epoch).
 */
export function startupWarnings(facts: StartupFacts, now: number = Date.now()): string[] {
  const warnings: string[] = [];
  const { storeFolder, keyFile } = shownPaths(facts);
  if (facts.placeholderOrigin) {
    warnings.push(
      `the new key is for the placeholder origin ${DEFAULT_ORIGIN}, and an origin is a log's name for good (a restart with another --origin is refused). ` +
        `To name this log, stop it before it takes entries, remove ${keyFile} and ${storeFolder}, and start again with --origin <name> (or CAIRN_ORIGIN)`,
    );
  }
  if (facts.tightenedStoreMode !== undefined) {
    warnings.push(`the store's folder ${storeFolder} was open to group or others (mode ${facts.tightenedStoreMode.toString(8)}); it is now 0700, so that only this user can read the log's files`);
  }
  warnings.push(...(facts.sharedFolders ?? []));
  if (facts.openStoreMode !== undefined) {
    warnings.push(
      `the store's folder ${storeFolder} is open to group or others (mode ${facts.openStoreMode.toString(8)}) and its mode cannot be changed ` +
        '(a file system without Unix modes, such as vfat or some network shares?): other users may be able to read the log\'s files; keep the data folder where only this user can reach it',
    );
  }
  const head = facts.storedTreeHead;
  if (head !== undefined && head.timestamp - now > MAX_CLOCK_AHEAD_MS) {
    const date = new Date(head.timestamp);
    const dated = Number.isNaN(date.getTime()) ? `at ${head.timestamp} ms after the epoch` : `${isoSecond(date)}, ${preciseSpan(head.timestamp - now)} ahead of this machine's clock`;
    warnings.push(
      `the latest tree head (tree size ${head.treeSize}) is dated ${dated} (signed while a clock ran ahead, or is this one behind?): ` +
        'the tree heads signed from now on are dated just after it, as far ahead, until this clock passes it, ' +
        `and monitors (cairn monitor too) alarm \`timestamp\` meanwhile on each one more than ${MAX_CLOCK_AHEAD_MS / 60_000} minutes ahead of their clock. ` +
        CHECK_CLOCK_ADVICE,
    );
  }
  return warnings;
}
