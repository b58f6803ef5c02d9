import { CHECK_CLOCK_ADVICE, MAX_CLOCK_AHEAD_MS } from '../clock-limits.js';
import type { Logger } from './logger.js';
import { LinePacer, type PacedLineOptions } from './paced-lines.js';

/** Default interval of {@link ClockBehindLog}: while the clock stays behind, a warning at most this often. */
export const CLOCK_BEHIND_LOG_INTERVAL_MS = 10 * 60_000;

const ADVICE =
  `monitors (cairn monitor too) alarm \`timestamp\` on each tree head more than ${MAX_CLOCK_AHEAD_MS / 60_000} minutes ahead of their clock. ` +
  CHECK_CLOCK_ADVICE;

/** The warning while the clock is behind the latest tree head: by how much (`behindSeconds`), that head's date (`treeHead`). */
export const CLOCK_BEHIND_MESSAGE =
  "this machine's clock is behind the log's latest tree head (the clock was stepped back, or stands still): " +
  'the tree heads signed now are dated just after it, ahead of real time, and stay so until the clock passes it; ' +
  ADVICE;

/** The warning for times the clock was behind and caught up again before a line could tell it (lines are paced). */
export const CLOCK_WAS_BEHIND_MESSAGE =
  "this machine's clock was behind the log's latest tree head (stepped back) and has passed it since: the tree heads signed meanwhile were dated ahead of real time; " + ADVICE;

/** The line that ends a {@link CLOCK_BEHIND_MESSAGE} episode: how long it lasted (`seconds`), how many tree heads were dated ahead (`signed`). */
export const CLOCK_CAUGHT_UP_MESSAGE = "this machine's clock has passed the log's latest tree head: tree heads are dated by the clock again";

/** A time the clock is behind: since when (monotonic ms), the tree heads signed past it, and the latest one. */
interface Behind {
  since: number;
  /** Tree heads signed past the clock: in all, and since the last line. */
  signed: number;
  unsaid: number;
  behindMs: number;
  timestamp: number;
  /** A warning told of it. */
  told: boolean;
}

/**
 * Tells the operator of a log that dates its tree heads past a clock behind
 * them by a second or more (Log's clockBehind: the clock was stepped back, or
 * stands still), which would otherwise be seen only by monitors, once the
 * heads are 10 minutes ahead of their clock, and after a step of the clock
 * forward and back again (which dates every later head that far ahead until
 * the clock catches up) not at all: a warning at once, then at most one
 * per interval while it lasts, with how far behind the clock is; once a
 * tree head is dated by the clock again, one info line. Times the clock
 * was behind that end before their warning (the interval since the last
 * line had not passed) are told in one warning once it has.
 */
export class ClockBehindLog {
  readonly #logger: Logger;
  readonly #pacer: LinePacer;
  readonly #now: () => number;
  #behind: Behind | undefined;
  /** Times the clock was behind that ended untold since the last line: tree heads signed, the most behind. */
  #untold: { signed: number; behindMs: number } | undefined;

  constructor(logger: Logger, options: PacedLineOptions = {}) {
    this.#logger = logger;
    this.#now = options.now ?? (() => performance.now());
    this.#pacer = new LinePacer((seconds) => this.#write(seconds), CLOCK_BEHIND_LOG_INTERVAL_MS, options);
  }

  /** A tree head dated `timestamp` was signed with the clock `behindMs` behind the one before. */
  behind(info: { behindMs: number; timestamp: number }): void {
    const behind = (this.#behind ??= { since: this.#now(), signed: 0, unsaid: 0, behindMs: 0, timestamp: 0, told: false });
    behind.signed += 1;
    behind.unsaid += 1;
    behind.behindMs = info.behindMs;
    behind.timestamp = info.timestamp;
    this.#pacer.due();
  }

  /** A tree head was dated by the clock again. */
  caughtUp(): void {
    const behind = this.#behind;
    if (behind === undefined) return;
    this.#behind = undefined;
    if (behind.told) {
      this.#logger.info(CLOCK_CAUGHT_UP_MESSAGE, { seconds: Math.round(Math.max(0, this.#now() - behind.since) / 1000), signed: behind.signed });
      return;
    }
    const untold = (this.#untold ??= { signed: 0, behindMs: 0 });
    untold.signed += behind.signed;
    untold.behindMs = Math.max(untold.behindMs, behind.behindMs);
    this.#pacer.due();
  }

  /** Logs what is pending now (the server is stopping): nothing when every tree head signed past the clock was told of. */
  flush(): void {
    this.#pacer.flush();
  }

  /** Warns of the clock behind now, else of the times it was that ended untold, when a tree head signed past it was not told of; says whether it did. */
  #write(seconds: number | undefined): boolean {
    const since = seconds === undefined ? {} : { seconds };
    const behind = this.#behind;
    const untold = this.#untold;
    this.#untold = undefined;
    if (behind !== undefined && (behind.unsaid > 0 || untold !== undefined)) {
      this.#logger.warn(CLOCK_BEHIND_MESSAGE, { behindSeconds: Math.floor(behind.behindMs / 1000), treeHead: isoDate(behind.timestamp), signed: behind.unsaid + (untold?.signed ?? 0), ...since });
      behind.told = true;
      behind.unsaid = 0;
      return true;
    }
    if (untold === undefined) return false;
    this.#logger.warn(CLOCK_WAS_BEHIND_MESSAGE, { behindSeconds: Math.floor(untold.behindMs / 1000), signed: untold.signed, ...since });
    return true;
  }
}

/** `ms` since the epoch as an ISO date, or the number where it is none. */
export function isoDate(ms: number): string | number {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? ms : date.toISOString();
}
