import { crc32c, maskCrc } from './crc32c.js';

/*
 * LevelDB's log format (its doc/log_format.md; db/log_reader.cc), in which
 * it writes its write-ahead logs (NNNNNN.log) and its MANIFEST. A file is a
 * sequence of 32 KiB blocks. Each physical record is a 7-byte header,
 *   masked CRC-32C of type and payload : 4 bytes, little-endian
 *   payload length                     : 2 bytes, little-endian
 *   type                               : 1 byte (1 FULL, 2 FIRST, 3 MIDDLE, 4 LAST)
 * then its payload. A record never crosses a block; fewer than 7 bytes left
 * in a block are a zero trailer. A logical record (one write) is one FULL
 * record, or a FIRST, any MIDDLEs and a LAST, in successive blocks.
 *
 * LevelDB's reader, unless told to be paranoid (classic-level cannot), drops
 * a record that does not read back and goes on with the next block: damage
 * in the middle of a write-ahead log loses writes without an error. This
 * reader finds the first such record and whether a later write follows it.
 */

/** The size of a block of LevelDB's log format. */
export const LOG_BLOCK_SIZE = 32768;
const HEADER = 7;
const FULL = 1;
const FIRST = 2;
const MIDDLE = 3;
const LAST = 4;

/**
 * A physical record at some offset, or why there is none there (and where
 * its length, if it fits the block, says it would end).
 */
type Physical = { readonly ok: true; readonly type: number; readonly end: number } | { readonly ok: false; readonly reason: string; readonly tail: boolean; readonly end?: number };

/** The end of the block holding `offset`, or of the file if it ends first. */
function blockEnd(bytes: Uint8Array, offset: number): number {
  return Math.min((Math.floor(offset / LOG_BLOCK_SIZE) + 1) * LOG_BLOCK_SIZE, bytes.length);
}

/** Whether `offset` is in the trailer of its block (or at its end): no record starts there. */
function inTrailer(offset: number): boolean {
  return LOG_BLOCK_SIZE - (offset % LOG_BLOCK_SIZE) < HEADER;
}

/** The largest payload of a physical record: a block less its header. */
const MAX_PAYLOAD = LOG_BLOCK_SIZE - HEADER;

/** Whether the record at `offset`, ending at `end`, holds the checksum of its type and payload. */
function checksumMatches(bytes: Uint8Array, offset: number, end: number): boolean {
  const stored = bytes[offset]! + 256 * bytes[offset + 1]! + 65536 * bytes[offset + 2]! + 16777216 * bytes[offset + 3]!;
  return maskCrc(crc32c(bytes, offset + 6, end)) === stored;
}

/** The type and end of the record whose header is at `offset`, its checksum unread; undefined if it runs past the file. */
function headerAt(bytes: Uint8Array, offset: number): { type: number; end: number } | undefined {
  if (offset + HEADER > bytes.length) return undefined;
  const end = offset + HEADER + bytes[offset + 4]! + 256 * bytes[offset + 5]!;
  return end > bytes.length ? undefined : { type: bytes[offset + 6]!, end };
}

/** Whether the records starting at `starts`, the last ending at `end`, all hold their checksums. */
function checksumsMatch(bytes: Uint8Array, starts: readonly number[], end: number): boolean {
  return starts.every((start, i) => checksumMatches(bytes, start, starts[i + 1] ?? end));
}

/**
 * Reads the physical record at `offset` (not in a trailer) as LevelDB does,
 * in a block that ends at `end`. A `tail` failure is one LevelDB takes for
 * the end of the file: a header or payload cut off by the end of the file in
 * its last, partial block.
 */
function physicalAt(bytes: Uint8Array, offset: number, end = blockEnd(bytes, offset)): Physical {
  if (end - offset < HEADER) return { ok: false, reason: 'a record header cut off by the end of the file', tail: true };
  const length = bytes[offset + 4]! + 256 * bytes[offset + 5]!;
  const type = bytes[offset + 6]!;
  if (type === 0 && length === 0) return { ok: false, reason: 'zeroed bytes where a record should start', tail: false };
  if (offset + HEADER + length > end) {
    // Only the last block can be short; a payload cut off there is a write a crash interrupted.
    if (end % LOG_BLOCK_SIZE !== 0) return { ok: false, reason: `a record of ${length} bytes cut off by the end of the file`, tail: true };
    return { ok: false, reason: `a record length (${length}) that runs past its block`, tail: false };
  }
  if (!checksumMatches(bytes, offset, offset + HEADER + length)) return { ok: false, reason: 'a checksum mismatch', tail: false, end: offset + HEADER + length };
  if (type < FULL || type > LAST) return { ok: false, reason: `an unknown record type ${type}`, tail: false, end: offset + HEADER + length };
  return { ok: true, type, end: offset + HEADER + length };
}

