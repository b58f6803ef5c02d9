/**
 * Crash test (issue 6 "Crashes"): starts the real `cairn serve` on
 * 127.0.0.1, drives concurrent submitters that record every receipt they
 * get, kills the server with SIGKILL at random moments (under load, or while
 * it is still starting), restarts it on the same data folder, and checks
 * from the outside that
 *   - every recorded receipt's entry is at its index, proven against the
 *     newest checkpoint (get-entry-and-proof);
 *   - every checkpoint ever observed is consistent with the newest, and the
 *     log never went back to a smaller size;
 *   - the server never signed two roots for one size.
 * It prints `N cycles, R receipts, L lost` and exits non-zero on any loss
 * or problem. Every loop is bounded; it stops by itself.
 *
 * usage: npm run crash-test -- [--cycles N] [--seed S] [--submitters K] [--keep]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeBase64 } from '../src/note/base64.js';
import { newVerifier } from '../src/note/keys.js';
import { fetchWithin, LogChecker, type RecordedReceipt } from './reliability/check.js';
import { defaultCli, runIfMain, spawnServer, wholeNumberOption } from './reliability/server.js';

export interface CrashTestOptions {
  readonly cycles: number;
  readonly seed: number;
  /** Concurrent submitters per cycle. */
  readonly submitters: number;
  /** Load time before a kill is drawn from [minLoadMs, maxLoadMs]. */
  readonly minLoadMs: number;
  readonly maxLoadMs: number;
  /**
   * A cycle under load is not killed before this many receipts have come
   * back in it (waiting at most 30 s longer), so that a slow machine still
   * kills servers that answered writes.
   */
  readonly minReceipts: number;
  /** Share of cycles killed while the server is starting rather than under load. */
  readonly startupKillShare: number;
  /** The compiled CLI (dist/src/cli/main.js). */
  readonly cli: string;
  /** Keep the data folder afterwards (its path is printed). */
  readonly keep: boolean;
  readonly print: (line: string) => void;
}

export interface CrashTestResult {
  readonly cycles: number;
  readonly receipts: number;
  readonly lost: number;
  readonly treeSize: number;
  readonly checkpointsObserved: number;
  readonly problems: readonly string[];
}

export const DEFAULT_CRASH_OPTIONS: CrashTestOptions = {
  cycles: 50,
  seed: Date.now() % 2 ** 31,
  submitters: 8,
  minLoadMs: 100,
  maxLoadMs: 1500,
  minReceipts: 0,
  startupKillShare: 0.15,
  cli: defaultCli(),
  keep: false,
  print: (line) => process.stdout.write(`${line}\n`),
};

