/**
 * C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint §Note text): the body of a
 * log's signed tree head, `<origin>\n<tree size>\n<base64 root hash>\n`
 * followed by optional non-empty extension lines, signed as a signed note.
 *
 * Errors: arguments that are not what the signature says throw TypeError /
 * RangeError; checkpoint text that does not parse (including a wrong origin)
 * throws {@link NoteError} with code MALFORMED.
 */
import { decodeBase64, encodeBase64 } from './base64.js';
import type { Signer, Verifier } from './keys.js';
import { NoteError, openNote, signNote } from './note.js';
import { hasControlCharacter, isWellFormedText } from './text.js';

/** A parsed checkpoint (c2sp.org/tlog-checkpoint §Note text). */
export interface Checkpoint {
  /** The log's identity, first line; non-empty. */
  origin: string;
  /** The number of leaves in the tree. */
  treeSize: number;
  /** The 32-byte RFC 6962 root hash of the tree of `treeSize` leaves. */
  rootHash: Uint8Array;
  /** Extension lines after the root hash, each non-empty, without newlines. */
  extensions: string[];
}

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

/** Reports whether `line` can be one line of a checkpoint: non-empty, valid Unicode, no control characters. */
function isValidLine(line: string): boolean {
  return line.length > 0 && isWellFormedText(line) && !hasControlCharacter(line, false);
}

/**
 * Formats the body of a checkpoint (c2sp.org/tlog-checkpoint §Note text):
 * origin, tree size in canonical decimal, standard base64 of the root hash,
 * then each extension line, every line ending in a newline.
 *
 * @throws TypeError for wrong field types; RangeError for an empty origin or
 * extension, a control character (including a newline) in one, a tree size
 * that is not a safe non-negative integer, or a root hash that is not 32 bytes.
 */
export function formatCheckpoint(c: Checkpoint): string {
  if (c === null || typeof c !== 'object') throw new TypeError('formatCheckpoint: expected a checkpoint');
  const { origin, treeSize, rootHash, extensions } = c;
  if (typeof origin !== 'string') throw new TypeError('formatCheckpoint: origin must be a string');
  if (!isValidLine(origin)) throw new RangeError('formatCheckpoint: origin must be a non-empty line without control characters');
  if (typeof treeSize !== 'number') throw new TypeError('formatCheckpoint: treeSize must be a number');
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new RangeError('formatCheckpoint: treeSize must be a safe non-negative integer');
  if (!(rootHash instanceof Uint8Array)) throw new TypeError('formatCheckpoint: rootHash must be a Uint8Array');
  if (rootHash.length !== 32) throw new RangeError('formatCheckpoint: rootHash must be 32 bytes');
  if (!Array.isArray(extensions)) throw new TypeError('formatCheckpoint: extensions must be an array');
  let body = `${origin}\n${treeSize}\n${encodeBase64(rootHash)}\n`;
  for (const line of extensions) {
    if (typeof line !== 'string') throw new TypeError('formatCheckpoint: extension lines must be strings');
    if (!isValidLine(line)) throw new RangeError('formatCheckpoint: extension lines must be non-empty without control characters');
    body += `${line}\n`;
  }
  return body;
}

function malformed(message: string): NoteError {
  return new NoteError('MALFORMED', `malformed checkpoint: ${message}`);
}

/**
 * Parses a checkpoint body (c2sp.org/tlog-checkpoint §Note text) strictly:
 * every line ends in a newline; the origin is non-empty (and equals
 * `expectedOrigin` when given); the tree size is canonical decimal (no sign,
 * no leading zeros, no exponent) and a safe integer; the root hash is
 * canonical standard base64 of exactly 32 bytes; extension lines are
 * non-empty. No line may contain a control character.
 *
 * @throws TypeError if `text` or `expectedOrigin` is not a string;
 * NoteError('MALFORMED') for anything else wrong, including a different origin.
 */
export function parseCheckpoint(text: string, expectedOrigin?: string): Checkpoint {
  if (typeof text !== 'string') throw new TypeError('parseCheckpoint: text must be a string');
  if (expectedOrigin !== undefined && typeof expectedOrigin !== 'string') {
    throw new TypeError('parseCheckpoint: expectedOrigin must be a string');
  }
  if (!text.endsWith('\n')) throw malformed('must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed('fewer than three lines');
  for (const line of lines) {
    if (!isValidLine(line)) throw malformed('empty line, control character or invalid Unicode');
  }
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (expectedOrigin !== undefined && origin !== expectedOrigin) {
    throw malformed(`origin ${JSON.stringify(origin)} is not ${JSON.stringify(expectedOrigin)}`);
  }
  if (!DECIMAL.test(sizeText)) throw malformed('tree size is not canonical decimal');
  const treeSize = Number(sizeText);
  if (!Number.isSafeInteger(treeSize)) throw malformed('tree size is too large');
  let rootHash: Uint8Array;
  try {
    rootHash = decodeBase64(rootText);
  } catch {
    throw malformed('root hash is not canonical base64');
  }
  if (rootHash.length !== 32) throw malformed('root hash is not 32 bytes');
  return { origin, treeSize, rootHash, extensions: lines.slice(3) };
}

/**
 * Signs a checkpoint as a signed note (CONTRACT §2; c2sp.org/tlog-checkpoint
 * §Signatures): the log's key name must equal the checkpoint's origin.
 *
 * @throws as {@link formatCheckpoint} and {@link signNote}; RangeError if
 * `signer.name` differs from `c.origin`.
 */
export function signCheckpoint(c: Checkpoint, signer: Signer): string {
  const body = formatCheckpoint(c);
  if (signer === null || typeof signer !== 'object') throw new TypeError('signCheckpoint: expected a Signer');
  if (signer.name !== c.origin) throw new RangeError('signCheckpoint: signer name must equal the origin');
  return signNote(body, [signer]);
}

/**
 * Opens a signed checkpoint with the log's verifier (CONTRACT §2): the note
 * must carry a valid signature by `verifier` and its origin line must equal
 * the verifier's key name. Other signatures (e.g. witnesses) are ignored.
 *
 * @returns the parsed checkpoint and the signed text.
 * @throws NoteError as {@link openNote} and {@link parseCheckpoint}.
 */
export function openCheckpoint(note: string | Uint8Array, verifier: Verifier): { checkpoint: Checkpoint; text: string } {
  if (verifier === null || typeof verifier !== 'object') throw new TypeError('openCheckpoint: expected a Verifier');
  const { text } = openNote(note, [verifier]);
  return { checkpoint: parseCheckpoint(text, verifier.name), text };
}
