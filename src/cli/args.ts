import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isValidKeyName } from '../note/keys.js';

/** A command-line mistake: printed with the command's usage, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * node:util parseArgs, strict, with its errors turned into UsageErrors. It
 * also refuses what parseArgs would take silently: an option that takes a
 * value given twice (parseArgs keeps the last, so `--data a --data b` would
 * quietly use b), unless the option is declared `multiple`; and an empty
 * value (`--host ''`), which no option of Cairn's means anything by.
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals, tokens: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    const option = options[token.name];
    if (option?.type !== 'string') continue;
    if (token.value === '') throw new UsageError(`${token.rawName} needs a value, got an empty one`);
    if (option.multiple === true) continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once; give it once`);
    seen.add(token.name);
  }
  return { values: parsed.values, positionals: parsed.positionals };
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
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) throw new UsageError(`${name} must be a port number 0..65535, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** A non-negative integer option in canonical decimal within [min, max]. */
export function parseCount(text: string, name: string, min: number, max: number): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** A log's origin: a note key name (non-empty, no spaces, no '+'). */
export function parseOrigin(text: string, name?: string): string {
  if (!isValidKeyName(text)) throw new UsageError(`invalid origin ${JSON.stringify(text)}${name === undefined ? '' : ` (from ${name})`}: it must be non-empty, without spaces or '+'`);
  return text;
}

/** A positive integer in canonical decimal. */
export function parsePositive(text: string, name: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}
