// The server logs why rounds fail (a full disk, an I/O error): the first
// failure at once with its reason, then at most one line per interval while
// the disk stays broken, and a line when rounds are written again. --quiet
// drops request lines only, never these.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { RoundFailureLog, startServer, type RunningServer } from '../../src/cli/server.js';
import { withoutRequestLines, type Logger } from '../../src/log/logger.js';
import { FaultStore } from '../../src/storage/fault-store.js';
import { CLI } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { spiedClocksEachTest } from '../helpers/spied-clocks.js';
import { capture, manualTime } from '../helpers/log-lines.js';

const dir = useTempDir('cairn-round-failures-');



/** An error as a store gives one: its own code, wrapping the operating system's. */
function diskFull(file: string): Error {
  const os = Object.assign(new Error(`ENOSPC: no space left on device, write '${file}'`), { code: 'ENOSPC' });
  return Object.assign(new Error(`IO error: ${file}: write failed`, { cause: os }), { code: 'LEVEL_IO_ERROR' });
}

test('the first failure is logged at once as an error with its message, code and causes', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const failures = new RoundFailureLog(logger, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  failures.committed();
  expect(lines).toEqual([]);
  failures.failed(diskFull('000003.log'));
  expect(lines).toEqual([
    {
      level: 'error',
      msg: expect.stringMatching(/could not be written to the store.*refused \(503\), not logged unless the disk wrote a round before it reported the error/),
      fields: {
        failed: 1,
        written: 0,
        error: 'IO error: 000003.log: write failed',
        code: 'LEVEL_IO_ERROR',
        cause: ["ENOSPC: no space left on device, write '000003.log' (ENOSPC)"],
        advice: 'the disk is full (ENOSPC); make room on it',
      },
    },
  ]);
});

test("a round refused for the file-size limit (LevelDB's 'File too large', EFBIG) is logged with what to raise; an error of no known shortage with no advice", () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const failures = new RoundFailureLog(logger, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  failures.failed(Object.assign(new Error('IO error: /var/lib/cairn/db/000005.log: File too large'), { code: 'LEVEL_IO_ERROR' }));
  expect(lines[0]!.fields).toMatchObject({ advice: "a store file would pass the server's file-size limit (EFBIG); raise or remove it (ulimit -f, or LimitFSIZE in systemd)" });
  time.advance(10_000);
  failures.failed(Object.assign(new Error('IO error: 000006.log: Input/output error'), { code: 'LEVEL_IO_ERROR' }));
  time.advance(10_000);
  expect(lines).toHaveLength(2);
  expect(lines[1]!.fields).not.toHaveProperty('advice');
});

test('under a disk that keeps failing, one line per interval counts the rounds failed and gives the latest reason', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const failures = new RoundFailureLog(logger, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  failures.failed(diskFull('1.log'));
  for (let i = 2; i <= 50; i++) {
    time.advance(100);
    failures.failed(diskFull(`${i}.log`));
  }
  // 4.9 s after the first line: nothing more yet, one timer waiting.
  expect(lines).toHaveLength(1);
  expect(time.pending()).toBe(1);
  time.advance(5_100);
  expect(lines).toHaveLength(2);
  expect(lines[1]).toEqual({
    level: 'error',
    msg: lines[0]!.msg,
    fields: expect.objectContaining({ failed: 49, written: 0, seconds: 10, error: 'IO error: 50.log: write failed', code: 'LEVEL_IO_ERROR' }),
  });
  // Quiet again while nothing happens; then the disk is fixed: one info line once the interval allows.
  time.advance(60_000);
  expect(lines).toHaveLength(2);
  failures.committed();
  failures.committed();
  expect(lines).toHaveLength(3);
  expect(lines[2]).toEqual({ level: 'info', msg: 'rounds are written to the store again', fields: { failed: 0, written: 1, seconds: 60 } });
  // The trouble is over: rounds written say nothing more.
  failures.committed();
  time.advance(20_000);
  expect(lines).toHaveLength(3);
  expect(time.pending()).toBe(0);
});

test('rounds that fail and succeed by turns (a log file that keeps filling) give one line per interval, not one per round', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const failures = new RoundFailureLog(logger, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  for (let i = 0; i < 300; i++) {
    time.advance(100);
    if (i % 3 === 0) failures.failed(diskFull(`${i}.log`));
    else failures.committed();
  }
  // 30 s of rounds: the first failure at once, then one line per 10 s at most.
  expect(lines.length).toBeLessThanOrEqual(4);
  expect(lines[0]!.level).toBe('error');
  const counted = lines.reduce((sum, l) => sum + (l.fields.failed as number), 0);
  time.advance(10_000);
  const total = lines.reduce((sum, l) => sum + (l.fields.failed as number), 0);
  // Every failed round is counted in some line once the last one is out, and the last line says rounds are written again.
  expect(total).toBe(100);
  expect(counted).toBeLessThanOrEqual(total);
  expect(lines.at(-1)).toMatchObject({ level: 'info', msg: 'rounds are written to the store again', fields: { lastError: expect.objectContaining({ code: 'LEVEL_IO_ERROR' }) } });
});

test('flush logs what is pending (the server is stopping)', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const failures = new RoundFailureLog(logger, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  failures.failed(new Error('first'));
  time.advance(1_000);
  failures.failed(new Error('second'));
  failures.flush();
  expect(lines.map((l) => [l.level, l.fields.failed, l.fields.error])).toEqual([
    ['error', 1, 'first'],
    ['error', 1, 'second'],
  ]);
  expect(time.pending()).toBe(0);
});

