// Arguments that are the caller's mix-up, not the log's fault: another log's
// checkpoint, a tree that is no tree, a base URL with a password, what
// addEntry resolves to where its receipt was meant. Each is refused as an
// argument error (or a receipt check's reason) that says so, before any
// request, never as evidence against the log (INCONSISTENT, BAD_PROOF, ...).
import { CairnClient } from '../../src/client/client.js';
import { HttpTransport, normalizeBaseUrl, type FetchLike } from '../../src/client/http.js';
import { checkReceipt, checkReceiptProof, verifyReceipt } from '../../src/client/receipt.js';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint, type Checkpoint } from '../../src/note/checkpoint.js';
import { formatKeyHash, generateSignerKey, newSigner, newVerifier, verifierKeyFromSignerKey } from '../../src/note/keys.js';

const enc = (s: string) => new TextEncoder().encode(s);
const mineKey = generateSignerKey('mine.test/log');
const otherKey = generateSignerKey('other.test/log');

/** A client of mine.test/log whose fetch records what it is asked and answers nothing. */
function recordingClient(): { client: CairnClient; asked: string[] } {
  const asked: string[] = [];
  const fetch: FetchLike = async (url) => {
    asked.push(url);
    throw new Error('no network in this test');
  };
  return { client: new CairnClient({ baseUrl: 'http://127.0.0.1:9', verifierKey: verifierKeyFromSignerKey(mineKey), fetch, maxRetries: 0 }), asked };
}

/** A tree of one leaf: its root is the leaf's hash. */
const entry = enc('the one entry');
const root = leafHash(entry).slice();

