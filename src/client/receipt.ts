/**
 * Receipts (CONTRACT §3): what the log answers for a submitted entry, and
 * their offline verification: the entry's RFC 6962 leaf hash, the log's
 * signature on the checkpoint, and the inclusion proof from the leaf to the
 * checkpoint's root (RFC 9162 §2.1.3.2).
 */
import { leafHash } from '../merkle/hash.js';
import { verifyInclusion } from '../merkle/proof.js';
import { decodeBase64, encodeBase64 } from '../note/base64.js';
import { openCheckpoint, type Checkpoint } from '../note/checkpoint.js';
import { formatKeyHash, type Verifier } from '../note/keys.js';
import { NoteError, openNote } from '../note/note.js';
import { escapeText } from './errors.js';

/** A receipt as the log sends it (CONTRACT §3), with its signed checkpoint. */
export interface Receipt {
  /** The entry's leaf index (the first copy's, for a duplicate). */
  index: number;
  /** Standard base64 of the entry's RFC 6962 leaf hash. */
  leaf_hash: string;
  /** The signed checkpoint note the proof leads to. */
  checkpoint: string;
  /** Standard base64 hashes of the audit path, bottom-up. */
  inclusion_proof: string[];
  /** Whether the entry was already logged; not covered by any signature. */
  duplicate: boolean;
}

/** The outcome of {@link checkReceipt}. */
export type ReceiptCheck =
  | { readonly valid: true; readonly index: number; readonly checkpoint: Checkpoint }
  /** `signed`: the receipt's checkpoint is this log's, signed by its key; the rest failed. */
  | { readonly valid: false; readonly reason: string; readonly signed?: true };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A receipt's fields other than its checkpoint, or a reason they are not those of a receipt. */
function parseFields(value: unknown): Omit<Receipt, 'checkpoint'> | string {
  if (!isPlainObject(value)) return 'a receipt must be a JSON object';
  const { index, leaf_hash: leaf, inclusion_proof: proof, duplicate } = value;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) return '"index" must be a non-negative integer';
  if (typeof leaf !== 'string') return '"leaf_hash" must be a base64 string';
  if (!Array.isArray(proof) || !proof.every((p) => typeof p === 'string')) return '"inclusion_proof" must be an array of base64 strings';
  if (typeof duplicate !== 'boolean') return '"duplicate" must be true or false';
  return { index, leaf_hash: leaf, inclusion_proof: [...(proof as string[])], duplicate };
}

/**
 * Returns `value` (for example straight from JSON.parse) as a Receipt if it
 * has the CONTRACT §3 receipt fields with their types (other fields are
 * dropped), or a reason it is not one. `batchCheckpoint` is for the receipts
 * of a `/v1/batch` answer, which come without a checkpoint: they get the
 * batch's, and one that carries a checkpoint of its own other than that is
 * refused (it was not the checkpoint the caller verified).
 */
export function parseReceipt(value: unknown, batchCheckpoint?: string): Receipt | string {
  const fields = parseFields(value);
  if (typeof fields === 'string') return fields;
  const own = (value as Record<string, unknown>).checkpoint;
  if (batchCheckpoint !== undefined && own !== undefined && own !== batchCheckpoint) return "\"checkpoint\" is not the batch's checkpoint";
  const note = batchCheckpoint ?? own;
  if (typeof note !== 'string') return '"checkpoint" must be the signed checkpoint text';
  return { ...fields, checkpoint: note };
}

/**
 * Why `value` is what addEntry, addJson and addBatch resolve to (a
 * VerifiedReceipt, `{ receipt, entry, checkpoint }`) rather than a receipt,
 * or undefined if it is not: said so, instead of that it has no "index".
 */
function verifiedReceiptPassed(value: unknown, name: string): string | undefined {
  if (!isPlainObject(value) || 'index' in value || !isPlainObject(value.receipt) || !('entry' in value)) return undefined;
  return `${name} was given what addEntry, addJson or addBatch resolve to ({ receipt, entry, checkpoint }), not a receipt: pass its .receipt`;
}

