import { ClientError } from '../client/errors.js';
import type { InclusionResult } from '../client/client.js';
import { leafHash } from '../merkle/hash.js';
import { decodeBase64, encodeBase64 } from '../note/base64.js';
import { parseCommandArgs, parseCount, UsageError } from './args.js';
import { EXIT_HELP, EXIT_NOT_FOUND, EXIT_OK, makeClient, processIo, readEntry, READ_RETRIES_HELP, readRetryPolicy, resolveUrl, resolveVerifier, runClientCommand, STALE_CHECKPOINT, withheldError, writeJsonOut, writeOut, type CliIo } from './client-common.js';

/** The help text of `cairn prove`: what it does, its options and its exit statuses. */
export const PROVE_USAGE = `usage: cairn prove <index> [options]
       cairn prove --hash <base64 leaf hash> [options]
       cairn prove --entry <file> [--jcs] [options]

Proves that a leaf is in the tree of the checkpoint the log serves as its
latest (signature verified with --vkey) and prints the RFC 6962 inclusion proof. The leaf is
given by its index, its leaf hash (SHA-256(0x00 || entry), base64) or the
entry itself. By default the proof comes from the log's RFC 6962 endpoints
(get-entry-and-proof, get-proof-by-hash); with --tiles it is computed here
from tiles authenticated against the checkpoint (for --hash and --entry the
log is still asked for the index).

${READ_RETRIES_HELP}

Options:
  --url URL          the log (CAIRN_URL; default http://127.0.0.1:8080)
  --vkey KEY|FILE    the log's verifier key, or a file holding it (CAIRN_VKEY)
  CAIRN_TOKEN        env only: an access token, for a log that needs one
  --hash B64         the leaf hash to prove
  --entry FILE       the entry to prove ('-' for standard input)
  --jcs              the --entry file is JSON: prove its RFC 8785 canonical bytes
  --tiles            compute the proof from tiles
  --json             print {leaf_index, leaf_hash, tree_size, root_hash,
                     audit_path, source, checkpoint} as one JSON object;
                     source is "api" (the log's proof) or "tiles" (computed
                     here)
  -h, --help         show this help

${EXIT_HELP}
  3  not found, as the log says: <index> is at or past the tree size of the
     checkpoint it served (a checkpoint proves no freshness: it may be an old
     one, or one shown only to this reader), or, for --hash and --entry, the
     log answered that it holds no such leaf at that size (a 404 with its
     NOT_FOUND error body; any other 404 is exit 2); a log's 'not found' is
     not signed, so this is never verified, with --tiles neither
`;

