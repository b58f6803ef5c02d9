// The benchmark's per-thread CPU readings (scripts/bench/cpu.ts): the /proc
// line parsing, the arithmetic per answer, and a reading of a busy child process.
import { spawn } from 'node:child_process';
import { cpuPerAnswer, statTicks, threadCpu } from '../../scripts/bench/cpu.js';

test('statTicks adds utime and stime, counting fields after the last parenthesis of the name', () => {
  // Fields 14 and 15 of proc(5) are 1234 and 56; the name holds spaces and a ')'.
  const line = '4242 (node (a) b) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 56 0 0 20 0 11 0 777 1000 200';
  expect(statTicks(line)).toBe(1290);
  expect(statTicks('4242 (plain) R 1 2 3 4 5 6 7 8 9 10 11 12 13 0 0')).toBe(23);
  expect(statTicks('no name here')).toBeNaN();
});

test('cpuPerAnswer gives µs per answer for each part and their sum', () => {
  const per = cpuPerAnswer({ main: 10, others: 2 }, { main: 10.5, others: 2.25 }, 25_000);
  expect(per!.main).toBeCloseTo(20, 9); // 0.5 s over 25,000 answers
  expect(per!.others).toBeCloseTo(10, 9);
  expect(per!.all).toBeCloseTo(30, 9);
  expect(cpuPerAnswer(undefined, { main: 1, others: 1 }, 10)).toBeUndefined();
  expect(cpuPerAnswer({ main: 1, others: 1 }, { main: 2, others: 1 }, 0)).toBeUndefined();
});

test('threadCpu reads the CPU time of a child process, its spinning main thread apart from the rest', async () => {
  // The child spins until it has used 300 ms of CPU, reports its own count
  // (all threads, µs), then idles until stdin closes.
  const script = 'while (process.cpuUsage().user < 300000); const u = process.cpuUsage(); process.stdout.write(String(u.user + u.system)); process.stdin.resume()';
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const own = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString()) / 1e6)));
    const cpu = threadCpu(child.pid!);
    expect(cpu).toBeDefined();
    // /proc counts in clock ticks (10 ms): allow a few either way.
    expect(cpu!.main).toBeGreaterThan(0.25);
    expect(cpu!.main + cpu!.others).toBeGreaterThan(own - 0.05);
    expect(cpu!.main + cpu!.others).toBeLessThan(own + 0.5);
    expect(cpu!.others).toBeGreaterThanOrEqual(0);
  } finally {
    child.stdin.end();
    await new Promise((resolve) => child.once('exit', resolve));
  }
  expect(threadCpu(child.pid!)).toBeUndefined(); // gone
});
