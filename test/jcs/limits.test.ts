// ParseOptions: a caller's bounds stop the parse at the first value past them,
// before the rest of the document is read (the errors say where it stopped).
import { JsonError } from '../../src/jcs/json-error.js';
import { JsonLimitError, parseIJson, parseIJsonText, type JsonKind } from '../../src/jcs/parse.js';

const enc = new TextEncoder();

/** What `parse` throws, failing the test if it throws nothing. */
function thrown(parse: () => unknown): unknown {
  try {
    parse();
  } catch (err) {
    return err;
  }
  throw new Error('parsed without throwing');
}

describe('maxValues', () => {
  test('a document of exactly maxValues values is parsed; every kind of value counts one', () => {
    // 1 object + 1 array + 0, "s", true, null, {} + 1 array + 2 = 9 values
    const text = '{"a":[0,"s",true,null,{}],"b":[2]}';
    expect(parseIJsonText(text, { maxValues: 9 })).toEqual({ a: [0, 's', true, null, {}], b: [2] });
    const err = thrown(() => parseIJsonText(text, { maxValues: 8 }));
    expect(err).toBeInstanceOf(JsonLimitError);
    expect((err as JsonLimitError).position).toBe(text.indexOf('2]')); // the ninth value
  });

  test('stops at the value past the bound: a syntax error further on is never reached', () => {
    // 10^6 elements, then garbage: without the bound this is INVALID_JSON at the end.
    const text = '[' + '[0],'.repeat(1_000_000) + 'garbage';
    expect(thrown(() => parseIJsonText(text))).toBeInstanceOf(JsonError);
    const err = thrown(() => parseIJson(enc.encode(text), { maxValues: 32768 }));
    expect(err).toBeInstanceOf(JsonLimitError);
    expect(err).not.toBeInstanceOf(JsonError);
    const limit = err as JsonLimitError;
    expect(limit.limit).toBe(32768);
    // Values 1 (outer array), then [ and 0 per element: value 32769 is the 0 of element 16384.
    expect(limit.position).toBe(1 + 16383 * 4 + 1);
    expect(text.slice(limit.position - 1, limit.position + 2)).toBe('[0]');
    expect(limit.message).toMatch(/^more than 32768 JSON values at column 65535$/);
  });

  test('whitespace is not counted, only values', () => {
    const text = '[ 0 ,\n 1 ,\t 2 ]';
    expect(parseIJsonText(text, { maxValues: 4 })).toEqual([0, 1, 2]);
    expect((thrown(() => parseIJsonText(text, { maxValues: 3 })) as JsonLimitError).position).toBe(text.indexOf('2'));
  });

  test('a syntax error before the bound is still a JsonError', () => {
    expect(thrown(() => parseIJsonText('[0,0,]', { maxValues: 3 }))).toBeInstanceOf(JsonError);
    expect(thrown(() => parseIJsonText('{"a":1,"a":2}', { maxValues: 3 }))).toBeInstanceOf(JsonError);
  });

  test('bad options are argument errors', () => {
    expect(() => parseIJsonText('0', { maxValues: -1 })).toThrow(RangeError);
    expect(() => parseIJsonText('0', { maxValues: 1.5 })).toThrow(RangeError);
    expect(() => parseIJsonText('0', { onValue: 'x' as never })).toThrow(TypeError);
    expect(() => parseIJson(enc.encode('0'), null as never)).toThrow(TypeError);
  });
});

describe('onValue', () => {
  test('is told the path and kind of every value as it begins, in document order', () => {
    const seen: [(string | number)[], JsonKind][] = [];
    parseIJsonText('{"a":[1,{"b":"x"},[]],"c":false,"__proto__":null}', { onValue: (path, kind) => seen.push([[...path], kind]) });
    expect(seen).toEqual([
      [[], 'object'],
      [['a'], 'array'],
      [['a', 0], 'number'],
      [['a', 1], 'object'],
      [['a', 1, 'b'], 'string'],
      [['a', 2], 'array'],
      [['c'], 'boolean'],
      [['__proto__'], 'null'],
    ]);
  });

  test('what it throws ends the parse at once and is thrown as it is', () => {
    const text = '{"entries":[' + '[0],'.repeat(1_000_000) + '[0]]}';
    let calls = 0;
    const stop = new Error('not a string');
    const err = thrown(() =>
      parseIJson(enc.encode(text), {
        onValue: (path) => {
          calls++;
          if (path.length === 3) throw stop;
        },
      }),
    );
    // Root, "entries", entries[0], and entries[0][0], which throws: nothing after is read.
    expect(err).toBe(stop);
    expect(calls).toBe(4);
  });

  test('a hook bounding an array length stops at the element past it', () => {
    const text = '[' + '"a",'.repeat(1_000_000) + '"a"]';
    let calls = 0;
    const err = thrown(() =>
      parseIJsonText(text, {
        onValue: (path) => {
          calls++;
          if (path.length === 1 && (path[0] as number) >= 1000) throw new RangeError(`element ${String(path[0])}`);
        },
      }),
    );
    expect(err).toEqual(new RangeError('element 1000'));
    expect(calls).toBe(1 + 1001);
  });

  test('under a bound and a hook, duplicate keys and the I-JSON rules still apply', () => {
    const hook = { onValue: () => undefined, maxValues: 100 };
    expect(thrown(() => parseIJsonText('{"a":1,"a":1}', hook))).toBeInstanceOf(JsonError);
    expect(thrown(() => parseIJsonText('["\\ud800"]', hook))).toBeInstanceOf(JsonError);
    expect(thrown(() => parseIJsonText('[1e400]', hook))).toBeInstanceOf(JsonError);
    const parsed = parseIJsonText('{"__proto__":{"x":1}}', hook) as Record<string, unknown>;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.keys(parsed)).toEqual(['__proto__']);
  });
});
