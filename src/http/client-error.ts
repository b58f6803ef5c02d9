import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { LogError } from '../log/errors.js';
import { errorHeaders, HTTP_STATUS } from './errors.js';
import { SECURITY_HEADERS } from './headers.js';
import { quote } from './query.js';
import { awaitsContinue, BODY_IDLE_MS, BODY_MIN_RATE, bodyBytesDue } from './read-body.js';

/** The headers every answer carries, as raw lines. */
const HEAD_LINES = Object.entries(SECURITY_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');

/** Per socket, its request that was answered while its body was still arriving. */
const answeredEarly = new WeakMap<Duplex, IncomingMessage>();

/** The pace a body nothing reads must keep after its request is answered: as for a body a route reads (readBody). */
export interface DropPace {
  /** The span within which the body must bring `minRate` bytes a second (default {@link BODY_IDLE_MS}). */
  readonly idleMs?: number;
  /** Bytes a second the body must average over every `idleMs` (default {@link BODY_MIN_RATE}). */
  readonly minRate?: number;
}

/**
 * Notes, when `req` is answered, that its body is still arriving (a body
 * refused early, or one a route had no use for): until it has, an error
 * on its connection, such as node's request timeout, has no request left to
 * answer, and {@link answerClientErrors} then only closes the connection
 * rather than write a second, unasked-for answer after the first.
 *
 * The rest of such a body is read and dropped as it comes (node does that),
 * so that the connection stays usable; it is held to the pace a body a
 * route reads is held to (`pace`, see BODY_IDLE_MS of read-body.ts): once
 * fewer than `minRate` bytes a second came over `idleMs` of the server
 * reading the connection, the connection is closed (with
 * {@link closeGently}; its answer was written). Before, one byte every 20 s
 * kept it open until node's 5-minute request timeout.
 */
export function noteAnswered(req: IncomingMessage, pace: DropPace = {}): void {
  if (req.complete) return;
  const socket = req.socket;
  answeredEarly.set(socket, req);
  const stopWatch = watchDroppedBody(req, pace);
  const done = () => {
    stopWatch();
    socket.removeListener('close', done);
    if (answeredEarly.get(socket) === req) answeredEarly.delete(socket);
  };
  req.once('end', done);
  req.once('close', done);
  // A request already answered is no longer node's to close with its connection.
  socket.once('close', done);
}

/**
 * Closes the connection of `req`, whose body nothing reads any more, once
 * fewer than `minRate` bytes a second of it arrive over `idleMs`, as
 * readBody gives up a body a route reads: counted in the bytes read from
 * the connection (nothing else can arrive on it before the body's end), and
 * only while the server reads it (a span that ends while the socket is
 * paused, or when reading starts again, starts again). Returns what stops
 * the watch (the body has arrived).
 */
function watchDroppedBody(req: IncomingMessage, pace: DropPace): () => void {
  const { idleMs = BODY_IDLE_MS, minRate = BODY_MIN_RATE } = pace;
  const minProgress = bodyBytesDue(minRate, idleMs);
  const socket = req.socket as Socket;
  let from = socket.bytesRead;
  const newSpan = (): void => {
    from = socket.bytesRead;
    stall.refresh();
  };
  const stall = setTimeout(() => {
    if (req.complete || socket.destroyed) return;
    if (socket.isPaused() || socket.bytesRead - from >= minProgress) return newSpan();
    closeGently(socket);
  }, idleMs);
  stall.unref();
  const onResume = (): void => newSpan();
  socket.on('resume', onResume);
  return () => {
    clearTimeout(stall);
    socket.removeListener('resume', onResume);
  };
}

/**
 * Whether the request of `socket` answered early is still arriving. Its
 * `complete` is what counts, not its 'end' event: the parser marks it
 * complete at once, but 'end' comes a tick later, so an error in the next
 * request, read in the same chunk as the last of the body, comes before it.
 * That request is a new one, owed its own answer.
 */
function stillArriving(socket: Duplex): boolean {
  return answeredEarly.get(socket)?.complete === false;
}

/**
 * Why a request was answered by {@link answerClientErrors}, as the `reason`
 * label of cairn_client_errors_total: a request that is not valid HTTP/1.1
 * (node's parser errors, HPE_*, but for bytes after a request that closes
 * the connection, which are not read, and for the body of a request already
 * answered; 400), one whose
 * headers are over node's 16 KiB (HPE_HEADER_OVERFLOW; 400), one not
 * received in full within node's
 * `headersTimeout` or `requestTimeout`, a connection that sent nothing among
 * them (ERR_HTTP_REQUEST_TIMEOUT, one code for both; 408), or another error
 * of the connection.
 */
export type ClientErrorReason = 'bad_request' | 'headers_too_large' | 'request_timeout' | 'other';

/** Every {@link ClientErrorReason}, in the order metrics list them. */
export const CLIENT_ERROR_REASONS: readonly ClientErrorReason[] = ['bad_request', 'headers_too_large', 'request_timeout', 'other'];

/** The {@link ClientErrorReason} of node's client error `err`. */
export function clientErrorReason(err: NodeJS.ErrnoException): ClientErrorReason {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'request_timeout';
  if (err.code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  if (err.code?.startsWith('HPE_') === true) return 'bad_request';
  return 'other';
}

/** Sockets whose client error is being answered: node's parser may report more errors on them meanwhile. */
const answeringError = new WeakSet<Duplex>();

/**
 * Answers requests that are not valid HTTP/1.1 (a bad request line, header or
 * chunk framing, a negative or repeated Content-Length, headers over node's
 * 16 KiB) as every other error is answered (CONTRACT §3): 400 with a JSON
 * `{"error", "code"}` body, instead of node's bare 400 or 431; and a request
 * not received in full within node's `requestTimeout` or `headersTimeout`
 * 408 REQUEST_TIMEOUT. The connection is closed after it (with
 * {@link closeGently}), since where the next request would start is unknown.
 *
 * The answer comes after the answers to the requests before it on the
 * connection (RFC 9112 §9.3.2: answers go in the order of the requests): a
 * bad request pipelined behind a good one waits until the good one is
 * answered. Written at once, it reached the client first, and the good one's
 * answer was lost (a logged entry's receipt among them). A request that is
 * itself still arriving (its body badly framed, or too slow) is answered at
 * once: its route waits for a body that will not come.
 *
 * None of these requests reaches the app, its request log or its metrics:
 * `onError` is told of each, once per connection, with its
 * {@link ClientErrorReason} and its client's address, when node knows it (a
 * connection the client reset, ECONNRESET, is no error of the request and
 * is not told; nor is a body broken off after the app answered its request
 * early, refused on its headers: that request is in the request log).
 */
export function answerClientErrors(server: Server, onError?: (reason: ClientErrorReason, remote: string | undefined) => void): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (answeringError.has(socket)) return;
    if (err.code === 'HPE_CLOSED_CONNECTION') {
      // Bytes after a request that closes the connection (`Connection:
      // close`, or HTTP/1.0 without keep-alive): no error of the client's,
      // and no request to answer (RFC 9112 §9.6). They are not read: the
      // connection closes once the answers before them are written.
      answeringError.add(socket);
      closeAfterAnswers(socket as Socket);
      return;
    }
    // A request answered before its body arrived (refused on its headers: 401, 413, 415, with or without
    // 100 Continue) is in the request log and metrics already; its client breaking off the body is no new error.
    const answered = stillArriving(socket);
    if (err.code !== 'ECONNRESET' && !answered) onError?.(clientErrorReason(err), (socket as Socket).remoteAddress);
    if (err.code === 'ECONNRESET' || !socket.writable || answered) {
      socket.destroy();
      return;
    }
    answeringError.add(socket);
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const message = timedOut
      ? 'the request was not received in full in the time allowed'
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? 'the request headers are larger than 16 KiB'
        : 'the request is not valid HTTP/1.1';
    const body = JSON.stringify({ error: message, code: timedOut ? 'REQUEST_TIMEOUT' : 'MALFORMED_REQUEST' });
    const text =
      (timedOut ? 'HTTP/1.1 408 Request Timeout\r\n' : 'HTTP/1.1 400 Bad Request\r\n') +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Cache-Control: no-store\r\n' +
      HEAD_LINES +
      'Connection: close\r\n\r\n' +
      body;
    const answer = () => {
      if (socket.destroyed || !socket.writable) return;
      const busy = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (busy !== null && busy !== undefined) {
        if (busy.req.complete) {
          // The answer of a request received in full: it goes first, then this
          // one. Written in full, it is no longer in the way, though node lets
          // it go of the connection only a turn later.
          if (!busy.writableFinished) {
            busy.once('close', answer);
            return;
          }
        } else if (busy.writableFinished) {
          // The request in error is the one answered (its route had no use for
          // its body): it has its answer, and is owed no second one.
          closeGently(socket as Socket);
          return;
        } else if (busy.headersSent) {
          // The request in error is the one being answered, and its answer has begun: nothing can follow it.
          socket.destroy();
          return;
        }
      }
      socket.write(text);
      closeGently(socket as Socket);
    };
    answer();
  });
}

