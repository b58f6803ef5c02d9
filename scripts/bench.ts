/**
 * `npm run bench [-- --quick] [-- --runs N] [-- --out FILE]`: Cairn's benchmark
 * suite (issue 5). Measures durable sequencing in-process, HTTP adds and
 * batches, proofs served, memory, disk and restart time against the real
 * `cairn serve` process, next to two baselines measured in the same run (the
 * raw limit of hashing plus synced LevelDB batches, and a naive merkletreejs
 * log). Prints one table (median, min and max of several runs) and writes it
 * as JSON. Load generators run in a process of their own; servers are the
 * benchmark's own, on 127.0.0.1, in a temporary folder deleted at the end.
 */
import { cp, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuPerAnswer, threadCpu, type ThreadCpu } from './bench/cpu.js';
import { BUILD_SEED, ENTRY_SIZE, rootsOfPrefixes } from './bench/entries.js';
import { LoadGenerator } from './bench/load-client.js';
import type { LoadKind, LoadResult, WindowEdge } from './bench/load.js';
import { measured } from './bench/measured.js';
import { describeMachine, formatGoals, formatTable, formatValue, Results, type Goal } from './bench/report.js';
import { httpGet, startBenchServer, type BenchServer } from './bench/server.js';
import { RAW_LIMIT_OVERLAP, type ProofKind } from './bench/sequencing.js';
import { inChild } from './bench/worker.js';

interface Plan {
  readonly quick: boolean;
  readonly runs: number;
  /** Entries per in-process run (per batch size), and for the naive log's appends. */
  readonly seqEntries: number;
  readonly naiveEntries: number;
  readonly oneByOneMs: number;
  readonly httpMs: number;
  readonly httpWarmupMs: number;
  /**
   * /v1/batch clients. In a quick run few, so that a loaded machine still
   * answers some of their 1000-entry batches inside its short window.
   */
  readonly batchClients: number;
  readonly proofMs: number;
  readonly proofWarmupMs: number;
  /** Unmeasured proof load per kind before a size's measured runs (see sizesSection). */
  readonly proofSettleMs: number;
  readonly inProcessProofMs: number;
  /** Log sizes for proofs, restart, memory and disk, ascending. */
  readonly sizes: number[];
  /** Sizes at which the naive log also serves proofs (its whole tree is in memory). */
  readonly naiveSizes: number[];
}

function parsePlan(argv: string[]): { plan: Plan; out: string } {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      out: { type: 'string' },
      sizes: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help === true) {
    process.stdout.write(
      'usage: npm run bench [-- --quick] [-- --runs N] [-- --sizes 1e4,1e6,1e7] [-- --out FILE]\n' +
        '  --quick   small sizes and short runs (under a minute); the figures are not comparable to a full run\n' +
        '  --runs N  runs per figure (default 5, quick 3); each figure is their median with min and max\n' +
        '  --sizes   log sizes for proofs, memory, disk and restart (default 1e4,1e6,1e7; quick 1e3,1e4)\n' +
        '  --out     where to write the JSON (default bench-results.json, quick bench-results-quick.json)\n',
    );
    process.exit(0);
  }
  const quick = values.quick === true;
  const runs = values.runs === undefined ? (quick ? 3 : 5) : Number(values.runs);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new RangeError(`--runs must be a positive integer, got ${values.runs}`);
  const sizes = (values.sizes ?? (quick ? '1e3,1e4' : '1e4,1e6,1e7')).split(',').map((s) => Number(s));
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 2 || n >= 2 ** 32)) throw new RangeError(`--sizes must be integers from 2 to 2^32, got ${values.sizes}`);
  sizes.sort((a, b) => a - b);
  const plan: Plan = quick
    ? { quick, runs, seqEntries: 8192, naiveEntries: 8192, oneByOneMs: 200, httpMs: 300, httpWarmupMs: 100, batchClients: 2, proofMs: 300, proofWarmupMs: 100, proofSettleMs: 100, inProcessProofMs: 100, sizes, naiveSizes: sizes }
    : { quick, runs, seqEntries: 200_000, naiveEntries: 65_536, oneByOneMs: 2000, httpMs: 4000, httpWarmupMs: 1000, batchClients: 16, proofMs: 4000, proofWarmupMs: 1000, proofSettleMs: 7000, inProcessProofMs: 1000, sizes, naiveSizes: sizes.filter((n) => n <= 1_000_000) };
  return { plan, out: values.out ?? (quick ? 'bench-results-quick.json' : 'bench-results.json') };
}

