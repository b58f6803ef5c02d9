import type { Request } from 'express';
import { promisify } from 'node:util';
import { deflateRawSync, gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/**
 * How many entry bundles are compressed at once by default. Compression runs
 * on libuv's thread pool, which LevelDB's reads and writes share: past this
 * many, a bundle goes out uncompressed rather than waiting or crowding the
 * store out of its threads.
 */
export const MAX_CONCURRENT_GZIP = 2;

/**
 * The slices of a bundle deflated to predict whether gzip pays: this many,
 * of SAMPLE_SLICE_BYTES each, spread from its start to its end, so that a
 * bundle whose entries change along it is judged by more than its first
 * ones. Deflating 32 KiB of random bytes at level 1 takes about 0.3 ms
 * (2 vCPUs), against about 32 ms for a full gzip of a 2 MiB bundle.
 */
const SAMPLE_SLICES = 4;
const SAMPLE_SLICE_BYTES = 8192;
/**
 * Gzip is run only when the sample deflates to less than this share of its
 * size: level 1 compresses less than gzip's default level 6, so a bundle
 * whose sample saves 10% saves at least about that much in full.
 */
const WORTHWHILE_RATIO = 0.9;

/** An entry bundle's body as it goes out, and whether it is gzip-encoded. */
export interface EncodedBundle {
  readonly body: Buffer;
  readonly gzip: boolean;
}

/**
 * Whether gzip would shrink `body` by about 10% or more, judged by deflating
 * a sample of it (all of it when it is at most 32 KiB) at level 1. Cheap and
 * synchronous, so that a bundle of random entries is not held for a full
 * gzip whose result is then thrown away.
 */
export function gzipWorthwhile(body: Uint8Array): boolean {
  const sampled = SAMPLE_SLICES * SAMPLE_SLICE_BYTES;
  if (body.length <= sampled) return deflateRawSync(body, { level: 1 }).length < body.length * WORTHWHILE_RATIO;
  let deflated = 0;
  for (let i = 0; i < SAMPLE_SLICES; i++) {
    const start = Math.floor(((body.length - SAMPLE_SLICE_BYTES) * i) / (SAMPLE_SLICES - 1));
    deflated += deflateRawSync(body.subarray(start, start + SAMPLE_SLICE_BYTES), { level: 1 }).length;
  }
  return deflated < sampled * WORTHWHILE_RATIO;
}

/**
 * Returns a function that gzip-encodes an entry bundle for a client that
 * accepts gzip (C2SP tlog-tiles: entry bundles SHOULD be compressed at the
 * HTTP layer, with any encoding the client asks for in Accept-Encoding). The
 * bundle goes out as it is when the client does not prefer gzip to identity
 * (a request without Accept-Encoding gets identity), when `limit` bundles are
 * already being compressed, when a sample of it does not compress (entries
 * that are random bytes: see gzipWorthwhile), or when gzip would not make it
 * smaller after all. Hash tiles are never encoded: SHA-256 output does not
 * compress. `compress` is gzip itself; tests pass one that counts its calls.
 */
export function bundleEncoder(limit = MAX_CONCURRENT_GZIP, compress: (body: Buffer) => Promise<Buffer> = gzipAsync): (req: Request, body: Buffer) => Promise<EncodedBundle> {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError('bundleEncoder: limit must be a safe non-negative integer');
  let running = 0;
  return async (req, body) => {
    if (running >= limit || req.acceptsEncodings('gzip', 'identity') !== 'gzip' || !gzipWorthwhile(body)) return { body, gzip: false };
    running++;
    try {
      const encoded = await compress(body);
      return encoded.length < body.length ? { body: encoded, gzip: true } : { body, gzip: false };
    } finally {
      running--;
    }
  };
}
