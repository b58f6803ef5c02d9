/**
 * HTTP fuzzer (issue 6 "Hostile input"): starts the real `cairn serve` on
 * 127.0.0.1 in a temporary folder, sends random and mutated requests to
 * every route (methods, paths, query strings, headers, bodies, and some
 * malformed HTTP on raw sockets), and checks that no answer is >= 500, that
 * the server stays up, and that afterwards the log is still consistent:
 * every receipt it gave verifies at its index in the newest tree, every
 * checkpoint it showed is consistent with the newest, and the entries
 * rebuild the signed root.
 *
 * usage: npm run fuzz -- [--requests N (10000)] [--seed S] [--concurrency C (16)] [--keep]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { leafHash } from '../src/merkle/hash.js';
import { formatTilePath } from '../src/merkle/tile.js';
import { decodeBase64, encodeBase64 } from '../src/note/base64.js';
import { newVerifier } from '../src/note/keys.js';
import { LogChecker } from './reliability/check.js';
import { defaultCli, runIfMain, spawnServer, wholeNumberOption } from './reliability/server.js';

export interface FuzzOptions {
  readonly requests: number;
  readonly seed: number;
  readonly concurrency: number;
  readonly cli: string;
  readonly keep: boolean;
  readonly print: (line: string) => void;
}

export interface FuzzResult {
  readonly requests: number;
  /** Answers by HTTP status (0: the connection closed without an answer, only allowed for malformed raw HTTP). */
  readonly statuses: ReadonlyMap<number, number>;
  /** Requests answered >= 500 (or not at all, when well-formed), with what was sent. */
  readonly failures: readonly string[];
  /** Consistency problems found afterwards. */
  readonly problems: readonly string[];
  readonly treeSize: number;
  readonly receipts: number;
}

export const DEFAULT_FUZZ_OPTIONS: FuzzOptions = {
  requests: 10_000,
  seed: Date.now() % 2 ** 31,
  concurrency: 16,
  cli: defaultCli(),
  keep: false,
  print: (line) => process.stdout.write(`${line}\n`),
};

