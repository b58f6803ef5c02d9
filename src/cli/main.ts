#!/usr/bin/env node
import { addCommand } from './add.js';
import { UsageError } from './args.js';
import { auditCommand } from './audit.js';
import { getCommand } from './get.js';
import { keygenCommand } from './keygen.js';
import { monitorCommand } from './monitor.js';
import { proveCommand } from './prove.js';
import { serveCommand } from './serve.js';
import { verifyReceiptCommand } from './verify-receipt.js';

/** A subcommand: resolves to the process exit status. */
export type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  serve: { run: serveCommand, summary: 'run the log server' },
  keygen: { run: keygenCommand, summary: 'make a new signing key' },
  add: { run: (argv) => addCommand(argv), summary: 'log entries and verify their receipts' },
  get: { run: (argv) => getCommand(argv), summary: 'fetch an entry and verify it is in the log' },
  prove: { run: (argv) => proveCommand(argv), summary: 'prove a leaf is in the log' },
  'verify-receipt': { run: (argv) => verifyReceiptCommand(argv), summary: 'check a receipt offline' },
  monitor: { run: (argv) => monitorCommand(argv), summary: 'follow a log and alarm on forks, rewrites, bad tiles' },
  audit: { run: (argv) => auditCommand(argv), summary: "check a stopped server's store against its checkpoint" },
};

const USAGE = `usage: cairn <command> [options]

Cairn is an RFC 6962 / C2SP transparency log. Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(16)}${c.summary}`)
  .join('\n')}

Run 'cairn <command> --help' for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    const { VERSION } = await import('../version.js');
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`cairn: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`cairn: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`cairn: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
