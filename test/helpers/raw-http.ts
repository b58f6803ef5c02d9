// A bare HTTP/1.1 connection for tests that pipeline requests: what is
// written goes out as is, and answers are read one by one, only when asked
// for (until then the socket is not read, as a client that never reads).
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export class RawConnection {
  readonly socket: Socket;
  /** What was read and not yet taken as an answer (joined only when needed: large answers arrive in many reads). */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** The next answer's head, once read whole, and where its body starts and ends. */
  #head: { status: number; headers: Record<string, string>; bodyStart: number; end: number } | undefined;
  #closed = false;
  #wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#chunks.push(d);
      this.#buffered += d.length;
      this.#wake?.();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake?.();
    });
    socket.on('error', () => undefined);
    // 'data' listeners start the flow: stay paused until an answer is asked for.
    socket.pause();
  }

  /** A connection to 127.0.0.1:`port`, once open. */
  static async open(port: number): Promise<RawConnection> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new RawConnection(socket);
  }

  write(text: string): void {
    this.socket.write(text);
  }

  /** The next answer (its body by Content-Length), or 'closed' if the server closed the connection first. */
  async next(): Promise<RawResponse | 'closed'> {
    this.socket.resume();
    try {
      for (;;) {
        const parsed = this.#take();
        if (parsed !== undefined) return parsed;
        if (this.#closed) return 'closed';
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
      }
    } finally {
      if (!this.#closed) this.socket.pause();
    }
  }

  /** Whether the server has closed the connection (after reading what is left). */
  async closed(): Promise<boolean> {
    this.socket.resume();
    if (!this.#closed) await once(this.socket, 'close');
    return this.#closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #take(): RawResponse | undefined {
    if (this.#head === undefined) {
      const all = this.#joined();
      const headEnd = all.indexOf('\r\n\r\n', 0, 'latin1');
      if (headEnd < 0) return undefined;
      const [statusLine, ...lines] = all.subarray(0, headEnd).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? '0');
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)![1]);
      this.#head = { status, headers, bodyStart: headEnd + 4, end: headEnd + 4 + length };
    }
    const { status, headers, bodyStart, end } = this.#head;
    if (this.#buffered < end) return undefined;
    const all = this.#joined();
    const body = all.subarray(bodyStart, end).toString('latin1');
    const rest = all.subarray(end);
    this.#chunks = rest.length === 0 ? [] : [rest];
    this.#buffered = rest.length;
    this.#head = undefined;
    return { status, headers, body };
  }

  /** What was read and not yet taken, as one buffer. */
  #joined(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] ?? Buffer.alloc(0);
  }
}

/** Sends `bytes` to the server at `url` on a connection of its own; resolves with what it wrote before it closed. */
export async function exchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  await once(socket, 'connect');
  socket.write(bytes);
  await once(socket, 'close');
  return text;
}
