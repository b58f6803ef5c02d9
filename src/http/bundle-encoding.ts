import type { Request } from 'express';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/**
 * How many entry bundles are compressed at once by default. Compression runs
 * on libuv's thread pool, which LevelDB's reads and writes share: past this
 * many, a bundle goes out uncompressed rather than waiting or crowding the
 * store out of its threads.
 */
export const MAX_CONCURRENT_GZIP = 2;

/** An entry bundle's body as it goes out, and whether it is gzip-encoded. */
export interface EncodedBundle {
  readonly body: Buffer;
  readonly gzip: boolean;
}

/**
 * Returns a function that gzip-encodes an entry bundle for a client that
 * accepts gzip (C2SP tlog-tiles: entry bundles SHOULD be compressed at the
 * HTTP layer, with any encoding the client asks for in Accept-Encoding). The
 * bundle goes out as it is when the client does not prefer gzip to identity
 * (a request without Accept-Encoding gets identity), when `limit` bundles are
 * already being compressed, or when gzip would not make it smaller (entries
 * that are random bytes). Hash tiles are never encoded: SHA-256 output does
 * not compress.
 */
export function bundleEncoder(limit = MAX_CONCURRENT_GZIP): (req: Request, body: Buffer) => Promise<EncodedBundle> {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError('bundleEncoder: limit must be a safe non-negative integer');
  let running = 0;
  return async (req, body) => {
    if (running >= limit || req.acceptsEncodings('gzip', 'identity') !== 'gzip') return { body, gzip: false };
    running++;
    try {
      const encoded = await gzipAsync(body);
      return encoded.length < body.length ? { body: encoded, gzip: true } : { body, gzip: false };
    } finally {
      running--;
    }
  };
}
