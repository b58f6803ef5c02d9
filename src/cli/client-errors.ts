import type { Counter } from 'prom-client';
import type { ClientErrorReason } from '../http/client-error.js';
import type { Logger } from '../log/logger.js';
import { LinePacer, type PacedLineOptions } from '../log/paced-lines.js';

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
export class ClientErrorLog {
  private readonly logger: Logger;
  private readonly pacer: LinePacer;
  /** Requests not logged yet, per reason, and the latest one's client address. */
  private pending = new Map<ClientErrorReason, number>();
  private remote: string | undefined;
  /** The counter, once the metrics exist; until then, what it is owed. */
  private counter: Counter<'reason'> | undefined;
  private uncounted = new Map<ClientErrorReason, number>();

  constructor(logger: Logger, options: PacedLineOptions = {}) {
    this.logger = logger;
    this.pacer = new LinePacer((seconds) => this.write(seconds), CLIENT_ERROR_LOG_INTERVAL_MS, options);
  }

  /** A request was answered (or its connection closed) for `reason`; `remote` is its client's address, when node knows it. */
  seen(reason: ClientErrorReason, remote?: string): void {
    if (this.counter === undefined) this.uncounted.set(reason, (this.uncounted.get(reason) ?? 0) + 1);
    else this.counter.inc({ reason });
    this.pending.set(reason, (this.pending.get(reason) ?? 0) + 1);
    this.remote = remote;
    this.pacer.due();
  }

  /** Counts in `counter` the requests seen so far, and from now on each as it is seen. */
  countInto(counter: Counter<'reason'>): void {
    for (const [reason, n] of this.uncounted) counter.inc({ reason }, n);
    this.uncounted.clear();
    this.counter = counter;
  }

  /** Logs the requests not logged yet, now (the server is stopping, or their interval has passed). */
  flush(): void {
    this.pacer.flush();
  }

  /** Logs the requests not logged yet, if any, with the `seconds` since the last line; says whether it did. */
  private write(seconds: number | undefined): boolean {
    if (this.pending.size === 0) return false;
    let requests = 0;
    for (const n of this.pending.values()) requests += n;
    this.logger.warn(CLIENT_ERRORS_MESSAGE, {
      requests,
      reasons: Object.fromEntries(this.pending),
      ...(seconds === undefined ? {} : { seconds }),
      ...(this.remote === undefined ? {} : { remote: this.remote }),
    });
    this.pending = new Map();
    this.remote = undefined;
    return true;
  }
}
