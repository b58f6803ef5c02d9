// CairnClient against a real server on port 0 (src/cli/server.ts), and against
// the same server behind a fetch that tampers with chosen answers: each kind
// of tampering must be caught with its own error code.
import { CairnClient } from '../../src/client/client.js';
import type { FetchLike } from '../../src/client/http.js';
import { verifyReceipt } from '../../src/client/receipt.js';
import { encodeEntryBundle, parseEntryBundle } from '../../src/merkle/bundle.js';
import { EMPTY_ROOT, leafHash } from '../../src/merkle/hash.js';
import { treeHash } from '../../src/merkle/tree.js';
import { verifyConsistency, verifyInclusion } from '../../src/merkle/proof.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint, type Checkpoint } from '../../src/note/checkpoint.js';
import { generateSignerKey, newSigner, newVerifier, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { signTreeHead } from '../../src/note/sth.js';
import { useCliServer } from '../helpers/cli-server.js';
import { flip, hex } from './helpers.js';

const enc = (s: string) => new TextEncoder().encode(s);

const t = useCliServer('cairn-client-', { origin: 'client.test/log' });

/** A client whose fetch answers through `edit`, which may replace the body of chosen answers. */
function tamperingClient(edit: (url: string, body: Uint8Array, init?: RequestInit) => Uint8Array | undefined, extra: Partial<ConstructorParameters<typeof CairnClient>[0]> = {}): CairnClient {
  const f: FetchLike = async (url, init) => {
    const res = await fetch(url, init);
    const body = new Uint8Array(await res.arrayBuffer());
    const changed = edit(url, body, init) ?? body;
    return new Response(changed as unknown as BodyInit, { status: res.status, headers: res.headers });
  };
  return new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey, fetch: f, ...extra });
}

const json = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;
const bytes = (v: unknown) => enc(JSON.stringify(v));

test('a new log: verified checkpoint of size 0 and a matching signed tree head', async () => {
  const { checkpoint, note } = await t.client.getCheckpoint();
  expect(checkpoint.origin).toBe('client.test/log');
  expect(checkpoint.treeSize).toBe(0);
  expect(note).toMatch(/^client\.test\/log\n0\n/);
  const head = await t.client.getTreeHead();
  expect(head.treeSize).toBe(0);
  expect(hex(head.rootHash)).toBe(hex(checkpoint.rootHash));
  expect(await t.client.getLogInfo()).toMatchObject({ origin: 'client.test/log', verifierKey: t.server.verifierKey, treeSize: 0 });
});

test('entries, JSON and batches come back with receipts that verify, online and offline', async () => {
  const one = await t.client.addEntry(enc('first entry'));
  expect(one.receipt).toMatchObject({ index: 0, duplicate: false });
  expect(verifyReceipt(one.receipt, enc('first entry'), t.client.verifier)).toBe(true);
  expect(verifyReceipt(one.receipt, enc('first entrY'), t.client.verifier)).toBe(false);

  const js = await t.client.addJson({ b: 1, a: [true, null, 'x'] });
  expect(new TextDecoder().decode(js.entry)).toBe('{"a":[true,null,"x"],"b":1}');
  expect(js.receipt.index).toBe(1);
  // The same canonical bytes as octet-stream are the same entry (CONTRACT §1).
  const again = await t.client.addEntry(enc('{"a":[true,null,"x"],"b":1}'));
  expect(again.receipt).toMatchObject({ index: 1, duplicate: true });

  const entries = Array.from({ length: 598 }, (_, i) => enc(`batch entry ${i}`));
  entries.push(enc('first entry'), enc('batch entry 3')); // a logged one and an in-batch duplicate
  const batch = await t.client.addBatch(entries);
  expect(batch.checkpoint.checkpoint.treeSize).toBe(600);
  expect(batch.receipts.map((r) => r.receipt.index).slice(0, 3)).toEqual([2, 3, 4]);
  expect(batch.receipts[598]!.receipt).toMatchObject({ index: 0, duplicate: true });
  expect(batch.receipts[599]!.receipt).toMatchObject({ index: 5, duplicate: true });
  for (const [i, r] of batch.receipts.entries()) {
    expect(r.receipt.checkpoint).toBe(batch.checkpoint.note);
    if (i % 97 === 0 || i >= 598) expect(verifyReceipt(r.receipt, entries[i]!, t.client.verifier)).toBe(true);
  }
  await expect(t.client.addBatch([])).rejects.toThrow(RangeError);
  await expect(t.client.addEntry(new Uint8Array(0))).rejects.toThrow(RangeError);
});

