import { open, stat, type FileHandle } from 'node:fs/promises';
import { escapeText } from '../client/errors.js';
import { checkReceipt, type ReceiptCheck } from '../client/receipt.js';
import { canonicalizeJson } from '../jcs/canonical.js';
import { leafHash } from '../merkle/hash.js';
import { encodeBase64 } from '../note/base64.js';
import type { Checkpoint } from '../note/checkpoint.js';
import type { Verifier } from '../note/keys.js';
import { parseCommandArgs, UsageError } from './args.js';
import { cannotRead, EXIT_OK, jsonLine, makeClient, oneLine, processIo, readEntry, READ_RETRIES_HELP, readRetryPolicy, resolveUrl, resolveVerifier, runClientCommand, writeFailureReport, writeJsonOut, writeOut, type CliIo } from './client-common.js';
import { checkReceiptTrees, ReceiptTrees, type ProofSource, type TreesCheck } from './receipt-consistency.js';

/** The help text of `cairn verify-receipt`: what it does, its options and its exit statuses. */
export const VERIFY_RECEIPT_USAGE = `usage: cairn verify-receipt <receipt.json> --entry <file> --vkey <key> [options]
       cairn verify-receipt <receipt.json> --entry <file> --vkey <key> --url <url> [options]

Checks that a receipt proves the entry is in the log; by default offline,
without asking the log: the receipt's checkpoint must be signed by --vkey,
its leaf hash must be SHA-256(0x00 || entry) and its inclusion proof must
lead from that leaf to the checkpoint's root. <receipt.json> ('-' for
standard input) is one receipt, or the JSON Lines that 'cairn add' writes:
then the receipts with the entry's leaf hash are checked (an appended file
may hold several: the entry logged to two logs, or twice), and one that
proves it is enough. It is read a line at a time, so a file appended to for
years needs no more memory than a short one. A line that is not JSON (a
receipt cut off by a crash or a full disk), or longer than 16 MiB, is
skipped; when no receipt proves the entry, the failure says how many were. A /v1/batch answer is not
a receipt: its receipts share its checkpoint; 'cairn add' writes each on a
line of its own, with it.

Offline, a receipt proves that the entry was in a tree the log signed, not
that the log still holds it. With --url (or --online, for CAIRN_URL), once
a receipt proves the entry offline, the log is asked too: its latest
checkpoint (signature verified with --vkey) must extend the receipt's
tree, as a consistency proof computed from tiles authenticated against
that checkpoint shows (as 'cairn monitor' checks it; the log's own proof
endpoint only when its tiles cannot be read: that proof is not signed, so
one that fails then shows no fork by itself, exit 2, as in 'cairn add').
Another root at the same size, or a proof from tiles that fails, is a fork
or a rollback (a failover to a replica that lagged, a restore from an old
backup): the entry may be gone from the log. A latest checkpoint smaller
than the receipt's tree is asked for again, past the caches that honour
no-cache (a CDN's old copy); still smaller, tiles authenticated against
the receipt's checkpoint must show that the receipt's tree extends it,
else it is a fork. If they do, or cannot be read, the log is behind the
receipt: an old checkpoint or a rollback, which only a later tree past the
receipt's tells apart (exit 2: ask again later; never 0). A fork fails
(1), printing both signed checkpoints, the receipt's and the log's, and
what shows it: those two alone for another root at the same size, else the
log's tiles, which anyone with the key can fetch again and check. Of JSON
Lines, every receipt that proves the entry is checked so, each distinct
tree once, the tiles they need read once for all; what is kept then grows
with those distinct trees alone (a signed checkpoint each), not with the
lines. A receipt that fails offline fails before the log is asked.

With --url or --online, when the log is asked:
${READ_RETRIES_HELP}

Options:
  --entry FILE       the logged entry ('-' for standard input)
  --jcs              FILE is JSON: check its RFC 8785 canonical bytes (what
                     the log stores for a JSON submission)
  --vkey KEY|FILE    the log's verifier key, or a file holding it (CAIRN_VKEY)
  --url URL          also check that the log at URL still extends the
                     receipt's tree (see above)
  --online           the same with the log's URL from CAIRN_URL (default
                     http://127.0.0.1:8080); without --url or --online no
                     log is asked, whatever CAIRN_URL holds
  CAIRN_TOKEN        env only, with --url or --online: an access token, for
                     a log that needs one
  --json             print {valid, index, tree_size, root_hash, origin} or
                     {valid: false, reason} as one JSON object; with --url,
                     also "consistency": {consistent: true, log, trees} (the
                     log's latest checkpoint {tree_size, root_hash,
                     checkpoint}, and each receipt tree checked, {tree_size,
                     root_hash, proof: "tiles", "log" or "same"}) or
                     {consistent: false, reason, shown_by, receipt, log}
                     (shown_by: "checkpoints" when the two show it alone,
                     "tiles", or "signature" when the log's checkpoint does
                     not verify; both signed checkpoints; log is null when
                     it did not verify)
  -h, --help         show this help

Exit status:
  0  the receipt proves the entry (with --url: in a tree the log extends)
  1  the receipt does not prove the entry; with --url also: the log no
     longer extends the receipt's tree, or its answers contradict what it
     signed
  2  usage or operational error: bad options, input that cannot be read,
     input that is not a receipt; with --url also the log unreachable or
     answering an error or something that is not what was asked, or its
     latest checkpoint behind the receipt's tree (this says nothing of the
     receipt: ask again later). Without --url or --online
     this command asks no log
`;

