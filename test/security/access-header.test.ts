// The Authorization header as the server reads it (RFC 6750 §2.1): one or
// more spaces after "Bearer", a token of b64token at most 512 characters
// long (tokenProblem, the rule the client commands check CAIRN_TOKEN
// against too), and a request with two Authorization headers refused 400
// rather than judged by the first (which node keeps), on the fast path and
// express's alike, through the real server.
import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { hashToken, MAX_TOKEN_LENGTH, tokenProblem } from '../../src/http/access.js';
import { useCliServer } from '../helpers/cli-server.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';

const READER = 'reader-token-0123456789abcdef';
const SUBMITTER = 'submitter-token-0123456789abcdef';
/** One character past the limit: its hash is in the token file, and still it never passes. */
const LONG = 'L'.repeat(MAX_TOKEN_LENGTH + 1);
const LONGEST = 'M'.repeat(MAX_TOKEN_LENGTH - 2) + '==';
const t = useCliServer('cairn-access-header-', async (dir) => {
  const tokens = join(dir, 'tokens');
  const lines = [`viewer read ${hashToken(READER)}`, `ci submit ${hashToken(SUBMITTER)}`, `long read ${hashToken(LONG)}`, `longest read ${hashToken(LONGEST)}`];
  await writeFile(tokens, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { tokens, privateReads: true };
});

beforeAll(async () => {
  // An entry, so that the proof route has something to answer with once granted.
  await t.server.log.submit([new TextEncoder().encode('logged')]);
});

/** A request with the headers as given: a list sends one header line per item. */
function send(method: string, path: string, headers: Record<string, string | string[]>, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const url = new URL(path, t.server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('tokenProblem', () => {
  test('takes RFC 6750 b64tokens of 1 to 512 characters', () => {
    for (const token of ['a', 'AZaz09-._~+/', 'abc==', READER, LONGEST, 'x'.repeat(MAX_TOKEN_LENGTH)]) expect(tokenProblem(token)).toBeUndefined();
  });

  test.each([
    ['a line break of openssl rand -base64 64', `${'A'.repeat(64)}\n${'B'.repeat(22)}==`, /^has a line break \(LF\) at character 65 of 89: a token is one line .*tr -d '\\r\\n'$/],
    ['the CR of a CRLF file read with $(cat)', 'SECRET-TOKEN\r', /^has a line break \(CR\) at character 13 of 13: /],
    ['a space', 'two words', /^has a space at character 4 of 9; a token holds letters A-Z and a-z, digits and - \. _ ~ \+ \/, then at its end any number of =$/],
    ['a tab', 'tab\tbed', /^has a tab at character 4 of 7; /],
    ['an = inside', 'ab=cd=', /^has an '=' before its end at character 3 of 6; /],
    ['nothing but =', '=', /^begins with '='; a token must begin with a letter, a digit or one of - \. _ ~ \+ \/, and only its end may be '='s$/],
    ['nothing but ==', '==', /^begins with '='; a token must begin with a letter, a digit or one of - \. _ ~ \+ \/, and only its end may be '='s$/],
    ['the CR after padding (a CRLF file)', 'YWJjZA==\r', /^has a line break \(CR\) at character 9 of 9: /],
    ['a letter outside ASCII', 'h\u00e9llo-token', /^has a character a token may not hold at character 2 of 11; /],
    ['a character outside the BMP, counted as one', '\u{1F511}key', /^has a character a token may not hold at character 1 of 4; /],
    ['more than 512 characters', LONG, /^is 513 characters long, over the limit of 512$/],
    ['nothing', '', /^is empty$/],
  ])('refuses %s, saying where, never quoting the token', (_what, token, message) => {
    const problem = tokenProblem(token);
    expect(problem).toMatch(message);
    for (const part of token.split(/[\r\n\t ]/).filter((p) => p.length > 3)) expect(problem).not.toContain(part);
  });
});

describe('the server', () => {
  test('takes one or more spaces after Bearer (RFC 6750 §2.1: 1*SP)', async () => {
    for (const spaces of [' ', '  ', '     ']) {
      const res = await send('GET', '/checkpoint', { Authorization: `Bearer${spaces}${READER}` });
      expect(res.status).toBe(200);
    }
    expect((await send('GET', '/checkpoint', { Authorization: `bearer  ${LONGEST}` })).status).toBe(200);
  });

  test('refuses a token over 512 characters, though its hash is in the token file', async () => {
    const res = await send('GET', '/checkpoint', { Authorization: `Bearer ${LONG}` });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text).code).toBe('UNAUTHORIZED');
  });

  test('answers 400 MALFORMED_REQUEST to two Authorization headers, whichever comes first, on every route', async () => {
    const pairs = [
      [`Bearer ${READER}`, 'Bearer wrong-token'],
      ['Bearer wrong-token', `Bearer ${READER}`],
      [`Bearer ${READER}`, `Bearer ${READER}`],
    ];
    const size = t.server.log.latest().treeSize;
    for (const pair of pairs) {
      // GET /checkpoint is express's; get-entry-and-proof the fast path's (it hands refusals to express).
      for (const path of ['/checkpoint', '/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=1', '/healthz']) {
        const res = await send('GET', path, { Authorization: pair });
        expect([path, res.status, JSON.parse(res.text).code]).toEqual([path, 400, 'MALFORMED_REQUEST']);
        expect(JSON.parse(res.text).error).toMatch(/2 Authorization headers; send one/);
        expectResponseMatchesSpec('get', path, { status: res.status, headers: res.headers, body: JSON.parse(res.text), text: res.text });
      }
      // A write: the fast path's octet-stream POST and express's batch, with the submitter's token in the pair.
      const writes = pair.map((h) => h.replace(READER, SUBMITTER));
      const one = await send('POST', '/v1/entries', { Authorization: writes, 'Content-Type': 'application/octet-stream' }, 'entry');
      expect([one.status, JSON.parse(one.text).code]).toEqual([400, 'MALFORMED_REQUEST']);
      const batch = await send('POST', '/v1/batch', { Authorization: writes, 'Content-Type': 'application/json' }, JSON.stringify({ entries: ['ZW50cnk='] }));
      expect([batch.status, JSON.parse(batch.text).code]).toEqual([400, 'MALFORMED_REQUEST']);
    }
    expect(t.server.log.latest().treeSize).toBe(size);
    // One header still passes.
    expect((await send('GET', '/checkpoint', { Authorization: `Bearer ${READER}` })).status).toBe(200);
  });
});
