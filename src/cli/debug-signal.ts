/**
 * SIGUSR1, ignored by every cairn command from the moment this module is
 * evaluated: main.ts imports it alone, and the modules that take most of the
 * start (some 0.1 s) by a dynamic import after, so the window left is node's
 * own start-up (measured from spawn to this listener, median of 30 runs: 90
 * ms, against 75 - 115 ms for an empty module and 190 - 225 ms when main.ts
 * imported every command statically). This module imports nothing.
 *
 * Node's default for SIGUSR1 is to open its inspector, an unauthenticated
 * debugger, on 127.0.0.1:9229: any local user could then run code in the
 * process and read what it holds, a server's private signing key or a
 * client's CAIRN_TOKEN. SIGUSR1 is also what logrotate and many service set-ups
 * send to mean "reopen your log files", so it comes without anyone meaning
 * harm. A listener of its own keeps node from starting the inspector; cairn
 * has no log files to reopen (its lines go to standard error), so the signal
 * is only reported.
 */

/** What is said when SIGUSR1 comes. */
export const DEBUG_SIGNAL_IGNORED =
  "SIGUSR1 ignored: cairn keeps no log files to reopen (it writes to standard error), and node's default for it, opening a debugger any local user can reach, is turned off";

/** Told of each SIGUSR1; nothing until a command sets it with {@link reportIgnoredDebugSignal}. */
let report: (message: string) => void = () => undefined;

process.on('SIGUSR1', () => report(DEBUG_SIGNAL_IGNORED));

/** Makes each SIGUSR1 from now on be reported to `to` (given {@link DEBUG_SIGNAL_IGNORED}) instead; the signal stays ignored. */
export function reportIgnoredDebugSignal(to: (message: string) => void): void {
  report = to;
}