/** 10^k for exact powers of ten, else the number with separators. */
function sizeLabel(n: number): string {
  const k = Math.log10(n);
  return Number.isInteger(k) ? `10^${k}` : n.toLocaleString('en-US');
}

function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir, { recursive: true })) {
    const info = await stat(join(dir, name));
    if (info.isFile()) total += info.blocks * 512;
  }
  return total;
}

/** 1. Durable sequencing in-process, the raw limit and the naive log, interleaved run by run. */
async function sequencingSection(plan: Plan, root: string, results: Results): Promise<void> {
  const section = 'Durable sequencing in-process, no HTTP (100-byte entries, fresh store per run)';
  const batches = [1, 256, 4096];
  const log: Record<number, number[]> = { 1: [], 256: [], 4096: [] };
  const raw: number[] = [];
  const naive: number[] = [];
  const single: { rate: number[]; p50: number[]; p99: number[] } = { rate: [], p50: [], p99: [] };
  // Each measurement in a fresh process, on the same entries (stream `seed`).
  for (let run = 0; run < plan.runs; run++) {
    progress(`sequencing run ${run + 1}/${plan.runs}`);
    const seed = 1000 + run;
    const count = plan.seqEntries;
    for (const batch of batches) {
      const dir = join(root, `seq-${run}-${batch}`);
      log[batch]!.push(await inChild<number>({ kind: 'sequence', dir, seed, count, batch }));
      await rm(dir, { recursive: true, force: true });
    }
    const rawDir = join(root, `raw-${run}`);
    raw.push(await inChild<number>({ kind: 'raw', dir: rawDir, seed, count }));
    await rm(rawDir, { recursive: true, force: true });
    const oneDir = join(root, `one-${run}`);
    const r = await inChild<{ rate: number; p50: number; p99: number }>({ kind: 'one', dir: oneDir, seed, count, ms: plan.oneByOneMs });
    await rm(oneDir, { recursive: true, force: true });
    single.rate.push(r.rate);
    single.p50.push(r.p50);
    single.p99.push(r.p99);
    naive.push(await inChild<number>({ kind: 'naive-append', seed, count: plan.naiveEntries, batch: 4096 }));
  }
  const n = plan.seqEntries.toLocaleString('en-US');
  for (const batch of batches) {
    const parallel = Math.max(1, Math.floor(8192 / batch));
    results.add(`seq.log.b${batch}`, section, `Cairn Log, submissions of ${batch} (${parallel} outstanding), ${n} entries`, 'entries/s', log[batch]!);
  }
  results.add('seq.raw', section, `raw limit: 2 × SHA-256 + 1 synced LevelDB batch per 4096, ${RAW_LIMIT_OVERLAP}, ${n} entries`, 'entries/s', raw);
  const ratio = log[4096]!.map((v, i) => v / raw[i]!);
  results.add('seq.ratio', section, 'Cairn Log (4096) / raw limit, same run', 'x', ratio);
  results.add('seq.one.rate', section, 'Cairn Log, one entry at a time (waits for each receipt)', 'entries/s', single.rate);
  results.add('seq.one.p50', section, '  its time to receipt, p50', 'ms', single.p50);
  results.add('seq.one.p99', section, '  its time to receipt, p99', 'ms', single.p99);
  results.add(
    'seq.naive',
    section,
    `naive merkletreejs log, batches of 4096, 0 to ${plan.naiveEntries.toLocaleString('en-US')} entries`,
    'entries/s',
    naive,
    'in memory only, tree rebuilt per batch',
  );
}