/** The fields, with their JSON types, that make a JSON value a receipt (CONTRACT §3); its checks come after. */
const RECEIPT_FIELDS: readonly (readonly [string, string, (v: unknown) => boolean])[] = [
  ['index', 'a number', (v) => typeof v === 'number'],
  ['leaf_hash', 'a string', (v) => typeof v === 'string'],
  ['checkpoint', 'a string', (v) => typeof v === 'string'],
  ['inclusion_proof', 'an array', (v) => Array.isArray(v)],
];

/**
 * Why `value`, read from `where`, is not a receipt at all, or undefined when
 * it has a receipt's shape (whether it proves anything is checked later).
 */
function notAReceipt(value: unknown, where: string): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${where} is not a receipt: a receipt is a JSON object`;
  const v = value as Record<string, unknown>;
  if (Array.isArray(v.receipts)) {
    return (
      `${where} is not a receipt but a /v1/batch answer: it holds ${v.receipts.length === 1 ? '1 receipt that shares' : `${v.receipts.length} receipts that share`} its "checkpoint". ` +
      "Check one as 'cairn add --receipts' writes them, one receipt per line, each with the batch checkpoint: " +
      `jq -c '.checkpoint as $c | .receipts[] | .checkpoint = $c' ${where} > batch-receipts.jsonl, then cairn verify-receipt batch-receipts.jsonl --entry FILE`
    );
  }
  const wrong = RECEIPT_FIELDS.filter(([name, , ok]) => !ok(v[name])).map(([name, type]) => `"${name}" (${type})`);
  return wrong.length === 0 ? undefined : `${where} is not a receipt: it has no ${wrong.join(', ')}`;
}

/**
 * The most of the input held to see whether it is one JSON value over
 * several lines (a pretty-printed receipt or /v1/batch answer, a batch of
 * 1000 well under it), and the longest line read as JSON: a longer input is
 * JSON Lines, and a longer line is no receipt (a log's receipt is at most
 * 128 KiB). Nothing else of the input is held, so a receipts file of any
 * length is read in the same memory.
 */
export const HELD_LIMIT = 16 * 1024 * 1024;

/** How much of a file is read at a time. */
const READ_CHUNK_BYTES = 256 * 1024;

/** How many of the line numbers of the lines that are not JSON a failure names. */
const LINES_NAMED = 3;

/** One failed receipt: where it is, why it fails, and whether its checkpoint is this log's. */
interface Failure {
  readonly where: string;
  readonly reason: string;
  readonly signed: boolean;
}

/**
 * The receipts for the entry, checked as they are read: the first that
 * proves it, else of the failures only their number, the first and the
 * first under this log's own checkpoint, so that what is kept does not grow
 * with the receipts tried.
 */
class Attempts {
  proved: ReceiptCheck | undefined;
  tried = 0;
  #first: Failure | undefined;
  #firstSigned: Failure | undefined;

  /** With `trees` (--url), every receipt is tried, and the tree of each that proves the entry is kept there. */
  constructor(
    private readonly entry: Uint8Array,
    private readonly verifier: Verifier,
    private readonly trees?: ReceiptTrees,
  ) {}

  try(receipt: unknown, where: string): void {
    if (this.proved !== undefined && this.trees === undefined) return;
    const check = checkReceipt(receipt, this.entry, this.verifier);
    this.tried++;
    if (check.valid) {
      this.proved ??= check;
      this.trees?.add({ checkpoint: check.checkpoint, note: (receipt as { checkpoint: string }).checkpoint, where, index: check.index });
      return;
    }
    const failure = { where, reason: check.reason, signed: check.signed === true };
    this.#first ??= failure;
    if (failure.signed) this.#firstSigned ??= failure;
  }

  /** When no receipt proved the entry and some were tried: the first one's failure (which of how many, when there were more). */
  failure(): string | undefined {
    const first = this.#first;
    if (this.proved !== undefined || first === undefined) return undefined;
    if (this.tried === 1) return first.reason;
    // One under this log's own checkpoint says more than one of another log's, which fails on its signature anyway.
    const signed = this.#firstSigned;
    const told = signed ?? first;
    const which = signed === undefined ? 'the first' : signed === first ? 'the first, whose checkpoint this log signed' : 'the first whose checkpoint this log signed';
    return `none of the ${this.tried} receipts for this entry's leaf hash proves it; ${which}, ${told.where}: ${told.reason}`;
  }
}

