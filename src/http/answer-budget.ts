import type { ServerResponse } from 'node:http';
import { isIPv6, type Socket } from 'node:net';
import { LogError } from '../log/errors.js';

/**
 * Default {@link AnswerBudget} bound: 64 MiB. An entry bundle of 256
 * entries of the largest size (65,535 bytes) is 16 MiB and 512 bytes, so
 * three of those fit at once (a fourth misses by 1 KiB), and 256 bundles of
 * 1 KiB entries; a client that reads what it asked for holds its share only
 * while the answer is being written out. With the request bodies' bound
 * (DEFAULT_MAX_INFLIGHT_BODY_BYTES, 128 MiB) this keeps what clients can
 * make the server hold at once under 200 MiB.
 */
export const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/**
 * Default {@link AnswerBudget} bound on the large answers being read from the
 * store at once (their size is known only once read, so they cannot be held
 * against the budget before): 4, as many as libuv has threads to read with,
 * so at most 64 MiB of entry bundles are being read and not yet counted.
 */
export const MAX_ANSWER_READS = 4;

/**
 * Default {@link AnswerBudget} bound on the large answers one client (see
 * {@link clientOf}) has held or being read at once: 2. Two of the largest
 * answers (full bundles of 16 MiB) are half the default bound, so whatever
 * one client does, the others keep the other half: room for at least one
 * such answer at a time, and for many smaller ones. Without it, one client
 * that asked for bundles on a few connections and read none of the answers
 * took the whole bound, and every other client's bundles were refused until
 * the stall check closed its connections, 60 to 75 s later.
 *
 * A count, not a share of the bytes: an answer's size is known only once it
 * is read, so a client past a share of bytes could only be refused after the
 * read (the read wasted, and a client that reads its answers on a few
 * connections refused); counted before the read, a client's answer past the
 * count waits, unread, until one of its others is written out. Fewer than
 * {@link MAX_ANSWER_READS}: one client also leaves others store reads.
 */
export const MAX_ANSWERS_PER_CLIENT = 2;

/**
 * The slowest a large answer may be read while it keeps others waiting, in
 * bytes per second: 256 KiB/s (about 2 Mbit/s), which {@link
 * AnswerBudget.heldTooLong} allows on top of the stall time. The stall check
 * sees a client that reads nothing, but not one that reads slowly enough for
 * the kernel to take some of its answer each minute: four such clients, on
 * four addresses, reading a 15.4 MB bundle each at 60 KB/s, held 62 MB of the
 * 64 MiB bound, and every other client's bundles were refused for 191 s at a
 * stretch, and again each time they asked again. At this rate a full bundle
 * of 16 MiB may be held 64 s past the stall time (a 15.4 MB one about 2
 * minutes in all, a 5.6 MB get-entries about 80 s): a client on a link
 * faster than that is not cut by it, and one slower only while others wait
 * (alone, it is served however slowly).
 */
export const MIN_ANSWER_READ_RATE = 256 * 1024;

/**
 * How recent a refusal must be for {@link AnswerBudget.heldTooLong} to cut a
 * slow reader for it (ms): refused clients are told `Retry-After: 1`, so one
 * still waiting asks again within seconds, and a refusal older than this may
 * have nobody behind it any more.
 */
export const RECENT_REFUSAL_MS = 5_000;

/** Names the client of a connection, for {@link MAX_ANSWERS_PER_CLIENT}. */
export type ClientOf = (socket: Socket) => string;

/**
 * The client a connection is from: its remote address, an IPv4-mapped IPv6
 * one as the IPv4 address, another IPv6 one by its /64 (what one subscriber
 * is commonly given: a client that owns a /64 could otherwise take a share
 * per address). Clients behind one NAT or reverse proxy are one client:
 * they share its answers, each waiting its turn (never refused for it).
 */
export const clientOf: ClientOf = (socket) => {
  const address = socket.remoteAddress;
  if (address !== undefined) return clientOfAddress(address);
  // A socket reset before anything asked for its peer no longer knows it: a client of its own, not one
  // shared by every such socket.
  let own = unknownPeers.get(socket);
  if (own === undefined) unknownPeers.set(socket, (own = `unknown peer ${++unknownPeerCount}`));
  return own;
};
const unknownPeers = new WeakMap<Socket, string>();
let unknownPeerCount = 0;

