import { createHash, timingSafeEqual } from 'node:crypto';
import { constants as fsConstants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { openFolderProblem, otherUserThanOwner, otherWriters, ownerName, ownerProblem, type SharedFolderFinding } from '../file-trust.js';
import { LogError } from '../log/errors.js';
import { shellWord, showNonPrinting } from '../non-printing.js';
import { sendError } from './errors.js';

/*
 * Access tokens (issue 6 "Access"). The token file holds one token per line:
 *
 *   # comment
 *   <name> <role> <sha256> [<limit>/<period>]
 *
 *   name    a label for logs and metrics: 1-64 of [A-Za-z0-9._-]
 *   role    read | submit | admin (each includes the ones before it)
 *   sha256  64 hex digits: SHA-256 of the token's exact bytes, e.g.
 *           printf %s "$TOKEN" | sha256sum | cut -d' ' -f1
 *           (sha256sum alone adds '  -', which is refused, saying so)
 *   limit   optional rate limit, e.g. 600/min: entries submitted plus other
 *           requests made with this token, per s, min or h
 *
 * The server never holds the tokens themselves, only their hashes, so the
 * file is not secret; but whoever can write it can grant access, so a file
 * group or others may write is refused; and serve refuses one that another
 * user owns, or that another user could swap for one of their own (see
 * readTokenFile's checkOwner). Clients send
 * `Authorization: Bearer <token>`, one such header.
 *
 * A token is 1-512 characters of RFC 6750's b64token: letters, digits and
 * - . _ ~ + /, then at its end any number of '=' (openssl rand -base64 32
 * makes one; the hash of anything else may be listed, but never matches).
 */

/** What a token may do; each role includes the ones before it in ROLES. */
export const ROLES = ['read', 'submit', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A rate limit: at most `limit` units per `periodMs`, refilled continuously (a token bucket). */
export interface RateLimit {
  readonly limit: number;
  readonly periodMs: number;
}

/** One line of a token file. */
export interface TokenRule {
  readonly name: string;
  readonly role: Role;
  /** SHA-256 of the token, 64 lowercase hex digits. */
  readonly hash: string;
  readonly rate?: RateLimit;
}

/** A token file or access set-up the operator must fix; the message says how. */
export class AccessConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccessConfigError';
  }
}

const PERIODS: Readonly<Record<string, number>> = { s: 1000, min: 60_000, h: 3_600_000 };
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const HEX_HASH = /^[0-9a-fA-F]{64}$/;
const RATE = /^([1-9][0-9]{0,8})\/(s|min|h)$/;
/**
 * `Authorization: Bearer <token>`: the scheme's name is case-insensitive
 * (RFC 9110 §11.1), and one or more spaces follow it (RFC 6750 §2.1: 1*SP);
 * the token is then judged by {@link tokenProblem}.
 */
const BEARER = /^Bearer +([^ ]+)$/i;

/**
 * The most characters an access token may have: a longer one is refused
 * unhashed (its hash may be in the token file, but no request can use it).
 */
export const MAX_TOKEN_LENGTH = 512;
/** RFC 6750 §2.1 b64token: what a token is made of. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const B64TOKEN_CHAR = /^[A-Za-z0-9\-._~+/=]$/;
/** The characters a token may hold, in words, for messages and --help. */
export const TOKEN_CHARACTERS = "letters A-Z and a-z, digits and - . _ ~ + /, then at its end any number of =";

/**
 * Why `token` can never pass as an access token (RFC 6750 §2.1 b64token, at
 * most {@link MAX_TOKEN_LENGTH} characters), in words that never quote it:
 * the first character that may not be there (a line break, a space, ...)
 * by its position, or its length; undefined for a token that may pass. The
 * server's rule, which clients check a token against before sending it.
 */
