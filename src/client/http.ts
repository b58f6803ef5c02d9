/**
 * The client's HTTP transport: `fetch` (global or injected), the log's error
 * bodies (CONTRACT §3 `{"error", "code"}`) turned into ClientErrors, retries
 * of 503 answers after their `Retry-After` (RFC 9110 §10.2.3) and of GETs
 * whose connection broke, and a signal that stops it all at once.
 * Browser-safe: nothing here needs Node.
 */
import { ClientError, escapeText } from './errors.js';

/** The part of the Fetch API the client uses; the global `fetch` fits. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Told before each retry of an answer with a status in `retryStatuses` (503 by default). */
export interface RetryInfo {
  /** 1 for the first retry. */
  readonly attempt: number;
  /** The answer's HTTP status (503, or 429 when asked for). */
  readonly status: number;
  /** How long the client waits before it. */
  readonly delayMs: number;
  readonly url: string;
  /** The log's error code, e.g. QUEUE_FULL. */
  readonly serverCode: string | undefined;
}

/** How requests are sent: fetch, headers, timeout and the 503 retry policy (RFC 9110 §10.2.3 Retry-After). */
export interface TransportOptions {
  /** Defaults to the global `fetch`. */
  readonly fetch?: FetchLike;
  /** Sent with every request (for example an Authorization header). */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Per-request timeout, for all of one request: sending it, waiting for
   * its answer and reading that; default 30 s. A request with a body gets
   * longer with `uploadBytesPerSecond`.
   */
  readonly timeoutMs?: number;
  /**
   * The slowest upload allowed for: a request with a body of B bytes (a
   * string body counted by its length, its bytes when it is ASCII) times
   * out after `timeoutMs` plus the B / uploadBytesPerSecond seconds sending
   * it takes at that rate. Default none: `timeoutMs` alone, whatever the
   * body, so a large body over a slow link could never make it.
   */
  readonly uploadBytesPerSecond?: number;
  /**
   * How often one request is sent again after a 503 answer (or one of
   * `retryStatuses`) or, for a GET, a broken connection; default 5.
   */
  readonly maxRetries?: number;
  /**
   * The statuses retried after their `Retry-After`; default [503]. A caller
   * that sends the same request again when a rate limit allows adds 429
   * (RFC 6585 §4).
   */
  readonly retryStatuses?: readonly number[];
  /** The longest wait between retries, whatever `Retry-After` says; default 60 s. */
  readonly maxRetryDelayMs?: number;
  /**
   * The first wait before a retry that no `Retry-After` sets (an answer
   * without one, a broken connection), doubled at each retry after; default
   * 500 ms.
   */
  readonly retryBaseDelayMs?: number;
  /**
   * The most one request waits in all, over its retries; default no bound.
   * An answer asking for a longer wait than is left is not waited for: it
   * fails at once, saying so.
   */
  readonly maxRetryTotalMs?: number;
  /**
   * Waits `ms`, ending early (resolving or rejecting) when `signal` (the
   * transport's own) aborts; injectable for tests. One that ignores the
   * signal is not waited for after the abort.
   */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * Stops the transport: once it aborts, the requests in flight are aborted,
   * so are the waits before retries, and no request is sent; each rejects
   * with the signal's reason (an AbortError DOMException unless the one who
   * aborted gave another), not a ClientError, since the log said nothing.
   * The transport listens to it with one listener for its whole life, not
   * one per request, and never removes it: make one transport per signal's
   * life (as the commands do), not one per request on a long-lived signal,
   * which would keep every transport made.
   */
  readonly signal?: AbortSignal;
  /**
   * The largest answer body read, in bytes, whatever the request; a longer
   * one is refused with BAD_RESPONSE rather than held in memory. Default
   * 128 MiB: the largest answer CONTRACT §3 allows is get-entries of 1000
   * entries of 65,535 bytes, about 87 MB of JSON. Each request's own
   * `maxBytes` (what its endpoint can legitimately answer) is usually far
   * less, and the smaller of the two applies.
   */
  readonly maxResponseBytes?: number;
  /** The clock for HTTP-date `Retry-After` values in answers without a `Date` header (see parseRetryAfter); default Date.now. */
  readonly now?: () => number;
  /** Told before each retry of an answer with a status in `retryStatuses`; not of a GET sent again after its connection broke. */
  readonly onRetry?: (info: RetryInfo) => void;
}

