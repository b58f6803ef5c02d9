// AnswerBudget (src/http/answer-budget.ts): the large answers held at once,
// each from when it is read until its response closes or its connection is
// lost; one larger than the whole bound is held when nothing else is; only
// `maxReads` are read at once; and before it is read an answer waits for its
// turn in its connection (one answer held per connection) and among its
// client's (at most `perClient` held or being read per client).
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AnswerBudget, clientOf, clientOfAddress, DEFAULT_MAX_ANSWER_BYTES, MAX_ANSWER_READS, MAX_ANSWERS_PER_CLIENT, MIN_ANSWER_READ_RATE, RECENT_REFUSAL_MS } from '../../src/http/answer-budget.js';
import { LogError } from '../../src/log/errors.js';

/**
 * A connection and its responses, as far as AnswerBudget looks at them; as
 * node does, a response pipelined behind another gets the socket only once
 * the one before it is written out (and is closed after that).
 */
class FakeSocket extends EventEmitter {
  destroyed = false;
  readonly remoteAddress: string;
  current: FakeResponse | undefined;
  readonly queued: FakeResponse[] = [];
  constructor(remoteAddress = '127.0.0.1') {
    super();
    this.remoteAddress = remoteAddress;
  }
  lose(): void {
    this.destroyed = true;
    this.emit('close');
  }
  response(): FakeResponse {
    const res = new FakeResponse(this);
    if (this.current === undefined) res.assign();
    else this.queued.push(res);
    return res;
  }
  get asSocket(): Socket {
    return this as unknown as Socket;
  }
}

class FakeResponse extends EventEmitter {
  closed = false;
  socket: FakeSocket | null = null;
  readonly req: { socket: FakeSocket };
  constructor(socket: FakeSocket) {
    super();
    this.req = { socket };
  }
  assign(): void {
    this.socket = this.req.socket;
    this.req.socket.current = this;
    this.emit('socket', this.socket);
  }
  /** Written out: as node does, the next response gets the socket, then this one closes. */
  close(): void {
    if (this.closed) return;
    const socket = this.req.socket;
    if (socket.current === this) {
      socket.current = undefined;
      socket.queued.shift()?.assign();
    }
    this.closed = true;
    this.emit('close');
  }
  get res(): ServerResponse {
    return this as unknown as ServerResponse;
  }
}

/** Lets what the budget woke run. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

test('defaults: 64 MiB, 4 reads at once, 2 answers per client; a bound that is not a positive integer is refused', () => {
  expect(DEFAULT_MAX_ANSWER_BYTES).toBe(64 * 1024 * 1024);
  expect(new AnswerBudget().limit).toBe(DEFAULT_MAX_ANSWER_BYTES);
  expect(MAX_ANSWER_READS).toBe(4);
  expect(MAX_ANSWERS_PER_CLIENT).toBe(2);
  for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new AnswerBudget(bad)).toThrow(RangeError);
  expect(() => new AnswerBudget(10, { maxReads: 0 })).toThrow(RangeError);
  expect(() => new AnswerBudget(10, { perClient: 0 })).toThrow(RangeError);
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
  const budget = new AnswerBudget(1000, { maxReads: 2, perClient: 5 });
  let running = 0;
  let most = 0;
  const finishes: (() => void)[] = [];
  const started: number[] = [];
  const reads = [0, 1, 2, 3, 4].map((i) =>
    budget.reading(new FakeSocket().response().res, async () => {
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

/** Reads the answer of `res` through `budget` as a route does: held at `bytes`, or refused; `log` says in what order reads ran. */
function read(budget: AnswerBudget, res: FakeResponse, bytes: number, log: string[], name: string): Promise<string> {
  return budget.reading(res.res, async () => {
    log.push(name);
    if (budget.hold(res.res, bytes) === undefined) throw new LogError('QUEUE_FULL', 'refused');
    return name;
  });
}

test('a pipelined answer is read only once the answers before it on its connection are written out and their shares given back', async () => {
  const budget = new AnswerBudget(1000);
  const socket = new FakeSocket();
  const [a, b, c] = [socket.response(), socket.response(), socket.response()];
  const order: string[] = [];
  const reads = [read(budget, a, 100, order, 'a'), read(budget, b, 100, order, 'b'), read(budget, c, 100, order, 'c')];
  await tick();
  expect(order).toEqual(['a']);
  expect([budget.inUse, budget.waiting]).toEqual([100, 2]);
  a.close();
  await tick();
  expect(order).toEqual(['a', 'b']);
  expect([budget.inUse, budget.waiting]).toEqual([100, 1]);
  b.close();
  await tick();
  expect(order).toEqual(['a', 'b', 'c']);
  expect(await Promise.all(reads)).toEqual(['a', 'b', 'c']);
  c.close();
  expect([budget.inUse, budget.waiting, budget.clients, budget.peak]).toEqual([0, 0, 0, 100]);
});

