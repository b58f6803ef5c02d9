// cairn add --resume: the receipts already in --receipts FILE are read and
// verified before anything is sent (each checkpoint signed by --vkey, each
// inclusion proof leading to its root, the log's checkpoint proved to extend
// every one of their trees), and each entry of the input that one of them
// is for (by leaf hash, one receipt for one entry) is neither sent nor
// receipted again. In-process against a fake log.
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { LeafCounts, MAX_RECEIPT_LINE_BYTES, readHeldReceipts } from '../../src/cli/add-resume.js';
import { ADD_USAGE, addCommand, processAdd, type AddProcess } from '../../src/cli/add.js';
import type { ReceiptsFile } from '../../src/cli/receipts-file.js';
import { canonicalizeJson } from '../../src/jcs/canonical.js';
import { leafHash } from '../../src/merkle/hash.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { openCheckpoint, signCheckpoint } from '../../src/note/checkpoint.js';
import { generateSignerKey, newSigner, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { TEST_ORIGIN, testVerifier } from '../helpers/keys.js';
import { enc, events, fakeAddProcess, hashOf, receiptsOf, stdinOf } from './add-lines.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest, send, sendTile } from './fake-log.js';

const t = fakeLogEachTest(600, 'cairn-add-resume-');

let fileNumber = 0;
/** A path in the suite's folder not used before. */
const freshPath = (name: string) => join(t.dir, `${fileNumber++}-${name}`);
const batchRequests = () => t.fake.requests.filter((p) => p === 'v1/batch').length;
/** A process for cairn add whose signals the test sends, receipts files opened as the real one opens them. */
const fakeProcess = (openReceipts: AddProcess['openReceipts'] = processAdd().openReceipts) => fakeAddProcess(openReceipts);

/** Runs cairn add with `args` (after --url and --vkey) on standard input `stdin`; its exit status and io. */
async function add(args: string[], stdin = '', proc: AddProcess = fakeProcess().proc) {
  const io = captureIo({ stdin });
  const status = await addCommand([...t.common, ...args], io, proc);
  return { status, io };
}

/** What the fake log was sent in batch requests from now on: each request's entries, as text. */
function recordSent() {
  const sent: string[][] = [];
  t.fake.hook = (path, _req, _res, body) => {
    if (path === 'v1/batch') sent.push((JSON.parse(new TextDecoder().decode(body)) as { entries: string[] }).entries.map((e) => new TextDecoder().decode(decodeBase64(e))));
    return false;
  };
  return sent;
}

/** The canonical text (RFC 8785) of JSON event `line`, as the log holds it. */
const canonical = (line: string) => new TextDecoder().decode(canonicalizeJson(enc(line)));

describe('an entry whose receipt is in FILE is neither sent nor receipted again', () => {
  test('a run stopped part way, resumed: only the entries without a receipt are sent, and FILE ends with one receipt for each entry, in input order', async () => {
    const receipts = freshPath('stopped.jsonl');
    const lines = events(10, 'stopped');
    // The first run got through 6 of the lines (as if killed after its second batch of 3).
    expect((await add(['--json-lines', '--batch-size', '3', '--receipts', receipts], stdinOf(lines.slice(0, 6)))).status).toBe(0);
    const sent = recordSent();
    const { status, io } = await add(['--json-lines', '--batch-size', '3', '--resume', '--json', '--receipts', receipts], stdinOf(lines));
    expect(status).toBe(0);
    expect(sent).toEqual([lines.slice(6, 9).map(canonical), lines.slice(9).map(canonical)]);
    const written = receiptsOf(await readFile(receipts, 'utf8'));
    expect(written.map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
    expect(written.map((r) => r.duplicate)).toEqual(Array<boolean>(10).fill(false));
    expect(JSON.parse(io.err().trim())).toMatchObject({ entries: 4, new: 4, duplicates: 0, already_receipted: 6, requests: 2, tree_size: 610 });
  });

  test('without --resume the same run sends every entry again, and FILE gets a second receipt of each (what --resume is for)', async () => {
    const receipts = freshPath('again.jsonl');
    const lines = events(4, 'again');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines.slice(0, 3)))).status).toBe(0);
    const sent = recordSent();
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines))).status).toBe(0);
    expect(sent).toEqual([lines.map(canonical)]);
    expect(receiptsOf(await readFile(receipts, 'utf8'))).toHaveLength(7);
  });

  test('everything receipted: nothing is sent, FILE is left as it was, exit 0, and the summary says so', async () => {
    const receipts = freshPath('all.jsonl');
    const lines = events(5, 'all');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines))).status).toBe(0);
    const before = await readFile(receipts, 'utf8');
    const requestsBefore = batchRequests();
    const { status, io } = await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf(lines));
    expect(status).toBe(0);
    expect(batchRequests()).toBe(requestsBefore);
    expect(await readFile(receipts, 'utf8')).toBe(before);
    const root = encodeBase64((await t.fake.head()).rootHash);
    expect(io.err()).toBe(
      `logged 0 entries (0 new, 0 already in the log before this run) in 0 requests; every receipt verified against ${TEST_ORIGIN} at tree size 605 (root ${root}), ` +
        `each batch's checkpoint proved to extend the one before; 5 entries already receipted in ${receipts}, not sent again (the 5 receipts there verified against ${TEST_ORIGIN}, ` +
        `the log's checkpoint of tree size 605 (root ${root}) proved to extend their tree, of size 605); receipts in ${receipts}\n`,
    );
  });

  test('--quiet: no summary; --json: "already_receipted" (0 without --resume)', async () => {
    const receipts = freshPath('quiet.jsonl');
    const lines = events(3, 'quiet');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines.slice(0, 2)))).status).toBe(0);
    const quiet = await add(['--json-lines', '--resume', '--quiet', '--receipts', receipts], stdinOf(lines));
    expect(quiet.status).toBe(0);
    expect(quiet.io.err()).toBe('');
    const plain = await add(['--json-lines', '--json'], stdinOf(events(2, 'plain')));
    expect(JSON.parse(plain.io.err().trim())).toMatchObject({ entries: 2, already_receipted: 0 });
  });

  test('FILEs, one entry each: a FILE whose receipt is there is not sent', async () => {
    const receipts = freshPath('files.jsonl');
    const a = freshPath('a.txt');
    const b = freshPath('b.txt');
    await writeFile(a, 'first file');
    await writeFile(b, 'second file');
    expect((await add(['--receipts', receipts, a])).status).toBe(0);
    const sent = recordSent();
    expect((await add(['--resume', '--receipts', receipts, a, b])).status).toBe(0);
    expect(sent).toEqual([['second file']]);
    expect(receiptsOf(await readFile(receipts, 'utf8')).map((r) => r.leaf_hash)).toEqual([a, b].map((_, i) => encodeBase64(leafHash(enc(['first file', 'second file'][i]!)))));
  });

  test('an entry matches by the leaf hash of what is logged: with --json-lines, the canonical form, however the line is written', async () => {
    const receipts = freshPath('canonical.jsonl');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(['{"b":1,"a":2}']))).status).toBe(0);
    const sent = recordSent();
    expect((await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf(['{ "a" : 2, "b" : 1.0 }', '{"c":3}']))).status).toBe(0);
    expect(sent).toEqual([['{"c":3}']]);
  });
});

