/**
 * One in-process measurement in a fresh process of its own (forked by the
 * benchmark): "in-process" means without HTTP, not inside the benchmark's
 * own process, whose heap by then holds whatever earlier measurements left
 * (a naive tree of 10^6 leaves, say) and would tax the next one.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Log } from '../../src/log/log.js';
import { entryRange } from './entries.js';
import {
  grow,
  logProofRate,
  naiveAppends,
  naiveProofRate,
  naiveTree,
  openDataFolder,
  rawLimit,
  sequence,
  sequenceOneByOne,
  type ProofKind,
} from './sequencing.js';

export type Task =
  | { kind: 'sequence'; dir: string; seed: number; count: number; batch: number }
  | { kind: 'raw'; dir: string; seed: number; count: number }
  | { kind: 'one'; dir: string; seed: number; count: number; ms: number }
  | { kind: 'naive-append'; seed: number; count: number; batch: number }
  | { kind: 'grow'; dir: string; seed: number; from: number; count: number }
  | { kind: 'log-proofs'; dir: string; seed: number; ms: number; runs: number }
  | { kind: 'naive-proofs'; seed: number; size: number; ms: number; runs: number };

const PROOF_KINDS: ProofKind[] = ['inclusion', 'by-hash', 'consistency'];

/** Opens the log in `dir`, hands it to `use`, and closes it however `use` ends. */
async function withLog<T>(dir: string, use: (log: Log) => Promise<T>): Promise<T> {
  const log = await openDataFolder(dir);
  try {
    return await use(log);
  } finally {
    await log.close();
  }
}

async function perform(task: Task): Promise<unknown> {
  switch (task.kind) {
    case 'sequence': {
      const entries = entryRange(task.seed, 0, task.count);
      return withLog(task.dir, (log) => sequence(log, entries, task.batch));
    }
    case 'raw':
      return rawLimit(task.dir, entryRange(task.seed, 0, task.count));
    case 'one': {
      const entries = entryRange(task.seed, 0, task.count);
      return withLog(task.dir, (log) => sequenceOneByOne(log, entries, task.ms));
    }
    case 'naive-append':
      return naiveAppends(entryRange(task.seed, 0, task.count), task.batch).rate;
    case 'grow':
      return withLog(task.dir, (log) => {
        if (log.latest().treeSize !== task.from) throw new Error(`the log holds ${log.latest().treeSize} entries, not ${task.from}`);
        return grow(log, task.seed, task.from, task.count);
      });
    case 'log-proofs':
      return withLog(task.dir, async (log) => {
        // Unmeasured proofs of each kind first, twice a run's length: a fresh
        // process maps the store's table pages as proofs first touch them (at
        // 10^7 the first two 1-s runs by index read 9,278 and 13,627 proofs/s,
        // the next three 37,614 - 48,191).
        for (const kind of PROOF_KINDS) await logProofRate(log, task.seed, kind, 2 * task.ms);
        const out: Record<string, number[]> = {};
        for (const kind of PROOF_KINDS) {
          out[kind] = [];
          for (let run = 0; run < task.runs; run++) out[kind].push(await logProofRate(log, task.seed, kind, task.ms));
        }
        return out;
      });
    case 'naive-proofs': {
      const naive = naiveTree(task.seed, task.size);
      const out: Record<string, number[] | number> = { buildSeconds: naive.buildSeconds, inclusion: [], 'by-hash': [] };
      for (const byHash of [false, true]) {
        const rates: number[] = [];
        for (let run = 0; run < task.runs; run++) rates.push(naiveProofRate(naive, byHash, task.ms));
        out[byHash ? 'by-hash' : 'inclusion'] = rates;
      }
      return out;
    }
  }
}

const SELF = fileURLToPath(import.meta.url);

/** Runs `task` in a new process and returns its result. */
export function inChild<T>(task: Task): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(SELF, ['--bench-worker', JSON.stringify(task)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let answered = false;
    child.once('message', (message: { result?: T; error?: string }) => {
      answered = true;
      if (message.error !== undefined) reject(new Error(`bench worker (${task.kind}): ${message.error}`));
      else resolve(message.result as T);
    });
    child.once('exit', (code) => {
      if (!answered) reject(new Error(`bench worker (${task.kind}) exited (${code}) without an answer`));
    });
  });
}

if (process.send !== undefined && process.argv[2] === '--bench-worker') {
  const task = JSON.parse(process.argv[3]!) as Task;
  perform(task).then(
    (result) => process.send!({ result }, () => process.exit(0)),
    (err: unknown) => process.send!({ error: String((err as Error)?.stack ?? err) }, () => process.exit(1)),
  );
}
