// cairn verify-receipt reads a receipts file a line at a time: a line that is
// not JSON (a receipt cut off by a kill -9 or a full disk while 'cairn add'
// wrote it) is skipped and told only when no receipt proves the entry, and a
// file far larger than the process may hold is checked all the same, from a
// regular file (read for the leaf hash, then again in full on a failure) and
// from a FIFO or standard input (read once). Offline: the receipts are made here.
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliIo } from '../../src/cli/client-common.js';
import { HELD_LIMIT, verifyReceiptCommand } from '../../src/cli/verify-receipt.js';
import { leafHash } from '../../src/merkle/hash.js';
import { proveInclusion } from '../../src/merkle/proof.js';
import { buildStoredHashes, memoryHashReader } from '../../src/merkle/reader.js';
import { treeHash } from '../../src/merkle/tree.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { generateSignerKey, newSigner, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { CLI } from '../helpers/server-process.js';
import { captureIo } from './client-io.js';

const enc = (s: string) => new TextEncoder().encode(s);
const ENTRY = enc('kept in a long receipts file');
const key = generateSignerKey('stream.test/log');
const signer = newSigner(key);
const vkey = verifierKeyFromSignerKey(key);
let dir: string;
let fileNumber = 0;
const freshPath = (name: string) => join(dir, `${fileNumber++}-${name}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-verify-stream-'));
  await writeFile(join(dir, 'entry'), ENTRY);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The receipt for `entry` as leaf `at` of a log of `size` entries, as the line 'cairn add' writes. */
async function receiptLine(entry: Uint8Array, at: number, size: number): Promise<string> {
  const entries = Array.from({ length: size }, (_, i) => (i === at ? entry : enc(`other ${i}`)));
  const reader = memoryHashReader(buildStoredHashes(entries));
  const checkpoint = signCheckpoint({ origin: signer.name, treeSize: size, rootHash: await treeHash(size, reader), extensions: [] }, signer);
  const proof = (await proveInclusion(size, at, reader)).map(encodeBase64);
  return JSON.stringify({ index: at, leaf_hash: encodeBase64(leafHash(entry)), checkpoint, inclusion_proof: proof, duplicate: false });
}

/** What a kill -9 or a full disk leaves of a receipt line: its first bytes, closed by the newline 'cairn add' writes before its next receipt. */
const cutOff = (line: string) => line.slice(0, Math.floor(line.length / 2));

async function verify(lines: string[], json = false) {
  const file = freshPath('receipts.jsonl');
  await writeFile(file, lines.map((l) => `${l}\n`).join(''));
  const io = captureIo();
  const code = await verifyReceiptCommand([file, '--entry', join(dir, 'entry'), '--vkey', vkey, ...(json ? ['--json'] : [])], io);
  return { code, out: io.out(), err: io.err(), file };
}

test('a line cut off by a crash, before or after the receipt that proves the entry, is skipped', async () => {
  const mine = await receiptLine(ENTRY, 3, 7);
  const other = await receiptLine(enc('another entry'), 1, 4);
  for (const lines of [[cutOff(other), mine], [mine, cutOff(other)], [other, cutOff(mine), '', mine, cutOff(other)]]) {
    expect(await verify(lines)).toMatchObject({ code: 0, out: expect.stringMatching(/^valid: the entry is leaf 3 of stream\.test\/log in the signed tree of size 7 /), err: '' });
  }
  expect(JSON.parse((await verify([cutOff(mine), mine], true)).out)).toEqual({ valid: true, index: 3, tree_size: 7, root_hash: expect.any(String), origin: 'stream.test/log' });
});

test('a byte order mark at the start of a later line (files joined with cat) does not hide the receipt on it', async () => {
  const mine = await receiptLine(ENTRY, 3, 7);
  const other = await receiptLine(enc('another entry'), 1, 4);
  expect(await verify([other, `\uFEFF${mine}`])).toMatchObject({ code: 0, out: expect.stringMatching(/^valid: the entry is leaf 3 of stream\.test\/log in the signed tree of size 7 /), err: '' });
});

test('when no receipt proves the entry, the failure says how many lines were skipped, and names the first', async () => {
  const mine = await receiptLine(ENTRY, 3, 7);
  const other = await receiptLine(enc('another entry'), 1, 4);
  const note = (file: string, count: string, list: string) => `; skipped ${count} not JSON (${list.replace(/F/g, file)}), such as a receipt cut off by a crash or a full disk\n`;
  // This entry's receipt is the one cut off: what is left is another entry's.
  const lost = await verify([other, cutOff(mine)]);
  expect(lost).toMatchObject({ code: 1, err: '' });
  expect(lost.out).toBe(`INVALID: the one receipt in ${lost.file} is not for this entry's leaf hash${note(lost.file, '1 line that is', 'F:2')}`);
  // A receipt for the entry that does not prove it: its failure, then the skipped lines, also in --json's reason.
  const wrong = JSON.stringify({ ...JSON.parse(mine), index: 4 });
  const failed = await verify([cutOff(other), '', cutOff(other), wrong, cutOff(other), cutOff(mine), cutOff(other)], true);
  expect(failed.code).toBe(1);
  expect(JSON.parse(failed.out)).toEqual({ valid: false, reason: `the inclusion proof does not lead from leaf 4 to the root of the tree of size 7${note(failed.file, '5 lines that are', 'F:1, F:3, F:5, ...').trimEnd()}` });
});