/**
 * Closes `socket` with {@link closeGently} once the answers to the requests
 * read on it are written: node closes a connection after the answer to a
 * request that closes it with destroySoon, which here closes it gently
 * instead. A connection with no answer still to write is closed gently now,
 * and so is one node is already closing (its side shut, to be destroyed
 * once what was written is handed to the kernel).
 */
function closeAfterAnswers(socket: Socket): void {
  const busy = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (socket.writable && busy !== null && busy !== undefined) {
    socket.destroySoon = () => closeGently(socket);
    return;
  }
  // What node's destroySoon left to do once the answers are handed over.
  socket.removeListener('finish', socket.destroy);
  closeGently(socket);
}

/**
 * How long, at most, a connection closed after an answer is still read once
 * the server has shut its side (RFC 9112 §9.6): {@link closeGently}.
 */
export const LINGER_MS = 2000;

/** The most bytes {@link closeGently} reads and throws away before it closes the connection anyway. */
export const LINGER_MAX_BYTES = 1024 * 1024;

/**
 * Closes `socket` in stages, as RFC 9112 §9.6 asks of a server that closes a
 * connection the client may still be sending on: it shuts the server's side
 * once what was written has been handed to the kernel (the client reads every
 * answer, then the end of the stream), then reads what the client still sends
 * and throws it away, unparsed, and closes the connection once the client has
 * closed its side, after `ms` (default {@link LINGER_MS}), or once more than
 * `maxBytes` (default {@link LINGER_MAX_BYTES}) were thrown away, whichever
 * comes first.
 *
 * Closing at once instead, with requests the client had pipelined still
 * unread, makes the kernel reset the connection (and so does anything the
 * client sends after the close): the reset drops the answers still in the
 * server's send buffer, and may make the client's kernel drop those it has
 * not read yet, so the client loses answers the server sent, a receipt among
 * them.
 *
 * What node's HTTP server would read next is no request to answer, so its
 * parser stops reading the connection: the 'data' listener that parses is
 * removed, and adding one here makes node hand reading back from its parser
 * to the socket (as node does when it lets a connection go on CONNECT or
 * upgrade).
 */
