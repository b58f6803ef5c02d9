/**
 * `cairn add --resume`: the receipts already in --receipts FILE, read and
 * verified before anything is sent, so that the entries they are for are
 * neither sent nor receipted again (a run restarted after a crash or a stop).
 * An entry is matched to a receipt by its leaf hash (RFC 6962 §2.1: of the
 * bytes logged, a JSON event's canonical ones), which the receipt holds and
 * its inclusion proof leads from.
 */

import { hash, randomBytes } from 'node:crypto';
import { ClientError } from '../client/errors.js';
import { checkpointFailure, checkReceiptLeaf, parseReceipt } from '../client/receipt.js';
import { encodeBase64 } from '../note/base64.js';
import { openCheckpoint, type Checkpoint } from '../note/checkpoint.js';
import type { Verifier } from '../note/keys.js';
import { ReceiptTrees, type ReceiptTree } from './receipt-consistency.js';
import type { ReceiptsFile } from './receipts-file.js';

/** The bytes kept of each leaf hash's key (see LeafCounts) to match entries to receipts: 128 bits. */
const KEY_BYTES = 16;

/**
 * How many receipts there are for each leaf hash, a multiset of them: an
 * open-addressing table of a key of each leaf hash and a count, 20 bytes a
 * slot and at most 4 slots for 3 distinct hashes (42 MB for a million, and
 * the 21 MB of the table before while it grows), where a Set of their base64
 * strings would take some 100 MB. The key is the first KEY_BYTES of the
 * SHA-256 of a secret drawn for each table and the leaf hash, not of the
 * leaf hash itself: whoever writes entries (the input of --stream may be others'
 * events) could otherwise make two whose leaf hashes share their first 16
 * bytes (a birthday search, some 2^64 tries), log one, and have the other
 * passed over as receipted, or make many that share their first bytes and
 * so one slot's run (a few million tries each), slowing every look-up.
 */
export class LeafCounts {
  /** The table's secret (32 bytes), then room for a leaf hash: what #keyOf hashes. */
  readonly #keyed = Buffer.concat([randomBytes(32), Buffer.alloc(32)]);
  #keys = new Uint8Array(0);
  /** Per slot: 0 when no key was ever put there, else 1 + the receipts of its key not yet taken. */
  #counts = new Uint32Array(0);
  /** Slots with a key. */
  #used = 0;
  /** Receipts counted and not yet taken. */
  #left = 0;

  constructor() {
    this.#rehash(1024);
  }

  /** Receipts counted and not yet taken. */
  get left(): number {
    return this.#left;
  }

