/**
 * `cairn serve --read-only`: a retired log (its key suspected compromised, or
 * the log simply closed) served without its private key. The store is opened
 * as `cairn audit` opens it (its layout kept, writeRound refused), its
 * stored tree head checked against the log's verifier key, and the log opened
 * without a signer (see LogOptions.signer): it serves the checkpoint and the
 * STH it holds, signs nothing, and refuses every write with FORBIDDEN.
 */
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { joinAsGiven, pathAsGiven, realOrAsGiven, type SharedFolderFinding } from '../file-trust.js';
import { Log, type LogObserver } from '../log/log.js';
import { bytesEqual } from '../merkle/check.js';
import { formatKeyHash, newVerifier, type Verifier } from '../note/keys.js';
import { verifyTreeHead } from '../note/sth.js';
import { LevelStore } from '../storage/level-store.js';
import type { LogState, LogStore } from '../storage/store.js';
import { checkDataFolder, openDataFolderStore } from './data-folder.js';
import { StartError } from './start-error.js';
import { showNonPrinting } from './visible-text.js';
import type { StartupFacts } from './server.js';

/** What a read-only start needs: no key file, only the log's verifier key. */
export interface ReadOnlyOptions {
  /** The data folder of the retired log: `<data>/db` must hold it. */
  readonly data: string;
  /** The log's verifier key (`<origin>+<hash>+<base64>`), which its stored tree head must verify with. */
  readonly verifierKey: string;
  /** Where the key came from, for messages (`--vkey`, `CAIRN_VKEY`). */
  readonly source?: string;
  /** Wraps the store (tests). */
  readonly wrapStore?: (store: LogStore) => LogStore;
  readonly observer?: LogObserver;
  readonly onSharedFolder?: (found: SharedFolderFinding) => void;
}

/**
 * Why the stored tree head `state` is not the log of `verifier`, in words,
 * or undefined when its STH verifies with it and is the stored tree's (the
 * checkpoint is checked by Log.open, which says how it fails).
 */
export function storedHeadProblem(state: LogState, verifier: Verifier, source: string, storeFolder: string): string | undefined {
  const head = verifyTreeHead(state.sth, verifier);
  const key = `the verifier key from ${source} (${showNonPrinting(verifier.name)}, key ID ${formatKeyHash(verifier.keyHash)})`;
  if (head === null) {
    const origin = state.checkpoint.slice(0, state.checkpoint.indexOf('\n'));
    const whose = origin === verifier.name ? 'another key of that name signed it, or the store was altered' : `the store holds the log ${showNonPrinting(JSON.stringify(origin))} (its checkpoint's origin)`;
    return `the signed tree head stored in ${showNonPrinting(storeFolder)} does not verify with ${key}: ${whose}; give the verifier key of the log this store holds`;
  }
  if (head.treeSize !== state.treeSize || !bytesEqual(head.rootHash, state.rootHash) || head.timestamp !== state.timestamp) {
    return `the signed tree head stored in ${showNonPrinting(storeFolder)} (size ${head.treeSize}, timestamp ${head.timestamp}) differs from the stored state (size ${state.treeSize}, timestamp ${state.timestamp}): the store was altered; check it with cairn audit`;
  }
  return undefined;
}

/**
 * Opens the retired log in `options.data` read-only: the data folder is
 * checked as serve checks it (nothing is made in it: not the folder, not
 * db/, not a key), the store opened to be read only (LevelStore's
 * `keepLayout`, as cairn audit does: no conversion, no round) with its lock,
 * so that no server runs on it meanwhile, and refused unless it holds a log
 * whose stored STH and checkpoint verify with the verifier key. No key file
 * is looked at. Resolves to the log and the start's facts (`keyFile` empty).
 */
export async function openReadOnlyLog(options: ReadOnlyOptions): Promise<{ log: Log; startup: StartupFacts }> {
  const source = options.source ?? '--vkey';
  const verifier = newVerifier(options.verifierKey);
  await checkDataFolder(pathAsGiven(options.data), options.onSharedFolder);
  const dataFolder = await realOrAsGiven(options.data);
  const storeFolder = join(dataFolder, 'db');
  const shownData = showNonPrinting(options.data);
  const none = `there is no log to serve read-only in ${shownData}`;
  const exists = await stat(storeFolder).then(
    (info) => info.isDirectory(),
    () => false,
  );
  if (!exists || !(await LevelStore.exists(storeFolder))) throw new StartError(`${none}: ${showNonPrinting(pathAsGiven(joinAsGiven(options.data, 'db')))} holds no store (--read-only serves an existing log's data folder)`);
  const opened = await openDataFolderStore(options.data, storeFolder, { existing: true, keepLayout: true });
  const store = options.wrapStore === undefined ? opened : options.wrapStore(opened);
  try {
    const state = await opened.readState();
    if (state === undefined) throw new StartError(`${none}: its store holds no log yet`);
    const problem = storedHeadProblem(state, verifier, source, storeFolder);
    if (problem !== undefined) throw new StartError(problem);
    const log = await Log.open({ store, verifier, ...(options.observer === undefined ? {} : { observer: options.observer }) });
    const startup: StartupFacts = {
      dataFolder,
      storeFolder,
      keyFile: '',
      madeStore: false,
      newLog: false,
      madeKey: false,
      placeholderOrigin: false,
      readOnly: true,
    };
    return { log, startup };
  } catch (err) {
    await store.close();
    throw err;
  }
}