test('a later line too long to be a receipt is counted among the skipped lines too, apart from those that are not JSON', async () => {
  const mine = await receiptLine(ENTRY, 3, 7);
  const other = await receiptLine(enc('another entry'), 1, 4);
  const failed = await verify([other, cutOff(mine), 'x'.repeat(HELD_LIMIT + 1)]);
  expect([failed.code, failed.err]).toEqual([1, '']);
  expect(failed.out).toBe(
    `INVALID: the one receipt in ${failed.file} is not for this entry's leaf hash; skipped 1 line that is not JSON (${failed.file}:2), such as a receipt cut off by a crash or a full disk; skipped 1 line longer than ${HELD_LIMIT} bytes, more than any receipt (${failed.file}:3)\n`,
  );
});

test('input that holds no receipt is exit 2 with what it is, not a usage hint', async () => {
  const mine = await receiptLine(ENTRY, 3, 7);
  const one = await verify([cutOff(mine)]);
  expect([one.code, one.out, one.err]).toEqual([2, '', `cairn verify-receipt: ${one.file} is not JSON\n`]);
  const two = await verify([cutOff(mine), 'not json either']);
  expect([two.code, two.err]).toEqual([2, `cairn verify-receipt: none of the 2 lines of ${two.file} is a receipt (${two.file}:1 is not JSON)\n`]);
  // One line, too long to be held as one JSON value: it is still the one line.
  const long = await verify(['x'.repeat(HELD_LIMIT + 1)]);
  expect([long.code, long.err]).toEqual([2, `cairn verify-receipt: the one line of ${long.file} is not a receipt (${long.file}:1 is longer than ${HELD_LIMIT} bytes, more than any receipt)\n`]);
  const none = await verify(['', '  ']);
  expect([none.code, none.err]).toEqual([2, `cairn verify-receipt: ${none.file} is empty: it holds no receipt\n`]);
});

