// CairnClient at the edges its tamper tests in client.test.ts do not reach:
// the FIRST entry of a bundle swapped, a consistency proof from a tree of one
// leaf, an empty audit path for a tree of many, a batch answer one receipt
// short, and a tile 32 bytes too long (no tile at all: BAD_RESPONSE). A real server on port 0 holds 260
// entries of 9 bytes each (tile 0/000 full, 0/001.p/4, 1/000.p/1); a fetch
// in between changes chosen answers.
import { CairnClient } from '../../src/client/client.js';
import { TileHashReader } from '../../src/client/tile-reader.js';
import type { FetchLike } from '../../src/client/http.js';
import { encodeEntryBundle, parseEntryBundle } from '../../src/merkle/bundle.js';
import { leafHash } from '../../src/merkle/hash.js';
import { formatTilePath } from '../../src/merkle/tile.js';
import { verifyConsistency, verifyInclusion } from '../../src/merkle/proof.js';
import type { Checkpoint } from '../../src/note/checkpoint.js';
import { useCliServer } from '../helpers/cli-server.js';
import { hex } from './helpers.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const entry = (i: number) => enc(`entry ${String(i).padStart(3, '0')}`); // 9 bytes each

const t = useCliServer('cairn-verify-edges-', { origin: 'edges.test/log' });
let cp: Checkpoint;

beforeAll(async () => {
  await t.client.addBatch(Array.from({ length: 260 }, (_, i) => entry(i)));
  cp = (await t.client.getCheckpoint()).checkpoint;
});

/** A client whose fetch answers through `edit`, which may replace the body of chosen answers. */
function tamperingClient(edit: (url: string, body: Uint8Array, init?: RequestInit) => Uint8Array | undefined): CairnClient {
  const f: FetchLike = async (url, init) => {
    const res = await fetch(url, init);
    const body = new Uint8Array(await res.arrayBuffer());
    const changed = edit(url, body, init) ?? body;
    return new Response(changed as unknown as BodyInit, { status: res.status, headers: res.headers });
  };
  return new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey, fetch: f });
}

const json = (b: Uint8Array) => JSON.parse(dec(b)) as Record<string, unknown>;
const bytes = (v: unknown) => enc(JSON.stringify(v));

test('the log under test: 260 entries, tiles 0/000, 0/001.p/4 and their bundles', async () => {
  expect(cp.treeSize).toBe(260);
  expect((await t.client.readEntryBundle(0, cp)).map(dec).slice(0, 2)).toEqual(['entry 000', 'entry 001']);
  expect((await t.client.readEntryBundle(1, cp)).map(dec)).toEqual(['entry 256', 'entry 257', 'entry 258', 'entry 259']);
  expect(dec((await t.client.getEntryFromTiles(0, cp)).entry)).toBe('entry 000');
});

describe('an entry bundle whose first entry was swapped for another of the same length', () => {
  /** Serves bundle `path` with its entry 0 replaced by `swap` (same length, so the bundle still parses at its width). */
  const swappingFirst = (path: RegExp, swap: Uint8Array) =>
    tamperingClient((url, body) => {
      if (!path.test(url)) return undefined;
      const entries = parseEntryBundle(body);
      expect(entries[0]!.length).toBe(swap.length);
      entries[0] = swap;
      return encodeEntryBundle(entries);
    });

  test('a full bundle: ENTRY_MISMATCH naming entry 0, from readEntryBundle and getEntryFromTiles', async () => {
    for (const swap of [entry(1), entry(999)]) {
      const c = swappingFirst(/\/tile\/entries\/000$/, swap);
      await expect(c.readEntryBundle(0, cp)).rejects.toMatchObject({ code: 'ENTRY_MISMATCH', message: expect.stringMatching(/tile\/entries\/000: entry 0 does not match its leaf hash/) });
      await expect(c.getEntryFromTiles(0, cp)).rejects.toMatchObject({ code: 'ENTRY_MISMATCH', message: expect.stringMatching(/: entry 0 does not match/) });
      // Any entry of the bundle is refused, not just the swapped one.
      await expect(c.getEntryFromTiles(5, cp)).rejects.toMatchObject({ code: 'ENTRY_MISMATCH' });
    }
  });

  test('a partial bundle: ENTRY_MISMATCH naming its first entry, 256', async () => {
    const c = swappingFirst(/\/tile\/entries\/001\.p\/4$/, entry(257));
    await expect(c.readEntryBundle(1, cp)).rejects.toMatchObject({ code: 'ENTRY_MISMATCH', message: expect.stringMatching(/: entry 256 does not match/) });
    await expect(c.getEntryFromTiles(256, cp)).rejects.toMatchObject({ code: 'ENTRY_MISMATCH' });
  });
});

