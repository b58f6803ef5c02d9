// --url, CAIRN_URL and --webhook that cannot be used say why in the user's
// terms: a log's base URL has no query or fragment, no URL holds a user
// name or password (never shown back), and one without its scheme is shown
// with it.
import { UsageError } from '../../src/cli/args.js';
import { parseHttpUrl, resolveUrl } from '../../src/cli/client-common.js';
import { getCommand } from '../../src/cli/get.js';
import { captureIo } from './client-io.js';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('taken');
}

test("a log's URL with a query or fragment names the base URL to give instead, not the client's 'baseUrl'", () => {
  expect(refusal(() => resolveUrl('http://127.0.0.1:18102/?x=1', {}))).toBe(`--url must be the log's base URL, without a query (?...) or fragment (#...): give "http://127.0.0.1:18102/"`);
  expect(refusal(() => resolveUrl(undefined, { CAIRN_URL: 'https://log.example/log#top' }))).toBe(`CAIRN_URL must be the log's base URL, without a query (?...) or fragment (#...): give "https://log.example/log"`);
  // A webhook may have a query: it is no log's base URL.
  expect(parseHttpUrl('https://hooks.example/alarm?channel=ops', '--webhook')).toBe('https://hooks.example/alarm?channel=ops');
});

test('a user name or password in a URL is refused and never shown back', () => {
  for (const [run, name] of [
    [() => resolveUrl('http://ann:s3cret-pw@127.0.0.1:18102/', {}), '--url'],
    [() => resolveUrl(undefined, { CAIRN_URL: 'http://ann:s3cret-pw@127.0.0.1:18102/?q=1' }), 'CAIRN_URL'],
  ] as const) {
    const message = refusal(run);
    expect(message).toMatch(new RegExp(`^${name} must hold no user name or password \\(cairn sends none\\): give "http://127\\.0\\.0\\.1:18102/"; for a log that needs an access token, put it in CAIRN_TOKEN$`));
    expect(message).not.toMatch(/s3cret|ann/);
  }
  // A webhook is sent no token either: no word of CAIRN_TOKEN for it.
  const hook = refusal(() => parseHttpUrl('https://ann:s3cret-pw@hooks.example/alarm', '--webhook'));
  expect(hook).toBe('--webhook must hold no user name or password (cairn sends none): give "https://hooks.example/alarm"');
  // Nor in a URL that is no http(s) one at all.
  expect(refusal(() => resolveUrl('ftp://ann:s3cret-pw@files.example/', {}))).toBe('--url must be an http(s) URL, got "ftp://...@files.example/"');
  expect(refusal(() => resolveUrl('ann:s3cret-pw@127.0.0.1:18102', {}))).toBe('--url must be an http(s) URL, got "...@127.0.0.1:18102"');
  // However mistyped, everything up to the last '@' is hidden.
  for (const [given, shown] of [
    ['http//ann:s3cret-pw@log.example', '...@log.example'],
    ['htp:/ann:s3cret-pw@log.example', '...@log.example'],
    ['ftp://ann:pa/s3cret-pw@files.example', 'ftp://...@files.example'],
    ['ftp://ann:s3cret@pw@files.example', 'ftp://...@files.example'],
  ]) {
    expect(refusal(() => resolveUrl(given, {}))).toBe(`--url must be an http(s) URL, got ${JSON.stringify(shown)}`);
  }
});

test('a URL without its scheme is shown with http:// in front; a word that is no URL at all is not', () => {
  for (const [given, meant] of [
    ['127.0.0.1:18102', 'http://127.0.0.1:18102'],
    ['localhost:8080', 'http://localhost:8080'],
    ['log.example.com/log', 'http://log.example.com/log'],
    ['[::1]:8080', 'http://[::1]:8080'],
  ]) {
    expect(refusal(() => resolveUrl(given, {}))).toBe(`--url must be an http(s) URL, got ${JSON.stringify(given)}: give its scheme, as in ${JSON.stringify(meant)}`);
  }
  for (const word of ['notaurl', 'http//x', 'ftp://x']) expect(refusal(() => resolveUrl(word, {}))).toBe(`--url must be an http(s) URL, got ${JSON.stringify(word)}`);
});

test('a client command refuses such a URL before it asks anything (exit 2)', async () => {
  const asked: string[] = [];
  const io = captureIo({ fetch: async (url) => (asked.push(url), new Response('')) });
  expect(await getCommand(['--url', 'http://ann:s3cret-pw@127.0.0.1:18102/', '--vkey', 'x.test/log+00000000+AA', '0'], io)).toBe(2);
  expect(io.err()).toMatch(/^cairn get: --url must hold no user name or password/);
  expect(io.err()).not.toContain('s3cret');
  expect(asked).toEqual([]);
});

test("an IPv6 address with a zone, as serve prints one it listens on, is refused saying why: fetch's URLs have no zones", () => {
  for (const [given, zone] of [
    ['http://[fe80::1%25eth0]:8080', '%25eth0'],
    ['http://[::1%lo]:8080/logs/a/', '%lo'],
  ]) {
    expect(refusal(() => resolveUrl(undefined, { CAIRN_URL: given }))).toBe(
      `CAIRN_URL must be an http(s) URL, got ${JSON.stringify(given)}: an IPv6 address with a zone (${zone}) cannot be in a URL here; give an address without a zone (not a link-local fe80:: one), or a host name`,
    );
  }
  // Without its scheme, it is told the same.
  expect(refusal(() => resolveUrl('[fe80::1%25eth0]:8080', {}))).toMatch(/^--url must be an http\(s\) URL, got "\[fe80::1%25eth0\]:8080": an IPv6 address with a zone \(%25eth0\) cannot be in a URL here/);
  // One without a zone is taken.
  expect(resolveUrl('http://[fe80::1]:8080', {})).toBe('http://[fe80::1]:8080');
});
