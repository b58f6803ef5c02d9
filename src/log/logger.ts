import type { Writable } from 'node:stream';

/** A structured logger: one JSON object per line. Injected everywhere; no global. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A {@link Logger} whose pending output can be waited for (what `serve` does before it exits). */
export interface FlushableLogger extends Logger {
  /**
   * Resolves true once every line this logger handed to its stream has been
   * written out (or the stream failed, so that nothing of it is pending),
   * false if that has not happened within `timeoutMs`: a reader that stopped
   * reading holds the rest, and a pending write keeps the process alive.
   */
  flush(timeoutMs: number): Promise<boolean>;
}

/** What {@link jsonLogger} writes to: a Writable such as `process.stderr`. */
export type LogStream = Pick<Writable, 'write' | 'on' | 'once' | 'writableLength' | 'writableNeedDrain'>;

/** Default bound on log output buffered for a stream that is not read: 1 MiB. */
export const MAX_BUFFERED_LOG_BYTES = 1024 * 1024;

/** The message of the warning that says how many lines were dropped while the log stream was not read. */
export const DROPPED_MESSAGE = 'log lines dropped while the log stream was not read';

const line = (level: string, msg: string, fields?: Record<string, unknown>) => `${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`;

/**
 * Writes JSON lines (`{"time","level","msg",...fields}`) to a sink:
 * `process.stderr` by default, or any Writable, or a function given each line.
 *
 * A Writable's output is bounded, and its failures never reach the caller
 * (stderr is often a pipe to a log shipper, which may stall or die):
 * - while the stream is not read and holds `maxBufferedBytes` (default
 *   {@link MAX_BUFFERED_LOG_BYTES}) or more, info lines are dropped and
 *   counted, and warnings and errors too once it holds twice that; once it
 *   drains, one warning ({@link DROPPED_MESSAGE}, field `dropped`) says how
 *   many were dropped;
 * - after the stream reports an error (EPIPE: the reader is gone) nothing
 *   more is written to it, and the error is not thrown: an 'error' listener
 *   is on the stream from the start, which also keeps other writers to it
 *   (`process.stderr.write` elsewhere) from crashing the process.
 */
export function jsonLogger(
  sink: LogStream | ((line: string) => void) = process.stderr,
  options: { maxBufferedBytes?: number } = {},
): FlushableLogger {
  if (typeof sink === 'function') {
    const emit = (level: string, msg: string, fields?: Record<string, unknown>) => sink(line(level, msg, fields));
    return {
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      flush: () => Promise.resolve(true),
    };
  }
  const stream = sink;
  const bound = options.maxBufferedBytes ?? MAX_BUFFERED_LOG_BYTES;
  if (!Number.isSafeInteger(bound) || bound < 1) throw new RangeError(`jsonLogger: maxBufferedBytes must be a positive integer, got ${bound}`);
  let failed = false;
  let dropped = 0;
  let awaitingDrain = false;
  /** Lines handed to the stream whose write has not completed. */
  let pending = 0;
  /** Waiting flush calls, told once nothing is pending. */
  const waiters = new Set<() => void>();
  const settled = () => pending === 0 || failed;
  const wake = () => {
    if (!settled()) return;
    for (const waiter of waiters) waiter();
    waiters.clear();
  };
  const written = (err?: Error | null) => {
    pending--;
    if (err) failed = true;
    wake();
  };
  const send = (text: string) => {
    pending++;
    stream.write(text, written);
  };
  stream.on('error', () => {
    failed = true;
    wake();
  });
  const drained = () => {
    awaitingDrain = false;
    if (failed || dropped === 0) return;
    const n = dropped;
    dropped = 0;
    send(line('warn', DROPPED_MESSAGE, { dropped: n }));
  };
  const emit = (level: string, limit: number, msg: string, fields?: Record<string, unknown>) => {
    if (failed) return;
    // writableNeedDrain: a write returned false, so 'drain' is sure to come.
    if (stream.writableNeedDrain && stream.writableLength >= limit) {
      dropped++;
      if (!awaitingDrain) {
        awaitingDrain = true;
        stream.once('drain', drained);
      }
      return;
    }
    send(line(level, msg, fields));
  };
  return {
    info: (m, f) => emit('info', bound, m, f),
    warn: (m, f) => emit('warn', 2 * bound, m, f),
    error: (m, f) => emit('error', 2 * bound, m, f),
    flush(timeoutMs) {
      if (settled()) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const waiter = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          resolve(false);
        }, timeoutMs);
        // The wait must not itself keep the process alive.
        timer.unref();
        waiters.add(waiter);
      });
    },
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** The message of the info line the HTTP layer logs for each request answered. */
export const REQUEST_MESSAGE = 'request';

/**
 * `logger` without its per-request lines (info lines of message
 * {@link REQUEST_MESSAGE}): what `serve --quiet` logs. Errors, warnings and
 * other info lines (a failing disk, and its recovery) still pass: quiet must
 * not hide why writes are refused.
 */
export function withoutRequestLines(logger: Logger): Logger {
  return {
    info: (m, f) => {
      if (m !== REQUEST_MESSAGE) logger.info(m, f);
    },
    warn: (m, f) => logger.warn(m, f),
    error: (m, f) => logger.error(m, f),
  };
}

/** How deep {@link errorFields} follows `cause`: far past any real chain, and a cycle still ends. */
const MAX_CAUSES = 8;

/** `message (CODE)` for one error of a chain; a non-Error as its string. */
function describeOne(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && code !== '' ? `${err.message} (${code})` : err.message;
}

/**
 * Log fields for an error: `error` its message, `code` its code when it has
 * a string one (`EFBIG`, `LEVEL_IO_ERROR`), and `cause` the chain of its
 * causes as `message (CODE)`, outermost first, when it has any: a store's
 * error often wraps the operating system's, which says what is wrong.
 */
export function errorFields(err: unknown): { error: string; code?: string; cause?: string[] } {
  const fields: { error: string; code?: string; cause?: string[] } = { error: err instanceof Error ? err.message : String(err) };
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (err instanceof Error && typeof code === 'string' && code !== '') fields.code = code;
  const causes: string[] = [];
  let at: unknown = err instanceof Error ? err.cause : undefined;
  while (at !== undefined && causes.length < MAX_CAUSES) {
    causes.push(describeOne(at));
    at = at instanceof Error ? at.cause : undefined;
  }
  if (causes.length > 0) fields.cause = causes;
  return fields;
}
