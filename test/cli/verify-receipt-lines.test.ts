// cairn verify-receipt with a JSON Lines file that holds several receipts
// for one entry (appended by 'cairn add' to two logs, say): every receipt
// with the entry's leaf hash is tried, one that proves the entry for --vkey
// is enough, and when none does the first failure under this log's own
// checkpoint is told (else the first one's), with how many were tried. Offline: the receipts are made here.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyReceiptCommand } from '../../src/cli/verify-receipt.js';
import { leafHash } from '../../src/merkle/hash.js';
import { proveInclusion } from '../../src/merkle/proof.js';
import { buildStoredHashes, memoryHashReader } from '../../src/merkle/reader.js';
import { treeHash } from '../../src/merkle/tree.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { generateSignerKey, newSigner, verifierKeyFromSignerKey, type Signer } from '../../src/note/keys.js';
import { captureIo } from './client-io.js';

const enc = (s: string) => new TextEncoder().encode(s);
const ENTRY = enc('logged to two logs');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-verify-lines-'));
  await writeFile(join(dir, 'entry'), ENTRY);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Two logs of one origin with their own keys, as an operator who moved keys, or two logs a submitter uses. */
const keys = [generateSignerKey('lines.test/log'), generateSignerKey('lines.test/log')];
const logs = keys.map((k) => ({ signer: newSigner(k), vkey: verifierKeyFromSignerKey(k) }));

/** The receipt for ENTRY as leaf `at` of a log of `size` entries signed by `signer`. */
async function receiptFor(signer: Signer, at: number, size: number): Promise<object> {
  const entries = Array.from({ length: size }, (_, i) => (i === at ? ENTRY : enc(`other ${i}`)));
  const reader = memoryHashReader(buildStoredHashes(entries));
  const checkpoint = signCheckpoint({ origin: signer.name, treeSize: size, rootHash: await treeHash(size, reader), extensions: [] }, signer);
  return { index: at, leaf_hash: encodeBase64(leafHash(ENTRY)), checkpoint, inclusion_proof: (await proveInclusion(size, at, reader)).map(encodeBase64), duplicate: false };
}

async function verify(lines: (object | '')[], vkey: string, json = false) {
  const file = join(dir, 'receipts.jsonl');
  await writeFile(file, lines.map((l) => `${l === '' ? '' : JSON.stringify(l)}\n`).join(''));
  const io = captureIo();
  const code = await verifyReceiptCommand([file, '--entry', join(dir, 'entry'), '--vkey', vkey, ...(json ? ['--json'] : [])], io);
  return { code, out: io.out(), file };
}

test('the receipt that proves the entry for --vkey passes wherever it is in the file, after or before a receipt of another log', async () => {
  const first = await receiptFor(logs[0]!.signer, 3, 7);
  const second = await receiptFor(logs[1]!.signer, 1, 5);
  expect(await verify([second, first], logs[0]!.vkey)).toMatchObject({ code: 0, out: expect.stringMatching(/^valid: the entry is leaf 3 of lines\.test\/log in the signed tree of size 7 /) });
  expect(await verify([first, second], logs[0]!.vkey)).toMatchObject({ code: 0, out: expect.stringMatching(/^valid: the entry is leaf 3 .* size 7 /) });
  // The same file proves the entry in the other log with that log's key.
  expect(JSON.parse((await verify([first, second], logs[1]!.vkey, true)).out)).toMatchObject({ valid: true, index: 1, tree_size: 5 });
});

