// The real `cairn serve` process (issue 6 "Access"): it refuses to listen
// publicly with no tokens, checks its token and key files, enforces tokens,
// and never shows its private key in logs, errors or responses.
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashToken } from '../../src/http/access.js';
import { parseSignerKey } from '../../src/note/keys.js';
import { encodeBase64 } from '../../src/note/base64.js';
import { spawn } from 'node:child_process';
import { CLI, runCli, startServerProcess } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

/** `cairn serve` with its request log on (startServerProcess runs it --quiet). */
function startLoudServer(args: string[]): Promise<{ url: string; stdout: () => string; stderr: () => string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${out} ${err}`));
    }, 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      resolve({
        url: m[1]!,
        stdout: () => out,
        stderr: () => err,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${out} ${err}`));
    });
  });
}

const headerText = (headers: Headers): string => {
  const out: string[] = [];
  headers.forEach((value, name) => out.push(`${name}: ${value}`));
  return out.join('\n');
};
const dir = useTempDir('cairn-sec-');

async function tokenFile(lines: string[], mode = 0o600): Promise<string> {
  const path = join(dir(), 'tokens');
  await writeFile(path, `${lines.join('\n')}\n`, { mode });
  await chmod(path, mode);
  return path;
}

test('serve refuses a non-loopback address with no tokens, before opening anything, and says what to do: a usage error (exit 2)', async () => {
  for (const host of ['0.0.0.0', '::', '192.0.2.1']) {
    const res = await runCli(['serve', '--data', join(dir(), 'd'), '--host', host, '--port', '0']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/refusing to listen on .* with no access tokens.*\nRun 'cairn serve --help' for its options\.\n$/);
    expect(res.stderr).toMatch(/--tokens FILE/);
    expect(res.stderr).toMatch(/--public-writes/);
    expect(res.stdout).not.toMatch(/listening on/);
  }
  // With --public-writes or --tokens the refusal is gone: 192.0.2.1 (TEST-NET-1) is not ours,
  // so it then fails to bind instead, without anything being reachable.
  const tokens = await tokenFile([`ci submit ${hashToken('t')}`]);
  for (const extra of [['--public-writes'], ['--tokens', tokens]]) {
    const res = await runCli(['serve', '--data', join(dir(), 'd'), '--host', '192.0.2.1', '--port', '0', ...extra]);
    expect(res.code).toBe(1);
    expect(res.stderr).not.toMatch(/refusing to listen/);
    expect(res.stderr).toMatch(/EADDRNOTAVAIL|listen/);
  }
});

test('serve refuses a token file others may write, and --private without tokens', async () => {
  const tokens = await tokenFile([`ci submit ${hashToken('t')}`], 0o666);
  const open = await runCli(['serve', '--data', join(dir(), 'd'), '--port', '0', '--tokens', tokens]);
  expect(open.code).toBe(1);
  expect(open.stderr).toMatch(/writable by group or others.*chmod go-w/);
  // --private without --tokens is a usage error (exit 2), said before anything is made on disk.
  const priv = await runCli(['serve', '--data', join(dir(), 'd'), '--port', '0', '--private']);
  expect([priv.code, priv.stdout, priv.stderr]).toEqual([2, '', "cairn serve: --private needs --tokens FILE: nobody could read the log\nRun 'cairn serve --help' for its options.\n"]);
  await expect(stat(join(dir(), 'd'))).rejects.toThrow(/ENOENT/);
  const help = await runCli(['serve', '--help']);
  for (const flag of ['--tokens', '--public-writes', '--private', '--max-upload-mib', 'sha256sum', 'Memory']) expect(help.stdout).toContain(flag);
});

test('serve refuses a key file group or others may read, saying how to fix it, without showing the key', async () => {
  const key = join(dir(), 'log.key');
  expect((await runCli(['keygen', '--origin', 'sec.example/log', '--out', key])).code).toBe(0);
  const secret = (await readFile(key, 'utf8')).trim();
  // PRIVATE+KEY+<origin>+<hash>+<base64>: the base64 itself may hold '+'.
  const seed = secret.split('+').slice(4).join('+');
  expect(seed).toHaveLength(44);
  for (const mode of [0o640, 0o604, 0o660, 0o606, 0o610]) {
    await chmod(key, mode);
    const res = await runCli(['serve', '--data', join(dir(), 'd'), '--key', key, '--port', '0']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/accessible by group or others.*chmod 600/);
    expect(res.stderr + res.stdout).not.toContain(seed);
  }
  await chmod(key, 0o600);
  const ok = await startServerProcess(['--data', join(dir(), 'd'), '--key', key, '--new-log']);
  await ok.stop();
});

