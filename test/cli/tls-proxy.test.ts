// Two logs behind one TLS-terminating reverse proxy, each under its own path
// prefix (https://localhost:P/logs/a/ → log a's /, /logs/b/ → log b's /), as
// nginx's `location /logs/a/ { proxy_pass http://a/; }` serves them. The
// proxy is node's own https server with the test certificate authority's
// certificate; the commands run as processes that trust that authority
// through NODE_EXTRA_CA_CERTS, as the README tells users to. Every command
// takes the base URL with or without its final '/', and asks for nothing
// outside its prefix; a URL given with the other log's key is a
// verification failure that names both origins; without the authority's
// certificate, the failure names TLS and NODE_EXTRA_CA_CERTS.
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import { runCli } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { SERVER_CERT, SERVER_KEY, TEST_CA_CERT } from '../helpers/tls-certs.js';

const dir = useTempDir('cairn-tls-proxy-');

let data: string;
let logA: RunningServer;
let logB: RunningServer;
let proxy: Server;
let proxyUrl: string;
/** The paths (with query) the proxy was asked for, as it was asked. */
const asked: string[] = [];

/** Passes a request under `/logs/<name>/` on to that log, below its `/`; anything else is answered 404 by the proxy itself. */
function forward(req: IncomingMessage, res: ServerResponse): void {
  asked.push(req.url!);
  const m = /^\/logs\/(a|b)(\/.*)$/s.exec(req.url!);
  if (m === null) {
    res.writeHead(404, { 'Content-Type': 'text/html' }).end('<html><title>404 Not Found</title></html>');
    return;
  }
  const target = new URL(m[1] === 'a' ? logA.url : logB.url);
  const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: m[2], headers: { ...req.headers, host: target.host } }, (answer) => {
    res.writeHead(answer.statusCode!, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
}

beforeAll(async () => {
  data = await mkdtemp(join(tmpdir(), 'cairn-tls-proxy-logs-'));
  logA = await startServer({ data: join(data, 'a'), host: '127.0.0.1', port: 0, origin: 'proxy.test/a' });
  logB = await startServer({ data: join(data, 'b'), host: '127.0.0.1', port: 0, origin: 'proxy.test/b' });
  proxy = createHttpsServer({ key: SERVER_KEY, cert: SERVER_CERT }, forward);
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  proxyUrl = `https://localhost:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  proxy.closeAllConnections();
  await new Promise((resolve) => proxy.close(resolve));
  await logA.close();
  await logB.close();
  await rm(data, { recursive: true, force: true });
});

test('every client command works through the proxy under a path prefix, given with or without its final /, and asks only below it', async () => {
  const caFile = join(dir(), 'test-ca.pem');
  await writeFile(caFile, TEST_CA_CERT);
  const trusting = { NODE_EXTRA_CA_CERTS: caFile };
  await writeFile(join(dir(), 'entry'), 'through the proxy\n');
  for (const [log, url] of [
    [logA, `${proxyUrl}/logs/a`],
    [logB, `${proxyUrl}/logs/b/`],
  ] as const) {
    asked.length = 0;
    const env = { ...trusting, CAIRN_URL: url, CAIRN_VKEY: log.verifierKey };
    const added = await runCli(['add', join(dir(), 'entry')], env);
    expect([added.code, added.stderr]).toEqual([0, expect.stringMatching(/^logged 1 entry \(1 new/)]);
    const receipt = join(dir(), 'receipt.json');
    await writeFile(receipt, added.stdout);
    const got = await runCli(['get', '0-', '--json'], env);
    expect([got.code, got.stdout]).toEqual([0, expect.stringContaining('"index":0')]);
    const proved = await runCli(['prove', '--entry', join(dir(), 'entry'), '--tiles', '--json'], env);
    expect([proved.code, JSON.parse(proved.stdout || '{}')]).toEqual([0, expect.objectContaining({ leaf_index: 0, source: 'tiles' })]);
    const online = await runCli(['verify-receipt', receipt, '--entry', join(dir(), 'entry'), '--online'], env);
    expect([online.code, online.stdout]).toEqual([0, expect.stringMatching(/^valid: .*\nconsistent: /s)]);
    const watched = await runCli(['monitor', '--once', '--state', join(dir(), `state-${log === logA ? 'a' : 'b'}.json`)], env);
    expect([watched.code, watched.stdout]).toEqual([0, expect.stringMatching(/ verified proxy\.test\/[ab] at tree size 1/)]);
    // The checkpoint, a batch, entry bundles, tiles and the ct/v1 proofs: each under the prefix, none at the proxy's /.
    const prefix = log === logA ? '/logs/a/' : '/logs/b/';
    expect(asked.filter((path) => !path.startsWith(prefix))).toEqual([]);
    for (const part of ['checkpoint', 'v1/batch', 'ct/v1/', 'tile/0/', 'tile/entries/']) expect([part, asked.some((path) => path.startsWith(prefix + part))]).toEqual([part, true]);
  }
});

test('the other log\'s key for a prefix is a verification failure naming both origins; without the authority\'s certificate the failure names TLS and NODE_EXTRA_CA_CERTS', async () => {
  const caFile = join(dir(), 'test-ca.pem');
  await writeFile(caFile, TEST_CA_CERT);
  // Log b's prefix with log a's key.
  const crossed = await runCli(['get', '0', '--url', `${proxyUrl}/logs/b/`, '--vkey', logA.verifierKey], { NODE_EXTRA_CA_CERTS: caFile });
  expect([crossed.code, crossed.stderr]).toEqual([1, expect.stringContaining("this log's origin is proxy.test/b, the key is for proxy.test/a: is the URL or the key wrong?")]);
  // This process, and so the command, trusts no test certificate authority.
  const untrusted = await runCli(['get', '0', '--url', `${proxyUrl}/logs/a/`, '--vkey', logA.verifierKey], {});
  expect(untrusted.code).toBe(2);
  expect(untrusted.stderr).toContain(`cairn get: GET ${proxyUrl}/logs/a/checkpoint: fetch failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE: the server's TLS certificate is not trusted here`);
  expect(untrusted.stderr).toContain('NODE_EXTRA_CA_CERTS');
});
