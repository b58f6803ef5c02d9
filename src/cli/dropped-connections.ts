import type { Logger } from '../log/logger.js';
import { LinePacer, type PacedLineOptions } from '../log/paced-lines.js';

/** Default interval of {@link DroppedConnectionLog}: at most one line this often. */
export const DROPPED_CONNECTION_LOG_INTERVAL_MS = 10_000;

/** The message of a {@link DroppedConnectionLog} line. */
export const DROPPED_CONNECTIONS_MESSAGE =
  'new connections were dropped: the server holds the most it may hold open at once (what its open-file limit leaves beside the store); ' +
  'if these are clients rather than idle connections held open against it, raise the open-file limit (ulimit -n, or LimitNOFILE in systemd)';

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
  private readonly pacer: LinePacer;
  /** Drops not logged yet, and the latest one's client address. */
  private pending = 0;
  private remote: string | undefined;

  constructor(logger: Logger, maxConnections: number | undefined, options: PacedLineOptions = {}) {
    this.logger = logger;
    this.maxConnections = maxConnections;
    this.pacer = new LinePacer((seconds) => this.write(seconds), DROPPED_CONNECTION_LOG_INTERVAL_MS, options);
  }

  /** A new connection was dropped (node's 'drop' event; `remote` is its client's address, when node knows it). */
  dropped(remote?: string): void {
    this.pending += 1;
    this.remote = remote;
    this.pacer.due();
  }

  /** Logs the drops not logged yet, now (the server is stopping, or their interval has passed). */
  flush(): void {
    this.pacer.flush();
  }

  /** Logs the drops not logged yet, if any, with the `seconds` since the last line; says whether it did. */
  private write(seconds: number | undefined): boolean {
    if (this.pending === 0) return false;
    this.logger.warn(DROPPED_CONNECTIONS_MESSAGE, {
      dropped: this.pending,
      ...(seconds === undefined ? {} : { seconds }),
      ...(this.maxConnections === undefined ? {} : { maxConnections: this.maxConnections }),
      ...(this.remote === undefined ? {} : { remote: this.remote }),
    });
    this.pending = 0;
    this.remote = undefined;
    return true;
  }
}
