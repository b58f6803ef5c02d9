// The monitor's state file is what it trusts about the log's past (its
// fields other than the signed notes are taken as they stand), so only its
// owner may change it: written 0600 whatever the umask; a file open to group
// or others (as cairn wrote it before, 0644) is closed when it is rewritten,
// with a warning; one its owner made narrower is not widened.
import { chmod, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorCommand } from '../../src/cli/monitor.js';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { captureIo } from './client-io.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-monitor-mode-');

let server: RunningServer;
let umask: number;

beforeEach(async () => {
  server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0 });
  // No umask to take group and other bits away: the mode is the monitor's own.
  umask = process.umask(0);
});

afterEach(async () => {
  process.umask(umask);
  await server.close();
});

const mode = async (path: string) => (await stat(path)).mode % 0o1000;

async function monitorOnce(state: string, json = false) {
  const io = captureIo();
  const code = await monitorCommand(['--url', server.url, '--vkey', server.verifierKey, '--state', state, '--once', ...(json ? ['--json'] : [])], io);
  return { code, io };
}

test('a new state file is written 0600, and stays so when rewritten, with no warning', async () => {
  const state = join(dir(), 'state.json');
  const first = await monitorOnce(state);
  expect(first.code).toBe(0);
  expect(await mode(state)).toBe(0o600);
  const again = await monitorOnce(state);
  expect(again.code).toBe(0);
  expect(again.io.err()).not.toContain('warning');
  expect(await mode(state)).toBe(0o600);
});

test('a state file open to group or others (0644, as cairn wrote it before) is rewritten 0600, with a warning', async () => {
  const state = join(dir(), 'state.json');
  expect((await monitorOnce(state)).code).toBe(0);
  await chmod(state, 0o644);
  const { code, io } = await monitorOnce(state);
  expect(code).toBe(0);
  expect(await mode(state)).toBe(0o600);
  expect(io.err()).toMatch(new RegExp(`^\\S+ warning: the state file ${state.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} was open to group or others \\(mode 644\\); it is now 600, so that only this user can change what the monitor trusts\n`, 'm'));
  // Said once: the next rewrite finds it closed.
  const next = await monitorOnce(state);
  expect(next.io.err()).not.toContain('warning');
});

test('with --json, the warning is an event on standard output', async () => {
  const state = join(dir(), 'state.json');
  expect((await monitorOnce(state)).code).toBe(0);
  await chmod(state, 0o664);
  const { code, io } = await monitorOnce(state, true);
  expect(code).toBe(0);
  const events = io.out().trim().split('\n').map((line) => JSON.parse(line) as { event: string; message?: string });
  expect(events.filter((e) => e.event === 'warning')).toEqual([
    expect.objectContaining({ message: `the state file ${state} was open to group or others (mode 664); it is now 600, so that only this user can change what the monitor trusts` }),
  ]);
  expect(await mode(state)).toBe(0o600);
});

test('a state file its owner made read-only (0400) is not widened when rewritten', async () => {
  const state = join(dir(), 'state.json');
  expect((await monitorOnce(state)).code).toBe(0);
  await chmod(state, 0o400);
  const { code, io } = await monitorOnce(state);
  expect(code).toBe(0);
  expect(io.err()).not.toContain('warning');
  expect(await mode(state)).toBe(0o400);
});
