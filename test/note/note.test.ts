// C2SP signed notes: the vector note (made by Go's sumdb/note), and notes
// assembled by hand (signed with node:crypto where a test needs a valid
// signature over text that signNote itself would refuse), so each check in
// openNote is what rejects, not a broken signature.
import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { generateSignerKey, newSigner, newVerifier, parseSignerKey, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import type { Signer, Verifier } from '../../src/note/keys.js';
import { MAX_NOTE_SIZE, MAX_SIGNATURES, NoteError, openNote, signNote } from '../../src/note/note.js';

interface NoteVector {
  signer_key: string;
  verifier_key: string;
  note: string;
}
const vector = JSON.parse(
  readFileSync(new URL('../vectors/signed-note.json', import.meta.url), 'utf8'),
) as NoteVector;
const EM = '\u2014';
const UTF8 = new TextEncoder();
const vectorSigner = newSigner(vector.signer_key);
const vectorVerifier = newVerifier(vector.verifier_key);
const vectorText = vector.note.slice(0, vector.note.lastIndexOf('\n\n') + 1);

interface Key {
  signer: Signer;
  verifier: Verifier;
  skey: string;
}
function makeKey(name: string): Key {
  const skey = generateSignerKey(name);
  return { skey, signer: newSigner(skey), verifier: newVerifier(verifierKeyFromSignerKey(skey)) };
}

/** Signs raw bytes with OpenSSL and returns a signature line, bypassing every check in signNote. */
function rawSigLine(key: Key, message: Uint8Array): string {
  const { seed } = parseSignerKey(key.skey);
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const sig = nodeSign(null, message, createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  const hash = Buffer.alloc(4);
  hash.writeUInt32BE(key.signer.keyHash);
  return `${EM} ${key.signer.name} ${Buffer.concat([hash, sig]).toString('base64')}\n`;
}

function expectNoteError(fn: () => unknown, code: NoteError['code']): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(NoteError);
  expect((caught as NoteError).code).toBe(code);
}

const alice = makeKey('alice.example/log');
const bob = makeKey('bob.example/witness');

describe('the vector note', () => {
  test('signNote reproduces it byte for byte', () => {
    expect(signNote(vectorText, [vectorSigner])).toBe(vector.note);
  });

  test('openNote verifies it, as a string and as bytes', () => {
    for (const input of [vector.note, UTF8.encode(vector.note)]) {
      const opened = openNote(input, [vectorVerifier]);
      expect(opened.text).toBe('example.com/log/test\n300\nyjk9Apa+xeC43KuYO9H7fRRh9RLnJny4ljGtJv1m2Eg=\n');
      expect(opened.sigs).toEqual([
        {
          name: 'example.com/log/test',
          keyHash: 0x981d986d,
          base64: vector.note.split(' ').pop()!.trim(),
          verified: true,
        },
      ]);
      expect(opened.unverifiedSigs).toEqual([]);
    }
  });

  test('every proper prefix is rejected (string and bytes)', () => {
    for (let i = 0; i < vector.note.length; i++) {
      expect(() => openNote(vector.note.slice(0, i), [vectorVerifier])).toThrow(NoteError);
    }
    const bytes = UTF8.encode(vector.note);
    for (let i = 0; i < bytes.length; i++) {
      expect(() => openNote(bytes.subarray(0, i), [vectorVerifier])).toThrow(NoteError);
    }
  });

  test('every one-bit change of the note bytes is rejected', () => {
    const bytes = UTF8.encode(vector.note);
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const bad = Uint8Array.from(bytes);
      bad[Math.floor(bit / 8)]! ^= 1 << bit % 8;
      expect(() => openNote(bad, [vectorVerifier])).toThrow(NoteError);
    }
  });

  test('missing final newline, CRLF, and a missing blank line are MALFORMED', () => {
    expectNoteError(() => openNote(vector.note.slice(0, -1), [vectorVerifier]), 'MALFORMED');
    expectNoteError(() => openNote(vector.note.replace(/\n/g, '\r\n'), [vectorVerifier]), 'MALFORMED');
    expectNoteError(() => openNote(vector.note.replace('\n\n', '\n'), [vectorVerifier]), 'MALFORMED');
    expectNoteError(() => openNote(`${vector.note}\n`, [vectorVerifier]), 'MALFORMED');
  });

  test('another key is UNVERIFIED, and an empty verifier list too', () => {
    expectNoteError(() => openNote(vector.note, [alice.verifier]), 'UNVERIFIED');
    expectNoteError(() => openNote(vector.note, []), 'UNVERIFIED');
    expectNoteError(() => openNote(vector.note, () => undefined), 'UNVERIFIED');
  });
});

