// cairn add / get / prove / verify-receipt, run in-process against a real
// server on port 0, with their exit statuses.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addCommand } from '../../src/cli/add.js';
import { getCommand } from '../../src/cli/get.js';
import { proveCommand } from '../../src/cli/prove.js';
import { verifyReceiptCommand } from '../../src/cli/verify-receipt.js';
import { leafHash } from '../../src/merkle/hash.js';
import { verifyInclusion } from '../../src/merkle/proof.js';
import { decodeBase64, encodeBase64 } from '../../src/note/base64.js';
import { openCheckpoint } from '../../src/note/checkpoint.js';
import { generateSignerKey, newVerifier, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { useCliServer } from '../helpers/cli-server.js';
import { captureIo, editingFetch } from './client-io.js';

const enc = (s: string) => new TextEncoder().encode(s);
const t = useCliServer('cairn-cli-client-', { origin: 'cli.test/log' });

const receiptLines = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { index: number; leaf_hash: string; checkpoint: string; inclusion_proof: string[]; duplicate: boolean });

test('every command explains itself with --help, including its exit statuses', async () => {
  for (const run of [addCommand, getCommand, proveCommand, verifyReceiptCommand]) {
    const io = captureIo();
    expect(await run(['--help'], io)).toBe(0);
    expect(io.out()).toMatch(/^usage: cairn [a-z-]+/);
    expect(io.out()).toMatch(/Exit status:\n  0 .*\n  1 .*\n/);
  }
  const io = captureIo();
  expect(await addCommand(['--bogus'], io)).toBe(2);
  expect(io.err()).toMatch(/cairn add: .*bogus/);
});

test('cairn add: files become entries, receipts go to --receipts and each one verifies offline', async () => {
  const files = ['a.txt', 'b.bin', 'c.txt'].map((f) => join(t.dir, f));
  await writeFile(files[0]!, 'hello cairn\n');
  await writeFile(files[1]!, Uint8Array.of(0, 1, 2, 255));
  await writeFile(files[2]!, 'hello cairn\n'); // a duplicate of the first
  const receipts = join(t.dir, 'r.jsonl');
  const io = captureIo();
  expect(await addCommand([...t.common, '--receipts', receipts, ...files], io)).toBe(0);
  expect(io.out()).toBe('');
  // The third is a copy of the first, logged by this run: none was in the log before it, and 2 are new.
  expect(io.err()).toMatch(/logged 3 entries \(2 new, 0 already in the log before this run, 1 repeating an earlier entry of this run's input\) in 1 request; every receipt verified against cli\.test\/log at tree size 2/);
  const lines = receiptLines(await readFile(receipts, 'utf8'));
  expect(lines.map((r) => [r.index, r.duplicate])).toEqual([[0, false], [1, false], [0, true]]);
  for (const [i, f] of files.entries()) {
    const cp = openCheckpoint(lines[i]!.checkpoint, newVerifier(t.server.verifierKey)).checkpoint;
    expect(verifyInclusion(leafHash(new Uint8Array(await readFile(f))), lines[i]!.index, cp.treeSize, lines[i]!.inclusion_proof.map(decodeBase64), cp.rootHash)).toBe(true);
    await writeFile(join(t.dir, `r${i}.json`), JSON.stringify(lines[i]));
    const v = captureIo();
    expect(await verifyReceiptCommand([join(t.dir, `r${i}.json`), '--entry', f, '--vkey', t.server.verifierKey], v)).toBe(0);
    expect(v.out()).toMatch(new RegExp(`^valid: the entry is leaf ${lines[i]!.index} of cli\\.test/log in the signed tree of size 2`));
  }
  // The whole JSON Lines file: the receipt for the entry is found by its leaf hash.
  const v = captureIo();
  expect(await verifyReceiptCommand([receipts, '--entry', files[1]!, '--vkey', t.server.verifierKey, '--json'], v)).toBe(0);
  expect(JSON.parse(v.out())).toMatchObject({ valid: true, index: 1, tree_size: 2, origin: 'cli.test/log' });
});

test('cairn add --json-lines: one JSON event per line, logged as JCS, in batches, receipts on stdout', async () => {
  const input = '{"b":2,"a":1}\n\n  \n{"event":"login","user":"ann"}\r\n[1, 2.50, "x"]\n{"event":"logout"}\n{"event":"late"}';
  const io = captureIo({ stdin: input });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '2', '--json'], io)).toBe(0);
  const lines = receiptLines(io.out());
  expect(lines.length).toBe(5);
  expect(JSON.parse(io.err().trim())).toMatchObject({ entries: 5, new: 5, duplicates: 0, requests: 3, origin: 'cli.test/log', receipts_verified: true });
  const get = captureIo();
  expect(await getCommand([...t.common, String(lines[0]!.index), '--raw'], get)).toBe(0);
  expect(new TextDecoder().decode(get.outBytes())).toBe('{"a":1,"b":2}');
  const get2 = captureIo();
  expect(await getCommand([...t.common, String(lines[2]!.index), '--raw'], get2)).toBe(0);
  expect(new TextDecoder().decode(get2.outBytes())).toBe('[1,2.5,"x"]');

  // verify-receipt --jcs checks the canonical bytes of a JSON file.
  await writeFile(join(t.dir, 'event.json'), '{ "user": "ann", "event": "login" }');
  await writeFile(join(t.dir, 'events.jsonl'), io.out());
  const v = captureIo();
  expect(await verifyReceiptCommand([join(t.dir, 'events.jsonl'), '--entry', join(t.dir, 'event.json'), '--jcs', '--vkey', t.server.verifierKey], v)).toBe(0);
  const raw = captureIo();
  expect(await verifyReceiptCommand([join(t.dir, 'events.jsonl'), '--entry', join(t.dir, 'event.json'), '--vkey', t.server.verifierKey], raw)).toBe(1);
  expect(raw.out()).toMatch(/^INVALID: none of the 5 receipts/);
});