test('an answer behind one that is not large (nothing held) is read once it is its turn to be written', async () => {
  const budget = new AnswerBudget(1000);
  const socket = new FakeSocket();
  const small = socket.response();
  const large = socket.response();
  const order: string[] = [];
  const reading = read(budget, large, 100, order, 'large');
  await tick();
  expect([order, budget.waiting]).toEqual([[], 1]);
  small.close();
  expect(await reading).toBe('large');
  large.close();
  expect([budget.inUse, budget.clients]).toEqual([0, 0]);
});

test('one client has at most perClient answers held or being read, over all its connections; past that its answers wait, first come first served, and another client is served', async () => {
  const budget = new AnswerBudget(1000, { perClient: 2 });
  const [a1, a2, a3, a4] = ['10.0.0.1', '10.0.0.1', '10.0.0.1', '10.0.0.1'].map((ip) => new FakeSocket(ip).response());
  const b = new FakeSocket('10.0.0.2').response();
  const order: string[] = [];
  const reads = [read(budget, a1!, 100, order, 'a1'), read(budget, a2!, 100, order, 'a2'), read(budget, a3!, 100, order, 'a3'), read(budget, a4!, 100, order, 'a4')];
  await tick();
  expect(order).toEqual(['a1', 'a2']);
  expect(budget.waiting).toBe(2);
  const other = read(budget, b, 100, order, 'b');
  expect(await other).toBe('b');
  expect(budget.inUse).toBe(300);
  a2!.close();
  await tick();
  expect(order).toEqual(['a1', 'a2', 'b', 'a3']);
  a1!.close();
  await tick();
  expect(order).toEqual(['a1', 'a2', 'b', 'a3', 'a4']);
  expect(await Promise.all(reads)).toEqual(['a1', 'a2', 'a3', 'a4']);
  for (const res of [a3!, a4!, b]) res.close();
  expect([budget.inUse, budget.waiting, budget.clients]).toEqual([0, 0, 0]);
});

test('an answer refused (it does not fit) or whose read fails gives its client\'s turn back at once', async () => {
  const budget = new AnswerBudget(150, { perClient: 1 });
  const holder = new FakeSocket('10.0.0.9').response();
  const order: string[] = [];
  await read(budget, holder, 100, order, 'holder');
  // One client, three connections: each answer waits for the one before to be done.
  const [a, b, c] = [1, 2, 3].map(() => new FakeSocket('10.0.0.1').response());
  const refused = read(budget, a!, 60, order, 'a');
  const failed = budget.reading(b!.res, async () => {
    order.push('b');
    throw new Error('the store failed');
  });
  const served = read(budget, c!, 50, order, 'c');
  const settled = await Promise.allSettled([refused, failed, served]);
  expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual(['refused', 'the store failed', 'c']);
  expect(order).toEqual(['holder', 'a', 'b', 'c']);
  expect([budget.inUse, budget.waiting, budget.clients]).toEqual([150, 0, 2]);
  holder.close();
  c!.close();
  expect([budget.inUse, budget.waiting, budget.clients]).toEqual([0, 0, 0]);
});

