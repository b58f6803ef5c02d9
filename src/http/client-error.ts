import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { SECURITY_HEADERS } from './headers.js';

/** The headers every answer carries, as raw lines. */
const HEAD_LINES = Object.entries(SECURITY_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');

/** Sockets whose request was answered while its body was still arriving. */
const answeredEarly = new WeakSet<Duplex>();

/**
 * Notes, when `req` is answered, that its body is still arriving (a body
 * refused early, or one a route had no use for): until it has, an error
 * on its connection, such as node's request timeout, has no request left to
 * answer, and {@link answerClientErrors} then only closes the connection
 * rather than write a second, unasked-for answer after the first.
 */
export function noteAnswered(req: IncomingMessage): void {
  if (req.complete) return;
  const socket = req.socket;
  answeredEarly.add(socket);
  const done = () => answeredEarly.delete(socket);
  req.once('end', done);
  req.once('close', done);
}

/**
 * Answers requests that are not valid HTTP/1.1 (a bad request line, header or
 * chunk framing, a negative or repeated Content-Length, headers over node's
 * 16 KiB) as every other error is answered (CONTRACT §3): 400 with a JSON
 * `{"error", "code"}` body, instead of node's bare 400 or 431; and a request
 * not received in full within node's `requestTimeout` or `headersTimeout`
 * 408 REQUEST_TIMEOUT. The connection is closed after it, since where the
 * next request would start is unknown.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || answering?.headersSent === true || answeredEarly.has(socket)) {
      socket.destroy();
      return;
    }
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const message = timedOut
      ? 'the request was not received in full in the time allowed'
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? 'the request headers are larger than 16 KiB'
        : 'the request is not valid HTTP/1.1';
    const body = JSON.stringify({ error: message, code: timedOut ? 'REQUEST_TIMEOUT' : 'MALFORMED_REQUEST' });
    socket.end(
      (timedOut ? 'HTTP/1.1 408 Request Timeout\r\n' : 'HTTP/1.1 400 Bad Request\r\n') +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Cache-Control: no-store\r\n' +
        HEAD_LINES +
        'Connection: close\r\n\r\n' +
        body,
    );
  });
}
