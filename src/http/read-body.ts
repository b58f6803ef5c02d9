import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { LogError, type LogErrorCode } from '../log/errors.js';
import type { BodyBudget } from './body-budget.js';
import { cutAtStop } from './cut-at-stop.js';
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
  /** The span within which a body must bring `minRate` bytes a second (default {@link BODY_IDLE_MS}). */
  readonly idleMs?: number;
  /** Bytes a second a body must average over every `idleMs` (default {@link BODY_MIN_RATE}). */
  readonly minRate?: number;
  /** Longest time the whole body may take to arrive (default {@link BODY_MAX_MS}). */
  readonly maxMs?: number;
}

/**
 * A body that brings fewer than {@link BODY_MIN_RATE} bytes a second over
 * this long (30 KiB in 30 s) is given up (408): the bytes it sent before
 * stalling stay charged to the budget until then, so this bounds how long a
 * stalled upload holds them. Only time the server spends reading the
 * connection counts: a span that ends while it has stopped reading (its
 * socket paused, by PipelineLimit or by node's own back-pressure while the
 * client does not read earlier answers) starts again, and so does the span
 * when reading starts again; {@link BODY_MAX_MS} still bounds the whole.
 */
export const BODY_IDLE_MS = 30_000;

/**
 * The bytes a second a body must average over every {@link BODY_IDLE_MS}
 * (the count starts again each time enough have come). 1 KiB/s is 8 kbit/s,
 * below any link a client can really use (GPRS carries some 20-40 kbit/s),
 * so it refuses no honest upload; a body of less than 30 KiB only has to
 * arrive within 30 s. What it refuses is a body kept open by a byte, or an
 * empty deflate block, now and then: before, one byte every 29 s kept a
 * body, and all it had sent, held until node's own 5-minute limit.
 */
export const BODY_MIN_RATE = 1024;

/**
 * The longest a body may take to arrive in all, however steadily it comes
 * (408 after that, and its bytes are given back at once). This bounds how
 * long a body that sent a lot at first and then just enough to keep going
 * holds the budget, and one the server stopped reading (this limit counts
 * that time too). It is node's default requestTimeout, which the server
 * keeps, so it refuses no client that worked before: the largest batch
 * (MAX_BATCH_BODY, 98,371,096 bytes) needs 328 KB/s (2.6 Mbit/s) to make it,
 * a batch of `cairn add` (at most 8 MiB of entries, about 11.2 MB as base64
 * JSON) 37 KB/s, a single entry (at most 1 MiB of JSON) 3.5 KB/s. A lower
 * bound would shut out slow links sending large batches, which is why the
 * bound is not tighter.
 */
export const BODY_MAX_MS = 300_000;

/** Answers whose client waits for 100 Continue before it sends its request's body (Expect: 100-continue). */
const continueAwaited = new WeakSet<ServerResponse>();

/**
 * Notes that the client of `res` waits for 100 Continue before it sends the
 * body (node tells it with 'checkContinue'): {@link readBody} sends it once
 * it is about to read the body, so that a request refused before (401, 413
 * on its declared length, 415) costs the client no upload. Node closes the
 * connection after an answer that went without it (the client may still
 * send the body).
 */
export function awaitsContinue(res: ServerResponse): void {
  continueAwaited.add(res);
}

/**
 * The bytes of a body that must arrive within each `idleMs` at `minRate`
 * bytes a second: at least 1, so that a body that sends nothing is given up
 * whatever the rate.
 */
export function bodyBytesDue(minRate: number, idleMs: number): number {
  return Math.max(1, Math.ceil((minRate * idleMs) / 1000));
}

