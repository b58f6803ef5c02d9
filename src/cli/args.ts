import { isIP } from 'node:net';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isValidKeyName } from '../note/keys.js';
import { quoteVisibly, showNonPrinting } from './visible-text.js';

/** A command-line mistake: printed with the command's usage, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * node:util parseArgs, strict, with its errors turned into UsageErrors of
 * one line (node words an option that takes a value and is followed by
 * another option in three lines; they are joined), in which what the user
 * typed (an unknown option, an unexpected argument) has every character
 * that would not print, a newline or an ESC too, shown as an escape (see
 * showNonPrinting): a typed line break never starts a line of the
 * message, however serve, keygen or a client command print it. It also refuses what
 * parseArgs would take silently: any option given twice, a value option
 * (parseArgs keeps the last, so `--data a --data b` would quietly use b)
 * unless it is declared `multiple`, and a flag as well (`--json --json`),
 * as README and every --help say; and an empty value (`--host ''`), which
 * no option of Cairn's means anything by. `positionals` says what the
 * command's arguments are, if it takes any (for the words of an unknown
 * option that may have been meant as one: see unknownOption).
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, positionals: Positionals = false): ParsedCommandArgs<T> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: positionals !== false, tokens: true });
  } catch (err) {
    const message = (err as Error).message;
    // Only the messages about a declared option's value have line breaks of node's own (the ambiguity one),
    // and they quote nothing the user typed: those breaks are joined. Every other character that would not
    // print is the user's (an unknown option's name, an unexpected argument), escaped here, so that it never
    // passes for a line or a terminal command of the message's own, however the message is printed.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(showNonPrinting(unknownOption(message, 'url' in options, positionals)));
    const joined = code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? message.replace(/\n+/g, ' ') : message;
    throw new UsageError(showNonPrinting(joined));
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    const option = options[token.name];
    if (option?.type === 'string' && token.value === '') throw new UsageError(`${token.rawName} needs a value, got an empty one`);
    if (option?.multiple === true) continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once; give it once`);
    seen.add(token.name);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

const UNKNOWN_PREFIX = "Unknown option '";
const POSITIONAL_ADVICE = "'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- ";

/**
 * What parseCommandArgs returns: parseArgs' values and positionals for the
 * options given (and --help), written out so that the build's declaration
 * files can name it (@types/node does not export the types parseArgs'
 * result is built from).
 */
export type ParsedCommandArgs<T extends NonNullable<ParseArgsConfig['options']>> = Pick<
  ReturnType<typeof parseArgs<{ args: string[]; options: T & { help: { type: 'boolean'; short: 'h' } }; strict: true; allowPositionals: boolean; tokens: true }>>,
  'values' | 'positionals'
>;

/** What a command's arguments are: none, entry indexes (get, prove) or files (add, verify-receipt). */
export type Positionals = false | 'indexes' | 'files';

/**
 * parseArgs' message for an unknown option without what it adds for a
 * command that takes arguments (how to give one that starts with '-',
 * quoted with an unbalanced quote): `Unknown option '--x'`, as for a
 * command that takes none. Where arguments are indexes, one that is a
 * negative number (`cairn get -1`) says that an index is never one; where
 * they are files, a short option (perhaps a file named -foo) gets a word on
 * naming such a file;
 * `--token`, for a command that asks a log (`asksLog`), where the token
 * comes from instead.
 */
function unknownOption(message: string, asksLog: boolean, positionals: Positionals): string {
  const at = message.indexOf(POSITIONAL_ADVICE);
  const name = at < 0 ? message.slice(UNKNOWN_PREFIX.length, -1) : message.slice(UNKNOWN_PREFIX.length, at);
  // Only node's own wording is changed: the option's name is what it quotes (twice, with the advice).
  if (message !== `${UNKNOWN_PREFIX}${name}'` && message !== `${UNKNOWN_PREFIX}${name}${POSITIONAL_ADVICE}${JSON.stringify(name)}`) return message;
  if (name === '--token' && asksLog) {
    return `${UNKNOWN_PREFIX}${name}': an access token is read from the environment variable CAIRN_TOKEN only, never from an option, which other users could read in ps`;
  }
  if (positionals === 'indexes' && /^-[0-9]/.test(name)) return `${UNKNOWN_PREFIX}${name}': a negative number is no index (the first entry is 0)`;
  // parseArgs reads a file named -foo as the options -f, -o, -o, and names the first.
  if (positionals === 'files' && !name.startsWith('--')) return `${UNKNOWN_PREFIX}${name}' (a file whose name starts with '-' goes after --, as in: -- -file)`;
  return `${UNKNOWN_PREFIX}${name}'`;
}

