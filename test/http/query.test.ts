// Strict query-string numbers and single-valued parameters (CONTRACT §3).
import fc from 'fast-check';
import { LogError } from '../../src/log/errors.js';
import { parseCanonicalDecimal, queryNumber, queryString } from '../../src/http/query.js';

/** The LogError `fn` throws, failing the test if it throws nothing or something else. */
function invalidParameter(fn: () => unknown): LogError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LogError);
    expect((err as LogError).code).toBe('INVALID_PARAMETER');
    return err as LogError;
  }
  throw new Error('expected INVALID_PARAMETER, but nothing was thrown');
}

/**
 * An oracle independent of the implementation's regular expression: a string
 * is canonical exactly when it is what String() prints for a safe non-negative
 * integer.
 */
function isCanonical(s: string): boolean {
  const n = Number(s);
  return Number.isSafeInteger(n) && n >= 0 && !Object.is(n, -0) && String(n) === s;
}

describe('parseCanonicalDecimal', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['10', 10],
    ['256', 256],
    ['4294967296', 2 ** 32],
    ['1099511627776', 2 ** 40],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
  ])('parses %s', (text, value) => {
    expect(parseCanonicalDecimal(text)).toBe(value);
  });

  it.each([
    '',
    ' ',
    ' 1',
    '1 ',
    '01',
    '00',
    '-0',
    '-1',
    '+1',
    '1e3',
    '1E3',
    '1.0',
    '1.',
    '.5',
    '0x10',
    '0b1',
    '0o7',
    '1_000',
    '1,000',
    'Infinity',
    'NaN',
    '\u0661', // ARABIC-INDIC DIGIT ONE
    '\uff11', // FULLWIDTH DIGIT ONE
    '9007199254740992',
    '9999999999999999',
    '18446744073709551616',
    '1'.repeat(1000),
  ])('rejects %j with INVALID_PARAMETER', (text) => {
    invalidParameter(() => parseCanonicalDecimal(text));
  });

  it.each(['9007199254740992', '9223372036854775807', '18446744073709551615', `1${'0'.repeat(400)}`, '9'.repeat(5000)])(
    'refuses the canonical %s for its value, not its form',
    (text) => {
      const err = invalidParameter(() => parseCanonicalDecimal(text, 'start'));
      expect(err.message).toMatch(/^query parameter "start" must be at most 2\^53−1 \(9007199254740991\)/);
      expect(err.message).not.toMatch(/canonical/);
      expect(err.message.length).toBeLessThan(300);
    },
  );

  it.each(['01', '-1', '+9223372036854775807', '09223372036854775807', '9223372036854775807.0', '1e400', ''])('calls %j not canonical', (text) => {
    expect(invalidParameter(() => parseCanonicalDecimal(text, 'end', { saturate: true })).message).toMatch(/must be a canonical decimal integer/);
  });

  it('with saturate, reads a canonical number past 2^53−1 as 2^53−1 and any other as itself', () => {
    for (const text of ['9007199254740992', '9223372036854775807', '18446744073709551615', '9'.repeat(5000)]) {
      expect(parseCanonicalDecimal(text, 'end', { saturate: true })).toBe(Number.MAX_SAFE_INTEGER);
    }
    for (const n of [0, 1, 65_539, 2 ** 40, Number.MAX_SAFE_INTEGER]) expect(parseCanonicalDecimal(String(n), 'end', { saturate: true })).toBe(n);
    expect(queryNumber({ end: '9223372036854775807' }, 'end', { required: true, saturate: true })).toBe(Number.MAX_SAFE_INTEGER);
    invalidParameter(() => queryNumber({ end: '9223372036854775807' }, 'end', { required: true }));
  });

  it('names the parameter and quotes the value in the message', () => {
    const err = invalidParameter(() => parseCanonicalDecimal('01', 'tree_size'));
    expect(err.message).toContain('"tree_size"');
    expect(err.message).toContain('"01"');
  });

  it('does not echo a long value whole', () => {
    const err = invalidParameter(() => parseCanonicalDecimal('x'.repeat(10_000), 'first'));
    expect(err.message.length).toBeLessThan(300);
  });

  it('throws TypeError for a non-string argument', () => {
    expect(() => parseCanonicalDecimal(5 as unknown as string)).toThrow(TypeError);
  });

  it('round-trips every safe non-negative integer through String(n)', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        expect(parseCanonicalDecimal(String(n))).toBe(n);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts exactly the canonical strings (any string, and digit-heavy ones)', () => {
    const digitish = fc.string({
      unit: fc.constantFrom('0', '1', '5', '9', '-', '+', 'e', '.', ' ', 'x', '_', '\u0661', '\t'),
      maxLength: 20,
    });
    const nearLimit = fc.bigInt({ min: 0n, max: 2n ** 54n }).map(String);
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), digitish, nearLimit), (s) => {
        if (isCanonical(s)) {
          expect(parseCanonicalDecimal(s)).toBe(Number(s));
        } else {
          invalidParameter(() => parseCanonicalDecimal(s));
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('queryNumber', () => {
  it('reads a canonical number', () => {
    expect(queryNumber({ first: '3', second: '7' }, 'second')).toBe(7);
    expect(queryNumber({ first: '0' }, 'first', { required: true })).toBe(0);
  });

  it('gives undefined for a missing optional parameter', () => {
    expect(queryNumber({}, 'start')).toBeUndefined();
    expect(queryNumber({ other: '1' }, 'start', { required: false })).toBeUndefined();
  });

  it('rejects a missing required parameter, naming it', () => {
    expect(invalidParameter(() => queryNumber({}, 'tree_size', { required: true })).message).toContain('"tree_size"');
  });

  it('rejects a repeated parameter (express gives an array), naming it', () => {
    const err = invalidParameter(() => queryNumber({ start: ['1', '2'] }, 'start'));
    expect(err.message).toContain('"start"');
    expect(err.message).toMatch(/repeated/);
    invalidParameter(() => queryNumber({ start: ['1'] }, 'start'));
    invalidParameter(() => queryNumber({ start: [] }, 'start', { required: true }));
  });

  it.each<[string, unknown]>([
    ['an object (extended query parser)', { a: '1' }],
    ['a number', 1],
    ['null', null],
    ['a boolean', true],
  ])('rejects %s', (_name, value) => {
    expect(invalidParameter(() => queryNumber({ end: value }, 'end')).message).toContain('"end"');
  });

  it('rejects non-canonical text, naming the parameter', () => {
    expect(invalidParameter(() => queryNumber({ leaf_index: '1e3' }, 'leaf_index')).message).toContain('"leaf_index"');
    invalidParameter(() => queryNumber({ leaf_index: '' }, 'leaf_index'));
  });

  it('does not find parameters on the prototype', () => {
    expect(queryNumber({}, 'constructor')).toBeUndefined();
    expect(queryNumber(Object.create(null) as Record<string, unknown>, 'toString')).toBeUndefined();
    invalidParameter(() => queryNumber({}, '__proto__', { required: true }));
  });
});

describe('queryString', () => {
  it('returns the single value as is', () => {
    expect(queryString({ hash: 'ab+/=' }, 'hash')).toBe('ab+/=');
    expect(queryString({ hash: '' }, 'hash', { required: true })).toBe('');
    expect(queryString({}, 'hash')).toBeUndefined();
  });

  it('rejects repeated, structured and missing required parameters', () => {
    expect(invalidParameter(() => queryString({ hash: ['a', 'b'] }, 'hash')).message).toContain('"hash"');
    invalidParameter(() => queryString({ hash: { x: 'y' } }, 'hash'));
    invalidParameter(() => queryString({}, 'hash', { required: true }));
  });
});