export function tokenProblem(token: string): string | undefined {
  if (typeof token !== 'string') throw new TypeError('tokenProblem: token must be a string');
  if (isToken(token)) return undefined;
  if (token === '') return 'is empty';
  // ASCII alone: one character a UTF-16 unit.
  if (B64TOKEN.test(token)) return `is ${token.length} characters long, over the limit of ${MAX_TOKEN_LENGTH}`;
  const chars = Array.from(token);
  // A character no token holds is told first: in 'abc=\r' the CR, not the '=' it makes look misplaced.
  const foreign = chars.findIndex((c) => !B64TOKEN_CHAR.test(c));
  // Else an '=' that something other than '=' follows: the first '='.
  const at = foreign >= 0 ? foreign : chars.indexOf('=');
  const c = chars[at]!;
  const where = `at character ${at + 1} of ${chars.length}`;
  if (c === '\n' || c === '\r') {
    return (
      `has a line break (${c === '\n' ? 'LF' : 'CR'}) ${where}: a token is one line (openssl rand -base64 breaks its output after 64 characters, ` +
      "and $(cat FILE) keeps the CR of a file with CR LF line ends); remove the line breaks, e.g. with tr -d '\\r\\n'"
    );
  }
  // An '=' first ('=', '=='): only '='s may follow it, so it is not before the end, it is at the start.
  if (c === '=' && at === 0) return "begins with '='; a token must begin with a letter, a digit or one of - . _ ~ + /, and only its end may be '='s";
  const what = c === ' ' ? 'a space' : c === '\t' ? 'a tab' : c === '=' ? "an '=' before its end" : 'a character a token may not hold';
  return `has ${what} ${where}; a token holds ${TOKEN_CHARACTERS}`;
}

/** Whether `token` may pass as an access token (see {@link tokenProblem}); in time linear in its length, for every request. */
function isToken(token: string): boolean {
  return token.length <= MAX_TOKEN_LENGTH && B64TOKEN.test(token);
}

/** SHA-256 of a token's UTF-8 bytes as 64 lowercase hex digits: what the token file stores. */
export function hashToken(token: string): string {
  if (typeof token !== 'string') throw new TypeError('hashToken: token must be a string');
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Parses a token file (format above). Throws AccessConfigError naming the
 * first bad line (never echoing a line: someone may have pasted a token
 * there instead of its hash) or a name or hash given twice.
 */
export function parseTokenFile(text: string, source = 'the token file'): TokenRule[] {
  if (typeof text !== 'string') throw new TypeError('parseTokenFile: text must be a string');
  const rules: TokenRule[] = [];
  const names = new Set<string>();
  const hashes = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const at = `${source} line ${i + 1}`;
    const fields = line.split(/[ \t]+/);
    // sha256sum prints '<hash>  -' for its standard input: pasted whole, its '-' is a field of its own.
    if (fields.length >= 4 && fields.length <= 5 && fields.indexOf('-', 3) >= 0) {
      throw new AccessConfigError(
        `${at}: drop the '-' after the hash: sha256sum prints it after the hash of its standard input, and only the 64 hex digits go here (printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)`,
      );
    }
    if (fields.length < 3 || fields.length > 4) {
      throw new AccessConfigError(`${at}: expected '<name> <role> <sha256 of the token> [<limit>/<s|min|h>]'`);
    }
    const [name = '', role = '', hash = '', rate] = fields;
    if (!NAME.test(name)) throw new AccessConfigError(`${at}: a name is 1-64 letters, digits, '.', '_' or '-'`);
    if (!(ROLES as readonly string[]).includes(role)) throw new AccessConfigError(`${at}: the role must be one of ${ROLES.join(', ')}`);
    if (!HEX_HASH.test(hash)) {
      throw new AccessConfigError(`${at}: the third field must be the token's SHA-256 in hex (printf %s "$TOKEN" | sha256sum | cut -d' ' -f1), not the token`);
    }
    let limit: RateLimit | undefined;
    if (rate !== undefined) {
      const m = RATE.exec(rate);
      if (m === null) throw new AccessConfigError(`${at}: a rate limit looks like 100/s, 600/min or 10000/h`);
      limit = { limit: Number(m[1]), periodMs: PERIODS[m[2]!]! };
    }
    const lower = hash.toLowerCase();
    if (names.has(name)) throw new AccessConfigError(`${at}: the name ${name} is used twice`);
    if (hashes.has(lower)) throw new AccessConfigError(`${at}: the same token hash is listed twice`);
    names.add(name);
    hashes.add(lower);
    rules.push({ name, role: role as Role, hash: lower, ...(limit === undefined ? {} : { rate: limit }) });
  });
  return rules;
}

/** What serve tells the operator to check of a token file before taking it back from another user. */
const TOKEN_FILE_CHECK = 'check that the token file lists only the tokens you gave out';