test('cairn add refuses bad input before sending anything (exit 2)', async () => {
  const cases: [string[], string, RegExp][] = [
    [['--json-lines'], '{"a":1}\n{"a":1,"a":2}\n', /<stdin>:2: not an I-JSON value/],
    [['--json-lines'], '\n\n', /nothing to add/],
    [['--json-lines'], '{"a":1}\n\u00a0{"a":2}\n', /^cairn add: <stdin>:2: not an I-JSON value: unexpected character "\\u\{00A0\}" at column 1 \(nothing was sent\)\n/],
    [['--json-lines'], `"${'a'.repeat(65_534)}"\n`, /^cairn add: <stdin>:1: its canonical form \(RFC 8785\) is 65536 bytes; an entry holds at most 65535 \(nothing was sent\)\n/],
    [[], '', /<stdin>: an entry must hold at least one byte/],
    [['--batch-size', '1001'], 'x', /--batch-size must be an integer from 1 to 1000/],
    [['-', '-'], 'x', /standard input/],
  ];
  for (const [args, stdin, message] of cases) {
    const io = captureIo({ stdin });
    expect(await addCommand([...t.common, ...args], io)).toBe(2);
    expect(io.err()).toMatch(message);
  }
  const big = join(t.dir, 'big.bin');
  await writeFile(big, new Uint8Array(65536));
  const io = captureIo();
  expect(await addCommand([...t.common, big], io)).toBe(2);
  expect(io.err()).toMatch(/65536 bytes; an entry holds at most 65535/);
  const noKey = captureIo({ stdin: 'x' });
  expect(await addCommand(['--url', t.server.url], noKey)).toBe(2);
  expect(noKey.err()).toMatch(/--vkey is required/);
});

