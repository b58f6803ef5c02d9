// C2SP tlog-checkpoint bodies: strict parsing, round trips, and signing /
// opening against the vector key.
import { readFileSync } from 'node:fs';
import { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from '../../src/note/checkpoint.js';
import type { Checkpoint } from '../../src/note/checkpoint.js';
import { generateSignerKey, newSigner, newVerifier, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { NoteError, signNote } from '../../src/note/note.js';

const vector = JSON.parse(readFileSync(new URL('../vectors/signed-note.json', import.meta.url), 'utf8')) as {
  signer_key: string;
  verifier_key: string;
  note: string;
};
const roots = (
  JSON.parse(readFileSync(new URL('../vectors/rfc6962-1100.json', import.meta.url), 'utf8')) as {
    roots: Record<string, string>;
  }
).roots;
const ORIGIN = 'example.com/log/test';
const root300 = new Uint8Array(Buffer.from(roots['300']!, 'hex'));
const root300b64 = Buffer.from(root300).toString('base64');
const body300 = `${ORIGIN}\n300\n${root300b64}\n`;

function expectMalformed(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(NoteError);
  expect((caught as NoteError).code).toBe('MALFORMED');
}

test('the vector body is the checkpoint of 300 leaves with the RFC 6962 root', () => {
  expect(vector.note.startsWith(`${body300}\n`)).toBe(true);
  const c: Checkpoint = { origin: ORIGIN, treeSize: 300, rootHash: root300, extensions: [] };
  expect(formatCheckpoint(c)).toBe(body300);
  expect(parseCheckpoint(body300)).toEqual(c);
  expect(parseCheckpoint(body300, ORIGIN)).toEqual(c);
});

describe('tree sizes', () => {
  test.each([
    ['0', 0],
    ['1', 1],
    ['10', 10],
    ['4294967296', 2 ** 32],
    ['1099511627776', 2 ** 40],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
  ])('accepts %s', (text, n) => {
    const body = `o\n${text}\n${root300b64}\n`;
    expect(parseCheckpoint(body).treeSize).toBe(n);
    expect(formatCheckpoint({ origin: 'o', treeSize: n, rootHash: root300, extensions: [] })).toBe(body);
  });

  test.each([
    ' 1',
    '1 ',
    '01',
    '00',
    '+1',
    '-1',
    '-0',
    '1e3',
    '1E3',
    '0x10',
    '1.0',
    '1_000',
    '',
    '9007199254740992',
    '9007199254740993',
    '18446744073709551615',
    '99999999999999999999',
    '\u0663', // ARABIC-INDIC DIGIT THREE
    '\uff11', // FULLWIDTH DIGIT ONE
    'Infinity',
    'NaN',
  ])('rejects %j', (text) => {
    expectMalformed(() => parseCheckpoint(`o\n${text}\n${root300b64}\n`));
  });

  test('formatCheckpoint rejects sizes that are not safe non-negative integers', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, Infinity]) {
      expect(() => formatCheckpoint({ origin: 'o', treeSize: bad, rootHash: root300, extensions: [] })).toThrow(RangeError);
    }
    expect(() => formatCheckpoint({ origin: 'o', treeSize: '3' as unknown as number, rootHash: root300, extensions: [] })).toThrow(
      TypeError,
    );
  });
});

describe('root hashes', () => {
  test.each([31, 33, 0, 64])('rejects a root of %i bytes', (n) => {
    const root = Buffer.alloc(n, 7).toString('base64');
    expectMalformed(() => parseCheckpoint(`o\n1\n${root}\n`));
    expect(() => formatCheckpoint({ origin: 'o', treeSize: 1, rootHash: new Uint8Array(n), extensions: [] })).toThrow(RangeError);
  });

  test.each([
    ['unpadded', root300b64.replace(/=$/, '')],
    ['URL alphabet', Buffer.from(root300).toString('base64url') + '='],
    ['trailing space', `${root300b64} `],
    ['non-zero padding bits', root300b64.replace(/g=$/, 'h=')],
    ['hex', roots['300']!],
  ])('rejects non-canonical base64: %s', (_label, text) => {
    expect(text).not.toBe(root300b64);
    expectMalformed(() => parseCheckpoint(`o\n1\n${text}\n`));
  });

  test('formatCheckpoint wants a Uint8Array root', () => {
    expect(() => formatCheckpoint({ origin: 'o', treeSize: 1, rootHash: Array.from(root300) as unknown as Uint8Array, extensions: [] })).toThrow(
      TypeError,
    );
  });
});

