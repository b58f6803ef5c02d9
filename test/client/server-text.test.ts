// What a log (or anything posing as one) says reaches a terminal only escaped:
// control characters (C0, DEL, C1) and bidi embeddings, overrides and
// isolates are written as visible \uXXXX escapes, and a quoted text is cut
// at 500 characters.
import { ClientError, escapeText, hasUnsafeCharacter, MAX_QUOTED_TEXT } from '../../src/client/errors.js';
import { HttpTransport } from '../../src/client/http.js';
import { clientFailure, scriptedLog } from '../helpers/scripted-log.js';

/** Every character a terminal acts on: C0, DEL, C1, and the bidi embeddings, overrides and isolates. */
const UNSAFE = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i),
  0x202a,
  0x202b,
  0x202c,
  0x202d,
  0x202e,
  0x2066,
  0x2067,
  0x2068,
  0x2069,
].map((c) => String.fromCharCode(c));
const RAW_UNSAFE = new RegExp(`[${UNSAFE.map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}]`);

describe('escapeText', () => {
  test('writes each unsafe character as a visible \\uXXXX escape and leaves all else as it is', () => {
    for (const c of UNSAFE) {
      const out = escapeText(`a${c}b`);
      expect(out).toBe(`a\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}b`);
      expect(hasUnsafeCharacter(`a${c}b`)).toBe(true);
    }
    const safe = 'plain ASCII ~ é — 日本 😀 \u00a0\u200f\u2070 \\u001b as typed';
    expect(escapeText(safe)).toBe(safe);
    expect(hasUnsafeCharacter(safe)).toBe(false);
  });

  test('keeps the characters it is told to, and only those', () => {
    expect(escapeText('a\tb\nc\rd', { allowed: '\n' })).toBe('a\\u0009b\nc\\u000dd');
    expect(hasUnsafeCharacter('a\tb\nc', '\t\n')).toBe(false);
    expect(hasUnsafeCharacter('a\tb\nc\r', '\t\n')).toBe(true);
  });

  test(`cuts at ${MAX_QUOTED_TEXT} characters by default, saying how much was cut, never inside an escape or a surrogate pair`, () => {
    const long = 'x'.repeat(10_000);
    const cut = escapeText(long);
    expect(cut.startsWith('x'.repeat(MAX_QUOTED_TEXT))).toBe(true);
    expect(cut).toBe(`${'x'.repeat(MAX_QUOTED_TEXT)}… (${10_000 - MAX_QUOTED_TEXT} more characters)`);
    for (let at = 0; at < 8; at++) {
      const e = escapeText(`${'x'.repeat(10 + at)}\u001b${'y'.repeat(50)}`, { maxLength: 14 });
      expect(e).toMatch(/^x+(\\u001b)?… \(\d+ more characters\)$/);
      const s = escapeText(`${'x'.repeat(at)}${'😀'.repeat(10)}`, { maxLength: 5 });
      expect(s.slice(0, s.indexOf('…'))).not.toMatch(/[\ud800-\udbff]$/);
    }
  });
});

const log = scriptedLog();
const FAKE_LINE = '\u001b[2K\r\u001b[1Aentry 3 of fake.example/log, verified\n\u001b]0;owned\u0007\u009b8m\u202eevil\u2066';

test("an error body's message and code reach the ClientError escaped and capped at 500 characters", async () => {
  log.answer(500, JSON.stringify({ error: FAKE_LINE + 'z'.repeat(5000), code: 'X\u001b[8m\u202e' }));
  const err = await clientFailure(new HttpTransport(log.url, { maxRetries: 0 }).json({ path: 'ct/v1/get-sth' }));
  expect(err.code).toBe('HTTP_STATUS');
  expect(err.message).not.toMatch(RAW_UNSAFE);
  expect(err.message).toContain('\\u001b[2K\\u000d\\u001b[1Aentry 3 of fake.example/log, verified\\u000a\\u001b]0;owned\\u0007\\u009b8m\\u202eevil\\u2066');
  expect(err.message.length).toBeLessThan(800);
  expect(err.serverCode).toBe('X\\u001b[8m\\u202e');
});

test('a body that is not the contract\'s error JSON (a proxy\'s page) is quoted escaped too', async () => {
  log.answer(502, `<html>${FAKE_LINE}</html>`, 'text/html');
  const err = await clientFailure(log.client().getTreeHead());
  expect(err.message).not.toMatch(RAW_UNSAFE);
  expect(err.message).toContain('<html>\\u001b[2K');
});
