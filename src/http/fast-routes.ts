import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';
import { LogError, type LogErrorCode } from '../log/errors.js';
import { MAX_ENTRY_SIZE, type Log, type Receipt } from '../log/log.js';
import { REQUEST_MESSAGE, type Logger } from '../log/logger.js';
import { decodeBase64 } from '../note/base64.js';
import { headerCount, type AccessControl } from './access.js';
import type { BodyBudget } from './body-budget.js';
import { mayBeRefusedOutright, noteAnswered } from './client-error.js';
import { unsentFields } from './cut-at-stop.js';
import { errorHeaders, HTTP_STATUS, toLogError } from './errors.js';
import { methodLabel, type Metrics } from './metrics.js';
import { parseCanonicalDecimal, parseQuery } from './query.js';
import { BODY_IDLE_MS, readBody } from './read-body.js';
import type { Refusals } from './refusals.js';
import { ResponseBatch } from './response-batch.js';

/*
 * The hot routes without express's per-request machinery (CONTRACT §3):
 * POST /v1/entries with an octet-stream body, get-proof-by-hash,
 * get-entry-and-proof and get-sth-consistency. Express costs about three
 * times the CPU of the work itself on these small requests (routing,
 * prototype swaps, res.json), which caps the server well below the
 * benchmark goals (issue 5).
 *
 * The fast path answers only requests it is sure about and hands everything
 * else to express untouched: a path or query that is not exactly canonical,
 * another content type, a chunked or compressed body, a failed access check,
 * a declared length the body budget has no room for; for the reads, also any
 * error (express then recomputes the answer and words the error). So every
 * error an express route would give is still given by that route; the fast
 * path only ever answers 200/201 with the same bodies, or, for an entry it has
 * taken, the error of reading its body (read-body.ts, as express's route
 * reads it) or the log's own LogError, exactly as express's error handler
 * would.
 *
 * Its answers to reads are written in batches, one per round of the event
 * loop (response-batch.ts), which saves the kernel a wake-up of the client
 * per answer.
 */

export interface FastRouteOptions {
  readonly log: Log;
  readonly access?: AccessControl;
  readonly metrics?: Metrics;
  readonly logger: Logger;
  /** Told of each error answer (the app's). */
  readonly refusals?: Refusals;
  readonly budget: BodyBudget;
  /** The span over which a request body must bring at least 1 KiB/s, as sent, or get 408 (default {@link BODY_IDLE_MS}). */
  readonly bodyIdleMs?: number;
  /** Headers every response carries (the app's security headers). */
  readonly headers: Readonly<Record<string, string>>;
  /** The Cache-Control of the reads' answers, which never change (the app's ReadCaching.fixed). */
  readonly cacheControl: string;
}

type Handle = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

const JSON_TYPE = 'application/json; charset=utf-8';

/** Standard base64 with node's encoder: the same text as note/base64's, at a fraction of the cost. */
function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * A list of 32-byte hashes as the JSON array of their standard base64 that
 * JSON.stringify would write, with one encoder call for the whole list: each
 * hash is followed by a zero byte, so it encodes to 44 characters whose first
 * 43 are its own encoding and whose last is 'A' where a lone hash has '='.
 * Base64 needs no JSON escaping. Proof answers are mostly this list.
 */
function hashListJson(hashes: readonly Uint8Array[]): string {
  if (hashes.length === 0) return '[]';
  const all = Buffer.allocUnsafe(33 * hashes.length);
  for (let i = 0; i < hashes.length; i++) {
    const hash = hashes[i]!;
    if (hash.length !== 32) throw new RangeError(`hashListJson: a hash of ${hash.length} bytes`);
    all.set(hash, 33 * i);
    all[33 * i + 32] = 0;
  }
  const text = all.toString('base64');
  let out = '["';
  for (let i = 0; i < hashes.length; i++) out += (i === 0 ? '' : '","') + text.slice(44 * i, 44 * i + 43) + '=';
  return out + '"]';
}

/** CONTRACT §3 receipt, fields in the order the express route writes them. */
function receiptBody(r: Receipt, checkpoint: string): string {
  return `{"index":${r.index},"leaf_hash":"${base64(r.leafHash)}","checkpoint":${JSON.stringify(checkpoint)},"inclusion_proof":${hashListJson(r.inclusionProof)},"duplicate":${r.duplicate}}`;
}

