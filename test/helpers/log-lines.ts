// A logger whose lines a test reads, and a clock with timers that a test moves by hand: for the
// server's rate-limited log lines (round failures, dropped connections).
import type { Logger } from '../../src/log/logger.js';

export interface Line {
  level: 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps its lines. */
export function capture(): { lines: Line[]; logger: Logger } {
  const lines: Line[] = [];
  const add = (level: Line['level']) => (msg: string, fields: Record<string, unknown> = {}) => lines.push({ level, msg, fields });
  return { lines, logger: { info: add('info'), warn: add('warn'), error: add('error') } };
}

/** A clock moved by hand, and a timer that runs only when the clock reaches it. */
export function manualTime() {
  let now = 1_000_000;
  const timers: { at: number; run: () => void; cancelled: boolean }[] = [];
  return {
    now: () => now,
    schedule: (run: () => void, ms: number) => {
      const timer = { at: now + ms, run, cancelled: false };
      timers.push(timer);
      return () => void (timer.cancelled = true);
    },
    /** Moves the clock by `ms` and runs the timers due by then. */
    advance(ms: number) {
      now += ms;
      for (const t of timers.splice(0)) {
        if (t.cancelled) continue;
        if (t.at <= now) t.run();
        else timers.push(t);
      }
    },
    pending: () => timers.filter((t) => !t.cancelled).length,
  };
}