describe('entries repeated in the input: each receipt stands for one entry', () => {
  test('FILE with one receipt of A: of A twice in the input, the second is sent (answered as a duplicate) and receipted, as an uninterrupted run would', async () => {
    const receipts = freshPath('repeat.jsonl');
    const [a, b, c] = events(3, 'repeat') as [string, string, string];
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf([a, b]))).status).toBe(0);
    const sent = recordSent();
    const { status, io } = await add(['--json-lines', '--resume', '--json', '--receipts', receipts], stdinOf([a, b, a, c]));
    expect(status).toBe(0);
    expect(sent).toEqual([[a, c].map(canonical)]);
    const written = receiptsOf(await readFile(receipts, 'utf8'));
    expect(written.map((r) => r.leaf_hash)).toEqual([a, b, a, c].map(hashOf));
    expect(written[2]).toMatchObject({ index: written[0]!.index, duplicate: true });
    expect(JSON.parse(io.err().trim())).toMatchObject({ entries: 2, new: 1, duplicates: 1, already_receipted: 2 });
  });

  test('FILE with both receipts of A: both are passed over', async () => {
    const receipts = freshPath('repeat-both.jsonl');
    const [a, b, c] = events(3, 'both') as [string, string, string];
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf([a, b, a]))).status).toBe(0);
    const sent = recordSent();
    expect((await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf([a, b, a, c]))).status).toBe(0);
    expect(sent).toEqual([[canonical(c)]]);
  });
});

