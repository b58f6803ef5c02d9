import { stat } from 'node:fs/promises';
import { joinAsGiven } from '../file-trust.js';
import { envValue, parseCommandArgs, parseOrigin, UsageError } from './args.js';
import { writeOut } from './client-common.js';
import { createKeyFile, newKeyOriginProblem, readKeyFile } from './key-file.js';
import { optionWords } from './os-error.js';
import { printableError, quoteVisibly, showNonPrinting } from './visible-text.js';

/** The help text of `cairn keygen`: what it does, its options and its exit statuses. */
export const KEYGEN_USAGE = `usage: cairn keygen --origin <origin> --out <file>
       cairn keygen --show <file>

Makes a new Ed25519 signing key for a log named <origin> (for example
audit.example.com/log1: visible characters only, no spaces, no '+'), writes
it to <file> with mode 0600 (never overwriting an existing file) and prints
the verifier key, which monitors and auditors use to check the log's
signatures. With --show, prints the verifier key of the existing key file
<file> (never its private key), which must pass serve's checks: mode 0600
or closer, owned by this user or root, in folders other users cannot
write.

Options:
  --origin <origin>  the log's name (default: $CAIRN_ORIGIN)
  --out <file>       where to write the private key
  --show <file>      print the verifier key of this key file; makes nothing
  -h, --help         show this help

The folder of <file> must exist: keygen makes no folders.

Exit status:
  0  the key was written and its verifier key printed
  2  usage or operational error (bad options; <file> exists already or is
     a folder, or its folder is missing or not writable; the verifier key
     could not be printed, the key being written all the same; with
     --show, a key file that cannot be read or fails those checks)
`;

/**
 * `cairn keygen`: see KEYGEN_USAGE; resolves to the exit status. Its usage
 * errors are printed as `cairn keygen: <why>`, with any character that
 * would not print shown as an escape, then where its options are (as
 * every command prints them).
 */
export async function keygenCommand(argv: string[]): Promise<number> {
  try {
    return await keygen(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`cairn keygen: ${printableError(err)}\nRun 'cairn keygen --help' for its options.\n`);
      return 2;
    }
    throw err;
  }
}

/**
 * The origin of a key about to be made, from `name` (an option or a
 * variable): a note key name (see parseOrigin) that holds only characters
 * that print (see newKeyOriginProblem); else a UsageError saying why.
 */
export function parseNewKeyOrigin(origin: string, name: string): string {
  // Checked before parseOrigin, whose message would print the character as it is.
  const problem = newKeyOriginProblem(origin);
  if (problem !== undefined) throw new UsageError(`invalid origin ${quoteVisibly(origin)} (from ${name}): it ${problem}`);
  return parseOrigin(origin, name);
}

/** The options `cairn keygen` takes (besides -h, --help), each listed in {@link KEYGEN_USAGE}. */
export const KEYGEN_OPTIONS = { origin: { type: 'string' }, out: { type: 'string' }, show: { type: 'string' } } as const;

/**
 * A UsageError when `out` names a folder (one that exists, or a path that
 * ends in '/'), which createKeyFile would call an existing key file or a
 * missing folder; undefined otherwise, the rest being createKeyFile's to judge.
 */
async function folderAsKeyFile(out: string): Promise<UsageError | undefined> {
  const isFolder = await stat(out).then((info) => info.isDirectory(), () => false);
  if (!isFolder && !out.endsWith('/')) return undefined;
  // The path as typed, its line breaks and other non-printing characters escaped: keygen prints a usage error with its own line breaks kept.
  const example = showNonPrinting(joinAsGiven(out, 'log.key'));
  return new UsageError(`--out ${showNonPrinting(out)} ${isFolder ? 'is a folder' : "names a folder (it ends in '/')"}; give the path of a new file, such as ${example}`);
}

async function keygen(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, KEYGEN_OPTIONS);
  if (values.help === true) {
    process.stdout.write(KEYGEN_USAGE);
    return 0;
  }
  if (values.show !== undefined) return showVerifierKey(values.show, values);
  const origin = values.origin ?? envValue(process.env, 'CAIRN_ORIGIN');
  if (origin === undefined) throw new UsageError("--origin <origin> is required: the log's name (or set CAIRN_ORIGIN)");
  parseNewKeyOrigin(origin, values.origin === undefined ? 'CAIRN_ORIGIN' : '--origin');
  if (values.out === undefined) throw new UsageError('--out <file> is required: where to write the private key');
  const folder = await folderAsKeyFile(values.out);
  if (folder !== undefined) throw folder;
  let made: Awaited<ReturnType<typeof createKeyFile>>;
  try {
    made = await createKeyFile(values.out, origin);
  } catch (err) {
    process.stderr.write(`cairn keygen: ${printableError(err)}\n`);
    return 2;
  }
  for (const problem of made.leftoverTemps) {
    // The key was made; a leftover of an earlier, interrupted creation is worth a warning, not a failure.
    process.stderr.write(
      problem.kind === 'list'
        ? `cairn keygen: warning: cannot look for temporary key files beside ${showNonPrinting(values.out)}: ${problem.reason}\n`
        : `cairn keygen: warning: cannot remove ${showNonPrinting(problem.path)}, left by an interrupted key creation; it holds a private key: remove it by hand (${problem.reason})\n`,
    );
  }
  try {
    await writeOut(process.stdout, `${made.verifierKey}\n`);
  } catch (err) {
    // The key stands: say where it is, and how to print its verifier key (a second keygen would refuse to overwrite it).
    process.stderr.write(
      `cairn keygen: the key was written to ${showNonPrinting(values.out)}, but its verifier key could not be printed: ${printableError(err)}; ` +
        `print it with: cairn keygen ${optionWords('--show', values.out)}\n`,
    );
    return 2;
  }
  return 0;
}

/**
 * `cairn keygen --show FILE`: prints the verifier key of the key file
 * `file`, read with serve's checks (readKeyFile's checkOwner: its mode, its
 * owner, the folders above it), never its private key.
 */
async function showVerifierKey(file: string, values: { origin?: string | undefined; out?: string | undefined }): Promise<number> {
  if (values.origin !== undefined || values.out !== undefined) throw new UsageError('--show <file> prints the verifier key of an existing key file: give it without --origin and --out');
  let key: Awaited<ReturnType<typeof readKeyFile>>;
  try {
    key = await readKeyFile(file, { checkOwner: true });
  } catch (err) {
    process.stderr.write(`cairn keygen: ${printableError(err)}\n`);
    return 2;
  }
  await writeOut(process.stdout, `${key.verifierKey}\n`);
  return 0;
}
