/** A structured logger: one JSON object per line. Injected everywhere; no global. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Writes JSON lines (`{"time","level","msg",...fields}`) to a sink, stderr by default. */
export function jsonLogger(write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const emit = (level: string, msg: string, fields?: Record<string, unknown>) =>
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
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
