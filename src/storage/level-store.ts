import { Level } from 'level';
import { encodeEntryBundle } from '../merkle/bundle.js';
import { HashTile, TILE_WIDTH } from './hash-tile.js';
import { checkStateTransition, StoreCorruptError, StoreLockedError, type LogState, type LogStore, type RoundWrite } from './store.js';

/*
 * Key layout (binary keys, so that LevelDB's ordering is numeric order):
 *   'S'                       → the latest LogState (JSON)
 *   'T' level:u8 n:u64        → a HashTile (see hash-tile.ts), rewritten as it grows
 *   'E' n:u64 pos:u8          → a segment of entry bundle n: the entries from
 *                               256·n+pos that one round added, bundle-encoded.
 *                               Reading bundle n is one range read whose values
 *                               concatenate to the bundle.
 *   'M' n:u64                 → where the segments of bundle n start: one
 *                               byte (pos) per segment, ascending. Lets a
 *                               full bundle be read with point reads.
 *   'H' leafHash:32           → index:u64 (dedup and get-proof-by-hash)
 *
 * Point reads (tiles, a few leaf hashes, the segments of a full bundle) use
 * LevelDB's synchronous get: a read served from the block cache or the OS
 * page cache costs about 3 µs of the event loop, where a trip through the
 * libuv thread pool costs about 12 µs of CPU and a wake-up; a read that must
 * go to the disk blocks the loop for that one read. The sequencer's large
 * dedup lookups and range reads stay asynchronous.
 */
const STATE_KEY = Uint8Array.of(0x53);
const TILE = 0x54;
const ENTRY = 0x45;
const SEGMENTS = 0x4d;
const LEAF = 0x48;
/** Table files LevelDB keeps open: about 4 GiB of store (2 * 10^7 entries) before it must reopen them. */
const MAX_OPEN_FILES = 2000;
/** Up to this many leaf hashes are looked up with synchronous reads. */
const SYNC_LOOKUPS = 16;
/** Larger lookups are split into parallel reads of this many keys. */
const LOOKUP_CHUNK = 1024;
/** A full bundle of at most this many segments is read with synchronous reads. */
const SYNC_SEGMENTS = 16;
/** The most a bundle can hold (256 entries of 65,535 bytes, with lengths). */
const BUNDLE_READ_BYTES = TILE_WIDTH * (2 + 65535);

function putU64(out: Uint8Array, offset: number, value: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(offset, Math.floor(value / 2 ** 32));
  view.setUint32(offset + 4, value % 2 ** 32);
}

function getU64(bytes: Uint8Array, offset: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getUint32(offset) * 2 ** 32 + view.getUint32(offset + 4);
}

function tileKey(level: number, n: number): Uint8Array {
  const key = new Uint8Array(10);
  key[0] = TILE;
  key[1] = level;
  putU64(key, 2, n);
  return key;
}

function segmentMapKey(n: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = SEGMENTS;
  putU64(key, 1, n);
  return key;
}

function segmentKey(n: number, pos: number): Uint8Array {
  const key = new Uint8Array(10);
  key[0] = ENTRY;
  putU64(key, 1, n);
  key[9] = pos;
  return key;
}

/*
 * The leaf-index keys and values of a round are views into one Buffer each:
 * classic-level copies a Buffer key with one call, but probes a plain
 * Uint8Array through several, which costs microseconds per key at 4096 keys a
 * round.
 */
const LEAF_KEY = 33;

function leafKeys(hashes: readonly Uint8Array[]): Buffer[] {
  const all = Buffer.allocUnsafe(LEAF_KEY * hashes.length);
  const keys: Buffer[] = new Array<Buffer>(hashes.length);
  for (let i = 0; i < hashes.length; i++) {
    const offset = i * LEAF_KEY;
    all[offset] = LEAF;
    all.set(hashes[i]!, offset + 1);
    keys[i] = all.subarray(offset, offset + LEAF_KEY);
  }
  return keys;
}

/** Big-endian u64 values start, start+1, …, each a view into one Buffer. */
function indexValues(start: number, count: number): Buffer[] {
  const all = Buffer.allocUnsafe(8 * count);
  const values: Buffer[] = new Array<Buffer>(count);
  for (let i = 0; i < count; i++) {
    const index = start + i;
    all.writeUInt32BE(Math.floor(index / 2 ** 32), 8 * i);
    all.writeUInt32BE(index % 2 ** 32, 8 * i + 4);
    values[i] = all.subarray(8 * i, 8 * i + 8);
  }
  return values;
}

interface StoredState {
  treeSize: number;
  rootHash: string;
  timestamp: number;
  checkpoint: string;
  sth: LogState['sth'];
  rightEdge: string[];
}

function encodeState(state: LogState): Uint8Array {
  const stored: StoredState = {
    treeSize: state.treeSize,
    rootHash: Buffer.from(state.rootHash).toString('base64'),
    timestamp: state.timestamp,
    checkpoint: state.checkpoint,
    sth: state.sth,
    rightEdge: state.rightEdge.map((h) => Buffer.from(h).toString('base64')),
  };
  return new TextEncoder().encode(JSON.stringify(stored));
}

function decodeState(bytes: Uint8Array): LogState {
  const s = JSON.parse(new TextDecoder().decode(bytes)) as StoredState;
  const bytesOf = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
  return {
    treeSize: s.treeSize,
    rootHash: bytesOf(s.rootHash),
    timestamp: s.timestamp,
    checkpoint: s.checkpoint,
    sth: s.sth,
    rightEdge: s.rightEdge.map(bytesOf),
  };
}