describe('--stream and standard input', () => {
  test('--stream: lines with receipts are passed over as they are read', async () => {
    const receipts = freshPath('stream.jsonl');
    const lines = events(6, 'stream');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines.slice(0, 4)))).status).toBe(0);
    const sent = recordSent();
    const input = new PassThrough();
    input.end(stdinOf(lines));
    const io = { ...captureIo(), readStdinChunks: () => input };
    expect(await addCommand([...t.common, '--json-lines', '--stream', '--resume', '--json', '--receipts', receipts], io, fakeProcess().proc)).toBe(0);
    // Each line is a batch of its own: the flush waits (io.sleep) end at once here.
    expect(sent.flat()).toEqual(lines.slice(4).map(canonical));
    expect(JSON.parse(io.err().trim())).toMatchObject({ entries: 2, already_receipted: 4, stopped_by: null });
    expect(receiptsOf(await readFile(receipts, 'utf8')).map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
  });

  test('--stream stopped by a signal: the notice counts the lines passed over, and says which lines this run logged', async () => {
    const receipts = freshPath('stream-stop.jsonl');
    const lines = events(6, 'stream-stop');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines.slice(0, 2)))).status).toBe(0);
    const fake = fakeAddProcess(processAdd().openReceipts);
    // Lines 3 and 4 are new, 5 and 6 have receipts (from another run, say); then the producer waits, and a stop comes.
    const more = events(8, 'stream-stop').slice(6);
    await add(['--json-lines', '--receipts', receipts], stdinOf(more));
    const input = [lines[0]!, lines[1]!, lines[2]!, lines[3]!, ...more];
    async function* chunks() {
      yield enc(stdinOf(input));
      fake.signal('SIGTERM');
      await new Promise(() => undefined);
    }
    const io = { ...captureIo(), readStdinChunks: () => chunks() };
    expect(await addCommand([...t.common, '--json-lines', '--stream', '--resume', '--receipts', receipts], io, fake.proc)).toBe(0);
    expect(io.err()).toMatch(
      /^cairn add: stopped by SIGTERM: the 2 entries through <stdin>:4 were logged and their receipts written \(4 entries already receipted passed over\); no line after <stdin>:4 was logged by this run, and no more of the input was read\n/,
    );
  });
});

describe('a resumed run that fails part way', () => {
  test('its message counts the entries passed over with those this run logged, as a stop\'s notice does', async () => {
    const receipts = freshPath('failed.jsonl');
    const lines = events(8, 'failed');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines.slice(0, 4)))).status).toBe(0);
    let batches = 0;
    t.fake.hook = (path, _req, res) => {
      if (path !== 'v1/batch' || ++batches !== 2) return false;
      send(res, 400, { error: 'injected', code: 'BAD_REQUEST' });
      return true;
    };
    const { status, io } = await add(['--json-lines', '--batch-size', '2', '--resume', '--receipts', receipts], stdinOf(lines));
    expect(status).toBe(2);
    expect(io.err()).toMatch(
      new RegExp(
        '^cairn add: POST \\S+/v1/batch: 400 BAD_REQUEST: injected \\(the 2 entries before <stdin>:7 were logged and their receipts written \\(4 entries already receipted passed over\\); ' +
          '<stdin>:7 and the lines after it were not logged: feed the lines from <stdin>:7 on to cairn add again \\(it cannot read them twice itself\\); ' +
          `or feed it all of the input again: --resume sends only what has no receipt in ${receipts}\\)\\n$`,
      ),
    );

    // With --stream, a bad line after lines passed over, none logged by this run.
    t.fake.hook = undefined;
    const input = new PassThrough();
    input.end(`${stdinOf(lines.slice(0, 2))}{bad\n`);
    const streamIo = { ...captureIo(), readStdinChunks: () => input };
    expect(await addCommand([...t.common, '--json-lines', '--stream', '--resume', '--receipts', receipts], streamIo, fakeProcess().proc)).toBe(2);
    expect(streamIo.err()).toMatch(/^cairn add: <stdin>:3: not an I-JSON value: .* \(nothing was logged \(2 entries already receipted passed over\); that line and the lines after it were not logged: cairn add read no further\)\n$/);
  });
});