test('cairn add retries a 503 after its Retry-After, draws progress on a terminal, and reports a lying log (1) or an unreachable one (2)', async () => {
  let refusals = 2;
  const busy = editingFetch(() => undefined);
  const f: typeof busy = async (url, init) => {
    if (init?.method === 'POST' && refusals-- > 0) {
      return new Response('{"error":"queue full","code":"QUEUE_FULL"}', { status: 503, headers: { 'Retry-After': '2', 'Content-Type': 'application/json' } });
    }
    return busy(url, init);
  };
  const io = captureIo({ stdin: 'retried entry', fetch: f, tty: true });
  expect(await addCommand([...t.common], io)).toBe(0);
  expect(io.sleeps).toEqual([2000, 2000]);
  expect(io.err()).toMatch(/the log is busy \(QUEUE_FULL\); retry 1 of 10 in 2\.0 s/);
  expect(io.err()).toMatch(/\r\[#+\] 100% 1\/1 entries/);
  expect(receiptLines(io.out()).length).toBe(1);

  refusals = 100;
  const giveUp = captureIo({ stdin: 'never', fetch: f });
  expect(await addCommand([...t.common, '--retries', '1'], giveUp)).toBe(2);
  expect(giveUp.err()).toMatch(/503 QUEUE_FULL.*after 1 retries/);

  const lying = editingFetch((url, body, init) => {
    if (init?.method !== 'POST') return undefined;
    const answer = JSON.parse(new TextDecoder().decode(body)) as { receipts: { index: number }[] };
    answer.receipts[0]!.index += 1;
    return enc(JSON.stringify(answer));
  });
  const liar = captureIo({ stdin: 'some entry to lie about', fetch: lying });
  expect(await addCommand([...t.common], liar)).toBe(1);
  expect(liar.err()).toMatch(/VERIFICATION FAILED \(BAD_RECEIPT\)/);

  const down = captureIo({ stdin: 'x' });
  expect(await addCommand(['--url', 'http://127.0.0.1:9', '--vkey', t.server.verifierKey], down)).toBe(2);
});

test('cairn add waits out a 429 (rate limit) after its Retry-After and sends the same request again, within 60 s per request, keeping the receipts it has', async () => {
  let post = 0;
  let limited = 0;
  const bodies: string[] = [];
  const limiting: typeof fetch = async (url, init) => {
    if (init?.method !== 'POST') return fetch(url, init);
    post++;
    bodies.push(String(init.body));
    const refuse = (retryAfter: string) =>
      new Response('{"error":"rate limit reached","code":"RATE_LIMITED"}', { status: 429, headers: { 'Retry-After': retryAfter, 'Content-Type': 'application/json' } });
    // The second batch is refused twice, then taken; the third is asked to wait an hour.
    if (post === 2 || post === 3) return (limited++, refuse('20'));
    if (post === 5) return refuse('3600');
    return fetch(url, init);
  };
  const io = captureIo({ stdin: '{"rate":1}\n{"rate":2}\n{"rate":3}\n', fetch: limiting });
  expect(await addCommand([...t.common, '--json-lines', '--batch-size', '1'], io)).toBe(2);
  expect(limited).toBe(2);
  // The refused request was sent again as it was.
  expect(bodies[2]).toBe(bodies[1]);
  expect(bodies[3]).toBe(bodies[1]);
  expect(io.sleeps).toEqual([20_000, 20_000]);
  expect(io.err()).toMatch(/^cairn add: the log is at its rate limit \(RATE_LIMITED\); retry 1 of 10 in 20\.0 s\ncairn add: the log is at its rate limit \(RATE_LIMITED\); retry 2 of 10 in 20\.0 s\n/);
  expect(io.err()).toMatch(
    /cairn add: POST \S+\/v1\/batch: 429 RATE_LIMITED: rate limit reached \(not retried: a wait of 3600 s is more than the 60 s left of the 60 s this client waits for one request\) \(the 2 entries before <stdin>:3 were logged and their receipts written; <stdin>:3 and the lines after it were not logged: feed the lines from <stdin>:3 on to cairn add again \(it cannot read them twice itself\)\)\n$/,
  );
  expect(receiptLines(io.out()).map((r) => r.leaf_hash)).toEqual(['{"rate":1}', '{"rate":2}'].map((e) => encodeBase64(leafHash(enc(e)))));

  // 503 alike: waits that would pass 60 s in all for one request are not made.
  post = 0;
  const busy: typeof fetch = async (url, init) =>
    init?.method === 'POST' ? new Response('{"error":"queue full","code":"QUEUE_FULL"}', { status: 503, headers: { 'Retry-After': '25', 'Content-Type': 'application/json' } }) : fetch(url, init);
  const waiting = captureIo({ stdin: 'busy entry', fetch: busy });
  expect(await addCommand([...t.common], waiting)).toBe(2);
  expect(waiting.sleeps).toEqual([25_000, 25_000]);
  expect(waiting.err()).toMatch(/503 QUEUE_FULL: queue full \(after 2 retries\) \(not retried: a wait of 25 s is more than the 10 s left of the 60 s this client waits for one request\)/);
});

test('cairn add with a key that is not the log\'s stops before it sends anything (1), and writes no receipts', async () => {
  const stranger = verifierKeyFromSignerKey(generateSignerKey('cli.test/log'));
  let posts = 0;
  const counting: typeof fetch = (url, init) => {
    if (init?.method === 'POST') posts++;
    return fetch(url, init);
  };
  const receipts = join(t.dir, 'stranger-receipts.jsonl');
  const entry = join(t.dir, 'stranger.bin');
  await writeFile(entry, 'sent with another log\'s key');
  const io = captureIo({ fetch: counting });
  expect(await addCommand(['--url', t.server.url, '--vkey', stranger, '--receipts', receipts, entry], io)).toBe(1);
  expect(io.err()).toMatch(/^cairn add: VERIFICATION FAILED \(BAD_SIGNATURE\): the log at http:\S+ does not sign its checkpoint with the verifier key given \(cli\.test\/log\); nothing was sent\./);
  expect(posts).toBe(0);
  await expect(readFile(receipts)).rejects.toThrow(/ENOENT/);
  // The entry is not in the log.
  const p = captureIo();
  expect(await proveCommand([...t.common, '--entry', entry], p)).toBe(3);
});

test('cairn get and cairn prove verify before they print', async () => {
  const io = captureIo({ stdin: 'an entry to get' });
  expect(await addCommand([...t.common], io)).toBe(0);
  const { index, leaf_hash: leaf } = receiptLines(io.out())[0]!;

  const human = captureIo();
  expect(await getCommand([...t.common, String(index)], human)).toBe(0);
  expect(human.out()).toMatch(new RegExp(`^entry ${index} of cli\\.test/log, verified in the signed tree of size \\d+`));
  expect(human.out()).toMatch(/15 bytes:\nan entry to get\n$/);
  const binary = captureIo();
  expect(await getCommand([...t.common, '1'], binary)).toBe(0);
  expect(binary.out()).toMatch(/4 bytes, binary \(base64\):\nAAEC\/w==\n/);
  for (const tiles of [[], ['--tiles']]) {
    const json = captureIo();
    expect(await getCommand([...t.common, String(index), '--json', ...tiles], json)).toBe(0);
    const parsed = JSON.parse(json.out()) as { entry: string; leaf_hash: string; source: string };
    expect(parsed).toMatchObject({ index, entry: encodeBase64(enc('an entry to get')), leaf_hash: leaf, source: tiles.length === 0 ? 'api' : 'tiles' });
  }
  // Every field --json prints is listed in the help of get and prove.
  for (const [command, args] of [[getCommand, [String(index)]], [proveCommand, [String(index)]]] as const) {
    const json = captureIo();
    expect(await command([...t.common, ...args, '--json'], json)).toBe(0);
    const help = captureIo();
    expect(await command(['--help'], help)).toBe(0);
    const listed = /--json +print \{([^}]*)\}/.exec(help.out())![1]!.split(/,\s*/).map((f) => f.replace(/\s*\(.*$/, '').trim());
    expect(listed.sort()).toEqual(Object.keys(JSON.parse(json.out()) as object).sort());
  }
  const out = join(t.dir, 'got.bin');
  expect(await getCommand([...t.common, '1', '--out', out], captureIo())).toBe(0);
  expect(Array.from(await readFile(out))).toEqual([0, 1, 2, 255]);
  // A missing folder for --out is found before the log is asked, and said in words.
  let asked = 0;
  const noFolder = captureIo({ fetch: (url, init) => (asked++, fetch(url, init)) });
  const lost = join(t.dir, 'no-such-folder', 'x.bin');
  expect(await getCommand([...t.common, '1', '--out', lost], noFolder)).toBe(2);
  expect(noFolder.err()).toBe(`cairn get: cannot write --out ${lost}: the folder ${join(t.dir, 'no-such-folder')} does not exist (ENOENT: no such file or directory); make it first: mkdir -p ${join(t.dir, 'no-such-folder')}\nRun 'cairn get --help' for its options.\n`);
  expect(asked).toBe(0);
  const missing = captureIo();
  expect(await getCommand([...t.common, '100000'], missing)).toBe(3);
  expect(missing.err()).toMatch(/entry 100000 is not in the tree of the checkpoint cli\.test\/log served, of tree size \d+; a checkpoint does not show that it is the latest/);
  const liar = captureIo({ fetch: editingFetch((url, body) => (url.includes('get-entry-and-proof') ? enc(new TextDecoder().decode(body).replace(/"leaf_input":"[^"]+"/, `"leaf_input":"${encodeBase64(enc('forged'))}"`)) : undefined)) });
  expect(await getCommand([...t.common, String(index)], liar)).toBe(1);
  expect(await getCommand([...t.common], captureIo())).toBe(2);
  expect(await getCommand([...t.common, '-1'], captureIo())).toBe(2);

  await writeFile(join(t.dir, 'entry.txt'), 'an entry to get');
  for (const args of [[String(index)], ['--hash', leaf], ['--entry', join(t.dir, 'entry.txt')], ['--hash', leaf, '--tiles'], [String(index), '--tiles']]) {
    const p = captureIo();
    expect(await proveCommand([...t.common, ...args, '--json'], p)).toBe(0);
    const proof = JSON.parse(p.out()) as { leaf_index: number; leaf_hash: string; tree_size: number; root_hash: string; audit_path: string[] };
    expect(proof.leaf_index).toBe(index);
    expect(verifyInclusion(decodeBase64(proof.leaf_hash), index, proof.tree_size, proof.audit_path.map(decodeBase64), decodeBase64(proof.root_hash))).toBe(true);
  }
  const p = captureIo();
  expect(await proveCommand([...t.common, '--hash', leaf], p)).toBe(0);
  expect(p.out()).toMatch(new RegExp(`^leaf ${index} \\(leaf hash ${leaf.replace(/[+/]/g, '\\$&')}\\) is in cli\\.test/log\\ntree size`));
  const absent = captureIo();
  expect(await proveCommand([...t.common, '--hash', encodeBase64(leafHash(enc('never logged')))], absent)).toBe(3);
  expect(absent.err()).toMatch(/^cairn prove: cli\.test\/log says it holds no leaf with hash \S+ at tree size \d+; a log's 'not found' is not signed, so this cannot be verified\n$/);
  const flipFirst = (body: Uint8Array) => {
    const answer = JSON.parse(new TextDecoder().decode(body)) as { audit_path: string[] };
    const h = decodeBase64(answer.audit_path[0]!);
    h[0] = h[0]! ^ 1;
    answer.audit_path[0] = encodeBase64(h);
    return enc(JSON.stringify(answer));
  };
  const forged = captureIo({ fetch: editingFetch((url, body) => (url.includes('get-proof-by-hash') ? flipFirst(body) : undefined)) });
  expect(await proveCommand([...t.common, '--hash', leaf], forged)).toBe(1);
  for (const bad of [[], ['1', '--hash', leaf], ['--hash', 'AAAA'], ['--jcs', '1']]) expect(await proveCommand([...t.common, ...bad], captureIo())).toBe(2);
});

test('cairn get and cairn prove: a 404 for a leaf the signed checkpoint covers is the log failing (2), not "not in the log" (3)', async () => {
  const io = captureIo({ stdin: 'an entry the log will withhold' });
  expect(await addCommand([...t.common], io)).toBe(0);
  const { index, leaf_hash: leaf } = receiptLines(io.out())[0]!;
  /** A fetch that answers 404 for every URL `withheld` matches, as the log does for what it does not hold. */
  const withholding = (withheld: RegExp) =>
    captureIo({
      fetch: async (url, init) =>
        withheld.test(url) ? new Response(JSON.stringify({ error: 'not found', code: 'NOT_FOUND' }), { status: 404, headers: { 'Content-Type': 'application/json' } }) : fetch(url, init),
    });
  const covered = /the log answered 404 for (leaf|entry|the tiles of leaf) \d+, which its signed checkpoint of tree size \d+ covers: /;
  for (const [command, args, withheld] of [
    [getCommand, [String(index)], /get-entry-and-proof/],
    [getCommand, [String(index), '--tiles'], /\/tile\/entries\//],
    [proveCommand, [String(index)], /get-entry-and-proof/],
    [proveCommand, [String(index), '--tiles'], /\/tile\/0\//],
    [proveCommand, ['--hash', leaf, '--tiles'], /\/tile\/0\//],
  ] as const) {
    const run = withholding(withheld);
    expect([await command([...t.common, ...args], run), run.err()]).toEqual([2, expect.stringMatching(covered)]);
  }
  // A hash the log does not find is exit 3, said as the log's unsigned word.
  const absent = withholding(/get-proof-by-hash/);
  expect(await proveCommand([...t.common, '--hash', leaf], absent)).toBe(3);
  expect(absent.err()).toMatch(/cli\.test\/log says it holds no leaf with hash \S+ at tree size \d+; a log's 'not found' is not signed/);
});

test('cairn verify-receipt: a changed receipt, another key or a missing option', async () => {
  const io = captureIo({ stdin: 'receipt check' });
  expect(await addCommand([...t.common], io)).toBe(0);
  const receipt = receiptLines(io.out())[0]!;
  await writeFile(join(t.dir, 'entry'), 'receipt check');
  const check = async (r: unknown, vkey = t.server.verifierKey) => {
    await writeFile(join(t.dir, 'receipt.json'), JSON.stringify(r, null, 2));
    const v = captureIo();
    const code = await verifyReceiptCommand([join(t.dir, 'receipt.json'), '--entry', join(t.dir, 'entry'), '--vkey', vkey], v);
    return { code, out: v.out() };
  };
  expect(await check(receipt)).toMatchObject({ code: 0 });
  expect(await check({ ...receipt, index: receipt.index - 1 })).toMatchObject({ code: 1, out: expect.stringMatching(/^INVALID: the inclusion proof does not lead/) });
  expect(await check({ ...receipt, index: receipt.index + 1 })).toMatchObject({ code: 1, out: expect.stringMatching(/^INVALID: index \d+ is not in the checkpoint's tree/) });
  expect(await check({ ...receipt, checkpoint: receipt.checkpoint.replace('cli.test/log\n', 'cli.test/log\n1') })).toMatchObject({ code: 1 });
  const stranger = verifierKeyFromSignerKey(generateSignerKey('cli.test/log'));
  expect(await check(receipt, stranger)).toMatchObject({ code: 1, out: expect.stringMatching(/checkpoint does not verify/) });
  // Input that is not a receipt at all is a usage error (2), not a receipt that fails (1).
  const notReceipt = async (text: string) => {
    await writeFile(join(t.dir, 'not-receipt.json'), text);
    const v = captureIo();
    return [await verifyReceiptCommand([join(t.dir, 'not-receipt.json'), '--entry', join(t.dir, 'entry'), '--vkey', t.server.verifierKey], v), v.out(), v.err()];
  };
  const file = join(t.dir, 'not-receipt.json');
  const batchAnswer = JSON.stringify({ checkpoint: receipt.checkpoint, receipts: [{ index: receipt.index, leaf_hash: receipt.leaf_hash, inclusion_proof: receipt.inclusion_proof, duplicate: false }] });
  expect(await notReceipt(batchAnswer)).toEqual([
    2,
    '',
    `cairn verify-receipt: ${file} is not a receipt but a /v1/batch answer: it holds 1 receipt that shares its "checkpoint". Check one as 'cairn add --receipts' writes them, one receipt per line, each with the batch checkpoint: jq -c '.checkpoint as $c | .receipts[] | .checkpoint = $c' ${file} > batch-receipts.jsonl, then cairn verify-receipt batch-receipts.jsonl --entry FILE\n`,
  ]);
  expect(await notReceipt('{"hello":1}')).toEqual([2, '', `cairn verify-receipt: ${file} is not a receipt: it has no "index" (a number), "leaf_hash" (a string), "checkpoint" (a string), "inclusion_proof" (an array)\n`]);
  expect(await notReceipt('[1, 2]')).toEqual([2, '', `cairn verify-receipt: ${file} is not a receipt: a receipt is a JSON object\n`]);
  expect(await notReceipt('{"a":1}\n{"b":2}\n')).toEqual([2, '', `cairn verify-receipt: none of the 2 lines of ${file} is a receipt (${file}:1 is not a receipt: it has no "index" (a number), "leaf_hash" (a string), "checkpoint" (a string), "inclusion_proof" (an array))\n`]);
  // Receipts of other entries, and lines that are no receipts: a receipt for this entry is missing (1).
  const other = { ...receipt, leaf_hash: encodeBase64(leafHash(enc('another entry'))) };
  expect(await notReceipt(`{"a":1}\n${JSON.stringify(other)}\n`)).toEqual([1, 'INVALID: the one receipt in ' + file + " is not for this entry's leaf hash\n", '']);
  // A receipt's shape with a bad value is a receipt that does not prove the entry (1).
  expect(await check({ ...receipt, index: -1 })).toMatchObject({ code: 1, out: expect.stringMatching(/^INVALID: "index" must be a non-negative integer/) });
  // What the batch answer holds, written as cairn add writes it, verifies.
  expect(await notReceipt(`${JSON.stringify({ ...JSON.parse(batchAnswer).receipts[0], checkpoint: receipt.checkpoint })}\n${JSON.stringify(other)}\n`)).toEqual([0, expect.stringMatching(/^valid: /), '']);
  // --vkey may name a file; a private key file is refused.
  await writeFile(join(t.dir, 'vkey'), `${t.server.verifierKey}\n`);
  expect((await check(receipt, join(t.dir, 'vkey'))).code).toBe(0);
  await writeFile(join(t.dir, 'skey'), generateSignerKey('cli.test/log'));
  expect((await check(receipt, join(t.dir, 'skey'))).code).toBe(2);
  expect(await verifyReceiptCommand([join(t.dir, 'receipt.json'), '--vkey', t.server.verifierKey], captureIo())).toBe(2);
  expect(await verifyReceiptCommand([join(t.dir, 'nope.json'), '--entry', join(t.dir, 'entry'), '--vkey', t.server.verifierKey], captureIo())).toBe(2);
});