test('a connection lost while its answers wait (for its turn, its client\'s, or a read) gives up all of them, unread, and leaves nothing behind', async () => {
  const budget = new AnswerBudget(1000, { maxReads: 1, perClient: 1 });
  // Client A: one connection holding an answer with two pipelined behind it, another waiting for A's turn.
  const pipelining = new FakeSocket('10.0.0.1');
  const [first, second, third] = [pipelining.response(), pipelining.response(), pipelining.response()];
  const other = new FakeSocket('10.0.0.1');
  const order: string[] = [];
  const reads = [read(budget, first, 100, order, 'first'), read(budget, second, 100, order, 'second'), read(budget, third, 100, order, 'third'), read(budget, other.response(), 100, order, 'other')];
  await tick();
  expect(order).toEqual(['first']);
  expect([budget.inUse, budget.waiting, budget.clients]).toEqual([100, 3, 1]);
  // B's read waits for the one read at a time, which C has.
  let finishC!: () => void;
  const c = new FakeSocket('10.0.0.3');
  const readingC = budget.reading(c.response().res, () => new Promise<void>((resolve) => (finishC = resolve)));
  const b = new FakeSocket('10.0.0.2');
  const readingB = read(budget, b.response(), 100, order, 'b');
  await tick();
  expect(budget.clients).toBe(3);
  // Both of A's connections lost: node never closes `second` and `third`.
  other.lose();
  pipelining.lose();
  b.lose();
  finishC();
  await readingC;
  c.lose();
  const settled = await Promise.allSettled([...reads, readingB]);
  expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as LogError).code))).toEqual(['first', 'QUEUE_FULL', 'QUEUE_FULL', 'QUEUE_FULL', 'QUEUE_FULL']);
  expect(order).toEqual(['first']);
  expect([budget.inUse, budget.waiting, budget.clients]).toEqual([0, 0, 0]);
  // An answer asked for on a connection already lost is refused at once.
  await expect(read(budget, pipelining.response(), 100, order, 'late')).rejects.toMatchObject({ code: 'QUEUE_FULL' });
  expect([order, budget.waiting, budget.clients]).toEqual([['first'], 0, 0]);
});

test('keepsOthersWaiting(socket): its answers hold a share while an answer was refused lately, or one of its client\'s waits', async () => {
  let now = 0;
  const budget = new AnswerBudget(1000, { perClient: 1, now: () => now });
  const a = new FakeSocket('10.0.0.1');
  const order: string[] = [];
  expect(budget.keepsOthersWaiting(a.asSocket, 60_000)).toBe(false);
  const held = a.response();
  await read(budget, held, 100, order, 'held');
  expect(budget.keepsOthersWaiting(a.asSocket, 60_000)).toBe(false);
  // Its own pipelined answer waiting keeps nobody else waiting.
  const own = read(budget, a.response(), 100, order, 'own');
  await tick();
  expect(budget.keepsOthersWaiting(a.asSocket, 60_000)).toBe(false);
  // Another connection of its client waiting does.
  const sameClient = new FakeSocket('10.0.0.1');
  const waiting = read(budget, sameClient.response(), 100, order, 'same client');
  await tick();
  expect([budget.keepsOthersWaiting(a.asSocket, 60_000), budget.keepsOthersWaiting(sameClient.asSocket, 60_000)]).toEqual([true, false]);
  sameClient.lose();
  await expect(waiting).rejects.toMatchObject({ code: 'QUEUE_FULL' });
  expect(budget.keepsOthersWaiting(a.asSocket, 60_000)).toBe(false);
  budget.noteRefused();
  expect(budget.keepsOthersWaiting(a.asSocket, 60_000)).toBe(true);
  now += 60_000;
  expect(budget.keepsOthersWaiting(a.asSocket, 60_000)).toBe(false);
  a.lose();
  await expect(own).rejects.toMatchObject({ code: 'QUEUE_FULL' });
  expect([budget.inUse, budget.clients]).toEqual([0, 0]);
});

