import { constants as fsConstants } from 'node:fs';
import { access, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SignedCheckpoint } from '../client/client.js';
import { ClientError } from '../client/errors.js';
import type { FetchLike } from '../client/http.js';
import { TILE_WIDTH, tileWidth } from '../merkle/tile.js';
import type { Verifier } from '../note/keys.js';
import { encodeBase64 } from '../note/base64.js';
import { parseCommandArgs, parseCount, UsageError } from './args.js';
import { writableFolderProblem, osReason } from './os-error.js';
import {
  EXIT_HELP,
  EXIT_NOT_FOUND,
  EXIT_OK,
  listenForStop,
  makeClient,
  printableText,
  processIo,
  Progress,
  READ_RETRIES_HELP,
  readRetryPolicy,
  resolveUrl,
  resolveVerifier,
  runClientCommand,
  STALE_CHECKPOINT,
  withheldError,
  writeJsonOut,
  writeOut,
  type CliIo,
} from './client-common.js';

/** The help text of `cairn get`: what it does, its options and its exit statuses. */
export const GET_USAGE = `usage: cairn get <index> [options]
       cairn get <start>-<end> [options]   a range: both ends included
       cairn get <start>- [options]        a range to the tree's last entry

Fetches log entry <index> and proves it is in the tree of the checkpoint the
log serves as its latest (signature verified with --vkey) before printing
it. By default the entry and its proof come from GET
/ct/v1/get-entry-and-proof; with --tiles the entry comes from its entry
bundle and the proof is computed here from tiles, every one authenticated
against the checkpoint.

A range <start>-<end> includes both ends, as get-entries' start and end do
(0-9 is ten entries); <start>- runs to the last entry of the checkpoint's
tree. Every entry of a range is verified against that one checkpoint: each
entry bundle (256 entries, one request) must hash to what the tiles
authenticated by its root hold, so a range costs about one request per 256
entries. It is printed as JSON Lines, one line per entry in index order,
  {"index": N, "leaf_hash": base64, "entry": base64}
a bundle's lines once all of the bundle verified; then a line on standard
error names the checkpoint (with --json, as a JSON object {entries, start,
end, requests, tree_size, root_hash, origin, checkpoint}). --raw and --out
take one <index> only (entries back to back could not be told apart);
--tiles changes nothing (a range is always read from tiles). An <end> past
the tree: the entries up to its last are printed, then exit status 3.
SIGINT or SIGTERM stops a range once the lines being written are out
(whole lines only; exit 2, naming the last entry printed and the command
that gets the rest); another less than 1 s after the first is the same
request (npm run passes Ctrl-C on as well), and one later stops it at once.

${READ_RETRIES_HELP}

Options:
  --url URL         the log (CAIRN_URL; default http://127.0.0.1:8080)
  --vkey KEY|FILE   the log's verifier key, or a file holding it (CAIRN_VKEY)
  CAIRN_TOKEN       env only: an access token, for a log that needs one
  --tiles           read the entry and compute the proof from tiles
  --out FILE        also write the entry's raw bytes to FILE (a file, not a
                    folder, that this user may write, in a folder that
                    exists: checked before the log is asked); '-' is not
                    standard output here: use --raw for that
  --raw             write only the raw bytes to standard output
  --json            print {index, tree_size, root_hash, leaf_hash, entry
                    (base64), audit_path, source, checkpoint} as one JSON
                    object; source is "api" (the log's proof) or "tiles"
  -h, --help        show this help

${EXIT_HELP}
     (for a range, also: stopped by SIGINT or SIGTERM)
  3  not found, as the log says: <index>, or a range's <start> or <end>, is
     at or past the tree size of the checkpoint it served (a checkpoint
     proves no freshness: it may be an old one, or one shown only to this
     reader)
`;

/**
 * Why the entry cannot be written to `path` (--out), or undefined when it
 * can as far as can be told without writing: an existing file (not a
 * folder) this user may write, or a new one in a writable folder. A path
 * that names a folder by its spelling (it ends in '/', or its last part is
 * '.' or '..') is refused whether or not it exists: as a new file it would
 * pass the check of its folder and fail only when written. Checked before
 * the log is asked, so that the fetch is not lost to a bad path.
 */