/** 2 and 3. HTTP adds (single entries at fixed rates and at saturation) and /v1/batch. */
async function httpSection(plan: Plan, root: string, results: Results, load: LoadGenerator): Promise<void> {
  const section = 'HTTP writes against cairn serve (load generator in its own process)';
  let next = 0;
  const seed = 2000;
  for (const clients of [64, 256]) {
    const data = join(root, `http-${clients}`);
    const server = await startBenchServer(data);
    try {
      const rates: (number | undefined)[] = [1000, 5000, undefined];
      const figures = new Map<string, { eps: number[]; p50: number[]; p99: number[] }>();
      for (let run = 0; run < plan.runs; run++) {
        progress(`HTTP adds, ${clients} clients, run ${run + 1}/${plan.runs}`);
        for (const rate of rates) {
          const key = rate === undefined ? 'sat' : String(rate);
          const r = await measured(plan, `HTTP adds at ${key}`, plan.httpMs, async (durationMs) => {
            const attempt = await load.run({
              url: server.url,
              kind: 'add',
              connections: clients,
              durationMs,
              warmupMs: plan.httpWarmupMs,
              seed,
              firstIndex: next,
              verifierKey: server.verifierKey,
              verifyEvery: 50,
              ...(rate === undefined ? {} : { rate }),
            });
            next = attempt.nextIndex;
            return attempt;
          });
          const f = figures.get(key) ?? { eps: [], p50: [], p99: [] };
          f.eps.push(r.entriesPerSecond);
          f.p50.push(r.p50Ms);
          f.p99.push(r.p99Ms);
          figures.set(key, f);
        }
      }
      for (const rate of rates) {
        const key = rate === undefined ? 'sat' : String(rate);
        const f = figures.get(key)!;
        const what = rate === undefined ? `${clients} clients, saturation (closed loop)` : `${clients} clients, offered ${rate.toLocaleString('en-US')}/s`;
        results.add(`http.add.c${clients}.${key}.eps`, section, `POST /v1/entries, ${what}`, 'entries/s', f.eps);
        results.add(`http.add.c${clients}.${key}.p50`, section, '  time to receipt, p50', 'ms', f.p50);
        results.add(`http.add.c${clients}.${key}.p99`, section, '  time to receipt, p99', 'ms', f.p99);
      }
      if (clients === 64) {
        const batchSize = 1000;
        const batchClients = plan.batchClients;
        const eps: number[] = [];
        const p99: number[] = [];
        for (let run = 0; run < plan.runs; run++) {
          progress(`HTTP batches, run ${run + 1}/${plan.runs}`);
          const r = await measured(plan, 'HTTP batches', plan.httpMs, async (durationMs) => {
            const attempt = await load.run({
              url: server.url,
              kind: 'batch',
              connections: batchClients,
              durationMs,
              warmupMs: plan.httpWarmupMs,
              seed,
              firstIndex: next,
              batchSize,
              verifierKey: server.verifierKey,
              verifyEvery: 10,
            });
            next = attempt.nextIndex;
            return attempt;
          });
          eps.push(r.entriesPerSecond);
          p99.push(r.p99Ms);
        }
        results.add('http.batch.eps', section, `POST /v1/batch, ${batchSize} entries each, ${batchClients} clients`, 'entries/s', eps);
        results.add('http.batch.p99', section, '  time to all receipts of a batch, p99', 'ms', p99);
      }
    } finally {
      await server.stop();
      await rm(data, { recursive: true, force: true });
    }
  }
}

const PROOF_KINDS: { kind: ProofKind; load: LoadKind; label: string }[] = [
  { kind: 'inclusion', load: 'inclusion', label: 'inclusion by index (get-entry-and-proof)' },
  { kind: 'by-hash', load: 'by-hash', label: 'inclusion by hash (get-proof-by-hash)' },
  { kind: 'consistency', load: 'consistency', label: 'consistency (get-sth-consistency)' },
];

/** A grown log kept for the proof runs: the growing folder itself at the largest size, a copy below it. */
interface GrownLog {
  readonly size: number;
  readonly dir: string;
}

/**
 * 6, and the naive log's proofs. One log grown through the real Log to each
 * size; at each: restart time and the naive log's proofs. Below the largest
 * size the data folder is copied, so that proofsSection can serve every size
 * side by side; returns the logs to serve.
 */