describe('a run with --receipts FILE that fails part way says what --resume makes of all of the input sent again', () => {
  /** Refuses the `nth` batch request from now on (400), as the log refuses one. */
  const refuseBatch = (nth: number) => {
    let batches = 0;
    t.fake.hook = (path, _req, res) => {
      if (path !== 'v1/batch' || ++batches !== nth) return false;
      send(res, 400, { error: 'injected', code: 'BAD_REQUEST' });
      return true;
    };
  };

  test('standard input: feeding it all of the lines again with --resume, as the message says, sends only those without a receipt', async () => {
    const receipts = freshPath('advice.jsonl');
    const lines = events(6, 'advice');
    refuseBatch(2);
    const { status, io } = await add(['--json-lines', '--batch-size', '2', '--receipts', receipts], stdinOf(lines));
    expect(status).toBe(2);
    expect(io.err()).toMatch(
      new RegExp(
        '^cairn add: POST \\S+/v1/batch: 400 BAD_REQUEST: injected \\(the 2 entries before <stdin>:3 were logged and their receipts written; ' +
          '<stdin>:3 and the lines after it were not logged: feed the lines from <stdin>:3 on to cairn add again \\(it cannot read them twice itself\\); ' +
          `or feed it all of the input again with --resume, which sends only what has no receipt in ${receipts}\\)\\n$`,
      ),
    );
    const sent = recordSent();
    expect((await add(['--json-lines', '--batch-size', '2', '--resume', '--quiet', '--receipts', receipts], stdinOf(lines))).status).toBe(0);
    expect(sent).toEqual([lines.slice(2, 4).map(canonical), lines.slice(4).map(canonical)]);
    expect(receiptsOf(await readFile(receipts, 'utf8')).map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));

    // With --stream, the same.
    refuseBatch(2);
    const streamed = await add(['--json-lines', '--stream', '--batch-size', '2', '--receipts', freshPath('streamed.jsonl')], stdinOf(events(6, 'advice-stream')));
    expect(streamed.status).toBe(2);
    expect(streamed.io.err()).toMatch(/: feed the lines from <stdin>:\d+ on to cairn add again \(it cannot read them twice itself\); or feed it all of the input again with --resume, which sends only what has no receipt in \S+streamed\.jsonl\)\n$/);
  });

  test('a FILE: running the same cairn add again, with --resume added if it was not given; receipts on standard output: no word of --resume', async () => {
    const file = freshPath('advice-input.jsonl');
    await writeFile(file, stdinOf(events(6, 'advice-file')));
    const receipts = freshPath('advice-file.jsonl');
    const notLogged = `${file}:3 and the lines after it were not logged: run the same cairn add again`;
    refuseBatch(2);
    const first = await add(['--json-lines', '--batch-size', '2', '--receipts', receipts, file]);
    expect(first.status).toBe(2);
    expect(first.io.err()).toContain(` (the 2 entries before ${file}:3 were logged and their receipts written; ${notLogged}; add --resume for it to send only what has no receipt in ${receipts})\n`);
    refuseBatch(2);
    const resumed = await add(['--json-lines', '--batch-size', '1', '--resume', '--receipts', receipts, file]);
    expect(resumed.status).toBe(2);
    expect(resumed.io.err()).toContain(`; ${notLogged.replace(':3', ':4')})\n`);
    refuseBatch(2);
    const stdout = await add(['--json-lines', '--batch-size', '2', file]);
    expect(stdout.status).toBe(2);
    expect(stdout.io.err()).toContain(`; ${notLogged})\n`);
  });
});

describe('FILE not there yet, or not one --resume can read', () => {
  test('a FILE not there yet: an ordinary run, which makes it (a cron job resuming from its first run)', async () => {
    const receipts = freshPath('new.jsonl');
    const lines = events(3, 'new');
    const { status, io } = await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf(lines));
    expect(status).toBe(0);
    expect(receiptsOf(await readFile(receipts, 'utf8')).map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
    expect(io.err()).toMatch(/; 0 entries already receipted in \S+new\.jsonl, not sent again; receipts in /);
  });

  test('an empty FILE: the same', async () => {
    const receipts = freshPath('empty.jsonl');
    await writeFile(receipts, '');
    expect((await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf(events(2, 'empty')))).status).toBe(0);
    expect(receiptsOf(await readFile(receipts, 'utf8'))).toHaveLength(2);
  });

  test('without --receipts FILE, or with standard output: exit 2, a usage error', async () => {
    for (const args of [['--resume'], ['--resume', '--receipts', '-']]) {
      const { status, io } = await add(['--json-lines', ...args], stdinOf(events(1, 'usage')));
      expect(status).toBe(2);
      expect(io.err()).toBe("cairn add: --resume needs --receipts FILE: it passes over the entries whose receipts are in FILE already\nRun 'cairn add --help' for its options.\n");
    }
    expect(batchRequests()).toBe(0);
  });

  test('a FIFO: exit 2 at once, without waiting for a reader of it', async () => {
    const fifo = freshPath('receipts.fifo');
    execFileSync('mkfifo', [fifo]);
    const { status, io } = await add(['--json-lines', '--resume', '--receipts', fifo], stdinOf(events(1, 'fifo')));
    expect(status).toBe(2);
    expect(io.err()).toContain(`--resume reads the receipts already in --receipts ${fifo} before anything is sent, so it must be a regular file, and ${fifo} is a FIFO`);
    expect(t.fake.requests).toEqual([]);
  });
});

