import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { closeGently } from './client-error.js';
import type { RequestHandler } from './pipelining.js';

/**
 * Default {@link StopDrain} quiet time: how long, once a stop began, a
 * keep-alive connection must stay idle (no request, no byte of one) before
 * it is closed.
 */
export const QUIET_MS = 500;

/** Per connection: how many of its requests are not yet answered, and the newest of them. */
interface Connection {
  /** Its requests whose responses have not closed yet. */
  inProgress: number;
  /**
   * The newest of those, while any is: the only one whose answer may yet be
   * the connection's last. Node sends a connection's answers in the order of
   * its requests and closes each response once it is sent (or all of them
   * with the connection), so an older one never becomes the newest again.
   */
  newest: ServerResponse | undefined;
  /** An answer on it says `Connection: close`: what the client sends after it is not served. */
  closing: boolean;
  /** The quiet check waiting on it, if any. */
  quietCheck: NodeJS.Timeout | undefined;
  /** Since when (StopDrain's clock) it has had no request in progress, and how many bytes it had read then. */
  idleSince: number;
  readAtIdle: number;
  /**
   * The 'close' listener of each of its responses: one function per
   * connection, so that following a request makes no closure, Set entry or
   * once-wrapper of its own (node emits a response's 'close' once).
   */
  readonly answered: () => void;
}

/**
 * Empties a stopping server's keep-alive connections without cutting a
 * request short (README "Stop"). Node's own stop (`server.close()`) closes
 * the connections idle at that instant and leaves every other one to keep
 * its client sending: the answers in progress then, and those to requests
 * sent on them later, still say `Connection: keep-alive`, and the grace's
 * cut ended whatever the clients sent meanwhile, read or not. A client sees
 * EOF or a reset for a request that may or may not have been logged, and
 * Go's http.Transport and undici send a POST again only if they know it
 * was not sent. Under load the connections idle at the stop's instant are
 * those whose client just read an answer and is sending the next request.
 *
 * Once {@link begin} is called:
 * - every answer whose head is not yet written says `Connection: close`,
 *   and its connection closes once it is sent (closeGently: what the client
 *   sends after it is read and thrown away, not reset), unless a request
 *   pipelined behind it is already in, whose answer says it instead;
 * - a request on a connection whose answer already said `Connection: close`
 *   is not served (it never reaches `handler` of {@link guard}; the client
 *   sends it again, RFC 9112 §9.3.2), as node's parser does for a request
 *   after one that said `Connection: close` itself;
 * - a connection with no request in progress is closed once it has been
 *   quiet for `quietMs` (outright where nothing on it is unread or left to
 *   write, else with closeGently), no byte of a request arriving on it since
 *   its last answer (time before the stop counts: an idle pool's connections
 *   close at once); a request that arrives before is served, with
 *   `Connection: close`. A client that sends on it in the instant it closes
 *   still sees EOF or a reset (HTTP/1.1 has no way round that), a request
 *   never served.
 * What is still open when the grace ends is cut (connectionCutter).
 */
export class StopDrain {
  readonly #connections = new Map<Socket, Connection>();
  /** Requests that arrived on a connection after an answer that closes it. */
  readonly #unserved = new WeakSet<ServerResponse>();
  readonly #quietMs: number;
  readonly #now: () => number;
  #stopping = false;