describe('origins and lines', () => {
  test('a different expected origin is MALFORMED', () => {
    expectMalformed(() => parseCheckpoint(body300, 'example.com/log/other'));
    expectMalformed(() => parseCheckpoint(body300, `${ORIGIN} `));
    expectMalformed(() => parseCheckpoint(body300, ''));
  });

  test('origins need not be key names (the spec says clients must not assume it)', () => {
    const body = `my log + stuff\n5\n${root300b64}\n`;
    expect(parseCheckpoint(body, 'my log + stuff').origin).toBe('my log + stuff');
  });

  test.each([
    ['no final newline', body300.slice(0, -1)],
    ['empty origin', `\n300\n${root300b64}\n`],
    ['two lines', `${ORIGIN}\n300\n`],
    ['one line', `${ORIGIN}\n`],
    ['empty', ''],
    ['CRLF', body300.replace(/\n/g, '\r\n')],
    ['CR in origin', `${ORIGIN}\r\n300\n${root300b64}\n`],
    ['tab in origin', `a\tb\n300\n${root300b64}\n`],
    ['empty extension line', `${body300}\n`],
    ['empty line between extensions', `${body300}ext\n\next2\n`],
    ['extension without newline', `${body300}ext`],
    ['lone surrogate', `${ORIGIN}\ud800\n300\n${root300b64}\n`],
  ])('rejects %s', (_label, text) => {
    expectMalformed(() => parseCheckpoint(text));
  });

  test('non-string arguments throw TypeError', () => {
    expect(() => parseCheckpoint(Buffer.from(body300) as unknown as string)).toThrow(TypeError);
    expect(() => parseCheckpoint(body300, 5 as unknown as string)).toThrow(TypeError);
  });

  test('formatCheckpoint rejects bad origins and extension lines', () => {
    const base = { treeSize: 1, rootHash: root300 };
    for (const origin of ['', 'a\nb', 'a\rb', 'a\u0000']) {
      expect(() => formatCheckpoint({ ...base, origin, extensions: [] })).toThrow(RangeError);
    }
    for (const ext of ['', 'a\nb', 'x\t']) {
      expect(() => formatCheckpoint({ ...base, origin: 'o', extensions: [ext] })).toThrow(RangeError);
    }
    expect(() => formatCheckpoint({ ...base, origin: 'o', extensions: [3 as unknown as string] })).toThrow(TypeError);
    expect(() => formatCheckpoint({ ...base, origin: 'o', extensions: 'x' as unknown as string[] })).toThrow(TypeError);
  });
});

test('extension lines round trip', () => {
  for (const extensions of [[], ['one'], ['— looks like a signature', 'timestamp 12345', '\u00e9\u{1F600}']]) {
    const c: Checkpoint = { origin: ORIGIN, treeSize: 300, rootHash: root300, extensions };
    const body = formatCheckpoint(c);
    expect(body).toBe(body300 + extensions.map((e) => `${e}\n`).join(''));
    expect(parseCheckpoint(body, ORIGIN)).toEqual(c);
  }
});

describe('signed checkpoints', () => {
  const signer = newSigner(vector.signer_key);
  const verifier = newVerifier(vector.verifier_key);
  const c: Checkpoint = { origin: ORIGIN, treeSize: 300, rootHash: root300, extensions: [] };

  test('signCheckpoint reproduces the vector note; openCheckpoint reads it back', () => {
    expect(signCheckpoint(c, signer)).toBe(vector.note);
    expect(openCheckpoint(vector.note, verifier)).toEqual({ checkpoint: c, text: body300 });
    expect(openCheckpoint(new TextEncoder().encode(vector.note), verifier).checkpoint).toEqual(c);
  });

  test('the signer must be named after the origin', () => {
    expect(() => signCheckpoint({ ...c, origin: 'example.com/log/other' }, signer)).toThrow(RangeError);
  });

  test('a note whose origin line differs from the verifier name is MALFORMED', () => {
    const other = generateSignerKey('other.example/log');
    const otherVerifier = newVerifier(verifierKeyFromSignerKey(other));
    const note = signNote(body300, [newSigner(other)]);
    expectMalformed(() => openCheckpoint(note, otherVerifier));
  });

  test('a well-signed note that is not a checkpoint is MALFORMED', () => {
    expectMalformed(() => openCheckpoint(signNote(`${ORIGIN}\n0300\n${root300b64}\n`, [signer]), verifier));
    expectMalformed(() => openCheckpoint(signNote(`${ORIGIN}\n`, [signer]), verifier));
  });

  test('a checkpoint by another key is UNVERIFIED', () => {
    const other = generateSignerKey(ORIGIN);
    let caught: unknown;
    try {
      openCheckpoint(vector.note, newVerifier(verifierKeyFromSignerKey(other)));
    } catch (e) {
      caught = e;
    }
    expect((caught as NoteError).code).toBe('UNVERIFIED');
  });

  test('witness cosignatures alongside are ignored', () => {
    const witness = generateSignerKey('witness.example');
    const note = signNote(body300, [signer, newSigner(witness)]);
    expect(openCheckpoint(note, verifier).checkpoint).toEqual(c);
  });
});
