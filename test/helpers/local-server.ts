// An HTTP server on 127.0.0.1 at a port the system picks, for tests that
// need a real listening socket (raw clients, every method node parses).
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalServer {
  readonly server: Server;
  readonly port: number;
  /** Closes every connection, then the server. */
  close(): Promise<void>;
}

/** Serves `handler` on 127.0.0.1 at a free port; resolves once it listens. */
export function listenLocally(handler: RequestListener): Promise<LocalServer> {
  return listenOn(createServer(handler));
}

/** Listens with `server` (its listeners attached by the caller, in their order) as {@link listenLocally} does. */
export async function listenOn(server: Server): Promise<LocalServer> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
