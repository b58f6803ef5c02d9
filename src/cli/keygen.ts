import { envValue, parseCommandArgs, parseOrigin, UsageError } from './args.js';
import { createKeyFile } from './key-file.js';

/** The help text of `cairn keygen`: what it does, its options and its exit statuses. */
export const KEYGEN_USAGE = `usage: cairn keygen --origin <origin> --out <file>

Makes a new Ed25519 signing key for a log named <origin> (for example
audit.example.com/log1: no spaces, no '+'), writes it to <file> with mode 0600
(never overwriting an existing file) and prints the verifier key, which
monitors and auditors use to check the log's signatures.

Options:
  --origin <origin>  the log's name (default: $CAIRN_ORIGIN)
  --out <file>       where to write the private key
  -h, --help         show this help

The folder of <file> must exist: keygen makes no folders.

Exit status:
  0  the key was written and its verifier key printed
  2  usage or operational error (bad options; <file> exists already, or its
     folder is missing or not writable)
`;

/** `cairn keygen`: see KEYGEN_USAGE; resolves to the exit status. */
export async function keygenCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { origin: { type: 'string' }, out: { type: 'string' } });
  if (values.help === true) {
    process.stdout.write(KEYGEN_USAGE);
    return 0;
  }
  const origin = values.origin ?? envValue(process.env, 'CAIRN_ORIGIN');
  if (origin === undefined) throw new UsageError(`--origin is required\n\n${KEYGEN_USAGE}`);
  parseOrigin(origin, values.origin === undefined ? 'CAIRN_ORIGIN' : '--origin');
  if (values.out === undefined) throw new UsageError(`--out is required\n\n${KEYGEN_USAGE}`);
  let made: Awaited<ReturnType<typeof createKeyFile>>;
  try {
    made = await createKeyFile(values.out, origin);
  } catch (err) {
    process.stderr.write(`cairn keygen: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  for (const problem of made.leftoverTemps) {
    // The key was made; a leftover of an earlier, interrupted creation is worth a warning, not a failure.
    process.stderr.write(
      problem.kind === 'list'
        ? `cairn keygen: warning: cannot look for temporary key files beside ${values.out}: ${problem.reason}\n`
        : `cairn keygen: warning: cannot remove ${problem.path}, left by an interrupted key creation; it holds a private key: remove it by hand (${problem.reason})\n`,
    );
  }
  process.stdout.write(`${made.verifierKey}\n`);
  return 0;
}
