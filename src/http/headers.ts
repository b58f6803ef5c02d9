/**
 * The headers every answer carries, errors too (README "Security"; the
 * spec's "Security headers"): no sniffing or framing, nothing loaded by the
 * answer, no referrer, and readable from any origin (the log is public).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'cross-origin',
  'Access-Control-Allow-Origin': '*',
};

/** The Cache-Control values of successful reads (spec/openapi.yaml, "Caching"). */
export interface ReadCaching {
  /**
   * An answer that is the same for its URL for as long as the log exists:
   * full tiles and bundles, and the answers that name a tree no larger than
   * the current one: get-sth-consistency, get-proof-by-hash,
   * get-entry-and-proof, and get-entries of a range wholly inside the tree.
   * The log is append-only, so the leaves of a tree of a given size never
   * change, and proofs are functions of them alone (none carries a
   * signature, a time or anything else of the server's); each leaf is logged
   * once, so a hash names one leaf_index for good; extra_data is always "".
   * get-entries is cut at 1000 entries and at MAX_GET_ENTRIES_BYTES of the
   * entries' own bytes, which is decided by those entries alone; a server
   * with other bounds may answer the same URL with more or fewer, but a
   * short answer is a valid one (CONTRACT §3: the client asks again from
   * where it stopped), so a kept answer is never wrong. A request for a
   * larger tree, or a range starting past it, is an error, and errors say
   * no-store. (A log wiped and started again at the same URL breaks this as
   * it breaks full tiles: its URLs name other data.)
   */
  readonly fixed: string;
  /** Partial tiles and bundles: they grow into full ones, so they are kept a minute at most. */
  readonly short: string;
  /** The moving heads (/checkpoint, get-sth, /v1/log) and get-entries clamped at the tree's end: they change as the log grows. */
  readonly changing: string;
}

/**
 * The Cache-Control of successful reads. On a private log every one of them
 * says `private`, so that no shared cache keeps what a token was needed
 * for: `public` lets one keep an answer to a request with a token (RFC 9111
 * §3.5), and a proxy told to cache (nginx's proxy_cache_valid) keeps one that
 * says nothing, whatever the request's Authorization.
 */
export function readCaching(readsArePublic: boolean): ReadCaching {
  const scope = readsArePublic ? 'public' : 'private';
  return {
    fixed: `${scope}, max-age=31536000, immutable`,
    short: `${scope}, max-age=60`,
    changing: readsArePublic ? 'no-cache' : 'private, no-cache',
  };
}
