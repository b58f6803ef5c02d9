import express, { type NextFunction, type Request, type Response } from 'express';
import { canonicalizeValue } from '../jcs/canonical.js';
import { JsonError } from '../jcs/json-error.js';
import { JsonLimitError, MAX_JSON_BODY, parseIJson, type JsonKind, type JsonValue } from '../jcs/parse.js';
import { formatTilePath, parseTilePath, TILE_WIDTH, type Tile } from '../merkle/tile.js';
import { CLOCK_BEHIND_MESSAGE, isoDate } from '../log/clock-behind.js';
import { LogError } from '../log/errors.js';
import { MAX_BATCH_ENTRIES, MAX_ENTRY_SIZE, type Log, type Receipt } from '../log/log.js';
import { REQUEST_MESSAGE, silentLogger, type Logger } from '../log/logger.js';
import { LinePacer } from '../log/paced-lines.js';
import { STALLED_HEALTH_MS } from '../log/stalled-rounds.js';
import { decodeBase64, encodeBase64 } from '../note/base64.js';
import { VERSION } from '../version.js';
import { chargeEntries, headerCount, headerValues, tokenName, type AccessControl } from './access.js';
import { AnswerBudget, DEFAULT_MAX_ANSWER_BYTES, lostWhileWaiting, type AnswerHold } from './answer-budget.js';
import { bundleEncoder } from './bundle-encoding.js';
import { BodyBudget } from './body-budget.js';
import { noteAnswered, refusedOutright } from './client-error.js';
import { unsentFields } from './cut-at-stop.js';
import { answeredCode, sendError, serverFailure, storeUnavailable, toLogError } from './errors.js';
import { withFastRoutes } from './fast-routes.js';
import { readCaching, SECURITY_HEADERS } from './headers.js';
import { methodLabel, type Metrics } from './metrics.js';
import { endInSlices } from './pipelining.js';
import { ReadTurns } from './read-turns.js';
import { parseQuery, queryNumber, queryString, quote } from './query.js';
import { BODY_IDLE_MS, readBody } from './read-body.js';
import { Refusals } from './refusals.js';

/** An entry of the largest size, in base64: 87,380 characters. */
const MAX_ENTRY_BASE64 = Math.ceil(MAX_ENTRY_SIZE / 3) * 4;
/**
 * The most JSON values a JSON entry can hold and still have canonical bytes
 * within MAX_ENTRY_SIZE (CONTRACT §1): 32,768. In canonical form every value
 * takes at least one byte, and every value but the outermost at least one
 * more for the `[`, `,` or `:` before it (an object member also its key), so
 * V values take at least 2V − 1 bytes, which `[0,0,…,0]` reaches.
 */
const MAX_ENTRY_VALUES = Math.floor((MAX_ENTRY_SIZE + 1) / 2);
/**
 * Enough for 1000 entries of 65,535 bytes in base64 as JSON encoders write
 * them: pretty-printed (64 bytes a line for indentation and punctuation),
 * and with "/" escaped as "\/" (as PHP's json_encode does; 1/64 of random
 * base64 is "/", and this allows 1/8).
 */
export const MAX_BATCH_BODY = MAX_BATCH_ENTRIES * (MAX_ENTRY_BASE64 + Math.ceil(MAX_ENTRY_BASE64 / 8) + 64) + 4096;
/**
 * get-entries answers at most this many entry bytes (but always one entry):
 * 1000 entries of 64 KiB would be an 87 MB answer built in memory for a
 * 60-byte request. CONTRACT §3 lets it return fewer than asked.
 */
export const MAX_GET_ENTRIES_BYTES = 4 * 1024 * 1024;
/** How much more than its own bytes the buffer of an entry bundle answer may keep alive before the answer is copied out of it. */
const ANSWER_COPY_SLACK = 64 * 1024;
/** The 404 message for a path under /tile/ that is not a canonical C2SP tlog-tiles path. */
const NOT_A_TILE_PATH =
  'not a canonical tile path: expected /tile/<L>/<N> or /tile/entries/<N>, optionally with .p/<W>, where L is 0 to 63, ' +
  'N is written in groups of three digits, all but the last prefixed with x (1234067 is x001/x234/067), and W is 1 to 255, ' +
  'all without leading zeros (the / inside N may be sent as %2F)';
/**
 * The tile a request path under /tile/ names (`path` without its leading
 * "/"): a canonical C2SP tlog-tiles path, in which any "/" inside N may come
 * as `%2F` or `%2f`, since N is one path parameter that holds "/" and every
 * OpenAPI client escapes it (spec/openapi.yaml, TileIndex). Only that escape
 * is decoded, and only inside N; the result must then be canonical, as
 * parseTilePath checks. Throws as parseTilePath does.
 */
