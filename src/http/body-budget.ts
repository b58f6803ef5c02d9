/**
 * A bound on the request body bytes the server holds at once (issue 6
 * "Overload"): each upload reserves its declared length (or its route's
 * limit when it declares none) before a byte of it is read, and gives it back
 * when its response is done. An upload that does not fit is answered 503
 * QUEUE_FULL without reading its body, so many huge concurrent `/v1/batch`
 * uploads cannot exhaust memory.
 */
export class BodyBudget {
  /** Most bytes reserved at once. */
  readonly limit: number;
  private used = 0;
  private highest = 0;

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new RangeError(`BodyBudget: limit must be a positive safe integer, got ${limit}`);
    this.limit = limit;
  }

  /** Bytes reserved now. */
  get inUse(): number {
    return this.used;
  }

  /** The most bytes ever reserved at once (for tests and metrics). */
  get peak(): number {
    return this.highest;
  }

  /**
   * Reserves `bytes` if they fit under the limit and returns the function
   * that gives them back (calling it again does nothing); else undefined.
   */
  tryReserve(bytes: number): (() => void) | undefined {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`BodyBudget: bytes must be a non-negative safe integer, got ${bytes}`);
    if (this.used + bytes > this.limit) return undefined;
    this.used += bytes;
    this.highest = Math.max(this.highest, this.used);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
    };
  }
}
