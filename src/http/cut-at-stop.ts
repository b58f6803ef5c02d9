import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';

/** Connections the server cut itself when it stopped, its grace period over. */
const cutSockets = new WeakSet<Socket>();

/**
 * Keeps track of the connections of `server` and returns what cuts them all
 * when it stops, its grace period over (node's `closeAllConnections`). Each
 * connection still open is marked first, so that the requests on it are
 * logged as cut by the server ({@link cutAtStop}), not as their clients gone:
 * a stalled upload cut then was logged 400 `client_gone`, an answer never sent
 * for a client that never left.
 */
export function connectionCutter(server: Server): () => void {
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return () => {
    // Marked before they are cut: their requests' 'close' and 'error' come after.
    for (const socket of open) if (!socket.destroyed) cutSockets.add(socket);
    server.closeAllConnections();
  };
}

/** Whether the connection of `req` was cut by the server as it stopped. */
export function cutAtStop(req: IncomingMessage): boolean {
  return cutSockets.has(req.socket);
}

/**
 * The request-log field of a request whose answer was not sent (all of it):
 * `cut_at_stop` when the server cut its connection as it stopped, else
 * `client_gone`.
 */
export function unsentFields(req: IncomingMessage): { cut_at_stop: true } | { client_gone: true } {
  return cutAtStop(req) ? { cut_at_stop: true } : { client_gone: true };
}
