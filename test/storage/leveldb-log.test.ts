// The reader of LevelDB's log format on logs made by a writer written here
// after LevelDB's db/log_writer.cc: clean logs read back record for record
// (fragments across 32 KiB blocks, block trailers); a damaged record is found
// with its offset, and a later write after it is found, or none where there
// is none (the end a crash leaves). Logs written by LevelDB itself are read
// in level-store-files.test.ts.
import { crc32c, maskCrc } from '../../src/storage/crc32c.js';
import { LOG_BLOCK_SIZE, scanLog } from '../../src/storage/leveldb-log.js';

const BLOCK = 32768;
const FULL = 1;
const FIRST = 2;
const MIDDLE = 3;
const LAST = 4;

/** A physical record: masked CRC-32C of type and payload (LE), length (LE), type, payload. */
function physical(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(7 + payload.length);
  out[6] = type;
  out.set(payload, 7);
  const crc = maskCrc(crc32c(out, 6));
  new DataView(out.buffer).setUint32(0, crc, true);
  new DataView(out.buffer).setUint16(4, payload.length, true);
  return out;
}

/** LevelDB's log writer: each record cut into fragments at block ends, fewer than 7 bytes left in a block zeroed. */
function writeLog(records: readonly Uint8Array[]): { bytes: Uint8Array; starts: number[] } {
  const pieces: Uint8Array[] = [];
  const starts: number[] = [];
  let offset = 0;
  for (const record of records) {
    let left = record.length;
    let begin = true;
    do {
      const leftover = BLOCK - (offset % BLOCK);
      if (leftover < 7) {
        pieces.push(new Uint8Array(leftover));
        offset += leftover;
      }
      if (begin) starts.push(offset);
      const avail = BLOCK - (offset % BLOCK) - 7;
      const length = Math.min(left, avail);
      const end = left === length;
      const type = begin && end ? FULL : begin ? FIRST : end ? LAST : MIDDLE;
      const from = record.length - left;
      pieces.push(physical(type, record.subarray(from, from + length)));
      offset += 7 + length;
      left -= length;
      begin = false;
    } while (left > 0);
  }
  const bytes = new Uint8Array(offset);
  let at = 0;
  for (const p of pieces) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, starts };
}

/** Records of varied content: `count` of them, record i of size sizes[i % sizes.length]. */
function records(count: number, sizes: readonly number[]): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => Uint8Array.from({ length: sizes[i % sizes.length]! }, (_, j) => (i * 31 + j * 7 + Math.floor(j / 256)) % 251));
}

const flip = (bytes: Uint8Array, at: number) => {
  const copy = bytes.slice();
  copy[at] = copy[at]! ^ 0x40;
  return copy;
};

test('the block size is LevelDB\'s', () => {
  expect(LOG_BLOCK_SIZE).toBe(BLOCK);
});

test('clean logs read back record for record: small records, records of several blocks, block trailers', () => {
  const cases = [
    records(1, [0]),
    records(40, [10, 300, 1000]),
    records(5, [100_000, 32_768 - 7, 1, 70_000]),
    // 32761 fills a block to 7 bytes short: the next record begins with an empty FIRST there.
    records(6, [32_761 - 7, 32_761 - 8, 32_761 - 13, 5]),
  ];
  for (const input of cases) {
    const { bytes } = writeLog(input);
    const scan = scanLog(bytes, true);
    expect(scan.bad).toBeUndefined();
    expect(scan.laterWrite).toBeUndefined();
    expect(scan.hasWrite).toBe(true);
    expect(scan.records).toHaveLength(input.length);
    scan.records.forEach((r, i) => expect(Buffer.compare(r, input[i]!)).toBe(0));
  }
  expect(scanLog(new Uint8Array(0))).toEqual({ records: [], hasWrite: false });
});