describe('consistency from a tree of one leaf', () => {
  test("the genuine tree of size 1 (its root is leaf 0's hash) is extended by a non-empty proof, from the endpoint and from tiles", async () => {
    const one = { ...cp, treeSize: 1, rootHash: leafHash(entry(0)) };
    const api = await t.client.verifyConsistency(one, cp);
    const tiles = await t.client.verifyConsistency(one, cp, { fromTiles: true });
    expect(api.length).toBeGreaterThan(0);
    expect(tiles.map(hex)).toEqual(api.map(hex));
    expect(verifyConsistency(1, 260, one.rootHash, cp.rootHash, api)).toBe(true);
  });

  test('a tree of size 1 with another root is INCONSISTENT, from the endpoint and from tiles', async () => {
    for (const root of [leafHash(entry(999)), leafHash(entry(1)), new Uint8Array(32)]) {
      const other = { ...cp, treeSize: 1, rootHash: root };
      await expect(t.client.verifyConsistency(other, cp)).rejects.toMatchObject({ code: 'INCONSISTENT', message: expect.stringMatching(/^the log's consistency proof from tree size 1 \(root \S+\) to tree size 260 \(root \S+\) does not verify: /) });
      await expect(t.client.verifyConsistency(other, cp, { fromTiles: true })).rejects.toMatchObject({ code: 'INCONSISTENT', message: expect.stringMatching(/\(proof from tiles\)$/) });
    }
  });
});

describe('an empty audit path for a tree of more than one leaf', () => {
  const emptyPath = (endpoint: string) =>
    tamperingClient((url, body) => (url.includes(`/ct/v1/${endpoint}?`) ? bytes({ ...json(body), audit_path: [] }) : undefined));

  test('get-proof-by-hash: BAD_PROOF', async () => {
    const c = emptyPath('get-proof-by-hash');
    for (const i of [0, 1, 259]) {
      await expect(c.proveHash(leafHash(entry(i)), cp)).rejects.toMatchObject({ code: 'BAD_PROOF' });
    }
  });

  test('get-entry-and-proof: BAD_PROOF', async () => {
    const c = emptyPath('get-entry-and-proof');
    for (const i of [0, 1, 259]) {
      await expect(c.getEntry(i, cp)).rejects.toMatchObject({ code: 'BAD_PROOF' });
    }
  });

  test('for a tree of one leaf the empty path is the right one, and is accepted', async () => {
    const one = { ...cp, treeSize: 1, rootHash: leafHash(entry(0)) };
    expect((await t.client.proveHash(leafHash(entry(0)), one)).proof).toEqual([]);
    expect((await t.client.getEntry(0, one)).proof).toEqual([]);
    expect(verifyInclusion(leafHash(entry(0)), 0, 1, [], one.rootHash)).toBe(true);
  });
});

describe('a batch answer with a receipt too few or too many', () => {
  // Entries already logged: the log answers with duplicate receipts and does not grow.
  const logged = [entry(0), entry(1), entry(2)];
  const editReceipts = (edit: (receipts: unknown[]) => unknown[]) =>
    tamperingClient((url, body) => {
      if (!url.endsWith('/v1/batch')) return undefined;
      const r = json(body);
      return bytes({ ...r, receipts: edit(r.receipts as unknown[]) });
    });

  test('the genuine answer verifies', async () => {
    const batch = await t.client.addBatch(logged);
    expect(batch.receipts.map((r) => r.receipt.index)).toEqual([0, 1, 2]);
    expect(batch.checkpoint.checkpoint.treeSize).toBe(260);
  });

  test('the last receipt dropped: BAD_RESPONSE, 2 receipts for 3 entries', async () => {
    await expect(editReceipts((rs) => rs.slice(0, -1)).addBatch(logged)).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/2 receipts for 3 entries/) });
    await expect(editReceipts(() => []).addBatch(logged)).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/0 receipts for 3 entries/) });
  });

  test('one receipt too many: BAD_RESPONSE', async () => {
    await expect(editReceipts((rs) => [...rs, rs[0]]).addBatch(logged)).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/4 receipts for 3 entries/) });
  });
});