/**
 * The value of environment variable `name`, or undefined when it is unset.
 * A variable set to the empty string is refused, not taken as a value (an
 * empty CAIRN_HOST would listen on every interface) nor as unset (which would
 * quietly use a default the user may have meant to override).
 */
export function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  if (value === '') throw new UsageError(`${name} is set but empty; give it a value, or unset it`);
  return value;
}

/** A port number 0..65535 in canonical decimal. */
export function parsePort(text: string, name: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) throw new UsageError(`${name} must be a port number 0..65535, got ${quoteVisibly(text)}`);
  return Number(text);
}

/**
 * `host` without the brackets of a bracketed IPv6 literal (`[::1]`, as in a
 * URL); any other text as it is. In brackets a zone is written as in a URL
 * (RFC 6874: `[fe80::1%25eth0]`, the zone percent-encoded), which is decoded
 * to the address node listens on (`fe80::1%eth0`), so that the form serve
 * prints can be given back to it.
 */
export function unbracketHost(host: string): string {
  const m = /^\[(.*)\]$/.exec(host);
  if (m === null) return host;
  let inside = m[1]!;
  const at = inside.indexOf('%25');
  if (at >= 0) {
    try {
      inside = `${inside.slice(0, at)}%${decodeURIComponent(inside.slice(at + 3))}`;
    } catch {
      return host; // a malformed escape: not an address
    }
  }
  return isIP(inside) === 6 ? inside : host;
}

/** One DNS label of a host name (RFC 1123 §2.1; '_' too, which service names use): 1-63 characters, no '-' at either end. */
const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**
 * An address to listen on: an IPv4 or IPv6 literal (an IPv6 one also in
 * brackets, as in a URL: returned without them) or a host name (RFC 1123
 * §2.1: dot-separated labels of letters, digits, '-' and '_', 253
 * characters at most, a final dot allowed). A name whose last label is all
 * digits is refused: it is neither a name nor an IPv4 address (`1.2.3`, which
 * the resolver would take as 1.2.0.3).
 */
export function parseHost(text: string, name: string): string {
  const host = unbracketHost(text);
  if (isIP(host) !== 0) return host;
  const labels = (host.endsWith('.') ? host.slice(0, -1) : host).split('.');
  if (host.length <= 253 && labels.every((label) => HOST_LABEL.test(label)) && !/^[0-9]+$/.test(labels.at(-1)!)) return host;
  throw new UsageError(
    `${name} must be a host name or an IP address (such as 127.0.0.1, ::1 or [::1], 0.0.0.0, localhost, log.example.com), got ${quoteVisibly(text)}`,
  );
}

/** A non-negative integer option in canonical decimal within [min, max]. */
export function parseCount(text: string, name: string, min: number, max: number): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${name} must be an integer from ${min} to ${max}, got ${quoteVisibly(text)}`);
  }
  return Number(text);
}

/** A log's origin: a note key name (non-empty, no spaces, no '+'). */
export function parseOrigin(text: string, name?: string): string {
  if (!isValidKeyName(text)) throw new UsageError(`invalid origin ${quoteVisibly(text)}${name === undefined ? '' : ` (from ${name})`}: it must be non-empty, without spaces or '+'`);
  return text;
}

/** A positive integer in canonical decimal. */
export function parsePositive(text: string, name: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${name} must be a positive integer, got ${quoteVisibly(text)}`);
  }
  return Number(text);
}

/**
 * Edit distance between `a` and `b` counting insertions, deletions,
 * substitutions and swaps of two neighbouring characters as one edit each
 * (optimal string alignment): `sevre` is one edit from `serve`.
 */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      const above = d[i - 1]!;
      row[j] = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The one of `names` that `typed` most likely meant, for a "did you mean"
 * after a mistyped command, or undefined when none is close: the same name
 * in another case (`SERVE`), the one name that starts with it (`verify` for
 * verify-receipt; at least 3 characters), else the nearest within 2 edits
 * (1 for names of up to 4 characters), if only one is that near.
 */
export function closestName(typed: string, names: readonly string[]): string | undefined {
  const t = typed.toLowerCase();
  const same = names.find((n) => n.toLowerCase() === t);
  if (same !== undefined) return same;
  if (t.length >= 3) {
    const starting = names.filter((n) => n.toLowerCase().startsWith(t));
    if (starting.length === 1) return starting[0];
  }
  const limit = t.length <= 4 ? 1 : 2;
  const scored = names.map((n) => ({ n, d: editDistance(t, n.toLowerCase()) })).filter((x) => x.d <= limit);
  const best = Math.min(...scored.map((x) => x.d));
  const nearest = scored.filter((x) => x.d === best);
  return nearest.length === 1 ? nearest[0]!.n : undefined;
}
