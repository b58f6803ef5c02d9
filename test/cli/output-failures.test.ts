// What the client commands do when their output cannot be written (a reader
// that went away: EPIPE; a full disk: ENOSPC): one line on standard error and
// exit status 2, an operational error, never 0 nor 1 (1 says something did
// not verify) — unless something did fail to verify, which outranks the lost
// output. And where output goes, checked before the log is asked: `-` is no
// output path of get or monitor, and --out must be a file that can be made.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getCommand } from '../../src/cli/get.js';
import { monitorCommand } from '../../src/cli/monitor.js';
import { proveCommand } from '../../src/cli/prove.js';
import { verifyReceiptCommand } from '../../src/cli/verify-receipt.js';
import { OutputError, writeOut, type Output } from '../../src/cli/client-common.js';
import { startServer } from '../../src/cli/server.js';
import { CairnClient } from '../../src/client/client.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest } from './fake-log.js';

const ctx = fakeLogEachTest(5, 'cairn-output-');

const enc = (s: string) => new TextEncoder().encode(s);

/** An error as node reports a write to a pipe whose reader is gone. */
const epipe = () => Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' });
const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });

test('writeOut resolves once the chunk is written and rejects with an OutputError naming the stream and the reason', async () => {
  const written: string[] = [];
  const ok: Output = { write: (chunk, callback) => (written.push(String(chunk)), callback?.(null), true) };
  await writeOut(ok, 'line\n');
  expect(written).toEqual(['line\n']);
  const broken: Output = { write: (_chunk, callback) => (callback?.(epipe()), false) };
  const failure = await writeOut(broken, 'x').catch((err: unknown) => err);
  expect(failure).toBeInstanceOf(OutputError);
  expect(failure).toMatchObject({ code: 'EPIPE', stream: 'standard output', message: 'cannot write to standard output: EPIPE: broken pipe (whatever reads it stopped reading)' });
  const full: Output = { write: (_chunk, callback) => (callback?.(enospc()), false) };
  await expect(writeOut(full, 'x', 'standard error')).rejects.toThrow('cannot write to standard error: ENOSPC: no space left on device');
  const throwing: Output = {
    write: () => {
      throw enospc();
    },
  };
  await expect(writeOut(throwing, 'x')).rejects.toBeInstanceOf(OutputError);
});

test('get, prove and verify-receipt whose standard output fails: one line on standard error, exit 2', async () => {
  for (const args of [['1'], ['1', '--json'], ['1', '--raw']]) {
    const io = captureIo({ stdoutError: epipe() });
    expect([args, await getCommand([...ctx.common, ...args], io)]).toEqual([args, 2]);
    expect(io.err()).toBe('cairn get: cannot write to standard output: EPIPE: broken pipe (whatever reads it stopped reading)\n');
  }
  const full = captureIo({ stdoutError: enospc() });
  expect(await proveCommand([...ctx.common, '1'], full)).toBe(2);
  expect(full.err()).toBe('cairn prove: cannot write to standard output: ENOSPC: no space left on device\n');
  const help = captureIo({ stdoutError: epipe() });
  expect(await getCommand(['--help'], help)).toBe(2);
});

test('a receipt that does not verify is exit 1 even when its report cannot be written, and says both on standard error', async () => {
  const receipt = join(ctx.dir, 'receipt.json');
  const entry = join(ctx.dir, 'entry.txt');
  await writeFile(receipt, JSON.stringify({ index: 0, leaf_hash: 'AAAA', checkpoint: 'x', inclusion_proof: [] }));
  await writeFile(entry, 'e0');
  const vkey = ctx.common[3]!;
  const io = captureIo({ stdoutError: epipe() });
  expect(await verifyReceiptCommand([receipt, '--entry', entry, '--vkey', vkey], io)).toBe(1);
  expect(io.err()).toMatch(/^cairn verify-receipt: INVALID: .*; cannot write to standard output: EPIPE: broken pipe/);
});