async function sizesSection(plan: Plan, root: string, results: Results): Promise<GrownLog[]> {
  const data = join(root, 'grown');
  const grown: GrownLog[] = [];
  let size = 0;
  for (const target of plan.sizes) {
    const label = sizeLabel(target);
    const section = `Log of ${label} entries (100 bytes each), grown in-process through the real Log`;
    progress(`growing the log to ${label}`);
    const growRate = await inChild<number>({ kind: 'grow', dir: data, seed: BUILD_SEED, from: size, count: target - size });
    size = target;
    results.add(`size.${target}.grow`, section, `Cairn Log, growing to ${label} in submissions of 4096`, 'entries/s', [growRate], 'one run');

    const ready: number[] = [];
    for (let run = 0; run < plan.runs; run++) {
      const server = await startBenchServer(data);
      ready.push(server.readyMs);
      await server.stop();
    }
    results.add(`size.${target}.ready`, section, '`cairn serve` start to first answered request', 'ms', ready);

    if (plan.naiveSizes.includes(target)) {
      progress(`${label}: naive merkletreejs tree`);
      const naive = await inChild<{ buildSeconds: number; inclusion: number[]; 'by-hash': number[] }>({
        kind: 'naive-proofs',
        seed: BUILD_SEED,
        size: target,
        ms: plan.inProcessProofMs,
        runs: plan.runs,
      });
      for (const byHash of [false, true]) {
        results.add(
          `size.${target}.naive.${byHash ? 'by-hash' : 'inclusion'}`,
          section,
          `naive merkletreejs proofs/s, ${byHash ? 'by hash (searches the leaves)' : 'by index'}`,
          'proofs/s',
          naive[byHash ? 'by-hash' : 'inclusion'],
          `in memory; tree built in ${naiveTreeSeconds(naive.buildSeconds)}`,
        );
      }
    }

    if (target === plan.sizes[plan.sizes.length - 1]) {
      grown.push({ size: target, dir: data });
    } else {
      const copy = join(root, `at-${target}`);
      await cp(data, copy, { recursive: true });
      grown.push({ size: target, dir: copy });
    }
  }
  return grown;
}

/**
 * 4 and 5: proofs over HTTP and the server's memory, with one server per
 * size running side by side and measured in turn, run by run (for each run
 * and kind, every size once: ascending in the first run, descending in the
 * second, and so on), so that the comparison between sizes survives the
 * machine's drift like the raw-limit ratio does. Idle servers take no CPU.
 */
