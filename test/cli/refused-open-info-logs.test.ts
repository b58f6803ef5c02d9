// `cairn serve` and `cairn audit` refused by a store check, one start after
// another (a service manager restarting serve): LevelDB's info logs, LOG and
// LOG.old, keep what they held, as the refusal says nothing in the store was
// changed (LevelDB starts LOG anew as it begins any open, a lock probe too).
import { cp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer } from '../../src/cli/server.js';
import { CairnClient } from '../../src/client/client.js';
import { runCli } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir('cairn-refused-info-logs-');

/** LOG's and LOG.old's bytes in `db`, base64, undefined for one missing. */
async function infoLogs(db: string): Promise<(string | undefined)[]> {
  return Promise.all(['LOG', 'LOG.old'].map((name) => readFile(join(db, name)).then((bytes) => bytes.toString('base64'), () => undefined)));
}

test('serve and audit refused for a missing live write-ahead log, again and again, leave LOG and LOG.old as they were', async () => {
  const data = join(tempDir(), 'data');
  // Two runs: LOG tells of the second, LOG.old of the first.
  for (let run = 0; run < 2; run++) {
    const server = await startServer({ data, host: '127.0.0.1', port: 0, origin: 'o.example/log' });
    await new CairnClient({ baseUrl: server.url, verifierKey: server.verifierKey }).addEntry(new TextEncoder().encode(`entry ${run}`));
    await server.close();
  }
  const db = join(data, 'db');
  const [live] = (await readdir(db)).filter((n) => n.endsWith('.log')).sort().reverse();
  await rm(join(db, live!));
  const before = await infoLogs(db);
  expect(before.every((bytes) => bytes !== undefined && bytes.length > 0)).toBe(true);
  await cp(data, join(tempDir(), 'copy'), { recursive: true });
  for (let i = 0; i < 2; i++) {
    const served = await runCli(['serve', '--port', '0', '--data', data]);
    expect(served.code).toBe(1);
    expect(served.stderr).toMatch(/^cairn serve: .*names as live, is missing: .*The store was not opened and nothing in it was changed; put that file back, or restore the store from a backup\n$/);
    expect(await infoLogs(db)).toEqual(before);
  }
  for (let i = 0; i < 2; i++) {
    const audited = await runCli(['audit', '--data', data]);
    expect(audited.code).toBe(1);
    expect(audited.stdout).toMatch(/^MISMATCH in .* \(store\): .*names as live, is missing: /);
    expect(await infoLogs(db)).toEqual(before);
  }
  // Nothing else was left in the folder either.
  expect((await readdir(db)).sort()).toEqual((await readdir(join(tempDir(), 'copy', 'db'))).sort());
});
