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