describe('several signers', () => {
  const text = 'some text\nover two lines\n';
  const note = signNote(text, [alice.signer, bob.signer]);

  test('one line per signer, in order, in the C2SP form', () => {
    const lines = note.slice(text.length + 1).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\u2014 alice\.example\/log [A-Za-z0-9+/]{91}=$/);
    expect(lines[1]).toMatch(/^\u2014 bob\.example\/witness [A-Za-z0-9+/]{91}=$/);
    expect(lines[2]).toBe('');
    const blob = Buffer.from(lines[0]!.split(' ')[2]!, 'base64');
    expect(blob.readUInt32BE(0)).toBe(alice.signer.keyHash);
  });

  test('unknown signers are ignored and listed as unverified', () => {
    const opened = openNote(note, [alice.verifier]);
    expect(opened.text).toBe(text);
    expect(opened.sigs.map((s) => s.name)).toEqual(['alice.example/log']);
    expect(opened.unverifiedSigs).toEqual([
      { name: 'bob.example/witness', keyHash: bob.signer.keyHash, base64: expect.any(String) },
    ]);
    const both = openNote(note, [bob.verifier, alice.verifier]);
    expect(both.sigs.map((s) => s.name)).toEqual(['alice.example/log', 'bob.example/witness']);
    expect(both.unverifiedSigs).toEqual([]);
  });

  test('a verifier lookup function works and gets (name, hash)', () => {
    const asked: [string, number][] = [];
    const opened = openNote(note, (name, hash) => {
      asked.push([name, hash]);
      return name === bob.verifier.name && hash === bob.verifier.keyHash ? bob.verifier : undefined;
    });
    expect(asked).toEqual([
      ['alice.example/log', alice.signer.keyHash],
      ['bob.example/witness', bob.signer.keyHash],
    ]);
    expect(opened.sigs.map((s) => s.name)).toEqual(['bob.example/witness']);
  });

  test('a lookup returning a verifier for another key is a TypeError', () => {
    expect(() => openNote(note, () => alice.verifier)).toThrow(TypeError);
  });

  test('a bad signature by a known key rejects the note; by an unknown key it does not', () => {
    const lines = note.split('\n');
    const bobLine = lines[lines.length - 2]!;
    const blob = Buffer.from(bobLine.split(' ')[2]!, 'base64');
    blob[10]! ^= 1;
    const tampered = note.replace(bobLine, `${EM} bob.example/witness ${blob.toString('base64')}`);
    expectNoteError(() => openNote(tampered, [alice.verifier, bob.verifier]), 'INVALID_SIGNATURE');
    expectNoteError(() => openNote(tampered, [bob.verifier]), 'INVALID_SIGNATURE');
    expect(openNote(tampered, [alice.verifier]).sigs).toHaveLength(1);
  });

  test('same name with another hash, or same hash with another name, is an unknown key', () => {
    const lines = note.split('\n');
    const aliceLine = lines[lines.length - 3]!;
    const blob = Buffer.from(aliceLine.split(' ')[2]!, 'base64');
    blob[0]! ^= 0x80; // the key hash
    const wrongHash = note.replace(aliceLine, `${EM} alice.example/log ${blob.toString('base64')}`);
    expectNoteError(() => openNote(wrongHash, [alice.verifier]), 'UNVERIFIED');
    expect(openNote(wrongHash, [alice.verifier, bob.verifier]).unverifiedSigs).toEqual([
      { name: 'alice.example/log', keyHash: (alice.signer.keyHash + 2 ** 31) % 2 ** 32, base64: blob.toString('base64') },
    ]);
    const wrongName = note.replace(aliceLine, aliceLine.replace('alice.example/log', 'alice.example/log2'));
    expectNoteError(() => openNote(wrongName, [alice.verifier]), 'UNVERIFIED');
  });

  test('repeated signature lines: known ones are verified and listed once, unknown ones listed once', () => {
    const lines = note.split('\n');
    const aliceLine = lines[lines.length - 3]!;
    const bobLine = lines[lines.length - 2]!;
    const doubled = `${note}${aliceLine}\n${bobLine}\n`;
    const opened = openNote(doubled, [alice.verifier]);
    expect(opened.sigs).toHaveLength(1);
    expect(opened.unverifiedSigs).toHaveLength(1);
    // A bad repeat of a known key's signature is still checked (stricter than Go, which skips repeats).
    const blob = Buffer.from(aliceLine.split(' ')[2]!, 'base64');
    blob[20]! ^= 4;
    expectNoteError(() => openNote(`${note}${EM} alice.example/log ${blob.toString('base64')}\n`, [alice.verifier]), 'INVALID_SIGNATURE');
  });
});

