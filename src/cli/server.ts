import { createServer, type Server } from 'node:http';
import { link, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { isIP } from 'node:net';
import { AccessConfigError, AccessControl, isLoopbackHost, readTokenFile, type TokenRule } from '../http/access.js';
import { createApp, DEFAULT_MAX_INFLIGHT_BODY_BYTES } from '../http/app.js';
import { BodyBudget } from '../http/body-budget.js';
import { answerClientErrors, answerConnect, answerExpectations } from '../http/client-error.js';
import { connectionCutter } from '../http/cut-at-stop.js';
import { QUIET_MS, StopDrain } from '../http/drain-at-stop.js';
import { createMetrics } from '../http/metrics.js';
import { shortageAdvice } from '../http/errors.js';
import { AnswerBudget, DEFAULT_MAX_ANSWER_BYTES } from '../http/answer-budget.js';
import { PipelineLimit, STALL_MS } from '../http/pipelining.js';
import { Refusals } from '../http/refusals.js';
import { Log } from '../log/log.js';
import { errorFields, silentLogger, type Logger } from '../log/logger.js';
import { newNativeSigner } from '../log/native-signer.js';
import { newVerifier } from '../note/keys.js';
import { LevelStore, type OlderLayout } from '../storage/level-store.js';
import { lockShown, lookForWrites, mayCreateDatabase } from '../storage/leveldb-folder.js';
import { StoreLockedError, type LogState, type LogStore } from '../storage/store.js';
import { unbracketHost } from './args.js';
import { createKeyFile, danglingLinkProblem, KeyFileError, keyTempPath, readKeyFile } from './key-file.js';
import { fileProblem, optionWords, osReason, shellWord } from './os-error.js';
import { DroppedConnectionLog } from './dropped-connections.js';
import { ClientErrorLog } from './client-errors.js';
import { LinePacer, type PacedLineOptions } from '../log/paced-lines.js';
import { STALLED_ROUND_MS, StalledRoundLog } from '../log/stalled-rounds.js';
import { ClockBehindLog } from '../log/clock-behind.js';
import { StartupGate } from './startup-gate.js';
import { syncFolder } from '../sync-folder.js';
import { showNonPrinting } from './visible-text.js';
import { checkDataFolder, dataFolderInUse, makeDataFolder, noSpaceLeft, openDataFolderStore, prepareStoreFolder, withSpaceAdvice } from './data-folder.js';
import { joinAsGiven, pathAsGiven, realOrAsGiven, sharedFolderWarnings, type SharedFolderFinding } from '../file-trust.js';
import { addressSpaceWarning, AMPLE_ADDRESS_SPACE, connectionLimit, FEW_CONNECTIONS, processLimits } from './process-limits.js';
import { StartError } from './start-error.js';
import { openReadOnlyLog } from './read-only.js';

export interface ServerConfig {
  /** Data folder: the LevelDB store lives in `<data>/db`, the default key in `<data>/log.key`. */
  readonly data: string;
  /** Signer key file; when absent, `<data>/log.key`, made on first start. */
  readonly key?: string;
  /** Origin for a key made on first start. */
  readonly origin?: string;
  /**
   * Begin a new log with a key this start did not make (`serve --new-log`):
   * without it, a start whose key existed already and whose store holds no
   * log is refused (a volume not mounted, a wrong --data), but for the data
   * folder's own key beside a store that a first start made and left with
   * no log; with it, a start whose store holds a log is refused, so that it
   * cannot stay in a service's command line. A key made by this start needs
   * none.
   */
  readonly newLog?: boolean;
  /** Address to listen on: an IP literal (an IPv6 one with or without brackets) or a host name. */
  readonly host: string;
  readonly port: number;
  readonly logger?: Logger;
  readonly maxQueueEntries?: number;
  readonly maxRoundEntries?: number;
  /** Token file (see src/http/access.ts); without one, nobody has a token. */
  readonly tokens?: string;
  /** Let anyone write without a token; required to listen beyond loopback with no tokens. */
  readonly publicWrites?: boolean;
  /** Reads need a token too (any role); /healthz stays open. */
  readonly privateReads?: boolean;
  /**
   * Serve the log in `data` read-only (see read-only.ts): no key is read
   * (`key` and `origin` are not looked at), nothing is signed, writes are
   * refused (403 FORBIDDEN); the stored tree head must verify with this key.
   */
  readonly readOnly?: { readonly verifierKey: string; readonly source?: string };
  /** Bound on request body bytes held at once (see BodyBudget). */
  readonly maxInflightBodyBytes?: number;
  /** Wraps the store (tests inject faults or delays with it). */
  readonly wrapStore?: (store: LogStore) => LogStore;
  /** Told when a key is made on first start, with its real path (absolute, with no symbolic link or '..' in it: the key is made in the data folder's realpath). */
  readonly onKeyCreated?: (path: string, verifierKey: string) => void;
  /**
   * How long `close()` lets requests in progress finish before it cuts their
   * connections (default {@link SHUTDOWN_GRACE_MS}): an upload that stalls
   * must not keep a stopping server alive for node's 5-minute request timeout.
   */
  readonly shutdownGraceMs?: number;
  /**
   * How long, once `close()` began, a keep-alive connection with no request
   * in progress must stay quiet before it is closed (default
   * {@link QUIET_MS}; see StopDrain); tests lengthen it.
   */
  readonly stopQuietMs?: number;
  /**
   * Most connections open at once (default: what {@link connectionLimit}
   * leaves of the process's open-file limit); tests set it.
   */
  readonly maxConnections?: number;
  /** How long a connection may leave its answers unread while they keep others waiting (default {@link STALL_MS}, a minute, as the warning says); tests shorten it. */
  readonly stallMs?: number;
  /**
   * How long a client may take to send a request's headers, or a new
   * connection its first request, before it is answered 408 REQUEST_TIMEOUT
   * and counted in cairn_client_errors_total{reason="request_timeout"}
   * (node's `headersTimeout`; default {@link HEADERS_TIMEOUT_MS}); tests
   * shorten it. Node looks for such clients every half of it, at most every
   * 30 s (its own default), so one is answered within 1.5 times it. At most
   * node's `requestTimeout` (5 minutes), which bounds the whole request.
   */
  readonly headersTimeoutMs?: number;
  /**
   * How long a round must be under way before it is warned of as stalled
   * (default {@link STALLED_ROUND_MS}; /healthz answers 503 past STALLED_HEALTH_MS, whatever this is); tests shorten it.
   */
  readonly stalledRoundMs?: number;
}

/**
 * Default {@link ServerConfig.headersTimeoutMs}: node's own, which a client
 * that keeps a connection open without a request holds it for (see
 * {@link connectionLimit}).
 */
export const HEADERS_TIMEOUT_MS = 60_000;

/** Node's default `requestTimeout`, which the server keeps (BODY_MAX_MS of read-body.ts is the same): the most {@link ServerConfig.headersTimeoutMs} may be. */
const REQUEST_TIMEOUT_MS = 300_000;

/** The longest node waits between looks for requests past their time (its default `connectionsCheckingInterval`). */
const TIMEOUT_CHECK_MS = 30_000;

/** Default {@link ServerConfig.shutdownGraceMs}. */
export const SHUTDOWN_GRACE_MS = 5000;

/** Where a started server keeps its log and what its start made or changed there, for the start-up lines. */
export interface StartupFacts {
  /** The data folder, absolute, with no symbolic link or '..' in it (its realpath). */
  readonly dataFolder: string;
  /** The store's folder, `<data>/db`, absolute. */
  readonly storeFolder: string;
  /** The key file, absolute, with no symbolic link or '..' in it (its realpath): the file the kernel opened, whatever the path given. */
  readonly keyFile: string;
  /** This start made the store's folder. */
  readonly madeStore: boolean;
  /** The store held no log: this start began one, at tree size 0, and signed its first checkpoint. */
  readonly newLog: boolean;
  /**
   * The tree head the store held as this start opened it, absent for a new
   * log: its size, and when it was signed (its timestamp, ms since the epoch).
   */
  readonly storedTreeHead?: { readonly treeSize: number; readonly timestamp: number };
  /** This start made the key file. */
  readonly madeKey: boolean;
  /**
   * Why a new log was begun with a key this start did not make: `asked`
   * (ServerConfig.newLog), or `interrupted`: the data folder's own key beside
   * a store (one with LevelDB's files) that holds no log, which is what a
   * first start killed after it made the key and before its first checkpoint
   * leaves. Absent otherwise.
   */
  readonly existingKeyNewLog?: 'asked' | 'interrupted';
  /** The key was made for {@link DEFAULT_ORIGIN}, no origin being given. */
  readonly placeholderOrigin: boolean;
  /** The store's folder was open to group or others with this mode (e.g. 0o755), and this start made it 0700. */
  readonly tightenedStoreMode?: number;
  /**
   * The store's folder is open to group or others with this mode, and its
   * mode cannot be changed there (a file system without Unix modes, such as
   * vfat or some network shares): other users may be able to read it.
   */
  readonly openStoreMode?: number;
  /** The store was in Cairn 0.1.0's layout, and whether this start rewrote its partial last bundle (see LevelStore.olderLayout). */
  readonly olderLayout?: OlderLayout;
  /** A read-only start (ServerConfig.readOnly): it read no key (`keyFile` is empty) and signs nothing. */
  readonly readOnly?: boolean;
  /** Folders above the key file, the data folder or the token file that a group may write, not their owner's private one (see openFolderProblem of src/file-trust.ts), in words: one line for each folder, naming every one of those files in or under it (sharedFolderWarnings). */
  readonly sharedFolders?: readonly string[];
}

export interface RunningServer {
  readonly url: string;
  readonly log: Log;
  readonly verifierKey: string;
  readonly server: Server;
  /** Who may write and read, in words, for the start-up lines. */
  readonly accessSummary: string;
  readonly startup: StartupFacts;
  close(): Promise<void>;
}

/** The origin used for a key made on first start when none is given. */
export const DEFAULT_ORIGIN = 'cairn.localhost/log';

/** Whether the key file at `path` exists; any other answer than yes or no is a KeyFileError saying why it cannot be read. */
async function keyExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // A symbolic link that leads nowhere is not a missing key: neither made through, nor a lost key.
      const dangling = await danglingLinkProblem(path);
      if (dangling !== undefined) throw new KeyFileError(`${dangling}: put the log's key file there, or remove the link`, { cause: err });
      return false;
    }
    throw new KeyFileError(`cannot read the key file ${showNonPrinting(path)}: ${fileProblem(err)}`, { cause: err });
  }
}