async function proofsSection(plan: Plan, grown: readonly GrownLog[], results: Results, load: LoadGenerator): Promise<void> {
  const labels = grown.map((g) => sizeLabel(g.size)).join(', ');
  const section = `Proofs over HTTP, 64 clients: servers at ${labels} entries side by side, measured in turn run by run`;
  const servers: { log: GrownLog; server: BenchServer; rootHash: string }[] = [];
  // Every verified proof leads to the server's signed root: that root is
  // first checked against the entries the log was given, computed apart.
  progress(`computing the roots of ${labels} entries from the entries themselves`);
  const expected = rootsOfPrefixes(BUILD_SEED, grown.map((g) => g.size));
  try {
    for (const log of grown) {
      const served = { log, server: await startBenchServer(log.dir), rootHash: '' };
      servers.push(served);
      const sth = JSON.parse((await httpGet(`${served.server.url}/ct/v1/get-sth`)).body) as { tree_size: number; sha256_root_hash: string };
      if (sth.tree_size !== log.size) throw new Error(`the server reports tree size ${sth.tree_size}, not ${log.size}`);
      if (sth.sha256_root_hash !== expected.get(log.size)!.toString('base64')) {
        throw new Error(`the server's root at tree size ${log.size} (${sth.sha256_root_hash}) is not the RFC 6962 root of the entries it was given`);
      }
      served.rootHash = sth.sha256_root_hash;
    }
    type Served = (typeof servers)[number];
    /**
     * One run of proofs of `kind` against one server, every answer checked;
     * `onAttempt` is called as each attempt starts (a quick run's silent
     * window is run again, longer: see measured).
     */
    const proofs = async (
      s: Served,
      proof: (typeof PROOF_KINDS)[number],
      durationMs: number,
      warmupMs: number,
      onWindow?: (edge: WindowEdge) => void,
      onAttempt?: () => void,
    ): Promise<LoadResult> =>
      measured(plan, `${proof.kind} proofs at ${sizeLabel(s.log.size)}`, durationMs, (window) => {
        onAttempt?.();
        return load.run(
          {
            url: s.server.url,
            kind: proof.load,
            connections: 64,
            durationMs: window,
            warmupMs,
            seed: BUILD_SEED,
            treeSize: s.log.size,
            rootHash: s.rootHash,
            verifyEvery: 100,
          },
          onWindow,
        );
      });
    // Settle first, unmeasured, the largest log last: right after a log was
    // grown LevelDB is still compacting what it just wrote (for about 6 s at
    // 10^7), the server fills its leaf filter (about 1 s) and maps the new
    // tables, and the first runs would measure that transient rather than
    // the serving log: at 10^7, 3-s runs rose from 6,700 to 17,000 proofs/s
    // over the first 15 s and then stayed there.
    for (const s of servers) {
      progress(`${sizeLabel(s.log.size)}: settling (${(3 * plan.proofSettleMs) / 1000} s of proofs, not measured)`);
      for (const proof of PROOF_KINDS) await proofs(s, proof, plan.proofSettleMs, 0);
    }
    const rate = new Map<string, number[]>();
    const p99 = new Map<string, number[]>();
    // CPU per answer in the measured window: the server's event loop, its
    // other threads (LevelDB's reads), and the load generator.
    const cpu = new Map<string, { main: number[]; others: number[]; client: number[] }>();
    const memory = new Map<number, { rss: number[]; anon: number[]; file: number[] }>(grown.map((g) => [g.size, { rss: [], anon: [], file: [] }]));
    const push = (map: Map<string, number[]>, key: string, value: number) => map.set(key, [...(map.get(key) ?? []), value]);
    for (let run = 0; run < plan.runs; run++) {
      const order = run % 2 === 0 ? servers : [...servers].reverse();
      for (const proof of PROOF_KINDS) {
        for (const s of order) {
          progress(`${sizeLabel(s.log.size)}: ${proof.kind} proofs over HTTP, run ${run + 1}/${plan.runs}`);
          const sampling = s.server.sample();
          // Read as the load generator opens and closes its measured window.
          const readings: { server?: ThreadCpu; client?: ThreadCpu }[] = [];
          const read = () => readings.push({ server: threadCpu(s.server.pid), client: load.pid === undefined ? undefined : threadCpu(load.pid) });
          // Only the last attempt's readings (a quick run may have run it again, longer), however many an
          // attempt took: one that ends before its window opens reads no start.
          const r = await proofs(s, proof, plan.proofMs, plan.proofWarmupMs, read, () => (readings.length = 0));
          const key = `${s.log.size}.${proof.kind}`;
          push(rate, key, r.requestsPerSecond);
          push(p99, key, r.p99Ms);
          const [opened, closed] = readings;
          const server = cpuPerAnswer(opened?.server, closed?.server, r.requests);
          const client = cpuPerAnswer(opened?.client, closed?.client, r.requests);
          if (server !== undefined && client !== undefined) {
            const c = cpu.get(key) ?? { main: [], others: [], client: [] };
            c.main.push(server.main);
            c.others.push(server.others);
            c.client.push(client.all);
            cpu.set(key, c);
          }
          const mem = sampling();
          const m = memory.get(s.log.size)!;
          if (mem !== undefined) {
            m.rss.push(mem.rss / 1e6);
            m.anon.push(mem.anon / 1e6);
            m.file.push(mem.file / 1e6);
          }
        }
      }
    }
    const small = grown[0]!.size;
    for (const proof of PROOF_KINDS) {
      for (const { size } of grown) {
        const key = `${size}.${proof.kind}`;
        results.add(`size.${size}.http.${proof.kind}`, section, `${proof.label} at ${sizeLabel(size)}`, 'proofs/s', rate.get(key)!);
        results.add(`size.${size}.http.${proof.kind}.p99`, section, '  latency p99', 'ms', p99.get(key)!);
        const c = cpu.get(key);
        if (c !== undefined) {
          // A run whose process could not be read (/proc) has no CPU figure.
          const short = c.main.length === plan.runs ? undefined : `${c.main.length} of ${plan.runs} runs`;
          results.add(`size.${size}.http.${proof.kind}.cpu.loop`, section, '  CPU per answer: server event loop', 'µs', c.main, short);
          results.add(`size.${size}.http.${proof.kind}.cpu.threads`, section, '  CPU per answer: server other threads (LevelDB)', 'µs', c.others, short);
          results.add(`size.${size}.http.${proof.kind}.cpu.client`, section, '  CPU per answer: load generator', 'µs', c.client, short);
        }
      }
      for (const { size } of grown.slice(1)) {
        const paired = rate.get(`${size}.${proof.kind}`)!.map((v, i) => v / rate.get(`${small}.${proof.kind}`)![i]!);
        results.add(`proofs.ratio.${size}.${proof.kind}`, section, `  ${sizeLabel(size)} / ${sizeLabel(small)}, same run`, 'x', paired);
      }
    }
    const each = 'largest sample of each proof run';
    for (const { size } of grown) {
      const m = memory.get(size)!;
      if (m.rss.length === 0) continue;
      const at = sizeLabel(size);
      // One sample per proof run: the runs times the kinds of proof, not the runs.
      const of = `median of ${m.rss.length} proof runs (${plan.runs} runs × ${PROOF_KINDS.length} kinds)`;
      results.add(`size.${size}.anon`, section, `server private memory (RssAnon) at ${at}, ${each}`, 'MB', m.anon, of);
      results.add(`size.${size}.file`, section, `server mapped-file pages (RssFile: LevelDB's tables) at ${at}, ${each}`, 'MB', m.file, `${of}; page cache`);
      results.add(`size.${size}.rss`, section, `server RSS (VmRSS = RssAnon + RssFile) at ${at}, ${each}`, 'MB', m.rss, of);
    }
  } finally {
    for (const s of servers) await s.server.stop();
  }
}

