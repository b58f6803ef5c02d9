import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { MAX_CLOCK_AHEAD_MS } from '../clock-limits.js';
import { LOG_ERROR_CODES } from '../log/errors.js';
import type { LogObserver } from '../log/log.js';
import { VERSION } from '../version.js';
import { CLIENT_ERROR_REASONS } from './client-error.js';

/** Cairn's Prometheus metrics, in their own registry (no global state). */
export interface Metrics {
  readonly registry: Registry;
  /** Feeds the sequencer's rounds and queue into the metrics. */
  readonly observer: LogObserver;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** New connections dropped because the server held its most open at once (node's server.maxConnections). */
  readonly connectionsDropped: Counter;
  /** Requests answered (or connections closed) outside the app by answerClientErrors of client-error.ts, by ClientErrorReason. */
  readonly clientErrors: Counter<'reason'>;
  /** Requests answered with an error, by its code (Refusals of refusals.ts counts them). */
  readonly refusals: Counter<'code'>;
  /**
   * Sets the gauges that describe the log's signed tree (`cairn_tree_size`)
   * from the log just opened: rounds set them after, and until the first
   * one a restarted server would otherwise show a log of size 0.
   */
  logOpened(head: { treeSize: number }): void;
  /**
   * Reads `cairn_round_in_progress_seconds` from `seconds` (the log's
   * roundInProgressSeconds) at each scrape; 0 until given.
   */
  watchRounds(seconds: () => number): void;
  /**
   * Reads `cairn_tree_timestamp_seconds` from `timestamp` (the latest STH's
   * timestamp, ms since the epoch) at each scrape; 0 until given.
   */
  watchTreeHead(timestamp: () => number): void;
  /**
   * Reads `cairn_clock_behind_seconds` from `ms` (the log's clockBehindMs)
   * at each scrape; 0 until given.
   */
  watchClock(ms: () => number): void;
}

/** The methods some route serves: a request's `method` label is one of these, or {@link OTHER_METHOD}. */
export const SERVED_METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'OPTIONS'];
/** The `method` label of a request whose method no route serves. */
export const OTHER_METHOD = 'other';

/**
 * The `method` label of a request: its method if some route serves it, else
 * {@link OTHER_METHOD}, so that clients sending every method the HTTP parser
 * takes (some 30) cannot multiply the series of the request histogram.
 */
