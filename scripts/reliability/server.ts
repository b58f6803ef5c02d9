/**
 * Starts the real `cairn serve` process for the crash test and the fuzzer:
 * always on 127.0.0.1 with port 0, in a data folder the caller owns.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** `dist/src/cli/main.js`, found from this file whether it runs compiled (dist/scripts) or as TypeScript (scripts/). */
export function defaultCli(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const compiled = here.includes(`${sep}dist${sep}scripts`);
  return compiled ? join(here, '..', '..', 'src', 'cli', 'main.js') : join(here, '..', '..', 'dist', 'src', 'cli', 'main.js');
}

export interface ServerProcess {
  readonly child: ChildProcess;
  /** Resolves with the base URL once it listens; rejects if it exits first or takes too long. */
  readonly listening: Promise<string>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** The verifier key it printed, once it has. */
  readonly verifierKey: () => string | undefined;
  /** Sends `signal` (if still running) and waits for the exit. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

/** Spawns `node <cli> serve --host 127.0.0.1 --port 0 --quiet --data <data> ...extra`. */
export function spawnServer(cli: string, data: string, extra: readonly string[] = [], startTimeoutMs = 30_000): ServerProcess {
  if (!existsSync(cli)) throw new Error(`${cli} does not exist: run npm run build first`);
  const child = spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--quiet', '--data', data, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start in ${startTimeoutMs} ms: ${out} ${err}`)), startTimeoutMs);
    const onData = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${child.exitCode ?? child.signalCode}) before listening: ${out} ${err}`));
    });
  });
  listening.catch(() => undefined); // callers that kill early need not await it
  return {
    child,
    listening,
    exited,
    stdout: () => out,
    stderr: () => err,
    verifierKey: () => /verifier key: (\S+)/.exec(out)?.[1],
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** A whole-number command-line option (`--name N`), or `fallback` when it is absent. */
export function wholeNumberOption(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^(0|[1-9][0-9]{0,8})$/.test(text)) throw new Error(`--${name} must be a whole number`);
  return Number(text);
}

/**
 * Runs `main` when the module at `moduleUrl` is the program node was started
 * with (not when a test imports it): its result becomes the exit code, and an
 * error is printed as `<name>: message` with exit code 1.
 */
export function runIfMain(moduleUrl: string, name: string, main: () => Promise<number>): void {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