/**
 * Reads a request body of at most `limit` decoded bytes (identity, gzip,
 * deflate or br), charging its bytes to `budget` as they arrive and giving
 * them all back once it settles: when it resolves with the body (the caller
 * parses it at once, and what it keeps from then on is bounded elsewhere,
 * e.g. by the log's queue), or rejects. So a body held after it has arrived,
 * behind an answer the client does not read, holds nothing; the response's
 * close or finish gives back what a body abandoned midway holds (see
 * BodyBudget). A compressed body is held, and charged, as the compressed
 * bytes it sent while it arrives, and decoded once it is all there: each
 * compressed chunk stays charged until the decoder has consumed it, and
 * every decoded byte is charged as it comes, so the charge is never less
 * than what is held; it holds no more of the budget than it paid for on
 * the wire while it may be slow. Rejects with a LogError, without waiting
 * for the rest of the body:
 * - MALFORMED_REQUEST for a Transfer-Encoding other than chunked alone
 *   (node takes off only that one);
 * - UNSUPPORTED_MEDIA_TYPE for another content coding;
 * - `tooLarge` for a declared length over `limit`, or over the budget's
 *   whole limit (before reading), or once more than that has arrived, or
 *   has been decoded (so a small bomb cannot expand past it; its compressed
 *   bytes may be a little more, as much as stored deflate blocks need), or
 *   once what it decoded to so far and its compressed bytes not yet decoded
 *   are more than the whole budget (it could never fit);
 * - QUEUE_FULL (Retry-After 1) for a declared length beyond what the budget
 *   has free (before reading), or once the budget cannot take the next
 *   bytes, arrived or decoded;
 * - MALFORMED_REQUEST for a body that does not decode or is cut short;
 *   SHUTTING_DOWN when the server cut it short as it stopped (see cutAtStop);
 * - REQUEST_TIMEOUT when fewer than `minRate` bytes a second (as sent:
 *   compressed ones count as such) arrived over `idleMs` of the server
 *   reading the connection (see {@link BODY_IDLE_MS}), or the whole body
 *   did not arrive within `maxMs`; the connection is then closed after the
 *   answer.
 * A client that waits for 100 Continue ({@link awaitsContinue}) is sent it
 * once none of these refusals, judged before the body arrives, applies.
 * A refused upload is answered at once; the rest of its body is read and
 * dropped as it comes (so the connection stays usable, and the client reads
 * the answer rather than a reset), never waited for before answering.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, options: ReadBodyOptions): Promise<Uint8Array> {
  const { limit, tooLarge, budget, idleMs = BODY_IDLE_MS, minRate = BODY_MIN_RATE, maxMs = BODY_MAX_MS } = options;
  const minProgress = bodyBytesDue(minRate, idleMs);
  return new Promise((resolve, reject) => {
    const coding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    const makeDecoder = coding === 'identity' ? undefined : DECODERS[coding];
    const hold = budget.hold();
    // Settling gives the hold back; this is for a body abandoned midway.
    res.once('close', hold.release);
    res.once('finish', hold.release);
    let chunks: Buffer[] = [];
    let received = 0;
    let progress = 0; // bytes since the stall timer last started again
    let settled = false;
    let decoder: Readable | undefined;
    // A body past the whole budget could never be held: that is "too
    // large" for this server, not "busy, retry shortly".
    const most = Math.min(limit, budget.limit);
    // Compressed data can be a little longer than what it decodes to (a
    // stored deflate block adds 5 bytes to each 65,535, gzip 18 in all),
    // but never more than the budget could hold while it arrives.
    const wireMost = coding === 'identity' ? most : Math.min(budget.limit, most + Math.ceil(most / 4096) + 1024);
    const bound = () => (most < limit ? `this server holds at most ${most} bytes of request bodies at once` : `at most ${limit} are allowed`);
    /** Why `what` (more bytes than wireMost, as sent) is too large. */
    const overWire = (what: string): LogError =>
      new LogError(tooLarge, coding === 'identity' ? `${what}${most < limit ? `; ${bound()}` : ''}` : `${what} of ${coding} data; no body of at most ${most} bytes needs that many`);

    /** Settles: the timers stop, and the whole hold is given back. */
    const settle = (): void => {
      settled = true;
      clearTimeout(stall);
      clearTimeout(overdue);
      socket?.removeListener('resume', onResume);
      hold.release();
    };
    const fail = (error: LogError): void => {
      if (settled) return;
      settle();
      chunks.length = 0; // the listeners outlive this answer while the rest is dropped
      req.removeListener('data', onData);
      decoder?.destroy();
      req.resume(); // drop the rest of the body as it arrives
      reject(error);
    };
    const giveUp = (why: string): void => {
      // Whatever the client sends later is not worth reading on this connection.
      if (!res.headersSent) res.setHeader('Connection', 'close');
      fail(new LogError('REQUEST_TIMEOUT', `${why}; it was given up`));
    };
    const onData = (chunk: Buffer): void => {
      if (received + chunk.length > wireMost) return fail(overWire(`the request body holds more than ${wireMost} bytes`));
      if (!hold.tryAdd(chunk.length)) return fail(busy());
      chunks.push(chunk);
      received += chunk.length;
      progress += chunk.length;
      if (progress >= minProgress) newSpan();
    };
    // Time the server does not read the connection is not the client's: a
    // span that ends while its socket is paused starts again, and so does one
    // when reading starts again (the client then has a whole span).
    const socket = req.socket as Socket | null;
    const newSpan = (): void => {
      progress = 0;
      stall.refresh();
    };
    const onResume = (): void => {
      if (!settled) newSpan();
    };
    const stall = setTimeout(() => {
      if (socket?.isPaused() === true) return newSpan();
      giveUp(minProgress <= 1 ? `no bytes of the request body arrived for ${idleMs / 1000} s` : `fewer than ${minProgress} bytes of the request body arrived in ${idleMs / 1000} s`);
    }, idleMs);
    socket?.on('resume', onResume);
    const overdue = setTimeout(() => giveUp(`the request body took more than ${maxMs / 1000} s to arrive`), maxMs);

    /**
     * Decodes the compressed body, all there now. The decoder holds each
     * compressed chunk until it has consumed it, and that chunk stays charged
     * until then; each decoded byte is charged as it comes. So the hold is
     * never less than what is held: what it decoded to so far plus the
     * compressed chunks not yet consumed.
     */
    const decode = (make: () => NodeJS.ReadWriteStream): void => {
      const wire = chunks;
      let held = received; // what the hold has: compressed bytes not yet consumed, and decoded ones
      chunks = [];
      received = 0;
      const d = make() as unknown as Readable & NodeJS.WritableStream;
      decoder = d;
      d.on('data', (chunk: Buffer) => {
        if (settled) return;
        if (received + chunk.length > most) return fail(new LogError(tooLarge, `the request body holds more than ${most} bytes decoded${most < limit ? `; ${bound()}` : ''}`));
        if (held + chunk.length > budget.limit) {
          return fail(new LogError(tooLarge, `the request body needs more than ${budget.limit} bytes while it is decoded (what it decoded to so far, and its ${coding} bytes not yet decoded); this server holds at most ${budget.limit} bytes of request bodies at once`));
        }
        if (!hold.tryAdd(chunk.length)) return fail(busy());
        held += chunk.length;
        chunks.push(chunk);
        received += chunk.length;
      });
      d.once('end', () => {
        if (settled) return;
        settle();
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
      });
      d.once('error', () => fail(new LogError('MALFORMED_REQUEST', `the request body is not valid ${coding} data`)));
      for (const chunk of wire) {
        // Called once the decoder has consumed the chunk (or is destroyed: a
        // settled hold gives nothing back).
        d.write(chunk, () => {
          if (settled) return;
          hold.giveBack(chunk.length);
          held -= chunk.length;
        });
      }
      wire.length = 0;
      d.end();
    };

    // Node takes only the chunked framing off a body: one sent in another
    // transfer coding as well (`gzip, chunked`) would be read still coded.
    const transfer = req.headers['transfer-encoding'];
    if (transfer !== undefined && transfer.trim().toLowerCase() !== 'chunked') {
      return fail(new LogError('MALFORMED_REQUEST', `unsupported Transfer-Encoding ${quote(transfer)}: send the body with a Content-Length, or chunked alone (a compressed body takes Content-Encoding)`));
    }
    if (coding !== 'identity' && makeDecoder === undefined) {
      return fail(new LogError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Encoding ${quote(coding)}: send gzip, deflate, br or none`));
    }
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined) {
      if (declared > wireMost) return fail(coding === 'identity' ? new LogError(tooLarge, `the request body declares ${declared} bytes; ${bound()}`) : overWire(`the request body declares ${declared} bytes`));
      if (declared > budget.available) return fail(busy());
    }
    if (continueAwaited.delete(res) && !res.headersSent) res.writeContinue();
    req.on('data', onData);
    req.once('end', () => {
      if (settled) return;
      clearTimeout(stall);
      clearTimeout(overdue);
      socket?.removeListener('resume', onResume);
      if (makeDecoder !== undefined) return decode(makeDecoder);
      settle();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    });
    // Cut short by the client, or by the server as it stopped (it answers nothing then, and logs that).
    const cutShort = (): LogError =>
      cutAtStop(req) ? new LogError('SHUTTING_DOWN', 'the server stopped before the request body arrived', { retryAfter: 5 }) : new LogError('MALFORMED_REQUEST', 'the request body was cut short');
    req.once('error', () => fail(cutShort()));
    req.once('close', () => {
      if (!req.complete) fail(cutShort());
    });
  });
}

function busy(): LogError {
  return new LogError('QUEUE_FULL', 'too many request bodies are being received; retry shortly', { retryAfter: 1 });
}