describe('a hash tile 32 bytes too long', () => {
  /** `body` with 32 more bytes: a copy of its first hash, or zeros. */
  const lengthen = (body: Uint8Array, zeros: boolean): Uint8Array => {
    const out = new Uint8Array(body.length + 32);
    out.set(body);
    if (!zeros) out.set(body.subarray(0, 32), body.length);
    return out;
  };
  /** Serves tile `path` 32 bytes longer. */
  const longer = (path: RegExp, zeros: boolean) => tamperingClient((url, body) => (path.test(url) ? lengthen(body, zeros) : undefined));
  /** A TileHashReader over the real tiles whose fetcher hands it tile `path` 32 bytes longer (no HTTP limit in between). */
  const longerReader = (path: RegExp, zeros: boolean) => {
    const real = new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey });
    return new TileHashReader(cp, {
      readTile: async (tile) => {
        const body = await real.readTile(tile);
        return path.test(formatTilePath(tile)) ? lengthen(body, zeros) : body;
      },
    });
  };

  for (const zeros of [false, true]) {
    const extra = zeros ? 'zeros' : 'a copy of its first hash';
    test(`the full tile 0/000 with ${extra} appended: BAD_RESPONSE (no tile at all), not a RangeError`, async () => {
      const c = longer(/\/tile\/0\/000$/, zeros);
      await expect(c.proveIndexFromTiles(5, cp)).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/tile\/0\/000: the answer is longer than the 8192 bytes/) });
      await expect(c.readEntryBundle(0, cp)).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
      await expect(c.getEntryFromTiles(0, cp)).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
      await expect(c.proveIndexFromTiles(5, cp, longerReader(/^tile\/0\/000$/, zeros))).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/tile\/0\/000 is 8224, then 8224 bytes, not 8192/) });
    });

    test(`the partial tiles 0/001.p/4 and 1/000.p/1 with ${extra} appended: BAD_RESPONSE`, async () => {
      await expect(longer(/\/tile\/0\/001\.p\/4$/, zeros).proveIndexFromTiles(257, cp)).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/is longer than the 128 bytes/) });
      await expect(longer(/\/tile\/0\/001\.p\/4$/, zeros).readEntryBundle(1, cp)).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
      await expect(longer(/\/tile\/1\/000\.p\/1$/, zeros).proveIndexFromTiles(5, cp)).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/is longer than the 32 bytes/) });
      const direct = new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey });
      await expect(direct.proveIndexFromTiles(257, cp, longerReader(/^tile\/0\/001\.p\/4$/, zeros))).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/is 160, then 160 bytes, not 128/) });
      await expect(direct.proveIndexFromTiles(5, cp, longerReader(/^tile\/1\/000\.p\/1$/, zeros))).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/is 64, then 64 bytes, not 32/) });
    });
  }
});