/**
 * Why access options alone make an unsafe server, or undefined: listening
 * on `host`, a non-loopback address, with no tokens unless writes are
 * explicitly public, private reads with public writes (a write's receipt
 * would tell anyone what the reads keep to token holders), or private
 * reads with no tokens (nobody could read). A read-only log takes no writes:
 * it may listen anywhere without tokens, and --public-writes is refused.
 * `cairn serve` judges its options with it before anything else (a usage
 * error); {@link startServer} again, with the tokens its file lists.
 */
export function accessOptionsProblem(host: string, options: { tokens: boolean; publicWrites: boolean; privateReads: boolean; readOnly?: boolean }): string | undefined {
  if (options.readOnly === true && options.publicWrites) return '--read-only and --public-writes do not go together: a read-only log takes no writes';
  if (!options.tokens && !options.publicWrites && options.readOnly !== true && !isLoopbackHost(host)) {
    return (
      `refusing to listen on ${urlHost(host)} with no access tokens: anyone who reaches it could write to the log. ` +
      'Give --tokens FILE, or --public-writes if anyone may really write, or listen on 127.0.0.1'
    );
  }
  if (options.privateReads && options.publicWrites) {
    return (
      '--private and --public-writes do not go together: a write is answered with a receipt (a signed checkpoint, an inclusion proof and, for an entry logged before, its index), ' +
      'so anyone could read what --private keeps to token holders, and learn whether an entry is logged by submitting it. ' +
      'Give each submitter a token of role submit in the --tokens file instead, and leave out --public-writes'
    );
  }
  if (options.privateReads && !options.tokens) return '--private needs --tokens FILE: nobody could read the log';
  return undefined;
}

