// Property-based tests (fast-check) of every parser that sees hostile input
// (issue 6 "Hostile input"): each accepts exactly its canonical form, round-
// trips it, and refuses anything else with its documented error type, never
// another exception.
import fc from 'fast-check';
import { AccessConfigError, parseTokenFile } from '../../src/http/access.js';
import { parseCanonicalDecimal, queryNumber, queryString } from '../../src/http/query.js';
import { canonicalizeJson, JsonError } from '../../src/jcs/canonical.js';
import { parseIJson } from '../../src/jcs/parse.js';
import { LogError } from '../../src/log/errors.js';
import { formatTilePath, parseTilePath, type Tile } from '../../src/merkle/tile.js';
import { parseEntryBundle, encodeEntryBundle } from '../../src/merkle/bundle.js';
import { parseReceipt } from '../../src/client/receipt.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { formatCheckpoint, openCheckpoint, parseCheckpoint } from '../../src/note/checkpoint.js';
import { NoteError, openNote, signNote } from '../../src/note/note.js';
import { signTreeHead, verifyTreeHead } from '../../src/note/sth.js';
import { testSigner, testVerifier } from '../helpers/keys.js';

const RUNS = { numRuns: 300 };

/** Applies a few single-character edits (replace, insert, delete) to `s`. */
const mutation = (s: string, alphabet: fc.Arbitrary<string> = fc.string({ minLength: 1, maxLength: 1, unit: 'binary' })) =>
  fc.array(fc.tuple(fc.nat(s.length), fc.integer({ min: 0, max: 2 }), alphabet), { minLength: 1, maxLength: 4 }).map((edits) => {
    let out = s;
    for (const [pos, kind, ch] of edits) {
      const at = Math.min(pos, out.length);
      if (kind === 0) out = out.slice(0, at) + ch + out.slice(at + 1);
      else if (kind === 1) out = out.slice(0, at) + ch + out.slice(at);
      else out = out.slice(0, at) + out.slice(at + 1);
    }
    return out;
  });

/** Indexes and sizes across the whole safe range, small ones more often. */
const index = fc.oneof(fc.nat(1000), fc.nat(2 ** 32), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));

function expectOnly<E>(fn: () => unknown, errorType: new (...args: never[]) => E): unknown {
  try {
    return fn();
  } catch (err) {
    expect(err).toBeInstanceOf(errorType);
    return undefined;
  }
}

describe('tile paths (C2SP tlog-tiles)', () => {
  const tile: fc.Arbitrary<Tile> = fc.record({ level: fc.integer({ min: -1, max: 63 }), n: index, width: fc.integer({ min: 1, max: 256 }) });

  test('every tile round-trips through its path', () => {
    fc.assert(
      fc.property(tile, (t) => {
        expect(parseTilePath(formatTilePath(t))).toEqual(t);
      }),
      RUNS,
    );
  });

  test('any string either throws RangeError or is the canonical path of what it parses to', () => {
    const pathChars = fc.constantFrom(...'tile/entris0123456789x.p'.split(''), '//', '.p/', 'x000/', '%2F', '-');
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: pathChars, maxLength: 40 }), tile.chain((t) => mutation(formatTilePath(t), pathChars))), (s) => {
        const parsed = expectOnly(() => parseTilePath(s), RangeError) as Tile | undefined;
        if (parsed !== undefined) expect(formatTilePath(parsed)).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('query numbers (canonical decimal)', () => {
  test('every safe integer parses from its decimal form', () => {
    fc.assert(
      fc.property(index, (n) => {
        expect(parseCanonicalDecimal(String(n))).toBe(n);
        expect(queryNumber({ x: String(n) }, 'x')).toBe(n);
      }),
      RUNS,
    );
  });

  test('any string is refused with INVALID_PARAMETER unless it is the canonical form of a safe integer', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[-+0-9eE. x]{0,20}$/), index.chain((n) => mutation(String(n)))), (s) => {
        let value: number | undefined;
        try {
          value = parseCanonicalDecimal(s, 'x');
        } catch (err) {
          expect(err).toBeInstanceOf(LogError);
          expect((err as LogError).code).toBe('INVALID_PARAMETER');
          expect((err as LogError).message.length).toBeLessThan(300); // a hostile value is not echoed whole
          return;
        }
        expect(Number.isSafeInteger(value)).toBe(true);
        expect(String(value)).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  test('repeated and structured parameters are refused', () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(fc.string(), { minLength: 2 }), fc.dictionary(fc.string(), fc.string())), (value) => {
        expect(() => queryString({ x: value }, 'x')).toThrow(LogError);
        expect(() => queryNumber({ x: value }, 'x')).toThrow(LogError);
      }),
      RUNS,
    );
    expect(queryString({}, 'constructor')).toBeUndefined();
    expect(queryString(Object.create({ x: '1' }) as Record<string, unknown>, 'x')).toBeUndefined();
  });
});

