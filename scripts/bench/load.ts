/**
 * The benchmark's HTTP load generator. It runs in a process of its own
 * (forked by the benchmark, one message per run), never in the server's, and
 * speaks HTTP/1.1 over raw keep-alive sockets so that the client costs little
 * CPU per request next to the server.
 *
 * Closed loop (no `rate`): each connection sends its next request as soon as
 * the previous answer is in; latency is from send to answer. Open loop
 * (`rate`): requests are due at fixed times (rate per second over all
 * connections); a request that finds every connection busy waits, and its
 * latency counts from when it was due, so a slow server cannot hide its
 * queueing (no coordinated omission).
 *
 * Every answer's status is checked; one in `verifyEvery` is verified fully:
 * receipts against their signed checkpoint, proofs against the tree head.
 * Consistency proofs are verified against roots of smaller trees that the
 * generator computed from the server's tiles before the run (see
 * consistencyRoots), so each verified answer asks about one of those sizes.
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { TileHashReader } from '../../src/client/tile-reader.js';
import { verifyConsistency, verifyInclusion } from '../../src/merkle/proof.js';
import { formatTilePath } from '../../src/merkle/tile.js';
import { treeHash } from '../../src/merkle/tree.js';
import { openCheckpoint } from '../../src/note/checkpoint.js';
import { newVerifier, type Verifier } from '../../src/note/keys.js';
import { quantile } from './stats.js';
import { benchLeafHash, entryAt, ENTRY_SIZE, writeEntry } from './entries.js';

export type LoadKind = 'add' | 'batch' | 'inclusion' | 'by-hash' | 'consistency' | 'checkpoint';

export interface LoadSpec {
  readonly url: string;
  readonly kind: LoadKind;
  readonly connections: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Offered requests per second over all connections (open loop); absent: closed loop. */
  readonly rate?: number;
  /** Entry stream: new entries for adds, logged entries for proofs. */
  readonly seed: number;
  /** First entry index this run submits (adds and batches). */
  readonly firstIndex?: number;
  /** Entries per /v1/batch request. */
  readonly batchSize?: number;
  /**
   * For proofs: the tree size asked about and its root (base64), which
   * verified proofs must lead to (consistency proofs: from the roots of
   * smaller trees computed from the server's tiles, see consistencyRoots).
   */
  readonly treeSize?: number;
  readonly rootHash?: string;
  readonly verifierKey?: string;
  /** Verify one answer in this many (0: none). */
  readonly verifyEvery?: number;
}

export interface LoadResult {
  /** Answers completed inside the measured window, and the entries they carried. */
  readonly requests: number;
  readonly entries: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly entriesPerSecond: number;
  /** Latency of requests sent (or due) inside the window, in ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Answers with an unexpected status, broken connections, and due requests never sent (30 s after the window). */
  readonly errors: number;
  readonly statuses: Record<string, number>;
  readonly verified: number;
  readonly verifyFailures: number;
  /** Open loop: requests due in the window but still waiting for a connection when it ended (then sent and timed). */
  readonly backlog: number;
  /** The next unused entry index of the stream. */
  readonly nextIndex: number;
}

interface Outgoing {
  readonly bytes: Buffer;
  readonly entries: number;
  /** What to check a verified answer against. */
  readonly check: ((status: number, body: Buffer) => boolean) | undefined;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** One keep-alive connection with at most one request outstanding. */
class Connection {
  busy = false;
  private readonly socket: Socket;
  private buffered: Buffer | undefined;
  private onAnswer: ((status: number, body: Buffer) => void) | undefined;
  private onBroken: (() => void) | undefined;
  readonly ready: Promise<void>;

  constructor(host: string, port: number) {
    this.socket = connect({ host, port, noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (chunk: Buffer) => this.data(chunk));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      const broken = this.onBroken;
      this.onAnswer = undefined;
      this.onBroken = undefined;
      broken?.();
    });
  }