/** A line of the input: its bytes (undefined past HELD_LIMIT, not held) and its number, blank lines counted. */
interface Line {
  readonly bytes: Buffer | undefined;
  readonly number: number;
}

/**
 * Splits byte chunks into lines at "\n" (the last may lack it), holding no
 * more than one line: of one longer than HELD_LIMIT only its number is told.
 * A UTF-8 byte order mark that starts a line is dropped, as TextDecoder
 * drops one before the first: a file made by joining files (`cat a b`) has
 * theirs at the start of later lines.
 */
async function* splitLines(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let held = 0;
  let tooLong = false;
  let number = 1;
  const line = (tail: Buffer): Line => {
    let bytes = tooLong || held + tail.length > HELD_LIMIT ? undefined : parts.length === 0 ? tail : Buffer.concat([...parts, tail]);
    if (bytes !== undefined && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    parts = [];
    held = 0;
    tooLong = false;
    return { bytes, number: number++ };
  };
  for await (const data of chunks) {
    const chunk = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
      yield line(chunk.subarray(start, end));
      start = end + 1;
    }
    if (start < chunk.length && !tooLong) {
      held += chunk.length - start;
      if (held > HELD_LIMIT) {
        tooLong = true;
        parts = [];
      } else {
        parts.push(Buffer.from(chunk.subarray(start)));
      }
    }
  }
  if (held > 0 || tooLong) yield line(Buffer.alloc(0));
}

/** Whether a line is blank as String.prototype.trim sees it, decoding it only when a non-ASCII byte comes first. */
function isBlank(bytes: Buffer | undefined): boolean {
  if (bytes === undefined) return false;
  for (const b of bytes) {
    if (b === 0x20 || (b >= 0x09 && b <= 0x0d)) continue;
    return b < 0x80 ? false : bytes.toString('utf8').trim() === '';
  }
  return true;
}

/** What one reading of the input found. */
interface Scan {
  /** The whole input, when it is at most HELD_LIMIT bytes. */
  readonly whole: Uint8Array | undefined;
  /** How many lines are not blank. */
  readonly lines: number;
  /** Whether every line was read as JSON; else only those that may hold the entry's leaf hash were, and the rest below is unknown. */
  readonly complete: boolean;
  /** How many lines are receipts. */
  readonly receipts: number;
  /** Why the first line that is not blank is no receipt, when it is not. */
  readonly firstProblem: string | undefined;
  /** How many lines are not JSON, and the numbers of the first LINES_NAMED. */
  readonly notJson: number;
  readonly notJsonLines: readonly number[];
  /** How many lines after the first are longer than HELD_LIMIT (so never read), and the numbers of the first LINES_NAMED. */
  readonly tooLong: number;
  readonly tooLongLines: readonly number[];
}

