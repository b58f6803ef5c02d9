// Starts the real CLI server (`node dist/src/cli/main.js serve`) as a child
// process, as a user would, and stops it.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly stdout: () => string;
  /** SIGTERM and wait for exit (or SIGKILL with `kill9`). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs the CLI to its exit; `stdin`, when given, is piped to it. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (stdin !== undefined) child.stdin!.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Starts `cairn serve` on a free port. With `fileSizeLimitKiB`, no file the
 * server writes may grow past that (the shell's `ulimit -f`): a write that
 * would fails, as on a full disk.
 */
export function startServerProcess(args: string[], env: NodeJS.ProcessEnv = {}, options: { fileSizeLimitKiB?: number } = {}): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, CLI, 'serve', '--port', '0', '--quiet', ...args];
    const limited = options.fileSizeLimitKiB === undefined ? command : ['bash', '-c', `ulimit -f ${options.fileSizeLimitKiB} && exec "$@"`, 'bash', ...command];
    const child = spawn(limited[0]!, limited.slice(1), {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in time: ${out} ${err}`));
    }, 20000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
        resolve({
          url: m[1]!,
          child,
          stdout: () => out,
          stop: (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening: ${out} ${err}`));
    });
  });
}