test('with --tokens the real server enforces roles; the key never appears in logs, errors or responses', async () => {
  const submit = 'submit-token-for-the-real-server';
  const admin = 'admin-token-for-the-real-server';
  const tokens = await tokenFile([`ci submit ${hashToken(submit)}`, `ops admin ${hashToken(admin)} 1000/s`]);
  // Not --quiet: request logs go to stderr, and are searched for the key below.
  const server = await startLoudServer(['--data', dir(), '--tokens', tokens, '--origin', 'sec.example/log']);
  const bodies: string[] = [];
  try {
    expect(server.stdout()).toMatch(/access: writes need a token \(2 with role submit or admin\), reads open to anyone/);
    const post = async (path: string, type: string | undefined, body: BodyInit, token?: string) => {
      const headers: Record<string, string> = {};
      if (type !== undefined) headers['Content-Type'] = type;
      if (token !== undefined) headers.Authorization = `Bearer ${token}`;
      const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body });
      bodies.push(headerText(res.headers), await res.text());
      return res.status;
    };
    expect(await post('/v1/entries', 'application/octet-stream', 'no token')).toBe(401);
    expect(await post('/v1/entries', 'application/octet-stream', 'wrong token', 'nope')).toBe(401);
    expect(await post('/v1/entries', 'application/octet-stream', 'entry one', submit)).toBe(201);
    expect(await post('/v1/batch', 'application/json', JSON.stringify({ entries: [encodeBase64(new TextEncoder().encode('two'))] }), admin)).toBe(200);
    // Every kind of error the server can give.
    expect(await post('/v1/entries', 'application/json', '{"a":1,"a":1}', submit)).toBe(400);
    expect(await post('/v1/entries', 'text/plain', 'x', submit)).toBe(415);
    expect(await post('/v1/entries', 'application/octet-stream', new Uint8Array(70_000), submit)).toBe(413);
    expect(await post('/v1/batch', 'application/json', '{"entries":["***"]}', submit)).toBe(400);
    for (const path of [
      '/checkpoint',
      '/ct/v1/get-sth',
      '/ct/v1/get-sth-consistency?first=1&second=2',
      '/ct/v1/get-entries?start=0&end=9',
      '/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=2',
      '/ct/v1/get-entry-and-proof?leaf_index=9&tree_size=2',
      '/tile/0/000.p/2',
      '/tile/entries/000.p/2',
      '/tile/0/000',
      '/v1/log',
      '/healthz',
      '/metrics',
      '/nope',
    ]) {
      for (const token of [undefined, admin]) {
        const res = await fetch(`${server.url}${path}`, token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } });
        bodies.push(headerText(res.headers), await res.text());
      }
    }
    const del = await fetch(`${server.url}/v1/entries`, { method: 'DELETE', headers: { Authorization: `Bearer ${admin}` } });
    expect(del.status).toBe(405);
    bodies.push(await del.text());
  } finally {
    expect(await server.stop()).toBe(0);
  }
  const secret = (await readFile(join(dir(), 'log.key'), 'utf8')).trim();
  const { seed } = parseSignerKey(secret);
  const encodedSeed = secret.split('+').slice(4).join('+'); // the base64 may itself hold '+'
  expect(encodedSeed).toHaveLength(44);
  const forbidden = [secret, encodedSeed, Buffer.from(seed).toString('hex'), Buffer.from(seed).toString('base64'), 'PRIVATE+KEY', submit, admin];
  const stderr = server.stderr();
  const everything = [server.stdout(), stderr, ...bodies].join('\n');
  expect(stderr).toMatch(/"msg":"request"/); // the request log was really searched
  expect(everything).toMatch(/sec\.example\/log/); // and so were the responses
  for (const f of forbidden) expect(everything).not.toContain(f);
});