describe('limits', () => {
  test('16 and 100 signatures are accepted; 101 lines are TOO_LARGE', () => {
    const keys = Array.from({ length: MAX_SIGNATURES }, (_, i) => makeKey(`witness${i}.example`));
    const text = 'many signers\n';
    const note16 = signNote(text, keys.slice(0, 16).map((k) => k.signer));
    const opened16 = openNote(note16, [keys[7]!.verifier]);
    expect(opened16.sigs.map((s) => s.name)).toEqual(['witness7.example']);
    expect(opened16.unverifiedSigs).toHaveLength(15);
    expect(openNote(note16, keys.map((k) => k.verifier)).sigs).toHaveLength(16);

    const note100 = signNote(text, keys.map((k) => k.signer));
    expect(openNote(note100, [keys[99]!.verifier]).unverifiedSigs).toHaveLength(99);
    const extra = rawSigLine(makeKey('one-too-many.example'), UTF8.encode(text));
    expectNoteError(() => openNote(note100 + extra, [keys[0]!.verifier]), 'TOO_LARGE');
    expect(() => signNote(text, [...keys.map((k) => k.signer), makeKey('x.example').signer])).toThrow(RangeError);
  });

  test('a note over 1 MiB is TOO_LARGE; just under is fine', () => {
    const sigLine = UTF8.encode(rawSigLine(alice, UTF8.encode('x\n'))).length;
    const fits = 'a'.repeat(MAX_NOTE_SIZE - sigLine - 2) + '\n';
    const note = signNote(fits, [alice.signer]);
    expect(UTF8.encode(note).length).toBe(MAX_NOTE_SIZE);
    expect(openNote(note, [alice.verifier]).text).toBe(fits);
    expect(openNote(UTF8.encode(note), [alice.verifier]).text).toBe(fits);

    const big = 'a'.repeat(MAX_NOTE_SIZE - sigLine - 1) + '\n';
    expect(() => signNote(big, [alice.signer])).toThrow(RangeError);
    const bigNote = `${big}\n${rawSigLine(alice, UTF8.encode(big))}`;
    expectNoteError(() => openNote(bigNote, [alice.verifier]), 'TOO_LARGE');
    expectNoteError(() => openNote(UTF8.encode(bigNote), [alice.verifier]), 'TOO_LARGE');
  });

  test('the cap counts UTF-8 bytes, not UTF-16 units', () => {
    const text = '\u00e9'.repeat(MAX_NOTE_SIZE / 2) + '\n'; // 2 bytes each in UTF-8
    const note = `${text}\n${rawSigLine(alice, UTF8.encode(text))}`;
    expect(note.length).toBeLessThan(MAX_NOTE_SIZE);
    expectNoteError(() => openNote(note, [alice.verifier]), 'TOO_LARGE');
  });
});

