// Turns a store this version wrote into one in Cairn 0.1.0's layout (layout
// 1) as far as its entries, tiles and state go: every bundle's chunks become
// one format-1 segment with its segment map, every tile is stored with all
// eight rows (tile format 1, all 0.1.0 reads), and the state names no layout.
// The leaf-hash index stays as written (this version reads both), so the
// log's signatures and hashes still check; what tells the layouts apart at
// an open (a state without a layout, no entry chunks) is as 0.1.0 left it.
import { Level } from 'level';
import { HashTile } from '../../src/storage/hash-tile.js';

const u64 = (value: number) => {
  const out = Buffer.alloc(8);
  out.writeUInt32BE(Math.floor(value / 2 ** 32), 0);
  out.writeUInt32BE(value % 2 ** 32, 4);
  return out;
};
const STATE_KEY = Buffer.of(0x53);
const chunkKey = (k: number) => Buffer.concat([Buffer.of(0x43), u64(k)]);
/** 'E' n:u64 pos:u8: format 1's entry segment of bundle n from position pos. */
const segmentKey = (n: number, pos: number) => Buffer.concat([Buffer.of(0x45), u64(n), Buffer.of(pos)]);
/** 'M' n:u64: where bundle n's segments start. */
const segmentMapKey = (n: number) => Buffer.concat([Buffer.of(0x4d), u64(n)]);
/** The first byte of a tile's key, 'T' level:u8 n:u64. */
const TILE = 0x54;

/** The stored tile under `key` in tile format 1: its width (uint16), then rows 0..7 each cut to its complete nodes. */
function format1Tile(key: Buffer, value: Buffer): Buffer {
  const tile = HashTile.decode(key[1]!, Number(key.readBigUInt64BE(2)), value);
  const hashes: Uint8Array[] = [];
  for (let r = 0; r < 8; r++) for (let p = 0; tile.hash(r, p) !== undefined; p++) hashes.push(tile.hash(r, p)!);
  return Buffer.concat([value.subarray(0, 2), ...hashes]);
}

/** How long a tile of `width` hashes is in tile format 1, the only length Cairn 0.1.0 decodes (it refuses a store one of whose partial tiles is not). */
export function format1TileLength(width: number): number {
  let length = 2;
  for (let r = 0; r < 8; r++) length += 32 * Math.floor(width / 2 ** r);
  return length;
}

/** Rewrites the closed store in `db` into layout 1 (see above); resolves to its tree size. */
export async function toLayout1(db: string): Promise<number> {
  const level = new Level<Buffer, Buffer>(db, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await level.open();
  try {
    const state = JSON.parse((await level.get(STATE_KEY))!.toString()) as { treeSize: number; layout?: number };
    delete state.layout;
    const batch = level.batch();
    for (let n = 0; n * 256 < state.treeSize; n++) {
      const keys = Array.from({ length: 16 }, (_, i) => chunkKey(16 * n + i));
      const chunks = (await level.getMany(keys)).filter((c): c is Buffer => c !== undefined);
      for (const key of keys) batch.del(key);
      batch.put(segmentKey(n, 0), Buffer.concat(chunks));
      batch.put(segmentMapKey(n), Buffer.of(0));
    }
    for await (const [key, value] of level.iterator({ gte: Buffer.of(TILE), lt: Buffer.of(TILE + 1) })) batch.put(key, format1Tile(key, value));
    batch.put(STATE_KEY, Buffer.from(JSON.stringify(state)));
    await batch.write({ sync: true });
    return state.treeSize;
  } finally {
    await level.close();
  }
}

/** Every key and value of the store in `db` (closed), in hex, to compare one folder before and after. */
export async function storeRecords(db: string): Promise<Map<string, string>> {
  const level = new Level<Buffer, Buffer>(db, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await level.open();
  try {
    const out = new Map<string, string>();
    for await (const [k, v] of level.iterator()) out.set(k.toString('hex'), v.toString('hex'));
    return out;
  } finally {
    await level.close();
  }
}
