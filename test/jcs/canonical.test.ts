// RFC 8785 (JCS) output: the spec's own examples, then Cairn's edge cases.
import canonicalize from 'canonicalize';
import { canonicalizeJson, canonicalizeValue, JsonError } from '../../src/jcs/canonical.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** canonicalizeJson over a JavaScript string, returning text. */
function jcs(text: string): string {
  return dec.decode(canonicalizeJson(enc.encode(text)));
}

function fromIeee754Hex(bits: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${bits}`));
  return view.getFloat64(0);
}

describe('RFC 8785 Appendix B: number serialization', () => {
  // The IEEE 754 bit patterns and expected text, as printed in the RFC.
  const table: [string, string][] = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];

  it.each(table)('canonicalizeValue(0x%s) is %s', (bits, expected) => {
    expect(dec.decode(canonicalizeValue(fromIeee754Hex(bits)))).toBe(expected);
  });

  it.each(table)('canonicalizeJson of the 17-digit form of 0x%s is %s', (bits, expected) => {
    // Feed the number as a literal that is not already canonical. Integers past
    // 2^53 must keep their value, so those are only re-cased (1E+21).
    const value = fromIeee754Hex(bits);
    const literal = Math.abs(value) > Number.MAX_SAFE_INTEGER ? expected.toUpperCase() : value.toExponential(16);
    expect(jcs(`[${literal}]`)).toBe(`[${expected}]`);
  });

  it('rejects the table’s NaN and Infinity patterns', () => {
    for (const bits of ['7fffffffffffffff', '7ff0000000000000']) {
      expect(() => canonicalizeValue(fromIeee754Hex(bits))).toThrow(JsonError);
    }
  });
});

describe('RFC 8785 §3.2.2 and §3.2.3 samples', () => {
  it('serializes the §3.2.2 sample object (numbers, escapes, literals)', () => {
    const input =
      '{\n  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n' +
      '  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n' +
      '  "literals": [null, true, false]\n}';
    const expected =
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}';
    expect(jcs(input)).toBe(expected);
  });

  it('produces the §3.2.4 UTF-8 bytes of the sample (the euro sign as e2 82 ac)', () => {
    const out = canonicalizeJson(enc.encode('{"string":"\\u20ac$"}'));
    expect(Array.from(out)).toEqual([
      0x7b, 0x22, 0x73, 0x74, 0x72, 0x69, 0x6e, 0x67, 0x22, 0x3a, 0x22, 0xe2, 0x82, 0xac, 0x24, 0x22, 0x7d,
    ]);
  });

  it('sorts the §3.2.3 keys by UTF-16 code units', () => {
    const input =
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh",' +
      '"1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control",' +
      '"\\u00f6":"Latin Small Letter O With Diaeresis"}';
    const expected =
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\u{1f600}":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}';
    expect(jcs(input)).toBe(expected);
  });

  it('orders a surrogate pair (U+1F600) before U+FB33 although its code point is larger', () => {
    // By code points U+FB33 < U+1F600; by UTF-16 code units 0xD83D < 0xFB33.
    expect(jcs('{"\\ufb33":1,"\\ud83d\\ude00":2}')).toBe('{"\u{1f600}":2,"\ufb33":1}');
  });
});

describe('canonicalizeJson edge cases', () => {
  it.each([
    ['-0', '0'],
    ['-0.0e5', '0'],
    ['1e21', '1e+21'],
    ['1E-7', '1e-7'],
    ['0.000001', '0.000001'],
    ['1e20', '100000000000000000000'],
    ['100000000000000000000', '100000000000000000000'],
    ['1E30', '1e+30'],
    ['9007199254740991', '9007199254740991'],
    ['-9007199254740991', '-9007199254740991'],
    ['9007199254740992', '9007199254740992'],
    ['295147905179352830000', '295147905179352830000'],
    ['5e-324', '5e-324'],
    ['0e400', '0'],
    ['0.0e-400', '0'],
    ['1.5e300', '1.5e+300'],
    ['1.0', '1'],
    ['4.50', '4.5'],
    ['12345678901234567e-1', '1234567890123456.8'],
  ])('number %s → %s', (input, expected) => {
    expect(jcs(input)).toBe(expected);
  });

  it.each([
    ['"abc"', '"abc"'],
    ['true', 'true'],
    ['false', 'false'],
    ['null', 'null'],
    [' \t\r\n[ ] ', '[]'],
    ['{ }', '{}'],
    ['"\\/"', '"/"'],
    ['"\\u001f\\u007f"', '"\\u001f\u007f"'],
    ['"\\b\\f\\n\\r\\t"', '"\\b\\f\\n\\r\\t"'],
    ['"\u2028\u2029"', '"\u2028\u2029"'],
    ['"\\uD83D\\uDE00"', '"\u{1f600}"'],
    ['"\u{1f600}"', '"\u{1f600}"'],
    ['[1,[2,[3,{"b":[],"a":{}}]]]', '[1,[2,[3,{"a":{},"b":[]}]]]'],
  ])('value %s → %s', (input, expected) => {
    expect(jcs(input)).toBe(expected);
  });

  it('keeps a "__proto__" key as data, sorted with the others', () => {
    expect(jcs('{"b":1,"__proto__":{"x":[1]},"a":2}')).toBe('{"__proto__":{"x":[1]},"a":2,"b":1}');
    expect(jcs('{"__proto__":null}')).toBe('{"__proto__":null}');
  });

  it('the canonicalize package itself keeps JSON.parse’s own "__proto__" property', () => {
    // JSON.parse creates "__proto__" as an own data property; canonicalize must not drop it.
    expect(canonicalize(JSON.parse('{"z":0,"__proto__":{"polluted":true}}'))).toBe('{"__proto__":{"polluted":true},"z":0}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('does not pollute Object.prototype through "__proto__" or "constructor" keys', () => {
    jcs('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}}}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('treats keys that differ only by case or normalization as distinct', () => {
    expect(jcs('{"a":1,"A":2}')).toBe('{"A":2,"a":1}');
    // U+00E9 vs e + U+0301: JCS does not normalize (RFC 8785 §3.1).
    expect(jcs('{"\\u00e9":1,"e\\u0301":2}')).toBe('{"e\u0301":2,"\u00e9":1}');
  });
});

describe('canonicalizeValue', () => {
  it('serializes plain values like the text path', () => {
    const value = { b: [1, -0, 'x', null, true], a: { d: 1e21, c: 0.000001 } };
    expect(dec.decode(canonicalizeValue(value))).toBe('{"a":{"c":0.000001,"d":1e+21},"b":[1,0,"x",null,true]}');
  });

  it('accepts null-prototype objects and an own "__proto__" property', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare['k'] = 1;
    expect(dec.decode(canonicalizeValue(bare))).toBe('{"k":1}');
    expect(dec.decode(canonicalizeValue(JSON.parse('{"__proto__":[1]}')))).toBe('{"__proto__":[1]}');
  });

  it('reads each value once, so a getter cannot change what is serialized', () => {
    let reads = 0;
    const value = {
      get n() {
        reads++;
        return reads;
      },
    };
    expect(dec.decode(canonicalizeValue(value))).toBe('{"n":1}');
    expect(reads).toBe(1);
  });

  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  let deep: unknown = 0;
  for (let i = 0; i < 513; i++) deep = [deep];
  class Point {
    x = 1;
  }

  it.each<[string, unknown]>([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity in an array', [-Infinity]],
    ['undefined', undefined],
    ['an undefined member', { a: undefined }],
    ['an undefined element', [undefined]],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a bigint', 1n],
    ['a lone high surrogate', '\ud800'],
    ['a lone low surrogate in a key', { '\udc00': 1 }],
    ['a sparse array', [1, , 3]],
    ['a Date', new Date(0)],
    ['a Map', new Map()],
    ['a class instance', new Point()],
    ['a boxed string', Object('s')],
    ['a Uint8Array', new Uint8Array(1)],
    ['a symbol key', { [Symbol('k')]: 1 }],
    ['a cycle', cyclic],
    ['nesting of 513', deep],
  ])('rejects %s with JsonError', (_name, value) => {
    expect(() => canonicalizeValue(value)).toThrow(JsonError);
  });

  it('names the offending place in the message', () => {
    expect(() => canonicalizeValue({ a: [0, { b: NaN }] })).toThrow('$["a"][1]["b"]');
  });

  it('accepts nesting of exactly 512', () => {
    let v: unknown = 0;
    for (let i = 0; i < 512; i++) v = [v];
    expect(dec.decode(canonicalizeValue(v))).toBe('['.repeat(512) + '0' + ']'.repeat(512));
  });
});
