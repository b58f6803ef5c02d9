/**
 * How long after the first stop signal (SIGINT, SIGTERM, or serve's SIGHUP)
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

/**
 * Ends the process by `signal` as its default action does (for SIGINT and
 * SIGTERM, the status a shell shows as 130 and 143), once the caller has
 * removed its listeners for it: the signal is sent again to this process.
 */
export function endBySignal(signal: string): void {
  process.kill(process.pid, signal);
}
