// The cairn command line, which main.ts loads once SIGUSR1 is ignored.
import { reportIgnoredDebugSignal } from './debug-signal.js';
import { addCommand } from './add.js';
import { closestName, UsageError } from './args.js';
import { auditCommand } from './audit.js';
import { EXIT_ERROR, EXIT_OK, oneLine, OutputError, writeOut } from './client-common.js';
import { getCommand } from './get.js';
import { printableError, quoteVisibly } from './visible-text.js';
import { keygenCommand } from './keygen.js';
import { monitorCommand } from './monitor.js';
import { proveCommand } from './prove.js';
import { serveCommand } from './serve.js';
import { verifyReceiptCommand } from './verify-receipt.js';

/** A subcommand: resolves to the process exit status. */
export type Command = (argv: string[]) => Promise<number>;

/**
 * A subcommand as main knows it. `outputIsNotices`: what it prints on
 * standard output tells of its work (serve's start-up lines and `stopped`)
 * rather than being its result, so that output failing (the pipe to a log
 * collector gone) is said on standard error but leaves its exit status as it
 * is: a server that stopped cleanly exits 0.
 */
interface CommandEntry {
  run: Command;
  summary: string;
  outputIsNotices?: boolean;
}

const COMMANDS: Record<string, CommandEntry> = {
  serve: { run: serveCommand, summary: 'run the log server', outputIsNotices: true },
  keygen: { run: keygenCommand, summary: 'make a new signing key' },
  add: { run: (argv) => addCommand(argv), summary: 'log entries and verify their receipts' },
  get: { run: (argv) => getCommand(argv), summary: 'fetch an entry, or a range of them, verified in the log' },
  prove: { run: (argv) => proveCommand(argv), summary: 'prove a leaf is in the log' },
  'verify-receipt': { run: (argv) => verifyReceiptCommand(argv), summary: 'check a receipt offline (with --url, against the log too)' },
  monitor: { run: (argv) => monitorCommand(argv), summary: 'follow a log and alarm on forks, rewrites, bad tiles' },
  audit: { run: (argv) => auditCommand(argv), summary: "check a stopped server's store against its checkpoint" },
};

const USAGE = `usage: cairn <command> [options]
       cairn help <command>     (the same as cairn <command> --help)
       cairn --version          (also -V, version)

Cairn is an RFC 6962 / C2SP transparency log. Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(16)}${c.summary}`)
  .join('\n')}

Run 'cairn <command> --help' for a command's options.
`;

const STDERR = 'standard error';

/**
 * The command being run (`serve`, or `help` for `cairn help a b`), once
 * main knows it: its errors that reach main are printed as `cairn serve: …`.
 */
let commandName: string | undefined;

/** `cairn: ` or, once the command is known, `cairn <command>: `. */
const prefix = () => (commandName === undefined ? 'cairn: ' : `cairn ${commandName}: `);

/** The command named `name`, or a usage error that suggests the nearest one. */
function commandNamed(name: string): CommandEntry {
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command !== undefined) return command;
  const near = closestName(name, Object.keys(COMMANDS));
  const hint = near === undefined ? "; run 'cairn --help' for the commands" : `; did you mean '${near}'? Run 'cairn --help' for the commands`;
  throw new UsageError(`unknown command ${quoteVisibly(name)}${hint}.`);
}

async function main(argv: string[]): Promise<number> {
  // `cairn -- get 1`: a leading `--` ends no options here; it is skipped.
  const [name, ...rest] = argv[0] === '--' ? argv.slice(1) : argv;
  if (name === undefined) {
    // A mistake: the usage goes to standard error, with exit status 2.
    await writeOut(process.stderr, `cairn: give a command\n\n${USAGE}`, STDERR);
    return EXIT_ERROR;
  }
  if (name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    await writeOut(process.stdout, USAGE);
    return EXIT_OK;
  }
  if (name === 'help') {
    commandName = 'help';
    if (rest.length > 1) throw new UsageError('give one command: cairn help <command>');
    return commandNamed(rest[0]!).run(['--help']);
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    if (rest.length > 0) throw new UsageError(`${name} takes no arguments`);
    const { VERSION } = await import('../version.js');
    await writeOut(process.stdout, `${VERSION}\n`);
    return EXIT_OK;
  }
  const command = commandNamed(name);
  commandName = name;
  outputIsNotices = command.outputIsNotices === true;
  return command.run(rest);
}

/**
 * A write to standard output that failed (a closed pipe, a full disk) and
 * that the command did not wait for: node emits it as an 'error' event,
 * which would end the process with a stack trace and exit status 1 were it
 * not listened for. Output the commands print as their result is awaited
 * (writeOut) and reported by them; this catches the rest.
 */
let stdoutFailure: unknown;
let exitStatus: number | undefined;
/** The command's standard output tells of its work, and is not its result (see CommandEntry). */
let outputIsNotices = false;

/** Once both the command's exit status and an unawaited stdout failure are known: one line, and 2 instead of 0 (but for a command whose output is notices). */
function reportStdoutFailure(): void {
  if (stdoutFailure === undefined || exitStatus === undefined) return;
  // A command that returned 2 has said what went wrong, this failure or another.
  if (exitStatus !== EXIT_ERROR) process.stderr.write(`${prefix()}${oneLine(new OutputError('standard output', stdoutFailure).message)}\n`);
  if (exitStatus === EXIT_OK && !outputIsNotices) exitStatus = EXIT_ERROR;
  process.exitCode = exitStatus;
}

// A SIGUSR1 is said on standard error, in the command's name; serve says it in its JSON log instead.
reportIgnoredDebugSignal((message) => process.stderr.write(`${prefix()}${message}\n`));

process.stdout.on('error', (err) => {
  if (stdoutFailure !== undefined) return;
  stdoutFailure = err;
  reportStdoutFailure();
});
// With standard error gone there is no one left to tell; the exit status still says it.
process.stderr.on('error', () => undefined);

main(process.argv.slice(2)).then(
  (code) => {
    exitStatus = code;
    process.exitCode = code;
    reportStdoutFailure();
  },
  (err: unknown) => {
    process.stderr.write(`${prefix()}${printableError(err)}\n`);
    // Anything else is a failure of serve or keygen that they did not foresee: exit status 1.
    exitStatus = err instanceof UsageError || err instanceof OutputError ? EXIT_ERROR : 1;
    process.exitCode = exitStatus;
    reportStdoutFailure();
  },
);