test('a damaged byte in any record but the last is found, with a later write after it', () => {
  const input = records(30, [500, 40_000, 9]);
  const { bytes, starts } = writeLog(input);
  for (const i of [0, 1, 2, 13, 27]) {
    // Bytes of the record's header (its CRC, its length), and of its payload.
    for (const at of [starts[i]! + 1, starts[i]! + 5, starts[i]! + 7 + Math.floor(input[i]!.length / 2)]) {
      const scan = scanLog(flip(bytes, at));
      expect(scan.bad).toBeDefined();
      expect(scan.bad!.offset).toBeLessThanOrEqual(at);
      expect(scan.bad!.offset).toBeGreaterThanOrEqual(starts[i]!);
      expect(scan.laterWrite).toBeDefined();
      expect(starts.slice(i + 1)).toContain(scan.laterWrite);
    }
  }
});

test('damage in the last record, a cut-off end, or zeroed bytes at the end: no later write', () => {
  const input = records(12, [700, 50_000]);
  const { bytes, starts } = writeLog(input);
  const last = starts.at(-1)!;
  const cases = [
    flip(bytes, bytes.length - 3),
    flip(bytes, last + 2),
    bytes.subarray(0, bytes.length - 100),
    bytes.subarray(0, last + 3),
    // The last record is of 50,000 bytes: cut within its second block, its FIRST is whole.
    bytes.subarray(0, last + 40_000),
  ];
  for (const damaged of cases) {
    const scan = scanLog(damaged, true);
    expect(scan.bad).toBeDefined();
    expect(scan.bad!.offset).toBeGreaterThanOrEqual(last);
    expect(scan.laterWrite).toBeUndefined();
    expect(scan.records).toHaveLength(11);
  }
  const zeroed = new Uint8Array(bytes.length + 20_000);
  zeroed.set(bytes);
  const scan = scanLog(zeroed, true);
  expect(scan.bad).toMatchObject({ offset: bytes.length, reason: expect.stringMatching(/zeroed/) });
  expect(scan.laterWrite).toBeUndefined();
  expect(scan.records).toHaveLength(12);
});

test('a write torn across blocks (a middle fragment zeroed, later fragments whole) is the end a crash leaves', () => {
  const { bytes, starts } = writeLog([...records(3, [100]), ...records(1, [5 * BLOCK])]);
  const torn = bytes.slice();
  const secondBlock = (Math.floor(starts[3]! / BLOCK) + 1) * BLOCK;
  torn.fill(0, secondBlock, secondBlock + BLOCK);
  const scan = scanLog(torn);
  expect(scan.bad!.offset).toBe(secondBlock);
  expect(scan.laterWrite).toBeUndefined();
  // The same, with a write after it: the later FULL record is found.
  const { bytes: more } = writeLog([...records(3, [100]), ...records(1, [5 * BLOCK]), ...records(2, [64])]);
  const tornMore = more.slice();
  tornMore.fill(0, secondBlock, secondBlock + BLOCK);
  const after = scanLog(tornMore);
  expect(after.bad!.offset).toBe(secondBlock);
  expect(after.laterWrite).toBe(writeLog([...records(3, [100]), ...records(1, [5 * BLOCK]), ...records(2, [64])]).starts[4]);
});

test('a damaged payload followed by later writes and a cut-off end, all in the last block: the later writes are found', () => {
  // Its length intact, the damaged record is followed record by record, as far as the cut-off end.
  const { bytes, starts } = writeLog(records(10, [300]));
  const scan = scanLog(flip(bytes, starts[4]! + 7 + 150).subarray(0, bytes.length - 10));
  expect(scan.bad).toMatchObject({ offset: starts[4], reason: 'a checksum mismatch' });
  expect(scan.laterWrite).toBe(starts[5]);
});