  /**
   * Follows the connections of `server` and their requests; attach before
   * the server listens, and before the listener that answers requests. `quietMs` defaults to {@link QUIET_MS}; `now` is the
   * ms clock (default performance.now; tests set it).
   */
  constructor(server: Server, options: { quietMs?: number; now?: () => number } = {}) {
    this.#quietMs = options.quietMs ?? QUIET_MS;
    this.#now = options.now ?? (() => performance.now());
    server.on('connection', (socket: Socket) => {
      const conn: Connection = {
        inProgress: 0,
        newest: undefined,
        closing: false,
        quietCheck: undefined,
        idleSince: this.#now(),
        readAtIdle: 0,
        answered: () => this.#answered(socket, conn),
      };
      this.#connections.set(socket, conn);
      socket.once('close', () => {
        clearTimeout(conn.quietCheck);
        this.#connections.delete(socket);
      });
      if (this.#stopping) this.#waitQuiet(socket, conn);
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#arrived(req.socket, res));
  }

  /** `handler`, except for the requests that arrive, once the stop began, after an answer that closes their connection. */
  guard(handler: RequestHandler): RequestHandler {
    return (req, res) => {
      if (!this.#unserved.has(res)) handler(req, res);
    };
  }

  /**
   * The stop begins: from now on answers close their connections, and idle
   * connections close once quiet (see the class).
   */
  begin(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const [socket, conn] of this.#connections) {
      // Only the newest request in progress may yet have its answer say Connection: close (see #closeAfter).
      if (conn.newest !== undefined) this.#closeAfter(socket, conn, conn.newest);
      else this.#waitQuiet(socket, conn);
    }
  }

  #arrived(socket: Socket, res: ServerResponse): void {
    const conn = this.#connections.get(socket);
    if (conn === undefined) return;
    if (conn.closing) {
      this.#unserved.add(res);
      return;
    }
    if (conn.quietCheck !== undefined) {
      clearTimeout(conn.quietCheck);
      conn.quietCheck = undefined;
    }
    conn.inProgress += 1;
    conn.newest = res;
    res.on('close', conn.answered);
    if (this.#stopping) this.#closeAfter(socket, conn, res);
  }

  /** A response on `socket` closed: once none is in progress, the connection's quiet time starts. */
  #answered(socket: Socket, conn: Connection): void {
    if (--conn.inProgress > 0) return;
    conn.newest = undefined;
    conn.idleSince = this.#now();
    conn.readAtIdle = socket.bytesRead;
    if (this.#stopping && !conn.closing) this.#waitQuiet(socket, conn);
  }

  /**
   * Has `res`'s head say `Connection: close` when it is written, if it is
   * then the newest request on its connection (node writes a head whose
   * response is not to be kept alive so, and closes the connection once it
   * is sent, with destroySoon). A head already written is left as it is.
   */
  #closeAfter(socket: Socket, conn: Connection, res: ServerResponse): void {
    if (res.headersSent) return;
    const writeHead = res.writeHead;
    // Node writes a head through writeHead, also one made for the first write or end.
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      if (!res.headersSent && !conn.closing && conn.newest === res) {
        conn.closing = true;
        res.shouldKeepAlive = false;
        socket.destroySoon = () => closeGently(socket);
      }
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['writeHead'];
  }

  /**
   * Closes `socket` once it has been quiet for the quiet time: no request in
   * progress, no byte arrived since its last answer (or since it opened).
   * Quiet time before the stop counts: an idle pool's connections close at once.
   * Closed outright (destroy) where nothing is unread or left to write and
   * reading is not paused, else with closeGently.
   */
  #waitQuiet(socket: Socket, conn: Connection): void {
    clearTimeout(conn.quietCheck);
    conn.quietCheck = undefined;
    if (socket.destroyed || conn.inProgress > 0 || conn.closing) return;
    if (socket.bytesRead !== conn.readAtIdle) {
      // Part of a request came: wait for the rest (the grace bounds it), quiet counted from now.
      conn.idleSince = this.#now();
      conn.readAtIdle = socket.bytesRead;
    }
    const left = this.#quietMs - (this.#now() - conn.idleSince);
    if (left > 0) {
      conn.quietCheck = setTimeout(() => this.#waitQuiet(socket, conn), left);
      return;
    }
    conn.closing = true;
    // Nothing unread, nothing left to write, reading not held back: no answer
    // or request is in flight for a reset to drop, so it is closed outright, as
    // node closes an idle connection. closeGently would wait its linger (2 s)
    // for a client that keeps its side open, and hold the stop that long.
    if (socket.readableFlowing !== false && socket.readableLength === 0 && socket.writableLength === 0) socket.destroy();
    else closeGently(socket);
  }
}