/**
 * Reads JSON Lines from `chunks` and tries each receipt with the entry's
 * leaf hash (`leaf`, base64) as it comes, keeping only what a verdict needs.
 * With `complete` every line is parsed and counted; without, only the lines
 * that may hold `leaf` are: other lines are receipts of other entries, or
 * lines that are not JSON (a receipt cut off by a crash), and need reading
 * only to say what the file held when no receipt proves the entry.
 */
async function scan(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, name: string, leaf: string, complete: boolean, attempts: Attempts): Promise<Scan> {
  // The leaf hash in a line as a JSON writer may put it: a writer may escape "/" as "\/", so the longest
  // run without one is looked for; a line with a \u escape may spell anything, so it is parsed too.
  const run = Buffer.from(leaf.split('/').reduce((a, b) => (b.length > a.length ? b : a)));
  const escape = Buffer.from('\\u');
  let whole: Uint8Array[] | undefined = [];
  let size = 0;
  const holding = async function* () {
    for await (const chunk of chunks) {
      size += chunk.length;
      if (whole !== undefined && size > HELD_LIMIT) whole = undefined;
      whole?.push(chunk);
      yield chunk;
    }
  };
  let lines = 0;
  let receipts = 0;
  let firstProblem: string | undefined;
  let notJson = 0;
  const notJsonLines: number[] = [];
  let tooLong = 0;
  const tooLongLines: number[] = [];
  for await (const { bytes, number } of splitLines(holding())) {
    if (isBlank(bytes)) continue;
    lines++;
    const where = `${name}:${number}`;
    const first = lines === 1;
    if (bytes === undefined) {
      if (first) {
        firstProblem = `${where} is longer than ${HELD_LIMIT} bytes, more than any receipt`;
      } else {
        tooLong++;
        if (tooLongLines.length < LINES_NAMED) tooLongLines.push(number);
      }
      continue;
    }
    if (!complete && bytes.indexOf(run) < 0 && bytes.indexOf(escape) < 0) continue;
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8')) as unknown;
    } catch {
      if (first) firstProblem = `${where} is not JSON`;
      notJson++;
      if (notJsonLines.length < LINES_NAMED) notJsonLines.push(number);
      continue;
    }
    const problem = notAReceipt(value, where);
    if (problem !== undefined) {
      if (first) firstProblem = problem;
      continue;
    }
    receipts++;
    if ((value as { leaf_hash: string }).leaf_hash === leaf) attempts.try(value, where);
  }
  return { whole: whole === undefined ? undefined : Buffer.concat(whole), lines, complete, receipts, firstProblem, notJson, notJsonLines, tooLong, tooLongLines };
}

/** What a failure adds when lines were skipped, not JSON or too long to be receipts: how many, and the first ones' FILE:N. */
function skippedLines(found: Scan, name: string): string {
  const named = (numbers: readonly number[], count: number) => numbers.map((n) => `${name}:${n}`).join(', ') + (count > numbers.length ? ', ...' : '');
  let said = '';
  if (found.notJson > 0) {
    const count = found.notJson === 1 ? '1 line that is' : `${found.notJson} lines that are`;
    said += `; skipped ${count} not JSON (${named(found.notJsonLines, found.notJson)}), such as a receipt cut off by a crash or a full disk`;
  }
  if (found.tooLong > 0) {
    const count = found.tooLong === 1 ? '1 line' : `${found.tooLong} lines`;
    said += `; skipped ${count} longer than ${HELD_LIMIT} bytes, more than any receipt (${named(found.tooLongLines, found.tooLong)})`;
  }
  return said;
}