export function closeGently(socket: Socket, limits: { ms?: number; maxBytes?: number } = {}): void {
  if (socket.destroyed) return;
  const { ms = LINGER_MS, maxBytes = LINGER_MAX_BYTES } = limits;
  const close = () => socket.destroy();
  const timer = setTimeout(close, ms);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.removeAllListeners('data');
  let discarded = 0;
  socket.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > maxBytes) close();
  });
  // Once the client has closed its side too, the socket closes itself (net
  // sockets destroy themselves when both sides are done).
  socket.end();
  // Node's parser read the connection in the socket's place, leaving the
  // socket's own read pending, and stopped reading when the connection was
  // paused: an empty push ends that pending read (Readable#push), so that
  // resuming starts reading again.
  socket.push('');
  socket.resume();
}

/**
 * Answers `res` outside the app, as the app answers errors (CONTRACT §3):
 * `error`'s status and `{"error", "code"}` body, the headers every answer
 * carries, `errorHeaders` and `extra`; and closes its connection after it,
 * and after the answers before it, with {@link closeGently}.
 */
export function answerAndClose(res: ServerResponse, error: LogError, extra: [string, string][] = []): void {
  // Node closes the connection after an answer that says `Connection: close` with destroySoon.
  const socket = res.req.socket;
  socket.destroySoon = () => closeGently(socket);
  const body = JSON.stringify({ error: error.message, code: error.code });
  const head: string[] = Object.entries(SECURITY_HEADERS).flat();
  for (const [name, value] of [...extra, ...errorHeaders(error)]) head.push(name, value);
  head.push('Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body)), 'Connection', 'close');
  res.writeHead(HTTP_STATUS[error.code], head);
  res.end(body);
}

/**
 * Answers `req` on `socket`, which node has let go as HTTP (CONNECT: its
 * parser and listeners are gone), once the answers to the
 * requests pipelined before it are written (RFC 9112 §9.3.2): `answer` gets
 * a response on the socket that closes the connection once it is written
 * (with {@link closeGently}; what the client sent after `req` is not read).
 */
function answerLetGo(req: IncomingMessage, socket: Socket, answer: (res: ServerResponse) => void): void {
  // Node's error listener is gone with its parser.
  socket.on('error', () => socket.destroy());
  const take = () => {
    if (socket.destroyed) return;
    // An answer to an earlier request is still being written; this one waits its turn.
    const busy = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (busy !== null && busy !== undefined) {
      busy.once('close', take);
      return;
    }
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    // Closed once the answer is written, which closes the response too.
    res.once('finish', () => closeGently(socket));
    answer(res);
  };
  take();
}

/**
 * Answers a CONNECT request (RFC 9110 §9.3.6: open a tunnel), then closes
 * its connection: node itself would close it without a word, for want of a
 * 'connect' listener, while every error is a JSON answer (CONTRACT §3).
 * Cairn is no proxy. A CONNECT to one of its paths goes to the server's
 * 'request' listeners like any other request, so the app answers it as it
 * answers every method a path has no route for: 405 METHOD_NOT_ALLOWED with
 * the path's `Allow`, or 404. A CONNECT to an authority (`host:443`, the
 * form proxies take), which names no resource of the app, is answered here:
 * 405 METHOD_NOT_ALLOWED with an empty `Allow` (RFC 9110 §10.2.1: nothing is
 * allowed on it). Answers to requests pipelined before it go first.
 */
export function answerConnect(server: Server): void {
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    answerLetGo(req, socket, (res) => {
      if (req.url?.startsWith('/') === true) {
        server.emit('request', req, res);
        return;
      }
      answerAndClose(res, new LogError('METHOD_NOT_ALLOWED', 'CONNECT is not allowed: this server is not a proxy'), [['Allow', '']]);
    });
  });
}