/** The file-system calls {@link readTokenFile} makes; tests stand in for them. */
export interface TokenFileCalls {
  readonly stat: (path: string) => Promise<Stats>;
  readonly open: (path: string, flags: number) => Promise<FileHandle>;
}

const NODE_TOKEN_FILE_CALLS: TokenFileCalls = { stat, open };

/**
 * Reads and parses a token file, refusing one that is not a regular file,
 * that group or others may write (they could grant themselves access), or
 * that lists no token. What is named is looked at (stat) before it is
 * opened, as opening a device may do something (a watchdog, a tape, a
 * terminal); a regular file is then opened once (not becoming the
 * controlling terminal, not waiting), and what is judged (its fstat, the
 * same file as the stat, else refused as changed meanwhile) is what is
 * read: one swapped meanwhile cannot pass unjudged.
 *
 * With `checkOwner` (a server about to take its tokens: serve's --tokens),
 * it also refuses a file whose owner is neither this process's effective
 * user nor root (sshd's StrictModes rule; that user could add a token of
 * their own, role admin too), and one in or under a folder that lets
 * another user remove or replace it before the next start: every folder up
 * to /, symbolic links judged by their targets and by the folders that hold
 * them, as serve's key file is (openFolderProblem of src/file-trust.ts,
 * which tells `onSharedFolder` of a folder above that a group may write). Where
 * the platform has no user ids, owners are not checked. Messages say what
 * to run. `calls` stand in for the file system in tests.
 */
export async function readTokenFile(
  path: string,
  options: { checkOwner?: boolean; onSharedFolder?: (found: SharedFolderFinding) => void } = {},
  calls: TokenFileCalls = NODE_TOKEN_FILE_CALLS,
): Promise<TokenRule[]> {
  // The path as given, its line breaks and other non-printing characters shown as escapes.
  const shown = showNonPrinting(path);
  const cannotRead = (err: unknown) => new AccessConfigError(`cannot read the token file ${shown}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  const judgeType = (info: Stats) => {
    if (info.isDirectory()) {
      throw new AccessConfigError(`the token file ${shown} is a folder; give the file itself, a text file with one '<name> <role> <sha256 of the token> [<limit>/<s|min|h>]' a line`);
    }
    if (!info.isFile()) throw new AccessConfigError(`the token file ${shown} is not a regular file (a device, FIFO or socket); give a text file with one token a line`);
  };
  let named: Stats;
  try {
    named = await calls.stat(path);
  } catch (err) {
    throw cannotRead(err);
  }
  judgeType(named);
  let handle: FileHandle;
  try {
    // Not waiting (a FIFO put in its place meanwhile), nor taking a terminal as this process's.
    handle = await calls.open(path, fsConstants.O_RDONLY | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw cannotRead(err);
  }
  let text: string;
  try {
    const info = await handle.stat();
    judgeType(info);
    if (info.dev !== named.dev || info.ino !== named.ino) {
      throw new AccessConfigError(`the token file ${shown} was replaced while it was being read (another file was opened than the one looked at); start again`);
    }
    if (otherWriters(info.mode) !== undefined) {
      const chmod = `chmod go-w ${shellWord(path)}`;
      // Root's (a packaged root:<service group> 0664, say), which only root can chmod.
      const fix = otherUserThanOwner(info.uid) === undefined ? `run: ${chmod}` : `it belongs to ${ownerName(info.uid)}, so run as root: ${chmod}`;
      throw new AccessConfigError(`the token file ${shown} is writable by group or others (mode ${(info.mode % 0o1000).toString(8)}); ${fix}`);
    }
    if (options.checkOwner === true) {
      const risk = 'that user could add a token of their own to it, with any role (admin too), or change it later';
      // Given to root, it is trusted by every user serve runs as, and readable still where its mode lets others read.
      const giveToRoot = `run as root: chown root ${shellWord(path)} (a file of root's is trusted by whichever user serve runs as)`;
      const stranger = ownerProblem(`the token file ${shown}`, path, info.uid, risk, TOKEN_FILE_CHECK, false, giveToRoot);
      if (stranger !== undefined) throw new AccessConfigError(stranger);
      const openFolder = await openFolderProblem(
        path,
        {
          file: 'the token file',
          moved: 'the token file',
          risk: (holds) =>
            holds
              ? 'remove the token file or put one of their own in its place, with tokens of theirs'
              : 'rename the folder or link in it that leads to the token file, and put one of their own in its place, with tokens of theirs',
          check: TOKEN_FILE_CHECK,
          holderIsOwn: true,
        },
        options.onSharedFolder,
      );
      if (openFolder !== undefined) throw new AccessConfigError(openFolder);
    }
    text = await handle.readFile('utf8');
  } catch (err) {
    if (err instanceof AccessConfigError) throw err;
    throw cannotRead(err);
  } finally {
    await handle.close();
  }
  const rules = parseTokenFile(text, shown);
  if (rules.length === 0) throw new AccessConfigError(`the token file ${shown} lists no tokens`);
  return rules;
}