/**
 * The verdict on the input when it is one JSON value, on one line or
 * pretty-printed over several (held whole, so at most HELD_LIMIT bytes);
 * undefined when it is JSON Lines. Throws when it is not JSON or not a
 * receipt at all.
 */
function oneValue(found: Scan, name: string, entry: Uint8Array, verifier: Verifier, trees: ReceiptTrees | undefined): ReceiptCheck | undefined {
  if (found.whole === undefined) return undefined;
  const text = new TextDecoder().decode(found.whole);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    if (found.lines === 0) throw new Error(`${name} is empty: it holds no receipt`);
    // Several lines that are not one JSON value are JSON Lines.
    if (found.lines > 1) return undefined;
    throw new Error(`${name} is not JSON`);
  }
  const problem = notAReceipt(value, name);
  if (problem !== undefined) throw new Error(problem);
  const check = checkReceipt(value, entry, verifier);
  if (check.valid) trees?.add({ checkpoint: check.checkpoint, note: (value as { checkpoint: string }).checkpoint, where: name, index: check.index });
  return check;
}

/** An input to read: its chunks, and whether it can be read again (a regular file, not a pipe). */
interface Input {
  readonly chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  readonly rereadable: boolean;
}

/** Opens `path` ('-' for standard input) to read it as it comes, READ_CHUNK_BYTES at a time from a file. */
async function openInput(path: string, io: CliIo): Promise<Input> {
  const unreadable = (err: unknown) => new UsageError(cannotRead(path, err));
  if (path === '-') return { chunks: io.readStdinChunks?.() ?? [await io.readStdin()], rereadable: false };
  let handle: FileHandle;
  let rereadable: boolean;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw unreadable(err);
  }
  try {
    rereadable = (await handle.stat()).isFile();
  } catch (err) {
    await handle.close();
    throw unreadable(err);
  }
  const chunks = async function* () {
    try {
      for (;;) {
        const chunk = new Uint8Array(READ_CHUNK_BYTES);
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, null).catch((err: unknown) => {
          throw unreadable(err);
        });
        if (bytesRead === 0) return;
        yield chunk.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  };
  return { chunks: chunks(), rereadable };
}

/**
 * The verdict on the receipts in `path` for `entry`: the one JSON value, or
 * of JSON Lines the first receipt with the entry's leaf hash that proves it,
 * else the failure of the first (see Attempts), else that none has it.
 * Lines that are not JSON are skipped and told in a failure. A regular file
 * is read first for the lines that may hold the leaf hash alone, and read
 * again in full only when none proves the entry, to say what it holds; a
 * pipe is read once, in full. Throws when the input is not JSON or holds no
 * receipt at all. With `trees`, the trees of all the receipts that prove
 * the entry are kept there, not of the first alone.
 */
async function verdict(path: string, entry: Uint8Array, verifier: Verifier, io: CliIo, trees?: ReceiptTrees): Promise<ReceiptCheck> {
  const leaf = encodeBase64(leafHash(entry));
  for (let complete = false; ; complete = true) {
    const input = await openInput(path, io);
    const attempts = new Attempts(entry, verifier, trees);
    const found = await scan(input.chunks, path, leaf, complete || !input.rereadable, attempts);
    const one = oneValue(found, path, entry, verifier, trees);
    if (one !== undefined) return one;
    if (attempts.proved !== undefined) return attempts.proved;
    if (!found.complete) continue;
    const failed = attempts.failure();
    if (failed !== undefined) return { valid: false, reason: failed + skippedLines(found, path) };
    if (found.receipts === 0) {
      if (found.lines === 0) throw new Error(`${path} is empty: it holds no receipt`);
      throw new Error(`${found.lines === 1 ? 'the one line' : `none of the ${found.lines} lines`} of ${path} ${found.lines === 1 ? 'is not' : 'is'} a receipt (${found.firstProblem})`);
    }
    return { valid: false, reason: `${found.receipts === 1 ? 'the one receipt' : `none of the ${found.receipts} receipts`} in ${path} ${found.receipts === 1 ? 'is not' : 'is'} for this entry's leaf hash${skippedLines(found, path)}` };
  }
}

