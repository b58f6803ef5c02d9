import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { LogError } from '../log/errors.js';
import { answerAndClose } from './client-error.js';

/** A request handler as node:http calls it (an express app is one). */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Default {@link PipelineLimit} bound: the most requests of one connection
 * in progress at once. A pipelining client keeps a few requests in flight
 * (benchmarks commonly use depths up to 10; browsers and most HTTP libraries
 * send one at a time), and answers leave in order anyway (RFC 9112 §9.3.2),
 * so running more ahead saves a client little; each request in progress can
 * hold one whole answer in memory, so this is also how many answers one
 * connection can make the server hold (of the large ones, entry bundles and
 * get-entries, one: the others wait unread, see AnswerBudget), and how many
 * of its requests can wait for their turn there.
 */
export const MAX_REQUESTS_IN_PROGRESS = 16;

/**
 * Default {@link PipelineLimit} stall time: a connection with answers waiting
 * to be written that the kernel has taken none of for this long (up to a
 * quarter more: it is checked every quarter of it) may be closed, freeing
 * what its answers held. A minute lets a client through a long pause (a
 * laptop lid, a lost Wi-Fi link); node's own `server.timeout` would not do:
 * it counts reads as activity too, and sees no progress within one write,
 * so it would also cut a slow client that is reading a large answer.
 */
export const STALL_MS = 60_000;

/** Checks for stalled connections per stall time. */
const STALL_CHECKS = 4;

/**
 * The most bytes of an answer handed to the socket in one write by
 * {@link endInSlices}: the client's progress is seen once per slice.
 */
export const ANSWER_SLICE_BYTES = 64 * 1024;

/** Runs `check` every `ms` milliseconds until the function it returns is called. */
export type Every = (check: () => void, ms: number) => () => void;

const everyUnref: Every = (check, ms) => {
  const timer = setInterval(check, ms);
  timer.unref();
  return () => clearInterval(timer);
};

/** Per connection: its requests in progress, and whether it is past its bound. */
interface Connection {
  /** Requests handed on whose answer has not left (its response not closed). */
  inProgress: number;
  /** Reading is stopped by this limit (node may also stop it for its own reasons). */
  paused: boolean;
  /** A request was refused: the connection closes after that answer, and nothing more is parsed. */
  refusing: boolean;
  /** Bytes of answers the socket had handed to the kernel at the last check (-1 before the first). */
  written: number;
  /** Checks in a row that found answers waiting on the socket and none of them handed to the kernel since the last. */
  stalledChecks: number;
}

/**
 * Bounds the work and memory one connection can cause by pipelining
 * (RFC 9112 §9.3.2): node parses every request of what it reads at once (up
 * to 64 KiB: a thousand small requests) and, while their answers are not
 * ready, keeps reading, so a client that pipelines thousands of requests and
 * never reads the answers had every handler run at once and every answer
 * held in memory (gigabytes from 50 connections, and the server stalled for
 * seconds).
 *
 * It counts each connection's requests from their arrival until their
 * response closes, which is once its last byte is handed to the kernel (or
 * the connection is lost): so one connection makes the server hold at most
 * `max` answers. Once `max` are in progress it stops reading that
 * connection, and starts again when one is done. A request that arrives past
 * `max` anyway (in the same read) is not handled: {@link guard} answers it
 * 503 `QUEUE_FULL` with `Retry-After: 1` and `Connection: close`, after the
 * answers before it; the requests read after it on that connection get no
 * answer (the connection closes first, as that header says, and a client
 * sends them again: RFC 9112 §9.3.2). Nothing more is read from it until
 * that answer is written; then the server shuts its side, and what the
 * client still sends is read and thrown away, not parsed, until the
 * connection closes (closeGently, in client-error.ts): closed at once, the
 * connection would be reset, and the client could lose the answers before
 * the 503 (RFC 9112 §9.6).
 * Clients that send one request at a time, or keep at most `max` in flight,
 * are never refused.
 *
 * Nor can a connection hold its answers for ever by not reading them: one
 * with requests in progress and answer bytes waiting on its socket, none of
 * which the kernel took (the client reads nothing, and its receive window and
 * the server's send buffer are full) for `stallMs` (default
 * {@link STALL_MS}), is closed if `closeStalled` says so (the server: while
 * its answers hold part of AnswerBudget and keep others waiting: that bound
 * refuses answers, or another request of the same client waits for its
 * turn), which closes its responses and frees their answers. Progress is a
 * write the socket completed, so a large answer goes out in slices
 * ({@link endInSlices}); but the kernel lets a blocked write go on only once
 * a good part of the socket's send buffer has drained (on Linux up to about
 * 1.4 MiB), so a client reading slower than that per stall time is seen as
 * stalled: hence closing only where it keeps others from being served. A
 * connection whose answers are still being made (nothing waiting on the
 * socket), or that is idle between requests (node's keepAliveTimeout), is
 * not this check's business.
 *
 * Nor by reading them slowly, while others wait: at each stall check, a
 * connection with requests in progress is also closed if `closeOverdue` says
 * so, whatever the kernel took (the server: while its answers keep others
 * waiting, as above, and the oldest has been held longer than the stall time
 * plus its size at a slowest reading rate, AnswerBudget.heldTooLong), with
 * `onOverdue` told. By default none is.
 *
 * It sees every request (it listens to the server's 'request' event, so
 * attach it before anything else that does), whether the express app or the
 * fast routes answer it; {@link guard} wraps the handler that does.
 */