/**
 * The Fetch API's cache modes (RequestInit.cache), written out: the DOM lib
 * names them RequestCache, which @types/node does not declare, so a
 * consumer's types without DOM could not read this module's declarations.
 */
export type CacheMode = 'default' | 'no-store' | 'reload' | 'no-cache' | 'force-cache' | 'only-if-cached';

/** One request: a path below the base URL, with an optional body. */
export interface RequestSpec {
  readonly method?: 'GET' | 'POST';
  /** Below the base URL, without a leading slash, e.g. `ct/v1/get-sth` or `tile/0/000`. */
  readonly path: string;
  readonly body?: Uint8Array | string;
  readonly contentType?: string;
  readonly accept?: string;
  /**
   * The most this request's answer can legitimately be, in bytes (for
   * example 64 KiB for a signed tree head); a longer answer is BAD_RESPONSE,
   * refused without reading the rest. The transport's `maxResponseBytes`
   * bounds it too.
   */
  readonly maxBytes?: number;
  /**
   * Stops this request alone, as the transport's own `signal` stops them all:
   * the request (or its wait before a retry) is aborted and rejects with the
   * signal's reason, not a ClientError. Listened to for the request's life
   * only, so a signal may outlive any number of requests.
   */
  readonly signal?: AbortSignal;
  /**
   * The Fetch API's cache mode for this request (RequestInit.cache); default
   * fetch's own. 'reload' asks the caches on the way for a fresh answer:
   * fetch bypasses any cache of its own and sends `Cache-Control: no-cache`
   * and `Pragma: no-cache` (Fetch §4.5), which a cache that honours them
   * takes to the origin (a CDN may be set to ignore them). Fetch adds those
   * headers itself, so in a browser they need no CORS preflight, which the
   * log's allows only for Authorization, Content-Type and Content-Encoding; a
   * fetch passed in that ignores the mode sends none, and one that refuses it
   * (rejects with a TypeError, as Cloudflare Workers' does for a mode it does
   * not implement) is asked once more without it. A network failure that
   * fetch reports as a TypeError (Node's "fetch failed") is one more try.
   */
  readonly cache?: CacheMode;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RETRIES = 5;
const DEFAULT_MAX_RETRY_DELAY_MS = 60_000;
const DEFAULT_RETRY_BASE_DELAY_MS = 500;
const DEFAULT_MAX_RESPONSE_BYTES = 128 * 2 ** 20;
/** Of an error answer, only this much is read: its message is all that is wanted. */
const ERROR_BODY_BYTES = 64 * 1024;

/**
 * The codes, of an error or one of its causes, that say a connection broke
 * once made: reset or closed by the other side (a keep-alive connection the
 * server closed as it was reused, say), before or during the answer, also
 * closed before the body reached its Content-Length (undici's
 * UND_ERR_RES_CONTENT_LENGTH_MISMATCH, for a Connection: close answer cut
 * short). A refused connection, an unknown host or a timeout is none of these.
 */
const BROKEN_CONNECTION_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH']);

/** Whether `err`, or one of its causes, says that the connection broke (BROKEN_CONNECTION_CODES). */
function brokenConnection(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && BROKEN_CONNECTION_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Waits `ms` unless `signal` aborts first, leaving no timer behind. */
function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Why a body was not read to its end. */
class TooLarge extends Error {}

/**
 * The body of `res`, refusing (TooLarge) one that declares or turns out to
 * be longer than `limit` bytes; the rest of a refused body is not read.
 */
async function readBody(res: Response, limit: number): Promise<Uint8Array> {
  // The length of an encoded (gzip) body says nothing of its decoded length,
  // which may be the smaller one: only the decoded bytes are counted then.
  const encoding = (res.headers.get('Content-Encoding') ?? 'identity').trim().toLowerCase();
  const declared = encoding === 'identity' || encoding === '' ? Number(res.headers.get('Content-Length') ?? Number.NaN) : Number.NaN;
  if (declared > limit) {
    await res.body?.cancel().catch(() => undefined);
    throw new TooLarge(`the answer declares ${declared} bytes, more than the ${limit} this client reads`);
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new TooLarge(`the answer is longer than the ${limit} bytes this client reads`);
    }
    parts.push(value);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Returns the wait in milliseconds that a `Retry-After` header value asks for
 * (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), or undefined when the
 * value is absent or not one of those forms. An HTTP-date (a proxy's; Cairn
 * sends seconds) is measured against the answer's own `Date` header (`date`)
 * where it has a valid one, else against `now`, this machine's clock: a
 * client whose clock is an hour off would otherwise not wait at all, or wait
 * an hour. A date not after that (a clock far behind the sender's) asks for
 * no wait the caller can trust: undefined, as for none. Dates in other forms
 * than IMF-fixdate are not read: a Retry-After so is none, a Date so is
 * replaced by `now`.
 */
export function parseRetryAfter(value: string | null | undefined, now: number, date?: string | null): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^[0-9]{1,9}$/.test(text)) return Number(text) * 1000;
  const until = httpDate(text);
  if (until === undefined) return undefined;
  const wait = until - (httpDate(date?.trim()) ?? now);
  return wait > 0 ? wait : undefined;
}

/**
 * The time (ms since the epoch) of an HTTP-date in the form every sender
 * must use (RFC 9110 §5.6.7, IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`),
 * else undefined. Not Date.parse alone, which takes almost anything (`a 5`
 * is a day in 2001) and reads a date without a zone in this machine's.
 */
function httpDate(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined || !/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/.test(text)) return undefined;
  const time = Date.parse(text);
  return Number.isNaN(time) ? undefined : time;
}

/**
 * Normalizes a base URL: http(s) only, no query or fragment, no trailing
 * slash, and no user name or password (RangeError, which does not repeat
 * the URL): fetch refuses to send a request to such a URL (WHATWG Fetch
 * Standard, the Request constructor), so every call would fail, and the URL would
 * carry the password into `baseUrl` and every error message. A log that
 * needs credentials takes them in a header (TransportOptions.headers).
 */
export function normalizeBaseUrl(baseUrl: string): string {
  if (typeof baseUrl !== 'string') throw new TypeError('baseUrl must be a string');
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    // Everything up to the last '@' may be a user name and password, however mistyped the rest (http//u:pw@h).
    throw new RangeError(`baseUrl is not a URL: ${JSON.stringify(baseUrl.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/is, '$1...@'))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`baseUrl must be http or https, got ${url.protocol}`);
  if (url.username !== '' || url.password !== '') {
    throw new RangeError('baseUrl must hold no user name or password (fetch refuses a URL with user:password@): for a log that needs credentials, pass them in options.headers (an Authorization header)');
  }
  if (url.search !== '' || url.hash !== '') throw new RangeError('baseUrl must have no query or fragment');
  return url.href.replace(/\/+$/, '');
}

/** Words for a server's TLS certificate that is not trusted here, given Node's own (`m`). */
function untrusted(m: string): string {
  return (
    `the server's TLS certificate is not trusted here (${m}): if a private certificate authority issued it (a proxy's own, say), ` +
    "give that authority's certificate, as a PEM file, in NODE_EXTRA_CA_CERTS; if a public one did, the server may not be sending its intermediate certificates"
  );
}

/**
 * Node's codes for a server's TLS certificate that fails verification, each
 * with words that name TLS and say what to do, given Node's own words (`m`).
 */
const CERTIFICATE_PROBLEMS: Readonly<Record<string, (m: string) => string>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: untrusted,
  UNABLE_TO_GET_ISSUER_CERT: untrusted,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: untrusted,
  SELF_SIGNED_CERT_IN_CHAIN: untrusted,
  CERT_UNTRUSTED: untrusted,
  DEPTH_ZERO_SELF_SIGNED_CERT: (m) => `the server's TLS certificate is self-signed, so not trusted here (${m}): to trust it, give it, as a PEM file, in NODE_EXTRA_CA_CERTS`,
  ERR_TLS_CERT_ALTNAME_INVALID: (m) => `the server's TLS certificate is not for the host in the URL (${m}): use a host name the certificate names`,
  CERT_HAS_EXPIRED: (m) => `the server's TLS certificate has expired (${m}), or this machine's clock is wrong`,
  CERT_NOT_YET_VALID: (m) => `the server's TLS certificate is not valid yet (${m}), or this machine's clock is wrong`,
};

/** One error's own words: its message, with its `code` (ECONNREFUSED, ENOTFOUND, ...) when the message lacks it. */
function ownWords(err: unknown): string {
  // Not `instanceof Error`: fetch's errors may come from another realm.
  if (typeof err !== 'object' || err === null || typeof (err as { message?: unknown }).message !== 'string') return err === undefined || err === null ? '' : String(err);
  let message = (err as { message: string }).message;
  // Node's AggregateError (one failure per address tried) may carry no message of its own.
  if (message === '' && Array.isArray((err as { errors?: unknown }).errors)) {
    message = [...new Set((err as { errors: unknown[] }).errors.map(ownWords))].filter((m) => m !== '').join('; ');
  }
  const code = (err as { code?: unknown }).code;
  // OpenSSL's words for an https:// URL of a server that speaks plain HTTP are of no use to whoever typed it.
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return `${code}: the server does not speak TLS: if it serves plain HTTP, use an http:// URL`;
  }
  message = message.trim();
  // OpenSSL's (or Node's) words for a certificate that fails say neither that TLS refused it nor what to do.
  const certificate = typeof code === 'string' ? CERTIFICATE_PROBLEMS[code] : undefined;
  if (certificate !== undefined) return `${code}: ${certificate(message)}`;
  if (typeof code !== 'string' || code === '' || message.includes(code)) return message;
  return message === '' ? code : `${code}: ${message}`;
}