/**
 * For a `note` that did not open with `verifier` (UNVERIFIED): when it has
 * signatures by the key's name, none of them by this key, that it was
 * signed by another key of that name, with the key IDs (as cairn serve and
 * cairn audit print them) of those signatures and of the key given;
 * undefined when it has none by that name. Key IDs only, no key material.
 */
export function otherKeyOfName(note: string | Uint8Array, verifier: Verifier): string | undefined {
  const ids: string[] = [];
  try {
    openNote(note, (name, keyHash) => {
      const id = formatKeyHash(keyHash);
      if (name === verifier.name && !ids.includes(id)) ids.push(id);
      return undefined;
    });
  } catch {
    // UNVERIFIED, as it was opened: every signature was seen.
  }
  if (ids.length === 0) return undefined;
  return (
    `signed by ${verifier.name} with key ID${ids.length === 1 ? '' : 's'} ${ids.join(', ')}, not by the key given (key ID ${formatKeyHash(verifier.keyHash)}): ` +
    `the log's key changed, or the key given is another key of that name`
  );
}

/**
 * Why the receipt's checkpoint `note` did not open with `verifier`: when the
 * note is another log's (its first line, the origin, is not the key's name),
 * both origins, as CairnClient.openCheckpoint names them (in the words
 * `cairn verify-receipt` used for it), since that is most often a mix-up,
 * not a forgery.
 */
export function checkpointFailure(note: string, verifier: Verifier, err: unknown): string {
  if (err instanceof NoteError && (err.code === 'UNVERIFIED' || err.code === 'INVALID_SIGNATURE')) {
    const origin = note.split('\n', 1)[0]!;
    if (origin !== verifier.name) {
      return `the receipt's checkpoint is of the log ${escapeText(origin, { maxLength: 200 })}, the key is for ${verifier.name}: a receipt of another log, or the wrong key? (the checkpoint does not verify: ${err.message})`;
    }
    const otherKey = err.code === 'UNVERIFIED' ? otherKeyOfName(note, verifier) : undefined;
    if (otherKey !== undefined) return `the checkpoint does not verify: ${otherKey}`;
  }
  return `the checkpoint does not verify: ${(err as Error).message}`;
}