function requestedTile(path: string): Tile {
  const decoded = path.replace(/%2f/gi, '/');
  const tile = parseTilePath(decoded);
  if (decoded === path) return tile;
  // Decoded, the path is canonical (parseTilePath compared it with this);
  // what comes before N and after it must have been sent as it is.
  const canonical = formatTilePath(tile);
  const before = canonical.slice(0, canonical.indexOf('/', 'tile/'.length) + 1);
  const after = tile.width === TILE_WIDTH ? '' : `.p/${tile.width}`;
  if (!path.startsWith(before) || !path.endsWith(after)) {
    throw new RangeError(`requestedTile: %2F outside the tile index: ${JSON.stringify(path.slice(0, 80))}`);
  }
  return tile;
}
/** get-entries answers at most this many entries (CONTRACT §3). */
const MAX_GET_ENTRIES = 1000;
/** get-entries reads the store in steps of a multiple of this many entries, aligned to it (the store keeps entries in chunks of 16). */
const READ_STEP = 16;
/** Default bound on request body bytes held at once: one largest batch fits, with room for small uploads. */
export const DEFAULT_MAX_INFLIGHT_BODY_BYTES = 128 * 1024 * 1024;

export interface AppOptions {
  readonly log: Log;
  /** The log's verifier key, published by `GET /v1/log`. */
  readonly verifierKey: string;
  readonly metrics?: Metrics;
  readonly logger?: Logger;
  /** Who may write, read and scrape metrics; absent, everything is open. */
  readonly access?: AccessControl;
  /** Bound on request body bytes held at once (default {@link DEFAULT_MAX_INFLIGHT_BODY_BYTES}). */
  readonly bodyBudget?: BodyBudget;
  /** The span over which a request body must bring at least 1 KiB/s, as sent, or get 408 (default {@link BODY_IDLE_MS}). */
  readonly bodyIdleMs?: number;
  /** Bound on entry-bundle and get-entries answer bytes held at once (default {@link DEFAULT_MAX_ANSWER_BYTES}). */
  readonly answerBudget?: AnswerBudget;
  /**
   * Gives the building of large answers its turns, behind the log's writes
   * (default: one whose writes wait while the log has entries queued or a
   * round under way; see ReadTurns).
   */
  readonly readTurns?: ReadTurns;
  /**
   * Counts the error answers by code and warns of QUEUE_FULL and
   * RATE_LIMITED ones; by default the app's own, counting into `metrics`.
   * The server gives one it also tells of the requests refused past the
   * pipelining bound (PipelineLimit), which never reach the app.
   */
  readonly refusals?: Refusals;
  /**
   * Whether the hot routes answer without express (fast-routes.ts; default
   * true). With false every request goes through the express routes, which
   * answer the same: the fast path's tests compare the two.
   */
  readonly fastRoutes?: boolean;
}

type Handler = (req: Request, res: Response) => Promise<void> | void;

/** How often a request failed by a shortage of the server's (too many open files, address space) is logged, at most. */
const SHORTAGE_LOG_MS = 10_000;

/**
 * The longest /healthz waits for the store to be found available (a
 * reopening after a failed write, under way or begun by it, and the read of
 * what it finds) before it answers 503 all the same: on a stalled disk that
 * reopening never ends, and a probe must get an answer.
 */
export const HEALTH_WAIT_MS = 2000;

