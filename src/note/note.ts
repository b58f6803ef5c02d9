/**
 * C2SP signed notes (c2sp.org/signed-note; Go's golang.org/x/mod/sumdb/note):
 * a text ending in a newline, a blank line, then one or more lines
 * `— <key name> <base64(4-byte big-endian key hash || signature)>`.
 */
import { decodeBase64, encodeBase64 } from './base64.js';
import { isValidKeyName, type Signer, type Verifier } from './keys.js';
import { hasControlCharacter, isWellFormedText } from './text.js';

/** The largest note {@link openNote} reads, in UTF-8 bytes (C2SP signed-note §Format lets verifiers cap the size). */
export const MAX_NOTE_SIZE = 1024 * 1024;

/** The most signature lines {@link openNote} reads (the spec requires at least 16; Go allows 100). */
export const MAX_SIGNATURES = 100;

/** Stable codes of {@link NoteError}. */
export type NoteErrorCode = 'MALFORMED' | 'UNVERIFIED' | 'INVALID_SIGNATURE' | 'TOO_LARGE';

/**
 * A note or checkpoint that cannot be accepted, with a stable code:
 * `MALFORMED` (does not parse), `UNVERIFIED` (no signature by a known key),
 * `INVALID_SIGNATURE` (a known key's signature fails), `TOO_LARGE` (over
 * {@link MAX_NOTE_SIZE} bytes or {@link MAX_SIGNATURES} signature lines).
 */
export class NoteError extends Error {
  readonly code: NoteErrorCode;

  constructor(code: NoteErrorCode, message: string) {
    super(message);
    this.name = 'NoteError';
    this.code = code;
  }
}

/** One signature line of a note. */
export interface NoteSignature {
  readonly name: string;
  /** The 32-bit key hash from the signature's first four bytes. */
  readonly keyHash: number;
  /** The base64 field of the line, as it appears in the note. */
  readonly base64: string;
}

/** A signature by a known key that verified. */
export interface VerifiedSignature extends NoteSignature {
  readonly verified: true;
}

/** An opened note: its verified text and its signatures. */
export interface OpenedNote {
  /** The signed text, including its final newline. */
  readonly text: string;
  /** Signatures by known keys, each verified, in note order (one per key). */
  readonly sigs: VerifiedSignature[];
  /** Signatures by unknown keys, not verified, in note order (repeated identical lines once). */
  readonly unverifiedSigs: NoteSignature[];
}

/** Finds the verifier for a (key name, key hash) pair, or undefined for an unknown key. */
export type VerifierLookup = (name: string, keyHash: number) => Verifier | undefined;

const SIG_PREFIX = '\u2014 '; // EM DASH, space
const UTF8 = new TextEncoder();
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isUint32(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= 0xffffffff;
}

/**
 * Signs `text` with each signer and returns the signed note (C2SP
 * signed-note §Format): `text`, a blank line, then one line
 * `— <name> <base64(key hash || signature)>` per signer, in order. Each
 * signer signs the UTF-8 bytes of `text`.
 *
 * `text` must be non-empty, end in a newline, and contain no lone surrogates
 * and no control characters other than newline. Empty lines inside the text
 * are allowed: {@link openNote} splits at the last blank line, and signature
 * lines are never empty, so the text always comes back unchanged.
 *
 * @throws TypeError for wrong argument types; RangeError for invalid text, no
 * signers, more than {@link MAX_SIGNATURES}, a repeated (name, hash), an invalid
 * signer name or hash, or a note over {@link MAX_NOTE_SIZE} bytes.
 */
export function signNote(text: string, signers: readonly Signer[]): string {
  if (typeof text !== 'string') throw new TypeError('signNote: text must be a string');
  if (!Array.isArray(signers)) throw new TypeError('signNote: signers must be an array');
  if (text.length === 0 || !text.endsWith('\n')) throw new RangeError('signNote: text must be non-empty and end in a newline');
  if (!isWellFormedText(text)) throw new RangeError('signNote: text is not valid Unicode');
  if (hasControlCharacter(text, true)) throw new RangeError('signNote: text contains a control character');
  if (signers.length === 0) throw new RangeError('signNote: at least one signer is required');
  if (signers.length > MAX_SIGNATURES) throw new RangeError(`signNote: more than ${MAX_SIGNATURES} signers`);

  const message = UTF8.encode(text);
  const seen = new Set<string>();
  let sigLines = '';
  for (const signer of signers) {
    if (signer === null || typeof signer !== 'object' || typeof signer.sign !== 'function') {
      throw new TypeError('signNote: not a Signer');
    }
    if (!isValidKeyName(signer.name)) throw new RangeError('signNote: invalid signer name');
    if (!isUint32(signer.keyHash)) throw new RangeError('signNote: signer key hash is not a uint32');
    const id = `${signer.name} ${signer.keyHash}`;
    if (seen.has(id)) throw new RangeError(`signNote: signer ${signer.name} given twice`);
    seen.add(id);

    const sig = signer.sign(message);
    if (!(sig instanceof Uint8Array) || sig.length === 0) throw new TypeError('signNote: signer returned no signature');
    const blob = new Uint8Array(4 + sig.length);
    new DataView(blob.buffer).setUint32(0, signer.keyHash, false);
    blob.set(sig, 4);
    sigLines += `${SIG_PREFIX}${signer.name} ${encodeBase64(blob)}\n`;
  }
  const note = `${text}\n${sigLines}`;
  if (message.length + 1 + UTF8.encode(sigLines).length > MAX_NOTE_SIZE) {
    throw new RangeError(`signNote: note would exceed ${MAX_NOTE_SIZE} bytes`);
  }
  return note;
}