/** What a log file holds, as far as it reads back. */
export interface LogScan {
  /** The complete logical records before the first bad record, joined from their fragments (kept only when asked). */
  readonly records: Uint8Array[];
  /** Whether the file holds the start of a write: a valid FULL or FIRST record before `bad`, or `laterWrite`. */
  readonly hasWrite: boolean;
  /**
   * The first record that does not read back, with its byte offset: damage,
   * or the end a crash left (a cut-off record, a write never finished).
   */
  readonly bad?: { readonly offset: number; readonly reason: string };
  /**
   * The byte offset of a valid FULL or FIRST record after `bad`: a later
   * write, so `bad` is no end a crash left but a write lost from the middle.
   */
  readonly laterWrite?: number;
}

/**
 * Reads a file of LevelDB's log format as LevelDB recovers it (doc/log_format.md):
 * every logical record up to the first physical record that does not read
 * back (a checksum mismatch, a bad length or type, zeroed bytes, a fragment
 * out of order, or one cut off by the end of the file), and whether a later
 * write (a valid FULL or FIRST record) follows that one.
 *
 * A later write is looked for where LevelDB would find it, from the start of
 * each later block, following record lengths; after the bad record's own
 * length, if that fits its block; and, from the bad record to the end of its
 * block and from any bad record in a later block, at every byte: as LevelDB
 * lays records out (from there to the end of the block) or as it lays them
 * out after a write that failed part-way (shifted, across a block boundary).
 * A record-like run of bytes inside an entry's payload counts only if it
 * ends exactly where its block or the file ends, or foresees the header
 * LevelDB wrote at a block boundary inside it.
 */
export function scanLog(bytes: Uint8Array, keepRecords = false): LogScan {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('scanLog: bytes must be a Uint8Array');
  const records: Uint8Array[] = [];
  let hasWrite = false;
  /** The fragments of the logical record being read, and where it started. */
  let parts: Uint8Array[] | undefined;
  let partsBytes = 0;
  let started = 0;
  let offset = 0;
  const fail = (at: number, reason: string, from: number, after?: number): LogScan => {
    const laterWrite = findLaterWrite(bytes, from, after);
    return { records, hasWrite: hasWrite || laterWrite !== undefined, bad: { offset: at, reason }, ...(laterWrite === undefined ? {} : { laterWrite }) };
  };
  while (offset < bytes.length) {
    if (inTrailer(offset)) {
      offset = (Math.floor(offset / LOG_BLOCK_SIZE) + 1) * LOG_BLOCK_SIZE;
      continue;
    }
    const r = physicalAt(bytes, offset);
    if (!r.ok) {
      if (r.tail && parts !== undefined) return fail(started, `a record whose last fragment is missing (${r.reason} at offset ${offset})`, offset + 1);
      return fail(offset, r.reason, offset + 1, r.end);
    }
    const payload = bytes.subarray(offset + HEADER, r.end);
    if (r.type === FULL || r.type === FIRST) {
      hasWrite = true;
      // LevelDB's reader lets an empty FIRST be followed by a new record (an early writer's habit).
      if (parts !== undefined && partsBytes > 0) return { records, hasWrite, bad: { offset: started, reason: 'a record whose last fragment is missing' }, laterWrite: offset };
      parts = undefined;
      if (r.type === FULL) {
        if (keepRecords) records.push(payload);
      } else {
        parts = [payload];
        partsBytes = payload.length;
        started = offset;
      }
    } else {
      if (parts === undefined) return fail(offset, `a ${r.type === MIDDLE ? 'middle' : 'last'} fragment without a first`, offset + 1, r.end);
      parts.push(payload);
      partsBytes += payload.length;
      if (r.type === LAST) {
        if (keepRecords) records.push(joinParts(parts, partsBytes));
        parts = undefined;
      }
    }
    offset = r.end;
  }
  if (parts !== undefined) return { records, hasWrite, bad: { offset: started, reason: 'a record whose last fragment is missing at the end of the file' } };
  return { records, hasWrite };
}