/**
 * 4 through the Log API, no HTTP: after proofsSection, so that LevelDB has
 * finished compacting what growing the log wrote (measured straight after
 * growing, 10^7 gave 4,600 - 38,000 proofs/s by index in one run).
 */
async function inProcessSection(plan: Plan, grown: readonly GrownLog[], results: Results): Promise<void> {
  const section = 'Proofs through the Log API in-process (no HTTP), 16 callers';
  const measured: { size: number; rates: Record<ProofKind, number[]> }[] = [];
  for (const { size, dir } of grown) {
    progress(`${sizeLabel(size)}: proofs through the Log API`);
    measured.push({ size, rates: await inChild<Record<ProofKind, number[]>>({ kind: 'log-proofs', dir, seed: BUILD_SEED, ms: plan.inProcessProofMs, runs: plan.runs }) });
  }
  for (const proof of PROOF_KINDS) {
    for (const { size, rates } of measured) results.add(`size.${size}.log.${proof.kind}`, section, `${proof.kind} at ${sizeLabel(size)}`, 'proofs/s', rates[proof.kind]);
  }
}

/**
 * 5, disk: each data folder's size once it has been served, when LevelDB has
 * compacted what growing wrote (measured straight after growing, 10^6 was
 * 204.7 bytes per entry, and 194.6 after compaction).
 */
async function diskSection(grown: readonly GrownLog[], results: Results): Promise<void> {
  const section = 'Disk, once served (LevelDB has compacted what growing wrote)';
  for (const { size, dir } of grown) {
    const bytes = (await diskBytes(dir)) / size;
    results.add(`size.${size}.disk`, section, `bytes on disk per entry at ${sizeLabel(size)} (entry is ${ENTRY_SIZE} bytes)`, 'B/entry', [bytes], 'one measurement; whole data folder');
  }
}

function naiveTreeSeconds(s: number): string {
  return `${formatValue(s, 's')} s`;
}

