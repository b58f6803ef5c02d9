// Every class of input CONTRACT §1 rejects as not I-JSON, and the near misses it must accept.
import { canonicalizeJson, JsonError } from '../../src/jcs/canonical.js';
import { MAX_JSON_DEPTH, parseIJson, parseIJsonText } from '../../src/jcs/parse.js';

const enc = new TextEncoder();

/** The JsonError canonicalizeJson throws for `input`, failing the test if it throws nothing or something else. */
function rejection(input: string | Uint8Array): JsonError {
  const bytes = typeof input === 'string' ? enc.encode(input) : input;
  try {
    canonicalizeJson(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(JsonError);
    const json = err as JsonError;
    expect(json.code).toBe('INVALID_JSON');
    expect(json.name).toBe('JsonError');
    return json;
  }
  throw new Error(`accepted ${JSON.stringify(typeof input === 'string' ? input : Array.from(input))}`);
}

function accepts(input: string): void {
  expect(() => canonicalizeJson(enc.encode(input))).not.toThrow();
}

describe('invalid UTF-8 and byte order marks', () => {
  it.each<[string, number[]]>([
    ['a lone continuation byte', [0x22, 0x80, 0x22]],
    ['0xff', [0x22, 0xff, 0x22]],
    ['a truncated two-byte sequence', [0x22, 0xc3, 0x22]],
    ['an overlong "/"', [0x22, 0xc0, 0xaf, 0x22]],
    ['an overlong three-byte NUL', [0x22, 0xe0, 0x80, 0x80, 0x22]],
    ['an encoded surrogate U+D800', [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ['a code point past U+10FFFF', [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]],
    ['a truncated four-byte sequence at the end', [0x22, 0xf0, 0x9f, 0x98]],
  ])('rejects %s and gives the byte offset', (_name, bytes) => {
    const err = rejection(Uint8Array.from(bytes));
    expect(err.message).toMatch(/UTF-8/);
    expect(err.position).toBe(1);
  });

  it('rejects a leading UTF-8 byte order mark', () => {
    expect(rejection(Uint8Array.from([0xef, 0xbb, 0xbf, 0x31])).message).toMatch(/byte order mark/);
  });

  it('rejects U+FEFF as whitespace anywhere else', () => {
    rejection('[1,\ufeff2]');
  });

  it('accepts U+FEFF inside a string', () => {
    accepts('"\ufeff"');
  });
});

describe('RFC 8259 syntax', () => {
  it.each([
    '',
    ' ',
    '{',
    '[',
    '[1,]',
    '[,1]',
    '{"a":1,}',
    '{,}',
    "'a'",
    'NaN',
    'Infinity',
    '-Infinity',
    'undefined',
    '01',
    '-01',
    '00',
    '1.',
    '.5',
    '+1',
    '1e',
    '1e+',
    '-',
    '0x10',
    '1_000',
    '"\t"',
    '"\n"',
    '"\u0000"',
    '"\\x41"',
    '"\\u12"',
    '"\\u12G4"',
    '"\\U0041"',
    '"\\\'"',
    '"abc',
    '"abc\\"',
    'tru',
    'nul',
    'True',
    '1 2',
    '[1 2]',
    '{"a" 1}',
    '{"a":}',
    '{1:2}',
    '{a:1}',
    '/*c*/1',
    '1 // c',
    '\u00a01',
    '[1]]',
    '{}}',
  ])('rejects %j', (input) => {
    const err = rejection(input);
    expect(err.position).toBeGreaterThanOrEqual(0);
  });

  it('says where the error is', () => {
    const err = rejection('{\n  "a": [1, 2,,]\n}');
    expect(err.position).toBe(15);
    expect(err.message).toContain('line 2, column 14');
  });

  it('names only the column in a text of one line (a JSON Lines line is named by its number)', () => {
    const err = rejection('{"a": tru}');
    expect(err.position).toBe(6);
    expect(err.message).toMatch(/ at column 7$/);
    expect(err.message).not.toContain('line');
  });
});

describe('duplicate keys (RFC 7493 §2.3)', () => {
  it.each([
    '{"a":1,"a":2}',
    '{"a":1,"\\u0061":2}',
    '{"\\u0061":1,"a":1}',
    '{"\\/":1,"/":2}',
    '{"\\ud83d\\ude00":1,"\u{1f600}":2}',
    '{"x":{"b":1,"b":1}}',
    '[{"k":[]},{"k":1,"k":1}]',
    '{"__proto__":1,"__proto__":2}',
    '{"":1,"":2}',
    '{"toString":1,"toString":2}',
  ])('rejects %s', (input) => {
    expect(rejection(input).message).toMatch(/duplicate key/);
  });

  it.each(['{"a":1,"A":2}', '{"a":{"a":1}}', '[{"a":1},{"a":1}]', '{"toString":1,"valueOf":2,"hasOwnProperty":3}'])(
    'accepts %s',
    (input) => accepts(input),
  );

  it('points at the second key', () => {
    expect(rejection('{"a":1, "a":2}').position).toBe(8);
  });
});

describe('lone surrogates (RFC 7493 §2.1)', () => {
  it.each([
    '"\\ud800"',
    '"\\udc00"',
    '"\\uDBFF"',
    '"\\ud800\\u0041"',
    '"\\udc00\\ud800"',
    '"\\ud83d\\ud83d\\ude00"',
    '"\\ud83d\u{1f600}"',
    '"a\\ud800"',
    '{"\\ud800":1}',
    '["ok",{"k":"\\ude00"}]',
  ])('rejects %s', (input) => {
    expect(rejection(input).message).toMatch(/lone surrogate/);
  });

  it('rejects a raw lone surrogate in parseIJsonText', () => {
    expect(() => parseIJsonText('"\ud800"')).toThrow(JsonError);
  });

  it('accepts escaped pairs, raw astral characters and U+E000..U+FFFF', () => {
    accepts('"\\ud83d\\ude00"');
    accepts('"\\uD83D\\uDE00\\uD800\\uDC00\\uDBFF\\uDFFF"');
    accepts('"\u{10ffff}\ue000\uffff"');
  });
});

describe('numbers outside IEEE 754 double (RFC 7493 §2.2)', () => {
  it.each(['1e400', '-1e400', '1.8e308', '1' + '0'.repeat(400), '1e999999999999'])('rejects overflow %s', (input) => {
    expect(rejection(input).message).toMatch(/too large/);
  });

  it.each(['1e-400', '-1e-400', '2e-324', '0.' + '0'.repeat(400) + '1', '1e-999999999999'])('rejects underflow %s', (input) => {
    expect(rejection(input).message).toMatch(/underflows/);
  });

  it.each(['1.7976931348623157e308', '-1.7976931348623157e308', '5e-324', '3e-324', '0e999', '-0.0', '0.000e-5'])(
    'accepts %s',
    (input) => accepts(input),
  );
});

describe('integer literals beyond ±(2^53−1)', () => {
  it.each([
    '9007199254740993',
    '-9007199254740993',
    '123456789012345678901234567890',
    '18446744073709551615',
    '[1,{"a":9007199254740995}]',
  ])('rejects %s', (input) => {
    expect(rejection(input).message).toMatch(/beyond/);
  });

  it.each([
    ['9007199254740993', '9007199254740992'],
    ['-9007199254740993', '-9007199254740992'],
    ['295147905179352825856', '295147905179352830000'], // exactly 2^68 as a double, but not in canonical form
  ])('says what %s would be logged as', (input, logged) => {
    expect(rejection(input).message).toBe(
      `integer ${input} is beyond ±(2^53−1) and would be logged as ${logged}, another number (RFC 7493 §2.2) at column 1`,
    );
  });

  // CONTRACT §1 holds only integer literals to their exact value: one with a
  // fraction or an exponent is a double like 0.10000000000000000555, rounded.
  it.each([
    ['9.9999999999999992e+22', '1e+23'], // C's printf %.17g of 1e23 (jansson's default)
    ['2.50000000000000004e22', '2.5000000000000002e+22'],
    ['1.7976931348623157081452742e+308', '1.7976931348623157e+308'],
    ['9007199254740993.0', '9007199254740992'],
    ['90071992547409930e-1', '9007199254740992'],
    ['[1,{"a":9.9999999999999992e22}]', '[1,{"a":1e+23}]'],
    ['0.10000000000000000555', '0.1'],
  ])('accepts %s as %s', (input, logged) => {
    expect(new TextDecoder().decode(canonicalizeJson(enc.encode(input)))).toBe(logged);
  });

  it.each([
    '9007199254740991',
    '-9007199254740991',
    '9007199254740992',
    '-9007199254740992',
    '1e20',
    '100000000000000000000',
    '1e21',
    '1E+30',
    '1.5e300',
    '295147905179352830000',
    '9007199254740993.5', // not an integer literal
    '1234567890123456789.5',
  ])('accepts %s', (input) => accepts(input));
});

describe('characters in messages', () => {
  it.each([
    ['x', 'unexpected character "x" at column 1'],
    ['\\', 'unexpected character "\\\\" at column 1'],
    ['\u00a0{}', 'unexpected character "\\u{00A0}" at column 1'], // a no-break space: JSON.stringify would leave it as it is
    ['[1,\u200b2]', 'unexpected character "\\u{200B}" at column 4'],
    ['\u0085', 'unexpected character "\\u{0085}" at column 1'],
    ['{"a\u200d":1,"a\\u200d":2}', 'duplicate key "a\\u{200D}" (RFC 7493 §2.3) at column 9'],
    // Where a key, ':' or ',' is due, the character found there is named too.
    ['{"a":1,\u200b"b":2}', 'unexpected character "\\u{200B}" (expected a string key in an object) at column 8'],
    ['{\u00a0"a":1}', 'unexpected character "\\u{00A0}" (expected a string key in an object) at column 2'],
    ['{"a"\u00a0:1}', 'unexpected character "\\u{00A0}" (expected \':\' after an object key) at column 5'],
    ['{"a":1\u0085}', 'unexpected character "\\u{0085}" (expected \',\' or \'}\' in an object) at column 7'],
    ['[1\u200b]', 'unexpected character "\\u{200B}" (expected \',\' or \']\' in an array) at column 3'],
    ['[1 \u{1F600}]', 'unexpected character "\u{1F600}" (expected \',\' or \']\' in an array) at column 4'],
    ['{"a":1}\u200b', 'unexpected character "\\u{200B}" after the JSON value at column 8'],
    // At the end of the text there is no character to name.
    ['{"a"', 'unexpected end of JSON input in an object at column 5'],
    ['[1', 'unexpected end of JSON input in an array at column 3'],
  ])('names the character at fault in %j, what would not print as an escape', (input, message) => {
    expect(rejection(input).message).toBe(message);
  });
});

describe('nesting depth', () => {
  it(`accepts ${MAX_JSON_DEPTH} levels of arrays and of objects`, () => {
    accepts('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH));
    accepts('{"a":'.repeat(MAX_JSON_DEPTH - 1) + '{}' + '}'.repeat(MAX_JSON_DEPTH - 1));
  });

  it(`rejects ${MAX_JSON_DEPTH + 1} levels`, () => {
    const n = MAX_JSON_DEPTH + 1;
    expect(rejection('['.repeat(n) + ']'.repeat(n)).message).toMatch(/nesting/);
    expect(rejection('{"a":'.repeat(n - 1) + '{}' + '}'.repeat(n - 1)).message).toMatch(/nesting/);
  });

  it('rejects a million open brackets without overflowing the stack', () => {
    expect(rejection('['.repeat(1_000_000)).message).toMatch(/nesting/);
    expect(rejection('{"a":'.repeat(200_000)).message).toMatch(/nesting/);
  });
});

describe('parseIJson', () => {
  it('returns plain objects with "__proto__" as an own property, like JSON.parse', () => {
    const value = parseIJson(enc.encode('{"__proto__":{"a":1},"b":[]}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__', 'b']);
    expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toEqual({ a: 1 });
    expect(value).toEqual(JSON.parse('{"__proto__":{"a":1},"b":[]}'));
  });

  it('throws TypeError for a non-Uint8Array body', () => {
    expect(() => parseIJson('{}' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => parseIJsonText(1 as unknown as string)).toThrow(TypeError);
  });
});
