/**
 * Default {@link ReadTurns} budget: the most milliseconds of large-answer
 * work run in one turn of the event loop while the log has writes waiting.
 * A single-entry add takes about six turns from its request to its answer
 * (body, queue, lookup, write, signature, answer), each of which otherwise
 * waited behind every slice that was ready: so an add waits about six
 * budgets more than it would with no readers.
 */
export const READ_BUDGET_MS = 2;

/**
 * Default {@link ReadTurns} slice: the bytes of entries one slice of a large
 * answer handles (encodes as base64 for get-entries). About 0.3 ms of work
 * on the 2 vCPUs measured; a 4 MiB get-entries answer is 16 slices.
 */
export const READ_SLICE_BYTES = 256 * 1024;

interface Slice {
  readonly run: () => void;
}

/**
 * Runs the synchronous work of building large answers (get-entries JSON) in
 * slices, each in a later turn of the event loop than the one that asked for
 * it, first come first served, so that no answer is built in one long turn
 * and the log's writes are not put behind reads: while `writesWaiting` says
 * so (entries queued for a round, a round under way), one turn runs slices
 * for at most `budgetMs` (at least one slice), and the rest wait for the
 * next turn, after the I/O that came in meanwhile (requests, a round's write
 * completing) has been handled; with no writes waiting, every slice ready
 * runs, and reads go as fast as before. A slice of work is what one call of
 * `run` does; `sliceBytes` tells the builders how much to put in one.
 */
export class ReadTurns {
  /** Bytes of entries a builder puts in one slice. */
  readonly sliceBytes: number;
  readonly #budgetMs: number;
  readonly #writesWaiting: () => boolean;
  readonly #now: () => number;
  readonly #schedule: (pump: () => void) => void;
  readonly #queue: Slice[] = [];
  #head = 0;
  #scheduled = false;
  #turns = 0;

  constructor(
    options: {
      writesWaiting?: () => boolean;
      budgetMs?: number;
      sliceBytes?: number;
      now?: () => number;
      /** Runs the pump in a later turn (default setImmediate: after the turn's I/O). */
      schedule?: (pump: () => void) => void;
    } = {},
  ) {
    const budgetMs = options.budgetMs ?? READ_BUDGET_MS;
    if (!(budgetMs >= 0)) throw new RangeError(`ReadTurns: budgetMs must be a non-negative number, got ${budgetMs}`);
    const sliceBytes = options.sliceBytes ?? READ_SLICE_BYTES;
    if (!Number.isSafeInteger(sliceBytes) || sliceBytes <= 0) throw new RangeError(`ReadTurns: sliceBytes must be a positive safe integer, got ${sliceBytes}`);
    this.#budgetMs = budgetMs;
    this.sliceBytes = sliceBytes;
    this.#writesWaiting = options.writesWaiting ?? (() => false);
    this.#now = options.now ?? (() => performance.now());
    this.#schedule = options.schedule ?? ((pump) => void setImmediate(pump));
  }

  /** Runs `slice` in its turn (see the class comment) and resolves to what it returns, or rejects with what it throws. */
  run<T>(slice: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        run: () => {
          try {
            resolve(slice());
          } catch (err) {
            reject(err);
          }
        },
      });
      if (!this.#scheduled) {
        this.#scheduled = true;
        this.#schedule(this.#pump);
      }
    });
  }

  /** Slices waiting for their turn (for tests). */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Turns in which slices ran (for tests). */
  get turns(): number {
    return this.#turns;
  }

  readonly #pump = (): void => {
    this.#scheduled = false;
    this.#turns++;
    // Only the slices waiting now: those asked for by the ones run here
    // (their continuations run after this turn) wait for the next turn.
    const end = this.#queue.length;
    const started = this.#now();
    while (this.#head < end) {
      this.#queue[this.#head++]!.run();
      if (this.#head < end && this.#writesWaiting() && this.#now() - started >= this.#budgetMs) break;
    }
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else {
      if (this.#head > 1024) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      this.#scheduled = true;
      this.#schedule(this.#pump);
    }
  };
}
