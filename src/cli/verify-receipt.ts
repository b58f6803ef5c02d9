import { checkReceipt, type ReceiptCheck } from '../client/receipt.js';
import { leafHash } from '../merkle/hash.js';
import { encodeBase64 } from '../note/base64.js';
import { parseCommandArgs, UsageError } from './args.js';
import { EXIT_HELP, EXIT_OK, EXIT_VERIFY_FAILED, processIo, readEntry, readInput, resolveVerifier, runClientCommand, writeJsonLine, type CliIo } from './client-common.js';

/** The help text of `cairn verify-receipt`: what it does, its options and its exit statuses. */
export const VERIFY_RECEIPT_USAGE = `usage: cairn verify-receipt <receipt.json> --entry <file> --vkey <key> [options]

Checks offline, without asking the log, that a receipt proves the entry is in
the log: the receipt's checkpoint must be signed by --vkey, its leaf hash must
be SHA-256(0x00 || entry) and its inclusion proof must lead from that leaf to
the checkpoint's root. <receipt.json> ('-' for standard input) is one receipt,
or the JSON Lines that 'cairn add' writes: then the receipt with the entry's
leaf hash is checked.

Options:
  --entry FILE       the logged entry ('-' for standard input)
  --jcs              FILE is JSON: check its RFC 8785 canonical bytes (what
                     the log stores for a JSON submission)
  --vkey KEY|FILE    the log's verifier key, or a file holding it (CAIRN_VKEY)
  --json             print {valid, index, tree_size, root_hash, origin} or
                     {valid: false, reason} as one JSON object
  -h, --help         show this help

${EXIT_HELP.replace('verification failed (the log\'s answer contradicts what it signed)', 'the receipt does not prove the entry')}
`;

function findReceipt(text: string, entry: Uint8Array, name: string): unknown {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const parse = (s: string, where: string): unknown => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      throw new UsageError(`${where} is not JSON`);
    }
  };
  if (lines.length <= 1) return parse(text, name);
  // Pretty-printed JSON spans lines too; JSON Lines hold one receipt per line.
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // JSON Lines: fall through.
  }
  const leaf = encodeBase64(leafHash(entry));
  const receipts = lines.map((l, i) => parse(l, `${name}:${i + 1}`));
  return receipts.find((r) => typeof r === 'object' && r !== null && (r as { leaf_hash?: unknown }).leaf_hash === leaf) ?? { missing: lines.length };
}

/** `cairn verify-receipt`: see VERIFY_RECEIPT_USAGE. */
export async function verifyReceiptCommand(argv: string[], io: CliIo = processIo()): Promise<number> {
  return runClientCommand('verify-receipt', VERIFY_RECEIPT_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(argv, { entry: { type: 'string' }, jcs: { type: 'boolean' }, vkey: { type: 'string' }, json: { type: 'boolean' } }, true);
    if (values.help === true) {
      io.stdout.write(VERIFY_RECEIPT_USAGE);
      return EXIT_OK;
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one <receipt.json>');
    if (values.entry === undefined) throw new UsageError('--entry <file> is required');
    if (positionals[0] === '-' && values.entry === '-') throw new UsageError('the receipt and the entry cannot both come from standard input');
    const { verifier } = await resolveVerifier(values.vkey, io.env);
    const entry = await readEntry(values.entry, values.jcs === true, io);
    const text = new TextDecoder().decode(await readInput(positionals[0]!, io));
    const receipt = findReceipt(text, entry, positionals[0]!);
    const missing = (receipt as { missing?: number }).missing;
    const check: ReceiptCheck =
      missing !== undefined ? { valid: false, reason: `none of the ${missing} receipts in ${positionals[0]} is for this entry's leaf hash` } : checkReceipt(receipt, entry, verifier);
    if (values.json === true) {
      writeJsonLine(
        io.stdout,
        check.valid
          ? { valid: true, index: check.index, tree_size: check.checkpoint.treeSize, root_hash: encodeBase64(check.checkpoint.rootHash), origin: check.checkpoint.origin }
          : { valid: false, reason: check.reason },
      );
    } else if (check.valid) {
      io.stdout.write(
        `valid: the entry is leaf ${check.index} of ${check.checkpoint.origin} in the signed tree of size ${check.checkpoint.treeSize} (root ${encodeBase64(check.checkpoint.rootHash)})\n`,
      );
    } else {
      io.stdout.write(`INVALID: ${check.reason}\n`);
    }
    return check.valid ? EXIT_OK : EXIT_VERIFY_FAILED;
  });
}
