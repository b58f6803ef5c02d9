import { constants as osConstants } from 'node:os';

/**
 * How long after the first stop signal (SIGINT, SIGTERM, or the SIGHUP serve and add hear)
 * another one is the same stop request rather than a second one, in ms.
 * One Ctrl-C often reaches a command twice within milliseconds: the terminal
 * sends SIGINT to the whole process group, and `npm start` (or `npm run`) or coreutils
 * `timeout` (SIGTERM to its child, then to its process group) pass it on to
 * the command as well. Those copies come late only by as much as the process
 * passing them on is slow to run (npm is a node process of its own, and the
 * host may be loaded); 1 s leaves room for that many times over, and is
 * still shorter than a person takes to read that the command is stopping and
 * decide to end it at once.
 */
export const REPEAT_SIGNAL_MS = 1000;

/**
 * What one stop signal is: `first` asks the command to stop cleanly;
 * `repeat` comes less than the window after the first, the same request
 * passed on again (ignored); `second` comes later: the way out of a stop
 * that hangs, which ends the process at once.
 */
export type StopSignalKind = 'first' | 'repeat' | 'second';

/** A clock that never goes back (not the wall clock, which a time sync may set back or forward), in ms. */
export const monotonicNow = (): number => performance.now();

/**
 * Tells the stop signals a command hears apart ({@link StopSignalKind}): the
 * function returned is called once for each signal, as it comes. The window
 * runs from the first signal, not from the last repeat, so that signals sent
 * again and again (a key held down) still end the process once it is over.
 */
export function stopSignalSorter(now: () => number = monotonicNow, windowMs: number = REPEAT_SIGNAL_MS): () => StopSignalKind {
  let first: number | undefined;
  return () => {
    const at = now();
    if (first === undefined) {
      first = at;
      return 'first';
    }
    return at - first < windowMs ? 'repeat' : 'second';
  };
}

/** The stop signals a command listens for: SIGINT and SIGTERM, and SIGHUP for serve and add. */
export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

/**
 * What {@link stopSignalsOf} needs of its process: node's own
 * ({@link processStopSignals}), or a test's stand-in.
 */
export interface SignalledProcess {
  /** Calls `listener` at each `signal` (process.on, which installs node's handler for it). */
  on(signal: StopSignal, listener: () => void): void;
  /** Stops calling `listener` (process.off; without a listener left, `signal` ends the process again). */
  off(signal: StopSignal, listener: () => void): void;
  /** Calls `listener` once the event loop has emptied and the process is about to end of itself ('beforeExit'). */
  onceIdle(listener: () => void): void;
  /** Ends the process at once with the exit status set (process.exit()), its signal handlers left in place. */
  exit(): void;
  /** Sends `signal` to this process. */
  kill(signal: string): void;
  /** A clock that never goes back, in ms. */
  now(): number;
}

/**
 * The stop signals as a command hears them: `on` and `off` as process.on and
 * process.off, and `endBy` to end the process by a signal.
 */
export interface StopSignals {
  /** Calls `listener` with the signal's name at each `signal`, until `off`. */
  on(signal: StopSignal, listener: (signal: StopSignal) => void): void;
  off(signal: StopSignal, listener: (signal: StopSignal) => void): void;
  /**
   * Ends the process by `signal` as its default action does (for SIGINT and
   * SIGTERM, the status a shell shows as 130 and 143): every listener of the
   * process for the stop signals is removed, and the signal sent again.
   */
  endBy(signal: string): void;
}

/**
 * The stop signals of `proc`, heard for as long as the process lasts, so that
 * a repeat of the first ({@link StopSignalKind}) never ends it, however late
 * in its end it comes. A command's listeners come and go (it removes them
 * once it has stopped, and work may follow before the process ends), so the
 * process's own listener for a stop signal is added with the first command
 * listener for it and removed only to end the process by a signal. A signal
 * that comes while the command listens is passed to it (it tells the kinds
 * apart itself); one that comes while none listens is ignored if it is a
 * repeat, and otherwise ends the process by itself, as with no listener.
 * Node, when the process ends of itself (its event loop empty), gives the
 * signals their default action back before the process is gone (it closes
 * its handles, the signal watchers among them, then tears V8 down: some ms,
 * tens on a loaded host), so a repeat arriving then would still end a
 * process that had stopped cleanly by the signal (exit status 130). Once a
 * first signal has come, the process therefore ends by exit() as soon as its
 * event loop is empty: that end leaves the handlers in place to the last.
 */
export function stopSignalsOf(proc: SignalledProcess, windowMs: number = REPEAT_SIGNAL_MS): StopSignals {
  const sortSignal = stopSignalSorter(() => proc.now(), windowMs);
  /** The command's listeners for each signal. */
  const listeners = new Map<StopSignal, Set<(signal: StopSignal) => void>>();
  /** The process's own listener for each signal heard. */
  const heard = new Map<StopSignal, () => void>();
  const endBy = (signal: string) => {
    for (const [name, listener] of heard) proc.off(name, listener);
    heard.clear();
    proc.kill(signal);
  };
  const hear = (signal: StopSignal) => () => {
    const kind = sortSignal();
    if (kind === 'first') proc.onceIdle(() => proc.exit());
    const listening = [...(listeners.get(signal) ?? [])];
    for (const listener of listening) listener(signal);
    if (listening.length === 0 && kind !== 'repeat') endBy(signal);
  };
  return {
    on(signal, listener) {
      let set = listeners.get(signal);
      if (set === undefined) listeners.set(signal, (set = new Set()));
      set.add(listener);
      if (heard.has(signal)) return;
      const own = hear(signal);
      heard.set(signal, own);
      proc.on(signal, own);
    },
    off(signal, listener) {
      listeners.get(signal)?.delete(listener);
    },
    endBy,
  };
}

/** The real process's stop signals (see {@link stopSignalsOf}): every command hears them through this one. */
export const processStopSignals: StopSignals = stopSignalsOf({
  on: (signal, listener) => void process.on(signal, listener),
  off: (signal, listener) => void process.off(signal, listener),
  onceIdle: (listener) => void process.once('beforeExit', listener),
  exit: () => process.exit(),
  kill: (signal) => killSelf(signal),
  now: monotonicNow,
});

/** What {@link killSelf} needs of its process: node's own, or a test's stand-in. */
export interface SelfKiller {
  readonly pid: number;
  kill(pid: number, signal: string): unknown;
  exit(code: number): unknown;
}

/**
 * Sends `signal` to this process, whose listeners for it are gone, so that
 * its default action ends it. The kernel spares the first process of a PID
 * namespace (a container's PID 1, node run with no init in front of it) every
 * signal whose action is the default, its own included: there the process
 * ends by exit() instead, with the status a shell shows for an end by that
 * signal (128 + its number: 143 for SIGTERM).
 */
export function killSelf(signal: string, self: SelfKiller = process): void {
  self.kill(self.pid, signal);
  if (self.pid === 1) self.exit(128 + (osConstants.signals[signal as NodeJS.Signals] ?? 0));
}

/** Ends the process by `signal` as its default action does: {@link StopSignals.endBy} of {@link processStopSignals}. */
export function endBySignal(signal: string): void {
  processStopSignals.endBy(signal);
}
