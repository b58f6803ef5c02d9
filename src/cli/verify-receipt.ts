import { checkReceipt, type ReceiptCheck } from '../client/receipt.js';
import { leafHash } from '../merkle/hash.js';
import { encodeBase64 } from '../note/base64.js';
import type { Verifier } from '../note/keys.js';
import { parseCommandArgs, UsageError } from './args.js';
import { EXIT_OK, jsonLine, processIo, readEntry, readInput, resolveVerifier, runClientCommand, writeFailureReport, writeJsonOut, writeOut, type CliIo } from './client-common.js';

/** The help text of `cairn verify-receipt`: what it does, its options and its exit statuses. */
export const VERIFY_RECEIPT_USAGE = `usage: cairn verify-receipt <receipt.json> --entry <file> --vkey <key> [options]

Checks offline, without asking the log, that a receipt proves the entry is in
the log: the receipt's checkpoint must be signed by --vkey, its leaf hash must
be SHA-256(0x00 || entry) and its inclusion proof must lead from that leaf to
the checkpoint's root. <receipt.json> ('-' for standard input) is one receipt,
or the JSON Lines that 'cairn add' writes: then the receipts with the entry's
leaf hash are checked (an appended file may hold several: the entry logged
to two logs, or twice), and one that proves it is enough. A /v1/batch answer
is not a receipt: its receipts share its checkpoint; 'cairn add' writes each
on a line of its own, with it.

Options:
  --entry FILE       the logged entry ('-' for standard input)
  --jcs              FILE is JSON: check its RFC 8785 canonical bytes (what
                     the log stores for a JSON submission)
  --vkey KEY|FILE    the log's verifier key, or a file holding it (CAIRN_VKEY)
  --json             print {valid, index, tree_size, root_hash, origin} or
                     {valid: false, reason} as one JSON object
  -h, --help         show this help

Exit status:
  0  the receipt proves the entry
  1  the receipt does not prove the entry
  2  usage error: bad options, input that cannot be read, or input that is
     not a receipt (this command is offline: it asks no log)
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
      `${where} is not a receipt but a /v1/batch answer: it holds ${v.receipts.length} receipts that share its "checkpoint". ` +
      "Check one as 'cairn add --receipts' writes them, one receipt per line, each with the batch checkpoint: " +
      `jq -c '.checkpoint as $c | .receipts[] | .checkpoint = $c' ${where} > receipts.jsonl, then cairn verify-receipt receipts.jsonl --entry FILE`
    );
  }
  const wrong = RECEIPT_FIELDS.filter(([name, , ok]) => !ok(v[name])).map(([name, type]) => `"${name}" (${type})`);
  return wrong.length === 0 ? undefined : `${where} is not a receipt: it has no ${wrong.join(', ')}`;
}

/** A receipt to check, and where it was read: the file's name, or name:line for JSON Lines. */
interface Candidate {
  readonly receipt: unknown;
  readonly where: string;
}

/**
 * The receipts in `text` to check for `entry`: the one JSON value, or of
 * JSON Lines every receipt with the entry's leaf hash, in file order
 * (`{ missing }` when none has it). Throws when the input is not JSON or
 * holds no receipt at all.
 */
function findReceipts(text: string, entry: Uint8Array, name: string): Candidate[] | { missing: number } {
  // Numbered as in the file (blank lines count), so that FILE:N names the line an editor shows.
  const lines = text
    .split('\n')
    .map((l, i) => ({ l, n: i + 1 }))
    .filter(({ l }) => l.trim() !== '');
  const parse = (s: string, where: string): unknown => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      throw new UsageError(`${where} is not JSON`);
    }
  };
  const one = (value: unknown): Candidate[] => {
    const problem = notAReceipt(value, name);
    if (problem !== undefined) throw new Error(problem);
    return [{ receipt: value, where: name }];
  };
  if (lines.length <= 1) return one(parse(text, name));
  // Pretty-printed JSON spans lines too; JSON Lines hold one receipt per line.
  let whole: unknown;
  try {
    whole = JSON.parse(text) as unknown;
  } catch {
    whole = undefined;
  }
  if (whole !== undefined) return one(whole);
  const values = lines.map(({ l, n }) => ({ receipt: parse(l, `${name}:${n}`), where: `${name}:${n}` }));
  const receipts = values.filter((c) => notAReceipt(c.receipt, c.where) === undefined);
  if (receipts.length === 0) throw new Error(`none of the ${lines.length} lines of ${name} is a receipt (${notAReceipt(values[0]!.receipt, values[0]!.where)})`);
  const leaf = encodeBase64(leafHash(entry));
  const matching = receipts.filter((c) => (c.receipt as { leaf_hash: string }).leaf_hash === leaf);
  return matching.length > 0 ? matching : { missing: receipts.length };
}

/**
 * The first of `candidates` that proves `entry` for `verifier`; when none
 * does, the first one's failure (which of how many, when there were more).
 */
function checkCandidates(candidates: readonly Candidate[], entry: Uint8Array, verifier: Verifier): ReceiptCheck {
  const failures: { where: string; reason: string; signed: boolean }[] = [];
  for (const { receipt, where } of candidates) {
    const check = checkReceipt(receipt, entry, verifier);
    if (check.valid) return check;
    failures.push({ where, reason: check.reason, signed: check.signed === true });
  }
  if (failures.length === 1) return { valid: false, reason: failures[0]!.reason };
  // One under this log's own checkpoint says more than one of another log's, which fails on its signature anyway.
  const signed = failures.find((f) => f.signed);
  const told = signed ?? failures[0]!;
  const which = signed === undefined ? 'the first' : signed === failures[0] ? 'the first, whose checkpoint this log signed' : 'the first whose checkpoint this log signed';
  return { valid: false, reason: `none of the ${failures.length} receipts for this entry's leaf hash proves it; ${which}, ${told.where}: ${told.reason}` };
}

