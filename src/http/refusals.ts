import type { Counter } from 'prom-client';
import type { LogErrorCode } from '../log/errors.js';
import type { Logger } from '../log/logger.js';
import { LinePacer, type PacedLineOptions } from '../log/paced-lines.js';

/** Default interval of {@link Refusals}' warnings: at most one line this often. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** The message of a {@link Refusals} warning. */
export const REFUSALS_MESSAGE =
  'requests were refused 503 QUEUE_FULL, the server being at one of its bounds (entries waiting for a round, request bodies being received, ' +
  'large answers held, requests in progress on one connection), or 429 RATE_LIMITED, a token being past its rate limit';

/** Of a request answered with an error: what a warning names it by. */
export interface RefusalDetail {
  /** The route's name, as in the request log. */
  readonly route?: string;
  /** The name of the request's token (never the token). */
  readonly token?: string;
  /** The client's address. */
  readonly remote?: string;
}

/**
 * Counts the requests answered with an error by code (the `code` of the
 * JSON body, in cairn_refusals_total{code}), and tells the operator of the
 * refusals that come in numbers when the server is overloaded or a client
 * is past its rate limit, which `--quiet` would otherwise hide (it drops the
 * request lines, the only other place they show): 503 QUEUE_FULL and 429
 * RATE_LIMITED. As the other paced lines (PacedTally): the first is logged at
 * once as a warning, then at most one line per interval with those since
 * the last: `refused` in all, `queue_full` and by route (`routes`; the
 * requests past the pipelining bound, which no route saw, as `pipelined`),
 * `rate_limited` and by token name (`tokens`), the `seconds` since the last
 * line and the latest client's address (`remote`). What a line holds is
 * bounded: routes and token names are a fixed set.
 */
export class Refusals {
  readonly #logger: Logger;
  readonly #counter: Counter<'code'> | undefined;
  readonly #pacer: LinePacer;
  /** Not logged yet: QUEUE_FULL, by route, and those of them past the pipelining bound; RATE_LIMITED, by token name; the latest client's address. */
  #queueFull = 0;
  #routes = new Map<string, number>();
  #pipelined = 0;
  #rateLimited = 0;
  #tokens = new Map<string, number>();
  #remote: string | undefined;

  constructor(logger: Logger, counter?: Counter<'code'>, options: PacedLineOptions = {}) {
    this.#logger = logger;
    this.#counter = counter;
    this.#pacer = new LinePacer((seconds) => this.#write(seconds), REFUSAL_LOG_INTERVAL_MS, options);
  }

  /** A request the app answered with the error `code`. */
  answered(code: LogErrorCode, detail: RefusalDetail = {}): void {
    this.#counter?.inc({ code });
    if (code === 'QUEUE_FULL') {
      this.#queueFull += 1;
      if (detail.route !== undefined) add(this.#routes, detail.route);
    } else if (code === 'RATE_LIMITED') {
      this.#rateLimited += 1;
      if (detail.token !== undefined) add(this.#tokens, detail.token);
    } else return;
    this.#remote = detail.remote;
    this.#pacer.due();
  }

  /** A request refused 503 QUEUE_FULL past the bound of requests in progress on its connection (PipelineLimit), outside the app. */
  pipelined(remote?: string): void {
    this.#counter?.inc({ code: 'QUEUE_FULL' });
    this.#queueFull += 1;
    this.#pipelined += 1;
    this.#remote = remote;
    this.#pacer.due();
  }

  /** Logs the refusals not logged yet, now (the server is stopping, or their interval has passed). */
  flush(): void {
    this.#pacer.flush();
  }

  #write(seconds: number | undefined): boolean {
    if (this.#queueFull + this.#rateLimited === 0) return false;
    this.#logger.warn(REFUSALS_MESSAGE, {
      refused: this.#queueFull + this.#rateLimited,
      ...(this.#queueFull === 0 ? {} : { queue_full: this.#queueFull }),
      ...(this.#routes.size === 0 ? {} : { routes: Object.fromEntries(this.#routes) }),
      ...(this.#pipelined === 0 ? {} : { pipelined: this.#pipelined }),
      ...(this.#rateLimited === 0 ? {} : { rate_limited: this.#rateLimited }),
      ...(this.#tokens.size === 0 ? {} : { tokens: Object.fromEntries(this.#tokens) }),
      ...(seconds === undefined ? {} : { seconds }),
      ...(this.#remote === undefined ? {} : { remote: this.#remote }),
    });
    this.#queueFull = 0;
    this.#routes = new Map();
    this.#pipelined = 0;
    this.#rateLimited = 0;
    this.#tokens = new Map();
    this.#remote = undefined;
    return true;
  }
}

function add(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
