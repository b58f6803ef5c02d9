// An in-process log over a FaultStore in a temporary folder, with its HTTP app.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import { createApp, type AppOptions } from '../../src/http/app.js';
import { createMetrics } from '../../src/http/metrics.js';
import { Log, type LogOptions } from '../../src/log/log.js';
import { FaultStore } from '../../src/storage/fault-store.js';
import { LevelStore } from '../../src/storage/level-store.js';
import { testSigner, testVerifier, vector } from '../helpers/keys.js';

export interface Harness {
  readonly dir: string;
  readonly store: FaultStore;
  log: Log;
  app: Express;
  /** Closes the log and opens it again on the same folder (a clean restart). */
  restart(options?: Partial<LogOptions>): Promise<void>;
  close(): Promise<void>;
}

export async function openHarness(logOptions: Partial<LogOptions> = {}, appOptions: Partial<AppOptions> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-rel-'));
  let store = new FaultStore(await LevelStore.open(join(dir, 'db')));
  const open = async (opts: Partial<LogOptions>) => {
    const log = await Log.open({ store, signer: testSigner, verifier: testVerifier, ...opts });
    const app = createApp({ log, verifierKey: vector.verifier_key, metrics: createMetrics({ processMetrics: false }), ...appOptions });
    return { log, app };
  };
  let { log, app } = await open(logOptions);
  const harness: Harness = {
    dir,
    get store() {
      return store;
    },
    log,
    app,
    async restart(options = logOptions) {
      await harness.log.close();
      store = new FaultStore(await LevelStore.open(join(dir, 'db')));
      ({ log, app } = await open(options));
      harness.log = log;
      harness.app = app;
    },
    async close() {
      await harness.log.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}
