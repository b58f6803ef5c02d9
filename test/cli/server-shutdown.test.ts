// Stopping the server (RunningServer.close, which SIGTERM calls): requests in
// progress get a grace period, then their connections are cut, so a stalled
// upload cannot keep a stopping server alive.
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../src/cli/server.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-shutdown-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('close() cuts an upload that stalls once the grace period is over, and what was logged stays', async () => {
  const server = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0, shutdownGraceMs: 200 });
  const added = await fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: 'before the stop' });
  expect(added.status).toBe(201);
  const url = new URL(server.url);
  // Headers and half of the body, then nothing more.
  const stalled = request({ host: url.hostname, port: url.port, path: '/v1/entries', method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': 100 } });
  const cut = new Promise<string>((resolve) => {
    stalled.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    stalled.on('response', (res) => resolve(`answered ${res.statusCode}`));
  });
  stalled.write(Buffer.alloc(50, 1));
  await new Promise((r) => setTimeout(r, 50));
  await server.close();
  expect(await cut).toBe('ECONNRESET');
  expect(server.log.latest().treeSize).toBe(1);
  const again = await startServer({ data: join(dir, 'data'), host: '127.0.0.1', port: 0 });
  try {
    expect(again.log.latest().treeSize).toBe(1);
  } finally {
    await again.close();
  }
});