describe('malformed notes', () => {
  /** A note with a valid signature by alice over exactly `text`, whatever it contains. */
  function rawNote(text: string): string {
    return `${text}\n${rawSigLine(alice, UTF8.encode(text))}`;
  }

  test('the raw helper makes notes that open when the text is fine', () => {
    expect(openNote(rawNote('fine\n'), [alice.verifier]).text).toBe('fine\n');
  });

  test.each([
    ['NUL', 'a\u0000b\n'],
    ['tab', 'a\tb\n'],
    ['CR', 'a\rb\n'],
    ['CRLF', 'a\r\nb\r\n'],
    ['ESC', '\u001b[31mred\n'],
    ['unit separator', 'a\u001fb\n'],
  ])('control character in the text: %s', (_label, text) => {
    expectNoteError(() => openNote(rawNote(text), [alice.verifier]), 'MALFORMED');
    expectNoteError(() => openNote(UTF8.encode(rawNote(text)), [alice.verifier]), 'MALFORMED');
    expect(() => signNote(text, [alice.signer])).toThrow(RangeError);
  });

  test('control character in a signature line', () => {
    const good = rawNote('text\n');
    expectNoteError(() => openNote(good.replace(`${EM} `, `${EM}\t`), [alice.verifier]), 'MALFORMED');
    expectNoteError(() => openNote(good.replace(/\n$/, '\r\n'), [alice.verifier]), 'MALFORMED');
  });

  test.each([
    ['0xff', [0xff]],
    ['0xc0 0xaf (overlong "/")', [0xc0, 0xaf]],
    ['encoded surrogate', [0xed, 0xa0, 0x80]],
    ['truncated sequence', [0xe2, 0x80]],
    ['code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('non-UTF-8 bytes in the text: %s', (_label, bad) => {
    const head = UTF8.encode('before ');
    const tail = UTF8.encode(' after\n');
    const text = new Uint8Array([...head, ...bad, ...tail]);
    const line = UTF8.encode(rawSigLine(alice, text));
    const note = new Uint8Array([...text, 0x0a, ...line]);
    expectNoteError(() => openNote(note, [alice.verifier]), 'MALFORMED');
  });

  test('a lone surrogate in a string note is MALFORMED and cannot be signed', () => {
    const note = signNote('ok\n', [alice.signer]);
    expectNoteError(() => openNote(`\ud800${note}`, [alice.verifier]), 'MALFORMED');
    expect(() => signNote('a\udc00\n', [alice.signer])).toThrow(RangeError);
  });

  test('a byte order mark is kept as text, not stripped', () => {
    const text = '\ufeffstarts with a BOM\n';
    const note = signNote(text, [alice.signer]);
    expect(openNote(UTF8.encode(note), [alice.verifier]).text).toBe(text);
    expect(openNote(note, [alice.verifier]).text).toBe(text);
  });

  test('broken signature lines', () => {
    const good = signNote('text\n', [alice.signer]);
    const line = good.slice('text\n\n'.length, -1);
    const b64 = line.split(' ')[2]!;
    const cases: string[] = [
      line.replace(EM, '-'), // hyphen
      line.replace(EM, '\u2013'), // en dash
      line.replace(`${EM} `, EM), // no space after the dash
      line.replace(`${EM} `, `${EM}  `), // two spaces: empty name
      line.replace(' ', '').replace(' ', ''), // no separator at all
      `${EM} alice.example/log`, // no signature
      `${EM} alice.example/log `, // empty signature
      line.replace(b64, b64.replace(/=$/, '')), // unpadded
      line.replace(b64, `${b64} `), // trailing space
      line.replace(b64, b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/^./, '-')), // URL alphabet
      line.replace(b64, Buffer.from(b64, 'base64').subarray(0, 4).toString('base64')), // hash only
      line.replace('alice.example/log', 'alice+example/log'), // '+' in the name
      line.replace('alice.example/log', 'alice\u00a0example/log'), // NBSP in the name
      ` ${line}`, // leading space
    ];
    for (const bad of cases) {
      expect(bad).not.toBe(line);
      expectNoteError(() => openNote(`text\n\n${bad}\n`, [alice.verifier]), 'MALFORMED');
    }
  });

  test('an empty signature block and an empty note are MALFORMED', () => {
    for (const bad of ['text\n\n', '', '\n', '\n\n', 'text\n']) {
      expectNoteError(() => openNote(bad, [alice.verifier]), 'MALFORMED');
    }
  });

  test('a blank line inside the signature block moves the split: earlier lines become text', () => {
    const note = signNote('text\n', [alice.signer, bob.signer]);
    const [first, second] = note.slice('text\n\n'.length).split('\n');
    const split = `text\n\n${first}\n\n${second}\n`;
    expectNoteError(() => openNote(split, [alice.verifier]), 'UNVERIFIED');
    expectNoteError(() => openNote(split, [bob.verifier]), 'INVALID_SIGNATURE');
  });

  test('wrong argument types throw TypeError', () => {
    expect(() => openNote(42 as unknown as string, [alice.verifier])).toThrow(TypeError);
    expect(() => openNote(vector.note, 'x' as unknown as Verifier[])).toThrow(TypeError);
    expect(() => openNote(vector.note, [{} as Verifier])).toThrow(TypeError);
  });
});