/**
 * The request's Authorization header; a request with more than one is
 * MALFORMED_REQUEST (400). Node keeps only the first of them in
 * req.headers, and a proxy or other server may take another: which
 * credentials a request carries must not depend on who reads it.
 */
function authorizationOf(req: IncomingMessage): string | undefined {
  const count = headerCount(req, 'authorization');
  if (count > 1) throw new LogError('MALFORMED_REQUEST', `the request has ${count} Authorization headers; send one (Authorization: Bearer <token>)`);
  return req.headers.authorization;
}

/**
 * How many headers named `name` (lower-case) the request has, counted in
 * its raw headers: node keeps only the first of some (Authorization,
 * Content-Type) in req.headers, and req.headersDistinct builds an object of
 * all of them for every request that asks.
 */
export function headerCount(req: IncomingMessage, name: string): number {
  const raw = req.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length === name.length && key.toLowerCase() === name) count++;
  }
  return count;
}

/** The values of the headers named `name` (lower-case), in the order sent (see {@link headerCount}). */
export function headerValues(req: IncomingMessage, name: string): string[] {
  const raw = req.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === name) values.push(raw[i + 1]!);
  }
  return values;
}

/** A token bucket over an injected clock; may not go below zero. */
class Bucket {
  private level: number;
  private at: number;

  constructor(
    private readonly rate: RateLimit,
    now: number,
  ) {
    this.level = rate.limit;
    this.at = now;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.at);
    this.level = Math.min(this.rate.limit, this.level + (elapsed * this.rate.limit) / this.rate.periodMs);
    this.at = now;
  }

  /**
   * Takes `units` if all are there; else takes nothing and returns the whole
   * seconds (at least 1) until `again` units will be: what the request,
   * sent again, will cost in all (at most what the bucket holds).
   */
  take(units: number, now: number, again = units): number | undefined {
    this.refill(now);
    if (this.level >= units) {
      this.level -= units;
      return undefined;
    }
    const missing = Math.min(again, this.rate.limit) - this.level;
    return Math.max(1, Math.ceil((missing * this.rate.periodMs) / this.rate.limit / 1000));
  }

  get capacity(): number {
    return this.rate.limit;
  }
}

/** Options of {@link AccessControl}. */
export interface AccessOptions {
  /** The tokens; empty means nobody has a token. */
  readonly tokens: readonly TokenRule[];
  /** Whether POST /v1/entries and /v1/batch need no token (default false). */
  readonly publicWrites?: boolean;
  /** Whether reads need no token (default true); false makes a private log. */
  readonly publicReads?: boolean;
  /**
   * ms clock for rate limits (default performance.now: monotonic, so that a
   * step of the system clock forward does not refill every bucket, nor a
   * step back hold them empty); injected so tests can move time.
   */
  readonly clock?: () => number;
}

/** What a request needs, by route. */
type Need = Role | 'none';

const WRITE_PATHS = new Set(['/v1/entries', '/v1/batch']);
const RES_LOCALS_KEY = 'cairnAccess';
/** The name of the token a request presented, once recognised: set for refused requests too. */
const TOKEN_NAME_KEY = 'cairnTokenName';

/** What {@link AccessControl.authorize} granted: the token's name (undefined when anonymous). */
export interface Granted {
  readonly name: string | undefined;
}

/** A grant with the token's rate-limit bucket, charged for later units of the same request. */
interface Grant extends Granted {
  readonly bucket: Bucket | undefined;
}