/** mulberry32: a seeded PRNG so a failing run can be replayed with --seed. */
function prng(seed: number): () => number {
  let a = seed % 2 ** 32;
  return () => {
    // Bitwise operations on the 32-bit PRNG state only, never on an index or size.
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A request to send: through node:http, or as raw bytes on a socket. */
type FuzzRequest =
  | { kind: 'http'; method: string; path: string; headers: Record<string, string>; body: Uint8Array | undefined; note: string }
  | { kind: 'raw'; bytes: Uint8Array; note: string };

/** The random choices of one fuzz run. */
class Gen {
  constructor(
    readonly random: () => number,
    /** The tree size when the run started (the log grows during it). */
    readonly size: number,
    /** Entries known to be logged, for valid-looking queries. */
    readonly known: readonly Uint8Array[],
  ) {}

  int(max: number): number {
    return Math.floor(this.random() * max);
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  text(n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789+/=%._-~ x[]{}",:\\'): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }

  /** Flips, inserts or deletes a few characters of `s`. */
  mutate(s: string): string {
    let out = s;
    for (let k = 1 + this.int(3); k > 0; k--) {
      const at = this.int(out.length + 1);
      const ch = this.pick(['0', '9', 'x', '/', '.', '%', '%2F', '%00', '..', '-', '+', ' ', 'é', '\u0000', 'p', '&', '=', '?', '#', '\\']);
      switch (this.int(3)) {
        case 0:
          out = out.slice(0, at) + ch + out.slice(at + 1);
          break;
        case 1:
          out = out.slice(0, at) + ch + out.slice(at);
          break;
        default:
          out = out.slice(0, at) + out.slice(at + 1);
      }
    }
    return out;
  }

  /** A number for a query string: mostly plausible, often hostile. */
  number(): string {
    const size = Math.max(1, this.size);
    switch (this.int(14)) {
      case 0:
        return String(this.int(size + 1));
      case 1:
        return String(this.int(size));
      case 2:
        return String(size);
      case 3:
        return String(size + 1 + this.int(1000));
      case 4:
        return this.pick(['0', '1', '255', '256', '257', '65536', '4294967296', '1099511627776']);
      case 5:
        return this.pick(['9007199254740991', '9007199254740992', '18446744073709551616', '99999999999999999999999']);
      case 6:
        return this.pick(['-1', '+1', '01', '00', '1e3', '0x10', '1.0', '1.', '.5', ' 1', '1 ', '', 'NaN', 'Infinity', '١', '１']);
      case 7:
        return encodeURIComponent(this.pick(['1\u0000', '²', '1\n', '½']));
      case 8:
        return this.mutate(String(this.int(size + 1)));
      case 9:
        return this.text(this.int(40), '0123456789');
      default:
        return String(this.int(size + 1));
    }
  }

  hashParam(): string {
    switch (this.int(6)) {
      case 0:
      case 1:
        return encodeURIComponent(encodeBase64(leafHash(this.known.length > 0 ? this.pick(this.known) : this.bytes(5))));
      case 2:
        return encodeBase64(this.bytes(32)); // '+' and '/' unencoded
      case 3:
        return encodeURIComponent(encodeBase64(this.bytes(this.int(64))));
      case 4:
        return this.mutate(encodeURIComponent(encodeBase64(this.bytes(32))));
      default:
        return this.text(this.int(60));
    }
  }

  /** A query string from name → value generators, with the usual abuses. */
  query(params: Record<string, () => string>): string {
    const parts: string[] = [];
    for (const [name, value] of Object.entries(params)) {
      if (this.chance(0.1)) continue; // missing
      parts.push(`${name}=${value()}`);
      if (this.chance(0.05)) parts.push(`${name}=${value()}`); // repeated
      if (this.chance(0.03)) parts.push(`${name}[]=${value()}`);
      if (this.chance(0.03)) parts.push(`${name}[x]=${value()}`);
    }
    if (this.chance(0.05)) parts.push(`${this.pick(['x', 'constructor', '__proto__', 'toString', 'hasOwnProperty'])}=${this.number()}`);
    if (this.chance(0.05)) parts.push(this.pick(['%zz', '%', '&&', '=', 'a=%00', 'a=%ff%fe']));
    for (let i = this.int(parts.length); i > 0; i--) {
      const a = this.int(parts.length);
      const b = this.int(parts.length);
      [parts[a], parts[b]] = [parts[b]!, parts[a]!];
    }
    return parts.length === 0 ? '' : `?${parts.join('&')}`;
  }

  tilePath(): string {
    const level = this.chance(0.3) ? -1 : this.chance(0.7) ? this.int(3) : this.int(70);
    const small = this.chance(0.7);
    const n = small ? this.int(Math.max(1, Math.ceil(this.size / 256) + 2)) : Math.floor(this.random() * 2 ** 53);
    const width = this.chance(0.5) ? 256 : 1 + this.int(256);
    let path: string;
    try {
      path = `/${formatTilePath({ level: Math.min(level, 63), n, width })}`;
    } catch {
      path = '/tile/0/000';
    }
    if (level > 63) path = path.replace(/^\/tile\/[0-9]+\//, `/tile/${level}/`);
    switch (this.int(8)) {
      case 0:
        return this.mutate(path);
      case 1:
        return path.replace('/tile/', this.pick(['/tile//', '/tile/./', '/tile/../tile/', '/TILE/', '/tile/%30/', '/tile/00/', '/tile/-1/']));
      case 2:
        return `${path}${this.pick(['/', '.p/0', '.p/256', '.p/01', '.p/', '?x=1', '/../../db', '%2F..%2F'])}`;
      case 3:
        return `/tile/${this.text(this.int(30), '0123456789x/.pentris')}`;
      default:
        return path;
    }
  }

  contentType(preferred: string): string | undefined {
    if (this.chance(0.75)) return preferred;
    return this.pick([
      undefined,
      '',
      'application/octet-stream',
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=UTF-8',
      'application/json;charset="utf-8"',
      'application/json; charset=latin1',
      'application/json; charset=utf-8; x=y',
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      'application/octet-stream; x=1',
      'APPLICATION/OCTET-STREAM',
      '*/*',
      'application/',
      ';;;',
    ]);
  }

  jsonValue(depth = 0): unknown {
    switch (depth > 3 ? this.int(4) : this.int(7)) {
      case 0:
        return this.int(2) === 0 ? null : this.chance(0.5);
      case 1:
        return this.pick([0, -0, 1.5, 1e21, 1e-7, 2 ** 53, -(2 ** 53) + 1, 123456789.125, 5e-324]);
      case 2:
        return this.text(this.int(20));
      case 3:
        return this.pick(['\u2028', '\ud83d\ude00', 'é', '\u0000', '"\\', '\u007f']);
      case 4:
        return Array.from({ length: this.int(4) }, () => this.jsonValue(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(4); i > 0; i--) o[this.text(1 + this.int(6))] = this.jsonValue(depth + 1);
        return o;
      }
    }
  }

  /** A JSON body for POST /v1/entries: valid, mutated, or one of the classic traps. */
  jsonBody(): Uint8Array {
    const enc = new TextEncoder();
    const valid = JSON.stringify(this.jsonValue());
    switch (this.int(10)) {
      case 0:
        return enc.encode(this.mutate(valid));
      case 1:
        return this.pick([
          enc.encode('{"a":1,"a":2}'),
          enc.encode('{"a":1,"\\u0061":2}'),
          enc.encode('["\\ud800"]'),
          enc.encode('[1e400]'),
          enc.encode('[9007199254740993]'),
          enc.encode('[-0.0000000000000000000000000000000000000000000000001e-400]'),
          Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d),
          Uint8Array.of(0x22, 0xff, 0x22),
          Uint8Array.of(0x22, 0xc0, 0xaf, 0x22),
          Uint8Array.of(0x22, 0xed, 0xa0, 0x80, 0x22),
          enc.encode('{} {}'),
          enc.encode(''),
          enc.encode('   '),
          enc.encode('nul'),
          enc.encode('{"__proto__":{"x":1}}'),
          enc.encode(`"${'x'.repeat(70_000)}"`),
        ]);
      case 2:
        return enc.encode(`${'['.repeat(1 + this.int(20_000))}${this.chance(0.5) ? ']'.repeat(this.int(20_000)) : ''}`);
      case 3:
        return enc.encode(`${'{"a":'.repeat(1 + this.int(5000))}1${'}'.repeat(this.int(5000))}`);
      case 4:
        return this.bytes(this.int(300));
      default:
        return enc.encode(valid);
    }
  }

  batchBody(): Uint8Array {
    const enc = new TextEncoder();
    const entry = () =>
      this.chance(0.85)
        ? encodeBase64(this.bytes(1 + this.int(this.chance(0.05) ? 70_000 : 100)))
        : this.pick(['', '=', 'AA', 'AAA', 'AAA=', 'AB==', '****', ' QQ==', 'QQ==\n', 5, null, [], {}, encodeBase64(new Uint8Array(0))]);
    switch (this.int(10)) {
      case 0:
        return enc.encode(this.mutate(JSON.stringify({ entries: Array.from({ length: 1 + this.int(5) }, entry) })));
      case 1:
        return enc.encode(
          JSON.stringify(
            this.pick<unknown>([
              [],
              {},
              { entries: [] },
              { entries: 'QQ==' },
              { entries: [entry()], extra: 1 },
              { Entries: [entry()] },
              null,
              'entries',
              { entries: Array.from({ length: 1001 }, () => 'QQ==') },
            ]),
          ),
        );
      case 2:
        return enc.encode('{"entries":["QQ=="],"entries":["Qg=="]}');
      case 3:
        return this.jsonBody();
      default:
        return enc.encode(JSON.stringify({ entries: Array.from({ length: 1 + this.int(this.chance(0.05) ? 1000 : 10) }, entry) }));
    }
  }

  /** Raw bytes that are not (quite) HTTP. */
  raw(): Uint8Array {
    const enc = new TextEncoder();
    const host = 'Host: 127.0.0.1\r\n';
    const choices = [
      `GET /checkpoint HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
      `GARBAGE\r\n\r\n`,
      `GET /checkpoint HTTP/9.9\r\n${host}\r\n`,
      `GET / checkpoint HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
      `POST /v1/entries HTTP/1.1\r\n${host}Content-Type: application/octet-stream\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST /v1/entries HTTP/1.1\r\n${host}Content-Type: application/octet-stream\r\nContent-Length: -1\r\n\r\n`,
      `POST /v1/entries HTTP/1.1\r\n${host}Content-Type: application/octet-stream\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n0123456789`,
      `POST /v1/entries HTTP/1.1\r\n${host}Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
      `POST /v1/entries HTTP/1.1\r\n${host}Content-Type: application/octet-stream\r\nContent-Length: 3\r\nConnection: close\r\n\r\nab`,
      `GET /checkpoint HTTP/1.1\r\n${host}X: ${'a'.repeat(20_000)}\r\n\r\n`,
      `GET /checkpoint HTTP/1.1\r\n${host}Bad Header\r\n\r\n`,
      `GET /tile/0/000\u0000 HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
      `GET /ct/v1/get-sth?\u00ff HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
      `GET http://evil.example/checkpoint HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
      `GET * HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
      `CONNECT 127.0.0.1:22 HTTP/1.1\r\n${host}\r\n`,
      `TRACE / HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
      `POST /v1/batch HTTP/1.1\r\n${host}Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{"entries":["QQ=="]}`,
      `POST /v1/entries HTTP/1.1\r\n${host}Content-Type: application/octet-stream\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd`,
      // Asking to switch protocols (curl --http2 over http), with a request pipelined behind it, which is not read.
      `GET /checkpoint HTTP/1.1\r\n${host}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\nGET /v1/log HTTP/1.1\r\n${host}\r\n`,
      // Asking to switch protocols with a body (curl --http2 -d): the body is the entry, never read as a request.
      `POST /v1/entries HTTP/1.1\r\n${host}Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Type: application/octet-stream\r\nContent-Length: 42\r\n\r\nGET /v1/log?smuggled HTTP/1.1\r\nHost: x\r\n\r\n`,
      `POST /v1/entries HTTP/1.1\r\n${host}Content-Type: application/octet-stream\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n`,
      `GET /checkpoint HTTP/1.1\r\nConnection: close\r\n\r\n`,
      `GET /checkpoint HTTP/1.1\r\n${host}Expect: nope\r\nConnection: close\r\n\r\n`,
      `GET /checkpoint HTTP/1.1\r\n${host}Connection: close\r\n\r\nGET /v1/log HTTP/1.1\r\n${host}\r\n`,
    ];
    return enc.encode(this.pick(choices));
  }

  request(): FuzzRequest {
    if (this.chance(0.04)) return { kind: 'raw', bytes: this.raw(), note: 'raw' };
    const routes: (() => { method: string; path: string; type?: string | undefined; body?: Uint8Array })[] = [
      () => ({ method: 'GET', path: `/ct/v1/get-sth${this.query({})}` }),
      () => ({ method: 'GET', path: `/ct/v1/get-sth-consistency${this.query({ first: () => this.number(), second: () => this.number() })}` }),
      () => ({ method: 'GET', path: `/ct/v1/get-proof-by-hash${this.query({ hash: () => this.hashParam(), tree_size: () => this.number() })}` }),
      () => ({ method: 'GET', path: `/ct/v1/get-entries${this.query({ start: () => this.number(), end: () => this.number() })}` }),
      () => ({ method: 'GET', path: `/ct/v1/get-entry-and-proof${this.query({ leaf_index: () => this.number(), tree_size: () => this.number() })}` }),
      () => ({ method: 'GET', path: this.tilePath() }),
      () => ({ method: 'GET', path: this.tilePath() }),
      () => ({ method: 'GET', path: this.pick(['/checkpoint', '/v1/log', '/healthz', '/metrics', '/', '/v1', '/ct/v1/', '/checkpoint?x=1', '/v1/log?a=b']) }),
      () => ({ method: 'GET', path: this.mutate(this.pick(['/checkpoint', '/v1/log', '/ct/v1/get-sth', '/ct/v1/get-entries?start=0&end=1'])) }),
      () => ({ method: 'GET', path: `/${this.text(this.int(200))}` }),
      () => {
        const octet = this.chance(0.6);
        const body = octet ? this.bytes(this.chance(0.05) ? 65_535 + this.int(3) : this.int(200)) : this.jsonBody();
        return { method: 'POST', path: '/v1/entries', type: this.contentType(octet ? 'application/octet-stream' : 'application/json'), body };
      },
      () => ({ method: 'POST', path: '/v1/entries', type: this.contentType('application/octet-stream'), body: this.bytes(1 + this.int(64)) }),
      () => ({ method: 'POST', path: '/v1/batch', type: this.contentType('application/json'), body: this.batchBody() }),
      () => ({ method: 'POST', path: this.pick(['/v1/batch', '/v1/entries']), type: this.contentType('application/json'), body: this.batchBody() }),
      () => ({
        method: this.pick(['PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'POST', 'PROPFIND', 'M-SEARCH']),
        path: this.pick(['/v1/entries', '/v1/batch', '/checkpoint', '/tile/0/000', '/tile/entries/000', '/ct/v1/get-sth', '/v1/log', '/metrics', '/healthz', '/x']),
        type: this.contentType('application/octet-stream'),
        body: this.bytes(this.int(50)),
      }),
    ];
    const r = this.pick(routes)();
    const headers: Record<string, string> = {};
    if (r.type !== undefined) headers['Content-Type'] = r.type;
    if (this.chance(0.03)) headers.Authorization = this.pick(['Bearer x', 'Basic Zm9vOmJhcg==', 'Bearer', `Bearer ${this.text(600)}`]);
    if (this.chance(0.02)) headers['Content-Encoding'] = this.pick(['gzip', 'deflate', 'br', 'identity', 'x']);
    if (this.chance(0.02)) headers.Accept = this.pick(['*/*', 'text/html', '', 'application/json;q=0']);
    return { kind: 'http', method: r.method, path: r.path, headers, body: r.body, note: `${r.method} ${r.path.slice(0, 120)}` };
  }
}

interface Answer {
  status: number;
  body: Buffer;
}

function sendHttp(base: URL, agent: Agent, r: Extract<FuzzRequest, { kind: 'http' }>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let req;
    try {
      req = httpRequest({
        host: base.hostname,
        port: base.port,
        method: r.method,
        path: r.path,
        agent,
        headers: { ...r.headers, ...(r.body === undefined ? {} : { 'Content-Length': String(r.body.length) }) },
        timeout: 20_000,
      });
    } catch (err) {
      reject(err);
      return;
    }
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(r.body === undefined ? undefined : Buffer.from(r.body));
  });
}

/** The same request as raw HTTP/1.1 bytes, for what node:http will not send. */
function asRawBytes(r: Extract<FuzzRequest, { kind: 'http' }>): Uint8Array {
  const head = [`${r.method} ${r.path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [name, value] of Object.entries(r.headers)) head.push(`${name}: ${value}`);
  if (r.body !== undefined) head.push(`Content-Length: ${r.body.length}`);
  const bytes = Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
  return r.body === undefined ? bytes : Buffer.concat([bytes, r.body]);
}

/**
 * Records what an accepted write answered: octet-stream receipts are checked
 * against the bytes sent, batch receipts against the entries decoded from the
 * body; for JSON entries (logged in canonical form) just the checkpoint.
 */
function recordWrite(checker: LogChecker, r: Extract<FuzzRequest, { kind: 'http' }>, answer: Answer): void {
  const body = JSON.parse(answer.body.toString('utf8')) as { checkpoint: string; receipts?: object[] };
  const where = `fuzz ${r.note}`;
  if (body.receipts !== undefined) {
    const sent = JSON.parse(Buffer.from(r.body!).toString('utf8')) as { entries: string[] };
    body.receipts.forEach((receipt, i) => checker.recordReceipt(decodeBase64(sent.entries[i]!), receipt, body.checkpoint, where));
  } else if (r.headers['Content-Type'] === 'application/octet-stream') {
    checker.recordReceipt(r.body!, body, body.checkpoint, where);
  } else {
    checker.observeCheckpoint(body.checkpoint, where);
  }
}

/** Sends raw bytes and reads the status line of the first answer, if any (0: closed without one). */
function sendRaw(base: URL, bytes: Uint8Array): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(Number(base.port), base.hostname);
    let got = '';
    const done = () => {
      const m = /^HTTP\/1\.[01] ([0-9]{3})/.exec(got);
      resolve(m === null ? 0 : Number(m[1]));
    };
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (/\r\n\r\n/.test(got)) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', done);
    socket.write(bytes);
  });
}

/** Runs the fuzzer; resolves with its figures (failures are in the result). */
export async function runFuzz(overrides: Partial<FuzzOptions> = {}): Promise<FuzzResult> {
  const o: FuzzOptions = { ...DEFAULT_FUZZ_OPTIONS, ...overrides };
  if (!Number.isSafeInteger(o.requests) || o.requests < 1 || o.requests > 10_000_000) throw new RangeError('requests must be 1..10^7');
  const random = prng(o.seed);
  const data = await mkdtemp(join(tmpdir(), 'cairn-fuzz-'));
  const server = spawnServer(o.cli, data, ['--origin', 'fuzz.example/log']);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let checker: LogChecker | undefined;
  let treeSize = 0;
  const started = Date.now();
  try {
    const url = await server.listening;
    const base = new URL(url);
    checker = new LogChecker(newVerifier(server.verifierKey()!));
    o.print(`fuzz: ${o.requests} requests, seed ${o.seed}, concurrency ${o.concurrency}, server ${url}`);

    // Seed the log so that read routes have something to find.
    const known = Array.from({ length: 300 }, (_, i) => new TextEncoder().encode(`fuzz seed ${o.seed} ${i}`));
    const seeded = await fetch(`${url}/v1/batch`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ entries: known.map(encodeBase64) }),
    });
    const seedBody = (await seeded.json()) as { checkpoint: string; receipts: object[] };
    seedBody.receipts.forEach((r, i) => checker!.recordReceipt(known[i]!, r, seedBody.checkpoint, 'seed batch'));
    const gen = new Gen(random, known.length, known);

    let next = 0;
    const worker = async () => {
      while (next < o.requests) {
        const n = next++;
        const r = gen.request();
        let status: number;
        if (r.kind === 'raw') {
          status = await sendRaw(base, r.bytes);
        } else {
          try {
            const answer = await sendHttp(base, agent, r);
            status = answer.status;
            if ((status === 200 || status === 201) && r.method === 'POST' && r.body !== undefined) recordWrite(checker!, r, answer);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            // node:http refuses to send some hostile paths and headers itself: send those raw.
            if (code === 'ERR_UNESCAPED_CHARACTERS' || code === 'ERR_INVALID_CHAR' || code === 'ERR_INVALID_HTTP_TOKEN') {
              status = await sendRaw(base, asRawBytes(r));
            } else {
              status = 0;
              failures.push(`#${n} ${r.note}: no answer (${(err as Error).message})`);
            }
          }
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500) failures.push(`#${n} ${r.note}: answered ${status}`);
        if (n % 1000 === 999) {
          const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) });
          if (health.status !== 200) failures.push(`after request ${n + 1}: /healthz answered ${health.status}`);
          o.print(`  ${n + 1} requests sent, ${failures.length} failures`);
        }
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, worker));

    // The server is still up, and its log is consistent with everything it showed.
    if (server.child.exitCode !== null || server.child.signalCode !== null) failures.push('the server exited during the run');
    const newest = await checker.newest(url);
    treeSize = newest.treeSize;
    const lost = await checker.checkReceipts(url, newest, checker.receipts, 16);
    if (lost > 0) failures.push(`${lost} receipts do not verify against the newest checkpoint`);
    await checker.checkConsistency(url, newest);
    await checker.checkWholeTree(url, newest);
  } finally {
    agent.destroy();
    await server.stop('SIGTERM');
    if (server.child.exitCode !== 0 && checker !== undefined) checker.problems.push(`the server exited with ${server.child.exitCode ?? server.child.signalCode} on SIGTERM`);
    if (o.keep) o.print(`data kept in ${data}`);
    else await rm(data, { recursive: true, force: true });
  }
  const problems = checker?.problems ?? [];
  const sent = [...statuses.values()].reduce((a, b) => a + b, 0);
  const over500 = [...statuses].filter(([s]) => s >= 500).reduce((a, [, c]) => a + c, 0);
  for (const f of failures.slice(0, 20)) o.print(`FAILURE: ${f}`);
  for (const p of problems.slice(0, 20)) o.print(`PROBLEM: ${p}`);
  o.print(`statuses: ${[...statuses].sort(([a], [b]) => a - b).map(([s, c]) => `${s === 0 ? 'closed' : s} x${c}`).join(', ')}`);
  o.print(
    `${sent} requests in ${((Date.now() - started) / 1000).toFixed(1)} s: ${over500} answers >= 500; ` +
      `server ${failures.length === 0 && problems.length === 0 ? 'stayed up and consistent' : 'FAILED'} at tree size ${treeSize} (${checker?.receipts.length ?? 0} receipts verified)`,
  );
  return { requests: sent, statuses, failures, problems, treeSize, receipts: checker?.receipts.length ?? 0 };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string' },
      seed: { type: 'string' },
      concurrency: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write('usage: npm run fuzz -- [--requests N (10000)] [--seed S] [--concurrency C (16)] [--keep]\n');
    return 0;
  }
  const int = wholeNumberOption;
  const result = await runFuzz({
    requests: int(values.requests, 'requests', DEFAULT_FUZZ_OPTIONS.requests),
    seed: int(values.seed, 'seed', DEFAULT_FUZZ_OPTIONS.seed),
    concurrency: Math.max(1, int(values.concurrency, 'concurrency', DEFAULT_FUZZ_OPTIONS.concurrency)),
    keep: values.keep === true,
  });
  return result.failures.length === 0 && result.problems.length === 0 ? 0 : 1;
}

runIfMain(import.meta.url, 'fuzz', main);
