import type { Logger } from '../log/logger.js';

/** Default interval of {@link DroppedConnectionLog}: at most one line this often. */
export const DROPPED_CONNECTION_LOG_INTERVAL_MS = 10_000;

/** The message of a {@link DroppedConnectionLog} line. */
export const DROPPED_CONNECTIONS_MESSAGE =
  'new connections were dropped: the server holds the most it may hold open at once (what its open-file limit leaves beside the store); ' +
  'if these are clients rather than idle connections held open against it, raise the open-file limit (ulimit -n, or LimitNOFILE in systemd)';

/** Runs `run` after `ms` without keeping the process alive; returns its cancel. */
function unrefTimer(run: () => void, ms: number): () => void {
  const timer = setTimeout(run, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

/**
 * Tells the operator that the server drops new connections because it holds
 * its most (node's server.maxConnections, set from the open-file limit), which
 * node does without a word: clients only see their connection closed. The
 * first drop is logged at once as a warning; after it at most one line per
 * interval, counting the drops since the previous line (`dropped`, over
 * `seconds`), with the limit (`maxConnections`) and the latest client's
 * address (`remote`). /metrics counts every drop
 * (cairn_connections_dropped_total).
 */
export class DroppedConnectionLog {
  private readonly logger: Logger;
  private readonly maxConnections: number | undefined;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly schedule: (run: () => void, ms: number) => () => void;
  /** When this logged its last line. */
  private lastLine: number | undefined;
  /** Drops not logged yet, and the latest one's client address. */
  private pending = 0;
  private remote: string | undefined;
  private cancelTimer: (() => void) | undefined;

  /**
   * `now` (ms; default performance.now, a monotonic clock) and `schedule`
   * (run a function after ms, returning its cancel; the default timer does
   * not keep the process alive) are injected for tests.
   */
  constructor(
    logger: Logger,
    maxConnections: number | undefined,
    options: { intervalMs?: number; now?: () => number; schedule?: (run: () => void, ms: number) => () => void } = {},
  ) {
    this.logger = logger;
    this.maxConnections = maxConnections;
    this.intervalMs = options.intervalMs ?? DROPPED_CONNECTION_LOG_INTERVAL_MS;
    this.now = options.now ?? (() => performance.now());
    this.schedule = options.schedule ?? unrefTimer;
  }

  /** A new connection was dropped (node's 'drop' event; `remote` is its client's address, when node knows it). */
  dropped(remote?: string): void {
    this.pending += 1;
    this.remote = remote;
    const wait = this.lastLine === undefined ? 0 : Math.min(this.intervalMs, this.lastLine + this.intervalMs - this.now());
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.cancelTimer ??= this.schedule(() => {
      this.cancelTimer = undefined;
      this.flush();
    }, wait);
  }

  /** Logs the drops not logged yet, now (the server is stopping, or their interval has passed). */
  flush(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    if (this.pending === 0) return;
    const now = this.now();
    this.logger.warn(DROPPED_CONNECTIONS_MESSAGE, {
      dropped: this.pending,
      ...(this.lastLine === undefined ? {} : { seconds: Math.max(0, Math.round((now - this.lastLine) / 1000)) }),
      ...(this.maxConnections === undefined ? {} : { maxConnections: this.maxConnections }),
      ...(this.remote === undefined ? {} : { remote: this.remote }),
    });
    this.pending = 0;
    this.remote = undefined;
    this.lastLine = now;
  }
}
