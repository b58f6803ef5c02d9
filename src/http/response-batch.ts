import type { ServerResponse } from 'node:http';

interface Queued {
  readonly res: ServerResponse;
  readonly body: string;
  readonly written: (() => void) | undefined;
}

/**
 * Ends HTTP responses in batches: a response finished while the event loop
 * handles one round of socket events is written, with all the others that
 * round finished, right after that round (in `setImmediate`), in the order
 * they were finished. A response waits at most for the rest of its round.
 *
 * Why: every write to a client that is waiting in `epoll` wakes it, and on a
 * virtual machine a wake-up that must reach an idle CPU costs the writer
 * several microseconds in the kernel. Written back to back, the first write
 * wakes the client and the rest find it awake. On the benchmark's loopback
 * (issue 5) this raised proofs/s by 25 – 30% at 10^4 and at 10^7
 * entries, with the same number of write calls.
 */
export class ResponseBatch {
  private queue: Queued[] = [];

  /**
   * @param onError told of a response whose `end` threw; the others of its
   *   batch are written all the same.
   * @param schedule runs the flush once the current round is over.
   */
  constructor(
    private readonly onError: (err: unknown) => void,
    private readonly schedule: (flush: () => void) => void = (flush) => void setImmediate(flush),
  ) {}

  /**
   * Ends `res` with `body` (its head already written) after the current round;
   * `written` runs just after, for the response's metrics and log line.
   */
  end(res: ServerResponse, body: string, written?: () => void): void {
    this.queue.push({ res, body, written });
    if (this.queue.length === 1) this.schedule(this.flush);
  }

  /** Responses queued and not yet written. */
  get pending(): number {
    return this.queue.length;
  }

  private readonly flush = (): void => {
    // Responses ended while this batch is written go to the next one.
    const batch = this.queue;
    this.queue = [];
    for (const { res, body, written } of batch) {
      try {
        res.end(body);
        written?.();
      } catch (err) {
        this.onError(err);
      }
    }
  };
}