test('proofs from the RFC 6962 endpoints and from authenticated tiles agree and verify', async () => {
  const { checkpoint } = await t.client.getCheckpoint();
  expect(checkpoint.treeSize).toBe(600);
  for (const index of [0, 1, 255, 256, 300, 511, 512, 599]) {
    const api = await t.client.getEntry(index, checkpoint);
    const tiles = await t.client.proveIndexFromTiles(index, checkpoint);
    expect(tiles.proof.map(hex)).toEqual(api.proof.map(hex));
    expect(hex(tiles.leafHash)).toBe(hex(leafHash(api.entry)));
    expect(verifyInclusion(api.leafHash, index, 600, api.proof, checkpoint.rootHash)).toBe(true);
    const byHash = await t.client.proveHash(api.leafHash, checkpoint);
    expect(byHash.index).toBe(index);
    const fromBundle = await t.client.getEntryFromTiles(index, checkpoint);
    expect(hex(fromBundle.entry)).toBe(hex(api.entry));
  }
  expect(new TextDecoder().decode((await t.client.getEntry(2)).entry)).toBe('batch entry 0');
  await expect(t.client.proveHash(leafHash(enc('never logged')))).rejects.toMatchObject({ code: 'HTTP_STATUS', status: 404 });
  await expect(t.client.getEntry(600, checkpoint)).rejects.toThrow(RangeError);

  // Bundles: every one, full and partial, verified against its level-0 tile.
  const all: string[] = [];
  for (let n = 0; n * 256 < 600; n++) all.push(...(await t.client.readEntryBundle(n, checkpoint)).map((e) => new TextDecoder().decode(e)));
  expect(all.length).toBe(600);
  expect(all[0]).toBe('first entry');
  expect(all[599]).toBe('batch entry 597');
  expect((await t.client.getEntries(0, 2)).map((e) => new TextDecoder().decode(e))).toEqual(['first entry', '{"a":[true,null,"x"],"b":1}', 'batch entry 0']);
});

test('consistency between checkpoints, from the endpoint and from tiles', async () => {
  const old = (await t.client.getCheckpoint()).checkpoint;
  await t.client.addBatch(Array.from({ length: 300 }, (_, i) => enc(`later ${i}`)));
  const now = (await t.client.getCheckpoint()).checkpoint;
  expect(now.treeSize).toBe(900);
  const api = await t.client.verifyConsistency(old, now);
  const tiles = await t.client.verifyConsistency(old, now, { fromTiles: true });
  expect(tiles.map(hex)).toEqual(api.map(hex));
  expect(verifyConsistency(600, 900, old.rootHash, now.rootHash, api)).toBe(true);
  expect(await t.client.verifyConsistency(now, now)).toEqual([]);
  await expect(t.client.verifyConsistency(now, old)).rejects.toMatchObject({ code: 'INCONSISTENT', message: expect.stringMatching(/shrank/) });
  const forked = { ...old, rootHash: flip(old.rootHash, 0) };
  await expect(t.client.verifyConsistency(forked, now)).rejects.toMatchObject({ code: 'INCONSISTENT' });
  await expect(t.client.verifyConsistency(forked, now, { fromTiles: true })).rejects.toMatchObject({ code: 'INCONSISTENT' });
  await expect(t.client.verifyConsistency(old, forked)).rejects.toMatchObject({ code: 'INCONSISTENT', message: expect.stringMatching(/fork/) });
});