/**
 * Decides who may do what (issue 6 "Access"): writes need a `submit` or
 * `admin` token unless writes are public; `/metrics` needs `admin` once any
 * token exists; reads need any token when the log is private; `/healthz`
 * stays open. A missing or unknown token is 401 UNAUTHORIZED, a token
 * without the role 403 FORBIDDEN, a token past its rate limit 429
 * RATE_LIMITED with Retry-After, a batch of more entries than the limit
 * allows per period 400 TOO_MANY_ENTRIES, and a request with more than one
 * Authorization header 400 MALFORMED_REQUEST. OPTIONS needs nothing and costs nothing.
 * Methods no route has (PUT, DELETE, ...) pass through to their 404/405.
 */
export class AccessControl {
  private readonly byHash = new Map<string, { rule: TokenRule; bucket: Bucket | undefined }>();
  private readonly publicWrites: boolean;
  private readonly publicReads: boolean;
  private readonly clock: () => number;
  /** Requests {@link authorize} granted, which express may yet see. */
  private readonly granted = new WeakMap<IncomingMessage, Grant>();

  constructor(options: AccessOptions) {
    this.clock = options.clock ?? (() => performance.now());
    this.publicWrites = options.publicWrites ?? false;
    this.publicReads = options.publicReads ?? true;
    const now = this.clock();
    for (const rule of options.tokens) {
      if (!HEX_HASH.test(rule.hash)) throw new RangeError(`token ${rule.name}: hash must be 64 hex digits`);
      this.byHash.set(rule.hash.toLowerCase(), { rule, bucket: rule.rate === undefined ? undefined : new Bucket(rule.rate, now) });
    }
    if (!this.publicReads && this.byHash.size === 0) throw new AccessConfigError('a private log needs at least one token (--tokens)');
  }

  /** Whether any token is configured. */
  get hasTokens(): boolean {
    return this.byHash.size > 0;
  }

  private need(method: string, requested: string): Need {
    // Routes match their exact path only (app.ts), but a variant of a
    // protected path is judged as that path all the same: fail closed.
    const path = requested.toLowerCase().replace(/(?<=.)\/+$/, '');
    if (method === 'POST') return WRITE_PATHS.has(path) && !this.publicWrites ? 'submit' : 'none';
    if (method !== 'GET' && method !== 'HEAD') return 'none';
    if (path === '/healthz') return 'none';
    if (path === '/metrics' && this.hasTokens) return 'admin';
    return this.publicReads ? 'none' : 'read';
  }

  private lookup(header: string | undefined): { rule: TokenRule; bucket: Bucket | undefined } | undefined | 'malformed' {
    if (header === undefined) return undefined;
    const m = BEARER.exec(header);
    if (m === null || !isToken(m[1]!)) return 'malformed';
    const presented = Buffer.from(hashToken(m[1]!), 'hex');
    // Hash-keyed lookup does not leak the token; compare once more in constant time anyway.
    const found = this.byHash.get(presented.toString('hex'));
    if (found === undefined || !timingSafeEqual(presented, Buffer.from(found.rule.hash, 'hex'))) return 'malformed';
    return found;
  }

  /** Whether reads need no token; false on a private log. */
  get readsArePublic(): boolean {
    return this.publicReads;
  }

  /**
   * Authorizes `req` for `path`, throwing the LogError to answer otherwise,
   * and charges one unit to the token's rate limit. Returns the token's name
   * (undefined for an anonymous request). The grant stays with the request:
   * if it is handed to express after all, {@link middleware} takes it as
   * granted instead of checking and charging it a second time.
   */
  authorize(req: IncomingMessage, path: string): Granted {
    const granted = this.grant(req.method ?? '', path, req);
    this.granted.set(req, granted);
    return { name: granted.name };
  }

  /**
   * Grants a request or throws; `seen.name` is set as soon as the token is
   * recognised, so that a request refused for its role or rate limit can
   * still be logged under its token's name.
   */
  private grant(method: string, path: string, req: IncomingMessage, seen: { name?: string } = {}): Grant {
    // OPTIONS only says what a path allows (a browser's preflight never
    // carries the token): it needs none, and a token sent with it is neither
    // checked nor charged.
    if (method === 'OPTIONS') return { name: undefined, bucket: undefined };
    const need = this.need(method, path);
    const found = this.lookup(authorizationOf(req));
    if (found === 'malformed') {
      throw new LogError('UNAUTHORIZED', 'unknown or malformed access token (send Authorization: Bearer <token>)');
    }
    if (found === undefined) {
      if (need !== 'none') throw new LogError('UNAUTHORIZED', `this needs an access token with role ${need} (send Authorization: Bearer <token>)`);
      return { name: undefined, bucket: undefined };
    }
    seen.name = found.rule.name;
    if (need !== 'none' && ROLES.indexOf(found.rule.role) < ROLES.indexOf(need)) {
      throw new LogError('FORBIDDEN', `the token ${found.rule.name} has role ${found.rule.role}; this needs ${need}`);
    }
    this.charge(found.bucket, 1, 1, found.rule.name);
    return { name: found.rule.name, bucket: found.bucket };
  }