describe('texts with blank lines round trip', () => {
  test.each([
    'a\n\nb\n',
    'a\n\n',
    'a\n\n\n',
    '\n',
    '\n\n\n',
    `looks like a note\n\n${EM} fake.example AAAAAAA=\n`,
    `${EM} x y\n`,
    'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n',
    '\u{1F600} emoji\n',
  ])('%j', (text) => {
    const note = signNote(text, [alice.signer, bob.signer]);
    expect(openNote(note, [alice.verifier]).text).toBe(text);
    expect(openNote(UTF8.encode(note), [bob.verifier]).text).toBe(text);
  });
});

describe('signNote argument checks', () => {
  test('text must be non-empty and end in a newline', () => {
    for (const bad of ['', 'no newline', 'a\nb']) {
      expect(() => signNote(bad, [alice.signer])).toThrow(RangeError);
    }
    expect(() => signNote(7 as unknown as string, [alice.signer])).toThrow(TypeError);
  });

  test('signers must be valid, distinct and at least one', () => {
    expect(() => signNote('t\n', [])).toThrow(RangeError);
    expect(() => signNote('t\n', [alice.signer, alice.signer])).toThrow(RangeError);
    const sign = alice.signer.sign.bind(alice.signer);
    expect(() => signNote('t\n', [{ name: 'bad name', keyHash: 1, sign }])).toThrow(RangeError);
    expect(() => signNote('t\n', [{ name: 'a+b', keyHash: 1, sign }])).toThrow(RangeError);
    expect(() => signNote('t\n', [{ name: 'ok', keyHash: 2 ** 32, sign }])).toThrow(RangeError);
    expect(() => signNote('t\n', [{ name: 'ok', keyHash: -1, sign }])).toThrow(RangeError);
    expect(() => signNote('t\n', [{ name: 'ok', keyHash: 1.5, sign }])).toThrow(RangeError);
    expect(() => signNote('t\n', 'x' as unknown as Signer[])).toThrow(TypeError);
    expect(() => signNote('t\n', [{ name: 'ok', keyHash: 1, sign: () => 'sig' } as unknown as Signer])).toThrow(TypeError);
  });

  test('the signers sign the UTF-8 bytes of the text', () => {
    const seen: Uint8Array[] = [];
    const spy: Signer = {
      name: 'spy.example',
      keyHash: 0xdeadbeef,
      sign: (m) => {
        seen.push(m);
        return Uint8Array.of(1, 2, 3);
      },
    };
    const note = signNote('h\u00e9\n', [spy]);
    expect(seen).toEqual([Uint8Array.of(0x68, 0xc3, 0xa9, 0x0a)]);
    expect(note).toBe(`h\u00e9\n\n${EM} spy.example ${Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]).toString('base64')}\n`);
  });
});