test("what getCheckpoint() resolves to, given where a checkpoint is meant, is refused by name, as is anything else that is not one", async () => {
  const signed = await t.client.getCheckpoint();
  const wrong = signed as unknown as Checkpoint;
  const named = /must be a checkpoint \(\{ treeSize, rootHash \}\), not what getCheckpoint\(\) resolves to: pass its \.checkpoint/;
  await expect(t.client.verifyConsistency(signed.checkpoint, wrong)).rejects.toThrow(new RegExp(`^verifyConsistency: newer ${named.source}`));
  await expect(t.client.verifyConsistency(wrong, signed.checkpoint)).rejects.toThrow(new RegExp(`^verifyConsistency: older ${named.source}`));
  await expect(t.client.readEntryBundle(0, wrong)).rejects.toThrow(new RegExp(`^readEntryBundle: tree ${named.source}`));
  await expect(t.client.proveHash(new Uint8Array(32), wrong)).rejects.toThrow(TypeError);
  await expect(t.client.getEntry(0, wrong)).rejects.toThrow(/^getEntry: checkpoint must be a checkpoint/);
  await expect(t.client.proveIndexFromTiles(0, wrong)).rejects.toThrow(/^proveIndexFromTiles: checkpoint must be a checkpoint/);
  await expect(t.client.getEntryFromTiles(0, wrong)).rejects.toThrow(/^getEntryFromTiles: checkpoint must be a checkpoint/);
  expect(() => t.client.tileReader(wrong)).toThrow(/^tileReader: tree must be a checkpoint/);
  expect(() => t.client.tileReader({ treeSize: 1 } as unknown as Checkpoint)).toThrow(/^tileReader: tree must be a checkpoint \(\{ treeSize, rootHash \}\)$/);
  // The real checkpoint still works in each of them.
  expect((await t.client.readEntryBundle(0, signed.checkpoint)).length).toBeGreaterThan(0);
});