/** `cairn verify-receipt`: see VERIFY_RECEIPT_USAGE. */
export async function verifyReceiptCommand(argv: string[], io: CliIo = processIo()): Promise<number> {
  return runClientCommand('verify-receipt', VERIFY_RECEIPT_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(argv, { entry: { type: 'string' }, jcs: { type: 'boolean' }, vkey: { type: 'string' }, json: { type: 'boolean' } }, true);
    if (values.help === true) {
      await writeOut(io.stdout, VERIFY_RECEIPT_USAGE);
      return EXIT_OK;
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one <receipt.json>');
    if (values.entry === undefined) throw new UsageError('--entry <file> is required');
    if (positionals[0] === '-' && values.entry === '-') throw new UsageError('the receipt and the entry cannot both come from standard input');
    const { verifier } = await resolveVerifier(values.vkey, io.env);
    const entry = await readEntry(values.entry, values.jcs === true, io);
    const text = new TextDecoder().decode(await readInput(positionals[0]!, io));
    const found = findReceipts(text, entry, positionals[0]!);
    const check: ReceiptCheck = Array.isArray(found)
      ? checkCandidates(found, entry, verifier)
      : { valid: false, reason: `none of the ${found.missing} receipts in ${positionals[0]} is for this entry's leaf hash` };
    if (!check.valid) {
      const report = values.json === true ? jsonLine({ valid: false, reason: check.reason }) : `INVALID: ${check.reason}\n`;
      return writeFailureReport(io, 'verify-receipt', report, `INVALID: ${check.reason}`);
    }
    if (values.json === true) {
      await writeJsonOut(io.stdout, { valid: true, index: check.index, tree_size: check.checkpoint.treeSize, root_hash: encodeBase64(check.checkpoint.rootHash), origin: check.checkpoint.origin });
    } else {
      await writeOut(
        io.stdout,
        `valid: the entry is leaf ${check.index} of ${check.checkpoint.origin} in the signed tree of size ${check.checkpoint.treeSize} (root ${encodeBase64(check.checkpoint.rootHash)})\n`,
      );
    }
    return EXIT_OK;
  });
}