test('monitor --once whose standard output fails is exit 2 (no alarm), not 1, and keeps the state it saved', async () => {
  // A real log: the fake one serves no tiles.
  const server = await startServer({ data: join(ctx.dir, 'monitored'), host: '127.0.0.1', port: 0, origin: 'output.test/log' });
  try {
    await new CairnClient({ baseUrl: server.url, verifierKey: server.verifierKey }).addBatch([enc('a'), enc('b'), enc('c')]);
    const common = ['--url', server.url, '--vkey', server.verifierKey];
    const statePath = join(ctx.dir, 'm1.json');
    // A reader gone before the round's event is written (`| head -0`).
    const io = captureIo({ stdoutError: epipe() });
    expect(await monitorCommand([...common, '--once', '--json', '--state', statePath], io)).toBe(2);
    expect(io.err()).toBe('cairn monitor: cannot write to standard output: EPIPE: broken pipe (whatever reads it stopped reading)\n');
    // The round had passed and was saved before its event was written.
    expect(JSON.parse(await readFile(statePath, 'utf8'))).toMatchObject({ tree_size: 3 });
    // Human output too: its events go to standard output.
    const human = captureIo({ stdoutError: enospc() });
    expect(await monitorCommand([...common, '--once', '--state', statePath], human)).toBe(2);
    expect(human.err()).toBe('cairn monitor: cannot write to standard output: ENOSPC: no space left on device\n');

    // An alarm (stale: the clock an hour ahead) whose event cannot be written: still POSTed to the webhook, and exit 1.
    const posted: string[] = [];
    const webhook = 'http://webhook.invalid/alarm';
    const fetchOrPost = (url: string, init?: RequestInit) => (url === webhook ? (posted.push(String(init?.body)), Promise.resolve(new Response(null, { status: 204 }))) : fetch(url, init));
    const alarmed = captureIo({ stdoutError: epipe(), fetch: fetchOrPost, now: () => Date.now() + 3_600_000 });
    expect(await monitorCommand([...common, '--once', '--json', '--state', statePath, '--max-age', '60', '--webhook', webhook], alarmed)).toBe(1);
    expect(posted.map((body) => (JSON.parse(body) as { kind: string }).kind)).toEqual(['stale']);
    expect(alarmed.err()).toBe('cairn monitor: cannot write to standard output: EPIPE: broken pipe (whatever reads it stopped reading)\n');
  } finally {
    await server.close();
  }
});

test("'-' is no output path: get --out - and monitor --state - are refused before the log is asked", async () => {
  let asked = 0;
  const counting = (url: string, init?: RequestInit) => (asked++, fetch(url, init));
  const get = captureIo({ fetch: counting });
  expect(await getCommand([...ctx.common, '1', '--out', '-'], get)).toBe(2);
  expect(get.err()).toMatch(/^cairn get: --out - would be a file named '-', not standard output: use --raw/);
  const monitor = captureIo({ fetch: counting });
  expect(await monitorCommand([...ctx.common, '--once', '--state', '-'], monitor)).toBe(2);
  expect(monitor.err()).toMatch(/^cairn monitor: --state must name a file, which is read and written back; '-' is not standard input or output here/);
  expect(asked).toBe(0);
});

test('get --out is checked whole before the log is asked: a folder, or a file this user may not write, is refused', async () => {
  let asked = 0;
  const counting = (url: string, init?: RequestInit) => (asked++, fetch(url, init));
  const folder = join(ctx.dir, 'a-folder');
  await mkdir(folder, { recursive: true });
  const intoFolder = captureIo({ fetch: counting });
  expect(await getCommand([...ctx.common, '1', '--out', folder], intoFolder)).toBe(2);
  expect(intoFolder.err()).toBe(`cairn get: cannot write --out ${folder}: ${folder} is a folder; give a file name\nRun 'cairn get --help' for its options.\n`);
  // Under a file, not a folder.
  const file = join(ctx.dir, 'a-file');
  await writeFile(file, 'x');
  const underFile = captureIo({ fetch: counting });
  expect(await getCommand([...ctx.common, '1', '--out', join(file, 'x.bin')], underFile)).toBe(2);
  expect(underFile.err()).toMatch(/is not a folder/);
  if (process.getuid?.() !== 0) {
    await chmod(file, 0o444);
    const readOnly = captureIo({ fetch: counting });
    expect(await getCommand([...ctx.common, '1', '--out', file], readOnly)).toBe(2);
    expect(readOnly.err()).toMatch(/this user may not write it \(EACCES/);
  }
  expect(asked).toBe(0);
  // A new file in a writable folder, and an existing writable one, are fine.
  const fresh = join(folder, 'entry.bin');
  expect(await getCommand([...ctx.common, '1', '--out', fresh], captureIo())).toBe(0);
  expect(await getCommand([...ctx.common, '2', '--out', fresh], captureIo())).toBe(0);
  expect(await readFile(fresh, 'utf8')).toBe('e2');
});