describe('a log that lies is caught', () => {
  test('a checkpoint or tree head signed by another key, or edited', async () => {
    const stranger = verifierKeyFromSignerKey(generateSignerKey('client.test/log'));
    const other = new CairnClient({ baseUrl: t.server.url, verifierKey: stranger });
    await expect(other.getCheckpoint()).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
    await expect(other.getTreeHead()).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
    const edited = tamperingClient((url, body) => (url.endsWith('/checkpoint') ? enc(new TextDecoder().decode(body).replace(/\n900\n/, '\n901\n')) : undefined));
    await expect(edited.getCheckpoint()).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
    const sth = tamperingClient((url, body) => (url.includes('get-sth') ? bytes({ ...json(body), timestamp: (json(body).timestamp as number) + 1 }) : undefined));
    await expect(sth.getTreeHead()).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
  });

  test('a receipt whose proof or leaf hash was changed', async () => {
    const c = tamperingClient((url, body, init) => {
      if (init?.method !== 'POST') return undefined;
      const r = json(body);
      if (url.endsWith('/v1/entries')) return bytes({ ...r, inclusion_proof: (r.inclusion_proof as string[]).map((p, i) => (i === 0 ? encodeBase64(flip(decodeBase64(p), 31)) : p)) });
      const receipts = (r.receipts as Record<string, unknown>[]).map((x, i) => (i === 1 ? { ...x, leaf_hash: encodeBase64(leafHash(enc('other'))) } : x));
      return bytes({ ...r, receipts });
    });
    await expect(c.addEntry(enc('tampered single'))).rejects.toMatchObject({ code: 'BAD_RECEIPT' });
    await expect(c.addBatch([enc('t1'), enc('t2'), enc('t3')])).rejects.toMatchObject({ code: 'BAD_RECEIPT', message: expect.stringMatching(/receipt 1/) });
  });

  test('proofs from the endpoints that do not lead to the signed root', async () => {
    const cp = (await t.client.getCheckpoint()).checkpoint;
    const changeProof = (field: string) =>
      tamperingClient((url, body) => {
        if (!url.includes('/ct/v1/get-') || url.includes('get-sth?') || url.endsWith('get-sth')) return undefined;
        const r = json(body);
        const list = r[field] as string[] | undefined;
        if (list === undefined) return undefined;
        return bytes({ ...r, [field]: list.map((p, i) => (i === list.length - 1 ? encodeBase64(flip(decodeBase64(p), 0, 3)) : p)) });
      });
    await expect(changeProof('audit_path').getEntry(17, cp)).rejects.toMatchObject({ code: 'BAD_PROOF' });
    await expect(changeProof('audit_path').proveHash(leafHash(enc('first entry')), cp)).rejects.toMatchObject({ code: 'BAD_PROOF' });
    const entry = tamperingClient((url, body) => (url.includes('get-entry-and-proof') ? bytes({ ...json(body), leaf_input: encodeBase64(enc('not it')) }) : undefined));
    await expect(entry.getEntry(17, cp)).rejects.toMatchObject({ code: 'BAD_PROOF' });
    const old = { ...cp, treeSize: 600, rootHash: (await t.client.getEntry(0, cp)).proof[0]! }; // any root: the proof must fail
    await expect(changeProof('consistency').verifyConsistency(old, cp)).rejects.toMatchObject({ code: 'INCONSISTENT' });
  });

  test("a batch receipt that carries a checkpoint other than the batch's is refused; the receipts kept carry the batch's", async () => {
    const older = (await t.client.getCheckpoint()).note;
    await t.client.addEntry(enc('a later entry'));
    const withOwn = (own: (batchNote: string) => string) =>
      tamperingClient((url, body) => {
        if (!url.endsWith('/v1/batch')) return undefined;
        const r = json(body);
        return bytes({ ...r, receipts: (r.receipts as Record<string, unknown>[]).map((x, i) => (i === 0 ? { ...x, checkpoint: own(r.checkpoint as string) } : x)) });
      });
    const entries = [enc('batch own 1'), enc('batch own 2')];
    await expect(withOwn(() => older).addBatch(entries)).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/receipt 0: "checkpoint" is not the batch's checkpoint/) });
    await expect(withOwn(() => 'garbage').addBatch(entries)).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
    // Its own copy of the batch's checkpoint is harmless.
    const batch = await withOwn((note) => note).addBatch(entries);
    for (const [i, r] of batch.receipts.entries()) {
      expect(r.receipt.checkpoint).toBe(batch.checkpoint.note);
      expect(verifyReceipt(r.receipt, entries[i]!, newVerifier(t.server.verifierKey))).toBe(true);
    }
  });

  test('an entry served by get-entry-and-proof must be 1 to 65,535 bytes', async () => {
    const cp = (await t.client.getCheckpoint()).checkpoint;
    const empty = tamperingClient((url, body) => (url.includes('get-entry-and-proof') ? bytes({ ...json(body), leaf_input: '' }) : undefined));
    await expect(empty.getEntry(17, cp)).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/"leaf_input" is 0 bytes, not 1 to 65535/) });
    const large = tamperingClient((url, body) => (url.includes('get-entry-and-proof') ? bytes({ ...json(body), leaf_input: encodeBase64(new Uint8Array(65536)) }) : undefined));
    await expect(large.getEntry(17, cp)).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/is 65536 bytes/) });
  });

  test('a flipped byte in a tile, or in an entry bundle, is caught before use, by readEntryBundle and verifyEntryBundle alike', async () => {
    const cp = (await t.client.getCheckpoint()).checkpoint;
    /** That reading bundle `n` through `c` rejects with `expected`, and so does verifying it. */
    const bundleFails = async (c: CairnClient, n: number, expected: Record<string, unknown>) => {
      await expect(c.readEntryBundle(n, cp)).rejects.toMatchObject(expected);
      await expect(c.verifyEntryBundle(n, cp)).rejects.toMatchObject(expected);
    };
    const badTile = tamperingClient((url, body) => (url.endsWith('/tile/0/001') ? flip(body, 100) : undefined));
    await expect(badTile.proveIndexFromTiles(300, cp)).rejects.toMatchObject({ code: 'TILE_MISMATCH' });
    await bundleFails(badTile, 1, { code: 'TILE_MISMATCH' });
    const old = { ...cp, treeSize: 300, rootHash: await treeHash(300, t.client.tileReader(cp)) };
    await expect(t.client.verifyConsistency(old, cp, { fromTiles: true })).resolves.toBeDefined();
    await expect(badTile.verifyConsistency(old, cp, { fromTiles: true })).rejects.toMatchObject({ code: 'TILE_MISMATCH' });
    const badBundle = tamperingClient((url, body) => (url.endsWith('/tile/entries/002') ? flip(body, body.length - 1) : undefined));
    await bundleFails(badBundle, 2, { code: 'ENTRY_MISMATCH', message: expect.stringMatching(/entry 767/) });
    // A bundle cut short is no bundle at all (a body cut off, say): BAD_RESPONSE, not evidence.
    const shortBundle = tamperingClient((url, body) => (url.endsWith('/tile/entries/000') ? body.subarray(0, body.length - 1) : undefined));
    await bundleFails(shortBundle, 0, { code: 'BAD_RESPONSE', message: expect.stringMatching(/tile\/entries\/000: the answer is not a bundle of 256 entries: entry 255 is truncated/) });
    // A different but well-formed bundle (as many entries as its width): the entries do not hash to the authenticated tile.
    const partial = /\/tile\/entries\/003\.p\/\d+$/;
    const others = tamperingClient((url, body) => (partial.test(url) ? encodeEntryBundle(parseEntryBundle(body).map(() => Uint8Array.of(0x41))) : undefined));
    await bundleFails(others, 3, { code: 'ENTRY_MISMATCH', message: expect.stringMatching(/entry 768 does not match/) });
    // One entry for a bundle of more: no bundle of its width at all.
    await bundleFails(tamperingClient((url) => (partial.test(url) ? Uint8Array.of(0, 1, 0x41) : undefined)), 3, { code: 'BAD_RESPONSE', message: expect.stringMatching(/not a bundle of \d+ entries: expected \d+ entries, got 1/) });
  });
});