describe("another log's checkpoint passed to a client", () => {
  const other: Checkpoint = { origin: 'other.test/log', treeSize: 1, rootHash: root, extensions: [] };
  const mine: Checkpoint = { origin: 'mine.test/log', treeSize: 1, rootHash: new Uint8Array(32).fill(7), extensions: [] };
  const both = /other\.test\/log.*mine\.test\/log/;

  test('is a RangeError naming both origins, before any request, from every method that takes one', async () => {
    const { client, asked } = recordingClient();
    // Same size, another root: checked as this log's, a fork (INCONSISTENT) though this log is honest.
    await expect(client.verifyConsistency(other, mine)).rejects.toThrow(RangeError);
    await expect(client.verifyConsistency(mine, other)).rejects.toThrow(both);
    await expect(client.getEntry(0, other)).rejects.toThrow(both);
    await expect(client.getEntryFromTiles(0, other)).rejects.toThrow(both);
    await expect(client.proveIndexFromTiles(0, other)).rejects.toThrow(both);
    await expect(client.proveHash(root, other)).rejects.toThrow(both);
    await expect(client.readEntryBundle(0, other)).rejects.toThrow(both);
    await expect(client.verifyEntryBundle(0, other)).rejects.toThrow(both);
    expect(() => client.readEntryRange(other, 0, 0)).toThrow(both);
    expect(() => client.tileReader(other)).toThrow(both);
    expect(asked).toEqual([]);
  });

  test('an origin that is not a string is named by its type, and null as null', async () => {
    const { client, asked } = recordingClient();
    const withOrigin = (origin: unknown) => ({ ...mine, origin }) as unknown as Checkpoint;
    await expect(client.getEntry(0, withOrigin(null))).rejects.toThrow(/checkpoint is a checkpoint of null, not of this client's log mine\.test\/log/);
    await expect(client.getEntry(0, withOrigin(7))).rejects.toThrow(/is a checkpoint of a number, not/);
    expect(() => client.tileReader(withOrigin({}))).toThrow(/is a checkpoint of an object, not/);
    expect(asked).toEqual([]);
  });

  test('a checkpoint of this log, or a tree without an origin, is taken as before', async () => {
    const { client } = recordingClient();
    await expect(client.verifyConsistency(mine, { ...mine })).resolves.toEqual([]);
    await expect(client.verifyConsistency({ treeSize: 1, rootHash: root } as Checkpoint, { ...other, origin: 'mine.test/log' })).resolves.toEqual([]);
    expect(client.tileReader({ treeSize: 1, rootHash: root }).treeSize).toBe(1);
  });

  test('a size that is not a safe non-negative integer or a root that is not 32 bytes is an argument error, not INCONSISTENT', async () => {
    const { client, asked } = recordingClient();
    const tree = (treeSize: unknown, rootHash: unknown = new Uint8Array(32)) => ({ origin: 'mine.test/log', treeSize, rootHash, extensions: [] }) as unknown as Checkpoint;
    const ok = tree(3);
    await expect(client.verifyConsistency(tree(1.5), ok)).rejects.toThrow(/older: treeSize must be a safe non-negative integer, got 1\.5/);
    await expect(client.verifyConsistency(tree(-1), tree(0))).rejects.toThrow(RangeError);
    await expect(client.verifyConsistency(tree(2 ** 53), tree(2 ** 53))).rejects.toThrow(RangeError);
    await expect(client.verifyConsistency(tree(2, new Uint8Array(3)), tree(2, new Uint8Array(3)))).rejects.toThrow(/rootHash must be 32 bytes, got 3/);
    await expect(client.getEntry(0, tree(Number.NaN))).rejects.toThrow(RangeError);
    await expect(client.verifyConsistency(tree('2'), ok)).rejects.toThrow(TypeError);
    expect(() => client.readEntryRange(tree(Infinity), 0, 0)).toThrow(RangeError);
    expect(asked).toEqual([]);
  });
});

describe('a base URL with a user name or password', () => {
  test('is refused when the client is made, without repeating the password', () => {
    const vkey = verifierKeyFromSignerKey(mineKey);
    for (const baseUrl of ['http://svc:s3cretPW@127.0.0.1:8080/log', 'https://svc@log.example', 'http://:s3cretPW@log.example/']) {
      let thrown: unknown;
      try {
        new CairnClient({ baseUrl, verifierKey: vkey, fetch: async () => new Response('') });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(RangeError);
      expect((thrown as Error).message).toMatch(/^baseUrl must hold no user name or password/);
      expect((thrown as Error).message).not.toMatch(/s3cretPW|svc/);
      expect(() => new HttpTransport(baseUrl, { fetch: async () => new Response('') })).toThrow(RangeError);
      expect(() => normalizeBaseUrl(baseUrl)).toThrow(RangeError);
    }
  });

  test('that is not a URL at all is refused without showing what came before its @', () => {
    expect(() => normalizeBaseUrl('http//svc:s3cretPW@log.example')).toThrow(RangeError);
    expect(() => normalizeBaseUrl('http//svc:s3cretPW@log.example')).not.toThrow(/s3cretPW/);
  });
});

describe('checkReceipt', () => {
  /** A receipt for `entry` in a one-leaf tree signed by `key`. */
  const receiptBy = (key: string, origin: string) => ({
    index: 0,
    leaf_hash: encodeBase64(root),
    checkpoint: signCheckpoint({ origin, treeSize: 1, rootHash: root, extensions: [] }, newSigner(key)),
    inclusion_proof: [],
    duplicate: false,
  });
  const verifier = newVerifier(verifierKeyFromSignerKey(mineKey));

  test("given what addEntry resolves to, says to pass its .receipt, not that it has no index", () => {
    const receipt = receiptBy(mineKey, 'mine.test/log');
    expect(checkReceipt(receipt, entry, verifier)).toMatchObject({ valid: true });
    const verified = { receipt, entry, checkpoint: { origin: 'mine.test/log', treeSize: 1, rootHash: root, extensions: [] } };
    const check = checkReceipt(verified, entry, verifier);
    expect(check).toEqual({ valid: false, reason: expect.stringMatching(/pass its \.receipt$/) });
    expect(checkReceiptProof(verified, entry, verified.checkpoint)).toEqual({ valid: false, reason: expect.stringMatching(/pass its \.receipt$/) });
    expect(verifyReceipt(verified, entry, verifier)).toBe(false);
  });

  test("given another log's receipt, names both origins", () => {
    const check = checkReceipt(receiptBy(otherKey, 'other.test/log'), entry, verifier);
    expect(check).toEqual({
      valid: false,
      reason: "the receipt's checkpoint is of the log other.test/log, the key is for mine.test/log: a receipt of another log, or the wrong key? (the checkpoint does not verify: no signature by a known key)",
    });
    // Another key of the same name: no origin to blame, both key IDs are named.
    const sameKey = generateSignerKey('mine.test/log');
    const sameName = checkReceipt(receiptBy(sameKey, 'mine.test/log'), entry, verifier);
    expect(sameName).toEqual({
      valid: false,
      reason:
        `the checkpoint does not verify: signed by mine.test/log with key ID ${formatKeyHash(newSigner(sameKey).keyHash)}, ` +
        `not by the key given (key ID ${formatKeyHash(verifier.keyHash)}): the log's key changed, or the key given is another key of that name`,
    });
  });
});
