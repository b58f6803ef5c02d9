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
  expect(err.message).toContain("an HTML page, not the log's: \\u001b[2K \\u001b[1Aentry 3");
  log.answer(502, `upstream ${FAKE_LINE}`, 'text/plain');
  const plain = await clientFailure(log.client().getTreeHead());
  expect(plain.message).not.toMatch(RAW_UNSAFE);
  expect(plain.message).toContain('upstream \\u001b[2K');
});

describe("an HTML error page (a proxy's) is told by its title, or its words, and said not to be the log's", () => {
  /** The message of the HTTP_STATUS error for an answer of `status` with `body` of type `type`. */
  const said = async (status: number, body: string, type = 'text/html') => {
    log.answer(status, body, type);
    const err = await clientFailure(new HttpTransport(log.url, { maxRetries: 0 }).json({ path: 'v1/batch', method: 'POST', body: '{"entries":["AA=="]}' }));
    expect([err.code, err.status, err.serverCode]).toEqual(['HTTP_STATUS', status, undefined]);
    const prefix = `POST ${log.url}/v1/batch: ${status}: `;
    expect(err.message.startsWith(prefix)).toBe(true);
    return err.message.slice(prefix.length);
  };

  test("nginx's 413 page: its title, not its markup and line endings", async () => {
    const nginx413 =
      '<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n' +
      '<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n';
    expect(await said(413, nginx413)).toBe("an HTML page, not the log's: 413 Request Entity Too Large");
  });

  test('without a title (or with an empty one): the text of the page, without comments, scripts and styles, its spaces collapsed', async () => {
    const page = '<!DOCTYPE html>\n<html><head><title> </title><style>h1 { color: red }</style></head>\n<body><!-- <b>hidden</b> -->\n' +
      '<h1>502   Bad\tGateway</h1><script type="text/javascript">var x = "<p>no</p>";</script ><p>try again</p></body></html>';
    expect(await said(502, page)).toBe("an HTML page, not the log's: 502 Bad Gateway try again");
    expect(await said(503, '<html><body><h1>503 from the load balancer</h1></body></html>\n')).toBe("an HTML page, not the log's: 503 from the load balancer");
  });

  test('character references are read; what they make is escaped', async () => {
    expect(await said(503, '<title>Dogs &amp; Cats &#8212; &lt;down&gt; &#x1b;[2K&nbsp;&bogus;</title>')).toBe("an HTML page, not the log's: Dogs & Cats — <down> \\u001b[2K &bogus;");
  });

  test('a page of another type that begins as HTML is one; text that does not is quoted as it is', async () => {
    expect(await said(502, '  <!doctype HTML><title>Bad Gateway</title>', 'text/plain')).toBe("an HTML page, not the log's: Bad Gateway");
    expect(await said(502, '<HTML><BODY>Bad Gateway</BODY></HTML>', '')).toBe("an HTML page, not the log's: Bad Gateway");
    expect(await said(502, 'upstream connect error <b>or</b> disconnect\n', 'text/plain')).toBe('upstream connect error <b>or</b> disconnect');
  });

  test('a page without words says so', async () => {
    expect(await said(502, '<html><body><img src="x.png"></body></html>')).toBe("an HTML page without words, not the log's");
  });

  test('a long title, a page of unclosed tags and one of a title never closed are bounded to 200 characters', async () => {
    const long = await said(502, `<title>${'word '.repeat(2000)}</title>`);
    expect(long).toBe(`an HTML page, not the log's: ${'word '.repeat(40)}… (${'word '.repeat(2000).trim().length - 200} more characters)`);
    expect(await said(502, `<html>${'<'.repeat(60_000)}`)).toMatch(/^an HTML page, not the log's: <{200}… \(\d+ more characters\)$/);
    expect(await said(502, `<html><title>${'<title'.repeat(10_000)}`)).toMatch(/^an HTML page, not the log's: (<title){33}<t… \(\d+ more characters\)$/);
    expect(await said(502, `<html><title>down ${'x'.repeat(60_000)}`)).toMatch(/^an HTML page, not the log's: down x{195}… \(\d+ more characters\)$/);
  });
});
