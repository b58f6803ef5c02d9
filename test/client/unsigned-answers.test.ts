// An answer that is not a signed note or tree head at all (a proxy's HTML
// page, deeply nested arrays, an error object) is BAD_RESPONSE, an
// operational error: it contradicts nothing that was signed. BAD_SIGNATURE
// stays for a note or tree head whose signature by the log's key is missing
// or does not verify.
import { EMPTY_ROOT } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { formatKeyHash, generateSignerKey, newSigner } from '../../src/note/keys.js';
import { signNote } from '../../src/note/note.js';
import { signTreeHead } from '../../src/note/sth.js';
import { TEST_ORIGIN, testSigner, testVerifier } from '../helpers/keys.js';
import { clientFailure, scriptedLog } from '../helpers/scripted-log.js';

// eslint-disable-next-line no-control-regex
const RAW_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

const log = scriptedLog();

test('a 200 answer to /checkpoint that is not a signed note (an HTML error page) is BAD_RESPONSE, naming the URL', async () => {
  log.answer(200, '<html><body>502 Bad Gateway</body></html>\n', 'text/html');
  const err = await clientFailure(log.client().getCheckpoint());
  expect(err.code).toBe('BAD_RESPONSE');
  expect(err.isVerificationFailure).toBe(false);
  expect(err.message).toContain(`${log.url}/checkpoint: not a signed checkpoint note`);
  // With a blank line in it, as pages have: still no note.
  log.answer(200, '<html>\n\n<body>502 Bad Gateway</body></html>\n', 'text/html');
  expect((await clientFailure(log.client().getCheckpoint())).code).toBe('BAD_RESPONSE');
});

test('a note the log\'s key signed that is not a checkpoint of the log is BAD_RESPONSE; its text is quoted escaped', async () => {
  log.answer(200, signNote('fake.example/\u009b2Jlog\n5\nnot a root\n', [testSigner]), 'text/plain');
  const err = await clientFailure(log.client().getCheckpoint());
  expect(err.code).toBe('BAD_RESPONSE');
  expect(err.message).not.toMatch(RAW_UNSAFE);
  expect(err.message).toContain('\\u009b2Jlog');
});

test('a note or tree head that is one but does not verify with the log\'s key stays BAD_SIGNATURE', async () => {
  const other = newSigner(generateSignerKey(TEST_ORIGIN));
  const head = { origin: TEST_ORIGIN, treeSize: 0, rootHash: EMPTY_ROOT, extensions: [] };
  log.answer(200, signCheckpoint(head, other), 'text/plain');
  expect((await clientFailure(log.client().getCheckpoint())).code).toBe('BAD_SIGNATURE');
  const edited = signCheckpoint(head, testSigner).replace(`\n0\n`, '\n1\n');
  log.answer(200, edited, 'text/plain');
  expect((await clientFailure(log.client().getCheckpoint())).code).toBe('BAD_SIGNATURE');
  log.answer(200, JSON.stringify(signTreeHead({ timestamp: 1, treeSize: 0, rootHash: EMPTY_ROOT }, other)));
  expect((await clientFailure(log.client().getTreeHead())).code).toBe('BAD_SIGNATURE');
  const sth = signTreeHead({ timestamp: 1, treeSize: 0, rootHash: EMPTY_ROOT }, testSigner);
  log.answer(200, JSON.stringify({ ...sth, tree_head_signature: encodeBase64(new Uint8Array(10)) }));
  expect((await clientFailure(log.client().getTreeHead())).code).toBe('BAD_SIGNATURE');
});

test('a get-sth answer that is no tree head (deeply nested arrays, an error object, a field missing or of the wrong type) is BAD_RESPONSE', async () => {
  const sth = signTreeHead({ timestamp: 1, treeSize: 0, rootHash: EMPTY_ROOT }, testSigner);
  const { tree_head_signature: _, ...unsigned } = sth;
  for (const body of [
    `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
    JSON.stringify({ error: 'bad gateway', code: 'BAD_GATEWAY' }),
    JSON.stringify(unsigned),
    JSON.stringify({ ...sth, tree_size: '0' }),
    JSON.stringify({ ...sth, sha256_root_hash: 'AAAA' }),
    JSON.stringify({ ...sth, extra: 1 }),
    'null',
  ]) {
    log.answer(200, body);
    const err = await clientFailure(log.client().getTreeHead());
    expect([body.slice(0, 40), err.code]).toEqual([body.slice(0, 40), 'BAD_RESPONSE']);
    expect(err.message).toContain(`${log.url}/ct/v1/get-sth: not a signed tree head`);
  }
});

test('a checkpoint of another log (a wrong URL or key) stays BAD_SIGNATURE, naming both origins', async () => {
  const elsewhere = newSigner(generateSignerKey('elsewhere.test/\u202elog'));
  log.answer(200, signCheckpoint({ origin: elsewhere.name, treeSize: 0, rootHash: EMPTY_ROOT, extensions: [] }, elsewhere), 'text/plain');
  const err = await clientFailure(log.client().getCheckpoint());
  expect([err.code, err.isVerificationFailure]).toEqual(['BAD_SIGNATURE', true]);
  expect(err.message).toBe(`the checkpoint is not signed by ${TEST_ORIGIN}: this log's origin is elsewhere.test/\\u202elog, the key is for ${TEST_ORIGIN}: is the URL or the key wrong?`);
  // Of the log's own origin but no signature by that name at all: no origin or key to blame, the note's reason stays.
  const byOthersOnly = newSigner(generateSignerKey('others.test/log'));
  log.answer(200, signNote(`${TEST_ORIGIN}\n0\n${encodeBase64(EMPTY_ROOT)}\n`, [byOthersOnly]), 'text/plain');
  expect((await clientFailure(log.client().getCheckpoint())).message).toBe(`the checkpoint is not signed by ${TEST_ORIGIN}: no signature by a known key`);
});

test("a checkpoint signed by another key of the log's name (a key swap) stays BAD_SIGNATURE, naming both key IDs and no signature", async () => {
  const swapped = newSigner(generateSignerKey(TEST_ORIGIN));
  const head = { origin: TEST_ORIGIN, treeSize: 0, rootHash: EMPTY_ROOT, extensions: [] };
  const note = signCheckpoint(head, swapped);
  log.answer(200, note, 'text/plain');
  const err = await clientFailure(log.client().getCheckpoint());
  expect([err.code, err.isVerificationFailure]).toEqual(['BAD_SIGNATURE', true]);
  const [newId, givenId] = [formatKeyHash(swapped.keyHash), formatKeyHash(testVerifier.keyHash)];
  expect(newId).not.toBe(givenId);
  expect(err.message).toBe(
    `the checkpoint is not signed by ${TEST_ORIGIN}: signed by ${TEST_ORIGIN} with key ID ${newId}, not by the key given (key ID ${givenId}): ` +
      `the log's key changed, or the key given is another key of that name`,
  );
  // The signature itself is no part of it.
  expect(err.message).not.toContain(note.split('\n').at(-2)!.split(' ').at(-1)!);
  // Two other keys of that name (one signature repeated): each ID once.
  const third = newSigner(generateSignerKey(TEST_ORIGIN));
  const both = signNote(`${TEST_ORIGIN}\n0\n${encodeBase64(EMPTY_ROOT)}\n`, [swapped, third]) + `${note.split('\n').at(-2)!}\n`;
  log.answer(200, both, 'text/plain');
  expect((await clientFailure(log.client().getCheckpoint())).message).toContain(`with key IDs ${newId}, ${formatKeyHash(third.keyHash)}, not by the key given (key ID ${givenId})`);
});
