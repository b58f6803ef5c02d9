import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isValidKeyName } from '../note/keys.js';

/** A command-line mistake: printed with the command's usage, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** node:util parseArgs, strict, with its errors turned into UsageErrors. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
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
export function parseOrigin(text: string): string {
  if (!isValidKeyName(text)) throw new UsageError(`invalid origin ${JSON.stringify(text)}: it must be non-empty, without spaces or '+'`);
  return text;
}

/** A positive integer in canonical decimal. */
export function parsePositive(text: string, name: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}
