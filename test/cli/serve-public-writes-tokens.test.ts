// serve --tokens FILE --public-writes: writes and reads are open, and the
// tokens still guard /metrics (role admin). The start-up lines' access
// summary and --help say so, rather than that writes need a token; with
// --private it is refused.
import { chmod, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { accessOptionsProblem, startServer, type RunningServer } from '../../src/cli/server.js';
import { SERVE_USAGE } from '../../src/cli/serve.js';
import { hashToken } from '../../src/http/access.js';
import { runCli } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-public-writes-tokens-');

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function tokenFile(lines: string[]): Promise<string> {
  const path = join(dir(), 'tokens');
  await writeFile(path, `${lines.join('\n')}\n`);
  await chmod(path, 0o600);
  return path;
}

test('with --public-writes the tokens guard /metrics, and the access summary says so', async () => {
  const tokens = await tokenFile([`ops admin ${hashToken('ops-token-0123456789')}`, `ci submit ${hashToken('ci-token-0123456789')}`]);
  server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, tokens, publicWrites: true });
  expect(server.accessSummary).toBe('writes open to anyone, reads open to anyone, /metrics needs a token of role admin (1 has it)');
  const added = await fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: 'open' });
  expect(added.status).toBe(201);
  // A token sent where none is needed is still checked.
  const unknown = await fetch(`${server.url}/v1/entries`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', Authorization: 'Bearer not-a-known-token' }, body: 'x' });
  expect(unknown.status).toBe(401);
  expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
  expect((await fetch(`${server.url}/metrics`, { headers: { Authorization: 'Bearer ci-token-0123456789' } })).status).toBe(403);
  expect((await fetch(`${server.url}/metrics`, { headers: { Authorization: 'Bearer ops-token-0123456789' } })).status).toBe(200);
});

test('a token file without an admin token: the summary says nobody may read /metrics', async () => {
  const tokens = await tokenFile([`ci submit ${hashToken('ci-token-0123456789')}`, `r read ${hashToken('r-token-0123456789')}`]);
  server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, tokens });
  expect(server.accessSummary).toBe('writes need a token (1 with role submit or admin), reads open to anyone, /metrics needs a token of role admin (none has it)');
});

test("--help says what tokens do with --public-writes, not that writes then need one", () => {
  expect(SERVE_USAGE).not.toMatch(/--tokens <file> +access tokens \(CAIRN_TOKENS\): writes then need/);
  expect(SERVE_USAGE).toMatch(/\/metrics then needs one of role admin,\s+writes one of role submit or admin \(unless\s+--public-writes\)/);
  expect(SERVE_USAGE).toMatch(/with --tokens, the tokens then guard \/metrics/);
});

test('--private with --public-writes is refused: a write\'s receipt would tell anyone what reads keep to token holders', async () => {
  const why = /^--private and --public-writes do not go together: a write is answered with a receipt \(a signed checkpoint, an inclusion proof and, for an entry logged before, its index\), so anyone could read what --private keeps to token holders, and learn whether an entry is logged by submitting it\. Give each submitter a token of role submit in the --tokens file instead, and leave out --public-writes$/;
  for (const tokens of [true, false]) expect(accessOptionsProblem('127.0.0.1', { tokens, publicWrites: true, privateReads: true })).toMatch(why);
  // cairn serve: a usage error (exit 2), before anything is made on disk.
  const tokens = await tokenFile([`r read ${hashToken('r-token-0123456789')}`]);
  const data = join(dir(), 'data');
  const run = await runCli(['serve', '--data', data, '--port', '0', '--tokens', tokens, '--private', '--public-writes']);
  expect([run.code, run.stdout]).toEqual([2, '']);
  expect(run.stderr).toMatch(/^cairn serve: --private and --public-writes do not go together: .*\nRun 'cairn serve --help' for its options\.\n$/);
  await expect(stat(data)).rejects.toThrow(/ENOENT/);
  // startServer refuses it too, and --help says so.
  await expect(startServer({ data, host: '127.0.0.1', port: 0, tokens, publicWrites: true, privateReads: true })).rejects.toThrow(why);
  expect(SERVE_USAGE).toMatch(/Not with --private: a write's receipt \(checkpoint,\s+proof, the index of an entry logged before\) would tell\s+anyone what reads keep to token holders; give\s+submitters tokens of role submit instead/);
});

test('--help says what a token may be made of, and its length limit', () => {
  expect(SERVE_USAGE).toMatch(/A token is 1 to 512\s+characters: letters, digits and - \. _ ~ \+ \/, then at\s+its end any number of =/);
});