test('the leaf hash is found however a JSON writer spelled it: "/" escaped as "\\/", letters as \\u escapes', async () => {
  // An entry whose leaf hash's base64 holds a "/".
  let entry = enc('');
  for (let i = 0; !encodeBase64(leafHash(entry)).includes('/'); i++) entry = enc(`slash ${i}`);
  const file = freshPath('entry');
  await writeFile(file, entry);
  const line = await receiptLine(entry, 2, 5);
  const other = await receiptLine(enc('another entry'), 1, 4);
  const slashes = line.replace(/\//g, '\\/');
  const leaf = encodeBase64(leafHash(entry));
  const unicode = line.replace(`"leaf_hash":"${leaf}"`, `"leaf_hash":"${[...leaf].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`);
  expect(unicode).not.toBe(line);
  for (const spelled of [slashes, unicode]) {
    const receipts = freshPath('receipts.jsonl');
    await writeFile(receipts, `${other}\n${spelled}\n`);
    const io = captureIo();
    expect([await verifyReceiptCommand([receipts, '--entry', file, '--vkey', vkey], io), io.err()]).toEqual([0, '']);
    expect(io.out()).toMatch(/^valid: the entry is leaf 2 /);
  }
});

test('standard input is read as it comes, in chunks that split lines anywhere, not held whole', async () => {
  const mine = await receiptLine(ENTRY, 3, 7);
  const other = await receiptLine(enc('another entry'), 1, 4);
  const run = async (text: Uint8Array, size: number) => {
    const captured = captureIo();
    const io: CliIo = {
      ...captured,
      readStdin: () => Promise.reject(new Error('standard input was read whole')),
      async *readStdinChunks() {
        for (let at = 0; at < text.length; at += size) yield text.subarray(at, at + size);
      },
    };
    const code = await verifyReceiptCommand(['-', '--entry', join(dir, 'entry'), '--vkey', vkey], io);
    return [code, captured.out(), captured.err()];
  };
  // A byte order mark is dropped, as for a file: the receipt after it is read.
  const found = enc(`\u{feff}${mine}\n${cutOff(other)}\n\n${other}\n`);
  const lost = enc(`${other}\n${cutOff(mine)}\n\n${cutOff(other)}`);
  for (const size of [1, 2, 7, 1000, found.length]) {
    expect(await run(found, size)).toEqual([0, expect.stringMatching(/^valid: the entry is leaf 3 /), '']);
    expect(await run(lost, size)).toEqual([
      1,
      "INVALID: the one receipt in - is not for this entry's leaf hash; skipped 2 lines that are not JSON (-:2, -:4), such as a receipt cut off by a crash or a full disk\n",
      '',
    ]);
  }
});

/**
 * Runs the real `cairn verify-receipt` with a JavaScript heap of `heapMiB`,
 * far less than the receipts file it reads, so that one holding the file (as
 * a string, or as parsed lines) runs out of memory and dies.
 */
function runSmall(args: string[], heapMiB: number): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${heapMiB}`, CLI, 'verify-receipt', ...args, '--entry', join(dir, 'entry'), '--vkey', vkey], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Resolves once `writer` drained, or failed. */
function drained(writer: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      writer.off('drain', done);
      writer.off('error', done);
      resolve();
    };
    writer.on('drain', done);
    writer.on('error', done);
  });
}

/** MiB of receipts of other entries, a line each, as one buffer written again and again. */
const FILLER_MIB = 64;
const HEAP_MIB = 32;

async function fillerBlock(): Promise<Buffer> {
  const other = `${await receiptLine(enc('another entry'), 1, 4)}\n`;
  return Buffer.from(other.repeat(Math.ceil((1024 * 1024) / other.length)));
}

test('a receipts file twice the size of the heap is checked: its lines are read one at a time, none held', async () => {
  const mine = await receiptLine(ENTRY, 3, 7);
  const block = await fillerBlock();
  const file = freshPath('long.jsonl');
  const handle = await open(file, 'w');
  for (let i = 0; i < FILLER_MIB; i++) await handle.write(block);
  const cut = (await handle.stat()).size;
  await handle.write(`${mine}\n`);
  await handle.close();
  const found = await runSmall([file], HEAP_MIB);
  expect(found).toMatchObject({ code: 0, stdout: expect.stringMatching(/^valid: the entry is leaf 3 of stream\.test\/log/), stderr: '' });
  // With no receipt that proves the entry, the file is read again, in full (to tell the lines that are not JSON), in as little memory.
  const wrong = await open(file, 'r+');
  await wrong.truncate(cut);
  await wrong.write(`${JSON.stringify({ ...JSON.parse(mine), index: 4 })}\n`, cut);
  await wrong.close();
  const failed = await runSmall([file], HEAP_MIB);
  expect(failed).toMatchObject({ code: 1, stderr: '' });
  expect(failed.stdout).toBe('INVALID: the inclusion proof does not lead from leaf 4 to the root of the tree of size 7\n');
});

test('a FIFO of receipts twice the size of the heap is read once, in full', async () => {
  const block = await fillerBlock();
  const lines = FILLER_MIB * (block.toString().split('\n').length - 1);
  const fifo = freshPath('fifo');
  execFileSync('mkfifo', [fifo]);
  const checked = runSmall([fifo], HEAP_MIB);
  const writer = createWriteStream(fifo);
  let broken = false;
  // A reader that died (of a full heap) ends the writing with EPIPE, and the test on its exit status.
  writer.on('error', () => (broken = true));
  for (let i = 0; i < FILLER_MIB && !broken; i++) {
    if (!writer.write(block)) await drained(writer);
  }
  writer.end();
  const result = await checked;
  expect(result).toMatchObject({ code: 1, stderr: '' });
  expect(result.stdout).toBe(`INVALID: none of the ${lines} receipts in ${fifo} is for this entry's leaf hash\n`);
});