test('when no receipt for the entry proves it, the first failure under this log\'s own checkpoint is told (else the first), with how many were tried; with one, its failure alone', async () => {
  const stranger = newSigner(generateSignerKey('lines.test/log'));
  const a = await receiptFor(stranger, 2, 4);
  const b = { ...(await receiptFor(logs[0]!.signer, 3, 7)), index: 4 };
  const unrelated = { ...(await receiptFor(logs[0]!.signer, 0, 2)), leaf_hash: encodeBase64(leafHash(enc('another entry'))) };
  const two = await verify([unrelated, a, b], logs[0]!.vkey);
  expect(two.code).toBe(1);
  // b's checkpoint is this log's: its bad proof says more than a's checkpoint of another key.
  expect(two.out).toMatch(new RegExp(`^INVALID: none of the 2 receipts for this entry's leaf hash proves it; the first whose checkpoint this log signed, ${two.file.replace(/[.]/g, '\\.')}:3: the inclusion proof does not lead`));
  const b2 = { ...(await receiptFor(logs[0]!.signer, 1, 7)), index: 2 };
  const ours = await verify([b, b2], logs[0]!.vkey);
  expect(ours.out).toMatch(new RegExp(`^INVALID: none of the 2 receipts for this entry's leaf hash proves it; the first, whose checkpoint this log signed, ${ours.file.replace(/[.]/g, '\\.')}:1: the inclusion proof does not lead`));
  // FILE:N counts the file's lines, blank ones too.
  const spaced = await verify(['', unrelated, '', a, b], logs[0]!.vkey);
  expect(spaced.out).toMatch(new RegExp(`^INVALID: none of the 2 receipts .*, ${spaced.file.replace(/[.]/g, '\\.')}:5: the inclusion proof does not lead`));
  const strangers = await verify([a, await receiptFor(stranger, 1, 3)], logs[0]!.vkey);
  expect(strangers.out).toMatch(new RegExp(`^INVALID: none of the 2 receipts for this entry's leaf hash proves it; the first, ${strangers.file.replace(/[.]/g, '\\.')}:1: .*checkpoint does not verify`));
  const one = await verify([unrelated, b], logs[0]!.vkey);
  expect(one.code).toBe(1);
  expect(one.out).toMatch(/^INVALID: the inclusion proof does not lead/);
});

test("a receipt of another log than --vkey's names both origins: a receipt of another log, or the wrong key", async () => {
  const other = generateSignerKey('other.test/log');
  const receipt = await receiptFor(newSigner(other), 0, 1);
  const one = join(dir, 'other.json');
  await writeFile(one, JSON.stringify(receipt));
  const io = captureIo();
  expect(await verifyReceiptCommand([one, '--entry', join(dir, 'entry'), '--vkey', logs[0]!.vkey], io)).toBe(1);
  expect(io.out()).toBe(
    "INVALID: the receipt's checkpoint is of the log other.test/log, the key is for lines.test/log: a receipt of another log, or the wrong key? (the checkpoint does not verify: no signature by a known key)\n",
  );
  // In JSON Lines too.
  const { code, out } = await verify([receipt], logs[0]!.vkey);
  expect([code, out]).toEqual([1, expect.stringContaining("the receipt's checkpoint is of the log other.test/log, the key is for lines.test/log")]);
});

test('a JSON entry given without --jcs whose JCS form the receipt proves says to add --jcs; one that proves nothing either way does not', async () => {
  const signer = newSigner(keys[0]!);
  const event = enc('{"event":"login","user":"ann"}');
  const checkpoint = signCheckpoint({ origin: signer.name, treeSize: 1, rootHash: leafHash(event), extensions: [] }, signer);
  const receipt = { index: 0, leaf_hash: encodeBase64(leafHash(event)), checkpoint, inclusion_proof: [], duplicate: false };
  const pretty = join(dir, 'event.json');
  await writeFile(pretty, '{ "user": "ann", "event": "login" }\n');
  const one = join(dir, 'event-receipt.json');
  await writeFile(one, JSON.stringify(receipt));
  const lines = join(dir, 'event-receipts.jsonl');
  await writeFile(lines, `${JSON.stringify(await receiptFor(signer, 0, 2))}\n${JSON.stringify(receipt)}\n`);
  const hint = "; the receipt is for the entry's JCS form (RFC 8785: what the log stores for a JSON submission): add --jcs";
  for (const [file, reason] of [
    [one, "the entry does not have the receipt's leaf hash"],
    [lines, `none of the 2 receipts in ${lines} is for this entry's leaf hash`],
  ]) {
    const io = captureIo();
    expect(await verifyReceiptCommand([file!, '--entry', pretty, '--vkey', logs[0]!.vkey], io)).toBe(1);
    expect(io.out()).toBe(`INVALID: ${reason}${hint}\n`);
    const withJcs = captureIo();
    expect(await verifyReceiptCommand([file!, '--entry', pretty, '--jcs', '--vkey', logs[0]!.vkey], withJcs)).toBe(0);
  }
  // JSON whose JCS form is not the receipt's entry either: no hint.
  await writeFile(pretty, '{ "user": "bob" }');
  const io = captureIo();
  expect(await verifyReceiptCommand([one, '--entry', pretty, '--vkey', logs[0]!.vkey, '--json'], io)).toBe(1);
  expect(JSON.parse(io.out())).toEqual({ valid: false, reason: "the entry does not have the receipt's leaf hash" });
});
