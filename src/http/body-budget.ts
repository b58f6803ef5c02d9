/**
 * A bound on the request body bytes the server holds at once (issue 6
 * "Overload"). An upload is charged the bytes it has sent as they arrive (a
 * compressed one: its compressed bytes while it arrives, then also the bytes
 * they decode to, each compressed chunk until it is decoded, see readBody),
 * and gives them all back once its body has been read and handed on, or
 * refused (and, for one abandoned midway, when its response closes). So an
 * upload that only claims a large length, and then sends nothing or
 * trickles, holds nothing beyond what it sent, and neither two idle
 * connections nor bodies held behind answers their clients never read can
 * lock every writer out. An upload whose declared length
 * does not fit in what is free is refused before a byte of it is read; one
 * whose next bytes do not fit is refused then. Either way the answer is 503
 * QUEUE_FULL, and many huge concurrent `/v1/batch` uploads cannot exhaust
 * memory.
 */
export class BodyBudget {
  /** Most bytes held at once. */
  readonly limit: number;
  private used = 0;
  private highest = 0;

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new RangeError(`BodyBudget: limit must be a positive safe integer, got ${limit}`);
    this.limit = limit;
  }

  /** Bytes held now. */
  get inUse(): number {
    return this.used;
  }

  /** Bytes free now. */
  get available(): number {
    return this.limit - this.used;
  }

  /** The most bytes ever held at once (for tests and metrics). */
  get peak(): number {
    return this.highest;
  }

  /**
   * A new, empty hold on the budget for one upload: `tryAdd(bytes)` takes
   * `bytes` more if they fit under the limit (and returns false, taking
   * nothing, if not); `giveBack(bytes)` returns `bytes` of what it took (a
   * RangeError for more than it holds); `release()` gives back everything it
   * took (calling it again does nothing, and a released hold takes nothing
   * more, nor gives anything back).
   */
  hold(): BodyHold {
    let held = 0;
    let released = false;
    return {
      tryAdd: (bytes: number): boolean => {
        if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`BodyBudget: bytes must be a non-negative safe integer, got ${bytes}`);
        if (released || this.used + bytes > this.limit) return false;
        this.used += bytes;
        held += bytes;
        this.highest = Math.max(this.highest, this.used);
        return true;
      },
      giveBack: (bytes: number): void => {
        if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`BodyBudget: bytes must be a non-negative safe integer, got ${bytes}`);
        if (released) return;
        if (bytes > held) throw new RangeError(`BodyBudget: cannot give back ${bytes} bytes of a hold of ${held}`);
        this.used -= bytes;
        held -= bytes;
      },
      release: (): void => {
        if (released) return;
        released = true;
        this.used -= held;
        held = 0;
      },
    };
  }
}

/** One upload's share of a {@link BodyBudget}. */
export interface BodyHold {
  tryAdd(bytes: number): boolean;
  giveBack(bytes: number): void;
  release(): void;
}
