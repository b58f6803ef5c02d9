import type { HashTile } from './hash-tile.js';
import type { LogState, LogStore, RoundWrite } from './store.js';

/** Where a write fault strikes. */
export type WriteFault =
  /** The round is refused and nothing is written (a full disk, an I/O error). */
  | 'before'
  /** The round is written and durable, but the caller is told it failed (an fsync error after the data landed). */
  | 'after';

/** The error a FaultStore injects; `injected` tells it apart from real ones. */
export class InjectedFault extends Error {
  readonly injected = true;
  constructor(message: string) {
    super(message);
    this.name = 'InjectedFault';
  }
}

/**
 * A LogStore wrapper that injects failures and delays on demand, for fault
 * tests (issue 6 "Faults"). With nothing armed it forwards every call
 * unchanged, so it keeps the wrapped store's contract; an armed fault breaks
 * exactly the promise it names and nothing else.
 */
export class FaultStore implements LogStore {
  private readonly inner: LogStore;
  private failWrites: { fault: WriteFault; remaining: number } | undefined;
  private failReadsRemaining = 0;
  private writeDelayMs = 0;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  /** Rounds the wrapped store accepted (including 'after' faults). */
  writes = 0;
  /** Rounds refused by an injected fault. */
  injectedWriteFaults = 0;
  /** writeRound calls under way (held, delayed or writing). */
  pendingWrites = 0;

  constructor(inner: LogStore) {
    this.inner = inner;
  }

  /**
   * Makes the next `count` writes fail (Infinity: until {@link heal}). With
   * 'before' nothing is written; with 'after' the round is written first.
   */
  failNextWrites(count = 1, fault: WriteFault = 'before'): void {
    if (!(count > 0)) throw new RangeError('failNextWrites: count must be positive');
    this.failWrites = { fault, remaining: count };
  }

  /** Makes the next `count` reads (findLeafHashes, readTiles, readBundle, readEntry, readEntries) fail. */
  failNextReads(count = 1): void {
    if (!(count > 0)) throw new RangeError('failNextReads: count must be positive');
    this.failReadsRemaining = count;
  }

  /** Makes every write take at least `ms` longer (a slow disk); 0 to stop. */
  slowWrites(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('slowWrites: ms must be non-negative');
    this.writeDelayMs = ms;
  }

  /** Holds every write until the returned function is called (a stalled disk). */
  holdWrites(): () => void {
    if (this.gate === undefined) {
      this.gate = new Promise<void>((resolve) => {
        this.openGate = () => {
          this.gate = undefined;
          this.openGate = undefined;
          resolve();
        };
      });
    }
    const open = this.openGate!;
    return () => open();
  }

  /** Clears every armed fault, delay and hold. */
  heal(): void {
    this.failWrites = undefined;
    this.failReadsRemaining = 0;
    this.writeDelayMs = 0;
    this.openGate?.();
  }

  readState(): Promise<LogState | undefined> {
    return this.inner.readState();
  }

  async writeRound(round: RoundWrite): Promise<void> {
    this.pendingWrites += 1;
    try {
      await this.faultyWrite(round);
    } finally {
      this.pendingWrites -= 1;
    }
  }

  private async faultyWrite(round: RoundWrite): Promise<void> {
    if (this.gate !== undefined) await this.gate;
    if (this.writeDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.writeDelayMs));
    const armed = this.failWrites;
    if (armed !== undefined) {
      armed.remaining -= 1;
      if (armed.remaining <= 0) this.failWrites = undefined;
      this.injectedWriteFaults += 1;
      if (armed.fault === 'after') {
        await this.inner.writeRound(round);
        this.writes += 1;
      }
      throw new InjectedFault(`injected write fault (${armed.fault}) at tree size ${round.state.treeSize}`);
    }
    await this.inner.writeRound(round);
    this.writes += 1;
  }

  private readFault(what: string): void {
    if (this.failReadsRemaining <= 0) return;
    this.failReadsRemaining -= 1;
    throw new InjectedFault(`injected read fault in ${what}`);
  }

  async findLeafHashes(hashes: readonly Uint8Array[]): Promise<(number | undefined)[]> {
    this.readFault('findLeafHashes');
    return this.inner.findLeafHashes(hashes);
  }

  async readTiles(keys: readonly { level: number; n: number }[]): Promise<(HashTile | undefined)[]> {
    this.readFault('readTiles');
    return this.inner.readTiles(keys);
  }

  async readBundle(n: number): Promise<Uint8Array> {
    this.readFault('readBundle');
    return this.inner.readBundle(n);
  }

  async readEntry(index: number): Promise<Uint8Array> {
    this.readFault('readEntry');
    return this.inner.readEntry(index);
  }

  async readEntries(start: number, count: number): Promise<Uint8Array[]> {
    this.readFault('readEntries');
    return this.inner.readEntries(start, count);
  }

  close(): Promise<void> {
    this.heal();
    return this.inner.close();
  }
}
