/**
 * CairnClient: a submitter's, monitor's and auditor's view of one Cairn log
 * (CONTRACT §3) that trusts nothing the log says until it is verified against
 * a checkpoint signed by the log's key. Browser-safe: `fetch`, `Uint8Array`,
 * src/merkle, src/note and src/jcs only.
 */
import { canonicalizeValue } from '../jcs/canonical.js';
import { EMPTY_ROOT, HASH_SIZE, leafHash, nodeHash } from '../merkle/hash.js';
import { bytesEqual } from '../merkle/check.js';
import { proveConsistency, proveInclusion, verifyConsistency, verifyInclusion } from '../merkle/proof.js';
import { storedHashIndex } from '../merkle/stored.js';
import { formatTilePath, hashFromTile, TILE_HEIGHT, TILE_WIDTH, tileWidth, type Tile } from '../merkle/tile.js';
import { decodeBase64, encodeBase64 } from '../note/base64.js';
import { parseCheckpoint, type Checkpoint } from '../note/checkpoint.js';
import { newVerifier, type Verifier } from '../note/keys.js';
import { NoteError, openNote } from '../note/note.js';
import { verifyTreeHead, type TreeHead } from '../note/sth.js';
import { firstMismatchedEntry, MAX_ENTRY_SIZE, parseEntryBundle } from '../merkle/bundle.js';
import { ClientError, escapeText } from './errors.js';
import { HttpTransport, type CacheMode, type TransportOptions } from './http.js';
import { checkReceiptProof, otherKeyOfName, parseReceipt, type Receipt } from './receipt.js';
import { ownBytes, TileHashReader, type TileFetcher, type TreeRef } from './tile-reader.js';

/** CONTRACT §3: a batch holds 1 to 1000 entries. */
export const MAX_BATCH_ENTRIES = 1000;

/**
 * The most read of an answer that holds no entry: a checkpoint, a signed tree
 * head, a log description, or a proof (at most 64 hashes of 44 base64
 * characters: about 3 KB). Real ones are well under 4 KB; the rest is room
 * for cosignatures, extension lines and whitespace.
 */
const SMALL_ANSWER_BYTES = 64 * 1024;
/** Base64 of the largest entry (CONTRACT §1: 65,535 bytes). */
const MAX_ENTRY_BASE64 = 4 * Math.ceil(MAX_ENTRY_SIZE / 3);
/**
 * The most one receipt of a /v1/batch answer (without its checkpoint) takes:
 * index, leaf hash, up to 64 proof hashes and "duplicate", pretty-printed.
 */
const BATCH_RECEIPT_BYTES = 8 * 1024;
/** The most one get-entries entry takes: base64 of the largest entry, with its field names. */
const GET_ENTRIES_ENTRY_BYTES = MAX_ENTRY_BASE64 + 256;
/** The most read of a single receipt: its checkpoint note and the rest of it. */
const RECEIPT_BYTES = 2 * SMALL_ANSWER_BYTES;
/** CONTRACT §3: get-entries answers at most 1000 entries. */
const MAX_GET_ENTRIES = 1000;
/** The media type of tiles and entry bundles (CONTRACT §3). */
const OCTET_STREAM = 'application/octet-stream';

/** The fault of a tile's first answer that was a 404 (see #readWellFormed). */
const NOT_SERVED = 'it was answered 404';
/** How many entry bundles readEntryRange fetches and verifies at once, ahead of the one it yields next. */
const BUNDLES_IN_FLIGHT = 8;

/** `data` if it is a hash tile of `width` hashes; else a RangeError saying what it is. */
function hashTileForm(data: Uint8Array, width: number): Uint8Array {
  const size = width * HASH_SIZE;
  if (data.length !== size) throw new RangeError(`the answer is ${data.length} bytes, not the ${size} of a tile of ${width} hashes`);
  return data;
}

/** The entries of `data` if it is a bundle of `width` entries; else a RangeError saying what it is. */
function bundleForm(data: Uint8Array, width: number): Uint8Array[] {
  try {
    return parseEntryBundle(data, width);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new RangeError(`the answer is not a bundle of ${width} entries: ${err.message.replace(/^parseEntryBundle: /, '')}`);
  }
}

/** How to reach and trust one log: its URL and verifier key (CONTRACT §2), plus the transport options. */
export interface CairnClientOptions extends TransportOptions {
  /** The log's base URL, e.g. `https://log.example.com` (tiles are below it). */
  readonly baseUrl: string;
  /** The log's verifier key (`<origin>+<hash>+<base64>`) or a Verifier: every signature is checked with it. */
  readonly verifierKey: string | Verifier;
  /** Most tile requests in flight at once; default 8. */
  readonly tileConcurrency?: number;
}

/**
 * A checkpoint whose signature verified, with the signed note it came in.
 * To keep one (a monitor's last checkpoint, say), persist `.note`, the
 * signed text, and reload it with `client.openCheckpoint(note)`, which
 * verifies it again: `JSON.stringify(checkpoint)` does not round-trip, as
 * its `rootHash` is a Uint8Array, which JSON writes as an object of numbered
 * bytes that does not parse back into one.
 */
export interface SignedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** The whole signed note, as served: the form to store (see above). */
  readonly note: string;
}

/** A receipt that verified: the entry is in the receipt's checkpoint. */
export interface VerifiedReceipt {
  /** The receipt, always with its checkpoint (batch receipts get the batch's). */
  readonly receipt: Receipt;
  /** The logged bytes (for JSON, the RFC 8785 canonical form). */
  readonly entry: Uint8Array;
  readonly checkpoint: Checkpoint;
}

/** The answer to a batch: one checkpoint and a verified receipt per entry, in input order. */
export interface BatchResult {
  readonly checkpoint: SignedCheckpoint;
  readonly receipts: VerifiedReceipt[];
}

/** A verified inclusion proof: leaf `index` with `leafHash` is in `checkpoint`'s tree. */
export interface InclusionResult {
  readonly index: number;
  readonly leafHash: Uint8Array;
  readonly proof: Uint8Array[];
  readonly checkpoint: Checkpoint;
}

/** A verified inclusion proof together with the entry itself. */
export interface EntryResult extends InclusionResult {
  readonly entry: Uint8Array;
}

/**
 * Entries of one entry bundle, in index order, that readEntryRange verified
 * against its checkpoint: entry `start + i` is `entries[i]`, whose RFC 6962
 * leaf hash is `leafHashes[i]`. Holds 1 to 256 entries: those of the bundle
 * within the range asked.
 */
export interface VerifiedEntries {
  /** The index of `entries[0]` in the log. */
  readonly start: number;
  readonly entries: readonly Uint8Array[];
  readonly leafHashes: readonly Uint8Array[];
}

