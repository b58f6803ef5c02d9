// AnswerBudget (src/http/answer-budget.ts): the large answers held at once,
// each from when it is read until its response closes or its connection is
// lost; one larger than the whole bound is held when nothing else is; and
// only `maxReads` are read at once.
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { AnswerBudget, DEFAULT_MAX_ANSWER_BYTES, MAX_ANSWER_READS } from '../../src/http/answer-budget.js';

/** A connection and its responses, as far as AnswerBudget looks at them. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  lose(): void {
    this.destroyed = true;
    this.emit('close');
  }
  response(): FakeResponse {
    return new FakeResponse(this);
  }
}

class FakeResponse extends EventEmitter {
  closed = false;
  readonly req: { socket: FakeSocket };
  constructor(socket: FakeSocket) {
    super();
    this.req = { socket };
  }
  close(): void {
    this.closed = true;
    this.emit('close');
  }
  get res(): ServerResponse {
    return this as unknown as ServerResponse;
  }
}

test('defaults: 64 MiB, 4 reads at once; a bound that is not a positive integer is refused', () => {
  expect(DEFAULT_MAX_ANSWER_BYTES).toBe(64 * 1024 * 1024);
  expect(new AnswerBudget().limit).toBe(DEFAULT_MAX_ANSWER_BYTES);
  expect(MAX_ANSWER_READS).toBe(4);
  for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new AnswerBudget(bad)).toThrow(RangeError);
  expect(() => new AnswerBudget(10, { maxReads: 0 })).toThrow(RangeError);
});

test('an answer that would go past the bound is refused, taking nothing, and held again once another closes', () => {
  const budget = new AnswerBudget(100);
  const socket = new FakeSocket();
  const [a, b, c] = [socket.response(), socket.response(), socket.response()];
  expect(budget.hold(a.res, 60)).toBeDefined();
  expect(budget.hold(b.res, 40)).toBeDefined();
  expect(budget.inUse).toBe(100);
  expect(budget.exhausted).toBe(true);
  expect(budget.hold(c.res, 1)).toBeUndefined();
  expect(budget.inUse).toBe(100);
  a.close();
  expect(budget.inUse).toBe(40);
  expect(budget.exhausted).toBe(false);
  expect(budget.hold(c.res, 60)).toBeDefined();
  expect(budget.hold(socket.response().res, 1)).toBeUndefined();
  b.close();
  c.close();
  // Closing again gives nothing back twice.
  a.close();
  expect(budget.inUse).toBe(0);
  expect(budget.peak).toBe(100);
});

test('an answer larger than the whole bound is held when nothing else is, and only then', () => {
  const budget = new AnswerBudget(100);
  const socket = new FakeSocket();
  const small = socket.response();
  expect(budget.hold(small.res, 1)).toBeDefined();
  const big = socket.response();
  expect(budget.hold(big.res, 500)).toBeUndefined();
  small.close();
  expect(budget.hold(big.res, 500)).toBeDefined();
  expect(budget.inUse).toBe(500);
  expect(budget.hold(socket.response().res, 1)).toBeUndefined();
  big.close();
  expect(budget.inUse).toBe(0);
});

test('a lost connection gives back the shares of all its answers, those node never closes (queued behind the first) too', () => {
  const budget = new AnswerBudget(1000);
  const lost = new FakeSocket();
  const other = new FakeSocket();
  const first = lost.response();
  budget.hold(first.res, 100);
  // Answers pipelined behind the first: when the connection is lost, node closes only the first response.
  budget.hold(lost.response().res, 200);
  budget.hold(lost.response().res, 300);
  budget.hold(other.response().res, 50);
  expect(budget.inUse).toBe(650);
  first.close();
  lost.lose();
  expect(budget.inUse).toBe(50);
  // An answer for a client already gone holds nothing.
  expect(budget.hold(lost.response().res, 999)).toBeDefined();
  expect(budget.inUse).toBe(50);
});

test('shrinkTo gives back what an answer no longer needs, never more than it took', () => {
  const budget = new AnswerBudget(1000);
  const res = new FakeSocket().response();
  const hold = budget.hold(res.res, 800)!;
  hold.shrinkTo(300);
  expect(budget.inUse).toBe(300);
  hold.shrinkTo(900);
  expect(budget.inUse).toBe(300);
  res.close();
  hold.shrinkTo(10);
  expect(budget.inUse).toBe(0);
});

test('reading runs at most maxReads reads at once, the others in turn as they finish', async () => {
  const budget = new AnswerBudget(1000, { maxReads: 2 });
  let running = 0;
  let most = 0;
  const finishes: (() => void)[] = [];
  const started: number[] = [];
  const reads = [0, 1, 2, 3, 4].map((i) =>
    budget.reading(async () => {
      started.push(i);
      running += 1;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => finishes.push(resolve));
      running -= 1;
      if (i === 2) throw new Error('read 2 failed');
      return i;
    }),
  );
  const settled = Promise.allSettled(reads);
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  await tick();
  expect(started).toEqual([0, 1]);
  finishes[1]!();
  await tick();
  expect(started).toEqual([0, 1, 2]);
  while (started.length < 5 || running > 0) {
    finishes.splice(0).forEach((f) => f());
    await tick();
  }
  expect(most).toBe(2);
  expect(await settled).toEqual([
    { status: 'fulfilled', value: 0 },
    { status: 'fulfilled', value: 1 },
    { status: 'rejected', reason: new Error('read 2 failed') },
    { status: 'fulfilled', value: 3 },
    { status: 'fulfilled', value: 4 },
  ]);
});

test('holds(socket) says whether a connection holds a share; refusedWithin(ms) whether an answer was refused that recently', () => {
  let now = 1000;
  const budget = new AnswerBudget(100, { now: () => now });
  const a = new FakeSocket();
  const b = new FakeSocket();
  expect(budget.refusedWithin(60_000)).toBe(false);
  const first = a.response();
  expect(budget.hold(first.res, 80)).toBeDefined();
  expect([budget.holds(a as never), budget.holds(b as never)]).toEqual([true, false]);
  // Refused by hold(): it does not fit.
  expect(budget.hold(b.response().res, 30)).toBeUndefined();
  expect(budget.refusedWithin(60_000)).toBe(true);
  now += 60_000;
  expect(budget.refusedWithin(60_000)).toBe(false);
  // Refused before a read, as a route does while the bound is full.
  expect(budget.hold(a.response().res, 20)).toBeDefined();
  expect(budget.exhausted).toBe(true);
  expect(budget.refusedWithin(60_000)).toBe(false);
  budget.noteRefused();
  expect(budget.refusedWithin(60_000)).toBe(true);
  a.lose();
  expect(budget.holds(a as never)).toBe(false);
});
