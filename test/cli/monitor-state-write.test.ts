// A monitor whose state write fails (a full disk as it writes or syncs the
// temporary file) leaves no temporary file behind: removeStaleTemps skips
// the monitor's own pid, so a monitor with --interval would add one a round.
import { jest } from '@jest/globals';
import { join } from 'node:path';
import { withMethod } from '../helpers/file-handle.js';

const real = await import('node:fs/promises');

/** Which call on the state's temporary file fails, if any. */
let failing: 'writeFile' | 'sync' | undefined;

const noSpace = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });

jest.unstable_mockModule('node:fs/promises', () => ({
  ...real,
  open: async (...args: Parameters<typeof real.open>) => {
    const handle = await real.open(...args);
    if (failing === undefined || !/state\.json\.\d+\.[0-9a-f]{12}\.tmp$/.test(String(args[0]))) return handle;
    return withMethod(handle, failing, async () => Promise.reject(noSpace()));
  },
}));

const { monitorCommand } = await import('../../src/cli/monitor.js');
const { startServer } = await import('../../src/cli/server.js');
const { captureIo } = await import('./client-io.js');
const { useTempDir } = await import('../helpers/temp-dir.js');

const dir = useTempDir('cairn-monitor-write-');

afterEach(() => {
  failing = undefined;
});

test.each(['writeFile', 'sync'] as const)('a state write whose %s fails removes its temporary file', async (call) => {
  const server = await startServer({ data: join(dir(), 'data'), host: '127.0.0.1', port: 0 });
  try {
    const state = join(dir(), 'state.json');
    failing = call;
    const io = captureIo();
    const code = await monitorCommand(['--url', server.url, '--vkey', server.verifierKey, '--state', state, '--once'], io);
    expect(code).toBe(2);
    expect(io.err()).toContain(`error: cannot write the state file ${state}: ENOSPC: no space left on device`);
    expect((await real.readdir(dir())).sort()).toEqual(['data']);
  } finally {
    await server.close();
  }
});