describe('the receipts in FILE must be this log’s, and verify', () => {
  /** A receipts file of 3 entries of this log, and its lines. */
  async function written(name: string) {
    const receipts = freshPath(name);
    const lines = events(3, name);
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines))).status).toBe(0);
    const text = await readFile(receipts, 'utf8');
    return { receipts, lines, receiptLines: text.split('\n').filter((l) => l !== '') };
  }

  test("another log's receipts: exit 2, naming both logs, nothing sent", async () => {
    const { receipts, lines, receiptLines } = await written('other-log');
    const signer = newSigner(generateSignerKey('other.example/log'));
    const r = JSON.parse(receiptLines[1]!) as { checkpoint: string };
    const { checkpoint } = openCheckpoint(r.checkpoint, testVerifier);
    r.checkpoint = signCheckpoint({ ...checkpoint, origin: 'other.example/log' }, signer);
    await writeFile(receipts, `${receiptLines[0]}\n${JSON.stringify(r)}\n`);
    const requestsBefore = t.fake.requests.length;
    const { status, io } = await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf(lines));
    expect(status).toBe(2);
    expect(io.err()).toBe(
      `cairn add: ${receipts}:2: the receipt's checkpoint is of the log other.example/log, the key is for ${TEST_ORIGIN}: a receipt of another log, or the wrong key? ` +
        "(the checkpoint does not verify: no signature by a known key); --resume passes over only the entries that receipts signed by the log's key show logged: " +
        "give this log's receipts file, or its key; nothing was sent\n",
    );
    expect(t.fake.requests.length).toBe(requestsBefore);
  });

  test('--vkey another key of the same name: exit 2, naming the key IDs, nothing sent', async () => {
    const { receipts, lines } = await written('other-key');
    const stranger = verifierKeyFromSignerKey(generateSignerKey(TEST_ORIGIN));
    const requestsBefore = t.fake.requests.length;
    const io = captureIo({ stdin: stdinOf(lines) });
    expect(await addCommand(['--url', t.fake.url, '--vkey', stranger, '--json-lines', '--resume', '--receipts', receipts], io, fakeProcess().proc)).toBe(2);
    expect(io.err()).toMatch(new RegExp(`^cairn add: ${receipts}:1: the checkpoint does not verify: signed by ${TEST_ORIGIN} with key ID [0-9a-f]+, not by the key given \\(key ID [0-9a-f]+\\): .*nothing was sent\\n$`));
    expect(t.fake.requests.length).toBe(requestsBefore);
  });

  test("a receipt whose inclusion proof does not lead to its signed checkpoint's root (FILE changed): exit 1, nothing sent", async () => {
    const { receipts, lines, receiptLines } = await written('bad-proof');
    const r = JSON.parse(receiptLines[2]!) as { inclusion_proof: string[] };
    r.inclusion_proof[0] = encodeBase64(new Uint8Array(32));
    await writeFile(receipts, `${receiptLines[0]}\n${receiptLines[1]}\n${JSON.stringify(r)}\n`);
    const requestsBefore = t.fake.requests.length;
    const { status, io } = await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf(lines));
    expect(status).toBe(1);
    expect(io.err()).toBe(
      `cairn add: VERIFICATION FAILED (BAD_RECEIPT): ${receipts}:3: a receipt under a checkpoint that ${TEST_ORIGIN} signed does not prove its leaf hash: ` +
        `the inclusion proof does not lead from leaf 602 to the root of the tree of size 603 (was ${receipts} changed or damaged since it was written?); nothing was sent\n`,
    );
    expect(t.fake.requests.length).toBe(requestsBefore);
  });

  test('a line that is not a receipt: exit 2, naming it, nothing sent', async () => {
    for (const [line, why] of [
      ['hello', 'not JSON'],
      ['{"index":1}', '"leaf_hash" must be a base64 string'],
      ['[1,2]', 'a receipt must be a JSON object'],
    ] as const) {
      const { receipts, lines, receiptLines } = await written('not-receipt');
      await writeFile(receipts, `${receiptLines[0]}\n${line}\n${receiptLines[1]}\n`);
      const requestsBefore = t.fake.requests.length;
      const { status, io } = await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf(lines));
      expect(status).toBe(2);
      expect(io.err()).toBe(
        `cairn add: ${receipts}:2 is not a receipt (${why}): --resume reads FILE as cairn add writes it, one receipt a line; give the receipts file of this log, or leave out --resume; nothing was sent\n`,
      );
      expect(t.fake.requests.length).toBe(requestsBefore);
    }
  });

  test('two receipts under checkpoints of one tree size with different roots, both signed: exit 1 (the log signed two histories)', async () => {
    const receipts = freshPath('two-roots.jsonl');
    const [a] = events(1, 'two-roots') as [string];
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf([a]))).status).toBe(0);
    // The log rewrites an old entry: the same tree size, another root, and A's receipt again under it.
    t.fake.entries[0] = enc('rewritten');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf([a]))).status).toBe(0);
    const { status, io } = await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf([a]));
    expect(status).toBe(1);
    expect(io.err()).toMatch(new RegExp(`^cairn add: VERIFICATION FAILED \\(INCONSISTENT\\): the receipts at ${receipts}:1 and ${receipts}:2 are under two checkpoints of tree size 601 with different roots .*nothing was sent\\n$`));
  });
});

