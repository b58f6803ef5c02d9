// --host: an IP address (an IPv6 one with or without the brackets of a URL)
// or a host name; anything else is a usage error that names the host,
// before the access set-up judges it. An IPv6 address is printed in one
// pair of brackets, however it was given.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseHost, UsageError } from '../../src/cli/args.js';
import { startServer, urlHost } from '../../src/cli/server.js';
import { runCli } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-serve-host-');

test('parseHost takes IP addresses and host names, an IPv6 address in brackets without them', () => {
  for (const host of ['127.0.0.1', '0.0.0.0', '::', '::1', '2001:db8::1', 'localhost', 'log.example.com', 'log.example.com.', 'my_service', 'a-b.c1']) {
    expect(parseHost(host, '--host')).toBe(host);
  }
  expect(parseHost('[::1]', '--host')).toBe('::1');
  expect(parseHost('[2001:db8::1]', 'CAIRN_HOST')).toBe('2001:db8::1');
});

test('parseHost refuses what is neither, naming the option and showing the value with its invisible characters escaped', () => {
  const cases: [string, string][] = [
    ['not a host', '"not a host"'],
    ['1.2.3', '"1.2.3"'],
    ['[127.0.0.1]', '"[127.0.0.1]"'],
    ['[::1', '"[::1"'],
    ['-dash.example', '"-dash.example"'],
    ['a..b', '"a..b"'],
    ['http://x', '"http://x"'],
    [`${'a'.repeat(64)}.example`, `"${'a'.repeat(64)}.example"`],
    ['log\u202E.example', '"log\\u{202E}.example"'],
    ['log\u2028', '"log\\u{2028}"'],
  ];
  for (const [host, shown] of cases) {
    expect(() => parseHost(host, 'CAIRN_HOST')).toThrow(UsageError);
    expect(() => parseHost(host, 'CAIRN_HOST')).toThrow(`CAIRN_HOST must be a host name or an IP address (such as 127.0.0.1, ::1 or [::1], 0.0.0.0, localhost, log.example.com), got ${shown}`);
  }
});

test('serve --host with a bad host is a usage error about the host, not about tokens, and makes nothing', async () => {
  const data = join(dir(), 'data');
  const res = await runCli(['serve', '--data', data, '--port', '0', '--host', 'not a host']);
  expect([res.code, res.stdout]).toEqual([2, '']);
  expect(res.stderr).toBe(
    `cairn serve: --host must be a host name or an IP address (such as 127.0.0.1, ::1 or [::1], 0.0.0.0, localhost, log.example.com), got "not a host"\nRun 'cairn serve --help' for its options.\n`,
  );
  const fromEnv = await runCli(['serve', '--data', data, '--port', '0'], { CAIRN_HOST: '1.2.3' });
  expect([fromEnv.code, fromEnv.stderr]).toEqual([2, expect.stringContaining('CAIRN_HOST must be a host name or an IP address')]);
  expect(existsSync(data)).toBe(false);
});

test('an IPv6 address given in brackets is listened on without them, and named in one pair of brackets', async () => {
  // 2001:db8::/32 is for documentation: not this machine's, so nothing is ever listened on.
  for (const host of ['[2001:db8::1]', '2001:db8::1']) {
    await expect(startServer({ data: join(dir(), 'data'), host, port: 0, publicWrites: true })).rejects.toThrow(
      /^cannot listen on \[2001:db8::1\]:0: the address is not one of this machine's \(EADDRNOTAVAIL/,
    );
  }
  await expect(startServer({ data: join(dir(), 'data'), host: '::', port: 0 })).rejects.toThrow(/^refusing to listen on \[::\] with no access tokens/);
});

test("an IPv6 address with a zone is named in a URL's form: its '%' as %25 (RFC 6874), in the listening URL and the messages that serve builds with urlHost", async () => {
  expect(urlHost('fe80::1%eth0')).toBe('[fe80::1%25eth0]');
  expect(urlHost('[fe80::1%eth0]')).toBe('[fe80::1%25eth0]');
  // The URL form serve prints is taken back by --host as the same address.
  expect(parseHost('[fe80::1%25eth0]', '--host')).toBe('fe80::1%eth0');
  expect(parseHost('[fe80::1%25eth%2E0]', '--host')).toBe('fe80::1%eth.0');
  expect(urlHost(parseHost(urlHost('fe80::1%eth0.100'), '--host'))).toBe('[fe80::1%25eth0.100]');
  expect(() => parseHost('[fe80::1%25%ZZ]', '--host')).toThrow(UsageError);
  expect(urlHost('fe80::1%eth0.100')).toBe('[fe80::1%25eth0.100]');
  expect([urlHost('::1'), urlHost('[::1]'), urlHost('127.0.0.1'), urlHost('log.example.com')]).toEqual(['[::1]', '[::1]', '127.0.0.1', 'log.example.com']);
  expect(parseHost('fe80::1%eth0', '--host')).toBe('fe80::1%eth0');
  // fe80::1 is no address of lo's: nothing is ever listened on.
  await expect(startServer({ data: join(dir(), 'data'), host: 'fe80::1%lo', port: 0, publicWrites: true })).rejects.toThrow(/^cannot listen on \[fe80::1%25lo\]:0: /);
  await expect(startServer({ data: join(dir(), 'data'), host: '[fe80::1%lo]', port: 0 })).rejects.toThrow(/^refusing to listen on \[fe80::1%25lo\] with no access tokens/);
});
