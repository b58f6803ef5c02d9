import type { RoundProgress } from './log.js';
import type { Logger } from './logger.js';
import { LinePacer, unrefTimer, type PacedLineOptions, type Schedule } from './paced-lines.js';

/**
 * A round under way this long is warned of (ms): the store has not finished
 * its write (or its lookups), which takes milliseconds, and seconds for a
 * large batch on a slow disk (64 MiB at 8 MiB/s, a throttled cloud disk or
 * an SD card, takes 10 – 17 s with LevelDB's compactions).
 */
export const STALLED_ROUND_MS = 10_000;

/**
 * A round under way this long is taken for a stalled disk (ms), and /healthz
 * answers 503 while it lasts: far past what the largest round takes on a
 * slow disk that works, so that a readiness probe does not take a busy log
 * out of service.
 */
export const STALLED_HEALTH_MS = 60_000;

/** Default interval of {@link StalledRoundLog}: while one round stays stalled, a warning at most this often. */
export const STALLED_ROUND_LOG_INTERVAL_MS = 30_000;

/** How often {@link StalledRoundLog} looks at the round under way (ms). */
export const STALLED_ROUND_CHECK_MS = 1000;

/** The message of a {@link StalledRoundLog} warning while the server runs. */
export const STALLED_ROUND_MESSAGE =
  'a round has been under way for 10 s or more and the store has not finished it: is the disk slow (a large batch on a throttled disk) or stalled (a hung fsync; a frozen, failing or unreachable file system)? ' +
  'Its submitters wait for their answers, and new entries queue behind it (503 QUEUE_FULL once the queue is full); /healthz answers 503 once it has been under way for 60 s';

/** The message of a {@link StalledRoundLog} warning once the server is stopping. */
export const STALLED_STOP_MESSAGE =
  'the server is stopping and waits for a round that the store has not finished (a stalled disk?); ' +
  'another stop signal ends the process at once (the store stays whole, as after a crash)';

/** The message of the line that says a stalled round is over, how long it was under way (`seconds`) and how it ended (`outcome`). */
export const STALLED_ROUND_OVER_MESSAGE = 'the stalled round is over';

/**
 * `thresholdMs` (default {@link STALLED_ROUND_MS}) and `checkMs` (default
 * {@link STALLED_ROUND_CHECK_MS}), with the pacing options: injected for
 * tests. `now` must be the clock the log's rounds are timed on (the log's
 * `monotonic`, performance.now by default).
 */
export interface StalledRoundOptions extends PacedLineOptions {
  thresholdMs?: number;
  checkMs?: number;
}

/**
 * Tells the operator of a round that the store holds up (a stalled disk: a
 * hung fsync, a frozen file system), which would otherwise show only as
 * writes that never answer and a log that says nothing: once the oldest
 * round under way has been so for {@link STALLED_ROUND_MS}, a warning with
 * how long (`seconds`), what it waits for (`stage`: reading or writing),
 * the entries it holds and those queued behind it; then at most one per
 * interval while it stays; and once it is over, one info line saying how
 * long it was under way and how it ended. It looks at the round under way
 * once per check, on a timer: nothing per round or per entry.
 */
export class StalledRoundLog {
  readonly #logger: Logger;
  readonly #round: () => RoundProgress | undefined;
  readonly #queued: () => number;
  readonly #options: StalledRoundOptions;
  readonly #now: () => number;
  readonly #schedule: Schedule;
  readonly #thresholdMs: number;
  readonly #checkMs: number;
  /** The stalled round warned of (or due to be), until its end is told; and the pacer of its warnings. */
  #stalled: { round: RoundProgress; pacer: LinePacer } | undefined;
  #cancelCheck: (() => void) | undefined;
  #stopping = false;
  #stopped = false;

  /** `round` is the oldest round under way (Log.roundUnderWay), `queued` the entries waiting (Log.queueDepth). */
  constructor(logger: Logger, round: () => RoundProgress | undefined, queued: () => number, options: StalledRoundOptions = {}) {
    this.#logger = logger;
    this.#round = round;
    this.#queued = queued;
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#schedule = options.schedule ?? unrefTimer;
    this.#thresholdMs = options.thresholdMs ?? STALLED_ROUND_MS;
    this.#checkMs = options.checkMs ?? STALLED_ROUND_CHECK_MS;
    this.#arm();
  }

  /** Looks at the round under way: tells the end of the stalled one, warns of one stalled now (paced). */
  check(): void {
    this.#findStalled()?.pacer.due();
  }

  /** The server is stopping: a stalled round, which the stop waits for, is warned of at once (once), in words that say so. */
  stopping(): void {
    this.#stopping = true;
    this.#findStalled()?.pacer.flush();
  }

  /** The server has stopped: tells the end of a stalled round, if it came since the last check, and checks no more. */
  stop(): void {
    if (this.#stopped) return;
    this.check();
    this.#stopped = true;
    this.#cancelCheck?.();
    this.#cancelCheck = undefined;
  }

  /**
   * Tells the end of the stalled round, if it came; then the round stalled
   * now, with the pacer of its warnings (made for a round newly stalled),
   * or undefined.
   */
  #findStalled(): { round: RoundProgress; pacer: LinePacer } | undefined {
    const stalled = this.#stalled;
    if (stalled !== undefined && stalled.round.ended !== undefined) {
      this.#stalled = undefined;
      // Cancels its pending warning, which finds the round over and logs nothing.
      stalled.pacer.flush();
      const { at, outcome } = stalled.round.ended;
      this.#logger.info(STALLED_ROUND_OVER_MESSAGE, { seconds: roundTenths((at - stalled.round.since) / 1000), outcome, stage: stalled.round.stage });
    }
    const round = this.#round();
    if (round === undefined || round.ended !== undefined || this.#now() - round.since < this.#thresholdMs) return undefined;
    if (this.#stalled?.round !== round) {
      this.#stalled = { round, pacer: new LinePacer(() => this.#warn(round), STALLED_ROUND_LOG_INTERVAL_MS, this.#options) };
    }
    return this.#stalled;
  }

  #arm(): void {
    this.#cancelCheck = this.#schedule(() => {
      if (this.#stopped) return;
      this.check();
      this.#arm();
    }, this.#checkMs);
  }

  /** Warns of `round` if it is still under way; says whether it did. */
  #warn(round: RoundProgress): boolean {
    if (round.ended !== undefined) return false;
    this.#logger.warn(this.#stopping ? STALLED_STOP_MESSAGE : STALLED_ROUND_MESSAGE, {
      seconds: Math.floor(Math.max(0, this.#now() - round.since) / 1000),
      stage: round.stage,
      entries: round.entries,
      queued: this.#queued(),
    });
    return true;
  }
}

/** `seconds` to a tenth. */
function roundTenths(seconds: number): number {
  return Math.round(seconds * 10) / 10;
}