export class PipelineLimit {
  readonly #max: number;
  /** The answer to the first request past the bound. */
  readonly #refusal: LogError;
  /**
   * The open connections that have sent a request, until they close; the
   * stall check looks at those with requests in progress. Kept per
   * connection, not per request: a request costs the limit no more than its count.
   */
  readonly #connections = new Map<Socket, Connection>();
  /** Requests past the bound: true for the one to answer, false for the ones after it. */
  readonly #refused = new WeakMap<ServerResponse, boolean>();
  readonly #stallMs: number;
  readonly #every: Every;
  readonly #onStalled: ((socket: Socket) => void) | undefined;
  readonly #closeStalled: (socket: Socket) => boolean;
  readonly #onOverdue: ((socket: Socket) => void) | undefined;
  readonly #closeOverdue: (socket: Socket) => boolean;
  /** Stops the stall checks; undefined while they do not run (no connection open). */
  #stopChecks: (() => void) | undefined;

  /**
   * Counts the requests `server` receives; `max` (default
   * {@link MAX_REQUESTS_IN_PROGRESS}) is the bound per connection, `stallMs`
   * (default {@link STALL_MS}) how long a connection may leave its answers
   * unread; `every` runs the stall check (tests drive it by hand),
   * `closeStalled` says whether a stalled connection is to be closed (by
   * default every one is), and `onStalled` is told of each connection closed;
   * `closeOverdue` says whether a connection with requests in progress is to
   * be closed however it progresses (by default none is), and `onOverdue` is
   * told of each connection closed so.
   */
  constructor(
    server: Server,
    options: {
      max?: number;
      stallMs?: number;
      every?: Every;
      closeStalled?: (socket: Socket) => boolean;
      onStalled?: (socket: Socket) => void;
      closeOverdue?: (socket: Socket) => boolean;
      onOverdue?: (socket: Socket) => void;
    } = {},
  ) {
    const max = options.max ?? MAX_REQUESTS_IN_PROGRESS;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`PipelineLimit: max must be a positive integer, not ${max}`);
    const stallMs = options.stallMs ?? STALL_MS;
    if (!Number.isSafeInteger(stallMs) || stallMs < STALL_CHECKS) throw new RangeError(`PipelineLimit: stallMs must be an integer of at least ${STALL_CHECKS}, not ${stallMs}`);
    this.#max = max;
    this.#stallMs = stallMs;
    this.#every = options.every ?? everyUnref;
    this.#onStalled = options.onStalled;
    this.#closeStalled = options.closeStalled ?? (() => true);
    this.#onOverdue = options.onOverdue;
    this.#closeOverdue = options.closeOverdue ?? (() => false);
    this.#refusal = new LogError(
      'QUEUE_FULL',
      `too many requests in progress on this connection (at most ${max} pipelined); ` +
        'the connection is closed after this answer: send this request and the ones after it again',
      { retryAfter: 1 },
    );
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#arrived(req.socket, res));
  }

  /**
   * `handler`, except for the requests past the bound: the first of those on
   * a connection is answered 503 `QUEUE_FULL` with `Connection: close`, and
   * the ones after it are left unanswered (they are never sent: the
   * connection closes after that answer). `onRefused` is told of each one
   * answered so: `handler` never sees it, so neither do the request log and
   * metrics the app keeps.
   */
  guard(handler: RequestHandler, onRefused?: (req: IncomingMessage) => void): RequestHandler {
    return (req, res) => {
      const refused = this.#refused.get(res);
      if (refused === undefined) handler(req, res);
      else if (refused) {
        answerAndClose(res, this.#refusal);
        onRefused?.(req);
      }
    };
  }

  #arrived(socket: Socket, res: ServerResponse): void {
    let conn = this.#connections.get(socket);
    if (conn === undefined) {
      const created: Connection = { inProgress: 0, paused: false, refusing: false, written: -1, stalledChecks: 0 };
      conn = created;
      this.#connections.set(socket, created);
      socket.once('close', () => this.#connections.delete(socket));
      this.#stopChecks ??= this.#every(() => this.#checkStalls(), this.#stallMs / STALL_CHECKS);
      // Node starts reading again when an answer drains or a body is read;
      // while this limit holds the connection, it stops it again at once.
      // Once the server's side is shut, no answer is held any more: what is
      // read then is thrown away (closeGently, after a refusal).
      socket.on('resume', () => {
        if (created.paused && !socket.writableEnded) socket.pause();
      });
    }
    if (conn.refusing || conn.inProgress >= this.#max) {
      this.#refused.set(res, !conn.refusing);
      conn.refusing = true;
      pause(socket, conn);
      return;
    }
    conn.inProgress += 1;
    const counted = conn;
    res.once('close', () => {
      counted.inProgress -= 1;
      if (counted.paused && !counted.refusing && counted.inProgress < this.#max) {
        counted.paused = false;
        socket.resume();
      }
    });
    if (conn.inProgress >= this.#max) pause(socket, conn);
  }

  /** Runs while a connection is open (started by its first request), and stops once none is. */
  #checkStalls(): void {
    for (const [socket, conn] of this.#connections) {
      // What the socket has completed writing: bytesWritten also counts
      // what is queued or being written, which writableLength counts.
      const written = (socket.bytesWritten ?? 0) - socket.writableLength;
      if (conn.inProgress === 0 || socket.writableLength === 0 || written !== conn.written) {
        conn.written = written;
        conn.stalledChecks = 0;
      } else conn.stalledChecks += 1;
      if (conn.stalledChecks >= STALL_CHECKS && this.#closeStalled(socket)) this.#close(socket, this.#onStalled);
      else if (conn.inProgress > 0 && this.#closeOverdue(socket)) this.#close(socket, this.#onOverdue);
    }
    if (this.#connections.size === 0 && this.#stopChecks !== undefined) {
      this.#stopChecks();
      this.#stopChecks = undefined;
    }
  }

  /** Closes `socket` for the stall check (which forgets it at once), telling `told`. */
  #close(socket: Socket, told: ((socket: Socket) => void) | undefined): void {
    this.#connections.delete(socket);
    told?.(socket);
    socket.destroy();
  }
}

/**
 * Ends `res` (its head set, Content-Length included) with `body`, handed to
 * the socket {@link ANSWER_SLICE_BYTES} at a time, each once the one before
 * is written: so that the stall check of {@link PipelineLimit} sees a slow
 * client progress through a large answer, where one write would complete
 * only once the client had read nearly all of it.
 */
export function endInSlices(res: ServerResponse, body: Uint8Array, slice = ANSWER_SLICE_BYTES): void {
  let offset = 0;
  const next = () => {
    while (body.length - offset > slice) {
      const chunk = body.subarray(offset, offset + slice);
      offset += slice;
      if (!res.write(chunk)) {
        res.once('drain', next);
        return;
      }
    }
    res.end(body.subarray(offset));
  };
  // A client lost mid-answer never drains: the answer is ended all the same,
  // for what waits on its end (the request log and metrics) to see it.
  res.once('close', () => {
    if (res.writableEnded) return;
    res.off('drain', next);
    res.end();
  });
  next();
}

function pause(socket: Socket, conn: Connection): void {
  conn.paused = true;
  socket.pause();
}