test('after a clock step back, the next line still comes within the interval, not held back by the step', () => {
  const { lines, logger } = capture();
  const time = manualTime();
  const failures = new RoundFailureLog(logger, { intervalMs: 10_000, now: time.now, schedule: time.schedule });
  failures.failed(diskFull('1.log'));
  time.advance(-3_600_000); // the clock goes back an hour
  failures.failed(diskFull('2.log'));
  expect(lines).toHaveLength(1);
  time.advance(10_000);
  expect(lines.map((l) => [l.level, l.fields.failed, l.fields.error])).toEqual([
    ['error', 1, 'IO error: 1.log: write failed'],
    ['error', 1, 'IO error: 2.log: write failed'],
  ]);
  expect(lines[1]!.fields.seconds).toBeGreaterThanOrEqual(0);
});

describe('the default clock is monotonic: steps of the system clock do not move the interval', () => {
  const clocks = spiedClocksEachTest();

  test('a step back of an hour does not hold the next line back: once the interval has passed it is logged at once', () => {
    const { lines, logger } = capture();
    const failures = new RoundFailureLog(logger, { intervalMs: 10_000, schedule: () => () => {} });
    failures.failed(diskFull('1.log'));
    clocks.wall -= 3_600_000; // the system clock steps back an hour
    clocks.mono += 10_100; // while 10.1 s pass
    failures.failed(diskFull('2.log'));
    expect(lines.map((l) => [l.fields.failed, l.fields.error, l.fields.seconds])).toEqual([
      [1, 'IO error: 1.log: write failed', undefined],
      [1, 'IO error: 2.log: write failed', 10],
    ]);
  });

  test('a step forward of an hour does not let a line come before the interval', () => {
    const { lines, logger } = capture();
    const waits: number[] = [];
    const failures = new RoundFailureLog(logger, { intervalMs: 10_000, schedule: (_run, ms) => (waits.push(ms), () => {}) });
    failures.failed(diskFull('1.log'));
    clocks.wall += 3_600_000; // the system clock steps forward an hour
    clocks.mono += 1_000; // while 1 s passes
    failures.failed(diskFull('2.log'));
    expect(lines).toHaveLength(1);
    expect(waits).toEqual([9_000]);
  });
});

describe('a server whose store fails rounds', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  /** Starts a server over a FaultStore, logging to `logger`. */
  async function start(logger: Logger): Promise<{ store: () => FaultStore; post: (body: string) => Promise<number> }> {
    let store: FaultStore | undefined;
    server = await startServer({
      data: join(dir(), 'data'),
      host: '127.0.0.1',
      port: 0,
      logger,
      wrapStore: (inner) => (store = new FaultStore(inner)),
    });
    const url = server.url;
    return {
      store: () => store!,
      post: async (body) => (await fetch(`${url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body })).status,
    };
  }

  test('logs the failure with its reason, and that rounds are written again once they are', async () => {
    const { lines, logger } = capture();
    const { store, post } = await start(logger);
    expect(await post('before')).toBe(201);
    expect(lines.filter((l) => l.level !== 'info')).toEqual([]);
    store().failNextWrites(3);
    for (const body of ['a', 'b', 'c']) expect(await post(body)).toBe(503);
    expect(store().injectedWriteFaults).toBe(3);
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors[0]).toEqual({
      level: 'error',
      msg: expect.stringMatching(/could not be written to the store/),
      fields: expect.objectContaining({ failed: 1, error: expect.stringMatching(/injected write fault \(before\)/) }),
    });
    expect(await post('after')).toBe(201);
    await server!.close();
    // Whether the rest came at once or were pending, by the time the server has stopped every failed round is counted.
    const rounds = lines.filter((l) => l.msg !== 'request');
    expect(rounds.reduce((sum, l) => sum + (l.fields.failed as number), 0)).toBe(3);
    expect(rounds.at(-1)).toMatchObject({ level: 'info', msg: 'rounds are written to the store again' });
  });

  test('with the request lines dropped (serve --quiet), the failure is still logged', async () => {
    const { lines, logger } = capture();
    const { store, post } = await start(withoutRequestLines(logger));
    expect(await post('one')).toBe(201);
    store().failNextWrites(1);
    expect(await post('two')).toBe(503);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([['error', expect.stringMatching(/could not be written to the store/)]]);

    // The same server's request lines, unfiltered, are there: the filter drops what the HTTP layer logs per request.
    const all = capture();
    await server!.close();
    const again = await start(all.logger);
    expect(await again.post('three')).toBe(201);
    expect(all.lines.filter((l) => l.msg === 'request')).toHaveLength(1);
  });
});

test('serve --quiet under a file size limit (a full disk) logs why writes fail, and no request lines', async () => {
  const data = join(dir(), 'data');
  // bash's ulimit -f: no file the server writes may pass 40 KiB, so its store's log soon cannot grow.
  const child = spawn('bash', ['-c', 'ulimit -f 40 && exec "$@"', 'bash', process.execPath, CLI, 'serve', '--quiet', '--port', '0', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (m !== null) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`serve exited before listening: ${stdout} ${stderr}`)));
  });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 200 && !statuses.includes(503); i++) {
      const body = Buffer.alloc(2048, `entry ${i} `);
      statuses.push((await fetch(`${url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body })).status);
    }
    expect(statuses).toContain(503);
    expect(statuses.filter((s) => s !== 201 && s !== 503)).toEqual([]);
  } finally {
    child.kill('SIGTERM');
    await exited;
    clearTimeout(kill);
  }
  const lines = stderr
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { level: string; msg: string; error?: string });
  expect(lines.filter((l) => l.msg === 'request')).toEqual([]);
  expect(lines[0]).toMatchObject({ level: 'error', msg: expect.stringMatching(/could not be written to the store/), error: expect.stringMatching(/File too large/) });
});