/**
 * What a failure adds when the entry, given without --jcs, is JSON whose
 * RFC 8785 form (what the log stores for a JSON submission) the receipts in
 * `path` do prove: to add --jcs; else ''. The receipts are read again, so
 * only from a regular file.
 */
async function jcsHint(path: string, entry: Uint8Array, verifier: Verifier, io: CliIo): Promise<string> {
  // Only a regular file is read again: a pipe (standard input, a FIFO) is read once.
  if (path === '-' || !(await stat(path).then((info) => info.isFile(), () => false))) return '';
  let canonical: Uint8Array;
  try {
    canonical = canonicalizeJson(entry);
  } catch {
    return '';
  }
  if (Buffer.compare(canonical, entry) === 0) return '';
  const check = await verdict(path, canonical, verifier, io).catch(() => undefined);
  return check?.valid === true ? "; the receipt is for the entry's JCS form (RFC 8785: what the log stores for a JSON submission): add --jcs" : '';
}

/** A tree as --json shows it. */
function treeJson(checkpoint: Checkpoint): { tree_size: number; root_hash: string } {
  return { tree_size: checkpoint.treeSize, root_hash: encodeBase64(checkpoint.rootHash) };
}

/** A signed note to print whole: it verified, so it holds no control character but newlines; what else a terminal would act on is escaped. */
function shownNote(note: string): string {
  return escapeText(note, { allowed: '\n', maxLength: Number.POSITIVE_INFINITY });
}

/** How the consistency of the log with the receipts' trees was shown, in words, for the line that says it was. */
function provedHow(sources: readonly ProofSource[]): string {
  const how = [...new Set(sources)].map((source) =>
    source === 'tiles' ? 'a consistency proof computed from tiles authenticated against it' : source === 'log' ? "the log's consistency proof, verified" : 'it is the same tree',
  );
  return how.join('; ');
}

/**
 * The report of a receipt that proves the entry offline but whose tree the
 * log no longer extends: why, what shows it, and both signed checkpoints.
 * Only two roots at one size are evidence in the two checkpoints alone;
 * otherwise tiles authenticated against one of them show it, which the
 * reader can fetch again, and the report says so rather than call the
 * checkpoints proof.
 */
function forkReport(check: TreesCheck & { consistent: false }, origin: string, url: string, json: boolean): { report: string; summary: string } {
  const { tree, shownBy } = check;
  const reason = `the receipt (${tree.where}) proves the entry is leaf ${tree.index} of ${origin} in the signed tree of size ${tree.checkpoint.treeSize}, but ${check.reason}`;
  if (json) {
    const consistency = {
      consistent: false,
      reason: check.reason,
      shown_by: shownBy === 'log tiles' || shownBy === 'receipt tiles' ? 'tiles' : shownBy,
      receipt: { ...treeJson(tree.checkpoint), checkpoint: tree.note },
      log: check.latest === undefined ? null : { ...treeJson(check.latest.checkpoint), checkpoint: check.latest.note },
    };
    return { report: jsonLine({ valid: false, reason, consistency }), summary: `INVALID: ${reason}` };
  }
  const where = oneLine(tree.where);
  const receipt = `The receipt's checkpoint (${where}), signed by ${origin}:\n${shownNote(tree.note)}`;
  let evidence: string;
  if (check.latest === undefined) evidence = receipt;
  else if (shownBy === 'checkpoints') {
    evidence =
      `Evidence, two checkpoints signed by ${origin} with different roots for tree size ${tree.checkpoint.treeSize}:\n` +
      `The receipt's checkpoint (${where}):\n${shownNote(tree.note)}The log's latest checkpoint (${url}/checkpoint):\n${shownNote(check.latest.note)}`;
  } else {
    const against = shownBy === 'receipt tiles' ? "the receipt's checkpoint" : "the log's latest checkpoint";
    evidence =
      `Shown by the log's tiles (${url}/tile/), authenticated against ${against} below, which anyone with the key can fetch again and check; the two checkpoints alone do not show it.\n` +
      `${receipt}The log's latest checkpoint (${url}/checkpoint), signed by ${origin}:\n${shownNote(check.latest.note)}`;
  }
  return { report: `INVALID: ${oneLine(reason)}\n${evidence}`, summary: `INVALID: ${reason}` };
}