/**
 * The embedded default store: LevelDB through `level`, one folder, one
 * process. Every round is one chained batch written with `sync: true`.
 */
export class LevelStore implements LogStore {
  private readonly db: Level<Uint8Array, Uint8Array>;
  private state: LogState | undefined;
  /** Segment starts of the bundle the tree ends inside, once known. */
  private partial: { n: number; starts: number[] } | undefined;

  private constructor(db: Level<Uint8Array, Uint8Array>, state: LogState | undefined) {
    this.db = db;
    this.state = state;
  }

  /** Opens (creating if needed) the store in `path`; StoreLockedError if another process has it. */
  static async open(path: string): Promise<LevelStore> {
    // LevelDB keeps this many table files open (their index and filter blocks
    // in memory). Its default of 1000 files of 2 MiB is passed at about 10^7
    // entries, after which random proofs keep reopening tables.
    const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view', maxOpenFiles: MAX_OPEN_FILES });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') throw new StoreLockedError(path, { cause: err });
      throw err;
    }
    try {
      const raw = await db.get(STATE_KEY);
      return new LevelStore(db, raw === undefined ? undefined : decodeState(raw));
    } catch (err) {
      // A store we cannot read must not stay open and keep its lock.
      await db.close().catch(() => undefined);
      throw new StoreCorruptError(`the stored state in ${path} does not decode: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The underlying database, for tools that inspect or corrupt it on purpose (audit tests). */
  get database(): Level<Uint8Array, Uint8Array> {
    return this.db;
  }

  async readState(): Promise<LogState | undefined> {
    return this.state;
  }

  async writeRound(round: RoundWrite): Promise<void> {
    checkStateTransition(this.state, round);
    const batch = this.db.batch();
    const start = round.state.treeSize - round.entries.length;
    let starts: number[] = [];
    let i = 0;
    while (i < round.entries.length) {
      const index = start + i;
      const n = Math.floor(index / TILE_WIDTH);
      const pos = index - n * TILE_WIDTH;
      const count = Math.min(TILE_WIDTH - pos, round.entries.length - i);
      batch.put(segmentKey(n, pos), encodeEntryBundle(round.entries.slice(i, i + count)));
      starts = pos === 0 ? [0] : [...(await this.segmentStarts(n)), pos];
      batch.put(segmentMapKey(n), Uint8Array.from(starts));
      i += count;
    }
    const keys = leafKeys(round.leafHashes);
    const values = indexValues(start, keys.length);
    for (let j = 0; j < keys.length; j++) batch.put(keys[j]!, values[j]!);
    for (const tile of round.tiles) batch.put(tileKey(tile.level, tile.n), tile.encode());
    batch.put(STATE_KEY, encodeState(round.state));
    await batch.write({ sync: true });
    this.state = round.state;
    if (round.entries.length > 0) {
      const size = round.state.treeSize;
      this.partial = size % TILE_WIDTH === 0 ? undefined : { n: Math.floor(size / TILE_WIDTH), starts };
    }
  }

  /** Where the segments of bundle n (the one the tree ends inside) start. */
  private async segmentStarts(n: number): Promise<number[]> {
    if (this.partial?.n === n) return this.partial.starts;
    const map = this.db.getSync(segmentMapKey(n));
    if (map !== undefined) return Array.from(map);
    // A store written before segment maps existed: find the segments.
    const keys = await this.db.keys({ gte: segmentKey(n, 0), lte: segmentKey(n, TILE_WIDTH - 1) }).all();
    return keys.map((k) => k[9]!);
  }

  async findLeafHashes(hashes: readonly Uint8Array[]): Promise<(number | undefined)[]> {
    if (hashes.length === 0) return [];
    const keys = leafKeys(hashes);
    let values: (Uint8Array | undefined)[];
    if (keys.length <= SYNC_LOOKUPS) values = keys.map((k) => this.db.getSync(k));
    else {
      // Several reads at once on LevelDB's threads: a round's 4096 lookups
      // are on its critical path.
      const parts: Promise<(Uint8Array | undefined)[]>[] = [];
      for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) parts.push(this.db.getMany(keys.slice(i, i + LOOKUP_CHUNK)));
      values = (await Promise.all(parts)).flat();
    }
    return values.map((v) => (v === undefined ? undefined : getU64(v, 0)));
  }

  async readTiles(keys: readonly { level: number; n: number }[]): Promise<(HashTile | undefined)[]> {
    return keys.map((k) => {
      const v = this.db.getSync(tileKey(k.level, k.n));
      return v === undefined ? undefined : HashTile.decode(k.level, k.n, v);
    });
  }

  async readBundle(n: number): Promise<Uint8Array> {
    // A full bundle, by its segment map; the last one, and bundles written
    // before segment maps existed, by a range read.
    if (this.state !== undefined && (n + 1) * TILE_WIDTH <= this.state.treeSize) {
      const map = this.db.getSync(segmentMapKey(n));
      if (map !== undefined && map.length <= SYNC_SEGMENTS) {
        const segments = Array.from(map, (pos) => this.db.getSync(segmentKey(n, pos)));
        if (segments.every((v) => v !== undefined)) return segments.length === 1 ? segments[0]! : Buffer.concat(segments);
      }
    }
    // One trip to LevelDB's thread for the whole bundle: the iterator may
    // hand back up to 16 MiB (256 entries of 65,535 bytes) in one batch.
    const segments = await this.db
      .values({ gte: segmentKey(n, 0), lte: segmentKey(n, TILE_WIDTH - 1), highWaterMarkBytes: BUNDLE_READ_BYTES } as never)
      .all();
    if (segments.length === 1) return segments[0]!;
    return Buffer.concat(segments);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