function evaluateGoals(plan: Plan, results: Results): Goal[] {
  const fig = (id: string) => results.get(id)?.median;
  const goals: Goal[] = [];
  const fmt = (v: number | undefined, unit: string) => (v === undefined ? 'n/a' : `${formatValue(v, unit)} ${unit}`);
  const batched = fig('seq.log.b4096');
  goals.push({ goal: '>= 100,000 entries/s durable, batched (in-process, 4096)', figure: fmt(batched, 'entries/s'), met: batched === undefined ? undefined : batched >= 100_000 });
  const ratio = fig('seq.ratio');
  goals.push({ goal: '>= 0.5 of the raw limit', figure: fmt(ratio, 'x'), met: ratio === undefined ? undefined : ratio >= 0.5 });
  const sat = Math.max(fig('http.add.c64.sat.eps') ?? Number.NaN, fig('http.add.c256.sat.eps') ?? Number.NaN);
  goals.push({ goal: '>= 15,000 entries/s, single-entry HTTP adds (best of 64/256 clients)', figure: fmt(sat, 'entries/s'), met: Number.isNaN(sat) ? undefined : sat >= 15_000 });
  const p99 = Math.max(fig('http.add.c64.5000.p99') ?? Number.NaN, fig('http.add.c256.5000.p99') ?? Number.NaN);
  goals.push({ goal: 'p99 time to receipt <= 25 ms at 5,000/s offered (64 and 256 clients)', figure: fmt(p99, 'ms'), met: Number.isNaN(p99) ? undefined : p99 <= 25 });
  const small = plan.sizes[0]!;
  const large = plan.sizes[plan.sizes.length - 1]!;
  const proofRates = plan.sizes.flatMap((n) => PROOF_KINDS.map((k) => fig(`size.${n}.http.${k.kind}`) ?? Number.NaN));
  const slowest = Math.min(...proofRates);
  goals.push({ goal: `>= 20,000 proofs/s over HTTP (slowest kind and size)`, figure: fmt(slowest, 'proofs/s'), met: Number.isNaN(slowest) ? undefined : slowest >= 20_000 });
  // Each run's ratio of the sizes, measured side by side (proofsSection), like seq.ratio.
  const drift = Math.max(...PROOF_KINDS.map((k) => Math.abs((fig(`proofs.ratio.${large}.${k.kind}`) ?? Number.NaN) - 1)));
  goals.push({
    goal: `proofs/s within 20% at ${sizeLabel(small)} and ${sizeLabel(large)} (worst kind; median of the runs' ratios)`,
    figure: Number.isNaN(drift) ? 'n/a' : `${formatValue(drift * 100, 'x')} % apart`,
    met: Number.isNaN(drift) ? undefined : drift <= 0.2,
  });
  const anonMax = results.get(`size.${large}.anon`)?.max;
  const rssMax = results.get(`size.${large}.rss`)?.max;
  goals.push({
    goal: `server RSS <= 200 MB at ${sizeLabel(large)} (private memory, RssAnon; largest sample)`,
    figure: `${fmt(anonMax, 'MB')} (VmRSS with LevelDB's mapped tables: ${fmt(rssMax, 'MB')})`,
    met: anonMax === undefined ? undefined : anonMax <= 200,
  });
  const ready = fig(`size.${large}.ready`);
  goals.push({ goal: `ready to serve within 1 s at ${sizeLabel(large)}`, figure: fmt(ready, 'ms'), met: ready === undefined ? undefined : ready <= 1000 });
  const disk = Math.max(...plan.sizes.filter((n) => n >= 1_000_000 || plan.quick).map((n) => fig(`size.${n}.disk`) ?? Number.NaN));
  goals.push({
    goal: `disk <= entry size + 100 bytes per entry (${ENTRY_SIZE + 100} B/entry)`,
    figure: fmt(disk, 'B/entry'),
    met: Number.isNaN(disk) ? undefined : disk <= ENTRY_SIZE + 100,
  });
  return goals;
}

async function main(): Promise<void> {
  let parsed: { plan: Plan; out: string };
  try {
    parsed = parsePlan(process.argv.slice(2));
  } catch (err) {
    // A mistyped option or value is the caller's to fix: what was wrong and where the usage is, no stack.
    process.stderr.write(`npm run bench: ${(err as Error).message} (see npm run bench -- --help)\n`);
    process.exit(2);
  }
  const { plan, out } = parsed;
  const started = Date.now();
  const machine = describeMachine();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  progress(`${plan.quick ? 'quick' : 'full'} run, ${plan.runs} runs per figure, on ${machine.cores} x ${machine.cpu}`);
  const root = await mkdtemp(join(tmpdir(), 'cairn-bench-'));
  const results = new Results(plan.runs);
  let load: LoadGenerator | undefined;
  const cleanup = () => rm(root, { recursive: true, force: true });
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  try {
    await sequencingSection(plan, root, results);
    load = await LoadGenerator.start();
    await httpSection(plan, root, results, load);
    const grown = await sizesSection(plan, root, results);
    await proofsSection(plan, grown, results, load);
    await inProcessSection(plan, grown, results);
    await diskSection(grown, results);
  } finally {
    await load?.stop();
    await cleanup();
  }
  const goals = evaluateGoals(plan, results);
  const seconds = (Date.now() - started) / 1000;
  const header = [
    `Cairn benchmark (${plan.quick ? 'quick: small sizes, short runs' : 'full'}), ${new Date(started).toISOString()}, ${Math.round(seconds)} s`,
    `machine: ${machine.cores} x ${machine.cpu}, ${machine.memoryGiB} GiB RAM, ${machine.os}, Node ${machine.node}`,
    `command: ${command}; each figure: median, min and max of ${plan.runs} runs unless its note (last column) says otherwise`,
  ];
  process.stdout.write(`${header.join('\n')}\n\n${formatTable(results.rows)}\n\nGoals:\n${formatGoals(goals)}\n`);
  const json = { command, quick: plan.quick, runs: plan.runs, startedAt: new Date(started).toISOString(), seconds, machine, plan, rows: results.rows, goals };
  await writeFile(out, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`\nwritten to ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
