/** Cairn's package version, reported by `GET /v1/log` (CONTRACT §3 "Other"). */
export const VERSION = '0.2.0';
