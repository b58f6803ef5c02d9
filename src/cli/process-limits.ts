/**
 * The process limits `cairn serve` works within, read from Linux's
 * /proc/self/limits: how many connections its open-file limit leaves room
 * for beside its store, and whether its address-space limit is large
 * enough for LevelDB's maps.
 */

import { readFile } from 'node:fs/promises';
import { ADDRESS_SPACE_ADVICE } from '../http/errors.js';
import { storeFileDescriptors } from '../storage/level-store.js';

/**
 * File descriptors kept back from connections: LevelDB's table files past
 * the 1000 it maps (it may hold up to 2000 open), its logs and MANIFEST,
 * the key and token files, stdio and node's own.
 */
export const RESERVED_FILES = 1200;

/**
 * File descriptors kept back from connections under a small open-file limit
 * (one of {@link RESERVED_FILES} or less): node and an idle store already
 * hold some 26, and LevelDB opens more as it reads and compacts.
 */
export const RESERVED_FILES_AT_LEAST = 64;

/**
 * File descriptors of the server's own beside its connections and its
 * store's: node's (some 20 in a process that has opened nothing: stdio,
 * its event loop's), the listening socket, the key or token file as it is
 * read, and a margin.
 */
export const PROCESS_FILES = 32;

/**
 * Below this many connections, startServer warns that the open-file limit
 * is too low for a server that clients can reach.
 */
export const FEW_CONNECTIONS = 100;

/**
 * The most connections a server may hold open so that idle ones (a client
 * that connects and sends nothing lasts until node's 60-s header timeout)
 * cannot take the file descriptors its store needs to write: with none
 * left, every write would fail STORAGE_FAILED and /healthz with it. The
 * open-file limit less {@link RESERVED_FILES}, or, of a limit too small for
 * that, half, and never more than the limit less
 * {@link RESERVED_FILES_AT_LEAST} (half of 44 left the store too few, and
 * it failed with EMFILE), nor than it less the most the store holds
 * (storeFileDescriptors of level-store.ts, which LevelDB bounds by the
 * limit) and {@link PROCESS_FILES}; at least 1. Undefined (no cap) when the
 * limit is unknown or unlimited.
 */
export function connectionLimit(openFiles: number | undefined): number | undefined {
  if (openFiles === undefined || !Number.isSafeInteger(openFiles) || openFiles <= 0) return undefined;
  const budget = openFiles - storeFileDescriptors(openFiles) - PROCESS_FILES;
  const reserved = openFiles > 2 * RESERVED_FILES ? openFiles - RESERVED_FILES : Math.min(openFiles - RESERVED_FILES_AT_LEAST, Math.floor(openFiles / 2));
  return Math.max(1, Math.min(budget, reserved));
}

/** The process's soft limits that the server works within (see processLimits); undefined where unknown or unlimited. */
export interface ProcessLimits {
  /** Open files (RLIMIT_NOFILE, which node raises to the hard limit as it starts). */
  readonly openFiles: number | undefined;
  /** Address space in bytes (RLIMIT_AS: ulimit -v, LimitAS in systemd). */
  readonly addressSpace: number | undefined;
}

/**
 * The process's soft limits, from one read of Linux's /proc/self/limits;
 * each undefined where that cannot be read (not Linux) or says unlimited.
 */
export async function processLimits(): Promise<ProcessLimits> {
  let text = '';
  try {
    text = await readFile('/proc/self/limits', 'utf8');
  } catch {
    // Unknown: neither limit is applied.
  }
  const soft = (name: string): number | undefined => {
    const m = new RegExp(`^${name}\\s+(\\d+)\\s`, 'm').exec(text);
    return m === null ? undefined : Number(m[1]);
  };
  return { openFiles: soft('Max open files'), addressSpace: soft('Max address space') };
}

/**
 * An address-space limit from which on the server is not warned about one:
 * LevelDB's maps (up to about 8 GiB), V8's reservations (about 1 GiB), and
 * room for the heaps and node's own above them.
 */
export const AMPLE_ADDRESS_SPACE = 12 * 2 ** 30;

/**
 * The warning for an address-space limit of `bytes`: LevelDB maps up to a
 * thousand 8-MiB tables (about 8 GiB) and V8 reserves about 1 GiB, so such
 * a limit fails reads (ENOMEM: a table that cannot be mapped), then the
 * process, as the store grows; a cgroup's memory limit bounds memory
 * without that.
 */
export function addressSpaceWarning(bytes: number): string {
  return `the address-space limit of ${(bytes / 2 ** 30).toFixed(1)} GiB (ulimit -v, or LimitAS in systemd) makes the server fail as its store grows, a read whose table cannot be mapped first (503, ENOMEM): ${ADDRESS_SPACE_ADVICE}`;
}
