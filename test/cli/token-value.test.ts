// CAIRN_TOKEN as the client commands take it: one that no log could take
// (a line break from openssl rand -base64 64, the CR of a CRLF file, a
// letter outside ASCII, more than 512 characters) is a usage error that
// says what is wrong and where, before anything is sent, and never shows
// the token; a token sent over http:// to another machine is warned about
// once; and no error a command prints shows the token, whatever a log says.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addCommand } from '../../src/cli/add.js';
import { getCommand } from '../../src/cli/get.js';
import { monitorCommand } from '../../src/cli/monitor.js';
import { proveCommand } from '../../src/cli/prove.js';
import type { CliIo } from '../../src/cli/client-common.js';
import type { FetchLike } from '../../src/client/http.js';
import { hashToken } from '../../src/http/access.js';
import { useCliServer } from '../helpers/cli-server.js';
import { captureIo } from './client-io.js';

const TOKEN = 'Zm9vYmFyLXRva2VuLTAxMjM0NTY3ODk=';
const t = useCliServer('cairn-cli-token-value-', async (dir) => {
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, `ci submit ${hashToken(TOKEN)}\n`, { mode: 0o600 });
  return { tokens, privateReads: true };
});

beforeAll(async () => {
  await t.server.log.submit([new TextEncoder().encode('logged')]);
  await writeFile(join(t.dir, 'entry.txt'), 'an entry');
});

/** Each client command that sends CAIRN_TOKEN, with arguments that reach the log: given `url` in place of the server's. */
const COMMANDS: [string, (io: CliIo, url?: string) => Promise<number>][] = [
  ['get', (io, url = t.server.url) => getCommand(['--url', url, '--vkey', t.server.verifierKey, '0'], io)],
  ['prove', (io, url = t.server.url) => proveCommand(['--url', url, '--vkey', t.server.verifierKey, '0'], io)],
  ['add', (io, url = t.server.url) => addCommand(['--url', url, '--vkey', t.server.verifierKey, join(t.dir, 'entry.txt')], io)],
  ['monitor', (io, url = t.server.url) => monitorCommand(['--url', url, '--vkey', t.server.verifierKey, '--once', '--state', join(t.dir, `state-${Math.random()}.json`)], io)],
];

/** A fetch that counts its calls and passes them on to the server, `from` (a URL prefix) put as the server's. */
function passOn(from?: string): { fetch: FetchLike; calls: () => number } {
  let calls = 0;
  return {
    fetch: (input, init) => {
      calls++;
      const url = String(input);
      return fetch(from === undefined ? url : url.replace(from, t.server.url), init);
    },
    calls: () => calls,
  };
}

test.each([
  ['openssl rand -base64 64 (a line break after 64 characters)', `${'QUJD'.repeat(16)}\n${'REVG'.repeat(5)}RA==`, /CAIRN_TOKEN has a line break \(LF\) at character 65 of 89: a token is one line .*tr -d '\\r\\n'/],
  ['a CRLF file read with $(cat)', `${TOKEN}\r`, /CAIRN_TOKEN has a line break \(CR\) at character 33 of 33: a token is one line .*/],
  ['a letter outside ASCII', `${TOKEN.slice(0, 10)}\u00e9${TOKEN.slice(10)}`, /CAIRN_TOKEN has a character a token may not hold at character 11 of 33; a token holds letters A-Z and a-z, digits.*/],
  ['more than 512 characters', 'A'.repeat(600), /CAIRN_TOKEN is 600 characters long, over the limit of 512/],
])('a CAIRN_TOKEN of %s is a usage error of every command, said before anything is sent, never showing the token', async (_what, token, message) => {
  for (const [name, run] of COMMANDS) {
    const sent = passOn();
    const io = captureIo({ env: { CAIRN_TOKEN: token }, fetch: sent.fetch });
    expect([name, await run(io)]).toEqual([name, 2]);
    expect(io.err()).toMatch(new RegExp(`^cairn ${name}: ${message.source}\nRun 'cairn ${name} --help' for its options\\.\n$`));
    for (const part of token.split(/[\r\n]/).filter((p) => p.length >= 8)) expect(io.err()).not.toContain(part.slice(0, 8));
    expect(sent.calls()).toBe(0);
  }
});

test('a token sent over http:// to a host other than this machine is warned about, once; not over https:// nor to loopback', async () => {
  const port = new URL(t.server.url).port;
  for (const [name, run] of COMMANDS) {
    const far = `http://log.example:${port}`;
    const sent = passOn(far);
    const io = captureIo({ env: { CAIRN_TOKEN: TOKEN }, fetch: sent.fetch });
    expect([name, await run(io, far)]).toEqual([name, 0]);
    const warning = `cairn: warning: the access token in CAIRN_TOKEN is sent unencrypted over http:// to log.example:${port}: anyone on the way can read and use it; give the log's https:// URL\n`;
    expect(io.err().split(warning).length - 1).toBe(1);
    expect(io.err()).not.toContain(TOKEN);
    expect(sent.calls()).toBeGreaterThan(0);
  }
  for (const base of [`https://log.example:${port}`, `http://localhost:${port}`, `http://127.0.0.2:${port}`, `http://[::1]:${port}`, `http://[::ffff:127.0.0.1]:${port}`, t.server.url]) {
    const io = captureIo({ env: { CAIRN_TOKEN: TOKEN }, fetch: passOn(base.replace(/^https:/, 'http:')).fetch });
    // The https URL goes out as http to the test's server: only the warning is looked at.
    await getCommand(['--url', base, '--vkey', t.server.verifierKey, '0'], io);
    expect([base, io.err()]).not.toEqual([base, expect.stringContaining('warning')]);
  }
  // Without a token there is nothing to warn about (reads of this log then fail, 401).
  const io = captureIo({ fetch: passOn(`http://log.example:${port}`).fetch });
  await getCommand(['--url', `http://log.example:${port}`, '--vkey', t.server.verifierKey, '0'], io);
  expect(io.err()).not.toContain('warning');
});

test("a log's error that quotes the token is printed with the token hidden, by get and by monitor's round", async () => {
  const echo: FetchLike = async (_input, init) => {
    const auth = new Headers(init?.headers).get('authorization') ?? '';
    return new Response(JSON.stringify({ error: `refused: ${auth}`, code: 'INTERNAL' }), { status: 500, headers: { 'Content-Type': 'application/json' } });
  };
  for (const [name, run] of [COMMANDS[0]!, COMMANDS[3]!]) {
    const io = captureIo({ env: { CAIRN_TOKEN: TOKEN }, fetch: echo });
    expect([name, await run(io)]).toEqual([name, 2]);
    expect(io.err()).toContain('refused: Bearer <CAIRN_TOKEN>');
    expect(io.err()).not.toContain(TOKEN);
  }
});