test('verifyEntryBundle checks each bundle of the tree, full or partial, and resolves to how many entries it checked; a bundle past the tree, or a bad argument, is refused before any request', async () => {
  const { checkpoint: cp } = await t.client.getCheckpoint();
  const last = Math.floor((cp.treeSize - 1) / 256);
  expect(cp.treeSize % 256).not.toBe(0);
  const reader = t.client.tileReader(cp);
  for (let n = 0; n <= last; n++) {
    const width = n < last ? 256 : cp.treeSize % 256;
    expect(await t.client.verifyEntryBundle(n, cp, reader)).toBe(width);
    expect((await t.client.readEntryBundle(n, cp, reader)).length).toBe(width);
  }
  const requests: string[] = [];
  const counting = tamperingClient((url) => void requests.push(url));
  await expect(counting.verifyEntryBundle(last + 1, cp)).rejects.toThrow(new RangeError(`verifyEntryBundle: the tree of size ${cp.treeSize} has no entry bundle ${last + 1}`));
  await expect(counting.verifyEntryBundle(-1, cp)).rejects.toThrow(/^verifyEntryBundle: n must be a safe non-negative integer/);
  await expect(counting.verifyEntryBundle('0' as unknown as number, cp)).rejects.toThrow(TypeError);
  const another: Checkpoint = { ...cp, origin: 'another.test/log' };
  await expect(counting.verifyEntryBundle(0, another)).rejects.toThrow(/^verifyEntryBundle: tree is a checkpoint of another\.test\/log, not of this client's log client\.test\/log/);
  expect(requests).toEqual([]);
});

test('a signed tree head of size 0 must have the root SHA-256(""), whoever signed it', async () => {
  const skey = generateSignerKey('empty.test/log');
  const signer = newSigner(skey);
  const wrong: Checkpoint = { origin: 'empty.test/log', treeSize: 0, rootHash: new Uint8Array(32).fill(0xab), extensions: [] };
  const right: Checkpoint = { ...wrong, rootHash: EMPTY_ROOT };
  const serving = (checkpoint: Checkpoint) => {
    const sth = signTreeHead({ treeSize: 0, timestamp: 1_700_000_000_000, rootHash: checkpoint.rootHash }, signer);
    const f: FetchLike = async (url) =>
      url.endsWith('/checkpoint') ? new Response(signCheckpoint(checkpoint, signer)) : new Response(JSON.stringify(sth), { headers: { 'Content-Type': 'application/json' } });
    return new CairnClient({ baseUrl: 'http://127.0.0.1:9', verifierKey: verifierKeyFromSignerKey(skey), fetch: f });
  };
  const liar = serving(wrong);
  await expect(liar.getCheckpoint()).rejects.toMatchObject({ code: 'INCONSISTENT', message: 'the signed checkpoint is of size 0 with a root other than SHA-256("")' });
  await expect(liar.getTreeHead()).rejects.toMatchObject({ code: 'INCONSISTENT', message: 'the signed tree head is of size 0 with a root other than SHA-256("")' });
  await expect(liar.verifyConsistency(wrong, wrong)).rejects.toMatchObject({ code: 'INCONSISTENT' });
  const honest = serving(right);
  expect((await honest.getCheckpoint()).checkpoint.treeSize).toBe(0);
  expect((await honest.getTreeHead()).treeSize).toBe(0);
  await expect(honest.verifyConsistency(right, right)).resolves.toEqual([]);
});

test('503 answers are retried after their Retry-After, then reported', async () => {
  let refusals = 2;
  const waits: number[] = [];
  const f: FetchLike = async (url, init) => {
    if (init?.method === 'POST' && refusals > 0) {
      refusals--;
      return new Response(JSON.stringify({ error: 'queue full', code: 'QUEUE_FULL' }), { status: 503, headers: { 'Retry-After': '3', 'Content-Type': 'application/json' } });
    }
    return fetch(url, init);
  };
  const c = new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey, fetch: f, sleep: async (ms) => void waits.push(ms) });
  const r = await c.addEntry(enc('after two refusals'));
  expect(waits).toEqual([3000, 3000]);
  expect(verifyReceipt(r.receipt, enc('after two refusals'), c.verifier)).toBe(true);

  refusals = 10;
  waits.length = 0;
  const impatient = new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey, fetch: f, maxRetries: 3, sleep: async (ms) => void waits.push(ms) });
  await expect(impatient.addEntry(enc('never'))).rejects.toMatchObject({ code: 'HTTP_STATUS', status: 503, serverCode: 'QUEUE_FULL', retryAfter: 3 });
  expect(waits).toEqual([3000, 3000, 3000]);
});

