import type { Logger } from '../log/logger.js';
import { PacedTally, type PacedLineOptions } from '../log/paced-lines.js';

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
 * (cairn_connections_dropped_total, through countWith).
 */
export class DroppedConnectionLog extends PacedTally<'dropped'> {
  constructor(logger: Logger, maxConnections: number | undefined, options: PacedLineOptions = {}) {
    super(
      logger,
      DROPPED_CONNECTIONS_MESSAGE,
      (pending) => ({ dropped: pending.get('dropped'), ...(maxConnections === undefined ? {} : { maxConnections }) }),
      DROPPED_CONNECTION_LOG_INTERVAL_MS,
      options,
    );
  }

  /** A new connection was dropped (node's 'drop' event; `remote` is its client's address, when node knows it). */
  dropped(remote?: string): void {
    this.seen('dropped', remote);
  }
}