/**
 * Hands a request whose `Expect` node does not know (anything but
 * 100-continue) to the server's 'request' listeners like any other, for
 * the app to answer it 417 EXPECTATION_FAILED ({@link refusedOutright}) as
 * it answers every error, rather than node's bare 417. A request that
 * expects 100 Continue goes there too, without it: node sent it at once,
 * before anything looked at the request; it is sent only when its body is
 * about to be read (awaitsContinue of read-body.ts), and a request refused
 * before is answered without it, the client spared the upload. Node then
 * closes the connection (the client may send the body all the same): here
 * gently ({@link closeGently}).
 */
export function answerExpectations(server: Server): void {
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => server.emit('request', req, res));
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers['transfer-encoding'] === undefined && !(Number(req.headers['content-length'] ?? '0') > 0)) {
      // No body to wait for (a client that sends Expect with a GET): 100 Continue at once, as node
      // would, keeps its connection open for what it pipelined behind.
      res.writeContinue();
      server.emit('request', req, res);
      return;
    }
    const socket = req.socket as Socket;
    socket.destroySoon = () => closeGently(socket);
    awaitsContinue(res);
    server.emit('request', req, res);
  });
}

/** What node takes as an expectation of 100 Continue (its own test). */
const CONTINUE_EXPECTATION = /(?:^|\W)100-continue(?:$|\W)/i;

