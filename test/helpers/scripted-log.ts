/**
 * A local HTTP server (127.0.0.1, port 0) whose every answer a test scripts,
 * for checking what a client makes of answers a real log would never give.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CairnClient } from '../../src/client/client.js';
import { ClientError } from '../../src/client/errors.js';
import { vector } from './keys.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface ScriptedLog {
  /** The server's base URL; set once the suite's beforeAll has run. */
  readonly url: string;
  /** Answers every request; called once the request's body has been read whole, so that answering early never cuts a POST short. */
  handler: Handler;
  /** From now on, every request gets `status` with `body` of media type `type`. */
  answer(status: number, body: string, type?: string): void;
  /** A client of the server that verifies with the test vector's key and never retries. */
  client(): CairnClient;
}

/** Starts the server before the suite's tests and closes it after them (jest hooks). */
export function scriptedLog(): ScriptedLog {
  let server: Server | undefined;
  let url: string | undefined;
  const log: ScriptedLog = {
    get url(): string {
      if (url === undefined) throw new Error('scriptedLog: the server is not listening yet (use it inside tests)');
      return url;
    },
    handler: (_req, res) => res.end(),
    answer(status, body, type = 'application/json') {
      log.handler = (_req, res) => {
        res.writeHead(status, { 'Content-Type': type });
        res.end(body);
      };
    },
    client: () => new CairnClient({ baseUrl: log.url, verifierKey: vector.verifier_key, maxRetries: 0 }),
  };
  beforeAll(async () => {
    const s = createServer((req, res) => {
      req.resume();
      req.on('end', () => log.handler(req, res));
    });
    server = s;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    const s = server;
    if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
  });
  return log;
}

/** The ClientError `p` rejects with; fails the test if it resolves or rejects with anything else. */
export async function clientFailure(p: Promise<unknown>): Promise<ClientError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClientError);
  return err as ClientError;
}