test('heldTooLong(socket, ms): its oldest answer held longer than ms plus its bytes at MIN_ANSWER_READ_RATE, and only while answers are being refused', async () => {
  expect([MIN_ANSWER_READ_RATE, RECENT_REFUSAL_MS]).toEqual([256 * 1024, 5_000]);
  const STALL = 60_000;
  let now = 5_000;
  const budget = new AnswerBudget(64 * MIN_ANSWER_READ_RATE, { perClient: 1, now: () => now });
  const slow = new FakeSocket('10.0.0.1');
  expect(budget.heldTooLong(slow.asSocket, STALL)).toBe(false);
  // 10 s of reading at the rate: held for up to 70 s.
  const first = slow.response();
  const hold = budget.hold(first.res, 10 * MIN_ANSWER_READ_RATE)!;
  // Pipelined behind it, held an hour later (as a test may; the server holds one per connection): the oldest one counts.
  now += 3_600_000;
  budget.hold(slow.response().res, 1);
  // Nobody refused: never, however long it is held.
  expect(budget.heldTooLong(slow.asSocket, STALL)).toBe(false);
  // Refused lately: past its limit, and only then.
  now = 5_000 + 70_000;
  budget.noteRefused();
  expect(budget.heldTooLong(slow.asSocket, STALL)).toBe(false);
  now += 1;
  expect(budget.heldTooLong(slow.asSocket, STALL)).toBe(true);
  // The limit is the answer's bytes now: once it shrank (gzip), less.
  hold.shrinkTo(5 * MIN_ANSWER_READ_RATE);
  now = 5_000 + 65_000;
  expect(budget.heldTooLong(slow.asSocket, STALL)).toBe(false);
  now += 1;
  const refusedAt = now;
  budget.noteRefused();
  expect(budget.heldTooLong(slow.asSocket, STALL)).toBe(true);
  // A refusal RECENT_REFUSAL_MS old may have nobody behind it (they were told to ask again within 1 s): not cut,
  // though it still keeps others waiting for the stall check.
  now = refusedAt + RECENT_REFUSAL_MS - 1;
  expect(budget.heldTooLong(slow.asSocket, STALL)).toBe(true);
  now = refusedAt + RECENT_REFUSAL_MS;
  expect([budget.keepsOthersWaiting(slow.asSocket, STALL), budget.heldTooLong(slow.asSocket, STALL)]).toEqual([true, false]);
  // Another of its own client's answers waiting its turn is no reason (it would come over the same slow link).
  const order: string[] = [];
  const fresh = new FakeSocket('10.0.0.2');
  await read(budget, fresh.response(), 1, order, 'fresh');
  const waiting = read(budget, new FakeSocket('10.0.0.2').response(), 1, order, 'waiting');
  await tick();
  expect(budget.waiting).toBe(1);
  now += STALL + 1;
  expect([budget.keepsOthersWaiting(fresh.asSocket, STALL), budget.heldTooLong(fresh.asSocket, STALL)]).toEqual([true, false]);
  budget.noteRefused();
  expect([budget.heldTooLong(fresh.asSocket, STALL), budget.heldTooLong(slow.asSocket, STALL)]).toEqual([true, true]);
  fresh.lose();
  expect(await waiting).toBe('waiting');
  // Written out, the first answer holds nothing: the one behind it is timed from when it was held.
  first.close();
  expect(budget.holds(slow.asSocket)).toBe(true);
  now = 5_000 + 3_600_000 + STALL;
  budget.noteRefused();
  expect(budget.heldTooLong(slow.asSocket, STALL)).toBe(false);
  now += 1;
  expect(budget.heldTooLong(slow.asSocket, STALL)).toBe(true);
  slow.lose();
  expect(budget.heldTooLong(slow.asSocket, STALL)).toBe(false);
});

test('clientOf: the remote address; an IPv4-mapped one as IPv4; an IPv6 one by its /64, however written', () => {
  expect(clientOfAddress('192.0.2.7')).toBe('192.0.2.7');
  expect(clientOfAddress('::ffff:192.0.2.7')).toBe('192.0.2.7');
  expect(clientOfAddress('::FFFF:192.0.2.7')).toBe('192.0.2.7');
  const prefix = '2001:db8:0:1::/64';
  for (const address of ['2001:db8:0:1::1', '2001:db8:0:1:ffff:ffff:ffff:ffff', '2001:0db8:0000:0001:0:0:0:2', '2001:DB8:0:1::1.2.3.4', 'fe80::1%eth0'.replace('fe80::1', '2001:db8:0:1::9')]) {
    expect(clientOfAddress(address)).toBe(prefix);
  }
  expect(clientOfAddress('2001:db8:0:2::1')).toBe('2001:db8:0:2::/64');
  expect(clientOfAddress('2001:db8::1')).toBe('2001:db8:0:0::/64');
  expect(clientOfAddress('::1')).toBe('0:0:0:0::/64');
  expect(clientOfAddress('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  expect(clientOfAddress('1:2:3:4:5:6::')).toBe('1:2:3:4::/64');
  expect(clientOfAddress('1:2:3::4:5:6:7')).toBe('1:2:3:0::/64');
  expect(clientOf(new FakeSocket('2001:db8:0:1::5').asSocket)).toBe(prefix);
  // A socket that no longer knows its peer: one client of its own, the same for each of its answers.
  const lost = [{} as Socket, {} as Socket];
  expect(clientOf(lost[0]!)).toBe(clientOf(lost[0]!));
  expect(clientOf(lost[0]!)).not.toBe(clientOf(lost[1]!));
  expect(clientOf(lost[0]!)).not.toBe(clientOf(new FakeSocket('127.0.0.1').asSocket));
});