/** The query of `url` as exactly the string parameters `names`, each once; undefined for anything else. */
function exactQuery(url: string, path: string, names: readonly string[]): Record<string, string> | undefined {
  if (url.length <= path.length || !url.startsWith(path) || url[path.length] !== '?') return undefined;
  // The parser the express routes use (app.ts).
  const parsed = parseQuery(url.slice(path.length + 1));
  const keys = Object.keys(parsed);
  if (keys.length !== names.length) return undefined;
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = Object.hasOwn(parsed, name) ? parsed[name] : undefined;
    if (typeof value !== 'string') return undefined;
    out[name] = value;
  }
  return out;
}

/**
 * Puts the fast routes (CONTRACT §3: POST /v1/entries, get-proof-by-hash,
 * get-entry-and-proof, get-sth-consistency) in front of an express app and
 * returns the same app; see the comment above for what they leave to it.
 * Requests reach them through `app(req, res)` like any other, so tests
 * through supertest and the real server take the same path.
 */
export function withFastRoutes(app: Express, options: FastRouteOptions): Express {
  const { log, access, metrics, logger, refusals, budget, bodyIdleMs = BODY_IDLE_MS } = options;
  const expressHandle: Handle = (app as unknown as { handle: Handle }).handle.bind(app);
  const baseHeaders: string[] = Object.entries(options.headers).flat();
  // The reads answered here are proofs for a tree no larger than the current one (a larger one goes to express as an error).
  const readHeaders: [string, string][] = [['Cache-Control', options.cacheControl]];

  const responses = new ResponseBatch((err) => logger.error('a response could not be written', { error: String(err) }));

  /**
   * Answers a request: a read's answer joins the batch of its turn of the
   * event loop; a receipt is written at once (a round's receipts are all
   * ready together already, and the sequencer's next round, built in the
   * same turn, must not hold them up: 8% fewer adds/s with 64 clients).
   * `code` is an error answer's.
   */
  const finish = (req: IncomingMessage, res: ServerResponse, route: string, started: number, status: number, body: string, extra: [string, string][] = [], token?: string, code?: LogErrorCode) => {
    // One writeHead with a flat list: cheaper than a setHeader per header.
    const head = baseHeaders.slice();
    for (const [name, value] of extra) head.push(name, value);
    head.push('Content-Type', JSON_TYPE, 'Content-Length', String(Buffer.byteLength(body)));
    res.writeHead(status, head);
    noteAnswered(req, { idleMs: bodyIdleMs });
    // Timed when written, so that the wait for a batch counts.
    // Called once, right after the answer is ended, whether or not the client is still there (then res is destroyed).
    const written = () => {
      const seconds = (performance.now() - started) / 1000;
      metrics?.httpDuration.observe({ method: methodLabel(req.method), route, status: String(status) }, seconds);
      if (code !== undefined) refusals?.answered(code, { route, token, remote: req.socket.remoteAddress });
      logger.info(REQUEST_MESSAGE, {
        method: req.method,
        route,
        status,
        ...(code === undefined ? {} : { code }),
        ms: Math.round(seconds * 1e4) / 10,
        ...(token === undefined ? {} : { token }),
        ...(res.destroyed ? unsentFields(req) : {}),
      });
    };
    if (req.method === 'GET') return responses.end(res, body, written);
    res.end(body);
    written();
  };

  /**
   * Authorizes a request the fast path will answer; undefined (charging
   * nothing) if express must refuse it. A granted request that express
   * answers after all is not charged again (AccessControl.authorize).
   */
  const grant = (req: IncomingMessage, path: string): { name: string | undefined } | undefined => {
    if (access === undefined) return { name: undefined };
    try {
      return access.authorize(req, path);
    } catch {
      return undefined;
    }
  };

  /**
   * A read: checks access, then computes the answer; any trouble goes to
   * express. Access comes first so that a request refused for its token
   * costs no lookup: on a private log, how long a 401 took must not tell
   * whether an entry is logged, and a token past its rate limit must not
   * buy proofs.
   */
  const read = (req: IncomingMessage, res: ServerResponse, next: Handle, path: string, route: string, answer: () => Promise<string>) => {
    const started = performance.now();
    const granted = grant(req, path);
    if (granted === undefined) return next(req, res);
    answer().then(
      (body) => finish(req, res, route, started, 200, body, readHeaders, granted.name),
      () => next(req, res),
    );
  };

  const addEntry = (req: IncomingMessage, res: ServerResponse): boolean => {
    // A read-only log's 403 is express's, before the body is read.
    if (log.readOnly) return false;
    const headers = req.headers;
    if (headers['content-type'] !== 'application/octet-stream' || headers['transfer-encoding'] !== undefined) return false;
    if (headers['content-encoding'] !== undefined) return false;
    // node keeps the first of several Content-Types: express refuses them (mediaType in app.ts).
    if (headerCount(req, 'content-type') !== 1) return false;
    const declared = Number(headers['content-length']);
    if (!Number.isSafeInteger(declared) || declared < 1 || declared > MAX_ENTRY_SIZE) return false;
    // Checked first: authorizing charges the token's rate limit, and express charges it again if it takes over.
    if (declared > budget.available) return false;
    const granted = grant(req, '/v1/entries');
    if (granted === undefined) return false;
    const started = performance.now();
    const refuse = (err: unknown) => {
      const error = toLogError(err);
      if (error.code === 'INTERNAL') logger.error('internal error', { method: req.method, path: '/v1/entries', error: String(err), stack: (err as Error)?.stack });
      finish(req, res, '/v1/entries', started, HTTP_STATUS[error.code], JSON.stringify({ error: error.message, code: error.code }), errorHeaders(error), granted.name, error.code);
    };
    readBody(req, res, { limit: MAX_ENTRY_SIZE, tooLarge: 'ENTRY_TOO_LARGE', budget, idleMs: bodyIdleMs })
      .then((body) => log.submit([body]))
      .then((result) => {
        const receipt = result.receipts[0]!;
        finish(req, res, '/v1/entries', started, receipt.duplicate ? 200 : 201, receiptBody(receipt, result.checkpoint), [], granted.name);
      }, refuse);
    return true;
  };

  const proofByHash = (query: Record<string, string>) => async () => {
    const hash = decodeBase64(query.hash!);
    const treeSize = parseCanonicalDecimal(query.tree_size!);
    if (hash.length !== 32 || treeSize === 0 || treeSize > log.latest().treeSize) throw new LogError('INVALID_PARAMETER', 'left to express');
    const index = await log.findLeaf(hash);
    if (index === undefined || index >= treeSize) throw new LogError('NOT_FOUND', 'left to express');
    const proof = await log.inclusionProof(index, treeSize);
    return `{"leaf_index":${index},"audit_path":${hashListJson(proof)}}`;
  };

  const entryAndProof = (query: Record<string, string>) => async () => {
    const index = parseCanonicalDecimal(query.leaf_index!);
    const treeSize = parseCanonicalDecimal(query.tree_size!);
    // Both reads in the same turn's read batch (storage/read-batch.ts).
    const [proof, entry] = await Promise.all([log.inclusionProof(index, treeSize), log.entry(index)]);
    return `{"leaf_input":"${base64(entry)}","extra_data":"","audit_path":${hashListJson(proof)}}`;
  };

  const consistency = (query: Record<string, string>) => async () => {
    const proof = await log.consistencyProof(parseCanonicalDecimal(query.first!), parseCanonicalDecimal(query.second!));
    return `{"consistency":${hashListJson(proof)}}`;
  };

  const handle: Handle = (req, res, next) => {
    const toExpress: Handle = (rq, rs) => expressHandle(rq, rs, next);
    const url = req.url ?? '';
    // What may be refused outright (refusedOutright of client-error.ts) is express's to answer.
    if (mayBeRefusedOutright(req)) return toExpress(req, res);
    if (req.method === 'POST') {
      if (url === '/v1/entries' && addEntry(req, res)) return;
    } else if (req.method === 'GET' && url.startsWith('/ct/v1/get-')) {
      let query: Record<string, string> | undefined;
      if ((query = exactQuery(url, '/ct/v1/get-proof-by-hash', ['hash', 'tree_size'])) !== undefined) {
        return read(req, res, toExpress, '/ct/v1/get-proof-by-hash', 'get-proof-by-hash', proofByHash(query));
      }
      if ((query = exactQuery(url, '/ct/v1/get-entry-and-proof', ['leaf_index', 'tree_size'])) !== undefined) {
        return read(req, res, toExpress, '/ct/v1/get-entry-and-proof', 'get-entry-and-proof', entryAndProof(query));
      }
      if ((query = exactQuery(url, '/ct/v1/get-sth-consistency', ['first', 'second'])) !== undefined) {
        return read(req, res, toExpress, '/ct/v1/get-sth-consistency', 'get-sth-consistency', consistency(query));
      }
    }
    toExpress(req, res);
  };
  (app as unknown as { handle: Handle }).handle = handle;
  return app;
}