  send(bytes: Buffer, onAnswer: (status: number, body: Buffer) => void, onBroken: () => void): void {
    this.busy = true;
    this.onAnswer = onAnswer;
    this.onBroken = onBroken;
    this.socket.write(bytes);
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  close(): void {
    this.socket.destroy();
  }

  private data(chunk: Buffer): void {
    this.buffered = this.buffered === undefined ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const buf: Buffer | undefined = this.buffered;
      if (buf === undefined) return;
      const end = buf.indexOf(CRLF2);
      if (end < 0) return;
      const head = buf.toString('latin1', 0, end);
      const status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      let body: Buffer;
      let consumed: number;
      if (length !== null) {
        const size = Number(length[1]);
        if (buf.length < end + 4 + size) return;
        body = buf.subarray(end + 4, end + 4 + size);
        consumed = end + 4 + size;
      } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const parsed = dechunk(buf, end + 4);
        if (parsed === undefined) return;
        ({ body, consumed } = parsed);
      } else {
        body = Buffer.alloc(0);
        consumed = end + 4;
      }
      this.buffered = consumed === buf.length ? undefined : buf.subarray(consumed);
      const answer = this.onAnswer;
      this.onAnswer = undefined;
      this.onBroken = undefined;
      this.busy = false;
      answer?.(status, body);
    }
  }
}

