// --vkey (or CAIRN_VKEY) that is no verifier key says why, in words: a key
// with a typo, a file holding one, serve's whole start-up line, a private
// key (and where the verifier key is to be had instead).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../../src/cli/args.js';
import { resolveVerifier } from '../../src/cli/client-common.js';
import { verifyReceiptCommand } from '../../src/cli/verify-receipt.js';
import { generateSignerKey, verifierKeyFromSignerKey } from '../../src/note/keys.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { captureIo } from './client-io.js';

const dir = useTempDir('cairn-vkey-');
const signer = generateSignerKey('vkey.test/log');
const vkey = verifierKeyFromSignerKey(signer);
// The last character of the key changed: still base64 of 33 bytes, whose hash is no longer the key's.
const typo = vkey.slice(0, -2) + (vkey.at(-2) === 'A' ? 'B' : 'A') + vkey.at(-1)!;

async function refusal(value: string | undefined, env: Record<string, string> = {}): Promise<string> {
  try {
    await resolveVerifier(value, env);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('taken');
}

test('a well-formed key with a typo says what is wrong with it, given inline or in a file, without parseVerifierKey: in the words', async () => {
  expect(await refusal(typo)).toBe(`--vkey ${JSON.stringify(typo)} is not a valid verifier key: key hash does not match the key`);
  expect(await refusal(undefined, { CAIRN_VKEY: typo })).toBe(`CAIRN_VKEY ${JSON.stringify(typo)} is not a valid verifier key: key hash does not match the key`);
  const file = join(dir(), 'typo.vkey');
  await writeFile(file, `${typo}\n`);
  expect(await refusal(file)).toBe(`${file} does not hold a verifier key (<origin>+<hash>+<base64>): key hash does not match the key`);
  // What looks like no key is still neither a key nor a file; a folder says why it is no file.
  expect(await refusal('nokey')).toBe('--vkey "nokey" is neither a verifier key (<origin>+<hash>+<base64>) nor a readable file');
  expect(await refusal(dir())).toMatch(/is neither a verifier key \(<origin>\+<hash>\+<base64>\) nor a readable file \(as a file: EISDIR: /);
});

test("serve's start-up line pasted whole, in a file or inline, says to keep only the key", async () => {
  const file = join(dir(), 'line.vkey');
  await writeFile(file, `verifier key: ${vkey}\n`);
  const keep = `serve's line "verifier key: ${vkey}" was given whole: keep only the key (<origin>+<hash>+<base64>), without 'verifier key:'`;
  expect(await refusal(file)).toBe(`${file} does not hold a verifier key (<origin>+<hash>+<base64>): ${keep}`);
  expect(await refusal(`verifier key: ${vkey}`)).toBe(`--vkey ${JSON.stringify(`verifier key: ${vkey}`)} is not a valid verifier key: ${keep}`);
  // The key alone is taken.
  await writeFile(file, `${vkey}\n`);
  expect((await resolveVerifier(file, {})).key).toBe(vkey);
});

test('a private key file says where the verifier key is: serve at every start, GET /v1/log, keygen; and never shows the private key', async () => {
  const file = join(dir(), 'log.key');
  await writeFile(file, `${signer}\n`, { mode: 0o600 });
  const io = captureIo();
  expect(await verifyReceiptCommand([file, '--entry', file, '--vkey', file], io)).toBe(2);
  expect(io.err()).toBe(
    `cairn verify-receipt: ${file} holds a private key; --vkey wants the log's verifier key: cairn serve prints it at every start (its line 'verifier key: ...'), GET /v1/log has it (verifier_key), and cairn keygen printed it\nRun 'cairn verify-receipt --help' for its options.\n`,
  );
  expect(io.err()).not.toContain(signer.slice('PRIVATE+KEY+'.length));
});

test('a private key given inline (--vkey "$(cat log.key)", CAIRN_VKEY), or pasted into a line, is refused without being shown', async () => {
  const words = "is a private key; it wants the log's verifier key: cairn serve prints it at every start (its line 'verifier key: ...'), GET /v1/log has it (verifier_key), and cairn keygen printed it";
  expect(await refusal(signer)).toBe(`--vkey ${words}`);
  expect(await refusal(`${signer}\n`)).toBe(`--vkey ${words}`);
  expect(await refusal(`verifier key: ${signer}`)).toBe(`--vkey ${words}`);
  expect(await refusal(undefined, { CAIRN_VKEY: signer })).toBe(`CAIRN_VKEY ${words}`);
  const file = join(dir(), 'pasted.key');
  await writeFile(file, `verifier key: ${signer}\n`, { mode: 0o600 });
  expect(await refusal(file)).toBe(`${file} holds a private key; --vkey wants the log's verifier key: ${words.slice(words.indexOf(': ') + 2)}`);
});