  /**
   * Takes `units` from the bucket; `total` is what the whole request costs.
   * A request costing more than the bucket ever holds could never pass, so
   * it is TOO_MANY_ENTRIES (400, no Retry-After: a client that waited and
   * sent it again would be refused forever), and nothing is taken for it.
   */
  private charge(bucket: Bucket | undefined, units: number, total: number, name: string | undefined): void {
    if (bucket === undefined) return;
    if (total > bucket.capacity) {
      throw new LogError('TOO_MANY_ENTRIES', `${total} entries are more than the token ${name ?? ''} may submit per period (${bucket.capacity}); send at most that many together`);
    }
    // A batch's first unit was taken when it arrived, and will be again when
    // it is sent again: the wait is for all of it, else the retry would fall
    // short by that unit, and be told to wait once more, forever.
    const wait = bucket.take(units, this.clock(), total);
    if (wait !== undefined) {
      throw new LogError('RATE_LIMITED', `the token ${name ?? ''} is past its rate limit; retry in ${wait} s`, { retryAfter: wait });
    }
  }

  /**
   * Express middleware: answers 401/403/429 itself, else records the token for
   * {@link chargeEntries}. Either way the token's name, when the token was
   * recognised, is there for {@link tokenName}. A refused request keeps the
   * route name an earlier middleware gave it (`res.locals.route`), else is
   * named `access-denied`.
   */
  middleware(): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      let granted: Grant;
      const seen: { name?: string } = {};
      try {
        granted = this.granted.get(req) ?? this.grant(req.method, req.path, req, seen);
      } catch (err) {
        const error = err as LogError;
        res.locals[TOKEN_NAME_KEY] = seen.name;
        res.locals.route ??= 'access-denied';
        if (error.code === 'UNAUTHORIZED') {
          res.setHeader('WWW-Authenticate', 'Bearer realm="cairn"');
          res.setHeader('Access-Control-Expose-Headers', 'WWW-Authenticate');
        }
        sendError(res, error);
        return;
      }
      res.locals[TOKEN_NAME_KEY] = granted.name;
      res.locals[RES_LOCALS_KEY] = { granted, charge: (entries: number) => this.charge(granted.bucket, entries - 1, entries, granted.name) };
      next();
    };
  }
}

/**
 * Charges a request of `entries` entries to its token's rate limit: a batch
 * of k entries costs k units, one of which was charged when it arrived.
 * Throws LogError RATE_LIMITED past the limit for now, and TOO_MANY_ENTRIES
 * (charging nothing more) when k is more than the limit's whole period holds;
 * does nothing without access control or a limit.
 */
export function chargeEntries(res: Response, entries: number): void {
  if (entries <= 1) return;
  const locals = res.locals[RES_LOCALS_KEY] as { charge: (entries: number) => void } | undefined;
  locals?.charge(entries);
}

/**
 * The name of the request's token, for logs (never the token itself): also
 * for a request refused for its token's role or rate limit; undefined when
 * none was sent, or one that is not known.
 */
export function tokenName(res: Response): string | undefined {
  return res.locals[TOKEN_NAME_KEY] as string | undefined;
}

/**
 * The loopback addresses: 127.0.0.0/8, ::1, and 127.0.0.0/8 mapped to IPv6
 * (::ffff:7f00:0/104), which WHATWG URL writes in hex: ::ffff:127.0.0.1 is
 * the hostname [::ffff:7f00:1]. A BlockList matches an address however it
 * is written (0:0:0:0:0:0:0:1, ::ffff:7f00:0001).
 */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:7f00:0', 104, 'ipv6');

/**
 * Whether `host` names only this machine: `localhost`, 127.0.0.0/8 or ::1
 * (also IPv4-mapped, in either form). Anything else, including 0.0.0.0, ::
 * and other names, counts as reachable from outside.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  const family = isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6');
}
