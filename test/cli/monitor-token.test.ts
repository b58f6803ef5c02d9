// cairn monitor against a log whose reads need a token: a round refused with
// 401 or 403 says where cairn takes the token from, as the other client
// commands do, and a round with the token passes.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorCommand } from '../../src/cli/monitor.js';
import { hashToken } from '../../src/http/access.js';
import { useCliServer } from '../helpers/cli-server.js';
import { captureIo } from './client-io.js';

const READER = 'reader-secret-token-0123456789';
const SUBMITTER = 'submitter-secret-token-0123456789';
const t = useCliServer('cairn-cli-monitor-token-', async (dir) => {
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, `viewer read ${hashToken(READER)}\nci submit ${hashToken(SUBMITTER)}\n`, { mode: 0o600 });
  return { tokens, privateReads: true };
});

test("a monitor round refused 401 or 403 keeps the log's words and adds where the token goes (CAIRN_TOKEN); with a reader's token it passes", async () => {
  await t.server.log.submit([new TextEncoder().encode('monitored')]);
  const args = (name: string) => [...t.common, '--once', '--state', join(t.dir, name)];
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /401 UNAUTHORIZED: .*; this log needs an access token: put it in the environment variable CAIRN_TOKEN/],
    [{ CAIRN_TOKEN: 'not-the-token' }, /401 UNAUTHORIZED: .*; the log does not take the token in CAIRN_TOKEN: check it/],
  ];
  for (const [env, message] of cases) {
    const io = captureIo({ env });
    expect(await monitorCommand(args('refused.json'), io)).toBe(2);
    expect(io.err()).toMatch(new RegExp(`^\\S+ error: .*${message.source}`, 'm'));
  }
  const io = captureIo({ env: { CAIRN_TOKEN: READER } });
  expect(await monitorCommand(args('read.json'), io)).toBe(0);
});