describe("the log's checkpoint must extend every one of the receipts' trees", () => {
  /**
   * `--resume` with FILE `receipts` and `input`, the log serving its tiles: exit 1, the receipt on FILE's first
   * line (under tree size `size`) named as one the log no longer extends, and no batch sent.
   */
  async function expectNotExtended(receipts: string, input: string[], size: number): Promise<void> {
    t.fake.hook = (path, _req, res) => sendTile(path, t.fake.entries, res);
    const requestsBefore = batchRequests();
    const { status, io } = await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf(input));
    expect(status).toBe(1);
    expect(io.err()).toMatch(
      new RegExp(`^cairn add: VERIFICATION FAILED \\(INCONSISTENT\\): the log does not show that it still holds what the receipts in ${receipts} prove: the log no longer extends the receipt's tree .*\\(the receipt ${receipts}:1 is under tree size ${size} .*nothing was sent\\n$`),
    );
    expect(batchRequests()).toBe(requestsBefore);
  }

  test('a log that no longer holds what the receipts prove (an old entry rewritten), its tiles showing it: exit 1, nothing sent', async () => {
    const receipts = freshPath('forked.jsonl');
    const lines = events(3, 'forked');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines.slice(0, 2)))).status).toBe(0);
    t.fake.entries[5] = enc('rewritten');
    t.fake.entries.push(enc('grown'));
    await expectNotExtended(receipts, lines, 602);
  });

  test('a receipt under a smaller tree the log no longer extends (it lost entries, then grew past the file\'s newest receipt): exit 1, its entry not passed over, nothing sent', async () => {
    const receipts = freshPath('lost.jsonl');
    const [a, b] = events(2, 'lost') as [string, string];
    // A is logged at index 600 (tree 601); the log then loses it (a restore from an old backup) and grows
    // again, and another run appends B's receipt, under a larger tree that does extend the log's.
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf([a]))).status).toBe(0);
    t.fake.entries.length = 600;
    t.fake.entries.push(enc('after the restore'), enc('and another'));
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf([b]))).status).toBe(0);
    await expectNotExtended(receipts, [a, b], 601);
  });

  test("the log's checkpoint is proved to extend the receipts' tree, and the batches' checkpoints to extend that one", async () => {
    const receipts = freshPath('extends.jsonl');
    const lines = events(3, 'extends');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines.slice(0, 2)))).status).toBe(0);
    t.fake.entries.push(enc('someone else'));
    const from = t.fake.requests.length;
    expect((await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf(lines))).status).toBe(0);
    // The checkpoint, again for the receipts' tree (tiles first, which this log does not serve, then its proof), the batch, its proof.
    expect(t.fake.requests.slice(from).filter((p) => !p.startsWith('tile/'))).toEqual([
      'checkpoint',
      'checkpoint',
      'ct/v1/get-sth-consistency?first=602&second=603',
      'v1/batch',
      'ct/v1/get-sth-consistency?first=603&second=604',
    ]);
  });
});

