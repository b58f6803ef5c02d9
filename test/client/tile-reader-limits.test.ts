// A tree past 2^52 leaves, whose stored hashes no safe integer can number:
// the size is what a log signed, so the tile reader (and every client call
// made on it) refuses it as a ClientError the caller can tell from its own
// mistakes, not as a RangeError, and before any tile is asked for.
import { CairnClient } from '../../src/client/client.js';
import { ClientError } from '../../src/client/errors.js';
import { MAX_TILED_TREE_SIZE, TileHashReader, type TileFetcher } from '../../src/client/tile-reader.js';
import { generateSignerKey, verifierKeyFromSignerKey } from '../../src/note/keys.js';

const rootHash = new Uint8Array(32).fill(7);
const asked: string[] = [];
const fetcher: TileFetcher = {
  readTile: (tile) => {
    asked.push(`${tile.level}/${tile.n}`);
    return Promise.reject(new Error('no tile should be asked for'));
  },
};

function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (err) {
    return err;
  }
  return undefined;
}

test('a tree past 2^52 leaves is refused with ClientError BAD_RESPONSE, an operational error; 2^52 itself is read', () => {
  expect(MAX_TILED_TREE_SIZE).toBe(4503599627370496);
  for (const treeSize of [MAX_TILED_TREE_SIZE + 1, Number.MAX_SAFE_INTEGER]) {
    const err = thrown(() => new TileHashReader({ treeSize, rootHash }, fetcher));
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: 'BAD_RESPONSE', message: `a tree of ${treeSize} leaves is past the 2^52 whose stored hashes a safe integer can number: this client can neither read its tiles nor check its entries` });
    expect((err as ClientError).isVerificationFailure).toBe(false);
  }
  expect(new TileHashReader({ treeSize: MAX_TILED_TREE_SIZE, rootHash }, fetcher).treeSize).toBe(MAX_TILED_TREE_SIZE);
  // What is not a tree size at all is still the caller's mistake.
  expect(thrown(() => new TileHashReader({ treeSize: 2 ** 53, rootHash }, fetcher))).toBeInstanceOf(RangeError);
  expect(thrown(() => new TileHashReader({ treeSize: -1, rootHash }, fetcher))).toBeInstanceOf(RangeError);
  expect(asked).toEqual([]);
});

test('the client calls that read tiles pass the refusal on, without a request', async () => {
  const requests: string[] = [];
  const client = new CairnClient({
    baseUrl: 'http://127.0.0.1:9',
    verifierKey: verifierKeyFromSignerKey(generateSignerKey('limits.test/log')),
    fetch: async (url) => {
      requests.push(url);
      throw new Error('no request should be made');
    },
  });
  const tree = { origin: 'limits.test/log', treeSize: MAX_TILED_TREE_SIZE + 1, rootHash, extensions: [] };
  await expect(client.readEntryBundle(0, tree)).rejects.toMatchObject({ name: 'ClientError', code: 'BAD_RESPONSE' });
  await expect(client.verifyConsistency({ ...tree, treeSize: 1000 }, tree, { fromTiles: true })).rejects.toMatchObject({ name: 'ClientError', code: 'BAD_RESPONSE' });
  expect(requests).toEqual([]);
});
