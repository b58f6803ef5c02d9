/** The benchmark's results: rows of figures (median, min, max of runs), the goals, and their table. */
import { cpus, freemem, release, totalmem, type as osType } from 'node:os';
import { summarize, type Summary } from './stats.js';

export interface Row extends Summary {
  /** Stable key, for the JSON and for the goals. */
  readonly id: string;
  readonly section: string;
  readonly label: string;
  readonly unit: string;
  readonly note?: string;
}

export interface Goal {
  readonly goal: string;
  readonly figure: string;
  readonly met: boolean | undefined;
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly freeMemoryGiB: number;
  readonly os: string;
  readonly node: string;
}

export function describeMachine(): Machine {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
  };
}

/**
 * Collects rows in the order they are measured. A figure is the median of
 * `runs` runs, as the table's header says, unless its row has a note saying
 * what it is instead: a row of any other number of samples without a note
 * is refused, so that no header claims more runs than a figure has.
 */
export class Results {
  readonly rows: Row[] = [];

  constructor(private readonly runs: number) {}

  add(id: string, section: string, label: string, unit: string, runs: readonly number[], note?: string): Row {
    if (runs.length !== this.runs && note === undefined) {
      throw new Error(`bench: row ${id} has ${runs.length} samples, not the ${this.runs} runs the header claims, and no note saying so`);
    }
    const row: Row = { id, section, label, unit, ...summarize(runs), ...(note === undefined ? {} : { note }) };
    this.rows.push(row);
    return row;
  }

  get(id: string): Row | undefined {
    return this.rows.find((r) => r.id === id);
  }
}

function group(n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A figure as printed: rates and counts without decimals, small values with one or two. */
export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (unit === 'ms') return value < 10 ? group(value, 2) : group(value, 1);
  if (unit === 'x') return group(value, 2);
  if (unit === 'B/entry' || unit === 'MB' || unit === 's' || unit === 'µs') return group(value, 1);
  return group(value, 0);
}

/** The one table: a section header, then label, median, min, max and unit per row. */
export function formatTable(rows: readonly Row[]): string {
  const cells = rows.map((r) => [`  ${r.label}`, formatValue(r.median, r.unit), formatValue(r.min, r.unit), formatValue(r.max, r.unit), r.unit, r.note ?? '']);
  const header = ['measurement', 'median', 'min', 'max', 'unit', ''];
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, c) => (c >= 1 && c <= 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  let section = '';
  rows.forEach((r, i) => {
    if (r.section !== section) {
      section = r.section;
      out.push(`${section}:`);
    }
    out.push(line(cells[i]!));
  });
  return out.join('\n');
}

export function formatGoals(goals: readonly Goal[]): string {
  const width = Math.max(...goals.map((g) => g.goal.length));
  return goals.map((g) => `${g.met === undefined ? 'n/a ' : g.met ? 'MET ' : 'MISS'}  ${g.goal.padEnd(width)}  ${g.figure}`).join('\n');
}