  /** Counts one more receipt for `leaf` (a 32-byte leaf hash). */
  add(leaf: Uint8Array): void {
    if ((this.#used + 1) * 4 > this.#counts.length * 3) this.#rehash(this.#counts.length * 2);
    const key = this.#keyOf(leaf);
    const slot = this.#slot(key);
    if (this.#counts[slot] === 0) {
      this.#keys.set(key, slot * KEY_BYTES);
      this.#counts[slot] = 1;
      this.#used++;
    }
    // A count at its largest stays there: no file holds 4 billion receipts of one entry.
    if (this.#counts[slot]! < 0xffffffff) {
      this.#counts[slot]!++;
      this.#left++;
    }
  }

  /** Whether a receipt for `leaf` is held; if so, it is taken (one fewer is held). */
  take(leaf: Uint8Array): boolean {
    const slot = this.#slot(this.#keyOf(leaf));
    if (this.#counts[slot]! <= 1) return false;
    this.#counts[slot]!--;
    this.#left--;
    return true;
  }

  /**
   * `leaf`'s key: the first KEY_BYTES of SHA-256(secret || leaf), a keyed
   * hash of an input of fixed length, which nobody who does not hold the
   * secret (it never leaves this table) can aim at.
   */
  #keyOf(leaf: Uint8Array): Uint8Array {
    if (leaf.length !== 32) throw new RangeError('LeafCounts: a leaf hash is 32 bytes');
    this.#keyed.set(leaf, 32);
    return hash('sha256', this.#keyed, 'buffer').subarray(0, KEY_BYTES);
  }

  /** The slot that holds `key` (a key of #keyOf), or else the free one where it would go. */
  #slot(key: Uint8Array): number {
    const counts = this.#counts;
    const keys = this.#keys;
    const mask = counts.length - 1;
    // `>>> 0`: the first 4 bytes as an unsigned number, masked to the table.
    for (let slot = ((key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0) & mask; ; slot = (slot + 1) & mask) {
      if (counts[slot] === 0) return slot;
      const at = slot * KEY_BYTES;
      let same = true;
      for (let i = 0; i < KEY_BYTES && same; i++) same = keys[at + i] === key[i];
      if (same) return slot;
    }
  }

  /** Makes the table `slots` slots (a power of 2), keeping the keys with receipts not yet taken. */
  #rehash(slots: number): void {
    const oldKeys = this.#keys;
    const oldCounts = this.#counts;
    this.#keys = new Uint8Array(slots * KEY_BYTES);
    this.#counts = new Uint32Array(slots);
    this.#used = 0;
    for (let s = 0; s < oldCounts.length; s++) {
      if (oldCounts[s]! <= 1) continue;
      const key = oldKeys.subarray(s * KEY_BYTES, (s + 1) * KEY_BYTES);
      const slot = this.#slot(key);
      this.#keys.set(key, slot * KEY_BYTES);
      this.#counts[slot] = oldCounts[s]!;
      this.#used++;
    }
  }
}

/** How much of FILE is read at a time. */
const READ_CHUNK_BYTES = 256 * 1024;

/** The longest line read as a receipt: a log's receipt is at most 128 KiB (see verify-receipt's HELD_LIMIT); a longer line is none. */
export const MAX_RECEIPT_LINE_BYTES = 1024 * 1024;

/** How every receipt line cairn add writes begins (jsonLine of a receipt: "index" is its first field). */
const RECEIPT_START = '{"index":';

/**
 * Whether `text`, a line that is not JSON, is a receipt cut off: cairn add
 * stopped (killed, the disk full) while writing it, and the next run began
 * on a new line after it. It is the start of a receipt line, or all of it
 * but its end; or it holds a NUL byte, which no line cairn add writes does
 * (JSON escapes it): the machine stopped before the file system wrote what
 * had been appended, leaving zeros in its place (as XFS and ext4 may, for
 * the one append not yet synced).
 */
function cutOffReceipt(text: string): boolean {
  return text.startsWith(RECEIPT_START) || RECEIPT_START.startsWith(text) || text.includes('\0');
}

/** The receipts already in --receipts FILE, read by {@link readHeldReceipts}. */
export interface HeldReceipts {
  /** Each receipt's leaf hash, counted. */
  readonly counts: LeafCounts;
  /** The receipts read, each verified. */
  readonly receipts: number;
  /** The lines taken for receipts cut off (see cutOffReceipt): how many, and the first one's number. */
  readonly cutOff: { readonly lines: number; readonly first: number } | undefined;
  /** The receipt under the largest tree (the first of that size); undefined when there are none. */
  readonly newest: ReceiptTree | undefined;
  /**
   * The distinct trees (by size and root) of the receipts, each with the
   * first receipt under it, smallest first: the log's checkpoint must be
   * proved to extend every one, not only the largest, since a receipt under
   * a smaller tree that the log later dropped (a restore from an old backup,
   * a fork) proves nothing of the log as it is, whatever the larger trees of
   * other runs' receipts do.
   */
  readonly trees: readonly ReceiptTree[];
}

/** A stop signal came while the receipts in FILE were read. */
export class ResumeStopped extends Error {}

/**
 * Reads the receipts in `file` (a regular file, named `name` in messages),
 * up to its length now, one JSON line each, as cairn add writes them, and
 * verifies each: its checkpoint signed by `verifier` (each checkpoint note
 * opened once while the receipts under it follow one another, as a batch's
 * do), its inclusion proof leading from its leaf hash at its index to that
 * checkpoint's root. Blank lines are passed over, and so are receipts cut
 * off (HeldReceipts.cutOff): the entry of one is sent again, which the log
 * answers as a duplicate. Nothing else is taken: a line that is not a
 * receipt is an Error (exit 2), and so is one whose checkpoint is not signed
 * by `verifier` (another log's receipts, or another key); a receipt under
 * this log's signed checkpoint whose proof fails is a BAD_RECEIPT, and two
 * of the largest tree with different roots an INCONSISTENT ClientError (exit
 * 1). `stopped()` is asked after each read: once true, a ResumeStopped.
 */
export async function readHeldReceipts(file: ReceiptsFile, name: string, verifier: Verifier, stopped: () => boolean): Promise<HeldReceipts> {
  const counts = new LeafCounts();
  let receipts = 0;
  let cutOff: { lines: number; first: number } | undefined;
  let newest: ReceiptTree | undefined;
  const trees = new ReceiptTrees();
  /** The checkpoint note opened last, and what it opened to: a batch's receipts share one. */
  let lastNote: string | undefined;
  let lastCheckpoint: Checkpoint | undefined;
  const keyName = verifier.name;
  const notReceipts = (where: string, why: string) =>
    new Error(`${where} is not a receipt (${why}): --resume reads FILE as cairn add writes it, one receipt a line; give the receipts file of this log, or leave out --resume; nothing was sent`);

  const takeLine = (bytes: Buffer, number: number): void => {
    const text = bytes.toString('utf8');
    if (text.trim() === '') return;
    const where = `${name}:${number}`;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      if (!cutOffReceipt(text)) throw notReceipts(where, 'not JSON');
      cutOff ??= { lines: 0, first: number };
      cutOff.lines++;
      return;
    }
    const receipt = parseReceipt(value);
    if (typeof receipt === 'string') throw notReceipts(where, receipt);
    let checkpoint: Checkpoint;
    /** Whether this receipt's checkpoint is another than the line before's: its tree is then kept (once per size and root). */
    let opened = false;
    if (receipt.checkpoint === lastNote && lastCheckpoint !== undefined) checkpoint = lastCheckpoint;
    else {
      opened = true;
      try {
        checkpoint = openCheckpoint(receipt.checkpoint, verifier).checkpoint;
      } catch (err) {
        throw new Error(
          `${where}: ${checkpointFailure(receipt.checkpoint, verifier, err)}; --resume passes over only the entries that receipts signed by the log's key show logged: ` +
            `give this log's receipts file, or its key; nothing was sent`,
        );
      }
      lastNote = receipt.checkpoint;
      lastCheckpoint = checkpoint;
    }
    const check = checkReceiptLeaf(value, checkpoint);
    if (!check.valid) {
      throw new ClientError(
        'BAD_RECEIPT',
        `${where}: a receipt under a checkpoint that ${keyName} signed does not prove its leaf hash: ${check.reason} (was ${name} changed or damaged since it was written?); nothing was sent`,
      );
    }
    counts.add(check.leaf);
    receipts++;
    const size = checkpoint.treeSize;
    const tree = { checkpoint, note: receipt.checkpoint, where, index: check.index };
    if (opened) trees.add(tree);
    if (newest === undefined || size > newest.checkpoint.treeSize) newest = tree;
    else if (size === newest.checkpoint.treeSize && encodeBase64(checkpoint.rootHash) !== encodeBase64(newest.checkpoint.rootHash)) {
      throw new ClientError(
        'INCONSISTENT',
        `the receipts at ${newest.where} and ${where} are under two checkpoints of tree size ${size} with different roots (${encodeBase64(newest.checkpoint.rootHash)}, ` +
          `${encodeBase64(checkpoint.rootHash)}), both signed by ${keyName}: the log signed two histories; nothing was sent`,
      );
    }
  };

  const { size } = await file.stat();
  /** Two buffers: the next chunk is read into one while the lines of the other are checked. */
  let chunk = Buffer.alloc(READ_CHUNK_BYTES);
  let spare = Buffer.alloc(READ_CHUNK_BYTES);
  const readAt = (into: Buffer, position: number) => (position < size ? file.read(into, 0, Math.min(into.length, size - position), position) : Promise.resolve({ bytesRead: 0 }));
  /** The start of the line not yet ended, and its number. */
  let parts: Buffer[] = [];
  let held = 0;
  let number = 1;
  let next = readAt(chunk, 0);
  for (let position = 0; position < size; ) {
    const { bytesRead } = await next;
    if (stopped()) throw new ResumeStopped();
    // The file grew shorter meanwhile (cut back by another run): what is there is read.
    if (bytesRead === 0) break;
    position += bytesRead;
    next = readAt(spare, position);
    // A read that fails while this chunk's lines are checked is thrown by the await above, or, if they throw first, let go of.
    next.catch(() => undefined);
    let start = 0;
    for (let end = chunk.indexOf(0x0a, 0); end >= 0 && end < bytesRead; end = chunk.indexOf(0x0a, start)) {
      if (held + end - start > MAX_RECEIPT_LINE_BYTES) throw notReceipts(`${name}:${number}`, `a line of more than ${MAX_RECEIPT_LINE_BYTES} bytes`);
      const piece = chunk.subarray(start, end);
      takeLine(parts.length === 0 ? piece : Buffer.concat([...parts, piece]), number++);
      parts = [];
      held = 0;
      start = end + 1;
    }
    if (start < bytesRead) {
      held += bytesRead - start;
      if (held > MAX_RECEIPT_LINE_BYTES) throw notReceipts(`${name}:${number}`, `a line of more than ${MAX_RECEIPT_LINE_BYTES} bytes`);
      parts.push(Buffer.from(chunk.subarray(start, bytesRead)));
    }
    [chunk, spare] = [spare, chunk];
  }
  // The last line, without its line break: a receipt whole but for it is taken, one cut off is passed over.
  if (held > 0) takeLine(Buffer.concat(parts), number);
  return { counts, receipts, cutOff, newest, trees: trees.list() };
}
