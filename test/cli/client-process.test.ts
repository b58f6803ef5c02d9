// The client commands through the real `cairn` binary (dist/, built by
// `npm test` before jest runs), as a user runs them: exit statuses, stdout
// and stderr across a process boundary, and a pipe between two commands.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

let dir: string;
let server: ServerProcess;
let vkey: string;

const runWithStdin = (args: string[], stdin: string) => runCli(args, {}, stdin);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-client-process-'));
  server = await startServerProcess(['--data', join(dir, 'data'), '--origin', 'process.test/log']);
  vkey = /verifier key: (\S+)/.exec(server.stdout())![1]!;
});
afterAll(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

test('cairn lists the client commands and each has --help', async () => {
  const top = await runCli(['--help']);
  for (const name of ['add', 'get', 'prove', 'verify-receipt', 'monitor', 'audit']) {
    expect(top.stdout).toMatch(new RegExp(`\\n  ${name} +\\S`));
    const help = await runCli([name, '--help']);
    expect([name, help.code]).toEqual([name, 0]);
    expect(help.stdout).toMatch(/Exit status:/);
  }
});

test('add from a pipe, verify the receipt offline, get, prove, monitor; audit refuses a running store', async () => {
  const added = await runWithStdin(['add', '--url', server.url, '--vkey', vkey, '--json-lines'], '{"n":1}\n{"n":2}\n');
  expect(added.code).toBe(0);
  const receipts = added.stdout.trim().split('\n');
  expect(receipts.length).toBe(2);
  expect(added.stderr).toMatch(/logged 2 entries/);

  await writeFile(join(dir, 'receipt.json'), receipts[1]!);
  await writeFile(join(dir, 'entry.json'), '{ "n": 2 }');
  const ok = await runCli(['verify-receipt', join(dir, 'receipt.json'), '--entry', join(dir, 'entry.json'), '--jcs', '--vkey', vkey]);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toMatch(/^valid: the entry is leaf 1 of process\.test\/log/);
  const bad = await runCli(['verify-receipt', join(dir, 'receipt.json'), '--entry', join(dir, 'entry.json'), '--vkey', vkey]);
  expect(bad.code).toBe(1);

  const got = await runCli(['get', '1', '--url', server.url, '--vkey', vkey, '--raw']);
  expect([got.code, got.stdout]).toEqual([0, '{"n":2}']);
  expect((await runCli(['prove', '5', '--url', server.url, '--vkey', vkey])).code).toBe(3);
  const proved = await runCli(['prove', '--entry', join(dir, 'entry.json'), '--jcs', '--tiles', '--url', server.url, '--vkey', vkey, '--json']);
  expect(proved.code).toBe(0);
  expect(JSON.parse(proved.stdout)).toMatchObject({ leaf_index: 1, tree_size: 2, source: 'tiles' });

  const watched = await runCli(['monitor', '--once', '--url', server.url, '--vkey', vkey, '--state', join(dir, 'state.json')]);
  expect(watched.code).toBe(0);
  expect(watched.stdout).toMatch(/verified process\.test\/log at tree size 2/);

  const audit = await runCli(['audit', '--data', join(dir, 'data')]);
  expect(audit.code).toBe(2);
  expect(audit.stderr).toMatch(/in use/);
  expect((await runCli(['add', '--url', server.url])).code).toBe(2);
});
