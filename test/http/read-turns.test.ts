// ReadTurns: slices of large-answer work run in later turns, first come
// first served; while the log has writes waiting, one turn runs at most its
// budget of them (at least one). Turns are driven by hand and time by a fake
// clock: nothing here depends on how fast the machine is.
import { ReadTurns } from '../../src/http/read-turns.js';

/** A ReadTurns whose turns run only when `turn()` is called, and whose clock moves only as slices move it. */
function manual(options: { writesWaiting?: () => boolean; budgetMs?: number } = {}) {
  const pumps: (() => void)[] = [];
  let clock = 0;
  const turns = new ReadTurns({ ...options, now: () => clock, schedule: (pump) => pumps.push(pump) });
  return {
    turns,
    /** Runs the turn scheduled (if any), then lets the continuations of the slices it ran go on. */
    turn: async (): Promise<boolean> => {
      const pump = pumps.shift();
      if (pump === undefined) return false;
      pump();
      for (let i = 0; i < 5; i++) await Promise.resolve();
      return true;
    },
    scheduled: () => pumps.length,
    /** A slice that takes `ms` of the fake clock and records its name. */
    slice: (ran: string[], name: string, ms = 0) => () => {
      clock += ms;
      ran.push(name);
      return name;
    },
  };
}

test('a slice runs in a later turn, not when it is asked for; its result and its error come back', async () => {
  const m = manual();
  const ran: string[] = [];
  const a = m.turns.run(m.slice(ran, 'a'));
  const b = m.turns.run(() => {
    throw new RangeError('b failed');
  });
  expect(ran).toEqual([]);
  expect(m.scheduled()).toBe(1); // one turn for both
  expect(m.turns.waiting).toBe(2);
  await m.turn();
  await expect(a).resolves.toBe('a');
  await expect(b).rejects.toThrow('b failed');
  expect(m.turns.waiting).toBe(0);
  expect(m.scheduled()).toBe(0);
});

test('with no writes waiting, one turn runs every slice waiting, whatever they cost, in order', async () => {
  const m = manual({ writesWaiting: () => false, budgetMs: 2 });
  const ran: string[] = [];
  const all = ['a', 'b', 'c', 'd'].map((name) => m.turns.run(m.slice(ran, name, 5)));
  await m.turn();
  expect(ran).toEqual(['a', 'b', 'c', 'd']);
  await Promise.all(all);
  expect(m.turns.turns).toBe(1);
});

test('while writes wait, a turn stops once its budget is spent (after at least one slice), and the rest wait for the next turn', async () => {
  let writes = true;
  const m = manual({ writesWaiting: () => writes, budgetMs: 2 });
  const ran: string[] = [];
  for (const name of ['a', 'b', 'c', 'd', 'e']) void m.turns.run(m.slice(ran, name, 1));
  await m.turn();
  expect(ran).toEqual(['a', 'b']); // 2 ms: the budget
  expect(m.scheduled()).toBe(1);
  await m.turn();
  expect(ran).toEqual(['a', 'b', 'c', 'd']);
  const big = m.turns.run(m.slice(ran, 'big', 10));
  void m.turns.run(m.slice(ran, 'f', 1));
  await m.turn();
  expect(ran).toEqual(['a', 'b', 'c', 'd', 'e', 'big']); // e left budget over, so big ran; f waits
  await expect(big).resolves.toBe('big');
  void m.turns.run(m.slice(ran, 'g', 1));
  writes = false;
  await m.turn();
  expect(ran).toEqual(['a', 'b', 'c', 'd', 'e', 'big', 'f', 'g']);
  expect(m.scheduled()).toBe(0);
});

test('a slice asked for by a slice waits for the next turn, so a chain of slices takes one turn each', async () => {
  const m = manual({ writesWaiting: () => false });
  const ran: string[] = [];
  const chain = (async () => {
    for (let i = 0; i < 3; i++) await m.turns.run(m.slice(ran, `s${i}`));
  })();
  await m.turn();
  expect(ran).toEqual(['s0']);
  await m.turn();
  expect(ran).toEqual(['s0', 's1']);
  await m.turn();
  await chain;
  expect(ran).toEqual(['s0', 's1', 's2']);
  expect(m.turns.turns).toBe(3);
});

test('by default a turn is setImmediate: after the I/O of the turn that asked', async () => {
  const turns = new ReadTurns();
  const order: string[] = [];
  const slice = turns.run(() => order.push('slice'));
  setImmediate(() => order.push('immediate after'));
  await Promise.resolve();
  order.push('microtask');
  await slice;
  expect(order).toEqual(['microtask', 'slice']);
});

test('options are checked', () => {
  expect(() => new ReadTurns({ budgetMs: -1 })).toThrow(RangeError);
  expect(() => new ReadTurns({ budgetMs: Number.NaN })).toThrow(RangeError);
  expect(() => new ReadTurns({ sliceBytes: 0 })).toThrow(RangeError);
  expect(() => new ReadTurns({ sliceBytes: 1.5 })).toThrow(RangeError);
});