export function methodLabel(method: string | undefined): string {
  return method !== undefined && SERVED_METHODS.includes(method) ? method : OTHER_METHOD;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const entries = new Counter({
    name: 'cairn_entries_total',
    help: 'Entries submitted, by result (new: appended; duplicate: already logged)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const rounds = new Counter({
    name: 'cairn_rounds_total',
    help: 'Sequencing rounds, by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  // Every label value a counter can take is there from the start, at 0, so
  // that a rate or increase over it also sees its first event.
  for (const result of ['new', 'duplicate']) entries.inc({ result }, 0);
  for (const outcome of ['committed', 'failed']) rounds.inc({ outcome }, 0);
  const roundDuration = new Histogram({
    name: 'cairn_round_duration_seconds',
    help: 'Time from the start of a round to its durable commit',
    // Up to a minute: a round stalled on a slow or frozen disk is seen there, not only in +Inf.
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [registry],
  });
  const queue = new Gauge({ name: 'cairn_queue_entries', help: 'Entries waiting for a round', registers: [registry] });
  const treeSize = new Gauge({ name: 'cairn_tree_size', help: 'Size of the latest signed tree', registers: [registry] });
  const filterReady = new Gauge({
    name: 'cairn_leaf_filter_ready',
    help: '1 when the leaf-hash filter spares rounds most dedup lookups; 0 while it fills, or after it failed or outgrew its memory',
    registers: [registry],
  });
  const filterBytes = new Gauge({ name: 'cairn_leaf_filter_bytes', help: 'Memory held by the leaf-hash filter', registers: [registry] });
  const httpDuration = new Histogram({
    name: 'cairn_http_request_duration_seconds',
    help:
      'HTTP request latency, by method (GET, HEAD, POST or OPTIONS; any other method is "other"), ' +
      'route (the route\'s name; "not-found", "method-not-allowed" or "options" when no route answered it) and status',
    labelNames: ['method', 'route', 'status'] as const,
    // Up to a minute: a 408 after 30 s of a stalled upload, or a submission held by a stalled round, is seen there, not only in +Inf.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const connectionsDropped = new Counter({
    name: 'cairn_connections_dropped_total',
    help: 'New connections dropped unanswered because the server held the most its open-file limit lets it hold at once',
    registers: [registry],
  });
  const clientErrors = new Counter({
    name: 'cairn_client_errors_total',
    help:
      'Requests answered before they reached the app, so in neither the request log nor cairn_http_request_duration_seconds, by reason: ' +
      'bad_request (not valid HTTP/1.1: 400), headers_too_large (headers over 16 KiB: 400), ' +
      'request_timeout (not received in full in the time allowed, or nothing sent: 408), other (another error of the connection)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of CLIENT_ERROR_REASONS) clientErrors.inc({ reason }, 0);
  const refusals = new Counter({
    name: 'cairn_refusals_total',
    help:
      'Requests answered with an error (4xx or 5xx), by the code of its JSON body: every error answer in the request log, ' +
      'and the requests refused 503 QUEUE_FULL past the bound of requests in progress on one connection, which are not; ' +
      'not those of cairn_client_errors_total',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  // A fixed set: the codes of CONTRACT §3, however many requests there are.
  for (const code of LOG_ERROR_CODES) refusals.inc({ code }, 0);
  // Read at each scrape, not set per round: a stalled round shows as its age growing.
  let roundSeconds = (): number => 0;
  new Gauge({
    name: 'cairn_round_in_progress_seconds',
    help:
      'Seconds the oldest sequencing round under way has been so (taken from the queue, or since the round before it was written), 0 when none is: ' +
      'rounds take milliseconds, so a value that keeps growing is a round the store holds up (a stalled disk: a hung fsync, a frozen file system)',
    registers: [registry],
    collect() {
      this.set(roundSeconds());
    },
  });
  let treeTimestamp = (): number => 0;
  new Gauge({
    name: 'cairn_tree_timestamp_seconds',
    help:
      'Timestamp of the latest signed tree head, in seconds since the epoch: an idle log re-signs at least every 10 minutes, ' +
      'so time() minus this growing well past that is a log whose tree heads monitors see going stale',
    registers: [registry],
    collect() {
      this.set(treeTimestamp() / 1000);
    },
  });
  let clockBehindMs = (): number => 0;
  new Gauge({
    name: 'cairn_clock_behind_seconds',
    help:
      "Seconds this machine's clock is behind the latest signed tree head, 1 or more (stepped back, or standing still), else 0: " +
      'the log still signs, each tree head dated just after the last, ahead of real time until the clock passes it; ' +
      `monitors alarm on tree heads more than ${MAX_CLOCK_AHEAD_MS / 60_000} minutes ahead of their clock`,
    registers: [registry],
    collect() {
      this.set(clockBehindMs() / 1000);
    },
  });
  new Gauge({
    name: 'cairn_build_info',
    help: 'Always 1; its labels say which Cairn and which Node.js the server runs',
    labelNames: ['version', 'nodejs'] as const,
    registers: [registry],
  }).set({ version: VERSION, nodejs: process.version }, 1);
  const observer: LogObserver = {
    roundCommitted({ entries: added, duplicates, seconds, treeSize: size }) {
      entries.inc({ result: 'new' }, added);
      entries.inc({ result: 'duplicate' }, duplicates);
      rounds.inc({ outcome: 'committed' });
      roundDuration.observe(seconds);
      treeSize.set(size);
    },
    roundFailed() {
      rounds.inc({ outcome: 'failed' });
    },
    queueChanged(depth) {
      queue.set(depth);
    },
    storeStateAdopted({ treeSize: size }) {
      treeSize.set(size);
    },
    filterChanged({ ready, bytes }) {
      filterReady.set(ready ? 1 : 0);
      filterBytes.set(bytes);
    },
  };
  return {
    registry,
    observer,
    httpDuration,
    connectionsDropped,
    clientErrors,
    refusals,
    logOpened({ treeSize: size }) {
      treeSize.set(size);
    },
    watchRounds(seconds) {
      roundSeconds = seconds;
    },
    watchTreeHead(timestamp) {
      treeTimestamp = timestamp;
    },
    watchClock(ms) {
      clockBehindMs = ms;
    },
  };
}
