/** Runs a function after ms and returns its cancel. */
export type Schedule = (run: () => void, ms: number) => () => void;

/**
 * `intervalMs` (at most one line this often), `now` (ms; default
 * performance.now, a monotonic clock: a step of the system clock must not
 * hold lines back, nor let them come closer than the interval) and
 * `schedule` (the default timer does not keep the process alive): injected
 * for tests.
 */
export interface PacedLineOptions {
  intervalMs?: number;
  now?: () => number;
  schedule?: Schedule;
}

/** Runs `run` after `ms` without keeping the process alive; returns its cancel. */
function unrefTimer(run: () => void, ms: number): () => void {
  const timer = setTimeout(run, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

/**
 * Paces a log line that a condition lasting a while (a broken disk, a full
 * connection cap) would otherwise write per event: the first at once, then
 * at most one per interval. `write(seconds)` logs what is pending, with the
 * seconds since the last line (none before the first), and says whether it
 * logged anything.
 */
export class LinePacer {
  readonly #write: (seconds: number | undefined) => boolean;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #schedule: Schedule;
  /** When the last line was logged. */
  #lastLine: number | undefined;
  #cancelTimer: (() => void) | undefined;

  constructor(write: (seconds: number | undefined) => boolean, defaultIntervalMs: number, options: PacedLineOptions = {}) {
    this.#write = write;
    this.#intervalMs = options.intervalMs ?? defaultIntervalMs;
    this.#now = options.now ?? (() => performance.now());
    this.#schedule = options.schedule ?? unrefTimer;
  }

  /**
   * Something is pending: logs it now if the interval since the last line
   * has passed, else once it has; never later than one interval from now,
   * even should an injected clock go back.
   */
  due(): void {
    const wait = this.#lastLine === undefined ? 0 : Math.min(this.#intervalMs, this.#lastLine + this.#intervalMs - this.#now());
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.#cancelTimer ??= this.#schedule(() => {
      this.#cancelTimer = undefined;
      this.flush();
    }, wait);
  }

  /** Logs what is pending now (the server is stopping, or the interval has passed). */
  flush(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    const now = this.#now();
    const seconds = this.#lastLine === undefined ? undefined : Math.max(0, Math.round((now - this.#lastLine) / 1000));
    if (this.#write(seconds)) this.#lastLine = now;
  }
}