/** Options of readEntryRange. */
export interface EntryRangeOptions {
  /**
   * Stops the range, as the transport's own `signal` stops every request:
   * once it aborts, the range's requests in flight and their waits before
   * retries are aborted, no more are sent, no more entries are yielded, and
   * the generator rejects with the signal's reason (an AbortError
   * DOMException unless the one who aborted gave another), not a
   * ClientError. Listened to for the range's life only.
   */
  readonly signal?: AbortSignal;
}

/** Entry bundle `n` of a tree, all its entries with their leaf hashes, verified. */
interface VerifiedBundle {
  readonly n: number;
  readonly entries: Uint8Array[];
  readonly leafHashes: Uint8Array[];
}

/** `GET /v1/log`: what the log says about itself (not signed: informational). */
export interface LogInfo {
  readonly origin: string;
  readonly verifierKey: string;
  readonly treeSize: number;
  readonly version: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkIndexArg(x: unknown, name: string): number {
  if (typeof x !== 'number') throw new TypeError(`${name} must be a number`);
  if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`${name} must be a safe non-negative integer, got ${String(x)}`);
  return x;
}

/**
 * A tree argument: a Checkpoint (or any `{ treeSize, rootHash }`) of this
 * log. What getCheckpoint() resolves to is refused by name, since its
 * `.checkpoint` is what was meant. A size that is not a safe non-negative
 * integer or a root that is not 32 bytes is no tree at all (RangeError),
 * and a checkpoint of another log (an `origin` other than `origin`) is a
 * mix-up of the caller's (RangeError naming both), not evidence against
 * this log: checked against it, it would fail as INCONSISTENT, BAD_PROOF
 * or TILE_MISMATCH, a false alarm of a fork.
 */
function checkTreeArg<T extends TreeRef>(x: T, name: string, origin: string): T {
  if (isObject(x) && 'checkpoint' in x && 'note' in x) {
    throw new TypeError(`${name} must be a checkpoint ({ treeSize, rootHash }), not what getCheckpoint() resolves to: pass its .checkpoint`);
  }
  if (!isObject(x) || typeof x.treeSize !== 'number' || !(x.rootHash instanceof Uint8Array)) {
    throw new TypeError(`${name} must be a checkpoint ({ treeSize, rootHash })`);
  }
  if (!Number.isSafeInteger(x.treeSize) || x.treeSize < 0) throw new RangeError(`${name}: treeSize must be a safe non-negative integer, got ${String(x.treeSize)}`);
  if (x.rootHash.length !== HASH_SIZE) throw new RangeError(`${name}: rootHash must be ${HASH_SIZE} bytes, got ${x.rootHash.length}`);
  const own = (x as { origin?: unknown }).origin;
  if (own !== undefined && own !== origin) {
    const shown = typeof own === 'string' ? escapeText(own) : own === null ? 'null' : typeof own === 'object' ? 'an object' : `a ${typeof own}`;
    throw new RangeError(`${name} is a checkpoint of ${shown}, not of this client's log ${origin}: check it with a client of that log`);
  }
  return x;
}

