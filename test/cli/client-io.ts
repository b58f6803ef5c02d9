// An in-memory CliIo for running the client commands in-process.
import type { CliIo, Output, SignalSource } from '../../src/cli/client-common.js';
import type { FetchLike } from '../../src/client/http.js';

export interface CapturedIo extends CliIo {
  out(): string;
  err(): string;
  outBytes(): Uint8Array;
  /** Every sleep asked for, in ms. */
  readonly sleeps: number[];
}

class Buffered implements Output {
  readonly chunks: Uint8Array[] = [];
  constructor(readonly isTTY: boolean) {}
  readonly columns = 80;
  /** When set, every write fails with it, as a closed pipe or a full disk does. */
  failure: Error | undefined;
  write(chunk: string | Uint8Array, callback?: (err?: Error | null) => void): boolean {
    if (this.failure !== undefined) {
      const failure = this.failure;
      if (callback !== undefined) process.nextTick(() => callback(failure));
      return false;
    }
    this.chunks.push(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk.slice());
    if (callback !== undefined) process.nextTick(() => callback(null));
    return true;
  }
  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.chunks));
  }
}

export function captureIo(
  options: {
    stdin?: string | Uint8Array;
    env?: Record<string, string>;
    fetch?: FetchLike;
    now?: () => number;
    tty?: boolean;
    signal?: AbortSignal;
    signals?: SignalSource;
    onSleep?: (ms: number) => void;
    /** Every write to standard output fails with this error (an EPIPE, say) once `failStdoutAfter` writes have succeeded (default 0). */
    stdoutError?: Error;
    failStdoutAfter?: number;
  } = {},
): CapturedIo {
  const stdout = new Buffered(options.tty === true);
  const stderr = new Buffered(options.tty === true);
  if (options.stdoutError !== undefined) {
    const error = options.stdoutError;
    let left = options.failStdoutAfter ?? 0;
    const write = stdout.write.bind(stdout);
    stdout.write = (chunk, callback) => {
      if (left-- <= 0) stdout.failure = error;
      return write(chunk, callback);
    };
  }
  const sleeps: number[] = [];
  const stdin = typeof options.stdin === 'string' ? new TextEncoder().encode(options.stdin) : (options.stdin ?? new Uint8Array(0));
  return {
    stdout,
    stderr,
    readStdin: () => Promise.resolve(stdin),
    env: options.env ?? {},
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.signals === undefined ? {} : { signals: options.signals }),
    now: options.now ?? Date.now,
    sleep: (ms) => {
      sleeps.push(ms);
      options.onSleep?.(ms);
      return Promise.resolve();
    },
    sleeps,
    out: () => new TextDecoder().decode(stdout.bytes()),
    err: () => new TextDecoder().decode(stderr.bytes()),
    outBytes: () => stdout.bytes(),
  };
}

/** A fetch that passes through, except that `edit` may replace the body of an answer. */
export function editingFetch(edit: (url: string, body: Uint8Array, init?: RequestInit) => Uint8Array | undefined): FetchLike {
  return async (url, init) => {
    const res = await fetch(url, init);
    const body = new Uint8Array(await res.arrayBuffer());
    const changed = edit(url, body, init) ?? body;
    return new Response(changed as unknown as BodyInit, { status: res.status, headers: res.headers });
  };
}

/** A request that the log never answers: it ends only when its signal aborts (a stop, or the client's timeout). */
export function hang(init: RequestInit | undefined): Promise<Response> {
  return new Promise((_resolve, reject) => {
    const signal = init?.signal;
    if (signal === undefined || signal === null) return;
    if (signal.aborted) return reject(signal.reason as Error);
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}

/** A sleep that sends SIGINT on `signals` and then lasts until its own signal aborts: no wait ends by time. */
export function sleepUntilStopped(signals: { emit(event: 'SIGINT'): unknown }, onSleep: (ms: number) => void = () => undefined): NonNullable<CapturedIo['sleep']> {
  return (ms, signal) => {
    onSleep(ms);
    signals.emit('SIGINT');
    return new Promise<void>((resolve) => {
      if (signal?.aborted === true) return resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  };
}

/** A 503 that asks to wait 60 s before a retry. */
export const busyFor60s = (): Response => new Response('{"error":"busy","code":"QUEUE_FULL"}', { status: 503, headers: { 'Retry-After': '60', 'Content-Type': 'application/json' } });
