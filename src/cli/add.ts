import { open, type FileHandle } from 'node:fs/promises';
import { MAX_BATCH_ENTRIES } from '../client/client.js';
import { MAX_ENTRY_SIZE } from '../merkle/bundle.js';
import { canonicalizeJson, JsonError } from '../jcs/canonical.js';
import { parseCommandArgs, parseCount, UsageError } from './args.js';
import { EXIT_HELP, EXIT_OK, makeClient, processIo, Progress, readInput, resolveUrl, resolveVerifier, runClientCommand, writeJsonLine, type CliIo } from './client-common.js';

/** The help text of `cairn add`: what it does, its options and its exit statuses. */
export const ADD_USAGE = `usage: cairn add [options] [FILE ...]

Logs entries and verifies every receipt against the log's key. Each FILE (or
standard input, when there is none or for '-') is one entry; with --json-lines
every non-blank line of the input is one JSON event, logged as its RFC 8785
(JCS) canonical bytes. Entries go in POST /v1/batch requests; a 503 answer is
retried after its Retry-After. Each receipt (index, leaf_hash, checkpoint,
inclusion_proof, duplicate) is written as one JSON line, in input order, to
standard output or --receipts FILE; 'cairn verify-receipt' checks one offline.

Options:
  --url URL          the log (CAIRN_URL; default http://127.0.0.1:8080)
  --vkey KEY|FILE    the log's verifier key, or a file holding it (CAIRN_VKEY)
  CAIRN_TOKEN        env only: an access token, for a log that needs one
  --json-lines       the input is JSON Lines: one JSON event per line
  --receipts FILE    write the receipts to FILE instead of standard output
  --batch-size N     entries per request, 1..${MAX_BATCH_ENTRIES} (default ${MAX_BATCH_ENTRIES})
  --retries N        retries of a 503 answer per request (default 10)
  --json             the closing summary as a JSON line (on standard error)
  --quiet            no progress bar, retry notices or summary
  -h, --help         show this help

A progress bar is drawn on standard error when it is a terminal. Receipts of
requests that completed are kept even if a later one fails.

${EXIT_HELP}
`;

/** Entries per request are also capped by size, to keep request bodies small. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

interface Input {
  readonly entry: Uint8Array;
  /** FILE or FILE:LINE, for messages. */
  readonly source: string;
}

function checkSize(entry: Uint8Array, source: string): void {
  if (entry.length === 0) throw new UsageError(`${source}: an entry must hold at least one byte`);
  if (entry.length > MAX_ENTRY_SIZE) throw new UsageError(`${source}: ${entry.length} bytes; an entry holds at most ${MAX_ENTRY_SIZE}`);
}

function jsonLines(data: Uint8Array, name: string): Input[] {
  const out: Input[] = [];
  let start = 0;
  let line = 0;
  while (start <= data.length) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    line++;
    let stop = end;
    if (stop > start && data[stop - 1] === 0x0d) stop--;
    const bytes = data.subarray(start, stop);
    if (bytes.some((b) => b !== 0x20 && b !== 0x09)) {
      const source = `${name}:${line}`;
      let entry: Uint8Array;
      try {
        entry = canonicalizeJson(bytes);
      } catch (err) {
        if (err instanceof JsonError) throw new UsageError(`${source}: not an I-JSON value: ${err.message}`);
        throw err;
      }
      checkSize(entry, source);
      out.push({ entry, source });
    }
    start = end + 1;
  }
  return out;
}

function batches(inputs: readonly Input[], size: number): Input[][] {
  const out: Input[][] = [];
  let current: Input[] = [];
  let bytes = 0;
  for (const input of inputs) {
    if (current.length === size || (current.length > 0 && bytes + input.entry.length > MAX_BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(input);
    bytes += input.entry.length;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** `cairn add`: see ADD_USAGE. */
export async function addCommand(argv: string[], io: CliIo = processIo()): Promise<number> {
  return runClientCommand('add', ADD_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        url: { type: 'string' },
        vkey: { type: 'string' },
        'json-lines': { type: 'boolean' },
        receipts: { type: 'string' },
        'batch-size': { type: 'string' },
        retries: { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
      },
      true,
    );
    if (values.help === true) {
      io.stdout.write(ADD_USAGE);
      return EXIT_OK;
    }
    const url = resolveUrl(values.url, io.env);
    const { verifier } = await resolveVerifier(values.vkey, io.env);
    const batchSize = parseCount(values['batch-size'] ?? String(MAX_BATCH_ENTRIES), '--batch-size', 1, MAX_BATCH_ENTRIES);
    const retries = parseCount(values.retries ?? '10', '--retries', 0, 1000);
    const quiet = values.quiet === true;
    const sources = positionals.length === 0 ? ['-'] : positionals;
    if (sources.filter((s) => s === '-').length > 1) throw new UsageError("standard input ('-') can be read only once");

    const inputs: Input[] = [];
    for (const source of sources) {
      const data = await readInput(source, io);
      const name = source === '-' ? '<stdin>' : source;
      if (values['json-lines'] === true) {
        inputs.push(...jsonLines(data, name));
      } else {
        checkSize(data, name);
        inputs.push({ entry: data, source: name });
      }
    }
    if (inputs.length === 0) throw new UsageError('nothing to add: the input holds no entries');

    const client = makeClient(url, verifier, io, {
      maxRetries: retries,
      sleep: (ms) => io.sleep(ms),
      onRetry: (info) => {
        if (!quiet) io.stderr.write(`${io.stderr.isTTY === true ? '\n' : ''}cairn add: the log is busy (${info.serverCode ?? '503'}); retry ${info.attempt} of ${retries} in ${(info.delayMs / 1000).toFixed(1)} s\n`);
      },
    });
    let file: FileHandle | undefined;
    if (values.receipts !== undefined) {
      try {
        file = await open(values.receipts, 'w');
      } catch (err) {
        throw new UsageError(`cannot write ${values.receipts}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    const progress = new Progress(io.stderr, inputs.length, 'entries', !quiet && values.json !== true);
    let done = 0;
    let duplicates = 0;
    let treeSize = 0;
    const chunks = batches(inputs, batchSize);
    try {
      for (const chunk of chunks) {
        let result;
        try {
          result = await client.addBatch(chunk.map((c) => c.entry));
        } catch (err) {
          progress.finish(done);
          if (done > 0 && err instanceof Error) err.message += ` (the ${done} entries before ${chunk[0]!.source} were logged and their receipts written)`;
          throw err;
        }
        const lines = result.receipts.map((r) => `${JSON.stringify(r.receipt)}\n`).join('');
        if (file !== undefined) await file.write(lines);
        else io.stdout.write(lines);
        duplicates += result.receipts.filter((r) => r.receipt.duplicate).length;
        treeSize = result.checkpoint.checkpoint.treeSize;
        done += chunk.length;
        progress.update(done);
      }
    } finally {
      await file?.close();
    }
    progress.finish(done);
    const summary = {
      entries: done,
      new: done - duplicates,
      duplicates,
      requests: chunks.length,
      tree_size: treeSize,
      origin: verifier.name,
      receipts_verified: true,
    };
    if (values.json === true) writeJsonLine(io.stderr, summary);
    else if (!quiet) {
      io.stderr.write(
        `logged ${done} ${done === 1 ? 'entry' : 'entries'} (${duplicates} already in the log) in ${chunks.length} ${chunks.length === 1 ? 'request' : 'requests'}; ` +
          `every receipt verified against ${verifier.name} at tree size ${treeSize}${file === undefined ? '' : `; receipts in ${values.receipts}`}\n`,
      );
    }
    return EXIT_OK;
  });
}
