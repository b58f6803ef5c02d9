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

/** Whether the record at `offset`, ending at `end`, holds the checksum of its type and payload. */
function checksumMatches(bytes: Uint8Array, offset: number, end: number): boolean {
  const stored = bytes[offset]! + 256 * bytes[offset + 1]! + 65536 * bytes[offset + 2]! + 16777216 * bytes[offset + 3]!;
  return maskCrc(crc32c(bytes, offset + 6, end)) === stored;
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
 * A later write is looked for where LevelDB's writer put headers: from the
 * start of each later block, following record lengths, and after the bad
 * record's own length, if that fits its block. Never at other bytes: an
 * entry may hold records that read back, and a cut-off last record holding
 * one must stay the end a crash leaves, not a refusal any submitter could
 * cause. So two kinds of damage are not seen: a length damaged so that it
 * runs past the later records of its (last) block, and the writes a store
 * of an older Cairn appended after a write that failed part-way (which
 * LevelDB's writer lays out shifted against the blocks).
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
        if (keepRecords) records.push(Buffer.concat(parts, partsBytes));
        parts = undefined;
      }
    }
    offset = r.end;
  }
  if (parts !== undefined) return { records, hasWrite, bad: { offset: started, reason: 'a record whose last fragment is missing at the end of the file' } };
  return { records, hasWrite };
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
 * A later write after a bad record: see scanLog. `from` is the byte after
 * the bad record's start; `after`, where its length says it ends. Only
 * places where LevelDB's writer put a header are looked at: after the bad
 * record's own length, and each later block's start. Never inside the bad
 * record's payload, whose bytes are an entry's and may hold anything,
 * records that read back among them.
 */
function findLaterWrite(bytes: Uint8Array, from: number, after?: number): number | undefined {
  if (after !== undefined && after < blockEnd(bytes, from - 1)) {
    const followed = followBlock(bytes, after);
    if (followed.write !== undefined) return followed.write;
  }
  for (let block = Math.ceil(from / LOG_BLOCK_SIZE) * LOG_BLOCK_SIZE; block < bytes.length; block += LOG_BLOCK_SIZE) {
    const followed = followBlock(bytes, block);
    if (followed.write !== undefined) return followed.write;
  }
  return undefined;
}
