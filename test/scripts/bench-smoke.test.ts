// The benchmark's quick mode, run once as `npm run bench -- --quick` would
// (from the build in dist/): it must finish and produce every figure. No
// timing is asserted: a loaded test machine may be as slow as it likes.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BENCH = new URL('../../dist/scripts/bench.js', import.meta.url).pathname;

interface Row {
  id: string;
  label: string;
  note?: string;
  median: number;
  min: number;
  max: number;
  runs: number[];
}

test('bench --quick produces every figure, as a table and as JSON', async () => {
  expect(existsSync(BENCH)).toBe(true); // npm test builds dist/ before jest runs
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-smoke-'));
  try {
    const out = join(dir, 'quick.json');
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [BENCH, '--quick', '--out', out], { timeout: 170_000, maxBuffer: 16 * 1024 * 1024 }, (err, so, se) =>
        err === null ? resolve(so) : reject(new Error(`bench --quick failed: ${err.message}\n${se}`)),
      );
    });
    const result = JSON.parse(await readFile(out, 'utf8')) as { quick: boolean; runs: number; rows: Row[]; goals: { goal: string; figure: string }[] };
    expect(result.quick).toBe(true);
    const ids = result.rows.map((r) => r.id);
    const sizes = [1000, 10000];
    const expected = [
      'seq.log.b1',
      'seq.log.b256',
      'seq.log.b4096',
      'seq.raw',
      'seq.ratio',
      'seq.one.rate',
      'seq.naive',
      ...[64, 256].flatMap((c) => ['1000', '5000', 'sat'].flatMap((r) => ['eps', 'p50', 'p99'].map((m) => `http.add.c${c}.${r}.${m}`))),
      'http.batch.eps',
      ...sizes.flatMap((n) => [
        `size.${n}.grow`,
        `size.${n}.ready`,
        `size.${n}.http.inclusion`,
        `size.${n}.http.by-hash`,
        `size.${n}.http.consistency`,
        // CPU per answer, split by thread (Linux /proc), for each kind of proof.
        ...['inclusion', 'by-hash', 'consistency'].flatMap((k) => ['loop', 'threads', 'client'].map((part) => `size.${n}.http.${k}.cpu.${part}`)),
        `size.${n}.log.inclusion`,
        `size.${n}.log.by-hash`,
        `size.${n}.log.consistency`,
        `size.${n}.naive.inclusion`,
        `size.${n}.naive.by-hash`,
        `size.${n}.disk`,
        `size.${n}.anon`,
        `size.${n}.rss`,
      ]),
      // The larger size against the smaller, run by run (servers side by side).
      ...['inclusion', 'by-hash', 'consistency'].map((k) => `proofs.ratio.10000.${k}`),
    ];
    for (const id of expected) expect(ids).toContain(id);
    for (const row of result.rows) {
      expect(row.runs.length).toBeGreaterThan(0);
      // CPU is read in whole clock ticks (10 ms): on a loaded machine a quick run's short window may see
      // none go by for a process or thread (the load generator and the server's other threads did).
      const least = row.id.includes('.cpu.') ? 0 : Number.MIN_VALUE;
      for (const v of [row.median, row.min, row.max]) expect({ id: row.id, ok: Number.isFinite(v) && v >= least }).toEqual({ id: row.id, ok: true });
      expect(row.min).toBeLessThanOrEqual(row.median);
      expect(row.median).toBeLessThanOrEqual(row.max);
    }
    // Figures that are several runs are the median of `runs` of them; any
    // other figure says what it is in its note, in the JSON and the table.
    const row = (id: string) => result.rows.find((r) => r.id === id)!;
    expect(row('seq.log.b4096').runs).toHaveLength(result.runs);
    for (const r of result.rows) if (r.runs.length !== result.runs) expect(r.note).toBeDefined();
    expect(row('size.10000.disk').runs).toHaveLength(1);
    expect(row('size.10000.disk').note).toMatch(/one measurement/);
    expect(row('size.10000.grow').note).toMatch(/one run/);
    for (const m of ['anon', 'file', 'rss']) {
      expect(row(`size.10000.${m}`).runs).toHaveLength(3 * result.runs);
      expect(row(`size.10000.${m}`).note).toContain(`median of ${3 * result.runs} proof runs (${result.runs} runs × 3 kinds)`);
    }
    expect(stdout).toMatch(/bytes on disk per entry at 10\^4.*one measurement/);
    expect(stdout).toMatch(/RssAnon\) at 10\^4.*median of \d+ proof runs/);
    // The raw limit says what it overlaps.
    expect(row('seq.raw').label).toMatch(/next round hashed while one syncs/);
    expect(result.goals.length).toBe(9);
    // Each paired ratio is the larger size's rate over the smaller's in the same run.
    for (const kind of ['inclusion', 'by-hash', 'consistency']) {
      const large = result.rows.find((r) => r.id === `size.10000.http.${kind}`)!.runs;
      const small = result.rows.find((r) => r.id === `size.1000.http.${kind}`)!.runs;
      const ratio = result.rows.find((r) => r.id === `proofs.ratio.10000.${kind}`)!.runs;
      expect(ratio).toHaveLength(result.runs);
      ratio.forEach((v, i) => expect(v).toBeCloseTo(large[i]! / small[i]!, 12));
    }
    // The printed table names every section.
    expect(stdout).toMatch(/Durable sequencing in-process/);
    expect(stdout).toMatch(/HTTP writes against cairn serve/);
    expect(stdout).toMatch(/Log of 10\^4 entries/);
    expect(stdout).toMatch(/servers at 10\^3, 10\^4 entries side by side/);
    expect(stdout).toMatch(/Goals:/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 180_000);
