// spec/formats.md: its examples are recomputed here from the vectors, so the
// document cannot drift from the bytes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { canonicalizeJson, JsonError } from '../../src/jcs/canonical.js';
import { LOG_ERROR_CODES } from '../../src/log/errors.js';
import { specErrorStatuses } from '../helpers/openapi.js';

ed.hashes.sha512 = sha512;

const doc = readFileSync(new URL('../../spec/formats.md', import.meta.url), 'utf8');
const vector = JSON.parse(readFileSync(new URL('../vectors/signed-note.json', import.meta.url), 'utf8')) as {
  note: string;
  seed_hex: string;
  verifier_key: string;
  signer_key: string;
  key_hash_hex: string;
  sth: { tree_size: number; timestamp: number; sha256_root_hash: string; tree_head_signature: string };
};
const tree = JSON.parse(readFileSync(new URL('../vectors/rfc6962-1100.json', import.meta.url), 'utf8')) as { roots: Record<string, string> };

const enc = new TextEncoder();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const sha256 = (...parts: Uint8Array[]) => new Uint8Array(createHash('sha256').update(Buffer.concat(parts)).digest());
const leafHash = (entry: string) => sha256(Uint8Array.of(0), enc.encode(entry));
const nodeHash = (l: Uint8Array, r: Uint8Array) => sha256(Uint8Array.of(1), l, r);