/** {@link clientOf} for an address as `socket.remoteAddress` gives it. */
export function clientOfAddress(address: string): string {
  const bare = address.split('%')[0]!;
  if (!isIPv6(bare)) return bare;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  if (mapped !== null) return mapped[1]!;
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  // An IPv4 address written in the last 32 bits stands for two groups.
  const width = (part: string[]) => part.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const double = bare.indexOf('::');
  const head = groups(double < 0 ? bare : bare.slice(0, double));
  const tail = double < 0 ? [] : groups(bare.slice(double + 2));
  const all = [...head, ...Array<string>(8 - width(head) - width(tail)).fill('0'), ...tail];
  const prefix = all.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16));
  return `${prefix.join(':')}::/64`;
}

/** The refusal of an answer whose connection was lost while it waited for its turn (nobody is there to read it). */
export function lostWhileWaiting(): LogError {
  return new LogError('QUEUE_FULL', 'the connection was lost while the answer waited for its turn');
}

/** An answer waiting for its turn (in its connection, among its client's answers, or for a read). */
interface Waiter {
  /** For an answer waiting for its connection's turn: whether that has come. */
  readonly ready?: () => boolean;
  readonly wake: () => void;
  /** Its connection was lost: it gives up, and leaves whatever queue it was in. */
  readonly lost: () => void;
}

/** What the budget knows of one connection with answers held or waiting. */
interface Connection {
  /** Its client (see {@link clientOf}). */
  readonly client: string;
  /**
   * The shares of its answers, oldest first, by their releases (node does
   * not close a pipelined response queued behind others when the
   * connection is lost): when each was taken, and its bytes.
   */
  readonly shares: Map<() => void, Share>;
  /** Its answers waiting for their turn, told if the connection is lost. */
  readonly waiting: Set<Waiter>;
}

/** One answer's share: when it was taken (on the budget's clock), and the bytes it holds now. */
interface Share {
  readonly since: number;
  bytes: number;
}

/** One client's answers held or being read, and those waiting for one of them to be done, first come first served. */
interface Client {
  taken: number;
  readonly queue: Waiter[];
}

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
 * An answer is read within {@link reading}, which shares the bound out
 * before anything is read, by making an answer wait, unread, for its turn:
 * - in its connection: one connection holds at most one large answer, the
 *   one being written out; a pipelined answer behind it is read once the
 *   answers before it are written out (HTTP/1.1 sends answers in order
 *   anyway: RFC 9112 §9.3.2) and their shares given back. So a client that
 *   pipelines bundle requests and reads none of the answers holds one, not
 *   the whole bound, and one that reads them gets them all;
 * - among its client's answers: one client (see {@link clientOf}) has at
 *   most `perClient` (default {@link MAX_ANSWERS_PER_CLIENT}) answers held
 *   or being read at once, over all its connections; the others wait until
 *   one of those is done, first come first served;
 * - among all answers: only `maxReads` are read at once (the others wait
 *   their turn): without it, requests arriving together would all pass the
 *   check before any of them is held, and all be read at once (64 pipelined
 *   bundle requests of 16 MiB: 1 GB read together to be refused).
 * An answer waiting holds nothing but its request, which node holds anyway,
 * and no more answers wait than requests are in progress (PipelineLimit
 * bounds those per connection); one whose connection is lost while it waits
 * gives up at once, and leaves nothing behind.
 */
export class AnswerBudget {
  /** Most bytes held at once (but see the class comment: one answer alone may be larger). */
  readonly limit: number;
  #used = 0;
  #highest = 0;
  /** The connections with answers held or waiting, until they close. */
  readonly #connections = new WeakMap<Socket, Connection>();
  /** The clients with answers held, being read or waiting. */
  readonly #clients = new Map<string, Client>();
  /** For an answer being read: gives its client's turn back, unless {@link hold} takes it over (its share gives it back then). */
  readonly #turns = new WeakMap<ServerResponse, () => void>();
  readonly #maxReads: number;
  readonly #perClient: number;
  readonly #clientOf: ClientOf;
  readonly #now: () => number;
  /** When (on the monotonic clock) an answer was last refused; -Infinity before the first. */
  #refusedAt = -Infinity;
  #reads = 0;
  /** Answers waiting for a read's turn, first come first served. */
  readonly #readQueue: Waiter[] = [];
  /** Answers waiting for their turn (their connection's, their client's, or a read's). */
  #waiting = 0;