function dechunk(buf: Buffer, start: number): { body: Buffer; consumed: number } | undefined {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(buf.toString('latin1', at, eol), 16);
    if (size === 0) {
      if (buf.length < eol + 4) return undefined;
      return { body: Buffer.concat(parts), consumed: eol + 4 };
    }
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function bytesOf(text: unknown): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('expected base64');
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function proofOf(list: unknown): Uint8Array[] {
  if (!Array.isArray(list)) throw new TypeError('expected a proof array');
  return list.map(bytesOf);
}

/** GET `url` (on 127.0.0.1) on a connection of its own; resolves with the body of a 200 answer. */
function getBytes(url: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        if (res.statusCode === 200) resolve(new Uint8Array(Buffer.concat(chunks)));
        else reject(new Error(`GET ${url}: status ${res.statusCode}`));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The root of a smaller tree, for verifying consistency proofs to it. */
export interface OlderRoot {
  readonly size: number;
  readonly root: Uint8Array;
}

/** Random sizes from 1 to n-1 that consistencyRoots adds to the fixed ones. */
const RANDOM_OLDER_SIZES = 32;

/** Computed once per server, tree size and root: later runs of the same log reuse them. */
const olderRoots = new Map<string, Promise<OlderRoot[]>>();

/**
 * The roots of trees of sizes 1, 2, 255, 256, 257, 65,536, n-1 and n (those
 * below n+1) and of 32 random sizes below n, each the RFC 6962 tree hash of
 * the server's tiles (`GET /tile/...`) read through the client's
 * TileHashReader, which authenticates every tile against `root`, the
 * server's root of the tree of size `n`. These roots are therefore those of
 * the prefixes of that tree, whatever the server's consistency proofs say.
 * Rejects if a tile does not fit the root.
 */
export function consistencyRoots(url: string, n: number, root: Uint8Array): Promise<OlderRoot[]> {
  const key = `${url} ${n} ${Buffer.from(root).toString('base64')}`;
  let roots = olderRoots.get(key);
  if (roots === undefined) {
    roots = (async () => {
      const reader = new TileHashReader({ treeSize: n, rootHash: root }, { readTile: (tile) => getBytes(`${url}/${formatTilePath(tile)}`) });
      const sizes = new Set([1, 2, 255, 256, 257, 65_536, n - 1, n].filter((m) => m >= 1 && m <= n));
      for (let i = 0; i < RANDOM_OLDER_SIZES && n > 1; i++) sizes.add(1 + Math.floor(Math.random() * (n - 1)));
      const out: OlderRoot[] = [];
      for (const size of [...sizes].sort((a, b) => a - b)) out.push({ size, root: await treeHash(size, reader) });
      return out;
    })();
    olderRoots.set(key, roots);
    roots.catch(() => olderRoots.delete(key));
  }
  return roots;
}

/** Makes the requests of one run, and the checks of the answers that get verified. */
class RequestMaker {
  private next: number;
  private count = 0;
  private readonly verifier: Verifier | undefined;
  private readonly root: Uint8Array | undefined;
  private readonly host: string;

  constructor(
    private readonly spec: LoadSpec,
    private readonly older: readonly OlderRoot[] = [],
  ) {
    this.next = spec.firstIndex ?? 0;
    this.host = new URL(spec.url).host;
    this.verifier = spec.verifierKey === undefined ? undefined : newVerifier(spec.verifierKey);
    this.root = spec.rootHash === undefined ? undefined : bytesOf(spec.rootHash);
  }

  get nextIndex(): number {
    return this.next;
  }

  make(): Outgoing {
    const every = this.spec.verifyEvery ?? 0;
    const verify = every > 0 && this.count++ % every === 0;
    switch (this.spec.kind) {
      case 'add':
        return this.add(verify);
      case 'batch':
        return this.batch(verify);
      case 'inclusion':
        return this.inclusion(verify);
      case 'by-hash':
        return this.byHash(verify);
      case 'consistency':
        return this.consistency(verify);
      case 'checkpoint':
        return { bytes: this.get('/checkpoint'), entries: 0, check: undefined };
    }
  }

  private get(path: string): Buffer {
    return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${this.host}\r\n\r\n`, 'latin1');
  }

  private post(path: string, type: string, body: Buffer): Buffer {
    const head = `POST ${path} HTTP/1.1\r\nHost: ${this.host}\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const out = Buffer.allocUnsafe(Buffer.byteLength(head, 'latin1') + body.length);
    const n = out.write(head, 'latin1');
    body.copy(out, n);
    return out;
  }

  private treeSize(): number {
    const n = this.spec.treeSize;
    if (n === undefined || n < 1) throw new RangeError(`${this.spec.kind} needs a treeSize of at least 1`);
    return n;
  }

  private randomIndex(below: number): number {
    return Math.floor(Math.random() * below);
  }

  /** Checks a receipt: the leaf, its proof, and the signed checkpoint it leads to. */
  private receiptOk(r: Record<string, unknown>, entry: Uint8Array, checkpoint: unknown): boolean {
    if (this.verifier === undefined || typeof checkpoint !== 'string' || typeof r.index !== 'number') return false;
    const { checkpoint: cp } = openCheckpoint(checkpoint, this.verifier);
    const leaf = benchLeafHash(entry);
    return (
      Buffer.from(bytesOf(r.leaf_hash)).equals(leaf) &&
      verifyInclusion(new Uint8Array(leaf), r.index, cp.treeSize, proofOf(r.inclusion_proof), cp.rootHash)
    );
  }

  private add(verify: boolean): Outgoing {
    const body = Buffer.allocUnsafe(ENTRY_SIZE);
    writeEntry(this.spec.seed, this.next++, body, 0);
    const check = verify
      ? (status: number, answer: Buffer) => {
          const r = JSON.parse(answer.toString('utf8')) as Record<string, unknown>;
          return status === 201 && this.receiptOk(r, body, r.checkpoint);
        }
      : undefined;
    return { bytes: this.post('/v1/entries', 'application/octet-stream', body), entries: 1, check };
  }

  private batch(verify: boolean): Outgoing {
    const size = this.spec.batchSize ?? 1000;
    const first = this.next;
    this.next += size;
    const parts: string[] = [];
    for (let i = 0; i < size; i++) parts.push(`"${b64(entryAt(this.spec.seed, first + i))}"`);
    const body = Buffer.from(`{"entries":[${parts.join(',')}]}`, 'latin1');
    const check = verify
      ? (status: number, answer: Buffer) => {
          const r = JSON.parse(answer.toString('utf8')) as { checkpoint?: unknown; receipts?: Record<string, unknown>[] };
          const pick = this.randomIndex(size);
          const receipt = r.receipts?.[pick];
          return status === 200 && r.receipts?.length === size && receipt !== undefined && this.receiptOk(receipt, entryAt(this.spec.seed, first + pick), r.checkpoint);
        }
      : undefined;
    return { bytes: this.post('/v1/batch', 'application/json', body), entries: size, check };
  }

  private inclusion(verify: boolean): Outgoing {
    const n = this.treeSize();
    const index = this.randomIndex(n);
    const check = verify
      ? (status: number, answer: Buffer) => {
          const r = JSON.parse(answer.toString('utf8')) as Record<string, unknown>;
          const entry = bytesOf(r.leaf_input);
          const expected = entryAt(this.spec.seed, index);
          return (
            status === 200 &&
            this.root !== undefined &&
            Buffer.from(entry).equals(Buffer.from(expected)) &&
            verifyInclusion(new Uint8Array(benchLeafHash(entry)), index, n, proofOf(r.audit_path), this.root)
          );
        }
      : undefined;
    return { bytes: this.get(`/ct/v1/get-entry-and-proof?leaf_index=${index}&tree_size=${n}`), entries: 0, check };
  }

  private byHash(verify: boolean): Outgoing {
    const n = this.treeSize();
    const index = this.randomIndex(n);
    const leaf = benchLeafHash(entryAt(this.spec.seed, index));
    const check = verify
      ? (status: number, answer: Buffer) => {
          const r = JSON.parse(answer.toString('utf8')) as Record<string, unknown>;
          return (
            status === 200 &&
            this.root !== undefined &&
            r.leaf_index === index &&
            verifyInclusion(new Uint8Array(leaf), index, n, proofOf(r.audit_path), this.root)
          );
        }
      : undefined;
    const path = `/ct/v1/get-proof-by-hash?hash=${encodeURIComponent(leaf.toString('base64'))}&tree_size=${n}`;
    return { bytes: this.get(path), entries: 0, check };
  }

  /**
   * A consistency proof from a random size up to n; a verified one is from a
   * size whose root is known (consistencyRoots) and must prove that root
   * consistent with n's.
   */
  private consistency(verify: boolean): Outgoing {
    const n = this.treeSize();
    const older = verify ? this.older[this.randomIndex(this.older.length)] : undefined;
    if (verify && older === undefined) throw new Error('consistency proofs are verified against known older roots, and there are none');
    const m = older?.size ?? 1 + this.randomIndex(n);
    const check =
      older === undefined
        ? undefined
        : (status: number, answer: Buffer) => {
            const r = JSON.parse(answer.toString('utf8')) as Record<string, unknown>;
            return status === 200 && this.root !== undefined && verifyConsistency(m, n, older.root, this.root, proofOf(r.consistency));
          };
    return { bytes: this.get(`/ct/v1/get-sth-consistency?first=${m}&second=${n}`), entries: 0, check };
  }
}

function expectedStatus(kind: LoadKind, status: number): boolean {
  return kind === 'add' ? status === 201 : status === 200;
}

/** The measured window's edges, as runLoad reports them while it runs. */
export type WindowEdge = 'start' | 'end';

/**
 * Runs one measurement against a server and returns its figures. `onWindow`
 * is called when the measured window starts (the connections are open and
 * the warm-up is over) and when it ends, for readings that must cover the
 * same window (the CPU time the benchmark divides by the answers).
 */
export async function runLoad(spec: LoadSpec, onWindow?: (edge: WindowEdge) => void): Promise<LoadResult> {
  const url = new URL(spec.url);
  if (url.hostname !== '127.0.0.1') throw new Error(`the benchmark only loads servers on 127.0.0.1, not ${url.hostname}`);
  // Before any connection is opened: the roots that verified consistency proofs are checked against.
  let older: OlderRoot[] = [];
  if (spec.kind === 'consistency' && (spec.verifyEvery ?? 0) > 0) {
    if (spec.treeSize === undefined || spec.rootHash === undefined) throw new RangeError('verified consistency proofs need treeSize and rootHash');
    older = await consistencyRoots(`${url.origin}`, spec.treeSize, bytesOf(spec.rootHash));
  }
  const maker = new RequestMaker(spec, older);
  const conns = Array.from({ length: spec.connections }, () => new Connection(url.hostname, Number(url.port)));
  await Promise.all(conns.map((c) => c.ready));

  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let verified = 0;
  let verifyFailures = 0;
  let requests = 0;
  let entries = 0;
  let inFlight = 0;
  const start = performance.now();
  const windowStart = start + spec.warmupMs;
  const windowEnd = windowStart + spec.durationMs;
  let stopped = false;
  const due: number[] = []; // open loop: times at which requests fell due, not yet sent
  let dueHead = 0;
  let scheduled = 0;
  let drained: () => void = () => undefined;
  const allAnswered = new Promise<void>((resolve) => (drained = resolve));

  const issue = (conn: Connection, dueAt: number | undefined): void => {
    const out = maker.make();
    const sentAt = performance.now();
    const from = dueAt ?? sentAt;
    inFlight++;
    conn.send(
      out.bytes,
      (status, body) => {
        inFlight--;
        const now = performance.now();
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (!expectedStatus(spec.kind, status)) errors++;
        else if (out.check !== undefined) {
          let ok = false;
          try {
            ok = out.check(status, body);
          } catch {
            ok = false;
          }
          if (ok) verified++;
          else verifyFailures++;
        }
        if (from >= windowStart && from < windowEnd) latencies.push(now - from);
        if (now >= windowStart && now < windowEnd) {
          requests++;
          entries += out.entries;
        }
        next(conn);
      },
      () => {
        inFlight--;
        errors++;
        next(conn);
      },
    );
  };

  // After the window, closed-loop connections stop; open-loop ones still send
  // every request that fell due inside it, so that its latency is counted.
  const next = (conn: Connection): void => {
    if (!conn.closed) {
      if (spec.rate === undefined && !stopped) return issue(conn, undefined);
      if (spec.rate !== undefined && dueHead < due.length) return issue(conn, due[dueHead++]);
    }
    if (stopped && inFlight === 0) drained();
  };

  let timer: NodeJS.Timeout | undefined;
  if (spec.rate === undefined) {
    for (const c of conns) issue(c, undefined);
  } else {
    const rate = spec.rate;
    const tick = (): void => {
      const now = performance.now();
      if (now >= windowEnd) return;
      const target = Math.floor(((now - start) * rate) / 1000);
      while (scheduled < target) due.push(start + (scheduled++ * 1000) / rate);
      for (const c of conns) {
        if (dueHead >= due.length) break;
        if (!c.busy && !c.closed) issue(c, due[dueHead++]);
      }
      if (dueHead > 4096) {
        due.splice(0, dueHead);
        dueHead = 0;
      }
      timer = setTimeout(tick, 1);
    };
    tick();
  }

  const windowOpens = setTimeout(() => onWindow?.('start'), Math.max(0, windowStart - performance.now()));
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, windowEnd - performance.now())));
  clearTimeout(windowOpens);
  onWindow?.('end');
  stopped = true;
  if (timer !== undefined) clearTimeout(timer);
  const backlog = due.length - dueHead;
  if (inFlight > 0) await Promise.race([allAnswered, new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
  const unsent = due.length - dueHead;
  for (const c of conns) c.close();

  const sorted = Float64Array.from(latencies).sort();
  const seconds = spec.durationMs / 1000;
  return {
    requests,
    entries,
    seconds,
    requestsPerSecond: requests / seconds,
    entriesPerSecond: entries / seconds,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
    errors: errors + unsent,
    statuses,
    verified,
    verifyFailures,
    backlog,
    nextIndex: maker.nextIndex,
  };
}

// As a forked child: one message per run, one answer per message.
if (process.send !== undefined && process.argv.includes('--bench-load-child')) {
  process.on('message', (message: { run?: LoadSpec; exit?: boolean }) => {
    if (message.exit === true) process.exit(0);
    if (message.run === undefined) return;
    runLoad(message.run, (edge) => process.send!({ window: edge })).then(
      (result) => process.send!({ result }),
      (err: unknown) => process.send!({ error: String((err as Error)?.stack ?? err) }),
    );
  });
  process.send({ ready: true });
}