describe('receipts cut off (cairn add killed while writing one)', () => {
  test('a last line cut off: passed over with a notice, its entry sent again (a duplicate) and receipted on a line of its own; a later --resume reads FILE as it is then', async () => {
    const receipts = freshPath('torn.jsonl');
    const lines = events(4, 'torn');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines.slice(0, 3)))).status).toBe(0);
    const text = await readFile(receipts, 'utf8');
    const kept = text.split('\n').filter((l) => l !== '');
    // The third receipt's write was cut off 40 bytes in.
    await writeFile(receipts, `${kept[0]}\n${kept[1]}\n${kept[2]!.slice(0, 40)}`);
    const sent = recordSent();
    const { status, io } = await add(['--json-lines', '--resume', '--json', '--receipts', receipts], stdinOf(lines));
    expect(status).toBe(0);
    expect(io.err()).toContain(`cairn add: ${receipts}:3 is a receipt cut off (cairn add or the machine stopped while writing it): passed over; its entry is sent again, and the log answers it as a duplicate\n`);
    expect(sent).toEqual([lines.slice(2).map(canonical)]);
    expect(JSON.parse(io.err().trim().split('\n').pop()!)).toMatchObject({ entries: 2, new: 1, duplicates: 1, already_receipted: 2 });
    const after = (await readFile(receipts, 'utf8')).split('\n');
    expect(after[2]).toBe(kept[2]!.slice(0, 40));
    expect(receiptsOf(after.filter((_, i) => i !== 2).join('\n')).map((r) => r.leaf_hash)).toEqual(lines.map(hashOf));
    // Run again: the cut-off line is now in the middle of FILE, and passed over the same way; nothing is sent.
    const again = recordSent();
    const quiet = await add(['--json-lines', '--resume', '--quiet', '--receipts', receipts], stdinOf(lines));
    expect(quiet.status).toBe(0);
    expect(quiet.io.err()).toBe('');
    expect(again).toEqual([]);
  });

  test('NUL bytes where the last receipts were (the machine stopped before the file system wrote what cairn add had appended): passed over as cut off, their entries sent again, exit 0', async () => {
    const receipts = freshPath('zeroed.jsonl');
    const lines = events(4, 'zeroed');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines.slice(0, 3)))).status).toBe(0);
    const kept = (await readFile(receipts, 'utf8')).split('\n').filter((l) => l !== '');
    // The third receipt's bytes are zeros; and, as after a later run wrote on, the same with a line after it.
    for (const tail of ['', `\n${kept[2]}\n`]) {
      await writeFile(receipts, `${kept[0]}\n${kept[1]}\n${'\0'.repeat(kept[2]!.length + 1)}${tail}`);
      const sent = recordSent();
      const { status, io } = await add(['--json-lines', '--resume', '--json', '--receipts', receipts], stdinOf(lines));
      expect(status).toBe(0);
      expect(io.err()).toContain(`cairn add: ${receipts}:3 is a receipt cut off (cairn add or the machine stopped while writing it): passed over; its entry is sent again`);
      expect(sent).toEqual([(tail === '' ? lines.slice(2) : lines.slice(3)).map(canonical)]);
    }
  });

  test('a last line that is a whole receipt but for its line break: taken', async () => {
    const receipts = freshPath('no-newline.jsonl');
    const lines = events(2, 'no-newline');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines))).status).toBe(0);
    await writeFile(receipts, (await readFile(receipts, 'utf8')).trimEnd());
    const sent = recordSent();
    expect((await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf(lines))).status).toBe(0);
    expect(sent).toEqual([]);
  });

  test('a line too long for a receipt: exit 2, nothing sent', async () => {
    const receipts = freshPath('long.jsonl');
    await writeFile(receipts, `{"index":0,"x":"${'a'.repeat(MAX_RECEIPT_LINE_BYTES)}"}\n`);
    const { status, io } = await add(['--json-lines', '--resume', '--receipts', receipts], stdinOf(events(1, 'long')));
    expect(status).toBe(2);
    expect(io.err()).toContain(`${receipts}:1 is not a receipt (a line of more than ${MAX_RECEIPT_LINE_BYTES} bytes)`);
    expect(t.fake.requests).toEqual([]);
  });
});

test('a stop signal while FILE is read: nothing sent (exit 2; with --stream, 0)', async () => {
  const receipts = freshPath('stop.jsonl');
  const lines = events(3, 'stop');
  expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines.slice(0, 1)))).status).toBe(0);
  for (const stream of [false, true]) {
    let signal: (name: string) => void = () => undefined;
    const opening: AddProcess['openReceipts'] = async (path, wait) => {
      const { file, created } = await processAdd().openReceipts(path, wait);
      const reading: ReceiptsFile = {
        write: (...a) => file.write(...a),
        stat: () => file.stat(),
        truncate: (n) => file.truncate(n),
        datasync: () => file.datasync(),
        atPath: () => file.atPath!(),
        close: () => file.close(),
        read: async (...a) => {
          const got = await file.read(...a);
          signal('SIGTERM');
          return got;
        },
      };
      return { file: reading, created };
    };
    const fake = fakeAddProcess(opening);
    signal = fake.signal;
    const before = batchRequests();
    const input = new PassThrough();
    input.end(stdinOf(lines));
    const io = { ...captureIo({ stdin: stdinOf(lines) }), ...(stream ? { readStdinChunks: () => input } : {}) };
    const status = await addCommand([...t.common, '--json-lines', ...(stream ? ['--stream'] : []), '--resume', '--receipts', receipts], io, fake.proc);
    expect(status).toBe(stream ? 0 : 2);
    expect(io.err()).toBe(`cairn add: stopped by SIGTERM while reading the receipts in ${receipts}: nothing was sent\n`);
    expect(batchRequests()).toBe(before);
  }
});

