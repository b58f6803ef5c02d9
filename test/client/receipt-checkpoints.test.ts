// A receipt's checkpoint is checked as every checkpoint is: one that is not a
// signed checkpoint note at all is BAD_RESPONSE, one the log's key did not
// sign is BAD_SIGNATURE, each saying it is the checkpoint that is bad.
// BAD_RECEIPT stays for a receipt whose proof does not lead to its good
// checkpoint.
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { signCheckpoint } from '../../src/note/checkpoint.js';
import { generateSignerKey, newSigner } from '../../src/note/keys.js';
import { TEST_ORIGIN, testSigner } from '../helpers/keys.js';
import { clientFailure, scriptedLog } from '../helpers/scripted-log.js';

const log = scriptedLog();
const entry = new TextEncoder().encode('one entry');
const leaf = leafHash(entry);
// The tree of this one entry: its root is the entry's leaf hash, its proof empty.
const head = { origin: TEST_ORIGIN, treeSize: 1, rootHash: leaf, extensions: [] };
const good = signCheckpoint(head, testSigner);
const byStranger = signCheckpoint(head, newSigner(generateSignerKey(TEST_ORIGIN)));
const garbage = '<html><body>502 Bad Gateway</body></html>\n';
const receipt = (checkpoint: string | undefined) => ({ index: 0, leaf_hash: encodeBase64(leaf), inclusion_proof: [], duplicate: false, ...(checkpoint === undefined ? {} : { checkpoint }) });

/** The three ways of logging `entry`, each answered with a receipt whose checkpoint is `checkpoint`. */
function submissions(checkpoint: string): [string, () => Promise<unknown>][] {
  return [
    ['addEntry', () => {
      log.answer(201, JSON.stringify(receipt(checkpoint)));
      return log.client().addEntry(entry);
    }],
    ['addJson', () => {
      log.answer(201, JSON.stringify(receipt(checkpoint)));
      // The canonical bytes of "one entry" are not `entry`, but the checkpoint is checked first.
      return log.client().addJson('one entry');
    }],
    ['addBatch', () => {
      log.answer(200, JSON.stringify({ checkpoint, receipts: [receipt(undefined)] }));
      return log.client().addBatch([entry]);
    }],
  ];
}

test('a receipt with a good checkpoint and proof verifies (the fixture is sound)', async () => {
  log.answer(201, JSON.stringify(receipt(good)));
  expect((await log.client().addEntry(entry)).checkpoint.treeSize).toBe(1);
  log.answer(200, JSON.stringify({ checkpoint: good, receipts: [receipt(undefined)] }));
  expect((await log.client().addBatch([entry])).receipts.length).toBe(1);
});

test('a receipt whose checkpoint is not a signed checkpoint note is BAD_RESPONSE, saying the checkpoint is bad', async () => {
  for (const [name, submit] of submissions(garbage)) {
    const err = await clientFailure(submit());
    expect([name, err.code]).toEqual([name, 'BAD_RESPONSE']);
    expect(err.isVerificationFailure).toBe(false);
    expect(err.message).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/(entries|batch): the (receipt|batch)'s checkpoint is not a signed checkpoint note: /);
  }
});

test('a receipt whose checkpoint the log\'s key did not sign is BAD_SIGNATURE, saying the checkpoint is not signed', async () => {
  for (const [name, submit] of submissions(byStranger)) {
    const err = await clientFailure(submit());
    expect([name, err.code]).toEqual([name, 'BAD_SIGNATURE']);
    expect(err.isVerificationFailure).toBe(true);
    expect(err.message).toContain(`checkpoint is not signed by ${TEST_ORIGIN}`);
  }
});

test('a receipt whose proof does not lead to its good checkpoint stays BAD_RECEIPT', async () => {
  const other = signCheckpoint({ ...head, rootHash: leafHash(new TextEncoder().encode('another entry')) }, testSigner);
  for (const [name, submit] of submissions(other)) {
    const err = await clientFailure(submit());
    expect([name, err.code]).toEqual([name, 'BAD_RECEIPT']);
    expect(err.message).toContain('the receipt does not verify');
  }
});
