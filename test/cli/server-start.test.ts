// Starting the server (startServer, which `cairn serve` runs): what it makes
// on disk, and in which order, when it cannot start or another server starts
// on the same data folder at the same moment.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { readKeyFile } from '../../src/cli/key-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-start-');

test('of two servers started at once on one fresh data folder, one starts and the other says the folder is in use, leaving the key alone', async () => {
  const data = join(dir(), 'data');
  const made: string[] = [];
  const config = { data, host: '127.0.0.1', port: 0, onKeyCreated: (path: string) => made.push(path) };
  const results = await Promise.allSettled([startServer(config), startServer(config)]);
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  try {
    expect([started.length, refused.length]).toEqual([1, 1]);
    expect(refused[0]!.message).toBe(`the data folder ${data} is in use by another Cairn process (a server running or starting on it holds its store's lock); stop that one first`);
    expect(made).toEqual([join(data, 'log.key')]);
    const server = started[0] as RunningServer;
    expect((await readKeyFile(join(data, 'log.key'))).verifierKey).toBe(server.verifierKey);
    const health = await fetch(`${server.url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok', tree_size: 0 });
  } finally {
    for (const server of started) await server.close();
  }
  expect((await readFile(join(data, 'log.key'), 'utf8')).startsWith('PRIVATE+KEY+cairn.localhost/log+')).toBe(true);
});