/** `cairn prove`: see PROVE_USAGE. */
export async function proveCommand(argv: string[], io: CliIo = processIo()): Promise<number> {
  return runClientCommand('prove', PROVE_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        url: { type: 'string' },
        vkey: { type: 'string' },
        hash: { type: 'string' },
        entry: { type: 'string' },
        jcs: { type: 'boolean' },
        tiles: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      'indexes',
    );
    if (values.help === true) {
      await writeOut(io.stdout, PROVE_USAGE);
      return EXIT_OK;
    }
    const ways = [positionals.length > 0, values.hash !== undefined, values.entry !== undefined].filter(Boolean).length;
    if (ways !== 1 || positionals.length > 1) throw new UsageError('give exactly one of <index>, --hash or --entry');
    if (values.jcs === true && values.entry === undefined) throw new UsageError('--jcs goes with --entry');

    let hash: Uint8Array | undefined;
    let index: number | undefined;
    if (positionals.length === 1) index = parseCount(positionals[0]!, '<index>', 0, Number.MAX_SAFE_INTEGER);
    if (values.hash !== undefined) {
      try {
        hash = decodeBase64(values.hash);
      } catch {
        throw new UsageError('--hash must be standard base64');
      }
      if (hash.length !== 32) throw new UsageError(`--hash must be 32 bytes, got ${hash.length}`);
    }
    if (values.entry !== undefined) {
      hash = leafHash(await readEntry(values.entry, values.jcs === true, io));
    }

    const url = resolveUrl(values.url, io.env);
    const { verifier } = await resolveVerifier(values.vkey, io.env);
    const client = makeClient(url, verifier, io, readRetryPolicy());
    const { checkpoint, note } = await client.getCheckpoint();
    const tiles = values.tiles === true;
    let result: InclusionResult;
    // Only a 404 to the look-up of a hash is the log's word that the leaf is
    // not in it, unsigned and so unverifiable (RFC 6962 has no proof of
    // absence; scanning every level-0 tile would cost the whole log); all
    // else asked for is of a leaf under the signed tree size.
    let asking: string | undefined;
    try {
      if (index !== undefined) {
        if (index >= checkpoint.treeSize) {
          io.stderr.write(`cairn prove: leaf ${index} is not in the tree of the checkpoint ${checkpoint.origin} served, of tree size ${checkpoint.treeSize}; ${STALE_CHECKPOINT}\n`);
          return EXIT_NOT_FOUND;
        }
        asking = `leaf ${index}`;
        result = tiles ? await client.proveIndexFromTiles(index, checkpoint) : await client.getEntry(index, checkpoint);
      } else {
        const found = await client.proveHash(hash!, checkpoint);
        result = found;
        if (tiles) {
          asking = `the tiles of leaf ${found.index}`;
          result = await client.proveIndexFromTiles(found.index, checkpoint);
          if (encodeBase64(result.leafHash) !== encodeBase64(hash!)) {
            throw new ClientError('BAD_PROOF', `the log says the leaf is at index ${found.index}, but the authenticated tiles hold another leaf hash there`);
          }
        }
      }
    } catch (err) {
      if (err instanceof ClientError && err.status === 404) {
        if (asking !== undefined) throw withheldError(asking, checkpoint.treeSize, err);
        // Only the contract's own answer (CONTRACT §3: {"error", "code": "NOT_FOUND"})
        // is the log's word; a 404 page of a load balancer or proxy in front of it says nothing of its leaves.
        if (err.serverCode !== 'NOT_FOUND') {
          throw new Error(`the look-up of leaf hash ${encodeBase64(hash!)} was answered 404 without the log's NOT_FOUND error body (a proxy's or load balancer's page?), so it says nothing of the log's leaves: ${err.message}`, { cause: err });
        }
        io.stderr.write(
          `cairn prove: ${checkpoint.origin} says it holds no leaf with hash ${encodeBase64(hash!)} at tree size ${checkpoint.treeSize}; ` +
            `a log's 'not found' is not signed, so this cannot be verified${tiles ? ' (--tiles authenticates what the log gives, and for a missing leaf it gives nothing)' : ''}\n`,
        );
        return EXIT_NOT_FOUND;
      }
      throw err;
    }
    if (values.json === true) {
      await writeJsonOut(io.stdout, {
        leaf_index: result.index,
        leaf_hash: encodeBase64(result.leafHash),
        tree_size: checkpoint.treeSize,
        root_hash: encodeBase64(checkpoint.rootHash),
        audit_path: result.proof.map(encodeBase64),
        source: tiles ? 'tiles' : 'api',
        checkpoint: note,
      });
      return EXIT_OK;
    }
    await writeOut(
      io.stdout,
      `leaf ${result.index} (leaf hash ${encodeBase64(result.leafHash)}) is in ${checkpoint.origin}\n` +
        `tree size ${checkpoint.treeSize}, root ${encodeBase64(checkpoint.rootHash)} (signature verified)\n` +
        `inclusion proof (${result.proof.length} hashes, ${tiles ? 'computed from authenticated tiles' : "the log's, verified"}):\n` +
        result.proof.map((h) => `  ${encodeBase64(h)}\n`).join(''),
    );
    return EXIT_OK;
  });
}
