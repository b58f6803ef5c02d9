// Turns a store this version wrote into one in Cairn 0.1.0's layout (layout
// 1) as far as its entries and state go: every bundle's chunks become one
// format-1 segment with its segment map, and the state names no layout. The
// tiles and leaf-hash index stay as written (both layouts read them), so the
// log's signatures and hashes still check; what tells the layouts apart at
// an open (a state without a layout, no entry chunks) is as 0.1.0 left it.
import { Level } from 'level';

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
