/** The benchmark's side of the load generator: a forked process, one run per message. */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadResult, LoadSpec, WindowEdge } from './load.js';

const LOAD_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'load.js');

export class LoadGenerator {
  private constructor(private readonly child: ChildProcess) {}

  /** Forks the generator process and waits until it is ready. */
  static async start(): Promise<LoadGenerator> {
    const child = fork(LOAD_SCRIPT, ['--bench-load-child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`the load generator exited (${code}) before it was ready`)));
    });
    return new LoadGenerator(child);
  }

  /** The generator process's id (for its CPU time). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Runs one measurement in the generator process; `onWindow` is called as
   * the generator reports the start and the end of its measured window.
   */
  run(spec: LoadSpec, onWindow?: (edge: WindowEdge) => void): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => {
        this.child.off('message', onMessage);
        reject(new Error(`the load generator exited (${code}) during a run`));
      };
      const onMessage = (message: { result?: LoadResult; error?: string; window?: WindowEdge }) => {
        if (message.window !== undefined) {
          onWindow?.(message.window);
          return;
        }
        this.child.off('exit', onExit);
        this.child.off('message', onMessage);
        if (message.result !== undefined) resolve(message.result);
        else reject(new Error(`load generator: ${message.error}`));
      };
      this.child.once('exit', onExit);
      this.child.on('message', onMessage);
      this.child.send({ run: spec });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ exit: true });
    await exited;
  }
}
