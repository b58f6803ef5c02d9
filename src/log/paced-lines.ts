import type { Logger } from './logger.js';

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
export function unrefTimer(run: () => void, ms: number): () => void {
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

/**
 * Events of a few kinds that a lasting condition brings one after another
 * (connections dropped at the cap, requests answered before the app), told
 * to the operator in lines a {@link LinePacer} paces: the first at once, as
 * a warning, then at most one per interval with the events since the last
 * line (the fields `fields` makes of their counts by kind), the `seconds`
 * since it and the latest client's address (`remote`). Each event is also
 * counted by the function given to {@link countWith}, those seen before it
 * was given (the metrics are made once the log opens) then all at once.
 */
export class PacedTally<K extends string> {
  readonly #logger: Logger;
  readonly #message: string;
  readonly #fields: (pending: ReadonlyMap<K, number>) => Record<string, unknown>;
  readonly #pacer: LinePacer;
  /** Events not logged yet, by kind, and the latest one's client address. */
  #pending = new Map<K, number>();
  #remote: string | undefined;
  /** The count, once given; until then, what it is owed. */
  #count: ((kind: K, n: number) => void) | undefined;
  readonly #uncounted = new Map<K, number>();

  constructor(logger: Logger, message: string, fields: (pending: ReadonlyMap<K, number>) => Record<string, unknown>, defaultIntervalMs: number, options: PacedLineOptions = {}) {
    this.#logger = logger;
    this.#message = message;
    this.#fields = fields;
    this.#pacer = new LinePacer((seconds) => this.#write(seconds), defaultIntervalMs, options);
  }

  /** An event of `kind`; `remote` is its client's address, when known. */
  seen(kind: K, remote?: string): void {
    if (this.#count === undefined) this.#uncounted.set(kind, (this.#uncounted.get(kind) ?? 0) + 1);
    else this.#count(kind, 1);
    this.#pending.set(kind, (this.#pending.get(kind) ?? 0) + 1);
    this.#remote = remote;
    this.#pacer.due();
  }

  /** Counts with `count` the events seen so far, and from now on each as it is seen. */
  countWith(count: (kind: K, n: number) => void): void {
    for (const [kind, n] of this.#uncounted) count(kind, n);
    this.#uncounted.clear();
    this.#count = count;
  }

  /** Logs the events not logged yet, now (the server is stopping, or their interval has passed). */
  flush(): void {
    this.#pacer.flush();
  }

  /** Logs the events not logged yet, if any, with the `seconds` since the last line; says whether it did. */
  #write(seconds: number | undefined): boolean {
    if (this.#pending.size === 0) return false;
    this.#logger.warn(this.#message, {
      ...this.#fields(this.#pending),
      ...(seconds === undefined ? {} : { seconds }),
      ...(this.#remote === undefined ? {} : { remote: this.#remote }),
    });
    this.#pending = new Map();
    this.#remote = undefined;
    return true;
  }
}