/**
 * Loads the access set-up (issue 6 "Access") and refuses an unsafe one: a
 * non-loopback address with no tokens unless writes are explicitly public,
 * and a private log nobody could read.
 */
async function loadAccess(config: ServerConfig, host: string, onSharedFolder: (found: SharedFolderFinding) => void): Promise<{ access: AccessControl | undefined; summary: string }> {
  const tokens: TokenRule[] = config.tokens === undefined ? [] : await readTokenFile(config.tokens, { checkOwner: true, onSharedFolder });
  const publicWrites = config.publicWrites === true;
  const privateReads = config.privateReads === true;
  const readOnly = config.readOnly !== undefined;
  const problem = accessOptionsProblem(host, { tokens: tokens.length > 0, publicWrites, privateReads, readOnly });
  if (problem !== undefined) throw new AccessConfigError(problem);
  const writers = tokens.filter((t) => t.role !== 'read').length;
  const admins = tokens.filter((t) => t.role === 'admin').length;
  const summary = [
    readOnly ? 'read-only (writes refused, 403)' : publicWrites || tokens.length === 0 ? 'writes open to anyone' : `writes need a token (${writers} with role submit or admin)`,
    privateReads ? 'reads need a token' : 'reads open to anyone',
    // Tokens guard /metrics whatever else is open (with --public-writes, that may be all they do).
    ...(tokens.length === 0 ? [] : [`/metrics needs a token of role admin (${admins === 0 ? 'none has it' : `${admins} ${admins === 1 ? 'has' : 'have'} it`})`]),
  ].join(', ');
  if (tokens.length === 0 && !privateReads) return { access: undefined, summary };
  // A read-only log answers every write 403 FORBIDDEN, with a token or without: none is asked for.
  return { access: new AccessControl({ tokens, publicWrites: publicWrites || readOnly, publicReads: !privateReads }), summary };
}

/**
 * Reads the signer key at `path` and checks that it is for the configured
 * origin. A missing key is made when `store` is given and no key is named
 * (the default key, on first start), and only while that store holds no
 * log: a log's key that went missing is not replaced by a new one, which
 * could not sign for what the log already holds. A missing key, named or
 * not, of a store that holds a log is reported as that log's lost key.
 * `onMade` is told as soon as the key file is made, before it is read back.
 */
async function loadKey(
  path: string,
  config: ServerConfig,
  store?: { readonly store: LogStore; readonly folder: string },
  onMade?: () => void,
  onSharedFolder?: (found: SharedFolderFinding) => void,
): Promise<{ signerKey: string; verifierKey: string; origin: string; made: boolean }> {
  let made = false;
  if (!(await keyExists(path))) {
    const state = await store?.store.readState();
    if (state !== undefined) {
      throw new StartError(
        `the log in ${showNonPrinting(store!.folder)} (${state.treeSize} ${state.treeSize === 1 ? 'entry' : 'entries'}) has lost its key: ${showNonPrinting(path)} is missing; ` +
          'put that key file back, or name it with --key FILE (a new key cannot sign for this log)',
      );
    }
    if (store === undefined || config.key !== undefined) throw new KeyFileError(`no key file at ${showNonPrinting(path)}; make one with: cairn keygen --origin <origin> --out ${shellWord(path)}`);
    const created = await createKeyFile(path, config.origin ?? DEFAULT_ORIGIN);
    made = true;
    onMade?.();
    config.onKeyCreated?.(path, created.verifierKey);
  }
  const key = await readKeyFile(path, { checkOwner: true, ...(onSharedFolder === undefined ? {} : { onSharedFolder }) });
  if (config.origin !== undefined && config.origin !== key.origin) {
    throw new KeyFileError(`the key in ${showNonPrinting(path)} is for origin ${key.origin}, not ${config.origin}`);
  }
  return { ...key, made };
}

/**
 * Refuses a start whose key file `path` is missing beside a store `db` that
 * may hold a log (lookForWrites of leveldb-folder.ts: anything but a store
 * that provably holds no write), before anything is made or opened: opening
 * takes the store's lock and has LevelDB write a new MANIFEST and fold its
 * write-ahead log into a table, and a new key could not sign for what the
 * log holds. A store that provably holds nothing (one whose first start
 * failed, its key taken back) and a data folder with no store yet pass: the
 * default key is made once the store's lock is taken. A key found missing
 * only until the look found a write is not refused: a first start on the
 * same fresh folder made it meanwhile (and holds the store's lock, which
 * the open then says). StoreLockedError instead, with nothing opened, when
 * the system's lock table shows the store's lock held (lockShown of
 * leveldb-folder.ts): another server or audit has the store, and the key
 * named may be only a wrong name for the one it read.
 *
 * Resolves to whether a key named with --key is to be read only once the
 * store is open: when the store's folder cannot be read, or the key is
 * missing and the folder holds no CURRENT file but more than a first open
 * leaves (LevelStore.exists) or cannot be looked into, or no file in it
 * shows a write but one that might cannot be read (lookForWrites'
 * unreadable: a write-ahead log denied to this user, say), the store's
 * open says what is wrong with it, as advice to make a new key could be
 * for a store that holds a log, and advice to put a key back would hide
 * the fault the operator has to mend (the open reads the live write-ahead
 * logs before LevelDB changes a file, and fails as this look did).
 * `exists` stands in for the key file's look in tests.
 */
export async function refuseLostKey(path: string, db: string, exists: (path: string) => Promise<boolean> = keyExists): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir(db);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
  if (await exists(path)) return false;
  if (!names.includes('CURRENT')) return LevelStore.exists(db).catch(() => true);
  let found: Awaited<ReturnType<typeof lookForWrites>>;
  try {
    found = await lookForWrites(db);
  } catch {
    return true;
  }
  if (found?.unreadable === true) return true;
  if (found === undefined || (await exists(path))) return false;
  if (await lockShown(db)) throw new StoreLockedError(db);
  throw new StartError(
    `the store in ${showNonPrinting(db)} may hold a log (${found.why}), and its key ${showNonPrinting(path)} is missing: the store was not opened and no key was made, as a new key cannot sign for that log. ` +
      `Put that key file back, or name the log's key with --key FILE (to begin another log here instead, move ${showNonPrinting(db)} away first)`,
  );
}