/** A small seeded PRNG (mulberry32), so that a failing run can be replayed with --seed. */
function prng(seed: number): () => number {
  let a = seed % 2 ** 32;
  return () => {
    // Bitwise operations on the 32-bit PRNG state only, never on an index or size.
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const enc = (s: string) => new TextEncoder().encode(s);
const octets = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

/** A receipt as answered; checked field by field by LogChecker.recordReceipt. */
interface ReceiptBody {
  checkpoint: string;
  index?: unknown;
  leaf_hash?: unknown;
  inclusion_proof?: unknown;
  duplicate?: unknown;
}

interface Load {
  stop(): void;
  readonly done: Promise<void>;
}

/** Submitters and a checkpoint poller against `url`, until stopped. Every answered receipt is verified and recorded. */
function startLoad(url: string, checker: LogChecker, random: () => number, tag: string, submitters: number): Load {
  let stopped = false;
  let counter = 0;
  const answered: RecordedReceipt[] = checker.receipts;
  const submitter = async (k: number) => {
    while (!stopped) {
      try {
        const roll = random();
        if (roll < 0.1 && answered.length > 0) {
          // Resubmit an entry answered earlier (maybe before a crash): it must keep its index.
          const old = answered[Math.floor(random() * answered.length)]!;
          const res = await fetchWithin(`${url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: octets(old.entry) }, 10_000);
          if (res.status === 200 || res.status === 201) {
            const body = (await res.json()) as ReceiptBody;
            if (checker.recordReceipt(old.entry, body, body.checkpoint, 'a resubmission') && (body.index !== old.index || !body.duplicate)) {
              checker.problems.push(`entry at index ${old.index} resubmitted got index ${String(body.index)}, duplicate ${String(body.duplicate)}`);
            }
          } else await res.arrayBuffer();
        } else if (roll < 0.7) {
          const entry = enc(`${tag} s${k} n${counter++} ${random().toString(36).slice(2)}`);
          const res = await fetchWithin(`${url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: octets(entry) }, 10_000);
          if (res.status === 201 || res.status === 200) {
            const body = (await res.json()) as ReceiptBody;
            checker.recordReceipt(entry, body, body.checkpoint, 'POST /v1/entries');
          } else await res.arrayBuffer();
        } else {
          const n = 1 + Math.floor(random() * 60);
          const entries = Array.from({ length: n }, (_, i) => enc(`${tag} s${k} b${counter} i${i} ${random().toString(36).slice(2)}`));
          counter++;
          const res = await fetchWithin(
            `${url}/v1/batch`,
            { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ entries: entries.map(encodeBase64) }) },
            10_000,
          );
          if (res.status === 200) {
            const body = (await res.json()) as { checkpoint: string; receipts: ReceiptBody[] };
            if (body.receipts.length !== n) checker.problems.push(`a batch of ${n} got ${body.receipts.length} receipts`);
            body.receipts.forEach((r, i) => checker.recordReceipt(entries[i]!, r, body.checkpoint, 'POST /v1/batch'));
          } else await res.arrayBuffer();
        }
      } catch {
        // The server was killed under us (or refused the connection): no receipt, nothing to check.
        if (!stopped) await sleep(5 + random() * 20);
      }
    }
  };
  const poller = async () => {
    while (!stopped) {
      try {
        const res = await fetchWithin(`${url}/checkpoint`, {}, 5000);
        if (res.status === 200) checker.observeCheckpoint(await res.text(), 'GET /checkpoint');
      } catch {
        // killed
      }
      await sleep(20);
    }
  };
  const done = Promise.all([...Array.from({ length: submitters }, (_, k) => submitter(k)), poller()]).then(() => undefined);
  return {
    stop: () => {
      stopped = true;
    },
    done,
  };
}