describe('base64 (strict standard)', () => {
  test('bytes round-trip; any string is refused with RangeError unless it is canonical', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(Array.from(decodeBase64(encodeBase64(b)))).toEqual(Array.from(b));
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.base64String(), fc.uint8Array({ maxLength: 40 }).chain((b) => mutation(encodeBase64(b)))), (s) => {
        const bytes = expectOnly(() => decodeBase64(s), RangeError) as Uint8Array | undefined;
        if (bytes !== undefined) expect(encodeBase64(bytes)).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('signed notes and checkpoints', () => {
  const origin = testSigner.name;
  const checkpoint = fc.record({
    origin: fc.constant(origin),
    treeSize: index,
    rootHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    extensions: fc.array(fc.stringMatching(/^[a-z0-9 ]{1,20}$/), { maxLength: 2 }),
  });

  test('checkpoints round-trip through text and a signed note', () => {
    fc.assert(
      fc.property(checkpoint, (c) => {
        const text = formatCheckpoint(c);
        expect(parseCheckpoint(text)).toEqual(c);
        expect(openCheckpoint(signNote(text, [testSigner]), testVerifier).checkpoint).toEqual(c);
      }),
      RUNS,
    );
  });

  test('mutated checkpoint text is refused with NoteError, or is canonical for what it parses to', () => {
    fc.assert(
      fc.property(
        checkpoint.chain((c) => mutation(formatCheckpoint(c), fc.constantFrom('\n', '0', '1', 'A', '=', '+', '-', ' ', '\u0000', 'é', '\ud800'))),
        (text) => {
          const parsed = expectOnly(() => parseCheckpoint(text), NoteError) as ReturnType<typeof parseCheckpoint> | undefined;
          if (parsed !== undefined) expect(formatCheckpoint(parsed)).toBe(text);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('any change to a signed checkpoint makes it fail to open, with NoteError', () => {
    fc.assert(
      fc.property(
        checkpoint.chain((c) => {
          const note = signNote(formatCheckpoint(c), [testSigner]);
          return fc.tuple(fc.constant(note), mutation(note));
        }),
        ([note, changed]) => {
          fc.pre(changed !== note);
          expect(() => openCheckpoint(changed, testVerifier)).toThrow(NoteError);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('arbitrary text and bytes never open as a note, and fail only with NoteError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: fc.constantFrom('\n', '—', ' ', 'a', '+', '='), maxLength: 50 })), (s) => {
        expect(() => openNote(s, [testVerifier])).toThrow(NoteError);
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        expect(() => openNote(b, [testVerifier])).toThrow(NoteError);
      }),
      RUNS,
    );
  });
});

describe('signed tree heads (RFC 6962 get-sth)', () => {
  test('a changed field or signature is refused (null), never thrown', () => {
    fc.assert(
      fc.property(
        fc.record({ timestamp: index, treeSize: index, rootHash: fc.uint8Array({ minLength: 32, maxLength: 32 }) }),
        fc.constantFrom('tree_size', 'timestamp', 'sha256_root_hash', 'tree_head_signature', 'extra', 'missing'),
        fc.jsonValue(),
        (head, field, value) => {
          const sth = signTreeHead(head, testSigner) as unknown as Record<string, unknown>;
          expect(verifyTreeHead(sth, testVerifier)).not.toBeNull();
          const changed = { ...sth };
          if (field === 'missing') delete changed.timestamp;
          else changed[field] = value;
          fc.pre(JSON.stringify(changed) !== JSON.stringify(sth));
          expect(verifyTreeHead(changed, testVerifier)).toBeNull();
        },
      ),
      RUNS,
    );
    fc.assert(
      fc.property(fc.anything(), (v) => {
        expect(verifyTreeHead(v, testVerifier)).toBeNull();
      }),
      RUNS,
    );
  });
});

describe('JSON canonicalization (RFC 8785 over I-JSON)', () => {
  test('any bytes: JsonError, or a canonical form that is a fixed point and that JSON.parse reads', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.jsonValue({ maxDepth: 4 }).chain((v) => mutation(JSON.stringify(v) ?? 'null').map((s) => new TextEncoder().encode(s))),
          fc.string({ unit: fc.constantFrom('{', '}', '[', ']', '"', ':', ',', '1', 'e', '-', '.', '\\', 'u', 'd', '8', '0', ' '), maxLength: 40 }).map((s) => new TextEncoder().encode(s)),
        ),
        (bytes) => {
          const out = expectOnly(() => canonicalizeJson(bytes), JsonError) as Uint8Array | undefined;
          if (out === undefined) return;
          const text = new TextDecoder().decode(out);
          expect(() => JSON.parse(text)).not.toThrow();
          expect(new TextDecoder().decode(canonicalizeJson(out))).toBe(text);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('nesting far past the limit is a JsonError, not a stack overflow', () => {
    fc.assert(
      fc.property(fc.integer({ min: 513, max: 200_000 }), fc.constantFrom('[', '{"a":'), (depth, open) => {
        const body = new TextEncoder().encode(open.repeat(depth));
        expect(() => parseIJson(body)).toThrow(JsonError);
      }),
      { numRuns: 30 },
    );
  });
});

describe('entry bundles', () => {
  test('bundles round-trip, and what does not parse is refused with RangeError', () => {
    const entries = fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 20 });
    fc.assert(
      fc.property(entries, (es) => {
        const bundle = encodeEntryBundle(es);
        expect(parseEntryBundle(bundle).map((e) => Array.from(e))).toEqual(es.map((e) => Array.from(e)));
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        const parsed = expectOnly(() => parseEntryBundle(b), RangeError) as Uint8Array[] | undefined;
        if (parsed !== undefined) expect(Buffer.from(encodeEntryBundle(parsed)).equals(Buffer.from(b))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('receipts and token files', () => {
  test('parseReceipt returns a receipt or a reason for any JSON value, never throws', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record(
            { index: fc.oneof(index, fc.integer(), fc.double(), fc.string()), leaf_hash: fc.oneof(fc.string(), fc.nat()), checkpoint: fc.oneof(fc.string(), fc.constant(null)), inclusion_proof: fc.oneof(fc.array(fc.string()), fc.array(fc.anything())), duplicate: fc.oneof(fc.boolean(), fc.string()) },
            { requiredKeys: [] },
          ),
        ),
        (v) => {
          const r = parseReceipt(v);
          if (typeof r === 'string') return;
          expect(Number.isSafeInteger(r.index) && r.index >= 0).toBe(true);
          expect(typeof r.leaf_hash).toBe('string');
          expect(typeof r.checkpoint).toBe('string');
          expect(r.inclusion_proof.every((p) => typeof p === 'string')).toBe(true);
          expect(typeof r.duplicate).toBe('boolean');
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('parseTokenFile accepts or refuses any text with AccessConfigError, and never echoes a line', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.stringMatching(/^secret[A-Za-z]{12}$/), (text, secret) => {
        try {
          const rules = parseTokenFile(`${text}\n${secret}\n`);
          expect(rules).toBeUndefined(); // a bare word is never a valid line
        } catch (err) {
          expect(err).toBeInstanceOf(AccessConfigError);
          expect((err as Error).message).not.toContain(secret);
        }
      }),
      RUNS,
    );
  });
});