test('operational failures are not verification failures', async () => {
  const down = new CairnClient({ baseUrl: 'http://127.0.0.1:9', verifierKey: t.server.verifierKey });
  const err = await down.getCheckpoint().catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'NETWORK', isVerificationFailure: false });
  const garbage = tamperingClient((url) => (url.includes('get-entry-and-proof') ? enc('<html>') : undefined));
  await expect(garbage.getEntry(0)).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
  await expect(t.client.getConsistencyProof(5, 1)).rejects.toMatchObject({ code: 'HTTP_STATUS', status: 400, serverCode: 'INVALID_PARAMETER' });
  expect(() => new CairnClient({ baseUrl: 'ftp://x', verifierKey: t.server.verifierKey })).toThrow(RangeError);
  expect(() => new CairnClient({ baseUrl: t.server.url, verifierKey: 'nonsense' })).toThrow(RangeError);
  expect(new CairnClient({ baseUrl: `${t.server.url}/`, verifierKey: newVerifier(t.server.verifierKey) }).baseUrl).toBe(t.server.url);
});

test("a 404 to /checkpoint asks whether the base URL is the log's (a proxy's prefix kept); a 404 elsewhere does not", async () => {
  for (const prefix of ['/cairn', '/cairn/', '/ct/v1']) {
    const wrong = new CairnClient({ baseUrl: `${t.server.url}${prefix}`, verifierKey: t.server.verifierKey });
    const err = await wrong.getCheckpoint().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'HTTP_STATUS', status: 404, serverCode: 'NOT_FOUND', url: `${wrong.baseUrl}/checkpoint` });
    expect((err as Error).message).toBe(`GET ${wrong.baseUrl}/checkpoint: 404 NOT_FOUND: no such resource; is ${wrong.baseUrl} the log's base URL (where /checkpoint is served)?`);
    // Every way a command fetches its first checkpoint goes through getCheckpoint.
    await expect(wrong.proveHash(new Uint8Array(32))).rejects.toThrow(/; is \S+ the log's base URL \(where \/checkpoint is served\)\?$/);
    await expect(wrong.getTreeHead()).rejects.toThrow(/: 404 NOT_FOUND: no such resource$/);
  }
  await expect(t.client.getCheckpoint()).resolves.toMatchObject({ checkpoint: { origin: 'client.test/log' } });
});

