/**
 * CPU time of a process's threads, from Linux /proc: how the server's work
 * per answer splits between its event loop (the main thread) and the rest
 * (LevelDB's reads and compactions, libuv's pool, V8's helpers), and what
 * the load generator spends per answer on the same two vCPUs.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Seconds of CPU (user + system) used so far by a process's main thread and by all its other threads together. */
export interface ThreadCpu {
  readonly main: number;
  readonly others: number;
}

let ticksPerSecond: number | undefined;

/** The kernel's clock ticks per second (`getconf CLK_TCK`), in which /proc counts CPU time. */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch {
      ticksPerSecond = Number.NaN;
    }
    if (!Number.isFinite(ticksPerSecond) || ticksPerSecond <= 0) ticksPerSecond = 100; // Linux's USER_HZ everywhere in practice
  }
  return ticksPerSecond;
}

/**
 * utime + stime of one /proc/<pid>/stat (or task/<tid>/stat) line, in clock
 * ticks: fields 14 and 15 of proc(5), counted from the last ')' because the
 * name before it may hold spaces and parentheses. NaN for a line without them.
 */
export function statTicks(line: string): number {
  const end = line.lastIndexOf(')');
  if (end < 0) return Number.NaN;
  const fields = line.slice(end + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * The CPU time of `pid`'s threads so far, or undefined where /proc is not
 * there (not Linux) or the process is gone. A thread that ends between the
 * listing and its reading is left out.
 */
export function threadCpu(pid: number): ThreadCpu | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let main = 0;
  let others = 0;
  for (const tid of tids) {
    let ticks: number;
    try {
      ticks = statTicks(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
    } catch {
      continue;
    }
    if (!Number.isFinite(ticks)) continue;
    if (tid === String(pid)) main += ticks;
    else others += ticks;
  }
  const hz = clockTicks();
  return { main: main / hz, others: others / hz };
}

/** µs of CPU per answer between two readings, for the main thread, the other threads and both; undefined without both readings or answers. */
export function cpuPerAnswer(before: ThreadCpu | undefined, after: ThreadCpu | undefined, answers: number): { main: number; others: number; all: number } | undefined {
  if (before === undefined || after === undefined || !(answers > 0)) return undefined;
  const main = ((after.main - before.main) * 1e6) / answers;
  const others = ((after.others - before.others) * 1e6) / answers;
  return { main, others, all: main + others };
}