/** Runs the crash test; resolves with its figures (it never throws for a loss: that is in the result). */
export async function runCrashTest(overrides: Partial<CrashTestOptions> = {}): Promise<CrashTestResult> {
  const o: CrashTestOptions = { ...DEFAULT_CRASH_OPTIONS, ...overrides };
  if (!Number.isSafeInteger(o.cycles) || o.cycles < 1 || o.cycles > 100_000) throw new RangeError('cycles must be 1..100000');
  const random = prng(o.seed);
  const data = await mkdtemp(join(tmpdir(), 'cairn-crash-'));
  o.print(`crash test: ${o.cycles} cycles, seed ${o.seed}, ${o.submitters} submitters, data in ${data}`);
  let checker: LogChecker | undefined;
  let lost = 0;
  let treeSize = 0;
  const started = Date.now();
  try {
    let checkedSizes = new Set<number>();
    let checkedReceipts = 0;
    for (let cycle = 1; cycle <= o.cycles; cycle++) {
      // Start, load, kill.
      const server = spawnServer(o.cli, data, ['--origin', 'crash-test.example/log']);
      let how: string;
      if (cycle > 1 && random() < o.startupKillShare) {
        const after = Math.floor(random() * 400);
        await Promise.race([sleep(after), server.exited]);
        how = `during start-up (${after} ms)`;
      } else {
        const url = await server.listening;
        const key = server.verifierKey();
        if (key === undefined) throw new Error('the server printed no verifier key');
        checker ??= new LogChecker(newVerifier(key));
        const receiptsBefore = checker.receipts.length;
        const load = startLoad(url, checker, random, `c${cycle}`, o.submitters);
        const after = Math.floor(o.minLoadMs + random() * (o.maxLoadMs - o.minLoadMs));
        await sleep(after);
        for (let waited = 0; checker.receipts.length - receiptsBefore < o.minReceipts && waited < 30_000; waited += 10) await sleep(10);
        how = `under load (${after} ms)`;
        await server.stop('SIGKILL');
        load.stop();
        await load.done;
      }
      await server.stop('SIGKILL');

      // Restart on the same folder and check everything observed so far.
      const again = spawnServer(o.cli, data);
      try {
        const url = await again.listening;
        checker ??= new LogChecker(newVerifier(again.verifierKey()!));
        const newest = await checker.newest(url);
        treeSize = newest.treeSize;
        if (newest.treeSize < checker.largest) {
          checker.problems.push(`after restart the tree has size ${newest.treeSize}, but size ${checker.largest} was served before`);
        }
        const fresh = checker.receipts.slice(checkedReceipts);
        checkedReceipts = checker.receipts.length;
        const lostNow = await checker.checkReceipts(url, newest, fresh);
        lost += lostNow;
        const sizes = [...checker.roots.keys()].filter((s) => !checkedSizes.has(s));
        await checker.checkConsistency(url, newest, sizes);
        checkedSizes = new Set([...checkedSizes, ...sizes]);
        o.print(
          `cycle ${cycle}/${o.cycles}: killed ${how}; tree size ${newest.treeSize}, +${fresh.length} receipts (${checker.receipts.length} in all), ${lostNow} lost, ${checker.problems.length} problems`,
        );

        if (cycle === o.cycles) {
          // Last: every receipt and every checkpoint ever seen, against the final tree, and the whole tree rebuilt.
          o.print(`final check: ${checker.receipts.length} receipts and ${checker.roots.size} observed tree sizes against size ${newest.treeSize}`);
          lost += await checker.checkReceipts(url, newest, checker.receipts.slice(0, checkedReceipts - fresh.length), 32);
          await checker.checkConsistency(url, newest, [...checker.roots.keys()], 32);
          await checker.checkWholeTree(url, newest);
        }
      } finally {
        await again.stop('SIGTERM');
      }
    }
  } finally {
    if (o.keep) o.print(`data kept in ${data}`);
    else await rm(data, { recursive: true, force: true });
  }
  const result: CrashTestResult = {
    cycles: o.cycles,
    receipts: checker?.receipts.length ?? 0,
    lost,
    treeSize,
    checkpointsObserved: checker?.roots.size ?? 0,
    problems: checker?.problems ?? [],
  };
  for (const p of result.problems.slice(0, 20)) o.print(`PROBLEM: ${p}`);
  o.print(`(${((Date.now() - started) / 1000).toFixed(1)} s, final tree size ${treeSize}, ${result.checkpointsObserved} distinct tree sizes observed)`);
  o.print(`${result.cycles} cycles, ${result.receipts} receipts, ${result.lost} lost`);
  return result;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string' },
      seed: { type: 'string' },
      submitters: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write('usage: npm run crash-test -- [--cycles N (50)] [--seed S] [--submitters K (8)] [--keep]\n');
    return 0;
  }
  const int = wholeNumberOption;
  const result = await runCrashTest({
    cycles: int(values.cycles, 'cycles', DEFAULT_CRASH_OPTIONS.cycles),
    seed: int(values.seed, 'seed', DEFAULT_CRASH_OPTIONS.seed),
    submitters: Math.max(1, int(values.submitters, 'submitters', DEFAULT_CRASH_OPTIONS.submitters)),
    keep: values.keep === true,
  });
  return result.lost === 0 && result.problems.length === 0 && result.receipts > 0 ? 0 : 1;
}

runIfMain(import.meta.url, 'crash-test', main);