function checkEntry(entry: unknown, name: string): Uint8Array {
  if (!(entry instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (entry.length === 0 || entry.length > MAX_ENTRY_SIZE) throw new RangeError(`${name} must be 1 to ${MAX_ENTRY_SIZE} bytes, got ${entry.length}`);
  return entry;
}

/**
 * Refuses a signed tree head of size 0 whose root is not SHA-256("")
 * (RFC 6962 §2.1): a statement no log can truthfully sign.
 */
function checkEmptyRoot(head: { treeSize: number; rootHash: Uint8Array }, what: string): void {
  if (head.treeSize === 0 && !bytesEqual(head.rootHash, EMPTY_ROOT)) {
    throw new ClientError('INCONSISTENT', `${what} is of size 0 with a root other than SHA-256("")`);
  }
}

/**
 * Whether `v` has the shape of an RFC 6962 §4.3 get-sth answer (the four
 * fields, sizes and timestamp safe integers, a 32-byte root, a signature
 * string), whatever its signature: one that does not is no tree head at all.
 */
function isTreeHeadShaped(v: unknown): boolean {
  if (!isObject(v)) return false;
  const keys = Object.keys(v).sort();
  if (keys.join(',') !== 'sha256_root_hash,timestamp,tree_head_signature,tree_size') return false;
  const uint = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (!uint(v.tree_size) || !uint(v.timestamp) || typeof v.tree_head_signature !== 'string' || typeof v.sha256_root_hash !== 'string') return false;
  try {
    return decodeBase64(v.sha256_root_hash).length === 32;
  } catch {
    return false;
  }
}

/**
 * A client for one Cairn log; see the module comment. Every Uint8Array it
 * resolves to (entries, leaf hashes, proof hashes, tiles) is in an
 * ArrayBuffer of its own, shared with nothing else the client or the
 * process holds: transferring its `.buffer` detaches it alone.
 *
 * A checkpoint or tree passed to a method (`{ treeSize, rootHash }`, a
 * Checkpoint) must be a tree of this log: a TypeError for one that is not
 * such an object (or is what getCheckpoint() resolves to: pass its
 * `.checkpoint`), a RangeError for a size that is not a safe non-negative
 * integer, a root that is not 32 bytes, or an `origin` other than this
 * client's (another log's checkpoint, which would fail as INCONSISTENT,
 * BAD_PROOF or TILE_MISMATCH though this log is honest).
 */
export class CairnClient {
  readonly baseUrl: string;
  readonly verifier: Verifier;
  /** The log's origin: the verifier key's name. */
  readonly origin: string;
  readonly #http: HttpTransport;
  readonly #tileConcurrency: number;
  readonly #fetcher: TileFetcher;

  constructor(options: CairnClientOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('CairnClient: options must be an object');
    this.#http = new HttpTransport(options.baseUrl, options);
    this.baseUrl = this.#http.baseUrl;
    this.verifier = typeof options.verifierKey === 'string' ? newVerifier(options.verifierKey) : options.verifierKey;
    if (this.verifier === null || typeof this.verifier !== 'object' || typeof this.verifier.verify !== 'function') {
      throw new TypeError('CairnClient: verifierKey must be a verifier key string or a Verifier');
    }
    this.origin = this.verifier.name;
    this.#tileConcurrency = options.tileConcurrency ?? 8;
    this.#fetcher = { readTile: (tile) => this.readTile(tile) };
  }

  /** A TileHashReader against `tree` whose requests `signal` stops (see readEntryRange). */
  #tileReader(tree: TreeRef, signal: AbortSignal | undefined): TileHashReader {
    const fetcher = signal === undefined ? this.#fetcher : { readTile: (tile: Tile) => this.#readTile(tile, signal) };
    return new TileHashReader(tree, fetcher, { concurrency: this.#tileConcurrency });
  }

  #badResponse(path: string, what: string): ClientError {
    const url = this.#http.url(path);
    return new ClientError('BAD_RESPONSE', `${url}: ${what}`, { url });
  }

  #hashList(value: unknown, path: string, field: string): Uint8Array[] {
    if (!Array.isArray(value)) throw this.#badResponse(path, `"${field}" is not an array`);
    return value.map((v) => {
      let h: Uint8Array | undefined;
      try {
        h = typeof v === 'string' ? decodeBase64(v) : undefined;
      } catch {
        h = undefined;
      }
      if (h === undefined || h.length !== 32) throw this.#badResponse(path, `"${field}" holds something that is not base64 of a 32-byte hash`);
      return h;
    });
  }

  /**
   * Opens a signed checkpoint note (C2SP tlog-checkpoint, signed-note) with
   * the log's key: BAD_RESPONSE if it is not a signed note at all (an HTML
   * error page, say) or what the key signed is not a checkpoint of this log,
   * which contradicts nothing; BAD_SIGNATURE if the note holds no valid
   * signature by the log's key; INCONSISTENT for size 0 with a root other
   * than SHA-256("").
   */
  openCheckpoint(note: string | Uint8Array): SignedCheckpoint {
    return this.#openCheckpoint(note, undefined);
  }

  /**
   * openCheckpoint, naming in a BAD_RESPONSE the URL below the base URL that
   * served the note, when there is one, and in every message `which`
   * checkpoint it was (one that came with receipts, say).
   */
  #openCheckpoint(note: string | Uint8Array, path: string | undefined, which?: string): SignedCheckpoint {
    const url = path === undefined ? undefined : this.#http.url(path);
    const bad = (what: string, cause: unknown) =>
      new ClientError('BAD_RESPONSE', url === undefined ? what : `${url}: ${what}`, { cause, ...(url === undefined ? {} : { url }) });
    let text: string;
    try {
      text = openNote(note, [this.verifier]).text;
    } catch (err) {
      if (!(err instanceof NoteError)) throw err;
      // What the note says is the log's to choose: quoted escaped.
      const why = escapeText(err.message);
      if (err.code === 'INVALID_SIGNATURE' || err.code === 'UNVERIFIED') {
        // A note of another log (its first line, the origin, is not the key's name) is most often a wrong
        // URL or key, not a forgery; it stays BAD_SIGNATURE (a log may serve any origin), naming both.
        const origin = err.code === 'UNVERIFIED' ? (typeof note === 'string' ? note : new TextDecoder().decode(note)).split('\n', 1)[0]! : this.origin;
        // Of its origin but signed by another key of that name: both key IDs (a key swap, or the wrong key file).
        const otherKey = origin === this.origin && err.code === 'UNVERIFIED' ? otherKeyOfName(note, this.verifier) : undefined;
        const other =
          origin !== this.origin ? `this log's origin is ${escapeText(origin)}, the key is for ${this.origin}: is the URL or the key wrong?` : (otherKey ?? why);
        const what = `${which ?? 'the checkpoint'} is not signed by ${this.origin}: ${other}`;
        throw new ClientError('BAD_SIGNATURE', which === undefined || url === undefined ? what : `${url}: ${what}`, { cause: err });
      }
      throw bad(which === undefined ? `not a signed checkpoint note: ${why}` : `${which} is not a signed checkpoint note: ${why}`, err);
    }
    let checkpoint: Checkpoint;
    try {
      checkpoint = parseCheckpoint(text, this.origin);
    } catch (err) {
      if (!(err instanceof NoteError)) throw err;
      const what = which === undefined ? `the note signed by ${this.origin}` : `${which}, a note signed by ${this.origin},`;
      throw bad(`${what} is not a checkpoint of it: ${escapeText(err.message)}`, err);
    }
    checkEmptyRoot(checkpoint, which ?? 'the signed checkpoint');
    return { checkpoint, note: typeof note === 'string' ? note : new TextDecoder().decode(note) };
  }

  /**
   * `GET /checkpoint` (C2SP tlog-tiles), verified with the log's key
   * (CONTRACT §2). Every log serves one (a new log signs one of size 0 at its
   * first start), so a 404 says that the base URL is not the log's (a path a
   * proxy does not strip, a prefix too many): its HTTP_STATUS error asks so.
   * `options.cache` is the request's cache mode (RequestSpec.cache): with
   * 'reload' the checkpoint is asked for past the caches that honour
   * `no-cache`, for one fresh from the log rather than a CDN's old copy.
   */
  async getCheckpoint(options: { cache?: CacheMode } = {}): Promise<SignedCheckpoint> {
    if (options === null || typeof options !== 'object') throw new TypeError('getCheckpoint: options must be an object');
    let note: Uint8Array;
    try {
      note = await this.#http.bytes('checkpoint', 'text/plain', SMALL_ANSWER_BYTES, undefined, undefined, options.cache);
    } catch (err) {
      if (err instanceof ClientError && err.code === 'HTTP_STATUS' && err.status === 404) err.message += `; is ${this.baseUrl} the log's base URL (where /checkpoint is served)?`;
      throw err;
    }
    return this.#openCheckpoint(note, 'checkpoint');
  }

  /**
   * `GET /ct/v1/get-sth` (RFC 6962 §4.3), its signature verified (CONTRACT
   * §2): BAD_SIGNATURE if it does not verify with the log's key, BAD_RESPONSE
   * if the answer is not a tree head at all. `options.cache` is the
   * request's cache mode, as getCheckpoint's: 'reload' asks past the caches
   * that honour `no-cache`.
   */
  async getTreeHead(options: { cache?: CacheMode } = {}): Promise<TreeHead> {
    if (options === null || typeof options !== 'object') throw new TypeError('getTreeHead: options must be an object');
    const path = 'ct/v1/get-sth';
    const sth = await this.#http.json({ path, maxBytes: SMALL_ANSWER_BYTES, ...(options.cache === undefined ? {} : { cache: options.cache }) });
    const head = verifyTreeHead(sth, this.verifier);
    if (head === null) {
      if (!isTreeHeadShaped(sth)) throw this.#badResponse(path, 'not a signed tree head {"tree_size", "timestamp", "sha256_root_hash", "tree_head_signature"}');
      throw new ClientError('BAD_SIGNATURE', `the signed tree head of ${this.baseUrl} does not verify with the key of ${this.origin}`);
    }
    checkEmptyRoot(head, 'the signed tree head');
    return head;
  }

  /** `GET /v1/log`: the log's own description, not signed (informational only). */
  async getLogInfo(): Promise<LogInfo> {
    const path = 'v1/log';
    const v = await this.#http.json({ path, maxBytes: SMALL_ANSWER_BYTES });
    if (!isObject(v) || typeof v.origin !== 'string' || typeof v.verifier_key !== 'string' || typeof v.tree_size !== 'number' || typeof v.version !== 'string') {
      throw this.#badResponse(path, 'not a log description');
    }
    return { origin: v.origin, verifierKey: v.verifier_key, treeSize: v.tree_size, version: v.version };
  }

  /**
   * Verifies a receipt for `entry` from the answer to `path`: its checkpoint
   * first, as every checkpoint (BAD_RESPONSE if it is not one, BAD_SIGNATURE
   * if the log's key did not sign it), then its proof to that checkpoint
   * (BAD_RECEIPT). A batch's checkpoint was verified once for all its receipts.
   */
  #verifyReceipt(value: unknown, entry: Uint8Array, batch: SignedCheckpoint | undefined, path: string, what: string): VerifiedReceipt {
    const receipt = parseReceipt(value, batch?.note);
    if (typeof receipt === 'string') throw this.#badResponse(what, receipt);
    const checkpoint = batch ?? this.#openCheckpoint(receipt.checkpoint, path, "the receipt's checkpoint");
    const check = checkReceiptProof(receipt, entry, checkpoint.checkpoint);
    if (!check.valid) throw new ClientError('BAD_RECEIPT', `${what}: the receipt does not verify: ${check.reason}`);
    return { receipt, entry, checkpoint: check.checkpoint };
  }

  /**
   * Logs one entry (`POST /v1/entries`, application/octet-stream; CONTRACT §3)
   * and verifies its receipt: its checkpoint as {@link openCheckpoint} does
   * (BAD_RESPONSE if it is not one, BAD_SIGNATURE if the log's key did not
   * sign it), then BAD_RECEIPT if it does not prove the entry in that checkpoint.
   */
  async addEntry(entry: Uint8Array): Promise<VerifiedReceipt> {
    checkEntry(entry, 'addEntry: entry');
    const path = 'v1/entries';
    const body = await this.#http.json({ method: 'POST', path, body: entry, contentType: 'application/octet-stream', maxBytes: RECEIPT_BYTES });
    return this.#verifyReceipt(body, entry, undefined, path, path);
  }

  /**
   * Logs one JSON value as its RFC 8785 canonical bytes (`POST /v1/entries`,
   * application/json; CONTRACT §1) and verifies the receipt against those
   * bytes, as addEntry does. Throws JsonError (exported with
   * canonicalizeValue, which gives the bytes logged) for a value without an
   * I-JSON form.
   */
  async addJson(value: unknown): Promise<VerifiedReceipt> {
    const entry = checkEntry(canonicalizeValue(value), 'addJson: canonical value');
    const path = 'v1/entries';
    const body = await this.#http.json({ method: 'POST', path, body: entry, contentType: 'application/json', maxBytes: RECEIPT_BYTES });
    return this.#verifyReceipt(body, entry, undefined, path, path);
  }

  /**
   * Logs 1 to 1000 entries in one `POST /v1/batch` (CONTRACT §3) and verifies
   * every receipt against the batch's checkpoint: BAD_RESPONSE or
   * BAD_SIGNATURE if that checkpoint is bad (as for addEntry), BAD_RECEIPT
   * naming the first receipt that does not prove its entry in it.
   *
   * A log may take fewer entries or bytes in one request than this method
   * allows, and refuses a batch over its limits whole (nothing of it is
   * logged) with HTTP_STATUS: status 400 serverCode TOO_MANY_ENTRIES for
   * more entries than the access token may submit per period (the message
   * says how many it may), status 413 (serverCode BODY_TOO_LARGE, or a
   * proxy's limit on request bodies) for a body too large. Neither is
   * retried, as sending it again would be refused again: splitting the batch
   * and sending the parts is the caller's to do.
   */
  async addBatch(entries: readonly Uint8Array[]): Promise<BatchResult> {
    if (!Array.isArray(entries)) throw new TypeError('addBatch: entries must be an array');
    if (entries.length === 0 || entries.length > MAX_BATCH_ENTRIES) {
      throw new RangeError(`addBatch: a batch holds 1 to ${MAX_BATCH_ENTRIES} entries, got ${entries.length}`);
    }
    entries.forEach((e, i) => checkEntry(e, `addBatch: entries[${i}]`));
    const path = 'v1/batch';
    const body = JSON.stringify({ entries: entries.map(encodeBase64) });
    const maxBytes = SMALL_ANSWER_BYTES + entries.length * BATCH_RECEIPT_BYTES;
    const answer = await this.#http.json({ method: 'POST', path, body, contentType: 'application/json', maxBytes });
    if (!isObject(answer) || typeof answer.checkpoint !== 'string' || !Array.isArray(answer.receipts)) {
      throw this.#badResponse(path, 'not {"checkpoint", "receipts"}');
    }
    if (answer.receipts.length !== entries.length) {
      throw this.#badResponse(path, `${answer.receipts.length} receipts for ${entries.length} entries`);
    }
    const checkpoint = this.#openCheckpoint(answer.checkpoint, path, "the batch's checkpoint");
    const receipts = answer.receipts.map((r, i) => this.#verifyReceipt(r, entries[i]!, checkpoint, path, `${path} receipt ${i}`));
    return { checkpoint, receipts };
  }

  /** `GET /ct/v1/get-entries` (RFC 6962 §4.6): entries start..end as served, NOT verified (see readEntryBundle). */
  async getEntries(start: number, end: number): Promise<Uint8Array[]> {
    checkIndexArg(start, 'getEntries: start');
    checkIndexArg(end, 'getEntries: end');
    const path = `ct/v1/get-entries?start=${start}&end=${end}`;
    const asked = end >= start ? Math.min(end - start + 1, MAX_GET_ENTRIES) : 1;
    const v = await this.#http.json({ path, maxBytes: SMALL_ANSWER_BYTES + asked * GET_ENTRIES_ENTRY_BYTES });
    if (!isObject(v) || !Array.isArray(v.entries)) throw this.#badResponse(path, 'not {"entries": [...]}');
    return v.entries.map((e) => {
      if (!isObject(e) || typeof e.leaf_input !== 'string') throw this.#badResponse(path, 'an entry has no "leaf_input"');
      try {
        return decodeBase64(e.leaf_input);
      } catch {
        throw this.#badResponse(path, '"leaf_input" is not base64');
      }
    });
  }

  async #latest(checkpoint: Checkpoint | undefined, name: string): Promise<Checkpoint> {
    return checkpoint === undefined ? (await this.getCheckpoint()).checkpoint : checkTreeArg(checkpoint, name, this.origin);
  }

  /**
   * Proves that the leaf hash `hash` is in `checkpoint`'s tree (default: the
   * latest verified checkpoint) with `GET /ct/v1/get-proof-by-hash` (RFC 6962
   * §4.5), and verifies the proof (BAD_PROOF if it fails). A leaf that is not
   * in the tree rejects with HTTP_STATUS, status 404.
   */
  async proveHash(hash: Uint8Array, checkpoint?: Checkpoint): Promise<InclusionResult> {
    if (!(hash instanceof Uint8Array)) throw new TypeError('proveHash: hash must be a Uint8Array');
    if (hash.length !== 32) throw new RangeError('proveHash: hash must be 32 bytes');
    const cp = await this.#latest(checkpoint, 'proveHash: checkpoint');
    if (cp.treeSize === 0) throw new ClientError('HTTP_STATUS', 'the log is empty', { status: 404, serverCode: 'NOT_FOUND' });
    const path = `ct/v1/get-proof-by-hash?hash=${encodeURIComponent(encodeBase64(hash))}&tree_size=${cp.treeSize}`;
    const v = await this.#http.json({ path, maxBytes: SMALL_ANSWER_BYTES });
    if (!isObject(v) || typeof v.leaf_index !== 'number' || !Number.isSafeInteger(v.leaf_index) || v.leaf_index < 0) {
      throw this.#badResponse(path, 'no "leaf_index"');
    }
    const proof = this.#hashList(v.audit_path, path, 'audit_path');
    const index = v.leaf_index;
    if (!verifyInclusion(hash, index, cp.treeSize, proof, cp.rootHash)) {
      throw new ClientError('BAD_PROOF', `the log's proof for leaf hash ${encodeBase64(hash)} at index ${index} does not lead to the root of the tree of size ${cp.treeSize}`);
    }
    return { index, leafHash: hash.slice(), proof, checkpoint: cp };
  }

  /**
   * Fetches entry `index` with its proof (`GET /ct/v1/get-entry-and-proof`,
   * RFC 6962 §4.8) against `checkpoint` (default: the latest verified one)
   * and verifies it; BAD_PROOF if it does not lead to the signed root.
   * Throws RangeError, before any request for the entry, when `index` is not
   * below the checkpoint's tree size: with no checkpoint given, an entry
   * past the latest checkpoint (not logged yet, or never: compare `index`
   * with `(await client.getCheckpoint()).checkpoint.treeSize` first to tell
   * that apart from an error).
   */
  async getEntry(index: number, checkpoint?: Checkpoint): Promise<EntryResult> {
    checkIndexArg(index, 'getEntry: index');
    const cp = await this.#latest(checkpoint, 'getEntry: checkpoint');
    if (index >= cp.treeSize) throw new RangeError(`getEntry: index ${index} is not in the tree of size ${cp.treeSize}`);
    const path = `ct/v1/get-entry-and-proof?leaf_index=${index}&tree_size=${cp.treeSize}`;
    const v = await this.#http.json({ path, maxBytes: SMALL_ANSWER_BYTES + MAX_ENTRY_BASE64 });
    if (!isObject(v) || typeof v.leaf_input !== 'string') throw this.#badResponse(path, 'no "leaf_input"');
    let entry: Uint8Array;
    try {
      entry = decodeBase64(v.leaf_input);
    } catch {
      throw this.#badResponse(path, '"leaf_input" is not base64');
    }
    if (entry.length === 0 || entry.length > MAX_ENTRY_SIZE) throw this.#badResponse(path, `"leaf_input" is ${entry.length} bytes, not 1 to ${MAX_ENTRY_SIZE}`);
    const proof = this.#hashList(v.audit_path, path, 'audit_path');
    const leaf = leafHash(entry);
    if (!verifyInclusion(leaf, index, cp.treeSize, proof, cp.rootHash)) {
      throw new ClientError('BAD_PROOF', `the log's entry ${index} and its proof do not lead to the root of the tree of size ${cp.treeSize}`);
    }
    return { index, leafHash: ownBytes(leaf), proof, checkpoint: cp, entry };
  }

  /** `GET /ct/v1/get-sth-consistency` (RFC 6962 §4.4) as served, NOT verified (see verifyConsistency). */
  async getConsistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    checkIndexArg(first, 'getConsistencyProof: first');
    checkIndexArg(second, 'getConsistencyProof: second');
    const path = `ct/v1/get-sth-consistency?first=${first}&second=${second}`;
    const v = await this.#http.json({ path, maxBytes: SMALL_ANSWER_BYTES });
    if (!isObject(v)) throw this.#badResponse(path, 'not {"consistency": [...]}');
    return this.#hashList(v.consistency, path, 'consistency');
  }

  /**
   * Checks that `newer` extends `older` (both verified checkpoints of this
   * log): same root at the same size, otherwise an RFC 6962 §2.1.2
   * consistency proof, from the log's endpoint or, with `fromTiles`, computed
   * here from tiles authenticated against `newer` (RFC 9162 §2.1.4.2
   * verification either way). Resolves to the proof; rejects with
   * INCONSISTENT for a smaller tree, a second root for one size, or a proof
   * that fails. A proof from tiles that fails shows that `newer` does not
   * extend `older`; one from the log's endpoint only that it does not verify
   * (proofs are not signed: a cache that answers another pair's proof makes
   * one too), so its message says no more. With `fromTiles`, `reader` is
   * the tile reader to compute the proof with (default a new one): a
   * reader against `newer` (its size and root; RangeError otherwise), which
   * several checks against one tree may share, so that each tile is read once.
   */
  async verifyConsistency(older: Checkpoint, newer: Checkpoint, options: { fromTiles?: boolean; reader?: TileHashReader } = {}): Promise<Uint8Array[]> {
    const a = checkTreeArg(older, 'verifyConsistency: older', this.origin).treeSize;
    const b = checkTreeArg(newer, 'verifyConsistency: newer', this.origin).treeSize;
    const { reader } = options;
    if (reader !== undefined) {
      if (!(reader instanceof TileHashReader)) throw new TypeError('verifyConsistency: options.reader must be a TileHashReader');
      if (options.fromTiles !== true) throw new TypeError('verifyConsistency: options.reader is for a proof from tiles: give fromTiles: true with it');
      if (reader.treeSize !== b || !bytesEqual(reader.rootHash, newer.rootHash)) {
        const which = reader.treeSize === b ? `another root for size ${b}` : `size ${reader.treeSize}, not ${b}`;
        throw new RangeError(`verifyConsistency: options.reader reads another tree than newer (${which}): give a reader against newer`);
      }
    }
    if (a > b) throw new ClientError('INCONSISTENT', `the tree shrank from ${a} to ${b} leaves`);
    checkEmptyRoot(older, 'the older tree head');
    checkEmptyRoot(newer, 'the newer tree head');
    if (a === b) {
      if (!bytesEqual(older.rootHash, newer.rootHash)) {
        throw new ClientError('INCONSISTENT', `two roots for tree size ${a}: ${encodeBase64(older.rootHash)} and ${encodeBase64(newer.rootHash)} (a fork)`);
      }
      return [];
    }
    if (a === 0) return [];
    const fromTiles = options.fromTiles === true;
    const proof = fromTiles ? await proveConsistency(a, b, reader ?? this.tileReader(newer)) : await this.getConsistencyProof(a, b);
    if (!verifyConsistency(a, b, older.rootHash, newer.rootHash, proof)) {
      const [rootA, rootB] = [encodeBase64(older.rootHash), encodeBase64(newer.rootHash)];
      throw new ClientError(
        'INCONSISTENT',
        fromTiles
          ? `the tree of size ${b} (root ${rootB}) does not extend the tree of size ${a} (root ${rootA}) (proof from tiles)`
          : `the log's consistency proof from tree size ${a} (root ${rootA}) to tree size ${b} (root ${rootB}) does not verify: either the second tree does not extend the first, or the proof is not for these sizes (a cache that ignores the query, say)`,
      );
    }
    // Computed from tiles, a hash of the right edge is node:crypto's, cut from a shared slab.
    return fromTiles ? proof.map(ownBytes) : proof;
  }

  /**
   * `GET /tile/...` (C2SP tlog-tiles): the unauthenticated contents of a hash
   * tile or entry bundle, checked for their form only: a hash tile that is
   * not `width` hashes of 32 bytes, or a bundle that does not parse as
   * `width` entries (each 1 to 65,535 bytes with its 2-byte length), is
   * fetched once more, past the caches that honour it (cache mode 'reload',
   * see RequestSpec.cache: a cache that kept a cut-off tile asks the log
   * again), and then rejects with BAD_RESPONSE naming the path, what was
   * wrong and the answer's Content-Type when it is not
   * application/octet-stream: such an answer is not the log's tile at all (a
   * body cut off that fetch took as whole, a page of a captive portal or
   * proxy), not one that fails to authenticate. The Content-Type alone
   * refuses nothing: an honest server may serve tiles as
   * binary/octet-stream (S3's default) or name the type twice, and a wrong
   * answer of the right form still fails to authenticate. A 404 is asked
   * once more the same way (a cache may keep a 404 from before the tile
   * was full, and serve it once the tile is) and then rejects as it is,
   * HTTP_STATUS status 404.
   */
  async readTile(tile: Tile): Promise<Uint8Array> {
    return ownBytes(await this.#readTile(tile, undefined));
  }

  /** readTile, its request stopped by `signal` (RequestSpec.signal). */
  async #readTile(tile: Tile, signal: AbortSignal | undefined): Promise<Uint8Array> {
    if (tile.level !== -1) return this.#readWellFormed(tile, signal, (data) => hashTileForm(data, tile.width));
    return this.#readWellFormed(tile, signal, (data) => {
      bundleForm(data, tile.width);
      return data;
    });
  }

  /** The entries of entry bundle `n` of `width` entries, as served (see readTile), its request stopped by `signal`. */
  async #readBundle(n: number, width: number, signal: AbortSignal | undefined): Promise<Uint8Array[]> {
    return this.#readWellFormed({ level: -1, n, width }, signal, (data) => bundleForm(data, width));
  }

  /**
   * Tile or bundle `tile` read by `form`, which throws a RangeError saying
   * what is wrong with an answer not of its form: fetched once more after
   * such an answer, then BAD_RESPONSE (see readTile).
   */
  async #readWellFormed<T>(tile: Tile, signal: AbortSignal | undefined, form: (data: Uint8Array) => T): Promise<T> {
    const path = formatTilePath(tile);
    const url = this.#http.url(path);
    const maxBytes = tile.level === -1 ? tile.width * (2 + MAX_ENTRY_SIZE) : tile.width * HASH_SIZE;
    const faults: string[] = [];
    // Once more after a malformed answer: a GET is safe to repeat, and the
    // second answer may come whole (a connection that broke while fetch read
    // it as complete) or from the log itself. It is asked for past the
    // caches ('reload': Cache-Control: no-cache): one that kept a cut-off
    // full tile, served as immutable, would otherwise serve it again.
    while (faults.length < 2) {
      let data: Uint8Array;
      let type = '';
      // Named only when the answer is wrong: what it was served as, if not a tile's type.
      const servedAs = () => {
        const media = type.split(';', 1)[0]!.trim().toLowerCase();
        return media === '' || media === OCTET_STREAM ? '' : `; its Content-Type is ${escapeText(media, { maxLength: 100 })}`;
      };
      try {
        data = await this.#http.bytes(path, OCTET_STREAM, maxBytes, signal, (t) => (type = t), faults.length === 0 ? undefined : 'reload');
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        // A 404 for a tile of the tree asked about may be a cache's, kept from
        // before the tile was full (or existed): asked once more past it.
        if (err.status === 404 && faults.length === 0) {
          faults.push(NOT_SERVED);
          continue;
        }
        if (err.status === 404 && faults[0] === NOT_SERVED) {
          err.message += ' (asked twice, the second time past the caches that honour no-cache)';
          throw err;
        }
        if (err.code !== 'BAD_RESPONSE') {
          // The refetch failed otherwise (a timeout, a refusal): the first answer's fault is still why it was asked.
          if (faults.length > 0) err.message += ` (refetched past caches after its first answer: ${faults[0]!})`;
          throw err;
        }
        faults.push(`${err.message.startsWith(`${url}: `) ? err.message.slice(url.length + 2) : err.message}${servedAs()}`);
        continue;
      }
      try {
        return form(data);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
        faults.push(`${err.message}${servedAs()}`);
      }
    }
    const [first, second] = faults;
    const again = first === second ? 'fetched twice, the same both times' : `fetched twice; the first time ${first}`;
    throw new ClientError('BAD_RESPONSE', `${url}: ${second!} (${again})`, { url });
  }

  /** A HashReader over this log's tiles that authenticates each one against `tree` (see TileHashReader). */
  tileReader(tree: TreeRef): TileHashReader {
    return new TileHashReader(checkTreeArg(tree, 'tileReader: tree', this.origin), this.#fetcher, { concurrency: this.#tileConcurrency });
  }

  /**
   * Computes the RFC 6962 §2.1.1 inclusion proof for leaf `index` here, from
   * tiles authenticated against `checkpoint` (default: the latest verified
   * one), without asking the log for a proof. Throws RangeError when `index`
   * is not below the checkpoint's tree size (see getEntry).
   */
  async proveIndexFromTiles(index: number, checkpoint?: Checkpoint, reader?: TileHashReader): Promise<InclusionResult> {
    checkIndexArg(index, 'proveIndexFromTiles: index');
    const cp = await this.#latest(checkpoint, 'proveIndexFromTiles: checkpoint');
    if (index >= cp.treeSize) throw new RangeError(`proveIndexFromTiles: index ${index} is not in the tree of size ${cp.treeSize}`);
    const r = reader ?? this.tileReader(cp);
    const [leaf] = await r.readHashes([storedHashIndex(0, index)]);
    const proof = await proveInclusion(cp.treeSize, index, r);
    // The hashes are authenticated already; checking the proof guards the math.
    if (!verifyInclusion(leaf!, index, cp.treeSize, proof, cp.rootHash)) {
      throw new ClientError('BAD_PROOF', `the proof computed from tiles for leaf ${index} does not lead to the root`);
    }
    // A hash of the right edge that is no complete subtree is computed here, cut from hash.ts's shared slab.
    return { index, leafHash: ownBytes(leaf!), proof: proof.map(ownBytes), checkpoint: cp };
  }

  /**
   * Reads entry bundle `n` (`GET /tile/entries/<n>[.p/<w>]`, C2SP tlog-tiles)
   * at its width in `tree` and checks every entry's RFC 6962 leaf hash
   * against level-0 tile `n`, authenticated against `tree`. Rejects with
   * ENTRY_MISMATCH naming the first entry that differs, TILE_MISMATCH for a
   * tile that does not fit the root, BAD_RESPONSE for a bundle or tile that
   * is not one at all (see readTile); RangeError if the tree has no such
   * bundle. The entries are each in a buffer of its own; to check a bundle
   * without them, see verifyEntryBundle.
   */
  async readEntryBundle(n: number, tree: TreeRef, reader?: TileHashReader): Promise<Uint8Array[]> {
    return (await this.#checkedEntryBundle('readEntryBundle', n, tree, reader)).map(ownBytes);
  }

  /**
   * Checks entry bundle `n` (C2SP tlog-tiles) at its width in `tree` as
   * readEntryBundle does, every entry's RFC 6962 leaf hash against level-0
   * tile `n` authenticated against `tree`, and resolves to how many entries
   * it checked. It hands no entry out, so it copies none: for a monitor,
   * which needs the bundle verified, not its entries (readEntryBundle copies
   * each into a buffer of its own, up to 16 MiB for a bundle of 64 KiB
   * entries). Rejects as readEntryBundle does: ENTRY_MISMATCH,
   * TILE_MISMATCH, BAD_RESPONSE; RangeError if the tree has no such bundle.
   */
  async verifyEntryBundle(n: number, tree: TreeRef, reader?: TileHashReader): Promise<number> {
    return (await this.#checkedEntryBundle('verifyEntryBundle', n, tree, reader)).length;
  }

  /** readEntryBundle (or verifyEntryBundle, `method`) with its arguments checked, the entries views into the bundle. */
  async #checkedEntryBundle(method: string, n: number, tree: TreeRef, reader: TileHashReader | undefined): Promise<Uint8Array[]> {
    checkIndexArg(n, `${method}: n`);
    checkTreeArg(tree, `${method}: tree`, this.origin);
    const width = tileWidth(0, n, tree.treeSize);
    if (width === 0) throw new RangeError(`${method}: the tree of size ${tree.treeSize} has no entry bundle ${n}`);
    return this.#readEntryBundle(n, width, reader ?? this.tileReader(tree), undefined);
  }

  /** readEntryBundle of a bundle of `width` entries, its bundle request stopped by `signal`. */
  async #readEntryBundle(n: number, width: number, r: TileHashReader, signal: AbortSignal | undefined): Promise<Uint8Array[]> {
    const [tile, entries] = await Promise.all([r.readTile(0, n), this.#readBundle(n, width, signal)]);
    const path = formatTilePath({ level: -1, n, width });
    const bad = firstMismatchedEntry(entries, tile);
    if (bad >= 0) {
      throw new ClientError('ENTRY_MISMATCH', `${path}: entry ${n * TILE_WIDTH + bad} does not match its leaf hash in the authenticated tile ${formatTilePath({ level: 0, n, width })}`);
    }
    return entries;
  }

  /**
   * Reads entry `index` from its entry bundle, verified against the tiles of
   * `checkpoint` (default: the latest verified one), with its inclusion proof
   * computed from the same tiles: no log-computed proof is used. Throws
   * RangeError when `index` is not below the checkpoint's tree size (see
   * getEntry).
   */
  async getEntryFromTiles(index: number, checkpoint?: Checkpoint): Promise<EntryResult> {
    checkIndexArg(index, 'getEntryFromTiles: index');
    const cp = await this.#latest(checkpoint, 'getEntryFromTiles: checkpoint');
    if (index >= cp.treeSize) throw new RangeError(`getEntryFromTiles: index ${index} is not in the tree of size ${cp.treeSize}`);
    const reader = this.tileReader(cp);
    const n = Math.floor(index / TILE_WIDTH);
    // The bundle's entries are views into it: only the one returned is copied.
    const entries = await this.#readEntryBundle(n, tileWidth(0, n, cp.treeSize), reader, undefined);
    const proved = await this.proveIndexFromTiles(index, cp, reader);
    return { ...proved, entry: ownBytes(entries[index - n * TILE_WIDTH]!) };
  }

  /**
   * Reads entries `start` to `end` (both included, as get-entries' are:
   * RFC 6962 §4.6) from their entry bundles (C2SP tlog-tiles), every one
   * verified against `checkpoint` as readEntryBundle verifies one, at about
   * one request per 256 entries: a full bundle's leaf hashes must rebuild the
   * level-8 hash that the tiles authenticated by the checkpoint's root hold
   * (one level-1 tile serves 256 bundles), and only when they do not is its
   * level-0 tile read, to name the first entry that differs; a partial
   * bundle, the tree's last, is checked against its level-0 tile.
   *
   * Yields the entries in index order, a bundle's worth at a time (see
   * {@link VerifiedEntries}), each group only once every entry of its bundle
   * verified; up to 8 bundles are fetched ahead of the one yielded, and
   * memory holds those and no more. Rejects with ClientError ENTRY_MISMATCH
   * or TILE_MISMATCH (verification failures: the log served what its
   * checkpoint does not commit to) after yielding every group before the bad
   * one, with the transport's errors (HTTP_STATUS status 404 for a bundle or
   * tile the log does not serve, though its checkpoint covers it;
   * BAD_RESPONSE for one that is not a bundle or tile at all, see
   * readTile), or with
   * the reason of `options.signal` or of the transport's own signal. Breaking
   * out of the loop early aborts what is in flight.
   *
   * Throws at once, before any request, TypeError or RangeError for bad
   * arguments, among them a range that is not all in the checkpoint's tree:
   * for the rest of a tree pass `checkpoint.treeSize - 1` as `end`.
   *
   * @example
   * for await (const { start, entries } of client.readEntryRange(checkpoint, 1000, 1999)) {
   *   entries.forEach((entry, i) => handle(start + i, entry));
   * }
   */
  readEntryRange(checkpoint: TreeRef, start: number, end: number, options: EntryRangeOptions = {}): AsyncGenerator<VerifiedEntries, void, undefined> {
    checkTreeArg(checkpoint, 'readEntryRange: checkpoint', this.origin);
    checkIndexArg(start, 'readEntryRange: start');
    checkIndexArg(end, 'readEntryRange: end');
    if (options === null || typeof options !== 'object') throw new TypeError('readEntryRange: options must be an object');
    const { signal } = options;
    // Not instanceof: a signal may come from another realm.
    if (signal !== undefined && (signal === null || typeof signal !== 'object' || typeof signal.throwIfAborted !== 'function' || typeof signal.addEventListener !== 'function')) {
      throw new TypeError('readEntryRange: options.signal must be an AbortSignal');
    }
    if (end < start) throw new RangeError(`readEntryRange: end ${end} is before start ${start} (both are included: one entry is start = end)`);
    const size = checkpoint.treeSize;
    if (end >= size) {
      const tree = size === 0 ? 'the tree of size 0 has none' : `the last entry of the tree of size ${size} is ${size - 1}`;
      throw new RangeError(`readEntryRange: entries ${start} to ${end} are not all in the checkpoint's tree: ${tree}`);
    }
    return this.#entryRange(checkpoint, start, end, signal);
  }

  /** readEntryRange, its arguments checked. */
  async *#entryRange(tree: TreeRef, start: number, end: number, signal: AbortSignal | undefined): AsyncGenerator<VerifiedEntries, void, undefined> {
    // One controller for the range's requests: the caller's signal aborts it
    // (one listener for the range's life), and so does the range's end, early
    // or not, so that no bundle is left being fetched for no one.
    const range = new AbortController();
    const onAbort = () => range.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const pending: Promise<VerifiedBundle>[] = [];
    const last = Math.floor(end / TILE_WIDTH);
    let next = Math.floor(start / TILE_WIDTH);
    let group = -1;
    let reader: TileHashReader | undefined;
    try {
      for (;;) {
        signal?.throwIfAborted();
        while (pending.length < BUNDLES_IN_FLIGHT && next <= last) {
          const n = next++;
          // A fresh tile reader for each 256 bundles (one level-1 tile) drops the tiles the last one cached.
          if (Math.floor(n / TILE_WIDTH) !== group) {
            group = Math.floor(n / TILE_WIDTH);
            reader = this.#tileReader(tree, range.signal);
          }
          const p = this.#readVerifiedBundle(tree, n, reader!, range.signal);
          // Awaited in turn below; one left behind (the caller stopped, or an earlier one failed) must not be an unhandled rejection.
          p.catch(() => undefined);
          pending.push(p);
        }
        const p = pending.shift();
        if (p === undefined) return;
        const bundle = await p;
        signal?.throwIfAborted();
        const base = bundle.n * TILE_WIDTH;
        const from = Math.max(start, base) - base;
        const to = Math.min(end, base + bundle.entries.length - 1) - base + 1;
        const whole = from === 0 && to === bundle.entries.length;
        yield {
          start: base + from,
          entries: (whole ? bundle.entries : bundle.entries.slice(from, to)).map(ownBytes),
          leafHashes: (whole ? bundle.leafHashes : bundle.leafHashes.slice(from, to)).map(ownBytes),
        };
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      range.abort();
    }
  }

  /**
   * Entry bundle `n` at its width in `tree`, verified against it for
   * readEntryRange. A full bundle costs one request: its 256 leaf hashes
   * must rebuild the level-8 hash that `reader` authenticated (from the
   * level-1 tile, read once for 256 bundles), just as the level-0 tile would
   * have to; only when they do not is that tile read, to name the first entry
   * that differs. A partial bundle, the tree's last, is checked against its
   * level-0 tile (readEntryBundle).
   */
  async #readVerifiedBundle(tree: TreeRef, n: number, reader: TileHashReader, signal: AbortSignal): Promise<VerifiedBundle> {
    const width = tileWidth(0, n, tree.treeSize);
    if (width < TILE_WIDTH) {
      const entries = await this.#readEntryBundle(n, width, reader, signal);
      return { n, entries, leafHashes: entries.map(leafHash) };
    }
    const bundle = { level: -1, n, width };
    const path = formatTilePath(bundle);
    const level8 = storedHashIndex(TILE_HEIGHT, n);
    const [entries, [expected]] = await Promise.all([this.#readBundle(n, width, signal), reader.readHashes([level8])]);
    const row = new Uint8Array(width * HASH_SIZE);
    const leafHashes = entries.map((e, i) => {
      const h = leafHash(e);
      row.set(h, i * HASH_SIZE);
      return h;
    });
    // The level-8 hash is the one above the tile's two level-7 halves.
    const tile = { level: 0, n, width };
    const half = (k: number) => hashFromTile(tile, row, storedHashIndex(TILE_HEIGHT - 1, 2 * n + k));
    if (!bytesEqual(nodeHash(half(0), half(1)), expected!)) {
      const bad = firstMismatchedEntry(entries, await reader.readTile(0, n));
      // That tile was authenticated against the same level-8 hash: some entry must differ from it.
      if (bad < 0) throw new Error(`client: bad math in readEntryRange: the entries of ${path} match ${formatTilePath(tile)} but not the hash above it`);
      throw new ClientError('ENTRY_MISMATCH', `${path}: entry ${n * TILE_WIDTH + bad} does not match its leaf hash in the authenticated tile ${formatTilePath(tile)}`);
    }
    return { n, entries, leafHashes };
  }
}
