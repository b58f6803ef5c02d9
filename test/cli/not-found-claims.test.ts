// What get and prove say when the log claims something is not there (exit
// 3): neither a validly signed but old checkpoint nor a 404 to a leaf hash is
// evidence of absence, so the messages say what the log served or answered,
// not that the entry or leaf is not in the log. The fake log holds 300
// entries and serves no get-proof-by-hash: every look-up by hash is a 404.
import { getCommand } from '../../src/cli/get.js';
import { proveCommand } from '../../src/cli/prove.js';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { testSigner } from '../helpers/keys.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest, send } from './fake-log.js';

const t = fakeLogEachTest(300, 'cairn-not-found-');

test('an old checkpoint replayed (size 10 of a log of 300): get 42 and prove 42 say the checkpoint served is of size 10, which may be stale, not that entry 42 is not in the log', async () => {
  const old = signCheckpoint(await t.fake.head(10), testSigner);
  t.fake.hook = (path, _req, res) => {
    if (path !== 'checkpoint') return false;
    send(res, 200, old, 'text/plain; charset=utf-8');
    return true;
  };
  for (const [command, name, what] of [
    [getCommand, 'get', 'entry'],
    [proveCommand, 'prove', 'leaf'],
  ] as const) {
    const io = captureIo();
    expect(await command(['42', ...t.common], io)).toBe(3);
    expect(io.err()).toBe(
      `cairn ${name}: ${what} 42 is not in the tree of the checkpoint ${testSigner.name} served, of tree size 10; ` +
        'a checkpoint does not show that it is the latest: it may be an old one, or one shown only to this reader\n',
    );
  }
});

test("a 404 to get-proof-by-hash for a leaf the log holds: prove --hash says it is the log's unsigned claim, with --tiles too", async () => {
  const hash = encodeBase64(leafHash(new TextEncoder().encode('e42')));
  for (const tiles of [[], ['--tiles']]) {
    const io = captureIo();
    expect(await proveCommand(['--hash', hash, ...tiles, ...t.common], io)).toBe(3);
    expect(io.err()).toMatch(
      new RegExp(
        `^cairn prove: ${testSigner.name.replace(/\./g, '\\.')} says it holds no leaf with hash ${hash.replace(/[+/]/g, '\\$&')} at tree size 300; ` +
          "a log's 'not found' is not signed, so this cannot be verified",
      ),
    );
    expect(io.err()).not.toMatch(/is not in/);
    expect(io.err().includes('--tiles authenticates what the log gives')).toBe(tiles.length > 0);
  }
});

test("a 404 to get-proof-by-hash that is not the log's NOT_FOUND (a load balancer's page, another code): exit 2 with its status and body, not 'holds no leaf'", async () => {
  const hash = encodeBase64(leafHash(new TextEncoder().encode('e42')));
  const pages: [string, string, RegExp][] = [
    ['text/html', '<html><body><h1>404 Not Found</h1><hr>nginx</body></html>', /: 404: an HTML page, not the log's: 404 Not Found nginx$/],
    ['application/json', JSON.stringify({ error: 'no route', code: 'ROUTE_MISSING' }), /: 404 ROUTE_MISSING: no route$/],
    ['application/json', JSON.stringify({ message: 'not here' }), /: 404: \{"message":"not here"\}$/],
  ];
  for (const [type, body, said] of pages) {
    t.fake.hook = (path, _req, res) => {
      if (path !== 'ct/v1/get-proof-by-hash') return false;
      send(res, 404, body, type);
      return true;
    };
    for (const tiles of [[], ['--tiles']]) {
      const io = captureIo();
      expect([body, tiles, await proveCommand(['--hash', hash, ...tiles, ...t.common], io)]).toEqual([body, tiles, 2]);
      const line = io.err().trimEnd();
      expect(line).toMatch(/^cairn prove: the look-up of leaf hash \S+ was answered 404 without the log's NOT_FOUND error body .*: GET http:\S+\/ct\/v1\/get-proof-by-hash\?\S+/);
      expect(line).toMatch(said);
      expect(line).not.toMatch(/holds no leaf/);
    }
  }
});