/**
 * Why a request failed, for a NETWORK error: the error's message followed by
 * those of its causes. `fetch` says only "fetch failed" and keeps the reason
 * (a refused connection, an unknown host, a certificate) in `cause`.
 */
export function networkReason(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    const words = ownWords(current);
    if (words !== '' && !parts.some((p) => p.includes(words))) parts.push(words);
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
  return parts.length === 0 ? 'the request failed' : parts.join(': ');
}

/** Of an error body that is not the log's JSON, the most characters a message quotes. */
const QUOTED_BODY_CHARS = 200;

/** Of an HTML page, only this much is looked at for its words: its title is near its start. */
const HTML_SCAN_CHARS = 16 * 1024;

/** `text` with A to Z made lower case and nothing else changed, so that indexes in one are indexes in the other. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** `text` with HTML's character references (the common named ones, the numeric ones) read; any other left as it is. */
function readEntities(text: string): string {
  return text.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,4});/g, (whole, ref: string) => {
    if (!ref.startsWith('#')) return NAMED_ENTITIES[ref.toLowerCase()] ?? whole;
    const point = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return point > 0 && point <= 0x10ffff && !(point >= 0xd800 && point <= 0xdfff) ? String.fromCodePoint(point) : whole;
  });
}

/** The text of a piece of HTML: tags taken out, character references read, whitespace runs made one space. */
function htmlText(html: string): string {
  // [^<>]*, not [^>]*: each character is looked at once however many '<' there are without a '>'.
  return readEntities(html.replace(/<[^<>]*(?:>|$)/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * What an HTML page (a proxy's error page) says, in a few words: its
 * <title>, or when it has none (or an empty one) the text of the page,
 * without its comments, scripts and styles. Only its first HTML_SCAN_CHARS
 * are looked at, each character a bounded number of times.
 */
function htmlWords(page: string): string {
  const html = page.slice(0, HTML_SCAN_CHARS);
  const lower = asciiLower(html);
  const open = lower.search(/<title[\s>]/);
  const start = open < 0 ? -1 : lower.indexOf('>', open) + 1;
  if (start > 0) {
    const end = lower.indexOf('</title', start);
    const title = htmlText(html.slice(start, end < 0 ? undefined : end));
    if (title !== '') return title;
  }
  let shown = '';
  let at = 0;
  const hidden = /<!--|<script[\s>]|<style[\s>]/g;
  for (let m = hidden.exec(lower); m !== null; m = hidden.exec(lower)) {
    const close = m[0] === '<!--' ? '-->' : m[0].startsWith('<script') ? '</script' : '</style';
    shown += `${html.slice(at, m.index)} `;
    const end = lower.indexOf(close, m.index + m[0].length);
    // Past the comment's end, or past the '>' of </script ...> or </style ...>.
    const past = end < 0 ? -1 : close === '-->' ? end + close.length : lower.indexOf('>', end) + 1;
    at = past <= 0 ? html.length : past;
    hidden.lastIndex = at;
  }
  return htmlText(shown + html.slice(at));
}

/** Whether an error body is an HTML page: so typed, or (whatever its type) beginning as one. */
function isHtml(contentType: string | null, text: string): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'text/html' || type === 'application/xhtml+xml' || /^\s*<(?:!doctype\s+html|html)[\s>]/i.test(text.slice(0, 1024));
}

/**
 * The message and code of an error answer. The log's own is the contract's
 * `{"error", "code"}` JSON (CONTRACT §3): its words, escaped. Anything else
 * came from something in between (a proxy, a load balancer) or from a
 * server that is not the log: an HTML page is told by its title (or its
 * text), said to be not the log's; other text is quoted as it is, escaped;
 * each bounded to QUOTED_BODY_CHARS.
 */
async function errorBody(res: Response): Promise<{ message: string; code: string | undefined }> {
  let text = '';
  try {
    text = new TextDecoder().decode(await readBody(res, ERROR_BODY_BYTES));
  } catch {
    // Unreadable or too long: the status says enough.
  }
  try {
    const body = JSON.parse(text) as { error?: unknown; code?: unknown };
    // The log's words reach a terminal: escaped, so that they cannot move the cursor, erase or retitle it.
    if (typeof body.error === 'string') return { message: escapeText(body.error), code: typeof body.code === 'string' ? escapeText(body.code) : undefined };
  } catch {
    // Not the contract's error body (a proxy's page, say).
  }
  if (isHtml(res.headers.get('Content-Type'), text)) {
    const words = htmlWords(text);
    return { message: words === '' ? "an HTML page without words, not the log's" : `an HTML page, not the log's: ${escapeText(words, { maxLength: QUOTED_BODY_CHARS })}`, code: undefined };
  }
  return { message: escapeText(text.trim(), { maxLength: QUOTED_BODY_CHARS }), code: undefined };
}

/** Sends requests to one log; every answer that is not 2xx becomes a ClientError. */
export class HttpTransport {
  readonly baseUrl: string;
  readonly #fetch: FetchLike;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #timeoutMs: number;
  readonly #uploadBytesPerSecond: number | undefined;
  readonly #maxRetries: number;
  readonly #maxRetryDelayMs: number;
  readonly #maxRetryTotalMs: number;
  readonly #retryBaseDelayMs: number;
  readonly #retryStatuses: readonly number[];
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #signal: AbortSignal | undefined;
  /** One per request in flight and per wait before a retry: what the signal aborts. */
  readonly #stoppable = new Set<AbortController>();
  /**
   * Each request signal (RequestSpec.signal) with requests or waits under
   * way: what it aborts, and its one listener, however many requests share
   * the signal (one per request had readEntryRange's 12 at once trip node's
   * MaxListenersExceededWarning).
   */
  readonly #followed = new WeakMap<AbortSignal, { readonly stops: Set<AbortController>; readonly onAbort: () => void }>();
  readonly #now: () => number;
  readonly #onRetry: ((info: RetryInfo) => void) | undefined;
  readonly #maxResponseBytes: number;

  constructor(baseUrl: string, options: TransportOptions = {}) {
    this.baseUrl = normalizeBaseUrl(baseUrl);
    const f = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
    if (typeof f !== 'function') throw new TypeError('no fetch function: pass options.fetch');
    this.#fetch = f;
    this.#headers = options.headers ?? {};
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#uploadBytesPerSecond = options.uploadBytesPerSecond;
    this.#maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS;
    this.#maxRetryTotalMs = options.maxRetryTotalMs ?? Number.POSITIVE_INFINITY;
    this.#retryBaseDelayMs = options.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS;
    this.#retryStatuses = [...(options.retryStatuses ?? [503])];
    this.#sleep = options.sleep ?? defaultSleep;
    this.#signal = options.signal;
    const signal = this.#signal;
    signal?.addEventListener(
      'abort',
      () => {
        for (const c of this.#stoppable) c.abort(signal.reason);
      },
      { once: true },
    );
    this.#now = options.now ?? Date.now;
    this.#onRetry = options.onRetry;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    if (!Number.isSafeInteger(this.#maxResponseBytes) || this.#maxResponseBytes < 1) throw new RangeError('maxResponseBytes must be a positive safe integer');
    if (!Number.isSafeInteger(this.#maxRetries) || this.#maxRetries < 0) throw new RangeError('maxRetries must be a safe non-negative integer');
    if (!(this.#timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
    if (!(this.#retryBaseDelayMs >= 0 && this.#retryBaseDelayMs < Number.POSITIVE_INFINITY)) throw new RangeError('retryBaseDelayMs must be non-negative and finite');
    const rate = this.#uploadBytesPerSecond;
    if (rate !== undefined && !(rate > 0 && rate < Number.POSITIVE_INFINITY)) throw new RangeError('uploadBytesPerSecond must be positive and finite');
  }

  /** The timeout of a request with `body`: timeoutMs, plus its upload time at uploadBytesPerSecond. */
  #timeoutFor(body: Uint8Array | string | undefined): number {
    const rate = this.#uploadBytesPerSecond;
    if (body === undefined || rate === undefined) return this.#timeoutMs;
    return this.#timeoutMs + Math.ceil((body.length * 1000) / rate);
  }

  /** The absolute URL of `path`. */
  url(path: string): string {
    return `${this.baseUrl}/${path}`;
  }

  /**
   * Sends one request and resolves to its 2xx Response; a 503 (or a status in
   * `retryStatuses`) is retried up to `maxRetries` times after its
   * Retry-After (RFC 9110 §10.2.3; capped at `maxRetryDelayMs`; without
   * one, exponential from `retryBaseDelayMs`, 0.5 s by default), waiting at
   * most `maxRetryTotalMs` in all. A GET whose connection broke (reset or closed by the other side) is retried
   * too, within the same bounds, after the same exponential wait; a POST
   * never is, since the log may have taken it. Rejects with ClientError
   * NETWORK or HTTP_STATUS, or with the reason of the transport's `signal`
   * or of `spec.signal` (which no longer end the body once the Response is
   * handed over: the timeout still does; json() and bytes() read it under
   * the signals).
   */
  async request(spec: RequestSpec): Promise<Response> {
    return this.#send(spec, async (res) => res);
  }

  /** Has `own` abort `stop`, until the returned function is called. */
  #follow(own: AbortSignal | undefined, stop: AbortController): () => void {
    if (own === undefined) return () => undefined;
    let followed = this.#followed.get(own);
    if (followed === undefined) {
      const stops = new Set<AbortController>();
      const onAbort = () => {
        for (const s of stops) s.abort(own.reason);
      };
      followed = { stops, onAbort };
      this.#followed.set(own, followed);
      own.addEventListener('abort', onAbort, { once: true });
    }
    const { stops, onAbort } = followed;
    stops.add(stop);
    return () => {
      stops.delete(stop);
      if (stops.size > 0) return;
      own.removeEventListener('abort', onAbort);
      this.#followed.delete(own);
    };
  }

  /**
   * request(), with `use` applied to the 2xx answer: a GET whose answer
   * breaks off while `use` reads it (a connection reset in its body) is sent
   * again, as one whose connection broke before it was answered is.
   */
  async #send<T>(spec: RequestSpec, use: (res: Response) => Promise<T>): Promise<T> {
    const url = this.url(spec.path);
    const method = spec.method ?? 'GET';
    const own = spec.signal;
    const halt = () => {
      this.#signal?.throwIfAborted();
      own?.throwIfAborted();
    };
    let waited = 0;
    const timeoutMs = this.#timeoutFor(spec.body);
    for (let attempt = 0; ; attempt++) {
      halt();
      const headers: Record<string, string> = { ...this.#headers };
      if (spec.contentType !== undefined) headers['Content-Type'] = spec.contentType;
      if (spec.accept !== undefined) headers.Accept = spec.accept;
      const timeout = AbortSignal.timeout(timeoutMs);
      // A broken connection: a GET is sent again after the exponential wait, while retries and time are left.
      const againAfter = (err: unknown): number | undefined => {
        if (method !== 'GET' || attempt >= this.#maxRetries || !brokenConnection(err)) return undefined;
        const delayMs = Math.min(this.#maxRetryDelayMs, this.#retryBaseDelayMs * 2 ** attempt);
        return waited + delayMs <= this.#maxRetryTotalMs ? delayMs : undefined;
      };
      const retried = () => (attempt > 0 ? ` (after ${attempt} retries)` : '');
      // The signal reaches this request through a controller of its own,
      // dropped once the request is done: AbortSignal.any over the
      // long-lived signal itself would leave it holding every request's.
      const stop = new AbortController();
      if (this.#signal !== undefined) this.#stoppable.add(stop);
      const unfollow = this.#follow(own, stop);
      try {
        let res: Response;
        try {
          const init: RequestInit = { method, headers, signal: this.#signal === undefined && own === undefined ? timeout : AbortSignal.any([timeout, stop.signal]) };
          if (spec.body !== undefined) init.body = spec.body as BodyInit;
          if (spec.cache !== undefined) init.cache = spec.cache;
          try {
            res = await this.#fetch(url, init);
          } catch (err) {
            // A fetch that refuses the cache mode (Cloudflare Workers' throws a TypeError for one it does not
            // implement) is asked once more without it. Not `instanceof`: the error may come from another realm.
            // A network failure is a TypeError too in Node ("fetch failed"), but with its cause: it is tried
            // again as one, keeping the mode (a reload must not become a request a cache may answer).
            if (init.cache === undefined || typeof err !== 'object' || err === null || (err as { name?: unknown }).name !== 'TypeError') throw err;
            if ((err as { cause?: unknown }).cause !== undefined) throw err;
            halt();
            delete init.cache;
            res = await this.#fetch(url, init);
          }
        } catch (err) {
          halt();
          const delayMs = againAfter(err);
          if (delayMs !== undefined) {
            await this.#wait(delayMs, own);
            waited += delayMs;
            continue;
          }
          // Not `instanceof Error`: the DOMException may come from another realm (a test's vm context).
          const what = typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : networkReason(err);
          throw new ClientError('NETWORK', `${method} ${url}: ${what}${retried()}`, { url, cause: err });
        }
        if (res.ok) {
          try {
            return await use(res);
          } catch (err) {
            halt();
            const delayMs = againAfter(err);
            if (delayMs === undefined) {
              if (attempt > 0 && err instanceof ClientError && err.code === 'NETWORK') err.message += retried();
              throw err;
            }
            await this.#wait(delayMs, own);
            waited += delayMs;
            continue;
          }
        }
        const { message, code } = await errorBody(res);
        const waitMs = parseRetryAfter(res.headers.get('Retry-After'), this.#now(), res.headers.get('Date'));
        let tooLong = '';
        if (this.#retryStatuses.includes(res.status) && attempt < this.#maxRetries) {
          const asked = waitMs ?? this.#retryBaseDelayMs * 2 ** attempt;
          if (waited + asked <= this.#maxRetryTotalMs) {
            const delayMs = Math.min(this.#maxRetryDelayMs, asked);
            this.#onRetry?.({ attempt: attempt + 1, status: res.status, delayMs, url, serverCode: code });
            await this.#wait(delayMs, own);
            waited += delayMs;
            continue;
          }
          tooLong = ` (not retried: a wait of ${Math.ceil(asked / 1000)} s is more than the ${Math.floor((this.#maxRetryTotalMs - waited) / 1000)} s left of the ${Math.floor(this.#maxRetryTotalMs / 1000)} s this client waits for one request)`;
        }
        halt();
        throw new ClientError('HTTP_STATUS', `${method} ${url}: ${res.status}${code === undefined ? '' : ` ${code}`}: ${message}${retried()}${tooLong}`, {
          status: res.status,
          url,
          ...(code === undefined ? {} : { serverCode: code }),
          ...(waitMs === undefined ? {} : { retryAfter: Math.ceil(waitMs / 1000) }),
        });
      } finally {
        this.#stoppable.delete(stop);
        unfollow();
      }
    }
  }

  /**
   * Waits `ms` before a retry; rejects with the reason of the transport's
   * signal, or of the request's own `signal`, as soon as one aborts, whether
   * or not the sleep function heeds it.
   */
  async #wait(ms: number, own: AbortSignal | undefined): Promise<void> {
    if (this.#signal === undefined && own === undefined) return this.#sleep(ms);
    const halt = () => {
      this.#signal?.throwIfAborted();
      own?.throwIfAborted();
    };
    halt();
    const stop = new AbortController();
    if (this.#signal !== undefined) this.#stoppable.add(stop);
    const unfollow = this.#follow(own, stop);
    try {
      const aborted = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      await Promise.race([this.#sleep(ms, stop.signal), aborted]);
    } finally {
      this.#stoppable.delete(stop);
      unfollow();
    }
    halt();
  }

  /**
   * GETs or POSTs and parses a JSON answer; BAD_RESPONSE if it is not JSON
   * or longer than `spec.maxBytes` or maxResponseBytes (then unread past
   * that, and never parsed).
   */
  async json(spec: RequestSpec): Promise<unknown> {
    const limit = this.#limit(spec.maxBytes);
    const body = await this.#send({ accept: 'application/json', ...spec }, (res) => this.#read(res, spec.path, limit, spec.signal));
    const text = new TextDecoder().decode(body);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ClientError('BAD_RESPONSE', `${this.url(spec.path)}: the answer is not JSON`, { url: this.url(spec.path) });
    }
  }

  /**
   * GETs an answer as bytes (tiles and entry bundles; the checkpoint, to
   * decode it strictly); BAD_RESPONSE if longer than `maxBytes` or
   * maxResponseBytes. `signal` stops this request alone
   * (RequestSpec.signal). `typed`, when given, is told the answer's
   * Content-Type header ('' for none) before its body is read, for the
   * caller to name it if the body is not what it asked for: the media type
   * alone refuses nothing (an honest server may call a tile
   * binary/octet-stream, S3's default, or send the header twice, which fetch
   * joins), the body's form and authentication do. `cache` is the request's
   * cache mode (RequestSpec.cache): 'reload' for an answer fresh from the
   * log, past a cache that kept a bad one if it honours `no-cache`.
   */
  async bytes(path: string, accept = 'application/octet-stream', maxBytes?: number, signal?: AbortSignal, typed?: (contentType: string) => void, cache?: CacheMode): Promise<Uint8Array> {
    const limit = this.#limit(maxBytes);
    return this.#send({ path, accept, ...(signal === undefined ? {} : { signal }), ...(cache === undefined ? {} : { cache }) }, async (res) => {
      typed?.(res.headers.get('Content-Type') ?? '');
      return this.#read(res, path, limit, signal);
    });
  }

  /** The most an answer is read of: a request's own bound, within maxResponseBytes. */
  #limit(maxBytes: number | undefined): number {
    if (maxBytes === undefined) return this.#maxResponseBytes;
    if (typeof maxBytes !== 'number') throw new TypeError('maxBytes must be a number');
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new RangeError('maxBytes must be a positive safe integer');
    return Math.min(maxBytes, this.#maxResponseBytes);
  }

  async #read(res: Response, path: string, limit: number, own: AbortSignal | undefined): Promise<Uint8Array> {
    const url = this.url(path);
    try {
      return await readBody(res, limit);
    } catch (err) {
      if (err instanceof TooLarge) throw new ClientError('BAD_RESPONSE', `${url}: ${err.message}`, { url });
      // Stopped by the transport's signal or the request's own: its reason, as for a request.
      this.#signal?.throwIfAborted();
      own?.throwIfAborted();
      throw new ClientError('NETWORK', `${url}: reading the answer failed: ${networkReason(err)}`, { url, cause: err });
    }
  }
}
