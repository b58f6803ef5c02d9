// The fixed test key of test/vectors/signed-note.json.
import { readFileSync } from 'node:fs';
import { newSigner, newVerifier } from '../../src/note/keys.js';

export const vector = JSON.parse(readFileSync(new URL('../vectors/signed-note.json', import.meta.url), 'utf8')) as {
  signer_key: string;
  verifier_key: string;
  seed_hex: string;
  note: string;
};

export const testSigner = newSigner(vector.signer_key);
export const testVerifier = newVerifier(vector.verifier_key);
export const TEST_ORIGIN = testSigner.name;