/**
 * What the store's folder `db` held before this start: `missing` (it, or the
 * data folder, does not exist), `empty`, `store` (a LevelDB store's CURRENT
 * file), `other` (files, but no CURRENT); undefined when it cannot be listed
 * (the open then says why).
 */
async function storeFolderBefore(db: string): Promise<'missing' | 'empty' | 'store' | 'other' | undefined> {
  let names: string[];
  try {
    names = await readdir(db);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : undefined;
  }
  return names.length === 0 ? 'empty' : names.includes('CURRENT') ? 'store' : 'other';
}

/**
 * The StartError of a start that would begin a new log with a key it did
 * not make, not asked to (ServerConfig.newLog): its store, `found`, is
 * missing or empty (nothing was made or changed), or holds no log. A key
 * that has signed a log would sign a second history, which monitors see as
 * a fork (a smaller tree under the same key): the data folder is most
 * likely on a volume not mounted, or --data names another folder. It says
 * what was found, why it refuses, and the command that begins a new log.
 */
async function existingKeyRefusal(config: ServerConfig, found: 'missing' | 'empty' | 'no log'): Promise<StartError> {
  const data = await realOrAsGiven(config.data);
  const db = joinAsGiven(data, 'db');
  const keyFile = config.key ?? joinAsGiven(config.data, 'log.key');
  const realKey = await realOrAsGiven(keyFile);
  const ownKey = realKey === join(data, 'log.key');
  const dataMissing = found === 'missing' && !(await stat(config.data).then(() => true, () => false));
  const shownData = showNonPrinting(data);
  const shownDb = showNonPrinting(db);
  const what =
    found === 'no log'
      ? `the store in ${shownDb} holds no log`
      : dataMissing
        ? `the data folder ${shownData} does not exist`
        : found === 'missing'
          ? `the data folder ${shownData} holds no store (no db/ in it)`
          : `the store's folder ${shownDb} is empty`;
  const keyWords = `${ownKey ? "the data folder's own key" : 'the key'} ${showNonPrinting(realKey)} existed before this start${ownKey ? ' (serve makes that key together with its store)' : ''}`;
  const where = ownKey
    ? 'the log it signed has lost its store: moved away or deleted, or on a volume not mounted? Put that store back (a data folder moved elsewhere: give its path with --data).'
    : 'this is not its store: is the volume that holds its data folder not mounted (mount it; under systemd, give the unit ' +
      `RequiresMountsFor=${shellWord(pathAsGiven(config.data))}), or does --data name another folder than that log's?`;
  const interrupted = found === 'no log' ? ' A first start interrupted before it signed anything also leaves a store with no log; --new-log is then right.' : ' Nothing was made or changed.';
  const command = `cairn serve ${optionWords('--data', config.data)}${config.key === undefined ? '' : ` ${optionWords('--key', config.key)}`} --new-log`;
  return new StartError(
    `refusing to begin a new log: ${keyWords}, but ${what}. If that key has signed a log, ${where} ` +
      `Beginning a new log would sign a second history under the same key, which monitors see as a fork.${interrupted} ` +
      `To begin a new log with this key (one that has signed no log), start once with --new-log (or CAIRN_NEW_LOG=1): ${command} (with your other options), and leave it out of later starts`,
  );
}

/** The StartError of a start given ServerConfig.newLog (--new-log) whose store `db` holds a log of tree size `size`, signed with `keyFile`. */
function newLogOnLog(db: string, size: number, keyFile: string): StartError {
  return new StartError(
    `--new-log (or CAIRN_NEW_LOG) is for a new log's first start, but the store in ${showNonPrinting(db)} holds a log (tree size ${size}, signed with ${showNonPrinting(pathAsGiven(keyFile))}); nothing was changed. ` +
      'Remove --new-log (and CAIRN_NEW_LOG, from a service unit or its environment file too) and start again: left in place, it would let a start that finds no log ' +
      '(its volume not mounted) begin a second history under this key',
  );
}

/**
 * `host` as in a URL: an IPv6 literal in one pair of brackets, given with
 * them or not, its zone (`fe80::1%eth0`, a link-local address on eth0)
 * after `%25`, the URL form of its `%` (RFC 6874 §2), and any character of
 * the zone but unreserved ones percent-encoded, as that form has them.
 */
