import type { Counter } from 'prom-client';
import type { ClientErrorReason } from '../http/client-error.js';
import type { Logger } from '../log/logger.js';
import { PacedTally, type PacedLineOptions } from '../log/paced-lines.js';

/** Default interval of {@link ClientErrorLog}: at most one line this often. */
export const CLIENT_ERROR_LOG_INTERVAL_MS = 10_000;

/** The message of a {@link ClientErrorLog} line. */
export const CLIENT_ERRORS_MESSAGE =
  'requests that were not valid HTTP/1.1, or not received in full in the time allowed, were answered 400 or 408 and their connections closed; ' +
  'they are in neither the request log nor the request metrics. Many from one address may be a broken client, or one holding connections open against the server';

/**
 * Tells the operator of the requests answered outside the app by
 * answerClientErrors of client-error.ts (400 to what is not HTTP/1.1, 408 to
 * what is not received in time, a connection that sends nothing among them),
 * which the request log and the request metrics never see: a slow-request
 * attack or a broken client would otherwise go unseen. Each is counted in
 * cairn_client_errors_total{reason}, those before the log opens once it has
 * ({@link countInto}). The first is logged at once as a warning; after it at
 * most one line per interval, counting the requests since the previous line
 * (`requests`, over `seconds`, and per reason in `reasons`), with the latest
 * client's address (`remote`).
 */
export class ClientErrorLog extends PacedTally<ClientErrorReason> {
  constructor(logger: Logger, options: PacedLineOptions = {}) {
    super(
      logger,
      CLIENT_ERRORS_MESSAGE,
      (pending) => ({ requests: [...pending.values()].reduce((sum, n) => sum + n, 0), reasons: Object.fromEntries(pending) }),
      CLIENT_ERROR_LOG_INTERVAL_MS,
      options,
    );
  }

  /** Counts in `counter` the requests seen so far, and from now on each as it is seen. */
  countInto(counter: Counter<'reason'>): void {
    this.countWith((reason, n) => counter.inc({ reason }, n));
  }
}