test('getCheckpoint({ cache }) passes the cache mode to fetch (reload: past the caches that honour no-cache); without it, none', async () => {
  const modes: (RequestCache | undefined)[] = [];
  const f: FetchLike = (url, init) => {
    modes.push(init?.cache);
    return fetch(url, init);
  };
  const client = new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey, fetch: f });
  const plain = await client.getCheckpoint();
  const fresh = await client.getCheckpoint({ cache: 'reload' });
  expect(fresh.note).toBe(plain.note);
  expect(modes).toEqual([undefined, 'reload']);
});

test('verifyConsistency with a shared tile reader against the newer tree reads each tile once for many older trees; a reader of another tree is refused', async () => {
  await t.client.addBatch(Array.from({ length: 40 }, (_, i) => enc(`shared reader ${i}`)));
  const olders = [(await t.client.getCheckpoint()).checkpoint];
  for (let i = 0; i < 2; i++) {
    await t.client.addEntry(enc(`shared reader later ${i}`));
    olders.push((await t.client.getCheckpoint()).checkpoint);
  }
  await t.client.addBatch([enc('shared reader last')]);
  const newer = (await t.client.getCheckpoint()).checkpoint;
  const tiles: string[] = [];
  const f: FetchLike = (url, init) => {
    if (url.includes('/tile/')) tiles.push(new URL(url).pathname);
    return fetch(url, init);
  };
  const client = new CairnClient({ baseUrl: t.server.url, verifierKey: t.server.verifierKey, fetch: f });
  const reader = client.tileReader(newer);
  for (const older of olders) {
    const proof = await client.verifyConsistency(older, newer, { fromTiles: true, reader });
    expect(proof.map(hex)).toEqual((await t.client.verifyConsistency(older, newer)).map(hex));
  }
  expect(tiles.length).toBeGreaterThan(0);
  expect(tiles).toEqual([...new Set(tiles)]);
  // Without it, each check reads the tiles again.
  tiles.length = 0;
  for (const older of olders) await client.verifyConsistency(older, newer, { fromTiles: true });
  expect(tiles.length).toBeGreaterThan(new Set(tiles).size);

  await expect(client.verifyConsistency(olders[0]!, olders[2]!, { fromTiles: true, reader })).rejects.toThrow(/options\.reader reads another tree than newer \(size \d+, not \d+\)/);
  await expect(client.verifyConsistency(olders[0]!, { ...newer, rootHash: flip(newer.rootHash, 0) }, { fromTiles: true, reader })).rejects.toThrow(RangeError);
  await expect(client.verifyConsistency(olders[0]!, newer, { reader })).rejects.toThrow(/give fromTiles: true with it/);
});
