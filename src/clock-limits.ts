// How far apart clocks may be before cairn calls it a fault, in one place for
// the commands that must agree: monitor alarms by it, and serve warns of a
// tree head that monitors would alarm on (at start, and while a clock behind
// dates heads ahead: log/clock-behind.ts). No imports, so that serve's start
// does not load the client to read it.

/**
 * How far ahead of a monitor's clock a signed tree head may be dated: clocks
 * drift, but not by more. `cairn monitor` alarms `timestamp` on one further
 * ahead (README); `cairn serve` warns at start when its latest stored tree
 * head is, since the heads it signs next are dated just after it.
 */
export const MAX_CLOCK_AHEAD_MS = 10 * 60 * 1000;

/** What the warnings of a clock behind the log's tree heads tell the operator to check (serve at start, the log while it runs). */
export const CHECK_CLOCK_ADVICE = "Check this machine's clock and its time synchronization (NTP: timedatectl, chronyc tracking)";