  constructor(limit: number = DEFAULT_MAX_ANSWER_BYTES, options: { maxReads?: number; perClient?: number; clientOf?: ClientOf; now?: () => number } = {}) {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new RangeError(`AnswerBudget: limit must be a positive safe integer, got ${limit}`);
    const maxReads = options.maxReads ?? MAX_ANSWER_READS;
    if (!Number.isSafeInteger(maxReads) || maxReads <= 0) throw new RangeError(`AnswerBudget: maxReads must be a positive safe integer, got ${maxReads}`);
    const perClient = options.perClient ?? MAX_ANSWERS_PER_CLIENT;
    if (!Number.isSafeInteger(perClient) || perClient <= 0) throw new RangeError(`AnswerBudget: perClient must be a positive safe integer, got ${perClient}`);
    this.limit = limit;
    this.#maxReads = maxReads;
    this.#perClient = perClient;
    this.#clientOf = options.clientOf ?? clientOf;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Runs `read` for the answer of `res` once it is its turn (see the class
   * comment), and resolves as it does: it is meant to read the answer and
   * {@link hold} it, both before the next read may start. Rejects with 503
   * QUEUE_FULL, without running `read`, if the connection is lost first.
   */
  async reading<T>(res: ServerResponse, read: () => Promise<T>): Promise<T> {
    const socket = res.req.socket;
    if (socket.destroyed) throw lostWhileWaiting();
    const conn = this.#connection(socket);
    // Its connection's turn: the answers before it are written out (node
    // gives the response its socket then) and their shares given back.
    const ready = () => res.socket !== null && conn.shares.size === 0;
    if (!ready()) {
      res.once('socket', () => this.#wake(conn));
      await this.#wait(conn, { ready });
    }
    await this.#clientTurn(conn);
    let given = false;
    const giveBack = () => {
      if (given) return;
      given = true;
      this.#clientDone(conn.client);
    };
    this.#turns.set(res, giveBack);
    try {
      return await this.#read(conn, read);
    } finally {
      // Not held (refused, failed, or its client gone): the turn passes on now.
      if (this.#turns.get(res) === giveBack) {
        this.#turns.delete(res);
        giveBack();
      }
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

  /** Starts {@link peak} again from what is held now (for tests). */
  resetPeak(): void {
    this.#highest = this.#used;
  }

  /** Answers waiting for their turn now (their connection's, their client's, or a read's; for tests). */
  get waiting(): number {
    return this.#waiting;
  }

  /** Clients with answers held, being read or waiting now (for tests). */
  get clients(): number {
    return this.#clients.size;
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
    return (this.#connections.get(socket)?.shares.size ?? 0) > 0;
  }

  /**
   * Whether answers of `socket`'s connection hold part of the bound while
   * it keeps others from being served: an answer was refused in the last
   * `ms` milliseconds, or an answer of the same client waits for its turn
   * now (on another connection: one that holds a share has no answer
   * waiting for its client's turn). The server asks this before it closes
   * a stalled connection.
   */
  keepsOthersWaiting(socket: Socket, ms: number): boolean {
    const conn = this.#connections.get(socket);
    if (conn === undefined || conn.shares.size === 0) return false;
    return this.refusedWithin(ms) || (this.#clients.get(conn.client)?.queue.length ?? 0) > 0;
  }

  /**
   * Whether the oldest answer of `socket`'s connection has been held longer
   * than `ms` plus its bytes at {@link MIN_ANSWER_READ_RATE}, however much
   * of it the client has read, while answers are being refused (one in the
   * last {@link RECENT_REFUSAL_MS}). Unlike {@link keepsOthersWaiting}, its
   * own client's answers waiting their turn do not count: they would be
   * served over the same slow link, so cutting it gains them nothing (and
   * several users behind one address would never get a large answer). The
   * server asks this of every connection with answers held, at each stall
   * check, and closes one it is true of.
   */
  heldTooLong(socket: Socket, ms: number): boolean {
    const oldest = this.#connections.get(socket)?.shares.values().next().value;
    if (oldest === undefined) return false;
    const limit = ms + (oldest.bytes / MIN_ANSWER_READ_RATE) * 1000;
    return this.#now() - oldest.since > limit && this.refusedWithin(RECENT_REFUSAL_MS);
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
    const conn = this.#connection(socket);
    // Read within reading(): its client's turn is given back with the share.
    const giveBack = this.#turns.get(res);
    this.#turns.delete(res);
    const share: Share = { since: this.#now(), bytes };
    const release = () => {
      if (!conn.shares.delete(release)) return;
      this.#used -= share.bytes;
      share.bytes = 0;
      giveBack?.();
      this.#wake(conn);
    };
    conn.shares.set(release, share);
    res.once('close', release);
    return {
      shrinkTo: (smaller: number) => {
        if (!conn.shares.has(release) || smaller >= share.bytes) return;
        this.#used -= share.bytes - smaller;
        share.bytes = smaller;
      },
    };
  }

  /** What is known of `socket`'s connection (open: the caller checks), forgotten once it closes. */
  #connection(socket: Socket): Connection {
    const known = this.#connections.get(socket);
    if (known !== undefined) return known;
    const conn: Connection = { client: this.#clientOf(socket), shares: new Map(), waiting: new Set() };
    this.#connections.set(socket, conn);
    socket.once('close', () => {
      this.#connections.delete(socket);
      // Those waiting give up first, so that the turns the shares give back go to other connections.
      for (const waiter of conn.waiting) waiter.lost();
      for (const release of conn.shares.keys()) release();
    });
    return conn;
  }

  /**
   * Resolves when its turn comes: for one with `ready`, at a {@link #wake}
   * that finds it ready; for one in a `queue` (its client's, or the reads'),
   * when the turn before it passes to it. Rejects if `conn` is lost first.
   */
  #wait(conn: Connection, turn: { ready: () => boolean } | { queue: Waiter[] }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const leave = () => {
        conn.waiting.delete(waiter);
        this.#waiting -= 1;
      };
      const waiter: Waiter = {
        ...('ready' in turn ? { ready: turn.ready } : {}),
        wake: () => {
          leave();
          resolve();
        },
        lost: () => {
          leave();
          if ('queue' in turn) turn.queue.splice(turn.queue.indexOf(waiter), 1);
          reject(lostWhileWaiting());
        },
      };
      conn.waiting.add(waiter);
      this.#waiting += 1;
      if ('queue' in turn) turn.queue.push(waiter);
    });
  }

  /** Wakes the answer of `conn` whose connection's turn has come, if any. */
  #wake(conn: Connection): void {
    for (const waiter of conn.waiting) if (waiter.ready?.() === true) waiter.wake();
  }

  /** Resolves once the client of `conn` has a turn for one more answer, taken until {@link #clientDone}. */
  async #clientTurn(conn: Connection): Promise<void> {
    let client = this.#clients.get(conn.client);
    if (client === undefined) {
      client = { taken: 0, queue: [] };
      this.#clients.set(conn.client, client);
    }
    if (client.taken < this.#perClient) {
      client.taken += 1;
      return;
    }
    await this.#wait(conn, { queue: client.queue });
  }

  /** Gives back a turn of client `key`: straight to its next answer waiting, if any. */
  #clientDone(key: string): void {
    const client = this.#clients.get(key)!;
    const next = client.queue.shift();
    if (next !== undefined) return next.wake();
    client.taken -= 1;
    if (client.taken === 0) this.#clients.delete(key);
  }

  /** Runs `read` for an answer of `conn` once fewer than `maxReads` reads are running. */
  async #read<T>(conn: Connection, read: () => Promise<T>): Promise<T> {
    if (this.#reads >= this.#maxReads) await this.#wait(conn, { queue: this.#readQueue });
    else this.#reads += 1;
    try {
      return await read();
    } finally {
      // The turn passes straight to the next waiting read, if any.
      const next = this.#readQueue.shift();
      if (next === undefined) this.#reads -= 1;
      else next.wake();
    }
  }
}
