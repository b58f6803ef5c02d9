import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { finished } from 'node:stream/promises';
import { HTTP_STATUS } from '../http/errors.js';
import { SECURITY_HEADERS } from '../http/headers.js';
import { LogError } from '../log/errors.js';

/** A request handler as node:http calls it (an express app is one). */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Holds the requests a server receives while it is still starting, then
 * hands them to the handler it gets once ready (CONTRACT §4 serve). The
 * server can so bind its port before it makes or opens its key and store: a
 * port already in use is found before anything is made on disk, and a client
 * that connects during the start is answered once the log is open, neither
 * refused nor dropped.
 */
export class StartupGate {
  readonly #held: { req: IncomingMessage; res: ServerResponse }[] = [];
  #handler: RequestHandler | undefined;

  /** Takes every request `server` receives; attach it before the server listens. */
  constructor(server: Server) {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.#handler === undefined) this.#held.push({ req, res });
      else this.#handler(req, res);
    });
  }

  /** Hands the held requests whose clients are still there, in the order they came, and every later one to `handler`. */
  open(handler: RequestHandler): void {
    this.#handler = handler;
    for (const { req, res } of this.#held.splice(0)) {
      // A client that left while waiting has nobody to answer, and its
      // request's end, which a body reader would wait for, has been missed.
      if (!res.destroyed) handler(req, res);
    }
  }

  /**
   * For a server that could not start: answers the held requests, and any
   * later one, as every error is answered (CONTRACT §3), 503 with
   * `{"error", "code": "SHUTTING_DOWN"}`, closing their connections.
   * Resolves once those answers are sent (or their clients have gone).
   */
  async refuse(): Promise<void> {
    const error = new LogError('SHUTTING_DOWN', 'the server could not start');
    const body = JSON.stringify({ error: error.message, code: error.code });
    this.#handler = (_req, res) => {
      res.writeHead(HTTP_STATUS[error.code], {
        ...SECURITY_HEADERS,
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        'Cache-Control': 'no-store',
        Connection: 'close',
      });
      res.end(body);
    };
    const held = this.#held.splice(0);
    for (const { req, res } of held) this.#handler(req, res);
    await Promise.all(held.map(({ res }) => finished(res).catch(() => undefined)));
  }
}
