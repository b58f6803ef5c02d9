// `cairn serve` as a real process prints 'stopping' as it hears a stop
// signal after 'listening on' too, not only during its start: whoever sent
// it learns at once that it was heard, however long the stop then waits (for
// a request in progress here; for a round a stalled disk holds up, in the
// field). 'stopped' follows once the stop is over.
import { CLI } from '../helpers/server-process.js';
import { RawConnection } from '../helpers/raw-http.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const dir = useTempDir('cairn-stopping-line-');

/** Resolves once `cond` holds (polling, bounded). */
async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

test("a stop signal after 'listening on' prints 'stopping' at once, while the stop still waits for a request in progress; 'stopped' once it is over", async () => {
  const child = spawn(process.execPath, [CLI, 'serve', '--data', join(dir(), 'data'), '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    await waitFor(() => /listening on http:\/\/127\.0\.0\.1:\d+\n/.test(out) || gone);
    const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)\n/.exec(out)![1]);
    // An upload the app has begun to read (it said 100 Continue), half sent.
    const upload = await RawConnection.open(port);
    upload.write('POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n');
    expect(await upload.next()).toMatchObject({ status: 100 });
    upload.write('01234');
    child.kill('SIGTERM');
    await waitFor(() => out.includes('stopping\n') || gone);
    // Said while the stop waits: the upload is still unanswered, and 'stopped' not printed.
    expect(out).toMatch(/\nlistening on http:\/\/127\.0\.0\.1:\d+\nstopping\n$/);
    upload.write('56789');
    expect(await upload.next()).toMatchObject({ status: 201, headers: { connection: 'close' } });
    expect(await exited).toBe(0);
    expect(out).toMatch(/\nlistening on http:\/\/127\.0\.0\.1:\d+\nstopping\nstopped\n$/);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
