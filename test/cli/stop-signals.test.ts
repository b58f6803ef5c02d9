// The stop signals a command hears, told apart: the first asks it to stop,
// one less than REPEAT_SIGNAL_MS after it is the same request passed on
// again (npm, npx, coreutils timeout), one later is a second request. And
// how the process hears them for as long as it lasts (stopSignalsOf), on a
// stand-in for the process: its signals are emitted at known points, its
// clock set by the test. stop-signals-process.test.ts sends real ones.
import { EventEmitter } from 'node:events';
import { killSelf, REPEAT_SIGNAL_MS, stopSignalSorter, stopSignalsOf, type StopSignal } from '../../src/cli/stop-signals.js';

test('a signal less than the window after the first is a repeat; one at the window or after is a second', () => {
  let clock = 5_000;
  const sort = stopSignalSorter(() => clock);
  const kinds = [sort()];
  for (const at of [0, 1, REPEAT_SIGNAL_MS - 1, REPEAT_SIGNAL_MS, REPEAT_SIGNAL_MS + 1]) {
    clock = 5_000 + at;
    kinds.push(sort());
  }
  expect(kinds).toEqual(['first', 'repeat', 'repeat', 'repeat', 'second', 'second']);
});

test('the window runs from the first signal, not from the last repeat: signals sent on and on still end the process', () => {
  let clock = 0;
  const sort = stopSignalSorter(() => clock);
  const kinds = [];
  for (; clock <= 2 * REPEAT_SIGNAL_MS; clock += REPEAT_SIGNAL_MS / 4) kinds.push(sort());
  expect(kinds).toEqual(['first', 'repeat', 'repeat', 'repeat', 'second', 'second', 'second', 'second', 'second']);
});

/**
 * A stand-in for the process: `signal` emits one as node would to the
 * process's listeners, `idle` empties its event loop; `ends` records
 * exit() and each kill, with how many listeners the process still had for
 * the signal killed by (none: it ends the process, as it does unheard).
 */
function fakeProcess() {
  const emitter = new EventEmitter();
  let clock = 0;
  const ends: string[] = [];
  const signals = stopSignalsOf({
    on: (signal, listener) => void emitter.on(signal, listener),
    off: (signal, listener) => void emitter.off(signal, listener),
    onceIdle: (listener) => void emitter.once('idle', listener),
    exit: () => void ends.push('exit'),
    kill: (signal) => void ends.push(`${signal}, ${emitter.listenerCount(signal)} listening`),
    now: () => clock,
  });
  return {
    signals,
    ends,
    signal: (name: StopSignal, at: number) => {
      clock = at;
      emitter.emit(name);
    },
    idle: () => emitter.emit('idle'),
    listening: (name: StopSignal) => emitter.listenerCount(name),
  };
}

test('a repeat that comes once the command stopped listening is ignored: the process still listens, to its end', () => {
  const p = fakeProcess();
  const heard: string[] = [];
  const listener = (signal: string) => heard.push(signal);
  p.signals.on('SIGINT', listener);
  p.signals.on('SIGTERM', listener);
  p.signal('SIGINT', 1_000);
  // The command has stopped (monitor's and get's dispose, add's stopListening): the copies passed on come after.
  p.signals.off('SIGINT', listener);
  p.signals.off('SIGTERM', listener);
  p.signal('SIGINT', 1_000 + 2);
  p.signal('SIGTERM', 1_000 + REPEAT_SIGNAL_MS - 1);
  expect([heard, p.ends, p.listening('SIGINT'), p.listening('SIGTERM')]).toEqual([['SIGINT'], [], 1, 1]);
});

test('once a first signal came, the process ends by exit() when its event loop empties, not by node, which gives the signals their default action back first', () => {
  const p = fakeProcess();
  p.signals.on('SIGINT', () => undefined);
  // No signal yet: the process ends of itself, as it would without stopSignalsOf.
  p.idle();
  expect(p.ends).toEqual([]);
  p.signal('SIGINT', 0);
  p.idle();
  expect(p.ends).toEqual(['exit']);
});

test('while the command listens, every signal is passed to it, the repeats and the seconds too: it tells them apart and ends the process itself', () => {
  const p = fakeProcess();
  const heard: string[] = [];
  p.signals.on('SIGHUP', (signal) => heard.push(signal));
  for (const at of [0, 1, REPEAT_SIGNAL_MS]) p.signal('SIGHUP', at);
  expect([heard, p.ends]).toEqual([['SIGHUP', 'SIGHUP', 'SIGHUP'], []]);
});

test('a second signal, the window over, ends the process by itself once no command listens (a stop that hangs after the command is done)', () => {
  const p = fakeProcess();
  const listener = () => undefined;
  p.signals.on('SIGINT', listener);
  p.signals.on('SIGTERM', listener);
  p.signal('SIGINT', 0);
  p.signals.off('SIGINT', listener);
  p.signals.off('SIGTERM', listener);
  p.signal('SIGTERM', REPEAT_SIGNAL_MS);
  // Every stop signal's listener is gone before the kill, SIGINT's as well as SIGTERM's.
  expect([p.ends, p.listening('SIGINT')]).toEqual([['SIGTERM, 0 listening'], 0]);
});

test('a first signal that comes when no command listens (before one does, or after it is done) ends the process by itself, as with no listener', () => {
  const p = fakeProcess();
  const listener = () => undefined;
  p.signals.on('SIGINT', listener);
  p.signals.off('SIGINT', listener);
  p.signal('SIGINT', 0);
  expect(p.ends).toEqual(['SIGINT, 0 listening']);
});

test("endBy, a command's way out of a stop that hangs, removes the process's listeners for every stop signal before it sends the signal again", () => {
  const p = fakeProcess();
  const listener = () => undefined;
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) p.signals.on(name, listener);
  p.signals.endBy('SIGTERM');
  expect([p.ends, p.listening('SIGINT'), p.listening('SIGHUP')]).toEqual([['SIGTERM, 0 listening'], 0, 0]);
});

test("killSelf sends the signal to the process itself; as a PID namespace's first process (a container's PID 1), which the kernel spares it, it then exits with 128 + the signal's number", () => {
  const calls = (pid: number, signal: string) => {
    const seen: string[] = [];
    killSelf(signal, { pid, kill: (to, sent) => seen.push(`kill ${to} ${sent}`), exit: (code) => seen.push(`exit ${code}`) });
    return seen;
  };
  expect(calls(4242, 'SIGTERM')).toEqual(['kill 4242 SIGTERM']);
  expect(calls(1, 'SIGTERM')).toEqual(['kill 1 SIGTERM', 'exit 143']);
  expect(calls(1, 'SIGINT')).toEqual(['kill 1 SIGINT', 'exit 130']);
  expect(calls(1, 'SIGHUP')).toEqual(['kill 1 SIGHUP', 'exit 129']);
});
