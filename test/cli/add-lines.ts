/** What the tests of `cairn add` feed it (JSON lines, a process, FIFOs) and read back from it (receipts). */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { AddProcess } from '../../src/cli/add.js';
import { canonicalizeJson } from '../../src/jcs/canonical.js';
import { leafHash } from '../../src/merkle/hash.js';
import { encodeBase64 } from '../../src/note/base64.js';

export const enc = (s: string) => new TextEncoder().encode(s);

/** `n` JSON events, told apart by `tag` and their number. */
export const events = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify({ tag, i }));

/** Standard input of these lines, each ended by a line break. */
export const stdinOf = (lines: string[]) => `${lines.join('\n')}\n`;

/** The leaf hash (base64) the log gives the JSON event `line`: of its canonical form. */
export const hashOf = (line: string) => encodeBase64(leafHash(canonicalizeJson(enc(line))));

/** The receipts of a receipts file or of stdout, one JSON line each. */
export const receiptsOf = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { index: number; leaf_hash: string; duplicate: boolean });

/**
 * A process for cairn add whose signals the test sends (`signal`), which
 * counts how often standard input was let go of; `openReceipts` as given
 * (by default none may be opened).
 */
export function fakeAddProcess(openReceipts: AddProcess['openReceipts'] = () => Promise.reject(new Error('no receipts file in these tests'))) {
  const listeners: ((signal: string) => void)[] = [];
  let stdinStops = 0;
  const proc: AddProcess = {
    onStop(listener) {
      listeners.push(listener);
      return () => void listeners.splice(listeners.indexOf(listener), 1);
    },
    exit: () => undefined,
    kill: () => undefined,
    now: () => 0,
    openReceipts,
    stopStdin: () => void stdinStops++,
  };
  return { proc, signal: (name: string) => [...listeners].forEach((l) => l(name)), listening: () => listeners.length > 0, stdinStops: () => stdinStops };
}

/** Paths of new files in the folder `dir()` gives, each numbered apart, and FIFOs made there. */
export function freshFiles(dir: () => string) {
  let fileNumber = 0;
  const freshPath = (name: string) => join(dir(), `${fileNumber++}-${name}`);
  const fifo = (name: string) => {
    const path = freshPath(name);
    execFileSync('mkfifo', [path]);
    return path;
  };
  return { freshPath, fifo };
}
