/*
 * CRC-32C (Castagnoli), the checksum of LevelDB's log and table formats,
 * computed one byte at a time from a 256-entry table. Node 20 has no
 * CRC-32C (zlib.crc32 is the other CRC-32, and only from Node 22); what is
 * checked with it is a write-ahead log of a few MB, read once per open.
 * The operators below work on 32-bit checksum values, not on sizes.
 */

/** The reflected Castagnoli polynomial. */
const POLY = 0x82f63b78;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * The CRC-32C (RFC 3720 §B.4, iSCSI) of `bytes[start..end)`, as an unsigned
 * 32-bit number: crc32c("123456789") = 0xe3069283.
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('crc32c: bytes must be a Uint8Array');
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > bytes.length) {
    throw new RangeError(`crc32c: range ${String(start)}..${String(end)} is not within ${bytes.length} bytes`);
  }
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** LevelDB's constant for masking a stored checksum (util/crc32c.h). */
const MASK_DELTA = 0xa282ead8;

/**
 * A CRC as LevelDB stores it beside data that may itself hold CRCs: rotated
 * right by 15 bits plus 0xa282ead8, modulo 2^32 (LevelDB util/crc32c.h `Mask`).
 */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) % 2 ** 32;
}