test('records out of order: a middle fragment without a first, a first without its last', () => {
  const big = records(1, [3 * BLOCK])[0]!;
  const { bytes, starts } = writeLog([big, ...records(2, [10])]);
  // The FIRST fragment damaged: the MIDDLE after it has no first; the FULL records after it are later writes.
  const noFirst = scanLog(flip(bytes, starts[0]! + 100));
  expect(noFirst.bad!.offset).toBe(0);
  expect(noFirst.laterWrite).toBe(starts[1]);
  // The LAST fragment replaced by a FULL one: a record without its end, then a write.
  const lastAt = 3 * BLOCK;
  const replaced = bytes.slice();
  replaced.set(physical(FULL, bytes.subarray(lastAt + 7, lastAt + 7 + 30)), lastAt);
  const noLast = scanLog(replaced);
  expect(noLast.bad).toMatchObject({ offset: 0, reason: expect.stringMatching(/last fragment is missing/) });
  expect(noLast.laterWrite).toBe(lastAt);
  // An unknown type with a matching checksum.
  const unknown = bytes.slice();
  unknown.set(physical(7, bytes.subarray(starts[1]! + 7, starts[1]! + 17)), starts[1]!);
  expect(scanLog(unknown)).toMatchObject({ bad: { offset: starts[1], reason: 'an unknown record type 7' }, laterWrite: starts[2] });
  // A whole middle fragment with no first before it, then a write.
  const ascii = (text: string) => new TextEncoder().encode(text);
  const orphan = Buffer.concat([physical(FULL, ascii('one')), physical(MIDDLE, ascii('no first')), physical(FULL, ascii('two'))]);
  expect(scanLog(orphan)).toMatchObject({ bad: { offset: 10, reason: 'a middle fragment without a first' }, laterWrite: 10 + 15 });
  // As LevelDB's reader, an empty FIRST followed by a new record (what early writers left at a block's end) is no damage.
  const emptyFirst = scanLog(Buffer.concat([physical(FIRST, new Uint8Array(0)), physical(FULL, ascii('next'))]), true);
  expect(emptyFirst.bad).toBeUndefined();
  expect(emptyFirst.records.map((r) => new TextDecoder().decode(r))).toEqual(['next']);
});

test('a record-like run of bytes inside the payload of a damaged last record is no later write', () => {
  // An entry may hold anything, the bytes of a valid record among them.
  const fake = physical(FULL, new TextEncoder().encode('not a write'));
  const payload = new Uint8Array(400);
  payload.set(fake, 100);
  const { bytes, starts } = writeLog([...records(3, [50]), payload]);
  const scan = scanLog(flip(bytes, starts[3]! + 7 + 10));
  expect(scan.bad!.offset).toBe(starts[3]);
  expect(scan.laterWrite).toBeUndefined();
  // Cut off by the end of the file, likewise.
  expect(scanLog(bytes.subarray(0, starts[3]! + 7 + 300)).laterWrite).toBeUndefined();
  // A run that looks like a write of FIRST and LAST fragments in a frame of its own: it crosses no block boundary of the file.
  const fragments = new Uint8Array(3000);
  fragments.set(physical(FIRST, new Uint8Array(100).fill(1)), 0);
  fragments.set(physical(LAST, new Uint8Array(50).fill(2)), 107);
  const { bytes: withFragments, starts: at } = writeLog([...records(3, [50]), fragments]);
  expect(scanLog(flip(withFragments, at[3]! + 2)).laterWrite).toBeUndefined();
});

test('an entry made of records that read back, cut off at any byte: the end a crash leaves, never a later write', () => {
  // Empty FULL records, 7 bytes each: a submitter may send an entry of them.
  const one = physical(FULL, new Uint8Array(0));
  const entry = new Uint8Array(7 * 9000);
  for (let at = 0; at < entry.length; at += 7) entry.set(one, at);
  const { bytes, starts } = writeLog([...records(3, [200]), entry]);
  const last = starts[3]!;
  const cuts = [...Array.from({ length: 70 }, (_, i) => last + 7 + 1000 + i), ...Array.from({ length: 70 }, (_, i) => BLOCK + 7 + 500 + i), bytes.length - 1];
  for (const cut of cuts) {
    const scan = scanLog(bytes.subarray(0, cut));
    expect([cut, scan.bad?.offset, scan.laterWrite]).toEqual([cut, last, undefined]);
  }
});
