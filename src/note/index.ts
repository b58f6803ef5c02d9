/**
 * Cairn's pure note layer: strict base64, Ed25519 note keys, C2SP signed
 * notes and checkpoints, and RFC 6962 signed tree heads (CONTRACT §2).
 */
export { decodeBase64, encodeBase64 } from './base64.js';
export {
  ALG_ED25519,
  formatKeyHash,
  generateSignerKey,
  isValidKeyName,
  keyHash,
  newSigner,
  newVerifier,
  parseSignerKey,
  parseVerifierKey,
  verifierKeyFromSignerKey,
} from './keys.js';
export type { Signer, SignerKey, Verifier, VerifierKey } from './keys.js';
export { MAX_NOTE_SIZE, MAX_SIGNATURES, NoteError, openNote, signNote } from './note.js';
export type { NoteErrorCode, NoteSignature, OpenedNote, VerifiedSignature, VerifierLookup } from './note.js';
export { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from './checkpoint.js';
export type { Checkpoint } from './checkpoint.js';
export {
  TREE_HEAD_SIGNATURE_INPUT_LENGTH,
  decodeDigitallySigned,
  encodeDigitallySigned,
  signTreeHead,
  treeHeadSignatureInput,
  verifyTreeHead,
} from './sth.js';
export type { SignedTreeHead, TreeHead } from './sth.js';