/** `cairn verify-receipt`: see VERIFY_RECEIPT_USAGE. */
export async function verifyReceiptCommand(argv: string[], io: CliIo = processIo()): Promise<number> {
  return runClientCommand('verify-receipt', VERIFY_RECEIPT_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(
      argv,
      { entry: { type: 'string' }, jcs: { type: 'boolean' }, vkey: { type: 'string' }, url: { type: 'string' }, online: { type: 'boolean' }, json: { type: 'boolean' } },
      'files',
    );
    if (values.help === true) {
      await writeOut(io.stdout, VERIFY_RECEIPT_USAGE);
      return EXIT_OK;
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one <receipt.json>');
    if (values.entry === undefined) throw new UsageError('--entry <file> is required');
    if (positionals[0] === '-' && values.entry === '-') throw new UsageError('the receipt and the entry cannot both come from standard input');
    if (values.url !== undefined && values.online === true) throw new UsageError('give --url or --online, not both (--online takes the URL from CAIRN_URL)');
    // Offline unless asked: a CAIRN_URL (or CAIRN_TOKEN) set for the other commands changes nothing here.
    const online = values.url !== undefined || values.online === true;
    const url = online ? resolveUrl(values.url, io.env) : undefined;
    const { verifier } = await resolveVerifier(values.vkey, io.env);
    const entry = await readEntry(values.entry, values.jcs === true, io);
    const trees = online ? new ReceiptTrees() : undefined;
    const check = await verdict(positionals[0]!, entry, verifier, io, trees);
    if (!check.valid) {
      const reason = check.reason + (values.jcs === true ? '' : await jcsHint(positionals[0]!, entry, verifier, io));
      const report = values.json === true ? jsonLine({ valid: false, reason }) : `INVALID: ${reason}\n`;
      return writeFailureReport(io, 'verify-receipt', report, `INVALID: ${reason}`);
    }
    // The distinct trees of the receipts that proved the entry, smallest first (none offline): checked, then told, in this order.
    const checked = trees?.list() ?? [];
    let consistent: (TreesCheck & { consistent: true }) | undefined;
    if (url !== undefined) {
      const client = makeClient(url, verifier, io, readRetryPolicy());
      const result = await checkReceiptTrees(client, checked);
      if (!result.consistent) {
        const { report, summary } = forkReport(result, verifier.name, client.baseUrl, values.json === true);
        return writeFailureReport(io, 'verify-receipt', report, summary);
      }
      consistent = result;
    }
    if (values.json === true) {
      const consistency =
        consistent === undefined
          ? {}
          : {
              consistency: {
                consistent: true,
                log: { ...treeJson(consistent.latest.checkpoint), checkpoint: consistent.latest.note },
                trees: checked.map((tree, i) => ({ ...treeJson(tree.checkpoint), proof: consistent.sources[i] })),
              },
            };
      await writeJsonOut(io.stdout, { valid: true, index: check.index, tree_size: check.checkpoint.treeSize, root_hash: encodeBase64(check.checkpoint.rootHash), origin: check.checkpoint.origin, ...consistency });
    } else {
      let extended = '';
      if (consistent !== undefined) {
        const latest = consistent.latest.checkpoint;
        const what = checked.length === 1 ? `the receipt's tree of size ${checked[0]!.checkpoint.treeSize}` : `the ${checked.length} trees of the receipts that prove the entry (sizes ${checked.map((t) => t.checkpoint.treeSize).join(', ')})`;
        extended = `consistent: the log's latest checkpoint, of tree size ${latest.treeSize} (root ${encodeBase64(latest.rootHash)}, signature verified), extends ${what}: ${provedHow(consistent.sources)}\n`;
      }
      await writeOut(
        io.stdout,
        `valid: the entry is leaf ${check.index} of ${check.checkpoint.origin} in the signed tree of size ${check.checkpoint.treeSize} (root ${encodeBase64(check.checkpoint.rootHash)})\n` + extended,
      );
    }
    return EXIT_OK;
  });
}