/** What `promise` resolves to, or `late` if it has not settled within `ms` (it goes on; its rejection is then dropped). */
function within<T, L>(promise: Promise<T>, ms: number, late: L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<L>((resolve) => {
    timer = setTimeout(() => resolve(late), ms);
    timer.unref();
  });
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * CONTRACT §1/§3: octet-stream, or JSON in UTF-8; anything else (or nothing)
 * is 415. More than one Content-Type is 400: node keeps the first, and a
 * proxy that keeps the last would have seen the body as another type
 * (counted in the raw headers, building no object: see headerCount).
 */
function mediaType(req: Request, allowed: readonly ('octet' | 'json')[]): 'octet' | 'json' {
  const header = req.headers['content-type'];
  const expected = allowed.map((a) => (a === 'octet' ? 'application/octet-stream' : 'application/json')).join(' or ');
  if (headerCount(req, 'content-type') > 1) {
    const sent = headerValues(req, 'content-type');
    throw new LogError('MALFORMED_REQUEST', `${sent.length} Content-Type headers (${sent.map((t) => JSON.stringify(t)).join(', ')}): send one, ${expected}`);
  }
  if (typeof header !== 'string' || header.trim() === '') {
    throw new LogError('UNSUPPORTED_MEDIA_TYPE', `a Content-Type header is required: ${expected}`);
  }
  const [type, ...params] = header.split(';').map((s) => s.trim().toLowerCase());
  if (type === 'application/octet-stream' && params.length === 0 && allowed.includes('octet')) return 'octet';
  if (type === 'application/json' && allowed.includes('json') && params.every((p) => p === 'charset=utf-8' || p === 'charset="utf-8"')) {
    return 'json';
  }
  throw new LogError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Type ${JSON.stringify(header)}: use ${expected}`);
}

/**
 * The canonical bytes of a JSON entry (CONTRACT §1). A body with more values
 * than a canonical entry can hold is refused at the first value past that
 * bound, without the rest of it being read or built.
 */
function canonicalEntry(body: Uint8Array): Uint8Array {
  let value: JsonValue;
  try {
    value = parseIJson(body, { maxValues: MAX_ENTRY_VALUES });
  } catch (err) {
    if (err instanceof JsonLimitError) {
      throw new LogError(
        'ENTRY_TOO_LARGE',
        `the JSON entry holds more than ${MAX_ENTRY_VALUES} values, so its canonical form would be over ${MAX_ENTRY_SIZE} bytes`,
        { cause: err },
      );
    }
    if (err instanceof JsonError) throw new LogError('INVALID_JSON', err.message, { cause: err });
    throw err;
  }
  return canonicalizeValue(value);
}

function receiptJson(r: Receipt, checkpoint?: string): Record<string, unknown> {
  const out: Record<string, unknown> = { index: r.index, leaf_hash: encodeBase64(r.leafHash) };
  if (checkpoint !== undefined) out.checkpoint = checkpoint;
  out.inclusion_proof = r.inclusionProof.map(encodeBase64);
  out.duplicate = r.duplicate;
  return out;
}

/** Rejects query parameters a route does not know: a typo should not be silently ignored. */
function onlyParams(req: Request, names: readonly string[]): void {
  for (const key of Object.keys(req.query)) {
    // Quoted cut short: a name may be most of a 16 KiB URL.
    if (!names.includes(key)) throw new LogError('INVALID_PARAMETER', `unknown query parameter ${quote(key)}`);
  }
}

/**
 * Refuses, as it begins and before any of it is read, a value a batch body
 * (CONTRACT §3: `{"entries": ["<base64>", …]}`, 1..1000 entries) cannot
 * hold: so a body of millions of elements costs no more than 1001 of them.
 */
function checkBatchValue(path: readonly (string | number)[], kind: JsonKind): void {
  if (path.length === 0) {
    if (kind !== 'object') throw new LogError('MALFORMED_REQUEST', 'the body must be a JSON object {"entries": ["<base64>", ...]}');
    return;
  }
  const field = path[0]!;
  if (field !== 'entries') throw new LogError('MALFORMED_REQUEST', `unknown field ${JSON.stringify(field)}`);
  if (path.length === 1) {
    if (kind !== 'array') throw new LogError('MALFORMED_REQUEST', '"entries" must be an array of base64 strings');
    return;
  }
  // Only strings are let in at depth 2, so nothing is deeper.
  const i = path[1] as number;
  if (i >= MAX_BATCH_ENTRIES) throw new LogError('TOO_MANY_ENTRIES', `a batch may hold at most ${MAX_BATCH_ENTRIES} entries; this one holds more`);
  if (kind !== 'string') throw new LogError('MALFORMED_REQUEST', `entries[${i}] must be a base64 string`);
}

function parseBatch(body: Uint8Array): Uint8Array[] {
  let value: JsonValue;
  try {
    value = parseIJson(body, { onValue: checkBatchValue });
  } catch (err) {
    if (err instanceof JsonError) throw new LogError('INVALID_JSON', err.message, { cause: err });
    throw err;
  }
  // checkBatchValue let in only an object whose one field is an array of strings.
  const entries = (value as { entries?: string[] }).entries;
  if (entries === undefined) throw new LogError('MALFORMED_REQUEST', '"entries" must be an array of base64 strings');
  if (entries.length === 0) throw new LogError('MALFORMED_REQUEST', '"entries" must hold at least one entry');
  return entries.map((e, i) => {
    // Refused before it is decoded: canonical base64 this long holds more than an entry may.
    if (e.length > MAX_ENTRY_BASE64) {
      throw new LogError('ENTRY_TOO_LARGE', `entries[${i}] is longer than ${MAX_ENTRY_BASE64} base64 characters; at most ${MAX_ENTRY_SIZE} bytes are allowed`);
    }
    let bytes: Uint8Array;
    try {
      bytes = decodeBase64(e);
    } catch {
      throw new LogError('INVALID_BASE64', `entries[${i}] is not canonical standard base64`);
    }
    if (bytes.length === 0) throw new LogError('EMPTY_ENTRY', `entries[${i}] is empty`);
    return bytes;
  });
}

/**
 * Entries start..end as Log.entries gives them (same errors, end clamped, at
 * most 1000), read in steps within one entry bundle at a time and cut short
 * once they hold `maxBytes` (the first entry always goes in), so that an
 * answer's size is bounded by that plus one step rather than by 1000
 * entries. The first step is READ_STEP entries; later ones are as many as the
 * bytes still allowed would hold at the size of the entries read so far
 * (rounded up to READ_STEP, at least READ_STEP): 60 KB entries took a full
 * bundle of 15 MB from the store for an answer of 4 MiB. Each step is begun
 * in its turn (ReadTurns), behind the log's writes.
 */
async function entriesWithin(log: Log, start: number, end: number, maxBytes: number, turns: AnswerTurns): Promise<Uint8Array[]> {
  const last = Math.min(end, start + MAX_GET_ENTRIES - 1);
  const out: Uint8Array[] = [];
  let bytes = 0;
  let from = start;
  let step = READ_STEP;
  do {
    const bundleEnd = (Math.floor(from / TILE_WIDTH) + 1) * TILE_WIDTH - 1;
    const to = Math.min(last, bundleEnd, (Math.floor(from / READ_STEP) + Math.max(1, Math.ceil(step / READ_STEP))) * READ_STEP - 1);
    // The first call also validates start and end, with Log.entries' errors.
    const chunk = await turns.run(() => log.entries(from, to));
    for (const entry of chunk) {
      if (out.length > 0 && bytes + entry.length > maxBytes) return out;
      out.push(entry);
      bytes += entry.length;
    }
    if (chunk.length < to - from + 1) return out; // clamped at the tree's end
    from = to + 1;
    step = Math.ceil((maxBytes - bytes) / (bytes / out.length));
  } while (from <= last && from < log.latest().treeSize);
  return out;
}

/** The turns of one answer's building: ReadTurns' (see answerTurns in createApp). */
type AnswerTurns = Pick<ReadTurns, 'run' | 'sliceBytes'>;

const ENTRIES_HEAD = '{"entries":[';
const ENTRY_HEAD = '{"leaf_input":"';
const ENTRY_TAIL = '","extra_data":""}';
const ENTRIES_TAIL = ']}';

/**
 * The get-entries answer for `entries` (CONTRACT §3), byte for byte what
 * JSON.stringify gives for `{"entries": [{"leaf_input": <base64>, "extra_data":
 * ""}, …]}` (base64 holds nothing JSON escapes), built into one buffer of its
 * exact size, `turns.sliceBytes` of entries per slice, each slice in its turn
 * (ReadTurns): a 4 MiB answer is not built in one long turn of the event loop.
 */
async function entriesAnswer(entries: readonly Uint8Array[], turns: AnswerTurns): Promise<Buffer> {
  let size = ENTRIES_HEAD.length + Math.max(0, entries.length - 1) + ENTRIES_TAIL.length;
  for (const e of entries) size += ENTRY_HEAD.length + Math.ceil(e.length / 3) * 4 + ENTRY_TAIL.length;
  const out = Buffer.allocUnsafe(size);
  let at = out.write(ENTRIES_HEAD, 0, 'latin1');
  let i = 0;
  const slice = () => {
    let bytes = 0;
    do {
      const e = entries[i]!;
      if (i > 0) at += out.write(',', at, 'latin1');
      at += out.write(ENTRY_HEAD, at, 'latin1');
      at += out.write(Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('base64'), at, 'latin1');
      at += out.write(ENTRY_TAIL, at, 'latin1');
      bytes += e.length;
      i++;
    } while (i < entries.length && bytes < turns.sliceBytes);
  };
  while (i < entries.length) await turns.run(slice);
  at += out.write(ENTRIES_TAIL, at, 'latin1');
  if (at !== size) throw new Error(`entriesAnswer: wrote ${at} bytes of ${size}`);
  return out;
}

/** The refusal of a large answer while {@link AnswerBudget} is full. */
function answersBusy(): LogError {
  return new LogError('QUEUE_FULL', 'the server is sending as many large answers as it may hold at once; retry', { retryAfter: 1 });
}

/** Refuses a request for a large answer before it is read, while `answers` is full. */
function refuseIfExhausted(answers: AnswerBudget): void {
  if (!answers.exhausted) return;
  answers.noteRefused();
  throw answersBusy();
}

function decodeHashParam(text: string): Uint8Array {
  let hash: Uint8Array;
  try {
    hash = decodeBase64(text);
  } catch {
    throw new LogError('INVALID_BASE64', 'hash must be canonical standard base64 (URL-encode "+" as %2B)');
  }
  if (hash.length !== 32) throw new LogError('INVALID_PARAMETER', `hash must be 32 bytes, got ${hash.length}`);
  return hash;
}

/**
 * Builds Cairn's HTTP API (CONTRACT §3) over a Log, apart from `listen()`.
 * Every route validates its input and answers errors as `{"error", "code"}`.
 */
export function createApp(options: AppOptions): express.Express {
  const { log, verifierKey, metrics } = options;
  const logger = options.logger ?? silentLogger;
  const budget = options.bodyBudget ?? new BodyBudget(DEFAULT_MAX_INFLIGHT_BODY_BYTES);
  const idleMs = options.bodyIdleMs ?? BODY_IDLE_MS;
  const answers = options.answerBudget ?? new AnswerBudget(DEFAULT_MAX_ANSWER_BYTES);
  const encodeBundle = bundleEncoder();
  const turns = options.readTurns ?? new ReadTurns({ writesWaiting: () => log.queueDepth > 0 || log.roundUnderWay() !== undefined });
  /**
   * `turns` for building the answer of `res`: a step whose connection is
   * gone by its turn is not run (nobody is there to read the answer, and
   * once a stop has cut connections its store may be closed), refused as an
   * answer waiting for its turn on a lost connection is.
   */
  const answerTurns = (res: Response): AnswerTurns => ({
    sliceBytes: turns.sliceBytes,
    run: <T>(step: () => T) =>
      turns.run(() => {
        if (res.req.socket.destroyed) throw lostWhileWaiting();
        return step();
      }),
  });
  const refusals = options.refusals ?? new Refusals(logger, metrics?.refusals);
  const caching = readCaching(options.access?.readsArePublic !== false);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', parseQuery);
  // A route is its exact path: express otherwise also matches other letter
  // cases and a trailing slash, paths the access check must then know too.
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  // A GET is always answered in full, whatever conditional headers it has:
  // the server sends no validator (no ETag, no Last-Modified) a condition
  // could be about, yet express would answer `If-None-Match: *` 304 (its
  // req.fresh), which a cache holding no copy cannot use (spec/openapi.yaml,
  // "Conditional requests"). The fast routes never looked at them.
  Object.defineProperty(app.request, 'fresh', { configurable: true, enumerable: true, get: () => false });

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    // Each request is logged and observed once: when its answer is written
    // out ('finish'), or, if the client is gone before that ('close' first,
    // and 'finish' then never comes), once the answer is decided: at once if
    // it was, else when the route ends it (an entry the client no longer
    // waits for is still logged, and its 201 must be counted). So is one
    // whose connection the server cut as it stopped (an upload it cut is
    // a 503 SHUTTING_DOWN, see readBody).
    let logged = false;
    const answered = (clientGone: boolean) => {
      if (logged) return;
      logged = true;
      // A closed connection has no error left to answer.
      if (!clientGone) noteAnswered(req, { idleMs });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (res.locals.route as string | undefined) ?? 'unmatched';
      metrics?.httpDuration.observe({ method: methodLabel(req.method), route, status: String(res.statusCode) }, seconds);
      const token = tokenName(res);
      // An error answer's code tells the bounds (QUEUE_FULL) from the store (STORAGE_FAILED) and a stop (SHUTTING_DOWN), all 503.
      const code = answeredCode(res);
      if (code !== undefined) refusals.answered(code, { route, token, remote: req.socket.remoteAddress });
      logger.info(REQUEST_MESSAGE, {
        method: req.method,
        route,
        status: res.statusCode,
        ...(code === undefined ? {} : { code }),
        ms: Math.round(seconds * 1e4) / 10,
        ...(token === undefined ? {} : { token }),
        ...(clientGone ? unsentFields(req) : {}),
      });
    };
    res.once('finish', () => answered(false));
    res.once('close', () => {
      if (logged) return;
      if (res.writableEnded) return answered(true);
      const end = res.end;
      res.end = ((...args: Parameters<Response['end']>) => {
        const out = end.apply(res, args);
        answered(true);
        return out;
      }) as Response['end'];
    });
    // A request answered whatever it asks for (no Host, an unknown Expect),
    // logged and counted like any other, before access is checked.
    const refusal = refusedOutright(req, res);
    if (refusal !== undefined) {
      sendError(res, refusal);
      return;
    }
    next();
  });

  const routes = new Map<string | RegExp, string[]>(); // path → methods, for 405s
  const names = new Map<string | RegExp, string>(); // path → the route's name in logs and metrics
  /** The name the request's route gives it, as the routes below would: known before access is checked. */
  const routeName = (req: Request): string => {
    for (const [path, methods] of routes) {
      if (typeof path === 'string' ? req.path !== path : !path.test(req.path)) continue;
      return methods.includes(req.method === 'HEAD' ? 'GET' : req.method) ? names.get(path)! : 'method-not-allowed';
    }
    return 'not-found';
  };
  if (options.access !== undefined) {
    const checkAccess = options.access.middleware();
    app.use((req, res, next) => {
      // A request refused for its token is logged under the route it asked for.
      if (req.method !== 'OPTIONS') res.locals.route = routeName(req);
      checkAccess(req, res, next);
    });
  }

  /** Holds `bytes` of the answer of `res` against `answers` until its response closes; refuses the request 503 if they do not fit. */
  const holdAnswer = (res: Response, bytes: number): AnswerHold => {
    const hold = answers.hold(res, bytes);
    if (hold === undefined) throw answersBusy();
    return hold;
  };

  /**
   * Sends a large answer (its status and type set), written out in slices
   * for the stall check (PipelineLimit) to see a slow client's progress. A
   * HEAD goes through res.send.
   */
  const sendLarge = (req: Request, res: Response, body: Buffer): void => {
    if (req.method !== 'GET') {
      res.send(body);
      return;
    }
    res.setHeader('Content-Length', String(body.length));
    endInSlices(res, body);
  };

  const route = (method: 'get' | 'post', path: string | RegExp, name: string, handler: Handler) => {
    routes.set(path, [...(routes.get(path) ?? []), method.toUpperCase()]);
    names.set(path, name);
    app[method](path, async (req: Request, res: Response) => {
      res.locals.route = name;
      await handler(req, res);
    });
  };

  route('post', '/v1/entries', '/v1/entries', async (req, res) => {
    // A read-only log refuses every write (403) before its body is read.
    log.checkWritable();
    onlyParams(req, []);
    const kind = mediaType(req, ['octet', 'json']);
    const body =
      kind === 'octet'
        ? await readBody(req, res, { limit: MAX_ENTRY_SIZE, tooLarge: 'ENTRY_TOO_LARGE', budget, idleMs })
        : await readBody(req, res, { limit: MAX_JSON_BODY, tooLarge: 'BODY_TOO_LARGE', budget, idleMs });
    const entry = kind === 'octet' ? body : canonicalEntry(body);
    if (entry.length === 0) throw new LogError('EMPTY_ENTRY', 'an entry must hold at least one byte');
    if (entry.length > MAX_ENTRY_SIZE) {
      throw new LogError('ENTRY_TOO_LARGE', `the canonical entry holds ${entry.length} bytes; at most ${MAX_ENTRY_SIZE} are allowed`);
    }
    const result = await log.submit([entry]);
    const receipt = result.receipts[0]!;
    res.status(receipt.duplicate ? 200 : 201).json(receiptJson(receipt, result.checkpoint));
  });

  route('post', '/v1/batch', '/v1/batch', async (req, res) => {
    log.checkWritable();
    onlyParams(req, []);
    mediaType(req, ['json']);
    const entries = parseBatch(await readBody(req, res, { limit: MAX_BATCH_BODY, tooLarge: 'BODY_TOO_LARGE', budget, idleMs }));
    // Checked before the entries are charged: a batch refused for good costs its token only the one unit charged when it arrived.
    log.checkSubmission(entries);
    chargeEntries(res, entries.length);
    const result = await log.submit(entries);
    res.status(200).json({ checkpoint: result.checkpoint, receipts: result.receipts.map((r) => receiptJson(r)) });
  });

  route('get', '/ct/v1/get-sth', 'get-sth', (req, res) => {
    onlyParams(req, []);
    res.setHeader('Cache-Control', caching.changing);
    res.json(log.latest().sth);
  });

  route('get', '/ct/v1/get-sth-consistency', 'get-sth-consistency', async (req, res) => {
    onlyParams(req, ['first', 'second']);
    const first = queryNumber(req.query, 'first', { required: true })!;
    const second = queryNumber(req.query, 'second', { required: true })!;
    const proof = await log.consistencyProof(first, second);
    res.setHeader('Cache-Control', caching.fixed);
    res.json({ consistency: proof.map(encodeBase64) });
  });

  route('get', '/ct/v1/get-proof-by-hash', 'get-proof-by-hash', async (req, res) => {
    onlyParams(req, ['hash', 'tree_size']);
    const hash = decodeHashParam(queryString(req.query, 'hash', { required: true })!);
    const treeSize = queryNumber(req.query, 'tree_size', { required: true })!;
    if (treeSize === 0) throw new LogError('INVALID_PARAMETER', 'tree_size must be at least 1');
    if (treeSize > log.latest().treeSize) {
      throw new LogError('TREE_SIZE_TOO_LARGE', `tree_size ${treeSize} is beyond the current tree size ${log.latest().treeSize}`);
    }
    const index = await log.findLeaf(hash);
    if (index === undefined || index >= treeSize) throw new LogError('NOT_FOUND', `no leaf with that hash in the tree of size ${treeSize}`);
    const proof = await log.inclusionProof(index, treeSize);
    res.setHeader('Cache-Control', caching.fixed);
    res.json({ leaf_index: index, audit_path: proof.map(encodeBase64) });
  });

  route('get', '/ct/v1/get-entries', 'get-entries', async (req, res) => {
    onlyParams(req, ['start', 'end']);
    const start = queryNumber(req.query, 'start', { required: true })!;
    // E past the tree is clamped (CONTRACT §3), however far past: 2^63−1 is a CT client's "to the end".
    const end = queryNumber(req.query, 'end', { required: true, saturate: true })!;
    // Read before the entries: a range inside this tree cannot be clamped (headers.ts, ReadCaching.fixed).
    const size = log.latest().treeSize;
    const body = await answers.reading(res, async () => {
      // Refused before anything is read while the bound is full; held once built.
      refuseIfExhausted(answers);
      const steps = answerTurns(res);
      const entries = await entriesWithin(log, start, end, MAX_GET_ENTRIES_BYTES, steps);
      const json = await entriesAnswer(entries, steps);
      holdAnswer(res, json.length);
      return json;
    });
    res.setHeader('Cache-Control', Math.min(end, start + MAX_GET_ENTRIES - 1) < size ? caching.fixed : caching.changing);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    await turns.run(() => sendLarge(req, res, body));
  });

  route('get', '/ct/v1/get-entry-and-proof', 'get-entry-and-proof', async (req, res) => {
    onlyParams(req, ['leaf_index', 'tree_size']);
    const index = queryNumber(req.query, 'leaf_index', { required: true })!;
    const treeSize = queryNumber(req.query, 'tree_size', { required: true })!;
    const proof = await log.inclusionProof(index, treeSize);
    const entry = await log.entry(index);
    res.setHeader('Cache-Control', caching.fixed);
    res.json({ leaf_input: encodeBase64(entry), extra_data: '', audit_path: proof.map(encodeBase64) });
  });

  route('get', '/checkpoint', '/checkpoint', (req, res) => {
    onlyParams(req, []);
    res.setHeader('Cache-Control', caching.changing);
    res.type('text/plain; charset=utf-8').send(log.latest().checkpoint);
  });

  route('get', /^\/tile\/.+$/, '/tile', async (req, res) => {
    onlyParams(req, []);
    let tile;
    try {
      tile = requestedTile(req.path.slice(1));
    } catch (err) {
      // The parser's own message names the parser: a client is told the form instead.
      if (err instanceof RangeError || err instanceof TypeError) throw new LogError('NOT_FOUND', NOT_A_TILE_PATH);
      throw err;
    }
    const cacheControl = tile.width === TILE_WIDTH ? caching.fixed : caching.short;
    if (tile.level !== -1) {
      // A hash tile (at most 8 KiB) is not held against `answers`.
      const data = await log.tile(tile.level, tile.n, tile.width);
      res.setHeader('Cache-Control', cacheControl);
      res.type('application/octet-stream').send(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      return;
    }
    const steps = answerTurns(res);
    const { body, hold } = await answers.reading(res, async () => {
      // Refused before it is read while the bound is full.
      refuseIfExhausted(answers);
      const data = await steps.run(() => log.bundle(tile.n, tile.width));
      return steps.run(() => {
        // A partial bundle cut from a much wider one is copied out, so that what it holds is its own size.
        const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        const own = data.buffer.byteLength - data.byteLength > ANSWER_COPY_SLACK ? Buffer.from(view) : view;
        return { body: own, hold: holdAnswer(res, own.length) };
      });
    });
    res.setHeader('Cache-Control', cacheControl);
    res.setHeader('Vary', 'Accept-Encoding');
    res.type('application/octet-stream');
    // A full bundle never changes: whether gzip shrinks it is remembered by its index.
    const encoded = await steps.run(() => encodeBundle(req, body, tile.width === TILE_WIDTH ? tile.n : undefined));
    if (encoded.gzip) res.setHeader('Content-Encoding', 'gzip');
    hold.shrinkTo(encoded.body.length);
    await turns.run(() => sendLarge(req, res, encoded.body));
  });

  route('get', '/v1/log', '/v1/log', (req, res) => {
    onlyParams(req, []);
    res.setHeader('Cache-Control', caching.changing);
    res.json({ origin: log.origin, verifier_key: verifierKey, tree_size: log.latest().treeSize, version: VERSION });
  });

  route('get', '/healthz', '/healthz', async (req, res) => {
    onlyParams(req, []);
    // A round the store holds up (a stalled disk) makes writes hang rather
    // than fail: 503 while it lasts, said at once, without asking the store.
    const stalled = log.roundInProgressSeconds();
    if (stalled * 1000 >= STALLED_HEALTH_MS) {
      throw new LogError(
        'STORAGE_FAILED',
        `a round has been under way for ${Math.floor(stalled)} s and the store has not finished it (a stalled disk: a hung fsync, a frozen or unreachable file system?); writes wait for it; retry`,
        { retryAfter: 5 },
      );
    }
    const recovered = await within(log.storeRecovered(), HEALTH_WAIT_MS, 'late');
    if (recovered === 'late') {
      throw new LogError(
        'STORAGE_FAILED',
        `the store did not answer within ${HEALTH_WAIT_MS / 1000} s: it is being opened again after a failed write (or read), and that has not finished (a stalled disk?); retry`,
        { retryAfter: 5 },
      );
    }
    if (!recovered) throw storeUnavailable();
    res.setHeader('Cache-Control', 'no-store');
    // The clock behind the latest tree head: the log works (it signs, each
    // head dated just after the last), so still 200 and "ok", which keeps it
    // in a load balancer, but the body says so, as the server's warning does.
    const head = log.latest();
    const behindMs = log.clockBehindMs();
    const clock = behindMs === 0 ? {} : { clock_behind: { seconds: Math.floor(behindMs / 1000), tree_head: isoDate(head.timestamp), message: CLOCK_BEHIND_MESSAGE } };
    res.json({ status: 'ok', tree_size: head.treeSize, ...clock });
  });

  route('get', '/metrics', '/metrics', async (req, res) => {
    onlyParams(req, []);
    if (metrics === undefined) throw new LogError('NOT_FOUND', 'metrics are disabled');
    res.setHeader('Cache-Control', 'no-store');
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // The log is append-only: no other method exists on any route. OPTIONS
  // says which do (RFC 9110 §9.3.7), and is also a browser's CORS preflight:
  // a script on any origin may send a token and a JSON or compressed body
  // (a token is never sent by the browser on its own, unlike a cookie).
  // Paths a route's pattern takes but whose GET is 404 whatever the log
  // holds are 404 to OPTIONS too.
  const neverServed = (path: string): boolean => {
    if (path === '/metrics') return metrics === undefined;
    if (!path.startsWith('/tile/')) return false;
    try {
      requestedTile(path.slice(1));
      return false;
    } catch {
      return true;
    }
  };
  for (const [path, methods] of routes) {
    const allow = [...methods, ...(methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
    app.options(path, (req, res) => {
      if (neverServed(req.path)) {
        res.locals.route = 'not-found';
        sendError(res, new LogError('NOT_FOUND', 'no such resource'));
        return;
      }
      res.locals.route = 'options';
      res.setHeader('Allow', allow);
      res.setHeader('Access-Control-Allow-Methods', allow);
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, Content-Encoding');
      res.setHeader('Access-Control-Max-Age', '86400');
      res.status(204).end();
    });
    app.all(path, (req, res) => {
      res.setHeader('Allow', allow);
      res.locals.route = 'method-not-allowed';
      sendError(res, new LogError('METHOD_NOT_ALLOWED', `${req.method} is not allowed here; allowed: ${allow}`));
    });
  }

  app.use((req, res) => {
    res.locals.route = 'not-found';
    sendError(res, new LogError('NOT_FOUND', 'no such resource'));
  });

  // A shortage (too many open files, no address space left to map a table)
  // fails every request while it lasts: paced, a line per SHORTAGE_LOG_MS at
  // most, naming the latest request and counting those it failed since the
  // last line (`failed`).
  let shortage: { failure: string; fields: Record<string, unknown>; failed: number } | undefined;
  const shortageLines = new LinePacer((seconds) => {
    if (shortage === undefined) return false;
    logger.error(shortage.failure, { ...shortage.fields, failed: shortage.failed, ...(seconds === undefined ? {} : { seconds }) });
    shortage = undefined;
    return true;
  }, SHORTAGE_LOG_MS);
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const error = toLogError(err);
    const failure = serverFailure(err, error);
    if (failure !== undefined) {
      const fields = { method: req.method, path: req.path, error: String(err), stack: (err as Error)?.stack };
      if (error.code === 'INTERNAL') logger.error(failure, fields);
      else {
        shortage = { failure, fields, failed: (shortage?.failed ?? 0) + 1 };
        shortageLines.due();
      }
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    sendError(res, error);
  });

  // The hot routes, without express's per-request cost; everything else
  // (every error included) is still answered by the routes above.
  if (options.fastRoutes === false) return app;
  return withFastRoutes(app, { log, metrics, logger, refusals, budget, bodyIdleMs: idleMs, headers: SECURITY_HEADERS, cacheControl: caching.fixed, ...(options.access === undefined ? {} : { access: options.access }) });
}
