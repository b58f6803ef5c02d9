/**
 * The real `cairn serve` process for the benchmark: always on 127.0.0.1 and
 * port 0, in a data folder the benchmark made, stopped by the benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `dist/src/cli/main.js`, next to this file's compiled form in `dist/scripts/bench`. */
export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');

/**
 * glibc's trim threshold that `npm start` gives the server unless its
 * environment has one (package.json): so that the benchmark measures the
 * server as it runs. With it glibc returns freed memory to the system past
 * 128 KiB instead of raising its own threshold after large request bodies.
 */
const MALLOC_TRIM_THRESHOLD = '131072';

export interface BenchServer {
  readonly url: string;
  readonly pid: number;
  readonly verifierKey: string;
  /** ms from spawning the process to its first answered request (GET /checkpoint). */
  readonly readyMs: number;
  /**
   * Resident memory of the server process in bytes (Linux /proc): all of it
   * (VmRSS), its private part (RssAnon) and the pages of mapped files
   * (RssFile: LevelDB maps its table files; those pages are the OS page
   * cache, shared and reclaimable), and the peak of VmRSS (VmHWM).
   */
  memory(): Memory | undefined;
  /** Samples memory every 50 ms until the returned function is called, which gives the largest of each. */
  sample(): () => Memory | undefined;
  stop(): Promise<void>;
}

/** GET `url` once; resolves with the status and body, rejects on a connection error. */
export function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface Memory {
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
  readonly peak: number;
}

function readStatus(pid: number): Memory | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
    return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), peak: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

function largest(a: Memory | undefined, b: Memory | undefined): Memory | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return { rss: Math.max(a.rss, b.rss), anon: Math.max(a.anon, b.anon), file: Math.max(a.file, b.file), peak: Math.max(a.peak, b.peak) };
}

/**
 * Starts `cairn serve --data <data>` and resolves once it has answered its
 * first request; `readyMs` is the time from spawn to that answer.
 */
export async function startBenchServer(data: string, extra: readonly string[] = []): Promise<BenchServer> {
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--quiet', '--data', data, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // As npm start's script: a value given (not empty) is kept.
    env: { ...process.env, MALLOC_TRIM_THRESHOLD_: process.env.MALLOC_TRIM_THRESHOLD_ || MALLOC_TRIM_THRESHOLD },
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cairn serve did not start in 60 s: ${out} ${err}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`cairn serve exited (${child.exitCode ?? child.signalCode}) before listening: ${out} ${err}`));
    });
  });
  let answered = false;
  while (!answered) {
    try {
      answered = (await httpGet(`${url}/checkpoint`)).status === 200;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  const readyMs = performance.now() - started;
  const verifierKey = /verifier key: (\S+)/.exec(out)?.[1] ?? '';
  const pid = child.pid!;
  return {
    url,
    pid,
    verifierKey,
    readyMs,
    memory: () => readStatus(pid),
    sample() {
      let most = readStatus(pid);
      const timer = setInterval(() => (most = largest(most, readStatus(pid))), 50);
      return () => {
        clearInterval(timer);
        return largest(most, readStatus(pid));
      };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