/** The contents of every fenced code block, in order. */
function codeBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe('formats.md examples', () => {
  it('shows the vectors’ signed checkpoint byte for byte', () => {
    expect(codeBlocks(doc)).toContain(vector.note);
  });

  it('shows the vectors’ STH', () => {
    const block = codeBlocks(doc).find((b) => b.includes('"tree_head_signature"'));
    expect(JSON.parse(block!)).toEqual(vector.sth);
  });

  it('gives the right TreeHeadSignature bytes and DigitallySigned prefix', () => {
    const tbs = Buffer.alloc(50);
    tbs[0] = 0;
    tbs[1] = 1;
    tbs.writeBigUInt64BE(BigInt(vector.sth.timestamp), 2);
    tbs.writeBigUInt64BE(BigInt(vector.sth.tree_size), 10);
    Buffer.from(vector.sth.sha256_root_hash, 'base64').copy(tbs, 18);
    expect(doc).toContain(`\`${tbs.toString('hex')}\``);
    const ds = Buffer.from(vector.sth.tree_head_signature, 'base64');
    expect(hex(ds.subarray(0, 4))).toBe('08070040');
    expect(vector.sth.tree_head_signature.startsWith('CAcAQ')).toBe(true);
    const pub = ed.getPublicKey(Buffer.from(vector.seed_hex, 'hex'));
    expect(ed.verify(ds.subarray(4), tbs, pub)).toBe(true);
  });

  it('explains the key hash and signature line with the vector key', () => {
    const pub = ed.getPublicKey(Buffer.from(vector.seed_hex, 'hex'));
    const origin = vector.note.split('\n')[0]!;
    const keyHash = sha256(enc.encode(`${origin}\n`), Uint8Array.of(1), pub).subarray(0, 4);
    expect(hex(keyHash)).toBe(vector.key_hash_hex);
    expect(doc).toContain(`verifier key: ${vector.verifier_key}`);
    expect(doc).toContain(hex(keyHash).match(/../g)!.join(' '));
    expect(doc).toContain(`public key\n\`${hex(pub).slice(0, 8)}…${hex(pub).slice(-8)}\``);
    const [body, sigs] = vector.note.split('\n\n') as [string, string];
    const sig = Buffer.from(sigs.trim().split(' ')[2]!, 'base64');
    expect(sig.length).toBe(68);
    expect(doc).toContain(`\`${hex(sig.subarray(4, 8))}…${hex(sig.subarray(63))}\``);
    expect(ed.verify(sig.subarray(4), enc.encode(`${body}\n`), pub)).toBe(true);
    expect(enc.encode(`${body}\n`).length).toBe(70);
  });

  it('gives the right leaf hash for "entry 0" and the empty-tree root', () => {
    expect(doc).toContain(hex(leafHash('entry 0')));
    expect(doc).toContain(b64(leafHash('entry 0')));
    expect(doc).toContain(b64(sha256()));
  });

  it('has a receipt example whose proof really leads to the root of size 3', () => {
    const leaf = leafHash('entry 2');
    const sibling = nodeHash(leafHash('entry 0'), leafHash('entry 1'));
    const root = nodeHash(sibling, leaf);
    expect(hex(root)).toBe(tree.roots['3']);
    expect(doc).toContain(`"leaf_hash": "${b64(leaf)}"`);
    expect(doc).toContain(`"inclusion_proof": ["${b64(sibling)}"]`);
    expect(doc).toContain(`example.com/log/test\\n3\\n${b64(root)}\\n`);
    expect(doc).toContain(`\`${hex(root).slice(0, 8)}…${hex(root).slice(-8)}\``);
  });

  it('canonicalizes the JSON example as shown', () => {
    const out = canonicalizeJson(enc.encode('{ "b": [1.0, "\\u20ac"], "a": true }'));
    expect(new TextDecoder().decode(out)).toBe('{"a":true,"b":[1,"€"]}');
    expect(doc).toContain('`{"a":true,"b":[1,"€"]}`');
    expect(doc).toContain(`the ${out.length} bytes`);
  });

  it('sorts the member names of §2 as JCS does, each the character its label names', () => {
    const chain = /((?:`"[^`]*"` < )+`"[^`]*"`)(?: \((U\+[0-9A-F]{4,6})\b)?/.exec(doc);
    expect(chain).not.toBeNull();
    const names = [...chain![1]!.matchAll(/`("[^`]*")`/g)].map((m) => JSON.parse(m[1]!) as string);
    expect(names.length).toBeGreaterThanOrEqual(7);
    // Strictly ascending as UTF-16 code units (what JS compares strings by).
    for (let i = 1; i < names.length; i++) expect([names[i - 1], names[i - 1]! < names[i]!]).toEqual([names[i - 1], true]);
    // The canonicalizer puts them in that order, whatever order they come in.
    const reversed = `{${[...names].reverse().map((n, i) => `${JSON.stringify(n)}:${i}`).join(',')}}`;
    const text = (json: string) => new TextDecoder().decode(canonicalizeJson(enc.encode(json)));
    expect(text(reversed)).toBe(`{${names.map((n, k) => `${text(JSON.stringify(n))}:${names.length - 1 - k}`).join(',')}}`);
    // The label after the last name is the one code point it holds; the emoji's first unit is the one named.
    const last = names[names.length - 1]!;
    expect(chain![2]).toBeDefined();
    expect([...last].map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`)).toEqual([chain![2]]);
    const emoji = names.find((n) => n.codePointAt(0)! > 0xffff)!;
    expect(doc).toContain(`surrogate pair starting 0x${emoji.charCodeAt(0).toString(16).toUpperCase()}`);
  });

  it('holds no character that Unicode normalisation (NFC) would change: such an example must be written as an escape', () => {
    const changed = [...doc].filter((c) => c.normalize('NFC') !== c).map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase()}`);
    expect(changed).toEqual([]);
    expect(doc.normalize('NFC')).toBe(doc);
  });

  it.each(['{"a":1,"\\u0061":2}', '"\\ud800"', '"\\udc00\\ud800"', '1e400', '-1e400', '1e-400', '9007199254740993', '295147905179352825856', '[1,]', '01', 'NaN'])(
    'rejects the listed example %s',
    (example) => {
      expect(doc).toContain(`\`${example}\``);
      expect(() => canonicalizeJson(enc.encode(example))).toThrow(JsonError);
    },
  );

  it.each(['9007199254740992', '1e20', '100000000000000000000', '1E+30'])('accepts the listed example %s', (example) => {
    expect(doc).toContain(`\`${example}\``);
    expect(() => canonicalizeJson(enc.encode(example))).not.toThrow();
  });

  it.each([
    ['0.10000000000000000555', '0.1'],
    ['9.9999999999999992e+22', '1e+23'],
  ])('logs the listed example %s as %s', (example, logged) => {
    expect(doc).toContain(`\`${example}\` is logged \`${logged}\``);
    expect(new TextDecoder().decode(canonicalizeJson(enc.encode(example)))).toBe(logged);
  });

  it('has an error table that matches the spec’s code → status mapping', () => {
    const rows = [...doc.matchAll(/^\| `([A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])] as const);
    expect(rows.map(([code]) => code).sort()).toEqual([...LOG_ERROR_CODES].sort());
    expect(Object.fromEntries(rows)).toEqual(specErrorStatuses());
  });

  it('says, as the README does, that a STORAGE_FAILED entry is logged when the disk wrote its round before failing, and that a retry then answers duplicate', () => {
    const row = /^\| `STORAGE_FAILED` \|.*$/m.exec(doc)![0];
    expect(row).toContain('not logged unless the disk wrote the round before it reported the error');
    expect(row).toContain('`"duplicate": true`');
  });
});
