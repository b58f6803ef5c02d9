// ResponseBatch (src/http/response-batch.ts) holds ended responses until the
// scheduled flush, then writes them in order; one failing write neither stops
// the others nor escapes.
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ResponseBatch } from '../../src/http/response-batch.js';

/** A stand-in for a response that records what was written, in a shared log. */
function fakeResponse(name: string, log: string[], fail = false): ServerResponse {
  return {
    end(body: string) {
      if (fail) throw new Error(`${name} is gone`);
      log.push(`${name}:${body}`);
    },
  } as unknown as ServerResponse;
}

/** A batch whose flushes run only when the test says so. */
function manualBatch(errors: unknown[] = []) {
  const flushes: (() => void)[] = [];
  const batch = new ResponseBatch(
    (err) => errors.push(err),
    (flush) => flushes.push(flush),
  );
  return { batch, flushes, errors };
}

test('nothing is written before the flush; then everything, in the order ended', () => {
  const log: string[] = [];
  const { batch, flushes } = manualBatch();
  batch.end(fakeResponse('a', log), '1');
  batch.end(fakeResponse('b', log), '2');
  batch.end(fakeResponse('c', log), '3');
  expect(log).toEqual([]);
  expect(batch.pending).toBe(3);
  expect(flushes).toHaveLength(1); // one flush per batch, not per response
  flushes[0]!();
  expect(log).toEqual(['a:1', 'b:2', 'c:3']);
  expect(batch.pending).toBe(0);
});

test('the written callback runs after its own response is written, not before', () => {
  const log: string[] = [];
  const { batch, flushes } = manualBatch();
  batch.end(fakeResponse('a', log), 'x', () => log.push('after a'));
  batch.end(fakeResponse('b', log), 'y', () => log.push('after b'));
  expect(log).toEqual([]);
  flushes[0]!();
  expect(log).toEqual(['a:x', 'after a', 'b:y', 'after b']);
});

test('a response whose end throws is reported; the rest of its batch is still written', () => {
  const log: string[] = [];
  const { batch, flushes, errors } = manualBatch();
  const after: string[] = [];
  batch.end(fakeResponse('a', log), '1', () => after.push('a'));
  batch.end(fakeResponse('b', log, true), '2', () => after.push('b'));
  batch.end(fakeResponse('c', log), '3', () => after.push('c'));
  expect(() => flushes[0]!()).not.toThrow();
  expect(log).toEqual(['a:1', 'c:3']);
  expect(after).toEqual(['a', 'c']);
  expect(errors).toHaveLength(1);
  expect(String(errors[0])).toContain('b is gone');
});

test('a response ended while a batch is written waits for the next flush', () => {
  const log: string[] = [];
  const { batch, flushes } = manualBatch();
  batch.end(fakeResponse('a', log), '1', () => batch.end(fakeResponse('late', log), '2'));
  flushes[0]!();
  expect(log).toEqual(['a:1']);
  expect(batch.pending).toBe(1);
  expect(flushes).toHaveLength(2);
  flushes[1]!();
  expect(log).toEqual(['a:1', 'late:2']);
});

test('with the default schedule, responses ended in one turn of the loop reach real clients', async () => {
  const errors: unknown[] = [];
  const batch = new ResponseBatch((err) => errors.push(err));
  let ended = 0;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    batch.end(res, `you asked for ${req.url}`, () => ended++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const bodies = await Promise.all(
      ['/one', '/two', '/three'].map(async (path) => (await fetch(`http://127.0.0.1:${port}${path}`)).text()),
    );
    expect(bodies).toEqual(['you asked for /one', 'you asked for /two', 'you asked for /three']);
    expect(ended).toBe(3);
    expect(errors).toEqual([]);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