function joinParts(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Follows records from `offset` to the end of its block: the offset of the
 * first valid FULL or FIRST record, or of the first record that does not
 * read back (one cut off by the end of the file too), or neither.
 */
function followBlock(bytes: Uint8Array, offset: number): { write?: number; bad?: number } {
  const end = blockEnd(bytes, offset);
  while (offset < end && !inTrailer(offset)) {
    const r = physicalAt(bytes, offset);
    if (!r.ok) return { bad: offset };
    if (r.type === FULL || r.type === FIRST) return { write: offset };
    offset = r.end;
  }
  return {};
}

/**
 * Whether a write begins at `offset` as LevelDB's writer lays one out in the
 * file's blocks: records of types 1..4 from there to exactly the end of the
 * block (its trailer) or of the file, a FIRST or MIDDLE one ending the
 * block, each holding its checksum. Their layout is checked first, the
 * checksums only then.
 */
function alignedWrite(bytes: Uint8Array, offset: number): boolean {
  const end = blockEnd(bytes, offset);
  const starts: number[] = [];
  let at = offset;
  while (at < end && !inTrailer(at)) {
    const h = headerAt(bytes, at);
    if (h === undefined || h.type < FULL || h.type > LAST || h.end > end) return false;
    if ((h.type === FIRST || h.type === MIDDLE) && h.end !== end) return false;
    starts.push(at);
    at = h.end;
  }
  return checksumsMatch(bytes, starts, at);
}

/**
 * Whether a write begins at `offset` in a frame of blocks shifted against
 * the file's. After a write failed part-way (a full disk), LevelDB's writer
 * goes on as if all of it had been written: later writes sit shifted, and
 * LevelDB's reader drops them. Such a write is a FULL record, or a FIRST one
 * (ending its block) with MIDDLE ones (each filling a block) and a LAST one,
 * each holding its checksum, that crosses a block boundary of the file. A
 * run of record-like bytes inside an entry's payload could cross one only by
 * predicting the header LevelDB wrote there.
 */
function shiftedWrite(bytes: Uint8Array, offset: number): boolean {
  const first = headerAt(bytes, offset);
  if (first === undefined || first.end - offset - HEADER > MAX_PAYLOAD) return false;
  const starts = [offset];
  let end = first.end;
  if (first.type === FIRST) {
    if (end % LOG_BLOCK_SIZE === 0) return false; // not shifted
    for (;;) {
      const next = headerAt(bytes, end);
      if (next === undefined || (next.type === MIDDLE ? next.end !== end + LOG_BLOCK_SIZE : next.type !== LAST || next.end - end - HEADER > MAX_PAYLOAD)) return false;
      starts.push(end);
      end = next.end;
      if (next.type === LAST) break;
    }
  } else if (first.type !== FULL) return false;
  if (Math.floor(offset / LOG_BLOCK_SIZE) === Math.floor((end - 1) / LOG_BLOCK_SIZE)) return false;
  return checksumsMatch(bytes, starts, end);
}

/** A later write after a bad record: see scanLog. `from` is the byte after the bad record's start; `after`, where its length says it ends. */
function findLaterWrite(bytes: Uint8Array, from: number, after?: number): number | undefined {
  if (after !== undefined && after < blockEnd(bytes, from - 1)) {
    const followed = followBlock(bytes, after);
    if (followed.write !== undefined) return followed.write;
  }
  let search = from;
  for (let block = Math.floor((from - 1) / LOG_BLOCK_SIZE) * LOG_BLOCK_SIZE; block < bytes.length; block += LOG_BLOCK_SIZE) {
    if (block >= from) {
      const followed = followBlock(bytes, block);
      if (followed.write !== undefined) return followed.write;
      if (followed.bad === undefined) continue;
      search = followed.bad;
    }
    const end = blockEnd(bytes, search);
    for (let at = search; at < end; at++) {
      const type = bytes[at + 6];
      if (type !== FULL && type !== FIRST) continue;
      if ((!inTrailer(at) && alignedWrite(bytes, at)) || shiftedWrite(bytes, at)) return at;
    }
  }
  return undefined;
}
