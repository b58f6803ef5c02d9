#!/usr/bin/env node
import { UsageError } from './args.js';
import { keygenCommand } from './keygen.js';
import { serveCommand } from './serve.js';

/** A subcommand: resolves to the process exit status. */
export type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  serve: { run: serveCommand, summary: 'run the log server' },
  keygen: { run: keygenCommand, summary: 'make a new signing key' },
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