async function outputFileProblem(path: string): Promise<string | undefined> {
  if (path.endsWith('/')) return "it names a folder (it ends in '/'); give a file name";
  const last = path.slice(path.lastIndexOf('/') + 1);
  if (last === '.' || last === '..') return `it names a folder (its last part is '${last}'); give a file name`;
  let isFolder: boolean;
  try {
    isFolder = (await stat(path)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // No such file yet (or a part of its path is not a folder): its folder must take a new one.
    if (code === 'ENOENT' || code === 'ENOTDIR') return writableFolderProblem(dirname(path));
    return osReason(err);
  }
  if (isFolder) return `${path} is a folder; give a file name`;
  try {
    await access(path, fsConstants.W_OK);
  } catch (err) {
    return `this user may not write it (${osReason(err)})`;
  }
  return undefined;
}

/** What `cairn get` was asked for: one entry, or a range of them. */
type Target = { readonly kind: 'index'; readonly index: number } | EntryRange;

/** Entries `start` to `end`, both included; `end` undefined: to the last entry of the checkpoint's tree. */
interface EntryRange {
  readonly kind: 'range';
  readonly start: number;
  readonly end: number | undefined;
}

/**
 * The positional argument: `<index>`, `<start>-<end>` (both included, as
 * get-entries' start and end are: CONTRACT §3) or `<start>-`. A range
 * written with `..` is refused by name: whether its end is included depends
 * on who wrote it.
 */
function parseTarget(text: string): Target {
  if (/^-[0-9]/.test(text)) throw new UsageError(`a negative number is no index (the first entry is 0), not ${JSON.stringify(text)}`);
  const dash = text.indexOf('-');
  if (dash < 0) {
    if (/^[0-9]+\.\.[0-9]*$/.test(text)) throw new UsageError(`write a range as <start>-<end>, both included (0-9 is ten entries), not ${JSON.stringify(text)}`);
    return { kind: 'index', index: parseCount(text, '<index>', 0, Number.MAX_SAFE_INTEGER) };
  }
  const start = parseCount(text.slice(0, dash), '<start> of the range', 0, Number.MAX_SAFE_INTEGER);
  const endText = text.slice(dash + 1);
  const end = endText === '' ? undefined : parseCount(endText, '<end> of the range', 0, Number.MAX_SAFE_INTEGER);
  if (end !== undefined && end < start) throw new UsageError(`the range ${start}-${end} is empty: its <end> is before its <start> (both are included: ${end}-${start} is ${start - end + 1} entries)`);
  return { kind: 'range', start, end };
}

/** A range stopped by SIGINT, SIGTERM or io.signal before its last entry: an operational error (exit 2) that says what was printed. */
class RangeStopped extends Error {}

/** "entry 5" or "entries 5 to 9". */
function entriesText(from: number, to: number): string {
  return from === to ? `entry ${from}` : `entries ${from} to ${to}`;
}

/**
 * `cairn get <start>-<end>`: the entries of `range` that are in the tree of
 * the checkpoint the log serves, each bundle verified against that one
 * checkpoint (CairnClient.readEntryRange) before its lines are written (see
 * GET_USAGE).
 */
async function getRange(url: string, verifier: Verifier, io: CliIo, range: EntryRange, json: boolean): Promise<number> {
  const stop = listenForStop(io, (name) => {
    io.stderr.write(`${io.stderr.isTTY === true ? '\n' : ''}cairn get: ${name}: stopping after the entries being printed; a second SIGINT or SIGTERM, 1 s or more later, stops at once\n`);
  });
  let requests = 0;
  const fetchOf: FetchLike = io.fetch ?? ((input, init) => fetch(input, init));
  const counted: FetchLike = (input, init) => {
    requests++;
    return fetchOf(input, init);
  };
  // Every request (and every wait before a retry) ends when asked to stop, or when the range is done or
  // failed: the transport's own signal, listened to once (AbortSignal.any over it per request kept about
  // 50 bytes a request on node 20, 20 MB for a range of 10^8 entries).
  const client = makeClient(url, verifier, io, { ...readRetryPolicy(), fetch: counted, signal: stop.signal });
  const { start } = range;
  let signed: SignedCheckpoint | undefined;
  /** The last entry printed; start - 1 before the first. */
  let printed = start - 1;
  /** What was printed, for a message that ends the range early. */
  const soFar = () => {
    const tree = signed === undefined ? '' : ` in the signed tree of size ${signed.checkpoint.treeSize}`;
    const rest = `'cairn get ${printed + 1}-${range.end ?? ''}' gets the rest`;
    return printed < start ? 'no entry was printed' : `${entriesText(start, printed)} ${printed === start ? 'was' : 'were'} printed, each verified${tree}; ${rest}`;
  };
  try {
    try {
      signed = await client.getCheckpoint();
    } catch (err) {
      const by = stop.stopped();
      if (by !== undefined) throw new RangeStopped(`stopped by ${by} before the log's checkpoint came: no entry was printed`, { cause: err });
      throw err;
    }
    const { checkpoint } = signed;
    const size = checkpoint.treeSize;
    if (start >= size) {
      const asked = range.end === undefined ? `no entry from ${start} on is` : `${range.end === start ? `entry ${start} is` : `entries ${start} to ${range.end} are`} not`;
      io.stderr.write(`cairn get: ${asked} in the tree of the checkpoint ${checkpoint.origin} served, of tree size ${size}; ${STALE_CHECKPOINT}\n`);
      return EXIT_NOT_FOUND;
    }
    const last = Math.min(range.end ?? size - 1, size - 1);
    const count = last - start + 1;
    const shown = new Progress(io.stderr, count, 'entries');
    try {
      // The stop reaches the range's requests through the transport's signal (makeClient above).
      for await (const group of client.readEntryRange(checkpoint, start, last)) {
        const lines: string[] = [];
        group.entries.forEach((entry, i) => {
          // Integers and base64 need no escaping: each line is the JSON text JSON.stringify would write.
          lines.push(`{"index":${group.start + i},"leaf_hash":"${encodeBase64(group.leafHashes[i]!)}","entry":"${encodeBase64(entry)}"}\n`);
        });
        await writeOut(io.stdout, lines.join(''));
        printed = group.start + group.entries.length - 1;
        shown.update(printed - start + 1);
        if (stop.stopped() !== undefined) break;
      }
    } catch (err) {
      // The bundle after the last one printed is below the signed tree size: the log holds it.
      if (err instanceof ClientError && err.status === 404) {
        const n = Math.floor((printed < start ? start : printed + 1) / TILE_WIDTH);
        const width = tileWidth(0, n, size);
        throw withheldError(`entry bundle ${n} (entries ${n * TILE_WIDTH} to ${n * TILE_WIDTH + width - 1})`, size, err);
      }
      throw err;
    } finally {
      shown.finish(printed - start + 1);
    }
    const by = stop.stopped();
    if (by !== undefined && printed < last) throw new RangeStopped(`stopped by ${by}: ${soFar()}`);
    const summary = {
      entries: count,
      start,
      end: last,
      requests,
      tree_size: size,
      root_hash: encodeBase64(checkpoint.rootHash),
      origin: checkpoint.origin,
      checkpoint: signed.note,
    };
    if (json) await writeJsonOut(io.stderr, summary, 'standard error');
    else {
      io.stderr.write(
        `verified ${entriesText(start, last)} (${count} ${count === 1 ? 'entry' : 'entries'}) of ${checkpoint.origin} in the signed tree of size ${size}` +
          ` (root ${summary.root_hash}): every entry bundle checked against tiles authenticated by its root, in ${requests} requests\n`,
      );
    }
    if (range.end !== undefined && range.end > last) {
      io.stderr.write(`cairn get: ${entriesText(size, range.end)} ${range.end === size ? 'is' : 'are'} not in the tree of the checkpoint ${checkpoint.origin} served, of tree size ${size}; ${STALE_CHECKPOINT}\n`);
      return EXIT_NOT_FOUND;
    }
    return EXIT_OK;
  } catch (err) {
    if (err instanceof RangeStopped) throw err;
    // A request cut short by the stop failed because of it (with the signal's reason, which need not be an
    // Error of this realm); evidence against the log is told all the same.
    const by = stop.stopped();
    if (by !== undefined && !(err instanceof ClientError && err.isVerificationFailure)) throw new RangeStopped(`stopped by ${by}: ${soFar()}`, { cause: err });
    if (signed !== undefined && err instanceof Error) err.message += ` (${soFar()})`;
    throw err;
  } finally {
    stop.dispose();
  }
}

/** `cairn get`: see GET_USAGE. */
export async function getCommand(argv: string[], io: CliIo = processIo()): Promise<number> {
  return runClientCommand('get', GET_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(
      argv,
      { url: { type: 'string' }, vkey: { type: 'string' }, tiles: { type: 'boolean' }, out: { type: 'string' }, raw: { type: 'boolean' }, json: { type: 'boolean' } },
      'indexes',
    );
    if (values.help === true) {
      await writeOut(io.stdout, GET_USAGE);
      return EXIT_OK;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0
          ? 'give one <index>, or a range <start>-<end> (both included)'
          : `give one <index>, or one range <start>-<end> (both included): ${positionals.length} arguments given`,
      );
    }
    const target = parseTarget(positionals[0]!);
    if (values.raw === true && values.json === true) throw new UsageError('--raw and --json exclude each other');
    if (target.kind === 'range') {
      // Entries written back to back would have nothing between them to tell where one ends.
      if (values.raw === true) throw new UsageError('--raw takes one <index>: the entries of a range would run together; a range is printed as JSON Lines, each entry in base64');
      if (values.out !== undefined) throw new UsageError('--out takes one <index>: a range is printed as JSON Lines on standard output');
      const url = resolveUrl(values.url, io.env);
      const { verifier } = await resolveVerifier(values.vkey, io.env);
      return getRange(url, verifier, io, target, values.json === true);
    }
    const index = target.index;
    const url = resolveUrl(values.url, io.env);
    const { verifier } = await resolveVerifier(values.vkey, io.env);
    // Where the entry goes is checked before the log is asked.
    const out = values.out;
    if (out === '-') throw new UsageError("--out - would be a file named '-', not standard output: use --raw to write the entry's bytes to standard output (or --out ./- for a file of that name)");
    if (out !== undefined) {
      const problem = await outputFileProblem(out);
      if (problem !== undefined) throw new UsageError(`cannot write --out ${out}: ${problem}`);
    }
    const client = makeClient(url, verifier, io, readRetryPolicy());
    const { checkpoint, note } = await client.getCheckpoint();
    if (index >= checkpoint.treeSize) {
      io.stderr.write(`cairn get: entry ${index} is not in the tree of the checkpoint ${checkpoint.origin} served, of tree size ${checkpoint.treeSize}; ${STALE_CHECKPOINT}\n`);
      return EXIT_NOT_FOUND;
    }
    let result;
    try {
      result = values.tiles === true ? await client.getEntryFromTiles(index, checkpoint) : await client.getEntry(index, checkpoint);
    } catch (err) {
      // The index is below the signed tree size: the log holds the entry.
      if (err instanceof ClientError && err.status === 404) throw withheldError(`entry ${index}`, checkpoint.treeSize, err);
      throw err;
    }
    if (out !== undefined) {
      try {
        await writeFile(out, result.entry);
      } catch (err) {
        throw new Error(`cannot write --out ${out}: ${osReason(err)}`, { cause: err });
      }
    }
    if (values.raw === true) {
      await writeOut(io.stdout, result.entry);
      return EXIT_OK;
    }
    if (values.json === true) {
      await writeJsonOut(io.stdout, {
        index,
        tree_size: checkpoint.treeSize,
        root_hash: encodeBase64(checkpoint.rootHash),
        leaf_hash: encodeBase64(result.leafHash),
        entry: encodeBase64(result.entry),
        audit_path: result.proof.map(encodeBase64),
        source: values.tiles === true ? 'tiles' : 'api',
        checkpoint: note,
      });
      return EXIT_OK;
    }
    const text = printableText(result.entry);
    await writeOut(
      io.stdout,
      `entry ${index} of ${checkpoint.origin}, verified in the signed tree of size ${checkpoint.treeSize}` +
        ` (root ${encodeBase64(checkpoint.rootHash)}) ${values.tiles === true ? 'from tiles' : 'with the log\'s proof'}\n` +
        `leaf hash: ${encodeBase64(result.leafHash)}\n` +
        `${result.entry.length} bytes${text === undefined ? ', binary (base64):' : ':'}\n` +
        `${text ?? encodeBase64(result.entry)}${(text ?? '').endsWith('\n') ? '' : '\n'}`,
    );
    return EXIT_OK;
  });
}
