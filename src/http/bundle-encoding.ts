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
 * Bundles up to this size are gzipped without a sample: a full gzip of them,
 * on the thread pool, costs about what a sample would on the event loop
 * (about 0.25 ms for 25 KiB of random bytes).
 */
const UNSAMPLED_BYTES = 65536;
/**
 * The slices of a larger bundle deflated to predict whether gzip pays: its
 * first and its last SAMPLE_SLICE_BYTES, so that a bundle whose entries
 * change along it is judged by more than its first ones. Each is as long as
 * gzip's window (32 KiB), so that an entry repeated within it (large,
 * near-identical entries) is seen as gzip sees it; 8-KiB slices took a
 * bundle of one 10 KB entry 256 times, which gzip shrinks by 99%, for
 * random. Deflating both at level 1 takes about 0.4 ms (2 vCPUs), against
 * about 32 ms for a full gzip of a 2 MiB bundle.
 */
const SAMPLE_SLICE_BYTES = 32768;
/**
 * Gzip is run only when the sample deflates to less than this share of its
 * size: level 1 compresses less than gzip's default level 6, so a bundle
 * whose sample saves 10% saves at least about that much in full.
 */
const WORTHWHILE_RATIO = 0.9;
/**
 * How many full bundles' verdicts (gzip shrinks it or not) are kept by
 * default, the oldest forgotten first: about 4.5 MiB for 2^16 bundles, which
 * hold 2^24 entries.
 */
export const REMEMBERED_BUNDLES = 65536;

/** An entry bundle's body as it goes out, and whether it is gzip-encoded. */
export interface EncodedBundle {
  readonly body: Buffer;
  readonly gzip: boolean;
}

/**
 * Whether a full gzip of `body` is worth running: always for a bundle of at
 * most UNSAMPLED_BYTES; for a larger one, whether its sample (see
 * SAMPLE_SLICE_BYTES) deflates at level 1 to less than WORTHWHILE_RATIO of
 * its size. Cheap and synchronous, so that a large bundle of random entries
 * is not held for a full gzip whose result is then thrown away.
 */
export function gzipWorthwhile(body: Uint8Array): boolean {
  if (body.length <= UNSAMPLED_BYTES) return true;
  let deflated = 0;
  for (const start of [0, body.length - SAMPLE_SLICE_BYTES]) deflated += deflateRawSync(body.subarray(start, start + SAMPLE_SLICE_BYTES), { level: 1 }).length;
  return deflated < 2 * SAMPLE_SLICE_BYTES * WORTHWHILE_RATIO;
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
 *
 * A full bundle never changes once written, so whether gzip shrinks it is
 * decided once: the function is passed its index `n`, and the verdict on it
 * is kept for the next request (at most `remembered` verdicts, the oldest
 * forgotten first). A bundle of random entries small enough to be gzipped
 * unsampled then costs one gzip, not one per request; one that gzip shrinks
 * is not sampled again. A partial bundle (`n` undefined) grows, and is
 * judged on every request.
 */
export function bundleEncoder(
  limit = MAX_CONCURRENT_GZIP,
  compress: (body: Buffer) => Promise<Buffer> = gzipAsync,
  remembered = REMEMBERED_BUNDLES,
): (req: Request, body: Buffer, n?: number) => Promise<EncodedBundle> {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError('bundleEncoder: limit must be a safe non-negative integer');
  if (!Number.isSafeInteger(remembered) || remembered < 0) throw new RangeError('bundleEncoder: remembered must be a safe non-negative integer');
  let running = 0;
  /** Full bundle index → whether gzip shrinks it. */
  const verdicts = new Map<number, boolean>();
  // The indexes in the order they were decided, a ring once full: `oldest` is
  // the next to forget. (Forgetting the Map's first key instead cost about
  // 14 µs a time once full, V8 skipping the deleted entries before it.)
  const order: number[] = [];
  let oldest = 0;
  const remember = (n: number | undefined, pays: boolean): void => {
    if (n === undefined || remembered === 0 || verdicts.has(n)) return;
    if (order.length < remembered) {
      order.push(n);
    } else {
      verdicts.delete(order[oldest]!);
      order[oldest] = n;
      oldest = (oldest + 1) % remembered;
    }
    verdicts.set(n, pays);
  };
  return async (req, body, n) => {
    if (req.acceptsEncodings('gzip', 'identity') !== 'gzip') return { body, gzip: false };
    const known = n === undefined ? undefined : verdicts.get(n);
    if (known === false || running >= limit) return { body, gzip: false };
    if (known === undefined && !gzipWorthwhile(body)) {
      remember(n, false);
      return { body, gzip: false };
    }
    running++;
    try {
      const encoded = await compress(body);
      const pays = encoded.length < body.length;
      remember(n, pays);
      return pays ? { body: encoded, gzip: true } : { body, gzip: false };
    } finally {
      running--;
    }
  };
}
