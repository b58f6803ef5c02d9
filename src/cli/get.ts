import { constants as fsConstants } from 'node:fs';
import { access, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ClientError } from '../client/errors.js';
import { encodeBase64 } from '../note/base64.js';
import { parseCommandArgs, parseCount, UsageError } from './args.js';
import { writableFolderProblem, osReason } from './os-error.js';
import { EXIT_HELP, EXIT_NOT_FOUND, EXIT_OK, makeClient, printableText, processIo, resolveUrl, resolveVerifier, runClientCommand, STALE_CHECKPOINT, withheldError, writeJsonOut, writeOut, type CliIo } from './client-common.js';

/** The help text of `cairn get`: what it does, its options and its exit statuses. */
export const GET_USAGE = `usage: cairn get <index> [options]

Fetches log entry <index> and proves it is in the tree of the checkpoint the
log serves as its latest (signature verified with --vkey) before printing it. By default the
entry and its proof come from GET /ct/v1/get-entry-and-proof; with --tiles the
entry comes from its entry bundle and the proof is computed here from tiles,
every one authenticated against the checkpoint.

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
  3  not found, as the log says: <index> is at or past the tree size of the
     checkpoint it served (a checkpoint proves no freshness: it may be an old
     one, or one shown only to this reader)
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

/** `cairn get`: see GET_USAGE. */
export async function getCommand(argv: string[], io: CliIo = processIo()): Promise<number> {
  return runClientCommand('get', GET_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(
      argv,
      { url: { type: 'string' }, vkey: { type: 'string' }, tiles: { type: 'boolean' }, out: { type: 'string' }, raw: { type: 'boolean' }, json: { type: 'boolean' } },
      true,
    );
    if (values.help === true) {
      await writeOut(io.stdout, GET_USAGE);
      return EXIT_OK;
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one <index>');
    const index = parseCount(positionals[0]!, '<index>', 0, Number.MAX_SAFE_INTEGER);
    if (values.raw === true && values.json === true) throw new UsageError('--raw and --json exclude each other');
    const url = resolveUrl(values.url, io.env);
    const { verifier } = await resolveVerifier(values.vkey, io.env);
    // Where the entry goes is checked before the log is asked.
    const out = values.out;
    if (out === '-') throw new UsageError("--out - would be a file named '-', not standard output: use --raw to write the entry's bytes to standard output (or --out ./- for a file of that name)");
    if (out !== undefined) {
      const problem = await outputFileProblem(out);
      if (problem !== undefined) throw new UsageError(`cannot write --out ${out}: ${problem}`);
    }
    const client = makeClient(url, verifier, io);
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
