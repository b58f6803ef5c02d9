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
 * connection can make the server hold.
 */
export const MAX_REQUESTS_IN_PROGRESS = 16;

/** Per connection: its requests in progress, and whether it is past its bound. */
interface Connection {
  /** Requests handed on whose answer has not left (its response not closed). */
  inProgress: number;
  /** Reading is stopped by this limit (node may also stop it for its own reasons). */
  paused: boolean;
  /** A request was refused: the connection closes after that answer, and nothing more is parsed. */
  refusing: boolean;
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
 * It sees every request (it listens to the server's 'request' event, so
 * attach it before anything else that does), whether the express app or the
 * fast routes answer it; {@link guard} wraps the handler that does.
 */
export class PipelineLimit {
  readonly #max: number;
  /** The answer to the first request past the bound. */
  readonly #refusal: LogError;
  readonly #connections = new WeakMap<Socket, Connection>();
  /** Requests past the bound: true for the one to answer, false for the ones after it. */
  readonly #refused = new WeakMap<ServerResponse, boolean>();

  /** Counts the requests `server` receives; `max` (default {@link MAX_REQUESTS_IN_PROGRESS}) is the bound per connection. */
  constructor(server: Server, options: { max?: number } = {}) {
    const max = options.max ?? MAX_REQUESTS_IN_PROGRESS;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`PipelineLimit: max must be a positive integer, not ${max}`);
    this.#max = max;
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
   * connection closes after that answer).
   */
  guard(handler: RequestHandler): RequestHandler {
    return (req, res) => {
      const refused = this.#refused.get(res);
      if (refused === undefined) handler(req, res);
      else if (refused) answerAndClose(res, this.#refusal);
    };
  }

  #arrived(socket: Socket, res: ServerResponse): void {
    let conn = this.#connections.get(socket);
    if (conn === undefined) {
      const created: Connection = { inProgress: 0, paused: false, refusing: false };
      conn = created;
      this.#connections.set(socket, created);
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
}

function pause(socket: Socket, conn: Connection): void {
  conn.paused = true;
  socket.pause();
}
