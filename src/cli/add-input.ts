/**
 * What `cairn add` reads: FILEs and standard input, as one entry each or as
 * JSON Lines, checked before anything is sent (a FILE read again to send
 * it, what cannot be read twice held) or, with --stream, as they come.
 */

import { isUtf8 } from 'node:buffer';
import { close as closeFd, constants, open as openFd, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { Socket } from 'node:net';
import { isatty, ReadStream as TtyReadStream } from 'node:tty';
import { promisify } from 'node:util';
import { canonicalizeJson, JsonError } from '../jcs/canonical.js';
import { MAX_JSON_BODY } from '../jcs/parse.js';
import { MAX_ENTRY_SIZE } from '../merkle/bundle.js';
import { UsageError } from './args.js';
import { cannotRead } from './client-common.js';

/**
 * The longest line --json-lines accepts, its line ending not counted: the
 * largest JSON body the log takes (CONTRACT §1), far more than the JSON of an
 * entry needs, but it bounds what is held of a line that never ends.
 */
export const MAX_LINE_BYTES = MAX_JSON_BODY;

/** How much of a FILE is read at a time: with one line and one batch, all that is held of it. */
export const READ_CHUNK_BYTES = 64 * 1024;

/**
 * The most cairn add holds of an input it cannot read twice (standard input,
 * a FILE that is a pipe) when it checks all of its input before sending
 * (without --stream): 1 GiB. More stops it, nothing sent, with words that
 * say what to do, well before node's own limit of one buffer (4 GiB), which
 * says only that a "size" is out of range.
 */
export const MAX_HELD_INPUT_BYTES = 2 ** 30;

export interface Input {
  readonly entry: Uint8Array;
  /** FILE or FILE:LINE, for messages. */
  readonly source: string;
}

/** A line of input without its line ending, numbered from 1. */
export interface Line {
  readonly bytes: Uint8Array;
  readonly number: number;
  /** Set on the last line when the input ends without a line break after it (a producer stopped while writing it, say). */
  readonly unended?: true;
}

/**
 * An input as the checking pass found it, for the sending pass to read again:
 * a regular file is reopened and must still look the same (`stamp`); standard
 * input or a pipe cannot be read twice and is held.
 */
export type Checked =
  | { readonly kind: 'held'; readonly name: string; readonly entries: number; readonly chunks: readonly Uint8Array[] }
  | { readonly kind: 'file'; readonly name: string; readonly entries: number; readonly stamp: Stats };

/** An input that the sending pass could not read as the checking pass had. */
export class InputError extends Error {}

/**
 * Input that cairn add cannot log: a line that is not I-JSON or is too long,
 * an entry empty or too large, more input than it holds. What the input
 * holds is at fault, not the command line, so its message gets no pointer
 * to --help, as a UsageError's does.
 */
export class BadInputError extends Error {
  /** Set when the message says already that nothing was sent (heldTooMuch), for cairn add not to say it again. */
  saysNothingSent?: true;
}

/** A stop signal came while cairn add read `input` before sending anything. */
export class StoppedReading extends Error {
  constructor(readonly input: string) {
    super(`stopped while reading ${input}`);
  }
}

/**
 * Refuses an entry of `length` bytes that the log cannot hold (CONTRACT §1:
 * 1 to 65,535 bytes), naming `source`; `canonical` when those are the RFC
 * 8785 form of JSON read, whose own length the reader does not see.
 */
export function checkSize(length: number, source: string, canonical = false): void {
  if (length === 0) throw new BadInputError(`${source}: an entry must hold at least one byte`);
  if (length > MAX_ENTRY_SIZE) {
    throw new BadInputError(`${source}: ${canonical ? 'its canonical form (RFC 8785) is ' : ''}${length} bytes; an entry holds at most ${MAX_ENTRY_SIZE}`);
  }
}

export function isSystemError(err: unknown): boolean {
  // Not `instanceof Error`: node's own errors may come from another realm (a test's vm context). Their
  // codes are the OS's (ENOENT, EISDIR, ...) or node's (ERR_...), not Cairn's own (INVALID_JSON, ENTRY_MISMATCH).
  const code = typeof err === 'object' && err !== null ? (err as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' && /^(E[A-Z0-9]+|ERR_[A-Z0-9_]+)$/.test(code);
}

/** The error of line `number` of `name`, more than `maxBytes` long. */
function lineTooLong(name: string, number: number, maxBytes: number): BadInputError {
  return new BadInputError(`${name}:${number}: a line longer than ${maxBytes} bytes, too long for a JSON event`);
}

/** "\n" bytes, to compare a long run of them with a block at a time. */
const NEWLINES = Buffer.alloc(4096, 0x0a);

/** Where the run of "\n" that begins at `start` of `chunk` ends: past 64 of them, found 4 KiB at a time. */
function newlinesEnd(chunk: Uint8Array, start: number): number {
  let at = start;
  while (at < chunk.length && chunk[at] === 0x0a) {
    at++;
    if (at - start === 64) {
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      while (chunk.length - at >= NEWLINES.length && NEWLINES.compare(bytes, at, at + NEWLINES.length) === 0) at += NEWLINES.length;
    }
  }
  return at;
}

/**
 * Splits byte chunks into lines as they come, holding no more than the line
 * not yet ended: a line ends at "\n", one "\r" before it is dropped, and the
 * last line may lack its "\n" (end() gives it, `unended`). A line of more
 * than `maxBytes` bytes throws a BadInputError naming `name:LINE` as soon as
 * that many bytes of it are seen, so a FILE without newlines is never held
 * whole.
 */
export class LineSplitter {
  #parts: Uint8Array[] = [];
  #held = 0;
  #number = 1;

  constructor(
    private readonly name: string,
    private readonly maxBytes = MAX_LINE_BYTES,
  ) {}

  #tooLong(): BadInputError {
    return lineTooLong(this.name, this.#number, this.maxBytes);
  }

  #line(tail: Uint8Array): Line {
    let bytes = this.#parts.length === 0 ? tail : Buffer.concat([...this.#parts, tail], this.#held + tail.length);
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    if (bytes.length > this.maxBytes) throw this.#tooLong();
    this.#parts = [];
    this.#held = 0;
    return { bytes, number: this.#number++ };
  }

  /**
   * Gives `each`, in order, the lines that `chunk` ends (views of it, for
   * `each` to use at once), and holds a copy of the one it leaves open.
   * Without `empty`, lines of no bytes at all are only counted: a run of
   * them (input padded with newlines) is passed over at once (newlinesEnd),
   * not searched for a line at a time.
   */
  push(chunk: Uint8Array, each: (line: Line) => void, empty = true): void {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
      // One byte more than maxBytes may be the "\r" of a "\r\n".
      if (this.#held + end - start > this.maxBytes + 1) throw this.#tooLong();
      if (!empty && end === start && this.#held === 0) {
        const next = newlinesEnd(chunk, start);
        this.#number += next - start;
        start = next;
        continue;
      }
      each(this.#line(chunk.subarray(start, end)));
      start = end + 1;
    }
    if (start < chunk.length) {
      this.#held += chunk.length - start;
      if (this.#held > this.maxBytes + 1) throw this.#tooLong();
      this.#parts.push(chunk.slice(start));
    }
  }

  /** The last line, when the input ended without a line break after it. */
  end(): Line | undefined {
    return this.#held > 0 ? { ...this.#line(new Uint8Array(0)), unended: true } : undefined;
  }
}

/**
 * The lines of byte chunks (LineSplitter), holding no more than one line and
 * the lines of one chunk: a line too long is thrown once those before it are
 * given.
 */
export async function* splitLines(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, name: string, maxBytes = MAX_LINE_BYTES): AsyncGenerator<Line> {
  const lines = new LineSplitter(name, maxBytes);
  for await (const chunk of chunks) {
    const ended: Line[] = [];
    let tooLong: unknown;
    try {
      lines.push(chunk, (line) => void ended.push(line));
    } catch (err) {
      tooLong = err;
    }
    yield* ended;
    if (tooLong !== undefined) throw tooLong;
  }
  const last = lines.end();
  if (last !== undefined) yield last;
}

/**
 * Where `bytes` stop being UTF-8 (RFC 3629): the offset of the first byte
 * that does not begin a well-formed character (a stray continuation byte, a
 * lead byte without its continuation bytes, an overlong form, a surrogate,
 * past U+10FFFF), or undefined when all of them are UTF-8.
 */
function badUtf8At(bytes: Uint8Array): number | undefined {
  if (isUtf8(bytes)) return undefined;
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const follow = lead >= 0xc2 && lead <= 0xdf ? 1 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xf0 && lead <= 0xf4 ? 3 : 0;
    if (follow === 0) return i;
    // The second byte's range rules out overlong forms (E0, F0), surrogates (ED) and code points past U+10FFFF (F4).
    const low = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
    const high = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k <= follow; k++) {
      const b = bytes[i + k];
      if (b === undefined || b < (k === 1 ? low : 0x80) || b > (k === 1 ? high : 0xbf)) return i;
    }
    i += follow + 1;
  }
  return undefined;
}

/** The entry of a line of JSON Lines `name`: its canonical form, checked; undefined for a blank line. */
function lineEntry({ bytes, number, unended }: Line, name: string): Input | undefined {
  if (!bytes.some((b) => b !== 0x20 && b !== 0x09)) return undefined;
  const source = `${name}:${number}`;
  // A last line that is JSON is whole, with or without its line break; one that is not may have been cut off.
  const cut = unended === true ? ' (the last line, with no line break after it: cut off where its producer stopped writing?)' : '';
  let entry: Uint8Array;
  try {
    entry = canonicalizeJson(bytes);
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
    const at = badUtf8At(bytes);
    if (at !== undefined) {
      const shown = Array.from(bytes.subarray(at, at + 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new BadInputError(
        `${source}: not UTF-8 text: byte ${at + 1} of the line (of ${shown}) begins no UTF-8 character; ` +
          `a JSON event is UTF-8 text (RFC 8259 §8.1): is the input in another encoding, such as Latin-1?${cut}`,
      );
    }
    throw new BadInputError(`${source}: not an I-JSON value: ${err.message}${cut}`);
  }
  checkSize(entry.length, source, true);
  return { entry, source };
}

/** The entries of JSON Lines: each non-blank line's canonical form, checked. */
export async function* jsonLineEntries(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, name: string): AsyncGenerator<Input> {
  for await (const line of splitLines(chunks, name)) {
    const next = lineEntry(line, name);
    if (next !== undefined) yield next;
  }
}

/**
 * The check of JSON Lines `name` held whole (holdInput) as it is read:
 * `check(chunk)` checks each line the chunk ends as jsonLineEntries would,
 * and throws what it would of the first bad one, so that a bad line stops
 * the reading where it is rather than after MAX_HELD_INPUT_BYTES (an
 * endless pipe of bad lines was read to that limit, then named as too much
 * input to hold); `end()` checks the last line left open and gives the
 * count of entries.
 */
function heldLinesCheck(name: string): { check: (chunk: Uint8Array) => void; end: () => number } {
  const lines = new LineSplitter(name);
  let entries = 0;
  const count = (line: Line) => {
    if (lineEntry(line, name) !== undefined) entries++;
  };
  return {
    check: (chunk) => lines.push(chunk, count, false),
    end: () => {
      const last = lines.end();
      if (last !== undefined) count(last);
      return entries;
    },
  };
}

/** A file's bytes from where `handle` is, READ_CHUNK_BYTES at a time, each read only when asked for. */
async function* readChunks(handle: FileHandle): AsyncGenerator<Uint8Array> {
  for (;;) {
    const chunk = new Uint8Array(READ_CHUNK_BYTES);
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) return;
    yield chunk.subarray(0, bytesRead);
  }
}

/** Up to `limit` bytes from the start of a file. */
async function readAtMost(handle: FileHandle, limit: number): Promise<Uint8Array> {
  const buf = new Uint8Array(limit);
  let at = 0;
  while (at < limit) {
    const { bytesRead } = await handle.read(buf, at, limit - at, at);
    if (bytesRead === 0) break;
    at += bytesRead;
  }
  return buf.subarray(0, at);
}

/** What {@link orStop} resolves to when the stop comes first. */
export const STOP = Symbol('stop');

/**
 * What `promise` resolves to, or STOP once `signal` aborts (at once if it
 * has). Its listener goes with the wait: a read that waits for each line
 * this way adds nothing that lasts (racing one lasting promise of the stop
 * would keep a reaction of every line, for as long as the input goes on).
 */
export async function orStop<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof STOP> {
  let off: () => void = () => undefined;
  const stopped = new Promise<typeof STOP>((resolve) => {
    const on = () => resolve(STOP);
    if (signal.aborted) return resolve(STOP);
    signal.addEventListener('abort', on, { once: true });
    off = () => signal.removeEventListener('abort', on);
  });
  try {
    return await Promise.race([promise, stopped]);
  } finally {
    off();
  }
}

/**
 * An input being read as it comes: its bytes, and `release`, which stops
 * reading it before its end (idempotent), so that a cairn add that stops
 * early does not wait for whatever writes it (a producer that never ends).
 */
export interface Opened {
  readonly chunks: AsyncIterable<Uint8Array>;
  release(): void;
  /**
   * Set when its reads wait in node's thread pool (a FileHandle's, of a
   * device that is not a terminal): one that never ends cannot be let go of,
   * and keeps the process from ending, even by process.exit(), which waits
   * for that thread.
   */
  readonly mayBlock?: true;
}

/** open(2) of a path, as a file descriptor of its own (for a stream to own, which a FileHandle's is not). */
const openRaw = promisify(openFd);

/**
 * Lets go of an open of the FIFO at `path` for reading that waits for its
 * writer (its thread in node's pool, and with it the process, would wait
 * for as long as none comes): opens the FIFO's write end without waiting
 * (O_NONBLOCK, which succeeds since the waiting reader counts as one) and
 * closes it again, so that the open returns. Tried again while `pending()`:
 * the open may not have reached the kernel yet (ENXIO, no reader), or a
 * reader of another process's may have been the one that counted.
 */
function unblockOpen(path: string, pending: () => boolean): void {
  let delayMs = 10;
  const attempt = () => {
    if (!pending()) return;
    openFd(path, constants.O_WRONLY | constants.O_NONBLOCK, (err, fd) => {
      if (err === null) closeFd(fd, () => undefined);
      else if (err.code !== 'ENXIO') return;
      setTimeout(attempt, delayMs);
      delayMs = Math.min(1000, delayMs * 2);
    });
  };
  attempt();
}

/**
 * Opens a FILE that is a FIFO as node reads standard input when it is a
 * pipe, so that reading it can be stopped at once: a FileHandle's read of a
 * FIFO waits in node's thread pool until the writer writes, and the process
 * with it. The open itself waits for a writer, as any open of a FIFO; once
 * `signal` aborts, it is made to return (unblockOpen), and what it opened is
 * for the caller to let go of.
 */
async function openPipe(path: string, signal?: AbortSignal): Promise<Opened> {
  let pending = true;
  const unblock = () => unblockOpen(path, () => pending);
  if (signal?.aborted === true) unblock();
  else signal?.addEventListener('abort', unblock, { once: true });
  let fd: number;
  try {
    fd = await openRaw(path, 'r');
  } finally {
    pending = false;
    signal?.removeEventListener('abort', unblock);
  }
  const socket = new Socket({ fd, readable: true, writable: false });
  return { chunks: socket, release: () => void socket.destroy() };
}

/**
 * Opens a FILE that is a terminal (a pty, /dev/tty, /dev/stdin typed into)
 * as a tty.ReadStream, whose reads wait in the event loop, so that reading
 * it can be stopped at once: a FileHandle's read of a terminal waits in
 * node's thread pool until a line is typed, and the process with it (its
 * exit joins that thread). Undefined for a device that is not a terminal.
 */
async function openTerminal(path: string): Promise<Opened | undefined> {
  const fd = await openRaw(path, 'r');
  if (!isatty(fd)) {
    closeFd(fd, () => undefined);
    return undefined;
  }
  const stream = new TtyReadStream(fd);
  return { chunks: stream, release: () => void stream.destroy() };
}

/** An input read by its FileHandle, READ_CHUNK_BYTES at a time; `mayBlock` for a device. */
function handleInput(handle: FileHandle, mayBlock: boolean): Opened {
  let closed = false;
  return {
    chunks: readChunks(handle),
    release: () => {
      if (closed) return;
      closed = true;
      void handle.close().catch(() => undefined);
    },
    ...(mayBlock ? { mayBlock: true as const } : {}),
  };
}

/**
 * Opens FILE to read it as it comes: a FIFO as a pipe (see openPipe, its
 * wait for a writer ended once `signal` aborts), a terminal as one
 * (openTerminal), anything else by its FileHandle.
 */
export async function openInput(path: string, signal?: AbortSignal): Promise<Opened> {
  const stats = await stat(path);
  if (stats.isFIFO()) return openPipe(path, signal);
  if (stats.isCharacterDevice()) {
    const terminal = await openTerminal(path);
    if (terminal !== undefined) return terminal;
  }
  const handle = await open(path, 'r');
  try {
    return handleInput(handle, !(await handle.stat()).isFile());
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** What the checking pass needs to read an input and to stop when asked to. */
export interface Reading {
  /** Standard input, opened once. */
  stdin(): Opened;
  /** Aborted at a stop signal. */
  readonly signal: AbortSignal;
}

/**
 * All of `opened`'s bytes while they are no more than `limit`: more throws
 * `tooMuch(read)`, `read` the chunks read so far (for a message that says
 * what they look like), a stop signal a StoppedReading naming `input`;
 * either stops reading it (release) at once, holding no more than `limit`
 * and one chunk.
 */
export async function holdAll(opened: Opened, input: string, limit: number, tooMuch: (read: readonly Uint8Array[]) => Error, signal: AbortSignal): Promise<Uint8Array> {
  return joined(await holdChunks(opened, input, limit, tooMuch, signal));
}

/** The bytes of `chunks` in one array: the one chunk itself, or a copy. */
function joined(chunks: readonly Uint8Array[]): Uint8Array {
  return chunks.length === 1 ? chunks[0]! : new Uint8Array(Buffer.concat(chunks));
}

/**
 * A chunk read shorter than this is held copied into one block of at least
 * HELD_BLOCK_BYTES with the chunks read after it: a pipe whose writer writes
 * a line at a time gives a chunk of each, and every chunk held costs some
 * 500 bytes besides its own (a JSON event of 17 bytes a line, 102 MB of
 * them, took 426 MB held as its 5 million chunks, which made 1 GiB of such
 * input, MAX_HELD_INPUT_BYTES, take some 4 GB).
 */
export const HELD_SMALL_CHUNK_BYTES = 16 * 1024;
export const HELD_BLOCK_BYTES = 64 * 1024;

/**
 * What holdAll reads, as the chunks read, so that input held whole is not
 * held twice while it is copied into one array (900 MB of JSON Lines from
 * standard input peaked at 2.7 GB); small ones are copied into blocks (see
 * HELD_SMALL_CHUNK_BYTES). `checkChunk`, when given, sees each chunk once
 * it is held, and what it throws stops the reading too.
 */
async function holdChunks(
  opened: Opened,
  input: string,
  limit: number,
  tooMuch: (read: readonly Uint8Array[]) => Error,
  signal: AbortSignal,
  checkChunk?: (chunk: Uint8Array) => void,
): Promise<Uint8Array[]> {
  const chunks = opened.chunks[Symbol.asyncIterator]();
  const parts: Uint8Array[] = [];
  /** Small chunks read since the last block, to be copied into the next one. */
  let small: Uint8Array[] = [];
  let smallBytes = 0;
  const toBlock = () => {
    if (small.length === 0) return;
    // Copied even alone: a short read of a FileHandle's is a view of a buffer of READ_CHUNK_BYTES.
    const block = new Uint8Array(smallBytes);
    let at = 0;
    for (const chunk of small) {
      block.set(chunk, at);
      at += chunk.length;
    }
    parts.push(block);
    small = [];
    smallBytes = 0;
  };
  const heldNow = () => (small.length === 0 ? parts : [...parts, ...small]);
  let held = 0;
  try {
    for (;;) {
      const next = await orStop(chunks.next(), signal);
      if (next === STOP) throw new StoppedReading(input);
      if (next.done === true) break;
      const chunk = next.value;
      held += chunk.length;
      if (chunk.length < HELD_SMALL_CHUNK_BYTES) {
        small.push(chunk);
        smallBytes += chunk.length;
      } else {
        toBlock();
        parts.push(chunk);
      }
      checkChunk?.(chunk);
      if (held > limit) throw tooMuch(heldNow());
      if (smallBytes >= HELD_BLOCK_BYTES) toBlock();
    }
  } catch (err) {
    opened.release();
    throw err;
  }
  toBlock();
  return parts;
}

async function countEntries(entries: AsyncIterable<Input>, input: string, signal: AbortSignal): Promise<number> {
  let n = 0;
  for await (const _ of entries) {
    if (signal.aborted) throw new StoppedReading(input);
    n++;
  }
  return n;
}

/**
 * The error of JSON Lines input `name` ('<stdin>', or a FILE that is a pipe
 * or a device) that holds more than MAX_HELD_INPUT_BYTES: what to give
 * instead. A FILE already given is not a regular one, which alone is read
 * twice rather than held.
 */
export function heldTooMuch(name: string): BadInputError {
  const stdin = name === '<stdin>';
  const err = new BadInputError(
    `${stdin ? 'standard input' : name} holds more than ${MAX_HELD_INPUT_BYTES} bytes (${MAX_HELD_INPUT_BYTES / 2 ** 30} GiB), more than cairn add holds to check all of it before sending: nothing was sent; ` +
      `${stdin ? 'give it as a FILE' : 'give a regular file in its place'} (read twice, never held), or add --stream to send its lines as they are read`,
  );
  err.saysNothingSent = true;
  return err;
}

/** The error of input `name`, one entry, once more than MAX_ENTRY_SIZE bytes of it were read. */
export function entryTooLarge(name: string): BadInputError {
  return new BadInputError(`${name}: more than ${MAX_ENTRY_SIZE} bytes; an entry holds at most ${MAX_ENTRY_SIZE}`);
}

/**
 * Reads all of an input that cannot be read twice (standard input, a pipe)
 * and checks it: up to what one entry holds, or with `jsonLines` up to
 * MAX_HELD_INPUT_BYTES, its lines checked as they are read (heldLinesCheck),
 * so that the first bad one stops the reading.
 */
async function holdInput(opened: Opened, name: string, jsonLines: boolean, reading: Reading): Promise<Checked> {
  const what = name === '<stdin>' ? 'standard input' : name;
  if (!jsonLines) {
    const chunks = await holdChunks(opened, what, MAX_ENTRY_SIZE, () => entryTooLarge(name), reading.signal);
    checkSize(chunks.reduce((sum, c) => sum + c.length, 0), name);
    return { kind: 'held', name, chunks, entries: 1 };
  }
  const lines = heldLinesCheck(name);
  const chunks = await holdChunks(opened, what, MAX_HELD_INPUT_BYTES, () => heldTooMuch(name), reading.signal, lines.check);
  return { kind: 'held', name, chunks, entries: lines.end() };
}

/**
 * The checking pass over one input: every entry canonicalized and its size
 * checked, nothing kept of a regular file but its entry count and stat. A FILE
 * that is one entry is checked by its size alone, so a huge one is not read.
 * A stop signal throws a StoppedReading.
 */
export async function check(source: string, jsonLines: boolean, reading: Reading): Promise<Checked> {
  if (source === '-') return await holdInput(reading.stdin(), '<stdin>', jsonLines, reading);
  let handle: FileHandle | undefined;
  try {
    const kind = await stat(source);
    if (kind.isFIFO()) {
      // The open waits for a writer; a stop meanwhile ends that wait and lets go of the pipe.
      const opening = openPipe(source, reading.signal);
      const opened = await orStop(opening, reading.signal);
      if (opened === STOP) {
        opening.then((o) => o.release(), () => undefined);
        throw new StoppedReading(source);
      }
      return await holdInput(opened, source, jsonLines, reading);
    }
    if (kind.isCharacterDevice()) {
      // A terminal is read as it comes, and let go of at a stop (holdInput); another device by its FileHandle.
      const terminal = await openTerminal(source);
      if (terminal !== undefined) {
        try {
          return await holdInput(terminal, source, jsonLines, reading);
        } finally {
          terminal.release();
        }
      }
    }
    handle = await open(source, 'r');
    const stamp = await handle.stat();
    if (stamp.isDirectory()) throw new UsageError(`cannot read ${source}: it is a folder, not a file`);
    if (!stamp.isFile()) return await holdInput({ chunks: readChunks(handle), release: () => undefined }, source, jsonLines, reading);
    if (!jsonLines) checkSize(stamp.size, source);
    return { kind: 'file', name: source, stamp, entries: jsonLines ? await countEntries(jsonLineEntries(readChunks(handle), source), source, reading.signal) : 1 };
  } catch (err) {
    if (err instanceof StoppedReading && handle !== undefined) {
      // A read of a device may still wait in node's thread pool, and the handle's close for it: not waited for.
      void handle.close().catch(() => undefined);
      handle = undefined;
    }
    if (isSystemError(err)) throw new UsageError(cannotRead(source, err));
    throw err;
  } finally {
    await handle?.close();
  }
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/**
 * The sending pass over one input: its entries again, one at a time. A FILE
 * that no longer matches what the checking pass found throws an InputError.
 */
export async function* entriesOf(input: Checked, jsonLines: boolean): AsyncGenerator<Input> {
  const { name } = input;
  if (input.kind === 'held') {
    if (jsonLines) yield* jsonLineEntries(input.chunks, name);
    else yield { entry: joined(input.chunks), source: name };
    return;
  }
  const changed = (detail: string) => new InputError(`${name} changed after it was checked: ${detail}`);
  let handle: FileHandle;
  try {
    handle = await open(name, 'r');
  } catch (err) {
    throw new InputError(cannotRead(name, err, true));
  }
  try {
    if (!sameFile(await handle.stat(), input.stamp)) throw changed('its size or modification time differs');
    if (!jsonLines) {
      // One byte more than the checked size, to see a file that grew.
      const entry = await readAtMost(handle, input.stamp.size + 1);
      if (entry.length !== input.stamp.size) throw changed(`${entry.length > input.stamp.size ? 'more' : 'fewer'} than the ${input.stamp.size} bytes it held`);
      yield { entry, source: name };
      return;
    }
    let count = 0;
    try {
      for await (const next of jsonLineEntries(readChunks(handle), name)) {
        if (++count > input.entries) throw changed(`${next.source} is past the ${input.entries} entries it held`);
        yield next;
      }
    } catch (err) {
      if (err instanceof BadInputError) throw changed(err.message);
      throw err;
    }
    if (count < input.entries) throw changed(`it holds ${count} entries, not the ${input.entries} it held`);
  } catch (err) {
    if (isSystemError(err)) throw new InputError(cannotRead(name, err, true));
    throw err;
  } finally {
    await handle.close();
  }
}
