// The real server (startServer, which `cairn serve` runs) in-process on
// 127.0.0.1 at a port the system picks, shared by the tests of one file, for
// client commands run in-process against it and for the client library.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnClient } from '../../src/client/client.js';
import { startServer, type RunningServer, type ServerConfig } from '../../src/cli/server.js';

/** What a file may set beyond the store folder and address the helper picks. */
export type CliServerConfig = Omit<ServerConfig, 'data' | 'host' | 'port'>;

export interface CliServer {
  /** The file's temporary folder; the server's data folder is `data` in it. */
  readonly dir: string;
  readonly server: RunningServer;
  /** A CairnClient for the server, with its URL and verifier key and nothing else set. */
  readonly client: CairnClient;
  /** `--url` and `--vkey` for the server, to start a client command's arguments with. */
  readonly common: string[];
}

/**
 * Before the file's tests, makes a temporary folder (named `prefix` +
 * random) and starts the server with its data folder in it and `config`
 * (or what `config` returns, given the folder, for a server that needs
 * files written first); after them, stops the server and removes the
 * folder. Call it at the top of a file: the file's own beforeAll hooks,
 * declared after it, then already have the server.
 */
export function useCliServer(prefix: string, config: CliServerConfig | ((dir: string) => Promise<CliServerConfig>) = {}): CliServer {
  let dir: string | undefined;
  let server: RunningServer | undefined;
  let client: CairnClient | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    const extra = typeof config === 'function' ? await config(dir) : config;
    server = await startServer({ ...extra, data: join(dir, 'data'), host: '127.0.0.1', port: 0 });
    client = new CairnClient({ baseUrl: server.url, verifierKey: server.verifierKey });
  });
  afterAll(async () => {
    await server?.close();
    server = undefined;
    client = undefined;
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const present = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`useCliServer: no ${what} outside the suite`);
    return value;
  };
  return {
    get dir() {
      return present(dir, 'folder');
    },
    get server() {
      return present(server, 'server');
    },
    get client() {
      return present(client, 'client');
    },
    get common() {
      const { url, verifierKey } = present(server, 'server');
      return ['--url', url, '--vkey', verifierKey];
    },
  };
}