function decodeHash(text: string): Uint8Array | undefined {
  try {
    const h = decodeBase64(text);
    return h.length === 32 ? h : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks a receipt offline against the logged entry bytes (for a JSON
 * submission, its RFC 8785 canonical bytes) and the log's verifier: the
 * receipt's leaf hash must be SHA-256(0x00 || entry) (RFC 6962 §2.1), its
 * checkpoint a checkpoint of this log signed by `verifier` (CONTRACT §2), and
 * its inclusion proof must lead from that leaf at `index` to the checkpoint's
 * root (RFC 9162 §2.1.3.2). Never throws for a bad receipt: it says why,
 * naming both origins for a receipt of another log (or a wrong key), and
 * saying "pass its .receipt" for what addEntry, addJson or addBatch resolve
 * to (a VerifiedReceipt), whose `.receipt` is the receipt. Throws TypeError
 * if `entry` is not a Uint8Array or `verifier` not a Verifier (newVerifier
 * makes one of a verifier key).
 */
export function checkReceipt(receipt: unknown, entry: Uint8Array, verifier: Verifier): ReceiptCheck {
  if (!(entry instanceof Uint8Array)) throw new TypeError('checkReceipt: entry must be a Uint8Array');
  if (verifier === null || typeof verifier !== 'object' || typeof verifier.verify !== 'function') {
    throw new TypeError('checkReceipt: expected a Verifier');
  }
  const passed = verifiedReceiptPassed(receipt, 'checkReceipt');
  if (passed !== undefined) return { valid: false, reason: passed };
  const r = parseReceipt(receipt);
  if (typeof r === 'string') return { valid: false, reason: r };
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(r.checkpoint, verifier).checkpoint;
  } catch (err) {
    return { valid: false, reason: checkpointFailure(r.checkpoint, verifier, err) };
  }
  const check = checkReceiptProof(r, entry, checkpoint);
  return check.valid ? check : { ...check, signed: true };
}

/**
 * Checks everything {@link checkReceipt} does except the checkpoint's
 * signature: that the receipt's leaf hash is the entry's and its inclusion
 * proof leads from leaf `index` to `checkpoint`'s root (RFC 9162 §2.1.3.2).
 * For a caller that has already verified `checkpoint` (one signature check
 * for a whole batch); the receipt's own `checkpoint` field is not read.
 */
export function checkReceiptProof(receipt: unknown, entry: Uint8Array, checkpoint: Checkpoint): ReceiptCheck {
  if (!(entry instanceof Uint8Array)) throw new TypeError('checkReceiptProof: entry must be a Uint8Array');
  const passed = verifiedReceiptPassed(receipt, 'checkReceiptProof');
  if (passed !== undefined) return { valid: false, reason: passed };
  const r = parseFields(receipt);
  if (typeof r === 'string') return { valid: false, reason: r };
  const leaf = leafHash(entry);
  const claimed = decodeHash(r.leaf_hash);
  if (claimed === undefined) return { valid: false, reason: '"leaf_hash" is not canonical base64 of 32 bytes' };
  if (encodeBase64(claimed) !== encodeBase64(leaf)) return { valid: false, reason: "the entry does not have the receipt's leaf hash" };
  return proofToRoot(r, leaf, checkpoint);
}

/**
 * Checks that a receipt's inclusion proof leads from its own leaf hash at
 * its `index` to `checkpoint`'s root, as {@link checkReceiptProof} does for
 * an entry's: for a caller that holds receipts without their entries (cairn
 * add --resume, matching entries to receipts by leaf hash), and has already
 * verified `checkpoint`. On success, `leaf` is the receipt's leaf hash.
 */
export function checkReceiptLeaf(receipt: unknown, checkpoint: Checkpoint): (ReceiptCheck & { readonly valid: false }) | { readonly valid: true; readonly index: number; readonly leaf: Uint8Array } {
  const r = parseFields(receipt);
  if (typeof r === 'string') return { valid: false, reason: r };
  const leaf = decodeHash(r.leaf_hash);
  if (leaf === undefined) return { valid: false, reason: '"leaf_hash" is not canonical base64 of 32 bytes' };
  const check = proofToRoot(r, leaf, checkpoint);
  return check.valid ? { valid: true, index: check.index, leaf } : check;
}

/** Whether `proof` of receipt `r` leads from `leaf` at its index to `checkpoint`'s root. */
function proofToRoot(r: Omit<Receipt, 'checkpoint'>, leaf: Uint8Array, checkpoint: Checkpoint): ReceiptCheck {
  if (r.index >= checkpoint.treeSize) {
    return { valid: false, reason: `index ${r.index} is not in the checkpoint's tree of size ${checkpoint.treeSize}` };
  }
  const proof: Uint8Array[] = [];
  for (const p of r.inclusion_proof) {
    const h = decodeHash(p);
    if (h === undefined) return { valid: false, reason: 'an inclusion proof hash is not canonical base64 of 32 bytes' };
    proof.push(h);
  }
  if (!verifyInclusion(leaf, r.index, checkpoint.treeSize, proof, checkpoint.rootHash)) {
    return { valid: false, reason: `the inclusion proof does not lead from leaf ${r.index} to the root of the tree of size ${checkpoint.treeSize}` };
  }
  return { valid: true, index: r.index, checkpoint };
}

/**
 * Returns whether `receipt` proves that `entry` is in the log of `verifier`
 * (see {@link checkReceipt}, which also says why not).
 */
export function verifyReceipt(receipt: unknown, entry: Uint8Array, verifier: Verifier): boolean {
  return checkReceipt(receipt, entry, verifier).valid;
}
