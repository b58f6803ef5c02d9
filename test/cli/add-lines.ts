/** What the tests of `cairn add` feed it (JSON lines) and read back from it (receipts). */
import { canonicalizeJson } from '../../src/jcs/canonical.js';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';

export const enc = (s: string) => new TextEncoder().encode(s);

/** `n` JSON events, told apart by `tag` and their number. */
export const events = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify({ tag, i }));

/** Standard input of these lines, each ended by a line break. */
export const stdinOf = (lines: string[]) => `${lines.join('\n')}\n`;

/** The leaf hash (base64) the log gives the JSON event `line`: of its canonical form. */
export const hashOf = (line: string) => encodeBase64(leafHash(canonicalizeJson(enc(line))));

/** The receipts of a receipts file or of stdout, one JSON line each. */
export const receiptsOf = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { index: number; leaf_hash: string; duplicate: boolean });