test('--help tells of --resume', () => {
  expect(ADD_USAGE).toContain('--resume');
  expect(ADD_USAGE).toContain('already_receipted');
});

describe('readHeldReceipts', () => {
  test('blank lines are passed over; receipts are counted by leaf hash', async () => {
    const receipts = freshPath('blank.jsonl');
    const lines = events(2, 'blank');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines))).status).toBe(0);
    const [one, two] = (await readFile(receipts, 'utf8')).split('\n') as [string, string];
    await writeFile(receipts, `\n${one}\n  \n${two}\n${one}\n`);
    const { file } = await processAdd().openReceipts(receipts);
    try {
      const held = await readHeldReceipts(file, receipts, testVerifier, () => false);
      expect(held.receipts).toBe(3);
      expect(held.cutOff).toBeUndefined();
      expect(held.newest?.where).toBe(`${receipts}:2`);
      const leaf = (line: string) => leafHash(enc(canonical(line)));
      expect([held.counts.take(leaf(lines[0]!)), held.counts.take(leaf(lines[0]!)), held.counts.take(leaf(lines[0]!))]).toEqual([true, true, false]);
      expect(held.counts.left).toBe(1);
    } finally {
      await file.close();
    }
  });

  test('a receipts file in chunks: a line across reads is read whole', async () => {
    const receipts = freshPath('chunks.jsonl');
    const lines = events(3, 'chunks');
    expect((await add(['--json-lines', '--receipts', receipts], stdinOf(lines))).status).toBe(0);
    // Padding before the receipts puts a line across the first read's end (256 KiB).
    const text = await readFile(receipts, 'utf8');
    await writeFile(receipts, `${' '.repeat(256 * 1024 - 100)}\n${text}`);
    const { file } = await processAdd().openReceipts(receipts);
    try {
      expect((await readHeldReceipts(file, receipts, testVerifier, () => false)).receipts).toBe(3);
    } finally {
      await file.close();
    }
  });
});

describe('LeafCounts', () => {
  test('matches a Map of counts, through growth (property)', () => {
    const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(
      fc.property(fc.array(hash, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 3000 }), (pool, ops) => {
        const counts = new LeafCounts();
        const model = new Map<string, number>();
        const key = (h: Uint8Array) => encodeBase64(h);
        // Adds first (as readHeldReceipts does), then takes.
        for (const n of ops) {
          const h = pool[n % pool.length]!;
          counts.add(h);
          model.set(key(h), (model.get(key(h)) ?? 0) + 1);
        }
        for (const n of ops) {
          const h = pool[(n * 7) % pool.length]!;
          const has = (model.get(key(h)) ?? 0) > 0;
          expect(counts.take(h)).toBe(has);
          if (has) model.set(key(h), model.get(key(h))! - 1);
        }
        expect(counts.left).toBe([...model.values()].reduce((a, b) => a + b, 0));
      }),
    );
  });

  test('two leaf hashes alike in all but their last byte, or their first: a receipt for one is none for the other (an input could be made to match a receipt not its own by a birthday search on a truncated key)', () => {
    const a = leafHash(enc('held'));
    for (const at of [31, 16, 0]) {
      const b = Uint8Array.from(a);
      b[at]! ^= 1;
      const counts = new LeafCounts();
      counts.add(a);
      expect(counts.take(b)).toBe(false);
      expect(counts.left).toBe(1);
      expect(counts.take(a)).toBe(true);
    }
  });

  test('many distinct hashes (the table grows): each is found, and no other', () => {
    const counts = new LeafCounts();
    const n = 50_000;
    for (let i = 0; i < n; i++) counts.add(leafHash(enc(`held ${i}`)));
    expect(counts.left).toBe(n);
    let found = 0;
    for (let i = 0; i < n; i++) if (counts.take(leafHash(enc(`held ${i}`)))) found++;
    for (let i = 0; i < 1000; i++) expect(counts.take(leafHash(enc(`other ${i}`)))).toBe(false);
    expect(found).toBe(n);
    expect(counts.left).toBe(0);
  });
});
