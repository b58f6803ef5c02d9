// Properties of canonicalization over generated JSON, checked against JSON.parse as an oracle.
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { canonicalizeJson, canonicalizeValue, JsonError } from '../../src/jcs/canonical.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

// 'binary' strings cover every code point (never a half surrogate pair).
const jsonValue = fc.jsonValue({ stringUnit: 'binary', maxDepth: 6 });

function jcs(text: string): string {
  return dec.decode(canonicalizeJson(enc.encode(text)));
}

/**
 * The oracle for text that canonicalizeJson accepted: the same text must also
 * be valid for JSON.parse, and canonicalize(JSON.parse(text)) must be the same
 * (JSON.parse only differs on inputs we reject: duplicates, surrogates, ...).
 */
function checkAgainstJsonParse(text: string, out: string): void {
  expect(canonicalize(JSON.parse(text))).toBe(out);
  // The canonical form is a fixed point.
  expect(jcs(out)).toBe(out);
}

describe('canonicalizeJson properties', () => {
  it('ignores formatting, is idempotent and agrees with canonicalize(JSON.parse(...))', () => {
    fc.assert(
      fc.property(jsonValue, (v) => {
        const compact = JSON.stringify(v);
        const out = jcs(compact);
        expect(jcs(JSON.stringify(v, null, 2))).toBe(out);
        expect(jcs(`\r\n\t ${JSON.stringify(v, null, '\t')}\n`)).toBe(out);
        expect(jcs(out)).toBe(out);
        expect(canonicalize(JSON.parse(compact))).toBe(out);
        expect(dec.decode(canonicalizeValue(v))).toBe(out);
      }),
      { numRuns: 500 },
    );
  });

  it('does not depend on the order of object members', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), jsonValue), (obj) => {
        const entries = Object.entries(obj);
        const forward = '{' + entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',') + '}';
        const reverse = '{' + entries.reverse().map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',') + '}';
        expect(jcs(reverse)).toBe(jcs(forward));
      }),
      { numRuns: 200 },
    );
  });

  it('gives every finite double its ECMAScript form', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        // Object.is(-0) prints "0" both ways; integers past 2^53 printed by
        // toPrecision(17) may not keep their value, so use String(x) there.
        const literal = Number.isInteger(x) && Math.abs(x) > Number.MAX_SAFE_INTEGER ? String(x) : x.toPrecision(17);
        expect(jcs(literal)).toBe(String(x === 0 ? 0 : x));
      }),
      { numRuns: 1000 },
    );
  });

  it('throws nothing but JsonError on mutated JSON text, and accepts only what JSON.parse accepts', () => {
    const alphabet = fc.constantFrom(
      '"', '\\', '{', '}', '[', ']', ',', ':', '0', '1', '9', '-', '+', '.', 'e', 'E', 'u', 't', 'n', ' ', '\n',
      '\u0000', '\ud800', '\udc00', '\u{1f600}', '\ufeff', 'x',
    );
    const edit = fc.record({ at: fc.nat(), op: fc.constantFrom('insert', 'delete', 'replace'), ch: alphabet });
    fc.assert(
      fc.property(jsonValue, fc.array(edit, { minLength: 1, maxLength: 4 }), (v, edits) => {
        let text = JSON.stringify(v);
        for (const { at, op, ch } of edits) {
          const i = text.length === 0 ? 0 : at % (text.length + 1);
          if (op === 'insert') text = text.slice(0, i) + ch + text.slice(i);
          else if (op === 'delete') text = text.slice(0, i) + text.slice(i + 1);
          else text = text.slice(0, i) + ch + text.slice(i + 1);
        }
        let out: string;
        try {
          // A raw lone surrogate becomes U+FFFD here, as it would on the wire.
          out = jcs(text);
        } catch (err) {
          expect(err).toBeInstanceOf(JsonError);
          return;
        }
        checkAgainstJsonParse(dec.decode(enc.encode(text)), out);
      }),
      { numRuns: 2000 },
    );
  });

  it('throws nothing but JsonError on mutated UTF-8 bytes', () => {
    const edit = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), op: fc.constantFrom('insert', 'replace', 'delete') });
    fc.assert(
      fc.property(jsonValue, fc.array(edit, { minLength: 1, maxLength: 3 }), (v, edits) => {
        let bytes = Array.from(enc.encode(JSON.stringify(v)));
        for (const { at, byte, op } of edits) {
          const i = at % (bytes.length + 1);
          if (op === 'insert') bytes.splice(i, 0, byte);
          else if (op === 'delete') bytes.splice(i, 1);
          else bytes[i] = byte;
        }
        bytes = bytes.filter((b) => b !== undefined);
        let out: string;
        try {
          out = dec.decode(canonicalizeJson(Uint8Array.from(bytes)));
        } catch (err) {
          expect(err).toBeInstanceOf(JsonError);
          return;
        }
        checkAgainstJsonParse(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes)), out);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('large bodies', () => {
  // Speed is measured by the benchmarks, not asserted here (no timed tests).
  it('canonicalizes a 1 MiB body exactly like canonicalize(JSON.parse(...))', () => {
    const items: unknown[] = [];
    let size = 2;
    for (let i = 0; size < 1024 * 1024; i++) {
      const item = {
        zeta: `event ${i} \u00e9\u{1f600} "quoted" \\ back`,
        id: i * 7919,
        ratio: i / 7,
        tags: ['a', 'b', String(i)],
        nested: { ok: i % 2 === 0, none: null, big: 1e21 + i },
      };
      items.push(item);
      size += JSON.stringify(item).length + 1;
    }
    const body = enc.encode(JSON.stringify(items, null, 1));
    expect(body.length).toBeGreaterThan(1024 * 1024);
    const out = canonicalizeJson(body);
    expect(dec.decode(out)).toBe(canonicalize(JSON.parse(dec.decode(body))));
  });
});
