// `cairn serve` as a real process: SIGHUP stops it as SIGTERM does (the rounds
// under way finish, the store is closed, exit status 0) instead of killing it
// at once; and the token file is read at start only, so revoking a token
// takes a restart, as the help and the README say.
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashToken } from '../../src/http/access.js';
import { runCli, startServerProcess } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-signals-');

async function writeTokens(path: string, lines: string[]): Promise<void> {
  await writeFile(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}

const post = (url: string, body: string, token: string) =>
  fetch(`${url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', Authorization: `Bearer ${token}` }, body });

test('SIGHUP stops serve cleanly (exit 0, store closed, entries kept); a token removed from the file works until the restart', async () => {
  const data = join(dir(), 'data');
  const tokens = join(dir(), 'tokens');
  const [keep, revoke] = ['token-that-stays-aaaaaaaaaaaa', 'token-to-revoke-bbbbbbbbbbbbb'];
  await writeTokens(tokens, [`keep submit ${hashToken(keep)}`, `old submit ${hashToken(revoke)}`]);
  const first = await startServerProcess(['--data', data, '--tokens', tokens]);
  let code: number | null;
  try {
    expect((await post(first.url, 'one', revoke)).status).toBe(201);
    await writeTokens(tokens, [`keep submit ${hashToken(keep)}`]);
    // Read at start only: the running server still knows the old token.
    expect((await post(first.url, 'two', revoke)).status).toBe(201);
  } finally {
    code = await first.stop('SIGHUP');
  }
  expect(first.child.signalCode).toBeNull(); // not killed by the signal
  expect(code).toBe(0);
  // The store was closed (its lock let go) and holds both entries.
  const second = await startServerProcess(['--data', data, '--tokens', tokens]);
  try {
    expect(((await (await fetch(`${second.url}/v1/log`)).json()) as { tree_size: number }).tree_size).toBe(2);
    expect((await post(second.url, 'three', revoke)).status).toBe(401);
    expect((await post(second.url, 'three', keep)).status).toBe(201);
  } finally {
    expect(await second.stop('SIGTERM')).toBe(0);
  }
});

test('the serve help says SIGHUP stops it too, and that tokens and the key are read at start only', async () => {
  const { code, stdout } = await runCli(['serve', '--help']);
  expect(code).toBe(0);
  const text = stdout.replace(/\s+/g, ' ');
  expect(text).toMatch(/SIGINT, SIGTERM or SIGHUP finishes the rounds under way and stops/);
  expect(text).toMatch(/token file and the key are read at start only/);
});
