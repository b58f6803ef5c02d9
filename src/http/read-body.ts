import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { LogError, type LogErrorCode } from '../log/errors.js';
import type { BodyBudget } from './body-budget.js';
import { quote } from './query.js';

/** The content codings a body may come in (RFC 9110 §8.4.1), each with its decoder. */
const DECODERS: Readonly<Record<string, () => NodeJS.ReadWriteStream>> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/** What {@link readBody} needs besides the request. */
export interface ReadBodyOptions {
  /** Most bytes the body may hold, decoded. */
  readonly limit: number;
  /** The code for a body over `limit` (ENTRY_TOO_LARGE or BODY_TOO_LARGE). */
  readonly tooLarge: LogErrorCode;
  /** What every body being received is charged to. */
  readonly budget: BodyBudget;
  /** Longest wait for the body's next bytes (default {@link BODY_IDLE_MS}). */
  readonly idleMs?: number;
}

/**
 * A body whose next bytes take longer than this is given up (408): bytes it
 * sent before stalling stay charged to the budget until then, so this bounds
 * how long a stalled upload holds them (node's own bound is 5 minutes for
 * the whole request).
 */
export const BODY_IDLE_MS = 30_000;

/**
 * Reads a request body of at most `limit` decoded bytes (identity, gzip,
 * deflate or br), charging each byte to `budget` as it arrives and giving
 * them back when the response is done (see BodyBudget). Rejects with a
 * LogError, without waiting for the rest of the body:
 * - UNSUPPORTED_MEDIA_TYPE for another content coding;
 * - `tooLarge` for a declared length over `limit`, or over the budget's
 *   whole limit (before reading), or once more than that has arrived (a
 *   compressed body is judged decoded, so a small bomb cannot expand past
 *   it);
 * - QUEUE_FULL (Retry-After 1) for a declared length beyond what the budget
 *   has free (before reading), or once the budget cannot take the next bytes;
 * - MALFORMED_REQUEST for a body that does not decode or is cut short;
 * - REQUEST_TIMEOUT when no bytes (compressed or not) arrived for `idleMs`;
 *   the connection is then closed after the answer.
 * A refused upload is answered at once; the rest of its body is read and
 * dropped as it comes (so the connection stays usable, and the client reads
 * the answer rather than a reset), never waited for before answering.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, options: ReadBodyOptions): Promise<Uint8Array> {
  const { limit, tooLarge, budget, idleMs = BODY_IDLE_MS } = options;
  return new Promise((resolve, reject) => {
    const coding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    const decoder = coding === 'identity' ? undefined : DECODERS[coding]?.();
    const hold = budget.hold();
    res.once('close', hold.release);
    res.once('finish', hold.release);
    const source: Readable = decoder === undefined ? req : (req.pipe(decoder) as unknown as Readable);
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    // A body past the whole budget could never be held: that is "too
    // large" for this server, not "busy, retry shortly".
    const most = Math.min(limit, budget.limit);
    const bound = () => (most < limit ? `this server holds at most ${most} bytes of request bodies at once` : `at most ${limit} are allowed`);

    const fail = (error: LogError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      hold.release();
      chunks.length = 0; // the listeners outlive this answer while the rest is dropped
      source.removeListener('data', onData);
      if (decoder !== undefined) {
        req.unpipe(decoder as unknown as NodeJS.WritableStream);
        (decoder as unknown as Readable).destroy();
      }
      req.resume(); // drop the rest of the body as it arrives
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      if (received + chunk.length > most) return fail(new LogError(tooLarge, `the request body holds more than ${most} bytes${most < limit ? `; ${bound()}` : ''}`));
      if (!hold.tryAdd(chunk.length)) return fail(busy());
      chunks.push(chunk);
      received += chunk.length;
      idle.refresh();
    };
    const idle = setTimeout(() => {
      // Whatever the client sends later is not worth reading on this connection.
      if (!res.headersSent) res.setHeader('Connection', 'close');
      fail(new LogError('REQUEST_TIMEOUT', `no bytes of the request body arrived for ${idleMs / 1000} s; it was given up`));
    }, idleMs);

    if (coding !== 'identity' && decoder === undefined) {
      return fail(new LogError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Encoding ${quote(coding)}: send gzip, deflate, br or none`));
    }
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (decoder === undefined && declared !== undefined) {
      if (declared > most) return fail(new LogError(tooLarge, `the request body declares ${declared} bytes; ${bound()}`));
      if (declared > budget.available) return fail(busy());
    }
    source.on('data', onData);
    // Compressed bytes keep a body alive too, though they may decode to nothing yet.
    if (decoder !== undefined) {
      req.on('data', () => {
        if (!settled) idle.refresh();
      });
    }
    source.once('end', () => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    });
    source.once('error', () => fail(new LogError('MALFORMED_REQUEST', decoder === undefined ? 'the request body was cut short' : `the request body is not valid ${coding} data`)));
    if (decoder !== undefined) req.once('error', () => fail(new LogError('MALFORMED_REQUEST', 'the request body was cut short')));
    req.once('close', () => {
      if (!req.complete) fail(new LogError('MALFORMED_REQUEST', 'the request body was cut short'));
    });
  });
}

function busy(): LogError {
  return new LogError('QUEUE_FULL', 'too many request bodies are being received; retry shortly', { retryAfter: 1 });
}