export function urlHost(host: string): string {
  const bare = unbracketHost(host);
  if (isIP(bare) !== 6) return bare;
  const at = bare.indexOf('%');
  if (at < 0) return `[${bare}]`;
  const zone = Array.from(new TextEncoder().encode(bare.slice(at + 1)), (b) => {
    const c = String.fromCharCode(b);
    return /^[A-Za-z0-9._~-]$/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
  return `[${bare.slice(0, at)}%25${zone}]`;
}

/** `host:port` as in a URL (see {@link urlHost}). */
function hostPort(host: string, port: number): string {
  return `${urlHost(host)}:${port}`;
}

/** Words for the reasons an operator most often meets for not being able to listen. */
const LISTEN_PROBLEMS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is in use',
  EADDRNOTAVAIL: "the address is not one of this machine's",
  ENOTFOUND: 'no such host',
};

/**
 * The first port that needs no privileges: Linux's
 * net.ipv4.ip_unprivileged_port_start (1024 unless set; containers often set
 * 0), else 1024.
 */
async function unprivilegedPortStart(): Promise<number> {
  const text = await readFile('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').catch(() => '');
  const start = /^[0-9]{1,5}\n?$/.test(text) ? Number(text.trim()) : 1024;
  return start <= 65536 ? start : 1024;
}

/**
 * What to do about a failure to listen on `port` with error `code`, after
 * the reason: another port for one in use, and for one below `unprivileged`
 * (see unprivilegedPortStart) that this user may not take, a port this user
 * may; else nothing.
 */
export function listenAdvice(code: string | undefined, port: number, unprivileged: number): string {
  if (code === 'EADDRINUSE') return '; stop what listens there (another Cairn server?), or give another port with --port';
  if (code === 'EACCES' && port > 0 && port < unprivileged) {
    return `; ports below ${unprivileged} need privileges (root, or the capability CAP_NET_BIND_SERVICE): give a port of ${unprivileged} or above with --port (the default is 8080), or give serve that privilege`;
  }
  return '';
}

/** Binds `server` to the configured address; a StartError says why it cannot. Resolves to the port bound (the real one for port 0). */
async function listen(server: Server, host: string, port: number): Promise<number> {
  server.listen(port, host);
  try {
    await once(server, 'listening');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const words = LISTEN_PROBLEMS[code ?? ''];
    const reason = osReason(err);
    const advice = listenAdvice(code, port, code === 'EACCES' ? await unprivilegedPortStart() : 1024);
    throw new StartError(`cannot listen on ${hostPort(host, port)}: ${words === undefined ? reason : `${words} (${reason})`}${advice}`, { cause: err });
  }
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : port;
}

/** Default interval of {@link RoundFailureLog}: at most one line this often. */
export const ROUND_FAILURE_LOG_INTERVAL_MS = 10_000;

/** Rounds since the last line of a {@link RoundFailureLog}. */
interface RoundTally {
  failed: number;
  written: number;
  /** Whether the latest round failed (else it was written). */
  latestFailed: boolean;
  /** The latest failure's error, if any failed. */
  lastError?: unknown;
}

/**
 * Tells the operator why rounds fail (a full disk, an I/O error) without a
 * line per round while the disk stays broken: the first failure is logged
 * at once as an error with its message, code and causes; after it at most
 * one line per interval, counting the rounds failed and written since the
 * previous line and giving the latest reason: an error while the latest
 * round failed, else one info line saying rounds are written again, which
 * ends the trouble. /metrics counts every round either way
 * (cairn_rounds_total{outcome}).
 */
export class RoundFailureLog {
  private readonly logger: Logger;
  private readonly pacer: LinePacer;
  /** A failure was logged, and no line since said rounds are written again. */
  private troubled = false;
  private tally: RoundTally | undefined;

  constructor(logger: Logger, options: PacedLineOptions = {}) {
    this.logger = logger;
    this.pacer = new LinePacer((seconds) => this.write(seconds), ROUND_FAILURE_LOG_INTERVAL_MS, options);
  }

  /** A round failed with `err`: its entries were answered 503 (logged only if the disk wrote it before the error). */
  failed(err: unknown): void {
    const tally = (this.tally ??= { failed: 0, written: 0, latestFailed: true });
    tally.failed += 1;
    tally.latestFailed = true;
    tally.lastError = err;
    this.troubled = true;
    this.pacer.due();
  }

  /** A round was written: after failures, rounds are written again (said once the interval allows). */
  committed(): void {
    if (!this.troubled) return;
    const tally = (this.tally ??= { failed: 0, written: 0, latestFailed: false });
    tally.written += 1;
    tally.latestFailed = false;
    this.pacer.due();
  }

  /** Logs what is pending now (the server is stopping). */
  flush(): void {
    this.pacer.flush();
  }

  /** Logs the tally, if any, with the `seconds` since the last line; says whether it did. */
  private write(seconds: number | undefined): boolean {
    const tally = this.tally;
    if (tally === undefined) return false;
    const counts = { failed: tally.failed, written: tally.written, ...(seconds === undefined ? {} : { seconds }) };
    if (tally.latestFailed) {
      const advice = shortageAdvice(tally.lastError);
      this.logger.error('rounds could not be written to the store: their entries were refused (503), not logged unless the disk wrote a round before it reported the error (a retry then gets duplicate and its index)', {
        ...counts,
        ...errorFields(tally.lastError),
        ...(advice === undefined ? {} : { advice }),
      });
    } else {
      const last = tally.failed === 0 ? {} : { lastError: errorFields(tally.lastError) };
      this.logger.info('rounds are written to the store again', { ...counts, ...last });
      this.troubled = false;
    }
    this.tally = undefined;
    return true;
  }
}

/** The message of `err`, or `err` in words. */
function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reads (or on first start makes) the key, opens the store and the log (see
 * openKeyStoreAndLog, which tells `onSharedFolder` of the folders above the
 * key and the data folder that a group may write). A start that fails once
 * it has made the key takes that key back where nothing it signed can have
 * left the process (see withdrawNewKey); a failure for want of space says
 * to free some.
 */
async function openLog(
  config: ServerConfig,
  logger: Logger,
  onSharedFolder: (found: SharedFolderFinding) => void,
): Promise<{ log: Log; verifierKey: string; metrics: ReturnType<typeof createMetrics>; failures: RoundFailureLog; clockBehind: ClockBehindLog; startup: StartupFacts }> {
  let madeKey = false;
  try {
    return await openKeyStoreAndLog(config, logger, () => (madeKey = true), onSharedFolder);
  } catch (err) {
    // The data folder exists once the key is made: the one the key is in, with no '..' for path.join to mistake.
    if (madeKey) throw await withdrawNewKey(err, await realOrAsGiven(config.data));
    if (noSpaceLeft(err)) throw new StartError(withSpaceAdvice(messageOf(err), err, config.data), { cause: err });
    throw err;
  }
}

/**
 * The StartError of a first start that failed with `err` after it made the
 * default key, its store closed: it removes that key when the store
 * provably holds nothing and nobody else has it (LevelStore.inUseOrWritten),
 * as nothing signed with the key then left the process (its first
 * checkpoint, signed for a write that failed, is not on the disk). Else the
 * next start would find a data folder's own key beside a store with no
 * log, and warn of a log that has lost its store, which never existed; a
 * new key is made there instead. The key is first moved to a temporary key
 * name (which no start reads, and removeStaleKeyTemps clears), then the
 * store looked at again: a process that read the key before holds the
 * store's lock still (a server reads its default key only while it does),
 * or has stored what it signed. Not covered: another start given that same
 * file as `--key`, which reads it before it takes the lock, in the
 * milliseconds this takes (a key named explicitly is not made here). Then, or when the store may hold the
 * log's first checkpoint (a write that failed after it reached the disk),
 * the key is kept. The message says which, after the failure.
 * `inUseOrWritten` stands in for the store's look in tests.
 */
export async function withdrawNewKey(
  err: unknown,
  data: string,
  inUseOrWritten: (db: string) => Promise<string | undefined> = (db) => LevelStore.inUseOrWritten(db),
): Promise<StartError> {
  const keyFile = joinAsGiven(data, 'log.key');
  const db = joinAsGiven(data, 'db');
  const problem = withSpaceAdvice(`cannot start a new log in ${showNonPrinting(pathAsGiven(db))}: ${messageOf(err)}`, err, data);
  const shownKey = showNonPrinting(pathAsGiven(keyFile));
  const kept = (why: string) => new StartError(`${problem}. The key this start made, ${shownKey}, was kept, as ${why}`, { cause: err });
  const before = await inUseOrWritten(db);
  if (before !== undefined) return kept(`the store may hold what it signed (${before})`);
  const aside = keyTempPath(keyFile);
  try {
    await rename(keyFile, aside);
  } catch (moveErr) {
    return kept(`it could not be moved away (${osReason(moveErr)})`);
  }
  const after = await inUseOrWritten(db);
  if (after !== undefined) {
    try {
      // link(), not rename(): a key another start made meanwhile stays.
      await link(aside, keyFile);
      await unlink(aside);
      await syncFolder(dirname(keyFile));
    } catch (backErr) {
      return new StartError(
        `${problem}. The key this start made could not be put back in ${shownKey} (${osReason(backErr)}) once the store was found in use or written (${after}); ` +
          `it is in ${showNonPrinting(pathAsGiven(aside))}: if no key file is in its place, move it back before the next start`,
        { cause: err },
      );
    }
    return kept(`the store may hold what it signed (${after})`);
  }
  const left = await unlink(aside).then(
    () => '',
    (rmErr: unknown) => ` (it was moved to ${showNonPrinting(pathAsGiven(aside))}, which could not be removed (${osReason(rmErr)}): remove it)`,
  );
  return new StartError(
    `${problem}. No log was started, and nothing signed with the key this start made was stored or served: ` +
      `that key, ${shownKey}, was removed${left}, and its verifier key is void; the next start makes a new one`,
    { cause: err },
  );
}

/** The StartError of a start whose store another process holds (`err`, a StoreLockedError), the data folder `data` named. */
/**
 * Reads (or on first start makes, telling `onKeyMade`) the key, opens the
 * store and the log, telling `onSharedFolder` of each folder above the key
 * or the data folder that a group may write (see openFolderProblem). Of two
 * servers started at once on one fresh data folder, the one that does not
 * get the store's lock says the folder is in use. On failure once the store
 * is open, it is closed again.
 */
async function openKeyStoreAndLog(
  config: ServerConfig,
  logger: Logger,
  onKeyMade: () => void,
  onSharedFolder: (found: SharedFolderFinding) => void,
): Promise<{ log: Log; verifierKey: string; metrics: ReturnType<typeof createMetrics>; failures: RoundFailureLog; clockBehind: ClockBehindLog; startup: StartupFacts }> {
  // A missing key beside a store that may hold a log is refused before the
  // store is opened (as in use, if another process is seen to hold it); an
  // explicit key is only read (never made), checked before anything is made
  // on disk, unless it is missing beside a store that cannot be looked into
  // or is damaged: its open then says why.
  let openFirst: boolean;
  try {
    // The data folder by its realpath where it exists, as the start-up lines name it (the store's looks join names
    // to the store's folder with path.join, which would take a '..' over the name before it); else as given, '..' kept.
    const data = await realOrAsGiven(config.data);
    openFirst = await refuseLostKey(config.key ?? joinAsGiven(data, 'log.key'), joinAsGiven(data, 'db'));
  } catch (err) {
    throw err instanceof StoreLockedError ? dataFolderInUse(config.data, err) : err;
  }
  let key = config.key === undefined || openFirst ? undefined : await loadKey(config.key, config, undefined, undefined, onSharedFolder);
  // What the store's folder held before this start: a key that existed
  // already beside no store at all is refused before anything is made (a
  // missing data folder), or once the data folder passed its checks (which
  // say what is wrong with a store's folder given as the data folder).
  const dbBefore = joinAsGiven(await realOrAsGiven(config.data), 'db');
  const before = await storeFolderBefore(dbBefore);
  // Only what a first open of LevelDB leaves, no CURRENT (LOCK, LOG, MANIFEST-000001): no store yet, which its
  // open would make; a key this start did not make is then refused before it, as beside an empty folder (once
  // made, the next start would take that store for an interrupted first start's). Other files: the open says why.
  const leftByFirstOpen = before === 'other' && (await mayCreateDatabase(dbBefore).catch(() => false));
  const noStore =
    config.newLog !== true &&
    (before === 'missing' || before === 'empty' || leftByFirstOpen) &&
    (key !== undefined || (config.key === undefined && (await keyExists(joinAsGiven(config.data, 'log.key')))));
  // The default key is read first, as a named one was: a key that is not this log's (another origin, open to others) is the problem to tell.
  if (noStore) key ??= await loadKey(joinAsGiven(config.data, 'log.key'), config, undefined, undefined, onSharedFolder);
  const found = before === 'missing' || before === 'empty' ? before : 'no log';
  if (noStore && !(await stat(config.data).then(() => true, () => false))) throw await existingKeyRefusal(config, found);
  await makeDataFolder(config.data);
  await checkDataFolder(pathAsGiven(config.data), onSharedFolder);
  if (noStore) throw await existingKeyRefusal(config, found);
  // Named in the start-up lines as the kernel found them, with no symbolic link or '..' in them.
  // The store and the default key are in it: path.join would drop a '..' in
  // the path given with the name before it, and put them beside a link.
  const dataFolder = await realOrAsGiven(config.data);
  const storeFolder = join(dataFolder, 'db');
  const prepared = await prepareStoreFolder(storeFolder);
  // The store's lock comes before the default key is made: a second server
  // never races the first to make a key.
  const opened = await openDataFolderStore(config.data, storeFolder);
  let store: LogStore = opened;
  let stored: LogState | undefined;
  let interrupted = false;
  try {
    store = config.wrapStore === undefined ? opened : config.wrapStore(opened);
    key ??= await loadKey(config.key ?? join(dataFolder, 'log.key'), config, { store: opened, folder: storeFolder }, onKeyMade, onSharedFolder);
    stored = await opened.readState();
    if (stored !== undefined && config.newLog === true) throw newLogOnLog(storeFolder, stored.treeSize, config.key ?? join(dataFolder, 'log.key'));
    if (stored === undefined && !key.made && config.newLog !== true) {
      // The data folder's own key beside a store a first start made: that start was interrupted before it signed anything.
      const ownKey = (await realOrAsGiven(config.key ?? join(dataFolder, 'log.key'))) === join(dataFolder, 'log.key');
      if (!ownKey || before !== 'store') throw await existingKeyRefusal(config, 'no log');
      interrupted = true;
    }
  } catch (err) {
    await store.close();
    throw err;
  }
  const keyPath = config.key ?? join(dataFolder, 'log.key');
  const startup: StartupFacts = {
    dataFolder,
    storeFolder,
    keyFile: await realOrAsGiven(keyPath),
    madeStore: prepared.made,
    newLog: stored === undefined,
    ...(stored === undefined ? {} : { storedTreeHead: { treeSize: stored.treeSize, timestamp: stored.timestamp } }),
    madeKey: key.made,
    ...(stored !== undefined || key.made ? {} : { existingKeyNewLog: interrupted ? 'interrupted' : 'asked' }),
    placeholderOrigin: key.made && config.origin === undefined,
    ...(prepared.tightenedMode === undefined ? {} : { tightenedStoreMode: prepared.tightenedMode }),
    ...(prepared.openMode === undefined ? {} : { openStoreMode: prepared.openMode }),
    ...(opened.olderLayout === undefined ? {} : { olderLayout: opened.olderLayout }),
  };
  const metrics = createMetrics();
  const failures = new RoundFailureLog(logger);
  // A clock stepped back (or standing still) while the log runs dates its tree heads ahead of real time: warned of.
  const clockBehind = new ClockBehindLog(logger);
  let filterReady = false;
  try {
    const log = await Log.open({
      store,
      signer: newNativeSigner(key.signerKey),
      verifier: newVerifier(key.verifierKey),
      keyFile: startup.keyFile,
      observer: {
        ...metrics.observer,
        roundFailed: (err) => {
          metrics.observer.roundFailed?.(err);
          failures.failed(err);
        },
        roundCommitted: (info) => {
          metrics.observer.roundCommitted?.(info);
          failures.committed();
        },
        filterFailed: (err) => logger.error('the leaf-hash filter could not be filled; every round looks up all its hashes until a fill tried again succeeds (30 s after this failure, then twice as long after each that fails again, up to every 30 min; the same failure again is not logged)', errorFields(err)),
        filterChanged: (state) => {
          metrics.observer.filterChanged?.(state);
          if (filterReady && !state.ready) {
            logger.warn('the leaf-hash filter gave up (it outgrew its memory, or another process wrote to the store); every round now looks up all its hashes', { bytes: state.bytes });
          }
          filterReady = state.ready;
        },
        clockBehind: (info) => clockBehind.behind(info),
        clockCaughtUp: () => clockBehind.caughtUp(),
      },
      ...(config.maxQueueEntries === undefined ? {} : { maxQueueEntries: config.maxQueueEntries }),
      ...(config.maxRoundEntries === undefined ? {} : { maxRoundEntries: config.maxRoundEntries }),
    });
    metrics.logOpened(log.latest());
    return { log, verifierKey: key.verifierKey, metrics, failures, clockBehind, startup };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Opens the log of a read-only start (see openReadOnlyLog), with its metrics. */
async function openReadOnly(
  config: ServerConfig,
  readOnly: NonNullable<ServerConfig['readOnly']>,
  logger: Logger,
  onSharedFolder: (found: SharedFolderFinding) => void,
): Promise<Awaited<ReturnType<typeof openLog>>> {
  const metrics = createMetrics();
  const { log, startup } = await openReadOnlyLog({
    data: config.data,
    ...readOnly,
    ...(config.wrapStore === undefined ? {} : { wrapStore: config.wrapStore }),
    observer: { ...metrics.observer, filterFailed: (err) => logger.error('the leaf-hash filter could not be filled; get-proof-by-hash looks up every hash', errorFields(err)) },
    onSharedFolder,
  });
  metrics.logOpened(log.latest());
  return { log, verifierKey: readOnly.verifierKey, metrics, failures: new RoundFailureLog(logger), clockBehind: new ClockBehindLog(logger), startup };
}

/**
 * Listens, then opens the key, the store and the log (CONTRACT §4 serve),
 * resolving once the server answers. The port is bound first, so that one
 * already in use is reported before anything is made on disk; requests that
 * arrive meanwhile wait for the log. If it cannot be opened, the requests
 * already read are answered 503, other connections are closed, and the port
 * is let go.
 */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const logger = config.logger ?? silentLogger;
  // An IPv6 literal may come in brackets, as in a URL; listen() takes it without.
  const host = unbracketHost(config.host);
  // The folders above the token file, the key and the data folder that a group may write, found as each is read:
  // warned of once the log is open, one line for each folder (sharedFolderWarnings), however many of them it is above.
  const sharedFolders: SharedFolderFinding[] = [];
  const onSharedFolder = (found: SharedFolderFinding) => void sharedFolders.push(found);
  const { access, summary } = await loadAccess(config, host, onSharedFolder);
  const bodyBudget = new BodyBudget(config.maxInflightBodyBytes ?? DEFAULT_MAX_INFLIGHT_BODY_BYTES);
  const headersTimeout = config.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
  if (!Number.isSafeInteger(headersTimeout) || headersTimeout < 1 || headersTimeout > REQUEST_TIMEOUT_MS) {
    throw new RangeError(`headersTimeoutMs must be a whole number of milliseconds from 1 to ${REQUEST_TIMEOUT_MS}, not ${headersTimeout}`);
  }
  // An HTTP/1.1 request without Host is the app's to refuse (refusedOutright
  // of client-error.ts), as every error is answered: node's own answer is a bare 400.
  const server = createServer({ headersTimeout, connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, Math.ceil(headersTimeout / 2)), requireHostHeader: false });
  server.keepAliveTimeout = 65_000;
  const limits = await processLimits();
  const openFiles = config.maxConnections === undefined ? limits.openFiles : undefined;
  const maxConnections = config.maxConnections ?? connectionLimit(openFiles);
  if (maxConnections !== undefined) server.maxConnections = maxConnections;
  if (openFiles !== undefined && maxConnections !== undefined && maxConnections < FEW_CONNECTIONS) {
    logger.warn(
      `the open-file limit of ${openFiles} leaves room for only ${maxConnections} connection${maxConnections === 1 ? '' : 's'} at once, and further ones are dropped: ` +
        'raise it (ulimit -n, or LimitNOFILE in systemd), to 1024 or more',
      { openFiles, maxConnections },
    );
  }
  const { addressSpace } = limits;
  if (addressSpace !== undefined && addressSpace < AMPLE_ADDRESS_SPACE) logger.warn(addressSpaceWarning(addressSpace), { addressSpace });
  // Node drops connections past maxConnections without a word: they are
  // logged, and counted in /metrics (drops before the log opens, once it has).
  const drops = new DroppedConnectionLog(logger, maxConnections);
  server.on('drop', (data?: { remoteAddress?: string }) => drops.dropped(data?.remoteAddress));
  // Requests answered before they reach the app (not HTTP/1.1, too slow) are
  // logged and counted too (flushed once the server has closed).
  const clientErrors = new ClientErrorLog(logger);
  answerClientErrors(server, (reason, remote) => clientErrors.seen(reason, remote));
  // A request with an Expect is answered as any other (node's own answer is
  // bare, and it sent 100 Continue before anything looked at the request);
  // one asking to switch protocols is the app's (refusedOutright).
  answerExpectations(server);
  server.once('close', () => clientErrors.flush());
  // Attached before the gate, so that it counts every request, those the
  // gate holds while the log opens too.
  // A connection whose answers go unread, or are read too slowly for their
  // size, is closed only when what they hold keeps others waiting: answers
  // refused, or its client's others waiting.
  const answerBudget = new AnswerBudget(DEFAULT_MAX_ANSWER_BYTES);
  const stallMs = config.stallMs ?? STALL_MS;
  const pipelining = new PipelineLimit(server, {
    stallMs,
    closeStalled: (socket) => answerBudget.keepsOthersWaiting(socket, stallMs),
    onStalled: (socket) => logger.warn('closed a connection whose client read none of its answers for a minute while they kept others waiting', { remote: socket.remoteAddress }),
    closeOverdue: (socket) => answerBudget.heldTooLong(socket, stallMs),
    onOverdue: (socket) =>
      logger.warn('closed a connection whose client read a large answer too slowly (a minute plus 1 s per 256 KiB) while it kept others waiting', { remote: socket.remoteAddress }),
  });
  answerConnect(server);
  // What close() cuts once its grace is over; the requests it cuts are logged as such.
  const cutConnections = connectionCutter(server);
  // Before the gate, so that it sees each request before the app does.
  const drain = new StopDrain(server, { quietMs: config.stopQuietMs ?? QUIET_MS });
  const gate = new StartupGate(server);
  const port = await listen(server, host, config.port);
  let opened: Awaited<ReturnType<typeof openLog>>;
  try {
    opened = config.readOnly === undefined ? await openLog(config, logger, onSharedFolder) : await openReadOnly(config, config.readOnly, logger, onSharedFolder);
  } catch (err) {
    const closed = new Promise((resolve) => server.close(resolve));
    await gate.refuse();
    server.closeAllConnections();
    await closed;
    drops.flush();
    throw err;
  }
  const { log, verifierKey, metrics, failures, clockBehind } = opened;
  const shared = sharedFolderWarnings(sharedFolders);
  const startup: StartupFacts = shared.length === 0 ? opened.startup : { ...opened.startup, sharedFolders: shared };
  drops.countWith((_, n) => metrics.connectionsDropped.inc(n));
  clientErrors.countInto(metrics.clientErrors);
  // Error answers counted by code, and QUEUE_FULL and RATE_LIMITED ones warned of (also under --quiet), those of the pipelining bound too.
  const refusals = new Refusals(logger, metrics.refusals);
  // A round the store holds up (a stalled disk) is otherwise seen only as
  // writes that never answer: its age is in /metrics, and it is warned of.
  metrics.watchRounds(() => log.roundInProgressSeconds());
  metrics.watchTreeHead(() => log.latest().timestamp);
  metrics.watchClock(() => log.clockBehindMs());
  const stalls = new StalledRoundLog(logger, () => log.roundUnderWay(), () => log.queueDepth, { thresholdMs: config.stalledRoundMs ?? STALLED_ROUND_MS });
  const app = createApp({ log, verifierKey, metrics, logger, bodyBudget, answerBudget, refusals, ...(access === undefined ? {} : { access }) });
  gate.open(drain.guard(pipelining.guard(app, (req) => refusals.pipelined(req.socket.remoteAddress))));
  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostPort(host, port)}`,
    log,
    verifierKey,
    server,
    accessSummary: summary,
    startup,
    close() {
      closing ??= (async () => {
        // A round the stop will wait for, held up by the store, is said now.
        stalls.stopping();
        // Answers from now on close their connections, and idle ones close once quiet.
        drain.begin();
        await new Promise<void>((resolve) => {
          const cut = setTimeout(cutConnections, config.shutdownGraceMs ?? SHUTDOWN_GRACE_MS);
          // Node's close() (node 19 and later) first closes the connections idle at
          // that instant, which under load are those whose client is sending its
          // next request: a request lost unanswered. StopDrain closes them once quiet.
          server.closeIdleConnections = () => undefined;
          try {
            server.close(() => {
              clearTimeout(cut);
              resolve();
            });
          } finally {
            Reflect.deleteProperty(server, 'closeIdleConnections');
          }
        });
        await log.close();
        stalls.stop();
        failures.flush();
        // A time the clock was behind, ended or not, whose line the pacing still held back (the log's last round is signed by now).
        clockBehind.flush();
        drops.flush();
        refusals.flush();
      })();
      return closing;
    },
  };
}
