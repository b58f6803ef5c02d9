// The server as `cairn serve` starts it: a client that pipelines bundle
// requests and reads none of the answers holds one large answer per
// connection and two over its connections (AnswerBudget), so another request
// of that client waits its turn rather than being refused; and since it
// waits, the stall check (PipelineLimit, wired in src/cli/server.ts) closes
// a connection whose answers keep it waiting once it has been stalled for the
// stall time, with a warning, and the request waiting is served.
// Every connection here is from 127.0.0.1: one client. The stall time is
// shortened (ServerConfig.stallMs); nothing here is timed against it.
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import type { Logger } from '../../src/log/logger.js';
import { MAX_ENTRY_SIZE } from '../../src/log/log.js';
import { RawConnection, type RawResponse } from '../helpers/raw-http.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-stalled-answers-');

/** A full bundle of entries of the largest size: 16 MiB, more than loopback's socket buffers take. */
const BUNDLE_BYTES = 256 * (2 + MAX_ENTRY_SIZE);
const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

let server: RunningServer | undefined;
afterEach(() => server?.close());

test('a stalled client\'s connections are closed after the stall time once its own next request waits for them, and that request is then served', async () => {
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  const logger: Logger = { info: () => {}, warn: (msg, fields) => warnings.push({ msg, ...(fields === undefined ? {} : { fields }) }), error: () => {} };
  server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0, logger, stallMs: 400 });
  const port = Number(new URL(server.url).port);
  await server.log.submit(Array.from({ length: 256 }, (_, i) => new Uint8Array(MAX_ENTRY_SIZE).fill(i)));
  const closed: Socket[] = [];
  const accepted: Socket[] = [];
  server.server.on('connection', (socket: Socket) => {
    accepted.push(socket);
    socket.once('close', () => closed.push(socket));
  });
  /** Resolves once the server has begun writing an answer on `count` connections (so those answers are held). */
  const answering = async (count: number) => {
    while (accepted.filter((socket) => socket.bytesWritten + socket.writableLength > 0).length < count) await new Promise((resolve) => setTimeout(resolve, 10));
  };

  // Two connections that read nothing: the first pipelines two bundles (one
  // held, one waiting behind it), the second asks one (held: the client's two).
  const stallers = [await RawConnection.open(port), await RawConnection.open(port)];
  const waiting = await RawConnection.open(port);
  try {
    stallers[0]!.write(get('/tile/entries/000') + get('/tile/entries/000'));
    stallers[1]!.write(get('/tile/entries/000'));
    // The stallers' first answers are held before the third request comes: else, on a busy machine, the
    // third could be read first, take a staller's turn, and leave no request waiting on the stalled ones.
    await answering(2);
    // Its third is not refused (before, it was 503, the bound being full): it waits until the stall check
    // closes a stalled connection, and is then served.
    waiting.write(get('/tile/entries/000'));
    const answer = (await waiting.next()) as RawResponse;
    expect(answer.status).toBe(200);
    expect(answer.body.length).toBe(BUNDLE_BYTES);
    // One staller was closed for it, or both if the same check found them stalled: once one is closed
    // and the request served, nothing waits on the other, which is then left open (it keeps nobody waiting).
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(2);
    for (const warning of warnings) {
      expect(warning).toEqual({ msg: expect.stringContaining('closed a connection whose client read none of its answers'), fields: { remote: '127.0.0.1' } });
    }
    // Each warning is a connection closed, and only stallers are: the connection served is kept.
    while (closed.length < warnings.length) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(closed).toHaveLength(warnings.length);
    expect(stallers.filter((conn) => conn.socket.readableEnded || conn.socket.destroyed).length).toBeLessThanOrEqual(warnings.length);
    waiting.write(get('/checkpoint'));
    expect(await waiting.next()).toMatchObject({ status: 200 });
  } finally {
    for (const conn of [...stallers, waiting]) conn.destroy();
  }
});