function malformed(message: string): NoteError {
  return new NoteError('MALFORMED', `malformed note: ${message}`);
}

function toLookup(verifiers: readonly Verifier[] | VerifierLookup): VerifierLookup {
  if (typeof verifiers === 'function') return verifiers;
  if (!Array.isArray(verifiers)) throw new TypeError('openNote: verifiers must be an array or a function');
  for (const v of verifiers) {
    if (v === null || typeof v !== 'object' || typeof v.verify !== 'function') {
      throw new TypeError('openNote: not a Verifier');
    }
  }
  return (name, hash) => verifiers.find((v) => v.name === name && v.keyHash === hash);
}

/**
 * Opens a signed note (C2SP signed-note §Format, §Signatures) and returns its
 * text once at least one signature by a known key has verified.
 *
 * The note must be valid UTF-8 (bytes are decoded with a fatal decoder; a
 * string must have no lone surrogates), at most {@link MAX_NOTE_SIZE} bytes,
 * with no control characters other than newline, ending in a newline. It is
 * split at its last blank line; every line after it must be a well-formed
 * signature line with a valid key name and at least 5 bytes of base64
 * (at most {@link MAX_SIGNATURES} lines). Signatures by unknown keys (no
 * verifier with both that name and that hash) are ignored and listed in
 * `unverifiedSigs`. Every signature by a known key is verified, and one that
 * fails rejects the whole note.
 *
 * @param verifiers the known keys, or a function returning the verifier for a
 * (name, hash) pair or undefined.
 * @throws NoteError with code MALFORMED, TOO_LARGE, INVALID_SIGNATURE or
 * UNVERIFIED; TypeError for wrong argument types or a lookup that returns a
 * verifier for a different (name, hash).
 */
export function openNote(message: string | Uint8Array, verifiers: readonly Verifier[] | VerifierLookup): OpenedNote {
  const lookup = toLookup(verifiers);
  let note: string;
  if (typeof message === 'string') {
    // UTF-8 is never shorter than UTF-16 code units, so this bounds the work before encoding.
    if (message.length > MAX_NOTE_SIZE) throw new NoteError('TOO_LARGE', `note exceeds ${MAX_NOTE_SIZE} bytes`);
    if (!isWellFormedText(message)) throw malformed('not valid Unicode');
    note = message;
  } else if (message instanceof Uint8Array) {
    if (message.length > MAX_NOTE_SIZE) throw new NoteError('TOO_LARGE', `note exceeds ${MAX_NOTE_SIZE} bytes`);
    try {
      note = UTF8_STRICT.decode(message);
    } catch {
      throw malformed('not valid UTF-8');
    }
  } else {
    throw new TypeError('openNote: message must be a string or a Uint8Array');
  }
  if (hasControlCharacter(note, true)) throw malformed('control character');

  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) throw malformed('signature block must be non-empty and end in a newline');
  const textBytes = UTF8.encode(text);
  if (typeof message === 'string' && textBytes.length + 1 + UTF8.encode(block).length > MAX_NOTE_SIZE) {
    throw new NoteError('TOO_LARGE', `note exceeds ${MAX_NOTE_SIZE} bytes`);
  }

  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new NoteError('TOO_LARGE', `more than ${MAX_SIGNATURES} signatures`);

  const sigs: VerifiedSignature[] = [];
  const unverifiedSigs: NoteSignature[] = [];
  const seenVerified = new Set<string>();
  const seenUnverified = new Set<string>();
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX)) throw malformed('signature line does not start with an em dash and a space');
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space < 0) throw malformed('signature line has no signature');
    const name = rest.slice(0, space);
    const b64 = rest.slice(space + 1);
    if (!isValidKeyName(name)) throw malformed('invalid key name in signature line');
    let blob: Uint8Array;
    try {
      blob = decodeBase64(b64);
    } catch {
      throw malformed('signature is not canonical base64');
    }
    if (blob.length < 5) throw malformed('signature too short');
    const hash = new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0, false);
    const sig = blob.subarray(4);

    const verifier = lookup(name, hash);
    if (verifier === undefined) {
      if (!seenUnverified.has(line)) {
        seenUnverified.add(line);
        unverifiedSigs.push({ name, keyHash: hash, base64: b64 });
      }
      continue;
    }
    if (verifier === null || typeof verifier !== 'object' || typeof verifier.verify !== 'function') {
      throw new TypeError('openNote: verifier lookup returned a non-Verifier');
    }
    if (verifier.name !== name || verifier.keyHash !== hash) {
      throw new TypeError('openNote: verifier lookup returned a verifier for a different key');
    }
    // Unlike Go, every signature by a known key is checked, repeats included.
    if (!verifier.verify(textBytes, sig)) {
      throw new NoteError('INVALID_SIGNATURE', `invalid signature by ${name}`);
    }
    const id = `${name} ${hash}`;
    if (!seenVerified.has(id)) {
      seenVerified.add(id);
      sigs.push({ name, keyHash: hash, base64: b64, verified: true });
    }
  }
  if (sigs.length === 0) throw new NoteError('UNVERIFIED', 'no signature by a known key');
  return { text, sigs, unverifiedSigs };
}
