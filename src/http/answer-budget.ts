import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Default {@link AnswerBudget} bound: 64 MiB. An entry bundle of 256
 * entries of the largest size (65,535 bytes) is 16 MiB, so four of those fit
 * at once, and 256 bundles of 1 KiB entries; a client that reads what it asked
 * for holds its share only while the answer is being written out. With the
 * request bodies' bound (DEFAULT_MAX_INFLIGHT_BODY_BYTES, 128 MiB) this keeps
 * what clients can make the server hold at once under 200 MiB.
 */
export const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/**
 * Default {@link AnswerBudget} bound on the large answers being read from the
 * store at once (their size is known only once read, so they cannot be held
 * against the budget before): 4, as many as libuv has threads to read with,
 * so at most 64 MiB of entry bundles are being read and not yet counted.
 */
export const MAX_ANSWER_READS = 4;

/** One answer's share of an {@link AnswerBudget}. */
export interface AnswerHold {
  /** Gives back all but `bytes` of the share (an answer that became smaller, e.g. once compressed). */
  shrinkTo(bytes: number): void;
}

/**
 * A bound on the bytes of large answers (entry bundles, get-entries) the
 * server holds at once: from when the answer is read from the store until
 * its response closes, which is once its last byte is handed to the kernel,
 * or its connection is lost. Without it, a client that pipelines bundle
 * requests and never reads the answers makes the server hold each of them
 * (16 per connection, up to 16 MiB each: 270 MB a connection).
 *
 * An answer is held only if it fits in what is free, or if nothing is held
 * at all: so an answer larger than the whole bound is still served, alone.
 * A route asked for an answer that does not fit refuses it (503
 * QUEUE_FULL, retry) rather than hold it; {@link exhausted} lets it refuse
 * before reading anything.
 *
 * An answer is read within {@link reading}, which lets only `maxReads` read
 * at once (the others wait their turn): without it, requests arriving
 * together would all pass the check before any of them is held, and all be
 * read at once (64 pipelined bundle requests of 16 MiB: 1 GB read together
 * to be refused).
 */
export class AnswerBudget {
  /** Most bytes held at once (but see the class comment: one answer alone may be larger). */
  readonly limit: number;
  #used = 0;
  #highest = 0;
  /** Per connection, the releases of the shares of its answers: node does not close a pipelined response queued behind others when the connection is lost. */
  readonly #bySocket = new WeakMap<Socket, Set<() => void>>();
  readonly #maxReads: number;
  readonly #now: () => number;
  /** When (on the monotonic clock) an answer was last refused; -Infinity before the first. */
  #refusedAt = -Infinity;
  #reads = 0;
  /** Reads waiting for their turn, first come first served. */
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number = DEFAULT_MAX_ANSWER_BYTES, options: { maxReads?: number; now?: () => number } = {}) {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new RangeError(`AnswerBudget: limit must be a positive safe integer, got ${limit}`);
    const maxReads = options.maxReads ?? MAX_ANSWER_READS;
    if (!Number.isSafeInteger(maxReads) || maxReads <= 0) throw new RangeError(`AnswerBudget: maxReads must be a positive safe integer, got ${maxReads}`);
    this.limit = limit;
    this.#maxReads = maxReads;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Runs `read` once fewer than `maxReads` reads are running, and resolves
   * as it does: it is meant to read an answer and {@link hold} it, both before
   * the next read may start.
   */
  async reading<T>(read: () => Promise<T>): Promise<T> {
    if (this.#reads >= this.#maxReads) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#reads += 1;
    try {
      return await read();
    } finally {
      // The turn passes straight to the next waiting read, if any.
      const next = this.#waiting.shift();
      if (next === undefined) this.#reads -= 1;
      else next();
    }
  }

  /** Bytes held now. */
  get inUse(): number {
    return this.#used;
  }

  /** The most bytes ever held at once (for tests). */
  get peak(): number {
    return this.#highest;
  }

  /** Whether every answer is refused now, however small: a route checks this before it reads (and then calls {@link noteRefused}). */
  get exhausted(): boolean {
    return this.#used >= this.limit;
  }

  /** Records a request refused for the bound without asking {@link hold} (see {@link exhausted}). */
  noteRefused(): void {
    this.#refusedAt = this.#now();
  }

  /** Whether an answer was refused in the last `ms` milliseconds: the bound keeps others waiting. */
  refusedWithin(ms: number): boolean {
    return this.#now() - this.#refusedAt < ms;
  }

  /** Whether answers of `socket`'s connection hold part of the bound now. */
  holds(socket: Socket): boolean {
    return (this.#bySocket.get(socket)?.size ?? 0) > 0;
  }

  /**
   * Takes `bytes` for the answer of `res` until `res` closes or its
   * connection is lost; undefined, taking nothing, if they do not fit (and
   * something is held). An answer whose client is already gone takes nothing.
   */
  hold(res: ServerResponse, bytes: number): AnswerHold | undefined {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`AnswerBudget: bytes must be a non-negative safe integer, got ${bytes}`);
    const socket = res.req.socket;
    if (res.closed || socket.destroyed) return { shrinkTo: () => undefined };
    if (this.#used > 0 && this.#used + bytes > this.limit) {
      this.#refusedAt = this.#now();
      return undefined;
    }
    this.#used += bytes;
    this.#highest = Math.max(this.#highest, this.#used);
    let held = bytes;
    let releases = this.#bySocket.get(socket);
    if (releases === undefined) {
      const created = new Set<() => void>();
      releases = created;
      this.#bySocket.set(socket, created);
      socket.once('close', () => {
        for (const release of created) release();
      });
    }
    const all = releases;
    const release = () => {
      if (!all.delete(release)) return;
      this.#used -= held;
      held = 0;
    };
    all.add(release);
    res.once('close', release);
    return {
      shrinkTo: (smaller: number) => {
        if (!all.has(release) || smaller >= held) return;
        this.#used -= held - smaller;
        held = smaller;
      },
    };
  }
}