/**
 * The connections on which a request asked to switch protocols (see
 * {@link refusedOutright}): no request after it there is answered.
 */
const switchAsked = new WeakSet<object>();

/**
 * Whether `req` asks to switch protocols: `Upgrade:` with `Connection:
 * upgrade` (RFC 9110 §7.8), as `curl --http2` and Java's HttpClient send
 * `Upgrade: h2c` over plain http, a POST's body included.
 */
function asksToSwitch(req: IncomingMessage): boolean {
  return req.headers.upgrade !== undefined && /(?:^|,)[ \t]*upgrade[ \t]*(?:,|$)/i.test(req.headers.connection ?? '');
}

/**
 * Whether {@link refusedOutright} may have something to say of `req`, for
 * the fast routes to leave it to express: a missing Host, an Expect, a
 * request asking to switch protocols or one that came after such a request
 * on its connection.
 */
export function mayBeRefusedOutright(req: IncomingMessage): boolean {
  return req.headers.host === undefined || req.headers.expect !== undefined || req.headers.upgrade !== undefined || switchAsked.has(req.socket);
}

/**
 * The error to answer `req` with whatever it asks for, before anything else
 * looks at it; undefined for most. An HTTP/1.1 request without Host is 400
 * MALFORMED_REQUEST (RFC 9112 §3.2; the server is made with node's own
 * check off, whose answer is a bare 400); one whose `Expect` is not
 * 100-continue, which node hands on with {@link answerExpectations}, is 417
 * EXPECTATION_FAILED (RFC 9110 §10.1.1).
 *
 * A request asking to switch protocols is answered as one that does not
 * ask (the server may ignore Upgrade: Cairn speaks only HTTP/1.1), body and
 * all, as node reads it for want of an 'upgrade' listener; but node then
 * throws away what it had read after it, so a request pipelined behind it
 * is lost and one whose head was thrown away could have its body, arriving
 * later, read as a request of its own. So its answer closes the connection
 * (`res`: Connection: close, then {@link closeGently}), and any request
 * that comes after it there is 400 MALFORMED_REQUEST, never routed (and
 * never written: the answer before it closes the connection).
 */
export function refusedOutright(req: IncomingMessage, res: ServerResponse): LogError | undefined {
  const socket = req.socket as Socket;
  if (switchAsked.has(socket)) return new LogError('MALFORMED_REQUEST', 'a request came after one that asked to switch protocols (Upgrade) on the same connection, which then closes');
  if (asksToSwitch(req)) {
    switchAsked.add(socket);
    res.shouldKeepAlive = false;
    socket.destroySoon = () => closeGently(socket);
  }
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) return undefined;
  if (req.headers.host === undefined) return new LogError('MALFORMED_REQUEST', 'an HTTP/1.1 request must have a Host header');
  const expect = req.headers.expect;
  if (expect !== undefined && !CONTINUE_EXPECTATION.test(expect)) {
    return new LogError('EXPECTATION_FAILED', `unsupported Expect ${quote(expect)}: only 100-continue is supported`);
  }
  return undefined;
}
